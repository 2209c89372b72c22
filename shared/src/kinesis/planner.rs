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
//!    (at most `min(MAX_ON_DEMAND_SWITCHES_PER_DAY, 2)` per 24 h: AWS allows two mode
//!    changes), else hold "at cap".

use chrono::{DateTime, Utc};
use serde_json::json;

use super::catalog::{StreamChange, StreamMode, StreamState};
use super::trigger::StreamTarget;
use crate::domain::{Action, HistoryEntry, Status};
use crate::plan::{changes_in_last_day, Decision, Growth, Hold, OnDemandPolicy, Proposal, SkipReason};

/// UpdateShardCount calls AWS allows per stream per rolling 24 h.
pub const SHARD_UPDATES_PER_DAY: u32 = 10;
/// UpdateStreamMode calls AWS allows per stream per rolling 24 h.
pub const MODE_SWITCHES_PER_DAY: u32 = 2;

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
        return Decision::Hold(Hold::new(
            SkipReason::AlreadyOnDemand,
            format!(
                "{} is already on-demand and scales itself; throttling there means a hot partition key \
                 or a burst above twice the previous peak: spread the partition keys",
                stream.name
            ),
        ));
    }
    if let Status::Busy(status) = &stream.status {
        return Decision::Hold(Hold::new(
            SkipReason::UpdateInProgress,
            format!("{} is {status}; an update is in progress", stream.name),
        ));
    }

    let switch_limit = policy.max_switches_per_day.min(MODE_SWITCHES_PER_DAY);
    let switches = changes_in_last_day(history, Action::SwitchToOnDemand, None, now);
    let guard = if policy.on_demand == OnDemandPolicy::Never {
        Err("ON_DEMAND=never".to_owned())
    } else if switches >= switch_limit {
        Err(format!(
            "the on-demand guard refused: {switches} switch(es) in the last 24 h, limit {switch_limit}"
        ))
    } else {
        Ok(())
    };
    if policy.on_demand == OnDemandPolicy::Prefer && guard.is_ok() {
        return switch_to_on_demand(stream, "ON_DEMAND=prefer switches on the first throttle");
    }

    let side = match (target.pressure.read, target.pressure.write) {
        (true, true) => "reads and writes",
        (true, false) => "reads",
        _ => "writes",
    };
    let most_this_call = policy.max_shards.min(stream.open_shards.saturating_mul(2));
    match policy
        .growth
        .raise(u64::from(stream.open_shards), u64::from(most_this_call))
    {
        Some(raised) => {
            let updates = changes_in_last_day(history, Action::UpdateShardCount, None, now);
            if updates >= SHARD_UPDATES_PER_DAY {
                return Decision::Hold(Hold::new(
                    SkipReason::DailyLimit,
                    format!(
                        "daily shard-update limit: {updates} UpdateShardCount calls on {} in the last 24 h, \
                         and AWS allows {SHARD_UPDATES_PER_DAY}",
                        stream.name
                    ),
                ));
            }
            // `raised` is at most 2 * open, which fits: open is a u32 and so is the cap.
            let target_shards = u32::try_from(raised).unwrap_or(most_this_call);
            Decision::Act(Proposal {
                action: Action::UpdateShardCount,
                change: StreamChange::UpdateShardCount {
                    target: target_shards,
                },
                before: json!({ "openShards": stream.open_shards }),
                after: json!({ "openShards": target_shards }),
                why: format!(
                    "{side} throttled: stream {} shards {} -> {target_shards}",
                    stream.name, stream.open_shards
                ),
            })
        }
        None => {
            let at_cap = format!(
                "{} is at the cap: {} open shards of MAX_SHARDS {}",
                stream.name, stream.open_shards, policy.max_shards
            );
            match guard {
                Ok(()) => switch_to_on_demand(stream, &format!("{at_cap}; switching to on-demand")),
                Err(refused) => Decision::Hold(Hold::new(SkipReason::AtCap, format!("{at_cap}; {refused}"))),
            }
        }
    }
}

fn switch_to_on_demand(stream: &StreamState, why: &str) -> Decision<StreamChange> {
    Decision::Act(Proposal {
        action: Action::SwitchToOnDemand,
        change: StreamChange::SwitchToOnDemand,
        before: json!({ "streamMode": "PROVISIONED", "openShards": stream.open_shards }),
        after: json!({ "streamMode": "ON_DEMAND" }),
        why: why.to_owned(),
    })
}

#[cfg(test)]
#[path = "planner_tests.rs"]
mod tests;
