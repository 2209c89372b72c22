//! What a planner decides: change something, hold and say why, or report a finding.

use serde::Serialize;
use serde_json::Value;
use strum::{Display, EnumString, IntoStaticStr};

use crate::core::domain::Action;

/// A planner's answer: change something, hold with a reason, or name a cause no change
/// fixes.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision<C> {
    Act(Proposal<C>),
    Hold(Hold),
    Diagnosed(Finding),
}

impl<C> Decision<C> {
    pub fn hold(reason: SkipReason, detail: impl Into<String>) -> Self {
        Decision::Hold(Hold::new(reason, detail))
    }

    /// Names `cause` on a change or a hold that names none yet, so every result says what
    /// the diagnosis found, `unknown` included. A finding is its own cause.
    pub fn with_cause(mut self, cause: &'static str) -> Self {
        match &mut self {
            Decision::Act(proposal) => {
                proposal.cause.get_or_insert(cause);
            }
            Decision::Hold(hold) => {
                hold.cause.get_or_insert(cause);
            }
            Decision::Diagnosed(_) => {}
        }
        self
    }
}

/// A change a planner wants made, with the before/after a human will read.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal<C> {
    pub action: Action,
    pub change: C,
    pub before: Value,
    pub after: Value,
    /// One sentence saying why, e.g. "write throttled: table WCU 5 -> 10".
    pub why: String,
    /// The cause the diagnosis found (e.g. `provisioned-throughput`), `None` when the
    /// planner acted without one (no metrics, or a service that reads none).
    pub cause: Option<&'static str>,
    /// A change that serves a finding rather than fixing the throttle (turning on the
    /// tool that finds a hot key): its result is `diagnosed` with this code.
    pub finding: Option<FindingCode>,
    /// The quota a change asks Service Quotas to raise (counted as `QuotaIncreaseRequested`).
    pub quota: Option<Quota>,
}

/// Why nothing is changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub reason: SkipReason,
    pub detail: String,
    /// The cause the diagnosis found before holding (at the cap, busy, already on-demand).
    pub cause: Option<&'static str>,
}

impl Hold {
    pub fn new(reason: SkipReason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
            cause: None,
        }
    }
}

/// Why an event led to no change. Its code is the `Reason` metric dimension, so the set
/// is small and closed; the human detail travels beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Display, IntoStaticStr)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum SkipReason {
    /// The event is not a throttle (no error, another error, an alarm leaving ALARM).
    NotThrottle,
    /// The event is from a service or source this function does not handle.
    NotOurs,
    /// A control-plane rate limit: more capacity cannot help.
    ControlPlane,
    /// The resource does not match the allow-list.
    NotAllowed,
    /// The resource carries the opt-out tag.
    OptedOut,
    /// The resource no longer exists.
    NotFound,
    /// The resource is in another account or region than the function.
    Foreign,
    /// The event is older than `MAX_EVENT_AGE_SECONDS`.
    TooOld,
    /// The event describes the resource before a change made since: acting would re-apply it.
    Stale,
    AlreadyOnDemand,
    UpdateInProgress,
    AtCap,
    /// An AWS rolling-24-hour limit would refuse the change.
    DailyLimit,
    /// This event was handled before (at-least-once delivery).
    Duplicate,
    /// Another event of the same incident already changed, or is changing, the resource.
    CoolingDown,
    /// AWS refused the last change for a reason that persists; the next try waits.
    BackingOff,
    /// Fewer than `MIN_THROTTLE_EVENTS` throttle events within `SUSTAIN_SECONDS`: a burst
    /// DynamoDB's adaptive capacity (or the caller's retries) absorbs.
    NotSustained,
    /// restore: the resource throttled, or was raised, within `RESTORE_AFTER_QUIET_HOURS`.
    NotQuiet,
    /// restore: the metrics cannot show the quiet hours (the lookup failed or came back
    /// partial): nothing is lowered on a guess.
    MetricsPartial,
    /// restore: the resource is where the quiet hours' demand wants it (its pre-incident
    /// value, or above it for the peak): nothing to lower.
    Settled,
    /// restore: someone changed the resource since unthrottle did; it is theirs now.
    ChangedSince,
    /// restore: the change was a switch to on-demand, and switching back is off
    /// (`RESTORE_BILLING_MODE`).
    SwitchBackOff,
}

