//! Kinesis Data Streams: which stream an event names ([`trigger`]), the pure shard planner
//! ([`planner`]), AWS's limits ([`limits`]), the function's settings ([`settings`]) and the
//! SDK adapter ([`aws`]).

pub mod aws;
pub mod limits;
pub mod model;
pub mod planner;
pub mod settings;
pub mod trigger;

use chrono::{DateTime, Utc};

use crate::core::config::{AllowList, ConfigError, Env, Variable};
use crate::core::domain::{Action, HistoryEntry, ServiceId};
use crate::core::envelope::{Envelope, Triage, TriggerError};
use crate::core::plan::Decision;
use crate::core::service::Service;

pub use aws::SdkStreams;
pub use model::{StreamChange, StreamMode, StreamState};
pub use planner::StreamPolicy;
pub use trigger::StreamTarget;

/// Change a stream's open shard count (UpdateShardCount).
pub const UPDATE_SHARD_COUNT: Action = Action::named("UpdateShardCount");

/// The `kinesis-throttle` function, as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct Kinesis {
    pub policy: StreamPolicy,
    pub allow: AllowList,
}

impl Service for Kinesis {
    const ID: ServiceId = ServiceId {
        key: "kinesis",
        metric_name: "Kinesis",
    };
    const VARIABLES: &'static [&'static Variable] = settings::VARIABLES;

    type Target = StreamTarget;
    type State = StreamState;
    type Change = StreamChange;

    fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Self::settings(env)
    }

    fn allow_list(&self) -> &AllowList {
        &self.allow
    }

    fn triage(envelope: &Envelope) -> Result<Triage<StreamTarget>, TriggerError> {
        crate::core::trigger::triage::<Self>(envelope)
    }

    fn plan(
        &self,
        target: &StreamTarget,
        state: &StreamState,
        history: &[HistoryEntry],
        now: DateTime<Utc>,
    ) -> Decision<StreamChange> {
        planner::plan(state, target, &self.policy, history, now)
    }
}
