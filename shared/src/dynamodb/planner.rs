//! The DynamoDB planner: a pure function from what is known to what to do.
//!
//! Rules, in order:
//! 1. An on-demand table is left alone: its throttles come from hot keys or per-partition
//!    limits (3,000 RCU / 1,000 WCU per partition), which capacity settings cannot fix.
//! 2. A table or GSI that is not ACTIVE cannot take an update.
//! 3. With `ON_DEMAND=prefer`, switch at once if the on-demand guard allows.
//! 4. Raise only the throttled side, table and GSIs alike, by [`Growth::raise`] under the
//!    caps. A GSI whose write capacity is below the table's while the table's writes
//!    throttle is raised to at least the table's new write capacity: a GSI that cannot
//!    keep up throttles writes to its base table.
//! 5. Nothing left to raise (at the cap): switch to on-demand if `ON_DEMAND` allows it and
//!    the guard agrees, else hold "at cap".
//!
//! The guard allows at most `max_switches_per_day` switches per rolling 24 h, counting our
//! own history and the last switch DynamoDB reports.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::model::{BillingMode, Capacity, SCALE_CAPACITY, TableChange, TableState, TableTarget};
use crate::core::domain::{Action, HistoryEntry, OnDemandPolicy, Pressure, Status};
use crate::core::guards::{Growth, ModeSwitchGuard, RollingWindow};
use crate::core::plan::{Decision, Proposal, SkipReason};

/// The team's limits for DynamoDB tables.
#[derive(Debug, Clone, PartialEq)]
pub struct TablePolicy {
    pub growth: Growth,
    pub max_read: u64,
    pub max_write: u64,
    pub on_demand: OnDemandPolicy,
    /// On-demand switches allowed per table per rolling 24 h (AWS allows at most 4).
    pub max_switches_per_day: u32,
}

pub fn plan(
    table: &TableState,
    target: &TableTarget,
    policy: &TablePolicy,
    history: &[HistoryEntry],
    now: DateTime<Utc>,
) -> Decision<TableChange> {
    if table.billing == BillingMode::OnDemand {
        return Decision::hold(
            SkipReason::AlreadyOnDemand,
            format!(
                "{} is already on-demand; throttling there means hot keys or per-partition limits \
                 (3,000 RCU / 1,000 WCU per partition), which no capacity setting fixes: spread the keys",
                table.name
            ),
        );
    }
    if let Some(busy) = busy(table) {
        return Decision::hold(SkipReason::UpdateInProgress, busy);
    }

    let switches = RollingWindow {
        action: Action::SWITCH_TO_ON_DEMAND,
        limit: policy.max_switches_per_day,
    };
    let guard = ModeSwitchGuard::new(
        policy.on_demand,
        &switches,
        history,
        table.last_switch_to_on_demand,
        now,
    );
    if guard.switch_first() {
        return switch_to_on_demand(table, "ON_DEMAND=prefer switches on the first throttle");
    }

    let scaling = Scaling::plan(table, target, policy);
    if !scaling.steps.is_empty() {
        let mut why = scaling.steps.join("; ");
        why.extend(guard.preferred_but_refused());
        return Decision::Act(scaling.into_proposal(table, why));
    }

    let at_cap = format!("{} is at the cap: {}", table.name, scaling.capped.join(", "));
    guard.at_cap(&at_cap, |why| switch_to_on_demand(table, why))
}

fn busy(table: &TableState) -> Option<String> {
    if let Status::Busy(status) = &table.status {
        return Some(format!("{} is {status}; an update is in progress", table.name));
    }
    table.indexes.iter().find_map(|index| match &index.status {
        Status::Busy(status) => Some(format!(
            "GSI {} of {} is {status}; an update is in progress",
            index.name, table.name
        )),
        Status::Active => None,
    })
}

fn switch_to_on_demand(table: &TableState, why: &str) -> Decision<TableChange> {
    Decision::Act(Proposal {
        action: Action::SWITCH_TO_ON_DEMAND,
        change: TableChange::SwitchToOnDemand,
        before: json!({
            "billingMode": BillingMode::Provisioned,
            "table": table.capacity,
        }),
        after: json!({ "billingMode": BillingMode::OnDemand }),
        why: why.to_owned(),
    })
}