impl SkipReason {
    pub fn code(self) -> &'static str {
        self.into()
    }
}

/// A cause no capacity change fixes: the result says what is wrong and what to do, and
/// nothing is changed. Its code is the result's `code` and names its metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Display, EnumString, IntoStaticStr)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum FindingCode {
    /// One partition key takes more than a partition serves.
    HotPartition,
    /// An on-demand table at the maximum throughput it is configured for.
    OnDemandMax,
    /// A resource at an account quota: a DynamoDB table's per-table throughput, the
    /// region's Kinesis shards.
    AccountQuota,
    /// Polling consumers share a shard's 5 GetRecords calls and 2 MiB per second: reads
    /// throttle below the stream's capacity, which more shards do not fix.
    ReadFanOut,
    /// An on-demand stream at a per-shard or account limit.
    OnDemandStreamLimit,
    /// One partition key takes more than a shard serves: a split shard's child still
    /// throttles.
    HotPartitionKey,
    // api-throttle's cases (docs/api-throttles.md): no capacity knob exists; the result
    // names the caller and what to do.
    /// STS called through its global endpoint.
    StsGlobalEndpoint,
    /// STS's request rate through a regional endpoint (not adjustable).
    StsRateLimit,
    /// IAM's request rate (global, not adjustable).
    IamRateLimit,
    /// A KMS cryptographic-operation family's request quota, per account and region.
    KmsRequestQuota,
    /// Bursts of state changes on KMS keys (EnableKey, DisableKey, ...).
    KmsKeyStateBurst,
    /// SSM Parameter Store's standard throughput.
    SsmParameterThroughput,
    /// EC2's API request rate (raised by a Support case, not Service Quotas).
    Ec2RequestLimit,
    /// DynamoDB or Kinesis describe and list calls polled in a hot path.
    ControlPlanePolling,
    /// Any other API's request rate.
    ApiRateLimit,
}

impl FindingCode {
    pub fn code(self) -> &'static str {
        self.into()
    }

    /// The metric counted for each finding (dimension `Service`).
    pub fn metric_name(self) -> &'static str {
        match self {
            FindingCode::HotPartition => "HotPartition",
            FindingCode::OnDemandMax => "OnDemandMaximum",
            FindingCode::AccountQuota => "AccountQuota",
            FindingCode::ReadFanOut => "ReadFanOut",
            FindingCode::OnDemandStreamLimit => "OnDemandStreamLimit",
            FindingCode::HotPartitionKey => "HotPartitionKey",
            _ => THROTTLE_EVENTS_OBSERVED,
        }
    }

    /// One of api-throttle's cases, counted as `ThrottleEventsObserved` by API and case.
    pub fn is_api_case(self) -> bool {
        self.metric_name() == THROTTLE_EVENTS_OBSERVED
    }
}

/// api-throttle's metric: dimensions `Service`, `Api` and `Case` (the caller goes in the
/// result and the log line, never in a dimension: its cardinality is unbounded).
pub const THROTTLE_EVENTS_OBSERVED: &str = "ThrottleEventsObserved";

/// A diagnosis that leads to no change.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub code: FindingCode,
    /// What was found and what a human should do, in a sentence or two.
    pub detail: String,
    /// The same cause will be found again until a human acts: hold later events back as
    /// `backing-off` rather than diagnose each one (an account quota).
    pub hold_back: bool,
    /// The Service Quotas quota that would fix it.
    pub quota: Option<Quota>,
    /// Put a `Quota Pressure` event naming `quota` on the bus, for api-throttle's quota
    /// path (which itself never announces: it is where the announcements go).
    pub announce: bool,
    /// A stable id of what to do (`use-regional-sts-endpoints`), where the finding has one.
    pub advice: Option<&'static str>,
}

/// The detail-type of the event that says a resource is held back by a quota.
pub const QUOTA_PRESSURE: &str = "Quota Pressure";

/// A Service Quotas quota, as the `Quota Pressure` event names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Quota {
    /// Service Quotas' service code, e.g. `dynamodb`.
    pub service_code: &'static str,
    pub quota_code: &'static str,
    pub quota_name: &'static str,
}
