//! The remediation pipeline every function runs, generic over its ports:
//!
//! triage -> allow-list -> ledger view (cooldown) -> describe -> opt-out tag -> plan
//!   -> [dry run stops here] -> admit (event dedupe + resource claim)
//!   -> snapshot to S3 -> apply -> record history -> report + metric
//!
//! Nothing is written to AWS before the plan says act, and nothing is changed unless
//! the snapshot was stored. A failure after the claim releases it so a retry can act.

use chrono::{DateTime, Utc};
use serde_json::Value;
use tracing::{error, info, warn};

use crate::core::config::RunOptions;
use crate::core::domain::{HistoryEntry, ResourceRef};
use crate::core::envelope::{Envelope, Incident, Triage, TriggerError};
use crate::core::error::{Error, ErrorKind};
use crate::core::ledger::{Admission, Ticket};
use crate::core::plan::{Decision, Proposal, SkipReason};
use crate::core::ports::{Apply, Describe, Described, Ledger, Metrics, OPT_OUT_TAG, Snapshots};
use crate::core::report::{Failure, Report};
use crate::core::service::Service;
use crate::core::snapshot::Snapshot;
use crate::core::trigger::Target;

/// One service's function: its settings, the AWS resources it changes (`R`, describe and
/// apply), and the shared stores.
pub struct Pipeline<S, R, L, N, M> {
    pub service: S,
    pub resources: R,
    pub ledger: L,
    pub snapshots: N,
    pub metrics: M,
    pub options: RunOptions,
}

