//! The remediation pipeline every function runs, generic over its ports:
//!
//! triage -> allow-list -> ledger view (cooldown) -> describe -> opt-out tag -> plan
//!   -> [dry run stops here] -> admit (event dedupe + resource claim)
//!   -> snapshot to S3 -> apply -> record history -> report + metric
//!
//! Nothing is written to AWS before the plan says act, and nothing is changed unless
//! the snapshot was stored. A failure after the claim releases it so a retry can act.

use std::collections::HashMap;
use std::future::Future;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::Value;
use thiserror::Error;
use tracing::{error, info, warn};

use crate::domain::{HistoryEntry, ResourceRef, Service};
use crate::event::{Envelope, Incident, Triage, TriggerError};
use crate::ledger::{Admission, Ledger, Ticket};
use crate::metrics::MetricSink;
use crate::plan::{Decision, Proposal, SkipReason};
use crate::report::{Failure, Report};
use crate::snapshot::{Snapshot, SnapshotStore};

/// The tag that opts a resource out of unthrottle.
pub const OPT_OUT_TAG: (&str, &str) = ("unthrottle:disabled", "true");

/// A call to AWS through a port failed.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum PortError {
    #[error("{resource} does not exist")]
    NotFound { resource: String },
    #[error("{operation} on {resource} failed: {message}")]
    Aws {
        operation: &'static str,
        resource: String,
        message: String,
    },
}

impl PortError {
    pub fn aws(operation: &'static str, resource: impl Into<String>, message: impl Into<String>) -> Self {
        PortError::Aws {
            operation,
            resource: resource.into(),
            message: message.into(),
        }
    }
}

/// A resource as described: what the planner reads, its tags, and the describe output
/// exactly as AWS returned it, for the snapshot.
#[derive(Debug, Clone)]
pub struct Described<S> {
    pub state: S,
    pub tags: HashMap<String, String>,
    pub raw: Value,
}

impl<S> Described<S> {
    pub fn opted_out(&self) -> bool {
        self.tags
            .get(OPT_OUT_TAG.0)
            .is_some_and(|value| value.trim().eq_ignore_ascii_case(OPT_OUT_TAG.1))
    }
}

/// One service's part of the pipeline: how it reads events, describes, plans and changes.
pub trait Remediation: Send + Sync {
    /// What an event says was throttled.
    type Target: Serialize + Send + Sync;
    /// What the planner reads about the resource.
    type State: Send + Sync;
    /// What the service's update call applies.
    type Change: Serialize + Send + Sync;

    const SERVICE: Service;

    fn triage(&self, envelope: &Envelope) -> Result<Triage<Self::Target>, TriggerError>;
    fn resource_name<'t>(&self, target: &'t Self::Target) -> &'t str;
    /// The allow-list, checked before any call to AWS.
    fn admits(&self, name: &str) -> Result<(), String>;
    fn describe(&self, name: &str) -> impl Future<Output = Result<Described<Self::State>, PortError>> + Send;
    fn plan(
        &self,
        target: &Self::Target,
        state: &Self::State,
        history: &[HistoryEntry],
        now: DateTime<Utc>,
    ) -> Decision<Self::Change>;
    fn apply(
        &self,
        state: &Self::State,
        change: &Self::Change,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// Settings that shape a run, whatever the service.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunOptions {
    /// Plan and report, write nothing.
    pub dry_run: bool,
    /// How long a resource stays claimed after a change: the length of one incident.
    pub cooldown: Duration,
}

pub struct Pipeline<R, L, S, M> {
    pub remediation: R,
    pub ledger: L,
    pub snapshots: S,
    pub metrics: M,
    pub options: RunOptions,
}

impl<R, L, S, M> Pipeline<R, L, S, M>
where
    R: Remediation,
    L: Ledger,
    S: SnapshotStore,
    M: MetricSink,
{
    /// Handles one event: one report per resource it names, or an error if the event
    /// cannot be read at all.
    pub async fn handle(&self, event: Value, now: DateTime<Utc>) -> Result<Vec<Report>, TriggerError> {
        let triage = Envelope::parse(event).and_then(|envelope| self.remediation.triage(&envelope));
        let reports = match triage {
            Err(unreadable) => {
                error!(error = %unreadable, "event rejected");
                self.publish(&[Report::failed(
                    R::SERVICE,
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
            }) => vec![Report::skipped(R::SERVICE, None, event_id, reason, detail)],
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
                action = report.action.map_or("-", |action| action.name()),
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

    async fn remediate(&self, incident: &Incident, target: &R::Target, now: DateTime<Utc>) -> Report {
        let name = self.remediation.resource_name(target);
        let resource = ResourceRef {
            service: R::SERVICE,
            account: incident.account.clone(),
            region: incident.region.clone(),
            name: name.to_owned(),
        };
        let event_id = Some(incident.event_id.clone());
        let skipped = |reason, detail: String| {
            Report::skipped(R::SERVICE, Some(name), event_id.clone(), reason, detail)
        };
        let failed = |kind, error: PortError| {
            Report::failed(R::SERVICE, Some(name), event_id.clone(), kind, error.to_string())
        };

        if let Err(why) = self.remediation.admits(name) {
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

        let described = match self.remediation.describe(name).await {
            Ok(described) => described,
            Err(PortError::NotFound { resource }) => {
                return skipped(
                    SkipReason::NotFound,
                    format!("{resource} does not exist (deleted since the event?)"),
                )
            }
            Err(e) => return failed(Failure::Describe, e),
        };
        if described.opted_out() {
            return skipped(
                SkipReason::OptedOut,
                format!("{name} is tagged {}={}", OPT_OUT_TAG.0, OPT_OUT_TAG.1),
            );
        }

        let proposal = match self
            .remediation
            .plan(target, &described.state, &view.history, now)
        {
            Decision::Hold(hold) => return skipped(hold.reason, hold.detail),
            Decision::Act(proposal) => proposal,
        };
        if self.options.dry_run {
            return Report::planned(R::SERVICE, name, event_id.clone(), &proposal);
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
                )
            }
            Ok(Admission::CoolingDown(claim)) => {
                return skipped(
                    SkipReason::CoolingDown,
                    format!(
                        "{name} was claimed by event {} until {}",
                        claim.holder,
                        claim.until.to_rfc3339()
                    ),
                )
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
                    action: proposal.action,
                    event_id: incident.event_id.clone(),
                };
                if let Err(e) = self.ledger.record(&resource, &entry).await {
                    // The change is made; only the daily-limit count will miss it, and AWS
                    // still enforces its own limits.
                    warn!(error = %e, resource = %resource, "change made but not recorded in the ledger");
                }
                Report::remediated(R::SERVICE, name, event_id.clone(), &proposal, snapshot)
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
        target: &R::Target,
        resource: &ResourceRef,
        described: &Described<R::State>,
        proposal: &Proposal<R::Change>,
        now: DateTime<Utc>,
    ) -> Result<String, (Failure, PortError)> {
        let snapshot = Snapshot::new(resource, incident, target, proposal, described, now);
        let body = snapshot.to_json().map_err(|e| {
            (
                Failure::Snapshot,
                PortError::aws("serialise snapshot", resource.to_string(), e.to_string()),
            )
        })?;
        let location = self
            .snapshots
            .put(&snapshot.key(), body)
            .await
            .map_err(|e| (Failure::Snapshot, e))?;
        info!(snapshot = %location, resource = %resource, action = %proposal.action, "snapshot stored, applying");
        self.remediation
            .apply(&described.state, &proposal.change)
            .await
            .map_err(|e| (Failure::Apply, e))?;
        Ok(location)
    }
}

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;
