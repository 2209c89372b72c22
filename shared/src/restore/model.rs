//! restore's settings, its action, and the seam a service plugs into.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::planner::{Limit, Policy, Usage};
use crate::core::config::{Env, Variable};
use crate::core::domain::{Action, HistoryEntry};
use crate::core::service::Service;

/// What a restore step's snapshot and result name their action.
pub const RESTORE: Action = Action::named("Restore");

/// The id a restore step claims and records under: never an event's, so a throttle after
/// it is not taken for a fix that did not hold.
pub fn step_id(resource: &str, at: DateTime<Utc>) -> String {
    format!(
        "{}{resource}:{}",
        HistoryEntry::RESTORE_PREFIX,
        at.format("%Y%m%dT%H%M%SZ")
    )
}

pub const RESTORE_AFTER_QUIET_HOURS: Variable = Variable::new(
    "RESTORE_AFTER_QUIET_HOURS",
    Some("24"),
    "whole hours from 0 to 360 (0: off); CloudWatch keeps one-minute data for 15 days",
    "restore: hours without a throttle or a raise before a raised resource is stepped back down; 0 turns restore off",
)
.between("0", "360");

pub const RESTORE_BILLING_MODE: Variable = Variable::new(
    "RESTORE_BILLING_MODE",
    Some("off"),
    "off or provisioned",
    "restore: whether a table unthrottle switched to on-demand is switched back to provisioned (at the pre-incident \
     capacity, or more for the quiet hours' peak)",
);

/// The variables restore reads besides the core's: its own, and the functions' allow-lists.
pub const VARIABLES: &[&Variable] = &[
    &RESTORE_AFTER_QUIET_HOURS,
    &RESTORE_BILLING_MODE,
    &crate::core::config::HEADROOM,
    &crate::dynamodb::settings::TABLE_ALLOW,
    &crate::kinesis::settings::STREAM_ALLOW,
];

/// Restore's settings; `None` when it is off.
pub fn policy(env: &Env) -> std::result::Result<Option<Policy>, crate::core::config::ConfigError> {
    let hours: u32 = env.number(&RESTORE_AFTER_QUIET_HOURS)?;
    let mode: String = env.parsed(&RESTORE_BILLING_MODE, |mode: &String| {
        matches!(mode.as_str(), "off" | "provisioned")
    })?;
    let headroom: f64 = env.number(&crate::core::config::HEADROOM)?;
    Ok((hours > 0).then(|| Policy {
        quiet: chrono::Duration::hours(i64::from(hours)),
        headroom,
        switch_back: mode == "provisioned",
    }))
}

/// What one kept change raised: each dial as `(name, before, after)`, and whether it
/// switched the resource to on-demand (its dials are then the capacity it left, after 0).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Raised {
    pub dials: Vec<(String, u64, u64)>,
    pub switched: bool,
}

/// The call a step makes: the action it is recorded under, the change, and the dials it
/// sets (what the step's snapshot records as set: only what the call really changes).
#[derive(Debug, Clone, PartialEq)]
pub struct Call<C> {
    pub action: Action,
    pub change: C,
    pub applied: BTreeMap<String, u64>,
}

/// What a service adds to restore: its dials (the numbers unthrottle raises, by name), how
/// far AWS lets each go down now, and the change that sets them.
pub trait Restores: Service {
    /// The dials a kept change raised, `(dial, before, after)`, from its snapshot's action,
    /// `plan.before`, `plan.after` and describe; and whether it switched to on-demand.
    /// `None` for a change restore does not undo (one made for a finding).
    fn raised(action: &str, before: &Value, after: &Value, describe: &Value) -> Option<Raised>;

    /// Each dial's value now.
    fn dials(state: &Self::State) -> BTreeMap<String, u64>;

    /// Updating: no change now.
    fn busy(state: &Self::State) -> bool;

    /// On-demand now.
    fn on_demand(state: &Self::State) -> bool;

    /// AWS's own last increase of the resource, whoever made it.
    fn raised_at(state: &Self::State) -> Option<DateTime<Utc>>;

    /// AWS's record of the resource's last switch to on-demand, whoever made it.
    fn switched_at(state: &Self::State) -> Option<DateTime<Utc>> {
        let _ = state;
        None
    }

    /// How far each dial may go down now, by AWS's limits (`history`: the ledger's day).
    fn limits(state: &Self::State, history: &[HistoryEntry], now: DateTime<Utc>) -> BTreeMap<String, Limit>;

    /// What a resource's metrics say of its dials over the quiet window.
    fn usage(evidence: &Self::Evidence) -> Usage;

    /// The one call that sets `to`, or as much of it as one call can (and switches back to
    /// provisioned, for `switch_back`); `Err` says why this service cannot.
    fn change(
        state: &Self::State,
        to: &BTreeMap<String, u64>,
        switch_back: bool,
    ) -> std::result::Result<Call<Self::Change>, String>;
}
