//! The `api-throttle` function as configured, and its `Service` impl: the seam into the
//! shared pipeline.

use chrono::{DateTime, Utc};

use super::model::{ApiChange, ApiSignal, ApiState, ApiTarget, Callers};
use super::planner::{self, RaisePolicy};
use crate::core::config::{AllowList, ConfigError, Env, Variable};
use crate::core::diagnosis::Diagnosis;
use crate::core::domain::{HistoryEntry, ServiceId};
use crate::core::envelope::{Envelope, Triage, TriggerError};
use crate::core::plan::Decision;
use crate::core::service::Service;

pub const API_ALLOW: Variable = AllowList::variable(
    "API_ALLOW",
    "a glob over the `service.API` names this function diagnoses (`kms.*`)",
);

pub const QUOTA_INCREASE: Variable = Variable::new(
    "QUOTA_INCREASE",
    Some("off"),
    "off or request",
    "ask Service Quotas for more of a known, adjustable quota when every guard allows (docs/api-throttles.md)",
);
pub const QUOTA_FACTOR: Variable = Variable::new(
    "QUOTA_FACTOR",
    Some("1.5"),
    "a number from 1.01 to 10",
    "an increase asks for the current value times this",
)
.between("1.01", "10");
pub const QUOTA_MAX_FACTOR: Variable = Variable::new(
    "QUOTA_MAX_FACTOR",
    Some("2"),
    "a number from 1 to 100",
    "never ask for more than AWS's default times this, so increases cannot compound",
)
.between("1", "100");
pub const QUOTA_MIN_EVENTS: Variable = Variable::new(
    "QUOTA_MIN_EVENTS",
    Some("10"),
    "a whole number from 1 to 100000",
    "throttled calls counted in THROTTLE_WINDOW_MINUTES before a CloudTrail throttle may raise a limit (a quota increase, SSM's higher throughput)",
)
.between("1", "100000");
pub const THROTTLE_WINDOW_MINUTES: Variable = Variable::new(
    "THROTTLE_WINDOW_MINUTES",
    Some("15"),
    "whole minutes from 1 to 60",
    "the window api-throttle counts throttled calls in: the top callers a result names, QUOTA_MIN_EVENTS, and one digest line per caller",
)
.between("1", "60");
pub const SSM_HIGH_THROUGHPUT: Variable = Variable::new(
    "SSM_HIGH_THROUGHPUT",
    Some("off"),
    "off or enable",
    "turn on Parameter Store's higher throughput (paid, per Region) for a sustained GetParameter* throttle when every guard allows (docs/api-throttles.md)",
);

pub const DIGEST_TOPIC_ARN: Variable = Variable::new(
    "DIGEST_TOPIC_ARN",
    Some(""),
    "an SNS topic ARN, or empty",
    "where a line goes for each new (service, API, caller) incident; empty: none",
);

pub const VARIABLES: &[&Variable] = &[
    &API_ALLOW,
    &DIGEST_TOPIC_ARN,
    &QUOTA_INCREASE,
    &QUOTA_FACTOR,
    &QUOTA_MAX_FACTOR,
    &QUOTA_MIN_EVENTS,
    &SSM_HIGH_THROUGHPUT,
    &THROTTLE_WINDOW_MINUTES,
];

/// `QUOTA_INCREASE`: off by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString)]
#[strum(serialize_all = "kebab-case", ascii_case_insensitive)]
enum QuotaIncrease {
    Off,
    Request,
}

/// `SSM_HIGH_THROUGHPUT`: off by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString)]
#[strum(serialize_all = "kebab-case", ascii_case_insensitive)]
enum HighThroughput {
    Off,
    Enable,
}

/// The `api-throttle` function, as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct Api {
    pub allow: AllowList,
    pub raises: RaisePolicy,
    /// `THROTTLE_WINDOW_MINUTES`: how far back the callers are counted.
    pub window_minutes: u32,
    /// `DIGEST_TOPIC_ARN`, when set.
    pub digest_topic: Option<String>,
}

impl Service for Api {
    const ID: ServiceId = ServiceId {
        key: "api",
        metric_name: "API",
    };
    const VARIABLES: &'static [&'static Variable] = VARIABLES;

    type Target = ApiTarget;
    type State = ApiState;
    type Change = ApiChange;
    type Evidence = Callers;

    fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            allow: AllowList::from_env(env, &API_ALLOW)?,
            digest_topic: Some(env.parsed(&DIGEST_TOPIC_ARN, |topic: &String| {
                topic.is_empty() || topic.starts_with("arn:")
            })?)
            .filter(|topic| !topic.is_empty()),
            window_minutes: env.number(&THROTTLE_WINDOW_MINUTES)?,
            raises: RaisePolicy {
                request: env.parsed(&QUOTA_INCREASE, |_: &QuotaIncrease| true)? == QuotaIncrease::Request,
                high_throughput: env.parsed(&SSM_HIGH_THROUGHPUT, |_: &HighThroughput| true)?
                    == HighThroughput::Enable,
                factor: env.number(&QUOTA_FACTOR)?,
                max_factor: env.number(&QUOTA_MAX_FACTOR)?,
                min_events: env.number(&QUOTA_MIN_EVENTS)?,
            },
        })
    }

    fn allow_list(&self) -> &AllowList {
        &self.allow
    }

    fn triage(envelope: &Envelope) -> Result<Triage<ApiTarget>, TriggerError> {
        super::trigger::triage(envelope)
    }

    /// A request whose answer was lost shows as an open request for that value; a setting,
    /// as its new value.
    fn applied(state: &ApiState, change: &ApiChange) -> bool {
        match change {
            ApiChange::RequestQuotaIncrease { desired, .. } => state.quota.as_ref().is_some_and(|quota| {
                quota
                    .requests
                    .iter()
                    .any(|request| request.is_open() && request.desired == Some(*desired))
            }),
            // Made, or under way.
            ApiChange::EnableHighThroughput { .. } => state
                .throughput
                .as_ref()
                .is_some_and(|setting| setting.is_on() || setting.is_pending()),
        }
    }

    /// Its callers are counted, and QUOTA_MIN_EVENTS decides on the counts: the core's
    /// MIN_THROTTLE_EVENTS gate would drop the events it counts.
    fn sustained_by_sightings() -> bool {
        false
    }

    /// Its callers are counted per event, so the counts see a burst whole.
    fn counts_every_event() -> bool {
        true
    }

    /// Only a CloudTrail record names a caller to count; an alarm and an announcement do not.
    fn needs_diagnosis(target: &ApiTarget) -> bool {
        matches!(target.signal, ApiSignal::CloudTrail)
    }

    fn plan(
        &self,
        target: &ApiTarget,
        state: &ApiState,
        diagnosis: &Diagnosis<Callers>,
        history: &[HistoryEntry],
        now: DateTime<Utc>,
    ) -> Decision<ApiChange> {
        planner::plan(target, state, diagnosis, history, &self.raises, now)
    }
}
