//! The Kinesis planner: a pure function from what is known to what to do.
//!
//! Rules, in order (docs/remediations.md gives the sources):
//! 1. An on-demand stream scales itself: a throttle there is a per-shard or account limit,
//!    a finding. A stream that is not ACTIVE cannot take an update.
//! 2. Only reads throttle, and the metrics show the stream reading below its capacity
//!    (2 MiB/s per shard): consumers share each shard's 5 GetRecords calls per second, a
//!    finding (`read-fan-out`), not a reshard.
//! 3. The account has no room for another shard (DescribeLimits: `ShardLimit` reached): a
//!    finding (`account-quota`, `L-0918CF54`) announced as `Quota Pressure`; with room, no
//!    step goes past it.
//! 4. One shard carries most of the throttled writes while the stream's total is below its
//!    capacity: split that shard at the midpoint of its hash keys (a child that throttles
//!    again is one hot partition key, a finding).
//! 5. With `ON_DEMAND=prefer`, switch at once if the guard allows.
//! 6. Below `MAX_SHARDS`: UpdateShardCount (UNIFORM_SCALING). The step is
//!    `min(MAX_SHARDS, 2 * open, max(ceil(open * SCALE_FACTOR), open + 1))`: AWS refuses more
//!    than double in one call. When the busiest minute's demand needs more shards than are
//!    open (1 MiB/s and 1,000 records/s in, 2 MiB/s out per shard, times `HEADROOM`), the
//!    target is that many, at least open + 1 and at most the step; demand within the open
//!    shards' capacity (bursts, or one hot shard) or no figures: the step; never more than
//!    the account's room. AWS allows 10 such calls per stream per rolling 24 h, counted in
//!    the ledger: the 11th is held ("daily shard-update limit") before AWS would refuse.
//! 7. At `MAX_SHARDS`: switch to on-demand if `ON_DEMAND` allows and the guard agrees
//!    (at most one switch per 24 h: AWS allows two mode changes, and undoing the switch is
//!    the second), else hold "at cap".

use chrono::{DateTime, Utc};
use serde_json::json;

use super::limits::{
    GROWTH_PER_CALL, SHARD_QUOTA, SHARD_READ_BYTES_PER_SECOND, SHARD_UPDATES_PER_DAY,
    SHARD_WRITE_BYTES_PER_SECOND, SHARD_WRITE_RECORDS_PER_SECOND, SWITCHES_TO_ON_DEMAND_PER_DAY,
};
use super::model::{
    AccountShards, SPLIT_SHARD, StreamChange, StreamMetrics, StreamMode, StreamState, StreamTarget,
    UPDATE_SHARD_COUNT,
};
use crate::core::diagnosis::{Diagnosis, Sums, with_headroom};
use crate::core::domain::{Action, HistoryEntry, OnDemandPolicy, Status};
use crate::core::guards::{Growth, ModeSwitchGuard, RollingWindow, rolling_day};
use crate::core::plan::{Decision, Finding, FindingCode, Proposal, SkipReason};

/// The team's limits for Kinesis streams.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamPolicy {
    pub growth: Growth,
    /// Capacity to provision per unit of measured peak demand (`HEADROOM`).
    pub headroom: f64,
    pub max_shards: u32,
    pub on_demand: OnDemandPolicy,
    pub max_switches_per_day: u32,
}

pub fn plan(
    stream: &StreamState,
    target: &StreamTarget,
    diagnosis: &Diagnosis<StreamMetrics>,
    policy: &StreamPolicy,
    history: &[HistoryEntry],
    now: DateTime<Utc>,
) -> Decision<StreamChange> {
    decide(stream, target, diagnosis, policy, history, now).with_cause("unknown")
}

