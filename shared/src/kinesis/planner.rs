//! The Kinesis planner: a pure function from what is known to what to do.
//!
//! Rules, in order:
//! 1. An on-demand stream scales itself; a stream that is not ACTIVE cannot take an update.
//! 2. With `ON_DEMAND=prefer`, switch at once if the guard allows.
//! 3. Below `MAX_SHARDS`: UpdateShardCount (UNIFORM_SCALING) to
//!    `min(MAX_SHARDS, 2 * open, max(ceil(open * SCALE_FACTOR), open + 1))`: AWS refuses more
//!    than double in one call. AWS allows 10 such calls per stream per rolling 24 h, counted
//!    in the ledger: the 11th is held ("daily shard-update limit") before AWS would refuse.
//! 4. At `MAX_SHARDS`: switch to on-demand if `ON_DEMAND` allows and the guard agrees
//!    (at most one switch per 24 h: AWS allows two mode changes, and undoing the switch is
//!    the second), else hold "at cap".

use chrono::{DateTime, Utc};
use serde_json::json;

use super::limits::{GROWTH_PER_CALL, SHARD_UPDATES_PER_DAY, SWITCHES_TO_ON_DEMAND_PER_DAY};
use super::model::{StreamChange, StreamMode, StreamState, StreamTarget, UPDATE_SHARD_COUNT};
use crate::core::domain::{Action, HistoryEntry, OnDemandPolicy, Status};
use crate::core::guards::{Growth, ModeSwitchGuard, RollingWindow};
use crate::core::plan::{Decision, Proposal, SkipReason};

/// The team's limits for Kinesis streams.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamPolicy {
    pub growth: Growth,
    pub max_shards: u32,
    pub on_demand: OnDemandPolicy,
    pub max_switches_per_day: u32,
}

pub fn plan(
    stream: &StreamState,
    target: &StreamTarget,
    policy: &StreamPolicy,
    history: &[HistoryEntry],
    now: DateTime<Utc>,
) -> Decision<StreamChange> {
    if stream.mode == StreamMode::OnDemand {
        return Decision::hold(
            SkipReason::AlreadyOnDemand,
            format!(
                "{} is already on-demand and scales itself; throttling there means a hot partition key \
                 or a burst above twice the previous peak: spread the partition keys",
                stream.name
            ),
        );
    }
    if let Status::Busy(status) = &stream.status {
        return Decision::hold(
            SkipReason::UpdateInProgress,
            format!("{} is {status}; an update is in progress", stream.name),
        );
    }

    let switches = RollingWindow {
        action: Action::SWITCH_TO_ON_DEMAND,
        limit: policy.max_switches_per_day.min(SWITCHES_TO_ON_DEMAND_PER_DAY),
    };
    let guard = ModeSwitchGuard::new(policy.on_demand, &switches, history, None, now);
    if guard.switch_first() {
        return switch_to_on_demand(stream, "ON_DEMAND=prefer switches on the first throttle");
    }

    let most_this_call = policy
        .max_shards
        .min(stream.open_shards.saturating_mul(GROWTH_PER_CALL));
    let Some(raised) = policy
        .growth
        .raise(u64::from(stream.open_shards), u64::from(most_this_call))
    else {
        let at_cap = format!(
            "{} is at the cap: {} open shards of MAX_SHARDS {}",
            stream.name, stream.open_shards, policy.max_shards
        );
        return guard.at_cap(&at_cap, |why| switch_to_on_demand(stream, why));
    };
    let updates = RollingWindow {
        action: UPDATE_SHARD_COUNT,
        limit: SHARD_UPDATES_PER_DAY,
    };
    if let Err(count) = updates.check(history, None, now) {
        return Decision::hold(
            SkipReason::DailyLimit,
            format!(
                "daily shard-update limit: {count} UpdateShardCount calls on {} in the last 24 h, \
                 and AWS allows {SHARD_UPDATES_PER_DAY}",
                stream.name
            ),
        );
    }
    // `raised` is at most `most_this_call`, a u32.
    let target_shards = u32::try_from(raised).unwrap_or(most_this_call);
    Decision::Act(Proposal {
        action: UPDATE_SHARD_COUNT,
        change: StreamChange::UpdateShardCount {
            target: target_shards,
        },
        before: json!({ "openShards": stream.open_shards }),
        after: json!({ "openShards": target_shards }),
        why: format!(
            "{} throttled: stream {} shards {} -> {target_shards}",
            target.pressure.sides(),
            stream.name,
            stream.open_shards
        ),
        cause: None,
        finding: None,
    })
}

fn switch_to_on_demand(stream: &StreamState, why: &str) -> Decision<StreamChange> {
    Decision::Act(Proposal {
        action: Action::SWITCH_TO_ON_DEMAND,
        change: StreamChange::SwitchToOnDemand,
        before: json!({ "streamMode": StreamMode::Provisioned, "openShards": stream.open_shards }),
        after: json!({ "streamMode": StreamMode::OnDemand }),
        why: why.to_owned(),
        cause: None,
        finding: None,
    })
}

#[cfg(test)]
#[path = "planner_tests.rs"]
mod tests;
