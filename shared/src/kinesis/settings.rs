//! The `kinesis-throttle` function as configured: its own variables, how they are read,
//! and its `Service` impl, the seam into the shared pipeline.

use super::limits::SWITCHES_TO_ON_DEMAND_PER_DAY;
use super::model::{StreamChange, StreamMetrics, StreamMode, StreamState, StreamTarget};
use super::planner::{self, StreamPolicy};
use chrono::{DateTime, Utc};

use crate::core::config::{
    self, AllowList, ConfigError, Env, HEADROOM, MAX_ON_DEMAND_SWITCHES_PER_DAY, ON_DEMAND, SCALE_FACTOR,
    Variable,
};
use crate::core::diagnosis::Diagnosis;
use crate::core::domain::{HistoryEntry, ServiceId, Status};
use crate::core::envelope::{Envelope, Triage, TriggerError};
use crate::core::plan::Decision;
use crate::core::service::Service;

pub const STREAM_ALLOW: Variable = AllowList::variable(
    "STREAM_ALLOW",
    "a glob over the stream names this function may change",
);
pub const MAX_SHARDS: Variable = Variable::new(
    "MAX_SHARDS",
    Some("64"),
    "a whole number of shards from 1 to 10000 (AWS's per-stream limit)",
    "the most open shards it gives a stream",
)
// limits::SHARDS_PER_STREAM (a test holds the two together).
.between("1", "10000");

pub const VARIABLES: &[&Variable] = &[
    &STREAM_ALLOW,
    &SCALE_FACTOR,
    &HEADROOM,
    &MAX_SHARDS,
    &ON_DEMAND,
    &MAX_ON_DEMAND_SWITCHES_PER_DAY,
];

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
    const VARIABLES: &'static [&'static Variable] = VARIABLES;

    type Target = StreamTarget;
    type State = StreamState;
    type Change = StreamChange;
    type Evidence = StreamMetrics;

    fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Self::settings(env)
    }

    fn allow_list(&self) -> &AllowList {
        &self.allow
    }

    fn triage(envelope: &Envelope) -> Result<Triage<StreamTarget>, TriggerError> {
        crate::core::trigger::triage::<Self>(envelope)
    }

    fn subject(change: &StreamChange) -> Option<String> {
        match change {
            StreamChange::SplitShard { shard, .. } => Some(shard.clone()),
            _ => None,
        }
    }

    fn applied(state: &StreamState, change: &StreamChange) -> bool {
        matches!(state.status, Status::Busy(_))
            || match change {
                StreamChange::UpdateShardCount { target } => state.open_shards == *target,
                StreamChange::SwitchToOnDemand => state.mode == StreamMode::OnDemand,
                // The parent closes and two children open.
                StreamChange::SplitShard { shard, .. } => {
                    !state.shards.is_empty() && !state.shards.iter().any(|open| &open.id == shard)
                }
            }
    }

    fn plan(
        &self,
        target: &StreamTarget,
        state: &StreamState,
        diagnosis: &Diagnosis<StreamMetrics>,
        history: &[HistoryEntry],
        now: DateTime<Utc>,
    ) -> Decision<StreamChange> {
        planner::plan(state, target, diagnosis, &self.policy, history, now)
    }
}

impl Kinesis {
    pub fn settings(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            policy: StreamPolicy {
                // The shard formula's minimum step is one shard (open + 1): no MIN_STEP.
                growth: config::growth(env, None)?,
                headroom: env.number(&HEADROOM)?,
                max_shards: env.number(&MAX_SHARDS)?,
                on_demand: config::on_demand(env)?,
                max_switches_per_day: config::max_switches_per_day(env, SWITCHES_TO_ON_DEMAND_PER_DAY)?,
            },
            allow: AllowList::from_env(env, &STREAM_ALLOW)?,
        })
    }
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
