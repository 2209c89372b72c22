//! The `api-throttle` function as configured, and its `Service` impl: the seam into the
//! shared pipeline.

use chrono::{DateTime, Utc};

use super::model::{ApiChange, ApiSignal, ApiState, ApiTarget, Callers};
use super::planner;
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

pub const VARIABLES: &[&Variable] = &[&API_ALLOW];

/// The `api-throttle` function, as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct Api {
    pub allow: AllowList,
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
        })
    }

    fn allow_list(&self) -> &AllowList {
        &self.allow
    }

    fn triage(envelope: &Envelope) -> Result<Triage<ApiTarget>, TriggerError> {
        super::trigger::triage(envelope)
    }

    fn applied(state: &ApiState, change: &ApiChange) -> bool {
        let _ = state;
        match *change {}
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
        let _ = (state, history, now);
        planner::plan(target, diagnosis)
    }
}
