//! The remediation pipeline every function runs, generic over its ports:
//!
//! triage -> allow-list -> claim (the lease, or why not: duplicate, cooldown, back-off;
//!   a dry run reads the ledger instead) -> describe (beside it, the metrics diagnosis)
//!   -> opt-out tag -> plan (a finding no change fixes ends here, the lease given back)
//!   -> [dry run stops here] -> commit beside the snapshot to S3 -> change -> report + metric
//!
//! Nothing is changed unless the change's record was committed and its snapshot stored
//! (docs/ledger.md, "The protocol"). A failure after the claim gives the lease back, and a
//! failed change undoes its commit, so a retry can act.

use chrono::{DateTime, Utc};
use serde_json::json;
use thiserror::Error;
use tracing::{error, info, warn};

use crate::core::config::RunOptions;
use crate::core::diagnosis::Diagnosis;
use crate::core::domain::{HistoryEntry, ResourceRef};
use crate::core::envelope::{Envelope, EventJson, Incident, Origin, Scope, Triage, TriggerError};
use crate::core::error::{Error, ErrorKind};
use crate::core::guards::{rolling_day, same_change};
use crate::core::ledger::{Admission, Held, LedgerView, Refusal, Release, Sighting, Ticket};
use crate::core::plan::{Decision, Proposal, QUOTA_PRESSURE, SkipReason};
use crate::core::ports::{
    Announce, Apply, Describe, Described, Diagnose, Ledger, Metrics, OPT_OUT_TAG, Snapshots,
};
use crate::core::report::{Failure, Outcome, Report};
use crate::core::service::Service;
use crate::core::snapshot::{Snapshot, serialised};
use crate::core::trigger::Target;

/// Why an invocation goes back to Lambda as an error. Lambda then retries it (asynchronous
/// invocations, twice by default), and what still fails reaches the on-failure destination
/// and the Errors alarm.
#[derive(Debug, Error)]
pub enum InvocationError {
    /// The event cannot be read; no retry will help, but a human must see it.
    #[error(transparent)]
    Unreadable(#[from] TriggerError),
    /// A step failed for a reason a retry may fix (throttled, 5xx, timeout, busy resource).
    #[error("a retry may heal what failed: {0}")]
    Retryable(String),
}

impl InvocationError {
    /// A short, stable name for the kind of error (Lambda's `errorType`).
    pub fn kind(&self) -> &'static str {
        match self {
            InvocationError::Unreadable(_) => "UnreadableEvent",
            InvocationError::Retryable(_) => "RetryableFailure",
        }
    }
}

/// What the handler returns for a handled event: the reports, unless one failed for a
/// reason a retry may fix, which makes the whole invocation an error so Lambda retries it.
/// The retry is safe: a failed change released its claim, and the resources the event
/// already healed hold the claim of this event, so they are skipped as `duplicate`.
pub fn verdict(reports: Vec<Report>) -> Result<Vec<Report>, InvocationError> {
    let retryable: Vec<String> = reports
        .iter()
        .filter(|report| report.outcome == Outcome::Failed && report.retryable == Some(true))
        .map(|report| {
            format!(
                "{} {}: {}",
                report.service,
                report.resource.as_deref().unwrap_or("-"),
                report.reason
            )
        })
        .collect();
    if retryable.is_empty() {
        Ok(reports)
    } else {
        Err(InvocationError::Retryable(retryable.join("; ")))
    }
}

/// One log line per result: a failure at error level, so it is seen even when no retry will
/// follow.
fn log_result(report: &Report) {
    let action = report.action.as_ref().map_or("-", |action| action.name());
    let resource = report.resource.as_deref().unwrap_or("-");
    let event_id = report.event_id.as_deref().unwrap_or("-");
    let code = report.code.unwrap_or("-");
    if report.outcome == Outcome::Failed {
        error!(
            outcome = ?report.outcome, service = %report.service, resource, action, code,
            reason = %report.reason, event_id, retryable = ?report.retryable, "result"
        );
    } else {
        info!(
            outcome = ?report.outcome, service = %report.service, resource, action, code,
            reason = %report.reason, event_id, "result"
        );
    }
}

/// What one invocation knows besides its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// Lambda's request id: what makes a repeated ledger write recognisably this invocation's.
    pub id: String,
    pub now: DateTime<Utc>,
    /// The function's own account and region (from its ARN): the only place it acts.
    pub home: Scope,
    /// When Lambda stops the invocation; `None` where nothing does (tests, local tools).
    pub deadline: Option<tokio::time::Instant>,
}