fn decide(
    stream: &StreamState,
    target: &StreamTarget,
    diagnosis: &Diagnosis<StreamMetrics>,
    policy: &StreamPolicy,
    history: &[HistoryEntry],
    now: DateTime<Utc>,
) -> Decision<StreamChange> {
    if stream.mode == StreamMode::OnDemand {
        return Decision::Diagnosed(Finding {
            code: FindingCode::OnDemandStreamLimit,
            detail: format!(
                "{} is on-demand and scales itself; a throttle there is a per-shard limit (a hot partition \
                 key: 1 MiB/s or 1,000 records/s per shard), traffic above twice the previous peak, or the \
                 account's on-demand throughput limit: spread the partition keys, or ask for a higher quota",
                stream.name
            ),
            hold_back: false,
            quota: None,
            announce: false,
            advice: None,
        });
    }
    if let Status::Busy(status) = &stream.status {
        return Decision::hold(
            SkipReason::UpdateInProgress,
            format!("{} is {status}; an update is in progress", stream.name),
        );
    }
    let metrics = diagnosis.measured();
    if let Some(finding) = metrics.and_then(|m| read_fan_out(stream, target, m, policy)) {
        return Decision::Diagnosed(finding);
    }
    // Neither a split nor a reshard opens a shard the account has no room for.
    if let Some(account) = stream.account.filter(|account| account.room() == 0) {
        return Decision::Diagnosed(shard_quota(stream, account));
    }
    if let Some(decision) = metrics.and_then(|m| hot_shard(stream, target, m, policy, history, now)) {
        return decision;
    }

    let switches = RollingWindow {
        action: Action::SWITCH_TO_ON_DEMAND,
        limit: policy.max_switches_per_day.min(SWITCHES_TO_ON_DEMAND_PER_DAY),
    };
    let guard = ModeSwitchGuard::new(policy.on_demand, &switches, history, None, now);
    if guard.switch_first() {
        return switch_to_on_demand(stream, "ON_DEMAND=prefer switches on the first throttle");
    }

    let room = stream.account.map(AccountShards::room);
    let most_this_call = policy
        .max_shards
        .min(stream.open_shards.saturating_mul(GROWTH_PER_CALL))
        .min(stream.open_shards.saturating_add(room.unwrap_or(u32::MAX)));
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
    let sized = size(stream, target, metrics, policy, raised);
    // `sized.value` is at most `raised`, itself at most `most_this_call`, a u32.
    let target_shards = u32::try_from(sized.value).unwrap_or(most_this_call);
    let quota_bound = room
        .filter(|room| stream.open_shards.saturating_add(*room) == target_shards)
        .map(|room| {
            format!(
                "; the account's shard quota ({}, {}) has room for {room} more",
                SHARD_QUOTA.quota_name, SHARD_QUOTA.quota_code
            )
        })
        .unwrap_or_default();
    Decision::Act(Proposal {
        action: UPDATE_SHARD_COUNT,
        change: StreamChange::UpdateShardCount {
            target: target_shards,
        },
        before: json!({ "openShards": stream.open_shards }),
        after: json!({ "openShards": target_shards }),
        why: format!(
            "{} throttled: stream {} shards {} -> {target_shards}{}{quota_bound}",
            target.pressure.sides(),
            stream.name,
            stream.open_shards,
            sized.basis
        ),
        cause: sized.cause,
        finding: None,
        quota: None,
    })
}

/// The account has no room for another shard in this region: a quota, not the stream.
fn shard_quota(stream: &StreamState, account: AccountShards) -> Finding {
    Finding {
        code: FindingCode::AccountQuota,
        detail: format!(
            "{} throttles and the account has {} of its {} shards open in this region: no reshard can open \
             another. Request an increase of Service Quotas {} ({}), service {}, or close unused streams. \
             Nothing was changed; later events for this stream are held back",
            stream.name,
            account.open,
            account.quota,
            SHARD_QUOTA.quota_code,
            SHARD_QUOTA.quota_name,
            SHARD_QUOTA.service_code
        ),
        hold_back: true,
        quota: Some(SHARD_QUOTA),
        announce: true,
        advice: None,
    }
}