/// The capacity raises one throttle calls for, and what could not be raised.
#[derive(Default)]
struct Scaling {
    table: Option<Capacity>,
    indexes: BTreeMap<String, Capacity>,
    steps: Vec<String>,
    capped: Vec<String>,
}

impl Scaling {
    fn plan(table: &TableState, target: &TableTarget, policy: &TablePolicy) -> Self {
        let mut scaling = Scaling::default();
        // Pressure on an index that is not a GSI (an LSI) is pressure on the table's capacity.
        let mut on_table = target.on_table;
        for (index, pressure) in &target.on_indexes {
            if !table.indexes.iter().any(|gsi| &gsi.name == index) {
                on_table.read |= pressure.read;
                on_table.write |= pressure.write;
            }
        }

        let table_after = scaling.raise(
            policy,
            &format!("table {}", table.name),
            table.capacity,
            on_table,
            None,
        );
        if table_after != table.capacity {
            scaling.table = Some(table_after);
        }

        for gsi in &table.indexes {
            let pressure = target.on_indexes.get(&gsi.name).copied().unwrap_or_default();
            let back_pressure = on_table.write && gsi.capacity.write < table.capacity.write;
            let write_floor = back_pressure.then_some(table_after.write);
            let pressure = Pressure {
                read: pressure.read,
                write: pressure.write || back_pressure,
            };
            let after = scaling.raise(
                policy,
                &format!("GSI {}", gsi.name),
                gsi.capacity,
                pressure,
                write_floor,
            );
            if after != gsi.capacity {
                scaling.indexes.insert(gsi.name.clone(), after);
            }
        }
        scaling
    }

    /// Raises the pressed sides of `capacity`, noting each step or cap hit.
    fn raise(
        &mut self,
        policy: &TablePolicy,
        what: &str,
        capacity: Capacity,
        pressure: Pressure,
        write_floor: Option<u64>,
    ) -> Capacity {
        let mut after = capacity;
        if pressure.read {
            match policy.growth.raise(capacity.read, policy.max_read) {
                Some(read) => {
                    self.steps
                        .push(format!("read throttled: {what} RCU {} -> {read}", capacity.read));
                    after.read = read;
                }
                None => self.capped.push(format!(
                    "{what} RCU {} of MAX_READ_CAPACITY {}",
                    capacity.read, policy.max_read
                )),
            }
        }
        if pressure.write {
            match policy.growth.raise(capacity.write, policy.max_write) {
                Some(raised) => {
                    let write = write_floor.map_or(raised, |floor| raised.max(floor.min(policy.max_write)));
                    let cause = if write_floor.is_some() {
                        " (GSI back-pressure)"
                    } else {
                        ""
                    };
                    self.steps.push(format!(
                        "write throttled: {what} WCU {} -> {write}{cause}",
                        capacity.write
                    ));
                    after.write = write;
                }
                None => self.capped.push(format!(
                    "{what} WCU {} of MAX_WRITE_CAPACITY {}",
                    capacity.write, policy.max_write
                )),
            }
        }
        after
    }

    fn into_proposal(self, table: &TableState, why: String) -> Proposal<TableChange> {
        let mut before = serde_json::Map::new();
        let mut after = serde_json::Map::new();
        if let Some(capacity) = self.table {
            before.insert("table".into(), json!(table.capacity));
            after.insert("table".into(), json!(capacity));
        }
        if !self.indexes.is_empty() {
            let indexes_before: BTreeMap<&str, Capacity> = table
                .indexes
                .iter()
                .filter(|gsi| self.indexes.contains_key(&gsi.name))
                .map(|gsi| (gsi.name.as_str(), gsi.capacity))
                .collect();
            before.insert("indexes".into(), json!(indexes_before));
            after.insert("indexes".into(), json!(self.indexes));
        }
        Proposal {
            action: SCALE_CAPACITY,
            change: TableChange::Scale {
                table: self.table,
                indexes: self.indexes,
            },
            before: Value::Object(before),
            after: Value::Object(after),
            why,
        }
    }
}

#[cfg(test)]
#[path = "planner_tests.rs"]
mod tests;