/// AWS calls each step makes at most, for the deadline budget (each may take up to
/// `RunOptions::step_budget`).
pub mod calls {
    /// The ledger's claim of the resource (and, on the emulator, the read after a refusal).
    pub const CLAIM: u32 = 1;
    /// The describe's sequential round trips: DescribeTable with its tags and auto-scaling
    /// targets beside it, then (a GSI new since the last describe) its targets, then
    /// (opted-in tables only) Contributor Insights for every part at once; a stream's four
    /// calls go at once. One page each: a resource with more than 50 tags or 1,000 shards
    /// takes more, and the deadline is checked again after it.
    pub const DESCRIBE: u32 = 3;
    /// From the commit to the end, which must not be cut short: the commit beside the
    /// snapshot, the change, a describe again when its answer was lost, and the release.
    pub const COMMIT: u32 = 5;
    /// PutMetricData, when metrics are not EMF lines.
    pub const METRICS: u32 = 1;
    /// The sighting of a CloudTrail throttle, when `MIN_THROTTLE_EVENTS` is above 1.
    pub const SIGHTING: u32 = 1;
    /// A finding's announcement and its refusal (less than a change's `COMMIT`, which the
    /// worst case already holds).
    pub const ANNOUNCE: u32 = 2;
    /// One resource, start to end: what the function timeout must hold.
    pub const WORST_CASE: u32 = CLAIM + SIGHTING + DESCRIBE + COMMIT + METRICS;
}

/// One service's function: its settings, the AWS resources it changes (`R`, describe,
/// diagnose and apply), and the shared stores and outlets.
pub struct Pipeline<S, R, L, N, M, B> {
    pub service: S,
    pub resources: R,
    pub ledger: L,
    pub snapshots: N,
    pub metrics: M,
    /// Where findings that need a quota are announced.
    pub bus: B,
    pub options: RunOptions,
}