/// Reads throttle while the stream reads below its capacity: consumers compete for each
/// shard's 5 GetRecords calls per second. Only when reads alone throttle and the figures
/// say so.
fn read_fan_out(
    stream: &StreamState,
    target: &StreamTarget,
    metrics: &StreamMetrics,
    policy: &StreamPolicy,
) -> Option<Finding> {
    if target.pressure.write || !target.pressure.read {
        return None;
    }
    let read = metrics.read_bytes.peak_per_second()?;
    let capacity = f64::from(stream.open_shards) * SHARD_READ_BYTES_PER_SECOND;
    // Served reads never exceed the capacity: within HEADROOM of it, the shards are full.
    (read * policy.headroom < capacity).then(|| Finding {
        code: FindingCode::ReadFanOut,
        detail: format!(
            "reads of {} throttle while it reads {:.0}% of what its {} shards serve ({:.2} of {:.2} MiB/s in the \
             busiest minute): the consumers share each shard's 5 GetRecords calls per second, which more shards \
             only spread thinner. Move consumers to enhanced fan-out (SubscribeToShard: 2 MiB/s each), poll \
             less often, or run fewer polling consumers",
            stream.name,
            read / capacity * 100.0,
            stream.open_shards,
            read / 1_048_576.0,
            capacity / 1_048_576.0
        ),
        hold_back: false,
        quota: None,
        announce: false,
        advice: None,
    })
}

/// The shards `sums`' busiest minute needs at `per_shard` a second, with `HEADROOM`.
fn shards_for(sums: &Sums, per_shard: f64, policy: &StreamPolicy) -> Option<u64> {
    sums.peak_per_second()
        .and_then(|rate| with_headroom(rate / per_shard, policy.headroom))
}

/// The shards the busiest minute's write demand needs, by bytes and by records.
fn write_demand(metrics: &StreamMetrics, policy: &StreamPolicy) -> Vec<(u64, &'static str)> {
    let mut needed = Vec::new();
    needed.extend(
        shards_for(&metrics.incoming_bytes, SHARD_WRITE_BYTES_PER_SECOND, policy).map(|n| (n, "bytes in")),
    );
    needed.extend(
        shards_for(&metrics.incoming_records, SHARD_WRITE_RECORDS_PER_SECOND, policy)
            .map(|n| (n, "records in")),
    );
    needed
}

/// One shard carries most of the throttled writes (shard-level metrics) while the stream's
/// demand fits its open shards: split that shard at the middle of its hash-key range rather
/// than double them all. A child of a split made within 24 h that is hot again, or a shard
/// of a single hash key, is one hot partition key: no split helps.
fn hot_shard(
    stream: &StreamState,
    target: &StreamTarget,
    metrics: &StreamMetrics,
    policy: &StreamPolicy,
    history: &[HistoryEntry],
    now: DateTime<Utc>,
) -> Option<Decision<StreamChange>> {
    // A split opens one more shard: not past MAX_SHARDS (the cap rules decide there).
    if !target.pressure.write || stream.open_shards >= policy.max_shards {
        return None;
    }
    let open = u64::from(stream.open_shards);
    if write_demand(metrics, policy)
        .iter()
        .any(|(shards, _)| *shards > open)
    {
        return None;
    }
    let total: f64 = metrics.throttled_by_shard.values().map(Sums::total).sum();
    let (hot_id, hot) = metrics
        .throttled_by_shard
        .iter()
        .map(|(id, sums)| (id, sums.total()))
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    if total <= 0.0 || hot * 2.0 < total {
        return None;
    }
    let shard = stream.shards.iter().find(|shard| &shard.id == hot_id)?;
    // A split of this shard's parent within 24 h (a record written before splits named
    // their shard counts for any parent: no change rather than a wrong one).
    let parent_split_lately = shard.parent.as_ref().is_some_and(|parent| {
        history.iter().any(|entry| {
            entry.action == SPLIT_SHARD
                && now - entry.at < rolling_day()
                && entry.subject.as_ref().is_none_or(|split| split == parent)
        })
    });
    let key_finding = |why: String| {
        Decision::Diagnosed(Finding {
            code: FindingCode::HotPartitionKey,
            detail: format!(
                "{why}: one partition key takes more than a shard serves (1 MiB/s, 1,000 records/s); no \
                 split or reshard spreads one key. Add a random or computed suffix to that key"
            ),
            hold_back: false,
            quota: None,
            announce: false,
            advice: None,
        })
    };
    if parent_split_lately {
        return Some(key_finding(format!(
            "shard {} of {} still throttles after a split within 24 h",
            shard.id, stream.name
        )));
    }
    let Some(at) = shard.midpoint() else {
        return Some(key_finding(format!(
            "shard {} of {} holds one hash key",
            shard.id, stream.name
        )));
    };
    Some(Decision::Act(Proposal {
        action: SPLIT_SHARD,
        change: StreamChange::SplitShard {
            shard: shard.id.clone(),
            at: at.to_string(),
        },
        before: json!({ "openShards": stream.open_shards, "hotShard": shard }),
        after: json!({ "openShards": stream.open_shards.saturating_add(1), "splitAt": at.to_string() }),
        why: format!(
            "writes throttled on one shard of {}: {} carries {hot:.0} of {total:.0} throttled records while the \
             stream's demand fits its {} shards; split at its middle hash key rather than resharding all",
            stream.name, shard.id, stream.open_shards
        ),
        cause: Some("hot-shard"),
        finding: None,
        quota: None,
    }))
}

