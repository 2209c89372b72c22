//! The `dynamodb-throttle` function as configured: its own variables, how they are read,
//! and its `Service` impl, the seam into the shared pipeline.

use super::limits::SWITCHES_TO_ON_DEMAND_PER_DAY;
use super::model::{TableChange, TableState, TableTarget};
use super::planner::{self, TablePolicy};
use chrono::{DateTime, Utc};

use crate::core::config::{
    self, AllowList, ConfigError, Env, MAX_ON_DEMAND_SWITCHES_PER_DAY, MIN_STEP, ON_DEMAND, SCALE_FACTOR,
    Variable, positive,
};
use crate::core::domain::{HistoryEntry, ServiceId};
use crate::core::envelope::{Envelope, Triage, TriggerError};
use crate::core::plan::Decision;
use crate::core::service::Service;

pub const TABLE_ALLOW: Variable = AllowList::variable(
    "TABLE_ALLOW",
    "a glob over the table names this function may change",
);
pub const MAX_READ_CAPACITY: Variable = Variable {
    name: "MAX_READ_CAPACITY",
    default: Some("1000"),
    expected: "a whole number of capacity units of at least 1",
    meaning: "the most read capacity units it sets on a table or GSI",
};
pub const MAX_WRITE_CAPACITY: Variable = Variable {
    name: "MAX_WRITE_CAPACITY",
    default: Some("1000"),
    expected: "a whole number of capacity units of at least 1",
    meaning: "the most write capacity units it sets on a table or GSI",
};

pub const VARIABLES: &[&Variable] = &[
    &TABLE_ALLOW,
    &SCALE_FACTOR,
    &MIN_STEP,
    &MAX_READ_CAPACITY,
    &MAX_WRITE_CAPACITY,
    &ON_DEMAND,
    &MAX_ON_DEMAND_SWITCHES_PER_DAY,
];

/// The `dynamodb-throttle` function, as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct DynamoDb {
    pub policy: TablePolicy,
    pub allow: AllowList,
}

impl Service for DynamoDb {
    const ID: ServiceId = ServiceId {
        key: "dynamodb",
        metric_name: "DynamoDB",
    };
    const VARIABLES: &'static [&'static Variable] = VARIABLES;

    type Target = TableTarget;
    type State = TableState;
    type Change = TableChange;

    fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Self::settings(env)
    }

    fn allow_list(&self) -> &AllowList {
        &self.allow
    }

    fn triage(envelope: &Envelope) -> Result<Triage<TableTarget>, TriggerError> {
        crate::core::trigger::triage::<Self>(envelope)
    }

    fn plan(
        &self,
        target: &TableTarget,
        state: &TableState,
        history: &[HistoryEntry],
        now: DateTime<Utc>,
    ) -> Decision<TableChange> {
        planner::plan(state, target, &self.policy, history, now)
    }
}

impl DynamoDb {
    pub fn settings(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            policy: TablePolicy {
                growth: config::growth(env, Some(&MIN_STEP))?,
                max_read: env.parsed(&MAX_READ_CAPACITY, positive)?,
                max_write: env.parsed(&MAX_WRITE_CAPACITY, positive)?,
                on_demand: config::on_demand(env)?,
                max_switches_per_day: config::max_switches_per_day(env, SWITCHES_TO_ON_DEMAND_PER_DAY)?,
            },
            allow: AllowList::from_env(env, &TABLE_ALLOW)?,
        })
    }
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