impl<S, R, L, N, M, B> Pipeline<S, R, L, N, M, B>
where
    S: Service,
    R: Describe<S> + Diagnose<S> + Apply<S>,
    L: Ledger,
    N: Snapshots,
    M: Metrics,
    B: Announce,
{
    /// Handles one event: one report per resource it names, or an error if the event
    /// cannot be read at all.
    pub async fn handle(
        &self,
        event: impl Into<EventJson>,
        invocation: impl Into<Invocation>,
    ) -> Result<Vec<Report>, TriggerError> {
        let invocation = invocation.into();
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
                    reports.push(self.remediate(&incident, target, &invocation).await);
                }
                reports
            }
        };
        for report in &reports {
            log_result(report);
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

    async fn remediate(&self, incident: &Incident, target: &S::Target, invocation: &Invocation) -> Report {
        let now = invocation.now;
        let name = target.resource();
        let scope = target.scope().cloned().unwrap_or_else(|| Scope {
            account: incident.account.clone(),
            region: incident.region.clone(),
        });
        let resource = ResourceRef {
            service: S::ID,
            account: scope.account.clone(),
            region: scope.region.clone(),
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
        if scope != invocation.home {
            return skipped(
                SkipReason::Foreign,
                format!(
                    "{name} is in {scope}, and this function acts only in its own account and region, {}",
                    invocation.home
                ),
            );
        }
        // A clock ahead of ours says nothing of freshness: the throttle is at most now.
        let happened = incident.time.min(now);
        if let Some(max_age) = self.options.max_event_age
            && now - happened > max_age
        {
            return skipped(
                SkipReason::TooOld,
                format!(
                    "the throttle happened at {}, more than MAX_EVENT_AGE_SECONDS={} ago: \
                     a late delivery describes a past incident; a throttle that goes on raises a new event",
                    incident.time.to_rfc3339(),
                    max_age.num_seconds()
                ),
            );
        }

        // A CloudTrail throttle acts only when sustained (alarms are sustained already). Counted
        // before the claim, so events that meet a lease or a cooldown count too.
        if let Some(sustain) = self
            .options
            .sustain
            .filter(|_| !self.options.dry_run && S::sustained_by_sightings())
            && matches!(incident.origin, Origin::ApiCall { .. })
        {
            if let Some(late) = self.out_of_time(invocation, calls::SIGHTING, "UpdateItem (ledger)", name) {
                return failed(Failure::Deadline, late);
            }
            let sighting = Sighting::new(target.dimension(), &incident.event_id, happened, sustain.window);
            match self.ledger.sight(&resource, &sighting).await {
                Ok(seen) if seen < sustain.min_events => {
                    return skipped(
                        SkipReason::NotSustained,
                        format!(
                            "{seen} throttle event(s) on {name} ({}) in the {} s from {}, and MIN_THROTTLE_EVENTS is {}: \
                             a short burst that adaptive capacity and the callers' retries absorb",
                            sighting.dimension,
                            sustain.window.num_seconds(),
                            sighting.bucket.to_rfc3339(),
                            sustain.min_events
                        ),
                    );
                }
                Ok(_) => {}
                Err(e) => return failed(Failure::Ledger, e),
            }
        }

        if let Some(late) = self.out_of_time(invocation, calls::CLAIM, "UpdateItem (ledger claim)", name) {
            return failed(Failure::Deadline, late);
        }
        // Time already spent in this invocation (earlier targets of one event): the lease and
        // the cooldown run from now, not from when the invocation started.
        let spent = invocation
            .deadline
            .map(|_| (Utc::now() - now).clamp(chrono::Duration::zero(), chrono::Duration::minutes(15)))
            .unwrap_or_else(chrono::Duration::zero);
        let ticket = Ticket {
            resource: resource.clone(),
            event_id: incident.event_id.clone(),
            invocation: run_id(&invocation.id),
            now,
            lease: spent + self.lease(invocation),
            cooldown: spent + self.options.cooldown,
        };
        // A dry run reads what a claim would have returned, and writes nothing.
        let looked = if self.options.dry_run {
            self.ledger.view(&resource, now).await.map(Admission::Granted)
        } else {
            self.ledger.claim(&ticket).await
        };
        let (view, leased) = match looked {
            Ok(Admission::Granted(view)) => (view, !self.options.dry_run),
            Ok(Admission::Held(view)) => (view, false),
            Err(e) => return failed(Failure::Ledger, e),
        };
        let lease = leased.then_some(&ticket);
        let (report, left) = match view.holds_back(&incident.event_id, &ticket.invocation, now) {
            // Another invocation is deciding: a service that counts every event (api-throttle's
            // callers) still counts this one, as it would have without the lease.
            Some(held @ Held::InFlight { .. }) if S::counts_every_event() && S::needs_diagnosis(target) => {
                let _counted = self.resources.diagnose(target, now).await;
                (held_back(skipped, name, held), Lease::Release(None))
            }
            // The claim's condition refused it, or (a change it cannot see) this event made one.
            Some(held) => (held_back(skipped, name, held), Lease::Release(None)),
            // The condition refused it for a moment that has passed: the next event finds it free.
            None if !leased && !self.options.dry_run => (
                skipped(
                    SkipReason::CoolingDown,
                    format!("{name} was claimed by another invocation just now"),
                ),
                Lease::Kept,
            ),
            None => {
                self.decide(incident, target, invocation, &resource, &view, lease)
                    .await
            }
        };
        if let Some(ticket) = lease {
            let diagnosed;
            let (release, refusal) = match left {
                Lease::Kept => return report,
                Lease::Release(refusal) => (Release::Lease, refusal),
                Lease::Diagnosed(refusal) => {
                    diagnosed = view.diagnosed_with(&ticket.event_id);
                    (Release::Diagnosed(&diagnosed), refusal)
                }
            };
            if let Err(e) = self.ledger.release(ticket, release, refusal.as_ref()).await {
                warn!(error = %e, resource = %resource, "lease not released; it ends at the invocation's deadline");
            }
        }
        report
    }

    /// How long a lease may be held: to the invocation's deadline (and a second), so Lambda's
    /// retry after a timeout finds it ended; where nothing sets a deadline (a local run),
    /// the longest a Lambda invocation can last.
    fn lease(&self, invocation: &Invocation) -> chrono::Duration {
        let longest = chrono::Duration::minutes(15);
        invocation.deadline.map_or(longest, |deadline| {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            chrono::Duration::from_std(left).map_or(longest, |left| left + chrono::Duration::seconds(1))
        })
    }

    /// From a resource the ledger lets this event decide on (leased, or read in a dry run) to
    /// the report, and what becomes of the lease.
    async fn decide(
        &self,
        incident: &Incident,
        target: &S::Target,
        invocation: &Invocation,
        resource: &ResourceRef,
        view: &LedgerView,
        lease: Option<&Ticket>,
    ) -> (Report, Lease) {
        let now = invocation.now;
        let name = target.resource();
        let happened = incident.time.min(now);
        let event_id = Some(incident.event_id.clone());
        let release = |report: Report| (report, Lease::Release(None));
        let skipped =
            |reason, detail: String| Report::skipped(S::ID, Some(name), event_id.clone(), reason, detail);
        let failed =
            |kind, error: Error| Report::failed_with(S::ID, Some(name), event_id.clone(), kind, &error);

        if let Some(late) = self.out_of_time(invocation, calls::DESCRIBE, "describe", name) {
            return release(failed(Failure::Deadline, late));
        }
        // The metrics lookup runs beside the describe: the diagnosis costs no round trip.
        let diagnose = async {
            if S::needs_diagnosis(target) {
                self.resources.diagnose(target, now).await
            } else {
                Diagnosis::NotNeeded
            }
        };
        let (described, diagnosis) = tokio::join!(self.resources.describe(resource), diagnose);
        // The figures the plan read; none when no lookup was made (the trigger named the
        // cause, or the service reads no metrics).
        let evidence = match &diagnosis {
            Diagnosis::NotNeeded => None,
            read => serde_json::to_value(read).ok(),
        };
        let skipped = |reason, detail: String| skipped(reason, detail).with_evidence(evidence.clone());
        let described = match described {
            Ok(described) => described,
            Err(e) if e.kind == ErrorKind::NotFound => {
                return release(skipped(
                    SkipReason::NotFound,
                    format!("{} does not exist (deleted since the event?)", e.resource),
                ));
            }
            Err(e) => return release(failed(Failure::Describe, e)),
        };
        if described.opted_out() {
            return release(skipped(
                SkipReason::OptedOut,
                format!("{name} is tagged {}={}", OPT_OUT_TAG.0, OPT_OUT_TAG.1),
            ));
        }

        // Changes AWS reports that the ledger does not hold (made by hand) count as well.
        let unrecorded: Vec<HistoryEntry> = S::reported_changes(&described.state)
            .into_iter()
            .filter(|reported| {
                now - reported.at <= rolling_day()
                    && !view
                        .history
                        .iter()
                        .any(|entry| entry.action == reported.action && same_change(entry.at, reported.at))
            })
            .collect();
        let history: Vec<HistoryEntry> = view.history.iter().chain(&unrecorded).cloned().collect();
        // A throttle after unthrottle's own last change settled, and soon after it: that
        // change did not hold. Whatever is decided now says so (and is sized from demand).
        let fix_did_not_hold = self.options.verify_window.and_then(|window| {
            view.history
                .iter()
                .filter(|entry| entry.is_ours() && !entry.is_undo())
                .map(|entry| entry.at)
                .max()
                .filter(|fixed| happened >= *fixed + self.options.settle && happened <= *fixed + window)
        });
        let skipped =
            |reason, detail: String| skipped(reason, detail).after_a_fix_that_did_not_hold(fix_did_not_hold);
        let proposal = match self
            .service
            .plan(target, &described.state, &diagnosis, &history, now)
        {
            Decision::Hold(hold) => return release(skipped(hold.reason, hold.detail).with_cause(hold.cause)),
            Decision::Diagnosed(finding) => {
                if let Some(quota) = finding
                    .quota
                    .filter(|_| finding.announce && !self.options.dry_run)
                {
                    if let Some(late) =
                        self.out_of_time(invocation, calls::ANNOUNCE, "PutEvents and the refusal", name)
                    {
                        return release(
                            failed(Failure::Deadline, late)
                                .with_evidence(evidence)
                                .with_cause(Some(finding.code.code())),
                        );
                    }
                    // Before the finding holds later events back: a failed announcement is
                    // retried by Lambda, and the retry must find the resource not held back.
                    let detail = json!({
                        "service": S::ID.key,
                        "resource": name,
                        "account": resource.account,
                        "region": resource.region,
                        "quota": quota,
                        "eventId": incident.event_id,
                        "reason": finding.detail,
                    });
                    if let Err(e) = self.bus.announce(QUOTA_PRESSURE, &detail).await {
                        return release(
                            failed(Failure::Announce, e)
                                .with_evidence(evidence)
                                .with_cause(Some(finding.code.code())),
                        );
                    }
                }
                // The same cause is found again until a human acts: later events back off.
                let refusal = (finding.hold_back && !self.options.dry_run)
                    .then(|| Refusal::after(view.refusal.as_ref(), now, finding.detail.clone()));
                let report = Report::diagnosed(S::ID, name, event_id.clone(), &finding)
                    .with_evidence(evidence)
                    .after_a_fix_that_did_not_hold(fix_did_not_hold);
                // A diagnosis made without its lookup (api-throttle: the call not counted) is
                // not remembered: the event delivered again is diagnosed, and counted, then.
                let lease = if matches!(diagnosis, Diagnosis::Unavailable(_)) {
                    Lease::Release(refusal)
                } else {
                    Lease::Diagnosed(refusal)
                };
                return (report, lease);
            }
            Decision::Act(proposal) => proposal,
        };
        // Whatever ends the event from here names the cause the plan acted on, and its figures.
        let skipped = |reason, detail: String| skipped(reason, detail).with_cause(proposal.cause);
        let failed = |kind, error: Error| {
            failed(kind, error)
                .with_cause(proposal.cause)
                .with_evidence(evidence.clone())
        };
        // Only a change is held back by the event being stale: a hold says more.
        let ours = history.iter().map(|entry| entry.at).max();
        let last_change = ours.max(S::last_change(&described.state, target));
        if let Some(changed) = last_change
            && happened < changed + self.options.settle
        {
            return release(skipped(
                SkipReason::Stale,
                format!(
                    "the throttle at {} is from before {name} last changed, at {} (+{} s to settle): \
                     it describes the old capacity; a throttle that goes on raises a new event",
                    incident.time.to_rfc3339(),
                    changed.to_rfc3339(),
                    self.options.settle.num_seconds()
                ),
            ));
        }

        let Some(ticket) = lease else {
            let report = Report::planned(S::ID, name, event_id.clone(), &proposal)
                .with_evidence(evidence)
                .after_a_fix_that_did_not_hold(fix_did_not_hold);
            return (report, Lease::Kept);
        };
        if let Some(late) = self.out_of_time(invocation, calls::COMMIT, "commit, snapshot and change", name) {
            return release(failed(Failure::Deadline, late));
        }
        let made = HistoryEntry {
            at: now,
            action: proposal.action.clone(),
            event_id: incident.event_id.clone(),
            subject: S::subject(&proposal.change),
        };
        // A change made for a finding (turning on a diagnostic tool) is no fix: it counts
        // against no daily limit and makes no later event stale. A change made by hand is
        // recorded before a change of ours makes AWS report that one instead, so the
        // rolling-day guards keep counting it.
        let ours: Vec<HistoryEntry> = proposal.finding.is_none().then_some(made).into_iter().collect();
        let changes: Vec<HistoryEntry> = unrecorded.into_iter().chain(ours.iter().cloned()).collect();
        match self
            .change(incident, target, ticket, view, &changes, &described, &proposal)
            .await
        {
            Ok(snapshot) => {
                let report = Report::remediated(S::ID, name, event_id.clone(), &proposal, snapshot)
                    .with_evidence(evidence)
                    .after_a_fix_that_did_not_hold(fix_did_not_hold);
                (report, Lease::Kept)
            }
            Err(Unmade {
                failure,
                error,
                committed,
            }) => {
                // A limit or quota refuses the same change again: leave the resource alone
                // for a while rather than snapshot and call AWS on every event.
                let refusal = (error.kind == ErrorKind::Refused)
                    .then(|| Refusal::after(view.refusal.as_ref(), now, error.message.clone()));
                if committed == Committed::No {
                    return (failed(failure, error), Lease::Release(refusal));
                }
                if committed == Committed::Unknown
                    && let Err(e) = self.ledger.release(ticket, Release::Lease, None).await
                {
                    warn!(error = %e, resource = %resource, "lease not released; it ends at the invocation's deadline");
                }
                // The record of our change goes with its claim; changes made by hand stay.
                if let Err(e) = self
                    .ledger
                    .release(ticket, Release::Commit(&ours), refusal.as_ref())
                    .await
                {
                    warn!(error = %e, resource = %resource, "the failed change's record and claim not undone; the claim expires after the cooldown");
                }
                (failed(failure, error), Lease::Kept)
            }
        }
    }

    /// An error when less of the invocation is left than `calls` AWS calls may take.
    fn out_of_time(&self, invocation: &Invocation, calls: u32, next: &str, name: &str) -> Option<Error> {
        let deadline = invocation.deadline?;
        let needed = self.options.step_budget.saturating_mul(calls);
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        (left < needed).then(|| {
            Error::new(
                ErrorKind::Transient,
                next,
                name,
                format!(
                    "{} ms of the invocation left and {next} may take {} ms: not started, left for Lambda's retry",
                    left.as_millis(),
                    needed.as_millis()
                ),
            )
        })
    }

    /// The record of the change and its snapshot, side by side, then the change: no
    /// snapshot and no record, no change.
    #[allow(clippy::too_many_arguments)]
    async fn change(
        &self,
        incident: &Incident,
        target: &S::Target,
        ticket: &Ticket,
        view: &LedgerView,
        changes: &[HistoryEntry],
        described: &Described<S::State>,
        proposal: &Proposal<S::Change>,
    ) -> Result<String, Unmade> {
        let resource = &ticket.resource;
        let snapshot = Snapshot::new(resource, incident, target, proposal, described, ticket.now);
        let store = async {
            let body = serialised(&snapshot, resource)?;
            self.snapshots.put(&snapshot.key(), body).await
        };
        let commit = self
            .ledger
            .commit(ticket, changes, &view.expired, view.refusal.is_some());
        let (stored, committed) = tokio::join!(store, commit);
        // A commit that failed without an answer may have been made: undone like one that was.
        let recorded = |committed: &Result<(), Error>| match committed {
            Ok(()) => Committed::Yes,
            Err(e) if e.outcome_unknown => Committed::Unknown,
            Err(_) => Committed::No,
        };
        let location = match (stored, committed) {
            (Ok(location), Ok(())) => location,
            (Err(error), committed) => {
                return Err(Unmade {
                    failure: Failure::Snapshot,
                    error,
                    committed: recorded(&committed),
                });
            }
            (Ok(location), Err(error)) => {
                warn!(snapshot = %location, resource = %resource, "snapshot stored for a change that was not made");
                let committed = recorded(&Err(error.clone()));
                return Err(Unmade {
                    failure: Failure::Ledger,
                    error,
                    committed,
                });
            }
        };
        info!(snapshot = %location, resource = %resource, action = %proposal.action, "snapshot stored, applying");
        if let Err(failure) = self.resources.apply(&described.state, &proposal.change).await {
            // An error AWS answered with: nothing was changed. No answer (or a 5xx): the change
            // may have been made; look before undoing its record, or the retry makes it twice.
            if !failure.outcome_unknown {
                return Err(Unmade {
                    failure: Failure::Apply,
                    error: failure,
                    committed: Committed::Yes,
                });
            }
            match self.resources.describe(resource).await {
                Ok(after) if S::applied(&after.state, &proposal.change) => {
                    warn!(error = %failure, resource = %resource, "the change failed to answer but is visible: recorded as made");
                }
                _ => {
                    return Err(Unmade {
                        failure: Failure::Apply,
                        error: failure,
                        committed: Committed::Yes,
                    });
                }
            }
        }
        Ok(location)
    }
}

/// A change not made, and whether its record was committed (and must be undone).
struct Unmade {
    failure: Failure,
    error: Error,
    committed: Committed,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Committed {
    Yes,
    No,
    /// The commit failed without an answer: it may have been made.
    Unknown,
}

/// The ticket's invocation: Lambda's request id and a value of this run alone. An SDK retry
/// of one request sends the same value, so it finds its own lease; two runs of one request
/// id (Lambda may deliver an asynchronous event twice, under the same id) never share one.
fn run_id(request: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    static PROCESS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    // The standard library's randomly seeded hasher: a value no other container shares.
    let process = PROCESS.get_or_init(|| {
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    });
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{request}#{process:016x}-{run}")
}

/// What becomes of a lease when the event's remediation ends.
enum Lease {
    /// Given back, recording the refusal if any: no change was made.
    Release(Option<Refusal>),
    /// Given back after a diagnosis, remembering the event (so its redelivery is a
    /// duplicate) and recording the refusal if any.
    Diagnosed(Option<Refusal>),
    /// Kept as it is: committed (the cooldown holds), already given back, or never taken.
    Kept,
}

/// The report of an event the ledger holds back from the resource.
fn held_back(skipped: impl Fn(SkipReason, String) -> Report, name: &str, held: Held) -> Report {
    match held {
        Held::Duplicate { detail } => skipped(SkipReason::Duplicate, format!("{name}: {detail}")),
        Held::CoolingDown { detail } | Held::InFlight { detail } => {
            skipped(SkipReason::CoolingDown, format!("{name}: {detail}"))
        }
        Held::BackingOff(refusal) => skipped(
            SkipReason::BackingOff,
            format!(
                "{name} is held back ({} time(s) in a row): {}; next look after {}",
                refusal.strikes,
                refusal.reason,
                refusal.until.to_rfc3339()
            ),
        ),
    }
}

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;
