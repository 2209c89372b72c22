//! The `dynamodb-throttle` function as configured: its own variables, how they are read,
//! and its `Service` impl, the seam into the shared pipeline.

use super::limits::SWITCHES_TO_ON_DEMAND_PER_DAY;
use super::model::{BillingMode, Capacity, TableChange, TableMetrics, TableState, TableTarget};
use super::planner::{self, TablePolicy};
use chrono::{DateTime, Utc};

use crate::core::config::{
    self, AllowList, ConfigError, Env, HEADROOM, MAX_ON_DEMAND_SWITCHES_PER_DAY, MIN_STEP, ON_DEMAND,
    SCALE_FACTOR, Variable,
};
use crate::core::diagnosis::Diagnosis;
use crate::core::domain::{Action, HistoryEntry, ServiceId, Status};
use crate::core::envelope::{Envelope, Triage, TriggerError};
use crate::core::plan::Decision;
use crate::core::service::Service;

pub const TABLE_ALLOW: Variable = AllowList::variable(
    "TABLE_ALLOW",
    "a glob over the table names this function may change",
);
pub const MAX_READ_CAPACITY: Variable = Variable::new(
    "MAX_READ_CAPACITY",
    Some("1000"),
    "a whole number of capacity units of at least 1",
    "the most read capacity units it sets on a table or GSI",
)
.at_least("1");
pub const MAX_WRITE_CAPACITY: Variable = Variable::new(
    "MAX_WRITE_CAPACITY",
    Some("1000"),
    "a whole number of capacity units of at least 1",
    "the most write capacity units it sets on a table or GSI",
)
.at_least("1");

pub const RAISE_ON_DEMAND_MAX: Variable = Variable::new(
    "RAISE_ON_DEMAND_MAX",
    Some("off"),
    "on or off",
    "raise an on-demand table's configured maximum throughput when it is what throttles (off: the maximum may be a deliberate cost cap)",
);
pub const MAX_ON_DEMAND_READ_UNITS: Variable = Variable::new(
    "MAX_ON_DEMAND_READ_UNITS",
    Some("40000"),
    "a whole number of request units of at least 1",
    "the most MaxReadRequestUnits it sets on an on-demand table",
)
.at_least("1");
pub const MAX_ON_DEMAND_WRITE_UNITS: Variable = Variable::new(
    "MAX_ON_DEMAND_WRITE_UNITS",
    Some("40000"),
    "a whole number of request units of at least 1",
    "the most MaxWriteRequestUnits it sets on an on-demand table",
)
.at_least("1");

pub const VARIABLES: &[&Variable] = &[
    &TABLE_ALLOW,
    &SCALE_FACTOR,
    &MIN_STEP,
    &HEADROOM,
    &MAX_READ_CAPACITY,
    &MAX_WRITE_CAPACITY,
    &ON_DEMAND,
    &MAX_ON_DEMAND_SWITCHES_PER_DAY,
    &RAISE_ON_DEMAND_MAX,
    &MAX_ON_DEMAND_READ_UNITS,
    &MAX_ON_DEMAND_WRITE_UNITS,
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
    type Evidence = TableMetrics;

    fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Self::settings(env)
    }

    fn allow_list(&self) -> &AllowList {
        &self.allow
    }

    fn triage(envelope: &Envelope) -> Result<Triage<TableTarget>, TriggerError> {
        crate::core::trigger::triage::<Self>(envelope)
    }

    /// The table's own last change (capacity or a switch to on-demand) when the event is
    /// about the table, and that of each GSI it names.
    fn last_change(state: &TableState, target: &TableTarget) -> Option<DateTime<Utc>> {
        let table = target
            .on_table
            .any()
            .then_some(state.last_change.max(state.last_switch_to_on_demand))
            .flatten();
        state
            .indexes
            .iter()
            .filter(|gsi| target.on_indexes.contains_key(&gsi.name))
            .map(|gsi| gsi.last_change)
            .fold(table, Option::max)
    }

    fn reported_changes(state: &TableState) -> Vec<HistoryEntry> {
        state
            .last_switch_to_on_demand
            .map(|at| HistoryEntry::reported(at, Action::SWITCH_TO_ON_DEMAND))
            .into_iter()
            .collect()
    }

    /// An alarm on a cause metric has already said why.
    fn needs_diagnosis(target: &TableTarget) -> bool {
        target.cause.is_none()
    }

    fn applied(state: &TableState, change: &TableChange) -> bool {
        if matches!(state.status, Status::Busy(_)) {
            return true;
        }
        match change {
            TableChange::SwitchToOnDemand => state.billing == BillingMode::OnDemand,
            TableChange::SwitchToProvisioned { table, .. } => {
                state.billing == BillingMode::Provisioned && state.capacity == *table
            }
            TableChange::RaiseOnDemandMax(max) => state.on_demand_max == *max,
            // DescribeTable does not show it; enabling again is harmless.
            TableChange::EnableContributorInsights { .. } => false,
            TableChange::Scale {
                table,
                indexes,
                floors,
            } => {
                floors.iter().all(|floor| {
                    state
                        .scalable(floor.index.as_deref(), floor.side)
                        .is_some_and(|target| target.min == floor.min)
                }) && table.is_none_or(|capacity| state.capacity == capacity)
                    && indexes.iter().all(|(name, capacity)| {
                        state.indexes.iter().any(|gsi| {
                            &gsi.name == name
                                && (gsi.capacity == *capacity || matches!(gsi.status, Status::Busy(_)))
                        })
                    })
            }
        }
    }

    fn plan(
        &self,
        target: &TableTarget,
        state: &TableState,
        diagnosis: &Diagnosis<TableMetrics>,
        history: &[HistoryEntry],
        now: DateTime<Utc>,
    ) -> Decision<TableChange> {
        planner::plan(state, target, diagnosis, &self.policy, history, now)
    }
}

impl DynamoDb {
    pub fn settings(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            policy: TablePolicy {
                growth: config::growth(env, Some(&MIN_STEP))?,
                headroom: env.number(&HEADROOM)?,
                max_read: env.number(&MAX_READ_CAPACITY)?,
                max_write: env.number(&MAX_WRITE_CAPACITY)?,
                on_demand: config::on_demand(env)?,
                max_switches_per_day: config::max_switches_per_day(env, SWITCHES_TO_ON_DEMAND_PER_DAY)?,
                raise_on_demand_max: env.flag(&RAISE_ON_DEMAND_MAX)?,
                max_on_demand: Capacity {
                    read: env.number(&MAX_ON_DEMAND_READ_UNITS)?,
                    write: env.number(&MAX_ON_DEMAND_WRITE_UNITS)?,
                },
            },
            allow: AllowList::from_env(env, &TABLE_ALLOW)?,
        })
    }
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
