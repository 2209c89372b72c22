//! The `kinesis-throttle` function's own settings, read next to the code that uses them.

use super::Kinesis;
use super::limits::{MODE_SWITCHES_PER_DAY, SHARDS_PER_STREAM};
use super::planner::StreamPolicy;
use crate::core::config::{
    self, AllowList, ConfigError, Env, MAX_ON_DEMAND_SWITCHES_PER_DAY, ON_DEMAND, SCALE_FACTOR, Variable,
};

pub const STREAM_ALLOW: Variable = AllowList::variable(
    "STREAM_ALLOW",
    "a glob over the stream names this function may change",
);
pub const MAX_SHARDS: Variable = Variable {
    name: "MAX_SHARDS",
    default: Some("64"),
    expected: "a whole number of shards from 1 to 10000 (AWS's per-stream limit)",
    meaning: "the most open shards it gives a stream",
};

pub const VARIABLES: &[&Variable] = &[
    &STREAM_ALLOW,
    &SCALE_FACTOR,
    &MAX_SHARDS,
    &ON_DEMAND,
    &MAX_ON_DEMAND_SWITCHES_PER_DAY,
];

impl Kinesis {
    pub fn settings(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            policy: StreamPolicy {
                // The shard formula's minimum step is one shard (open + 1): no MIN_STEP.
                growth: config::growth(env, None)?,
                max_shards: env.parsed(&MAX_SHARDS, |n: &u32| (1..=SHARDS_PER_STREAM).contains(n))?,
                on_demand: config::on_demand(env)?,
                max_switches_per_day: config::max_switches_per_day(env, MODE_SWITCHES_PER_DAY)?,
            },
            allow: AllowList::from_env(env, &STREAM_ALLOW)?,
        })
    }
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
