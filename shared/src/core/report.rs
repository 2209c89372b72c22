//! The structured result a function returns: one report per resource.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use strum::IntoStaticStr;

use crate::core::domain::{Action, ServiceId};
use crate::core::error::{Error, ErrorKind};
use crate::core::plan::{Finding, Proposal, Quota, SkipReason};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The change was made (after its snapshot was stored).
    Remediated,
    /// restore lowered what unthrottle raised, after the quiet hours (after its snapshot
    /// was stored).
    Restored,
    /// DRY_RUN: the change that would be made.
    Planned,
    /// Nothing to do, or not allowed to; `code` says which rule.
    Skipped,
    /// Something went wrong; `code` names the step. Nothing was changed.
    Failed,
    /// The cause is one no change here fixes (a hot key, a quota); `code` names it and the
    /// reason says what to do. Nothing was changed.
    Diagnosed,
}

/// The step that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, IntoStaticStr)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Failure {
    MalformedEvent,
    Describe,
    Ledger,
    Snapshot,
    Apply,
    /// A `Quota Pressure` event could not be put on the bus.
    Announce,
    /// Not enough of the invocation was left to start the next step.
    Deadline,
}

impl Failure {
    pub fn code(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub outcome: Outcome,
    pub service: ServiceId,
    pub resource: Option<String>,
    pub action: Option<Action>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    /// `s3://bucket/key` of the pre-change snapshot.
    pub snapshot: Option<String>,
    /// A sentence for humans.
    pub reason: String,
    /// A stable code for machines: the skip reason or the failed step.
    pub code: Option<&'static str>,
    pub event_id: Option<String>,
    /// For a failure through a port: the kind of error, kept from the adapter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
    /// For a failure through a port: whether trying again later may succeed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
    /// The cause the diagnosis found, e.g. `provisioned-throughput` or `hot-partition`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<&'static str>,
    /// What the metrics lookup beside the describe returned: the figures the plan used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Value>,
    /// What to do, as a stable id (`use-regional-sts-endpoints`), for a finding that has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advice: Option<&'static str>,
    /// The Service Quotas quota the finding names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<Quota>,
    /// When unthrottle's last change to the resource was made, if this throttle came after
    /// it settled and within `VERIFY_WINDOW_SECONDS`: that change did not hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix_did_not_hold: Option<DateTime<Utc>>,
}

impl Report {
    fn base(
        outcome: Outcome,
        service: ServiceId,
        resource: Option<&str>,
        event_id: Option<String>,
        reason: String,
    ) -> Self {
        Self {
            outcome,
            service,
            resource: resource.map(str::to_owned),
            action: None,
            before: None,
            after: None,
            snapshot: None,
            reason,
            code: None,
            event_id,
            error_kind: None,
            retryable: None,
            cause: None,
            evidence: None,
            advice: None,
            quota: None,
            fix_did_not_hold: None,
        }
    }

    fn with_proposal<C>(mut self, proposal: &Proposal<C>) -> Self {
        self.action = Some(proposal.action.clone());
        self.before = Some(proposal.before.clone());
        self.after = Some(proposal.after.clone());
        self.cause = proposal.cause;
        self.quota = proposal.quota;
        self
    }

    /// Marks the result of a throttle that came back after unthrottle's change at `fixed`.
    pub fn after_a_fix_that_did_not_hold(mut self, fixed: Option<DateTime<Utc>>) -> Self {
        if let Some(fixed) = fixed {
            self.fix_did_not_hold = Some(fixed);
            self.reason = format!(
                "the change of {} did not hold (throttled again after it settled); {}",
                fixed.to_rfc3339(),
                self.reason
            );
        }
        self
    }

    /// The cause the planner found before holding.
    pub fn with_cause(mut self, cause: Option<&'static str>) -> Self {
        self.cause = cause.or(self.cause);
        self
    }

    /// The figures the plan read, when a diagnosis was made.
    pub fn with_evidence(mut self, evidence: Option<Value>) -> Self {
        self.evidence = evidence;
        self
    }

    pub fn diagnosed(
        service: ServiceId,
        resource: &str,
        event_id: Option<String>,
        finding: &Finding,
    ) -> Self {
        let mut report = Self::base(
            Outcome::Diagnosed,
            service,
            Some(resource),
            event_id,
            finding.detail.clone(),
        );
        report.code = Some(finding.code.code());
        report.cause = Some(finding.code.code());
        report.advice = finding.advice;
        report.quota = finding.quota;
        report
    }

    pub fn remediated<C>(
        service: ServiceId,
        resource: &str,
        event_id: Option<String>,
        proposal: &Proposal<C>,
        snapshot: String,
    ) -> Self {
        let mut report = Self::base(
            Outcome::Remediated,
            service,
            Some(resource),
            event_id,
            proposal.why.clone(),
        )
        .with_proposal(proposal);
        report.snapshot = Some(snapshot);
        if proposal.finding.is_some() {
            // A change made for a finding (turning on what finds a hot key) fixes nothing:
            // the result is the finding's.
            report.outcome = Outcome::Diagnosed;
        }
        report.with_finding_code(proposal)
    }

    fn with_finding_code<C>(mut self, proposal: &Proposal<C>) -> Self {
        if let Some(finding) = proposal.finding {
            self.code = Some(finding.code());
        }
        self
    }

    pub fn planned<C>(
        service: ServiceId,
        resource: &str,
        event_id: Option<String>,
        proposal: &Proposal<C>,
    ) -> Self {
        Self::base(
            Outcome::Planned,
            service,
            Some(resource),
            event_id,
            format!("DRY_RUN: {}", proposal.why),
        )
        .with_proposal(proposal)
        .with_finding_code(proposal)
    }

    pub fn skipped(
        service: ServiceId,
        resource: Option<&str>,
        event_id: Option<String>,
        reason: SkipReason,
        detail: String,
    ) -> Self {
        let mut report = Self::base(Outcome::Skipped, service, resource, event_id, detail);
        report.code = Some(reason.code());
        report
    }

    pub fn failed(
        service: ServiceId,
        resource: Option<&str>,
        event_id: Option<String>,
        failure: Failure,
        detail: String,
    ) -> Self {
        let mut report = Self::base(Outcome::Failed, service, resource, event_id, detail);
        report.code = Some(failure.code());
        report
    }

    /// A step failed through a port: the report keeps the error's kind and its retry answer.
    pub fn failed_with(
        service: ServiceId,
        resource: Option<&str>,
        event_id: Option<String>,
        failure: Failure,
        error: &Error,
    ) -> Self {
        let mut report = Self::failed(service, resource, event_id, failure, error.to_string());
        report.error_kind = Some(error.kind);
        report.retryable = Some(error.retryable());
        report
    }
}