impl<S, R, L, N, M> Pipeline<S, R, L, N, M>
where
    S: Service,
    R: Describe<S> + Apply<S>,
    L: Ledger,
    N: Snapshots,
    M: Metrics,
{
    /// Handles one event: one report per resource it names, or an error if the event
    /// cannot be read at all.
    pub async fn handle(&self, event: Value, now: DateTime<Utc>) -> Result<Vec<Report>, TriggerError> {
        let triage = Envelope::parse(event).and_then(|envelope| S::triage(&envelope));
        let reports = match triage {
            Err(unreadable) => {
                error!(error = %unreadable, "event rejected");
                self.publish(&[Report::failed(
                    S::ID,
                    None,
                    None,
                    Failure::MalformedEvent,
                    unreadable.to_string(),
                )])
                .await;
                return Err(unreadable);
            }
            Ok(Triage::Ignored {
                event_id,
                reason,
                detail,
            }) => vec![Report::skipped(S::ID, None, event_id, reason, detail)],
            Ok(Triage::Throttled { incident, targets }) => {
                let mut reports = Vec::with_capacity(targets.len());
                for target in &targets {
                    reports.push(self.remediate(&incident, target, now).await);
                }
                reports
            }
        };
        for report in &reports {
            info!(
                outcome = ?report.outcome,
                service = %report.service,
                resource = report.resource.as_deref().unwrap_or("-"),
                action = report.action.as_ref().map_or("-", |action| action.name()),
                code = report.code.unwrap_or("-"),
                reason = %report.reason,
                event_id = report.event_id.as_deref().unwrap_or("-"),
                "result"
            );
        }
        self.publish(&reports).await;
        Ok(reports)
    }

    async fn publish(&self, reports: &[Report]) {
        if self.options.dry_run {
            return;
        }
        if let Err(failure) = self.metrics.publish(reports).await {
            // Metrics describe the work; losing them must not undo or fail it.
            warn!(error = %failure, "metrics not published");
        }
    }

    async fn remediate(&self, incident: &Incident, target: &S::Target, now: DateTime<Utc>) -> Report {
        let name = target.resource();
        let resource = ResourceRef {
            service: S::ID,
            account: incident.account.clone(),
            region: incident.region.clone(),
            name: name.to_owned(),
        };
        let event_id = Some(incident.event_id.clone());
        let skipped =
            |reason, detail: String| Report::skipped(S::ID, Some(name), event_id.clone(), reason, detail);
        let failed =
            |kind, error: Error| Report::failed_with(S::ID, Some(name), event_id.clone(), kind, &error);

        if let Err(why) = self.service.allow_list().admits(name) {
            return skipped(SkipReason::NotAllowed, why);
        }

        let view = match self.ledger.view(&resource, now).await {
            Ok(view) => view,
            Err(e) => return failed(Failure::Ledger, e),
        };
        if let Some(claim) = view.claim.filter(|claim| claim.until > now) {
            return if claim.holder == incident.event_id {
                skipped(
                    SkipReason::Duplicate,
                    format!("event {} already changed {name}", claim.holder),
                )
            } else {
                skipped(
                    SkipReason::CoolingDown,
                    format!(
                        "{name} was changed for event {} and is cooling down until {}; this event is part of that incident",
                        claim.holder,
                        claim.until.to_rfc3339()
                    ),
                )
            };
        }

        let described = match self.resources.describe(name).await {
            Ok(described) => described,
            Err(e) if e.kind == ErrorKind::NotFound => {
                return skipped(
                    SkipReason::NotFound,
                    format!("{} does not exist (deleted since the event?)", e.resource),
                );
            }
            Err(e) => return failed(Failure::Describe, e),
        };
        if described.opted_out() {
            return skipped(
                SkipReason::OptedOut,
                format!("{name} is tagged {}={}", OPT_OUT_TAG.0, OPT_OUT_TAG.1),
            );
        }

        let proposal = match self.service.plan(target, &described.state, &view.history, now) {
            Decision::Hold(hold) => return skipped(hold.reason, hold.detail),
            Decision::Act(proposal) => proposal,
        };
        if self.options.dry_run {
            return Report::planned(S::ID, name, event_id.clone(), &proposal);
        }

        let ticket = Ticket {
            resource: resource.clone(),
            event_id: incident.event_id.clone(),
            now,
            cooldown: self.options.cooldown,
        };
        match self.ledger.admit(&ticket).await {
            Ok(Admission::Granted) => {}
            Ok(Admission::Duplicate) => {
                return skipped(
                    SkipReason::Duplicate,
                    format!("event {} was handled before", incident.event_id),
                );
            }
            Ok(Admission::CoolingDown(claim)) => {
                return skipped(
                    SkipReason::CoolingDown,
                    format!(
                        "{name} was claimed by event {} until {}",
                        claim.holder,
                        claim.until.to_rfc3339()
                    ),
                );
            }
            Err(e) => return failed(Failure::Ledger, e),
        }

        match self
            .change(incident, target, &resource, &described, &proposal, now)
            .await
        {
            Ok(snapshot) => {
                let entry = HistoryEntry {
                    at: now,
                    action: proposal.action.clone(),
                    event_id: incident.event_id.clone(),
                };
                if let Err(e) = self.ledger.record(&resource, &entry).await {
                    // The change is made; only the daily-limit count will miss it, and AWS
                    // still enforces its own limits.
                    warn!(error = %e, resource = %resource, "change made but not recorded in the ledger");
                }
                Report::remediated(S::ID, name, event_id.clone(), &proposal, snapshot)
            }
            Err((kind, e)) => {
                if let Err(release) = self.ledger.release(&ticket).await {
                    warn!(error = %release, "claim not released; it expires after the cooldown");
                }
                failed(kind, e)
            }
        }
    }

    /// Snapshot, then change: no snapshot, no change.
    async fn change(
        &self,
        incident: &Incident,
        target: &S::Target,
        resource: &ResourceRef,
        described: &Described<S::State>,
        proposal: &Proposal<S::Change>,
        now: DateTime<Utc>,
    ) -> Result<String, (Failure, Error)> {
        let snapshot = Snapshot::new(resource, incident, target, proposal, described, now);
        let body = snapshot.to_json().map_err(|e| {
            (
                Failure::Snapshot,
                Error::new(
                    ErrorKind::Invalid,
                    "serialise snapshot",
                    resource.to_string(),
                    e.to_string(),
                ),
            )
        })?;
        let location = self
            .snapshots
            .put(&snapshot.key(), body)
            .await
            .map_err(|e| (Failure::Snapshot, e))?;
        info!(snapshot = %location, resource = %resource, action = %proposal.action, "snapshot stored, applying");
        self.resources
            .apply(&described.state, &proposal.change)
            .await
            .map_err(|e| (Failure::Apply, e))?;
        Ok(location)
    }
}

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;