/// A shard count, what it was sized from, and the cause when demand explains it.
struct Sized {
    value: u64,
    basis: String,
    cause: Option<&'static str>,
}

/// The shards the busiest minute's demand needs with `HEADROOM`, within the step (`step`):
/// at least open + 1. Demand the open shards carry (bursts within the minute, or a hot
/// shard the stream total hides) or no figures: the step.
fn size(
    stream: &StreamState,
    target: &StreamTarget,
    metrics: Option<&StreamMetrics>,
    policy: &StreamPolicy,
    step: u64,
) -> Sized {
    let Some(metrics) = metrics else {
        return Sized {
            value: step,
            basis: String::new(),
            cause: Some("unknown"),
        };
    };
    let mut needed: Vec<(u64, &str)> = Vec::new();
    if target.pressure.write {
        needed.extend(write_demand(metrics, policy));
    }
    if target.pressure.read {
        needed.extend(
            shards_for(&metrics.read_bytes, SHARD_READ_BYTES_PER_SECOND, policy).map(|n| (n, "bytes out")),
        );
    }
    let open = u64::from(stream.open_shards);
    match needed.into_iter().max_by_key(|(shards, _)| *shards) {
        Some((shards, by)) if shards > open => {
            let value = shards.max(open + 1).min(step);
            let clamp = if shards > step { ", at most the step" } else { "" };
            Sized {
                value,
                basis: format!(
                    " (the busiest minute's {by} need {shards} shards with HEADROOM {}{clamp})",
                    policy.headroom
                ),
                cause: Some("provisioned-throughput"),
            }
        }
        Some((shards, by)) => Sized {
            value: step,
            basis: format!(
                " (the busiest minute's {by} fit {shards} shard(s): the throttle came in bursts or on one hot \
                 shard; SCALE_FACTOR step{})",
                if metrics.throttled_by_shard.is_empty() {
                    "; enable shard-level metrics (WriteProvisionedThroughputExceeded) so a hot shard is split instead"
                } else {
                    ""
                }
            ),
            cause: Some("unknown"),
        },
        None => Sized {
            value: step,
            basis: " (no demand figures: SCALE_FACTOR step)".to_owned(),
            cause: Some("unknown"),
        },
    }
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
        quota: None,
    })
}

#[cfg(test)]
#[path = "planner_tests.rs"]
mod tests;
