use std::collections::BTreeMap;

use chrono::{Duration, TimeZone};

use super::*;
use crate::core::domain::Pressure;
use crate::testing::provisioned_stream;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap()
}

fn policy(on_demand: OnDemandPolicy, max_shards: u32) -> StreamPolicy {
    StreamPolicy {
        growth: Growth {
            factor: 2.0,
            min_step: 1,
        },
        headroom: 1.25,
        max_shards,
        on_demand,
        max_switches_per_day: 4,
    }
}

/// No metrics could be read (the lookup failed): the fixed step.
fn no_metrics() -> Diagnosis<StreamMetrics> {
    Diagnosis::Unavailable("GetMetricData refused".into())
}

fn writes() -> StreamTarget {
    StreamTarget {
        stream: "clickstream".into(),
        pressure: Pressure::WRITE,
        scope: None,
    }
}

fn entries(action: Action, count: usize, hours_ago: i64) -> Vec<HistoryEntry> {
    (0..count)
        .map(move |n| HistoryEntry {
            at: now() - Duration::hours(hours_ago),
            action: action.clone(),
            event_id: format!("e{n}"),
            subject: None,
        })
        .collect()
}

#[test]
fn shard_count_follows_the_formula_and_never_more_than_doubles() {
    // (open, factor, max_shards, expected target)
    let cases = [
        (2, 2.0, 64, 4),
        (1, 2.0, 64, 2),
        (3, 1.5, 64, 5),    // ceil(4.5)
        (10, 1.05, 64, 11), // open + 1 beats ceil(10.5) = 11
        (4, 3.0, 64, 8),    // 3x asked, 2x is AWS's most per call
        (40, 2.0, 64, 64),  // the cap
        (63, 2.0, 64, 64),
    ];
    for (open, factor, max_shards, expected) in cases {
        let policy = StreamPolicy {
            growth: Growth { factor, min_step: 1 },
            ..policy(OnDemandPolicy::Never, max_shards)
        };
        let decision = plan(
            &provisioned_stream("clickstream", open),
            &writes(),
            &no_metrics(),
            &policy,
            &[],
            now(),
        );
        let Decision::Act(proposal) = decision else {
            panic!("{open} shards, x{factor}: {decision:?}")
        };
        assert_eq!(
            proposal.change,
            StreamChange::UpdateShardCount { target: expected },
            "{open} shards, x{factor}"
        );
        assert_eq!(proposal.action, crate::kinesis::UPDATE_SHARD_COUNT);
        assert_eq!(proposal.before, json!({"openShards": open}));
        assert_eq!(proposal.after, json!({"openShards": expected}));
    }
}

#[test]
fn the_eleventh_update_in_a_day_is_held_before_aws_refuses() {
    let stream = provisioned_stream("clickstream", 4);
    let policy = policy(OnDemandPolicy::Never, 64);
    let nine = entries(crate::kinesis::UPDATE_SHARD_COUNT, 9, 2);
    assert!(
        matches!(
            plan(&stream, &writes(), &no_metrics(), &policy, &nine, now()),
            Decision::Act(_)
        ),
        "the 10th is allowed"
    );

    let ten = entries(crate::kinesis::UPDATE_SHARD_COUNT, 10, 2);
    let Decision::Hold(hold) = plan(&stream, &writes(), &no_metrics(), &policy, &ten, now()) else {
        panic!("11th acted")
    };
    assert_eq!(hold.reason, SkipReason::DailyLimit);
    assert!(
        hold.detail
            .contains("daily shard-update limit: 10 UpdateShardCount calls"),
        "{}",
        hold.detail
    );

    let old = entries(crate::kinesis::UPDATE_SHARD_COUNT, 10, 25);
    assert!(
        matches!(
            plan(&stream, &writes(), &no_metrics(), &policy, &old, now()),
            Decision::Act(_)
        ),
        "a rolling 24 h window"
    );
}

/// An on-demand stream that throttles is a finding; an UPDATING stream is held: whatever
/// the on-demand policy.
#[test]
fn streams_that_cannot_or_need_not_change() {
    let mut on_demand = provisioned_stream("clickstream", 4);
    on_demand.mode = StreamMode::OnDemand;
    let mut updating = provisioned_stream("clickstream", 4);
    updating.status = Status::Busy("UPDATING".into());
    for on_demand_policy in [
        OnDemandPolicy::Never,
        OnDemandPolicy::Allow,
        OnDemandPolicy::Prefer,
    ] {
        let decide = |stream| {
            plan(
                stream,
                &writes(),
                &no_metrics(),
                &policy(on_demand_policy, 64),
                &[],
                now(),
            )
        };
        match decide(&on_demand) {
            Decision::Diagnosed(finding) => {
                assert_eq!(finding.code, FindingCode::OnDemandStreamLimit);
                assert!(finding.detail.contains("hot partition key"), "{}", finding.detail);
            }
            other => panic!("{on_demand_policy:?}: {other:?}"),
        }
        match decide(&updating) {
            Decision::Hold(hold) => {
                assert_eq!(hold.reason, SkipReason::UpdateInProgress);
                assert!(hold.detail.contains("UPDATING"), "{}", hold.detail);
                assert_eq!(hold.cause, Some("unknown"), "a hold names the cause too");
            }
            other => panic!("{on_demand_policy:?}: {other:?}"),
        }
    }
}

#[test]
fn at_max_shards_the_on_demand_policy_and_guard_decide() {
    let at_cap = provisioned_stream("clickstream", 8);
    // (policy, earlier switches in 24 h, configured limit, switches?, words)
    let cases = [
        (OnDemandPolicy::Never, 0, 4, false, "ON_DEMAND=never"),
        (
            OnDemandPolicy::Allow,
            0,
            4,
            true,
            "at the cap: 8 open shards of MAX_SHARDS 8",
        ),
        // One switch a day at most, whatever the setting: undoing it is AWS's second mode
        // change, so another switch would be the third, which AWS refuses.
        (
            OnDemandPolicy::Allow,
            1,
            4,
            false,
            "1 switch(es) in the last 24 h, limit 1",
        ),
        (
            OnDemandPolicy::Allow,
            2,
            4,
            false,
            "2 switch(es) in the last 24 h, limit 1",
        ),
        (OnDemandPolicy::Allow, 1, 1, false, "limit 1"),
    ];
    for (on_demand, earlier, limit, switches, words) in cases {
        let policy = StreamPolicy {
            max_switches_per_day: limit,
            ..policy(on_demand, 8)
        };
        let history = entries(Action::SWITCH_TO_ON_DEMAND, earlier, 3);
        match plan(&at_cap, &writes(), &no_metrics(), &policy, &history, now()) {
            Decision::Act(proposal) => {
                assert!(switches, "{on_demand:?} with {earlier} switched");
                assert_eq!(proposal.change, StreamChange::SwitchToOnDemand);
                assert!(proposal.why.contains(words), "{}", proposal.why);
            }
            Decision::Hold(hold) => {
                assert!(!switches, "{on_demand:?} with {earlier} held: {}", hold.detail);
                assert_eq!(hold.reason, SkipReason::AtCap);
                assert!(hold.detail.contains(words), "{}", hold.detail);
            }
            Decision::Diagnosed(finding) => panic!("a stream at the cap is no finding: {finding:?}"),
        }
    }
}

#[test]
fn prefer_switches_first_then_scales_when_the_guard_refuses() {
    let stream = provisioned_stream("clickstream", 2);
    let first = plan(
        &stream,
        &writes(),
        &no_metrics(),
        &policy(OnDemandPolicy::Prefer, 64),
        &[],
        now(),
    );
    assert!(
        matches!(
            first,
            Decision::Act(Proposal {
                change: StreamChange::SwitchToOnDemand,
                ..
            })
        ),
        "{first:?}"
    );
    let refused = plan(
        &stream,
        &writes(),
        &no_metrics(),
        &policy(OnDemandPolicy::Prefer, 64),
        &entries(Action::SWITCH_TO_ON_DEMAND, 2, 1),
        now(),
    );
    assert!(
        matches!(
            refused,
            Decision::Act(Proposal {
                change: StreamChange::UpdateShardCount { target: 4 },
                ..
            })
        ),
        "{refused:?}"
    );
}

fn reads() -> StreamTarget {
    StreamTarget {
        pressure: Pressure::READ,
        ..writes()
    }
}

/// One-minute Sums: bytes in, records in, bytes out.
fn measured(bytes_in: f64, records_in: f64, bytes_out: f64) -> Diagnosis<StreamMetrics> {
    use crate::core::diagnosis::Sums;
    Diagnosis::Measured(StreamMetrics {
        incoming_bytes: Sums(vec![bytes_in]),
        incoming_records: Sums(vec![records_in]),
        read_bytes: Sums(vec![bytes_out]),
        throttled_by_shard: BTreeMap::new(),
        ..StreamMetrics::default()
    })
}

const MIB_PER_MINUTE: f64 = 1_048_576.0 * 60.0;

/// Demand sizes the reshard; reads below capacity are consumer fan-out, not shards.
#[test]
fn the_reshard_follows_demand_and_read_fan_out_is_a_finding() {
    let stream = provisioned_stream("clickstream", 4);
    let decide = |target: &StreamTarget, diagnosis: &Diagnosis<StreamMetrics>| {
        plan(
            &stream,
            target,
            diagnosis,
            &policy(OnDemandPolicy::Never, 64),
            &[],
            now(),
        )
    };
    let shards = |decision: Decision<StreamChange>| match decision {
        Decision::Act(Proposal {
            change: StreamChange::UpdateShardCount { target },
            why,
            ..
        }) => (target, why),
        other => panic!("{other:?}"),
    };

    // 4.4 MiB/s in x 1.25 = 5.5: 6 shards, under the doubling to 8.
    let (target, why) = shards(decide(&writes(), &measured(4.4 * MIB_PER_MINUTE, 1_000.0, 0.0)));
    assert_eq!(target, 6, "{why}");
    assert!(why.contains("bytes in need 6 shards with HEADROOM 1.25"), "{why}");

    // Records decide when they need more: 5,000/s x 1.25 = 6.25 -> 7.
    let (target, why) = shards(decide(&writes(), &measured(MIB_PER_MINUTE, 300_000.0, 0.0)));
    assert_eq!(target, 7, "{why}");
    assert!(why.contains("records in"), "{why}");

    // Demand far above: at most the step (double).
    let (target, _) = shards(decide(&writes(), &measured(40.0 * MIB_PER_MINUTE, 0.0, 0.0)));
    assert_eq!(target, 8);

    // Demand the open shards carry: bursts or a hot shard, the step.
    let (target, why) = shards(decide(&writes(), &measured(MIB_PER_MINUTE, 1_000.0, 0.0)));
    assert_eq!(target, 8, "{why}");
    assert!(why.contains("bursts or on one hot shard"), "{why}");

    // No figures: the step, as before.
    let (target, _) = shards(decide(&writes(), &Diagnosis::Unavailable("denied".into())));
    assert_eq!(target, 8);

    // Reads throttle at 1 MiB/s out of 8 MiB/s of capacity: consumers compete; no reshard.
    let Decision::Diagnosed(finding) = decide(&reads(), &measured(0.0, 0.0, MIB_PER_MINUTE)) else {
        panic!("reads below capacity must be a finding")
    };
    assert_eq!(finding.code, FindingCode::ReadFanOut);
    assert!(finding.detail.contains("enhanced fan-out"), "{}", finding.detail);

    // Reads within HEADROOM of capacity (7.5 MiB/s of 8): the shards are full; more, sized
    // from the bytes out: 7.5 x 1.25 / 2 = 4.7 -> 5.
    let (target, why) = shards(decide(&reads(), &measured(0.0, 0.0, 7.5 * MIB_PER_MINUTE)));
    assert_eq!(target, 5, "{why}");
    // Just under it (6 of 8, x 1.25 = 7.5): consumers, not shards.
    assert!(matches!(
        decide(&reads(), &measured(0.0, 0.0, 6.0 * MIB_PER_MINUTE)),
        Decision::Diagnosed(_)
    ));

    // Reads with no figures: the step, as before.
    let (target, _) = shards(decide(&reads(), &no_metrics()));
    assert_eq!(target, 8);
}

/// One shard carries most throttled writes while the stream's demand fits its shards:
/// split it at its middle hash key. A hot child of a split made today is one hot key.
#[test]
fn a_hot_shard_is_split_and_a_hot_child_is_one_hot_key() {
    use crate::core::diagnosis::Sums;
    let stream = provisioned_stream("clickstream", 4);
    let hot = |throttled: &[(&str, f64)]| {
        Diagnosis::Measured(StreamMetrics {
            incoming_bytes: Sums(vec![2.0 * MIB_PER_MINUTE]),
            incoming_records: Sums(vec![60_000.0]),
            read_bytes: Sums::default(),
            throttled_by_shard: throttled
                .iter()
                .map(|(id, n)| ((*id).to_owned(), Sums(vec![*n])))
                .collect(),
            ..StreamMetrics::default()
        })
    };
    let decide = |stream: &StreamState, diagnosis: &Diagnosis<StreamMetrics>, history: &[HistoryEntry]| {
        plan(
            stream,
            &writes(),
            diagnosis,
            &policy(OnDemandPolicy::Never, 64),
            history,
            now(),
        )
    };

    let split = hot(&[("shardId-000000000002", 90.0), ("shardId-000000000001", 10.0)]);
    let Decision::Act(proposal) = decide(&stream, &split, &[]) else {
        panic!("a hot shard is split")
    };
    let third = &stream.shards[2];
    assert_eq!(
        proposal.change,
        StreamChange::SplitShard {
            shard: "shardId-000000000002".into(),
            at: (third.start + (third.end - third.start) / 2 + 1).to_string(),
        }
    );
    assert_eq!(proposal.action, SPLIT_SHARD);
    assert_eq!(proposal.cause, Some("hot-shard"));

    // Spread throttles (no shard with half): the step, as before.
    let spread = hot(&[
        ("shardId-000000000000", 30.0),
        ("shardId-000000000001", 30.0),
        ("shardId-000000000002", 40.0),
    ]);
    assert!(matches!(
        decide(&stream, &spread, &[]),
        Decision::Act(Proposal {
            change: StreamChange::UpdateShardCount { target: 8 },
            ..
        })
    ));

    // Demand the shards cannot carry: a reshard, not a split.
    let Diagnosis::Measured(mut busy) = split.clone() else {
        unreachable!()
    };
    busy.incoming_bytes = Sums(vec![6.0 * MIB_PER_MINUTE]);
    assert!(matches!(
        decide(&stream, &Diagnosis::Measured(busy), &[]),
        Decision::Act(Proposal {
            change: StreamChange::UpdateShardCount { .. },
            ..
        })
    ));

    // At MAX_SHARDS a split would pass the cap: the cap rules decide (here, at cap).
    let capped = plan(
        &stream,
        &writes(),
        &split,
        &policy(OnDemandPolicy::Never, 4),
        &[],
        now(),
    );
    assert!(
        matches!(capped, Decision::Hold(ref hold) if hold.reason == SkipReason::AtCap),
        "{capped:?}"
    );

    // A child of today's split throttles again: one hot partition key.
    let mut after_split = stream.clone();
    after_split.shards[2].parent = Some("shardId-000000000009".into());
    let today = entries(SPLIT_SHARD, 1, 2);
    let Decision::Diagnosed(finding) = decide(&after_split, &split, &today) else {
        panic!("a hot child is one key")
    };
    assert_eq!(finding.code, FindingCode::HotPartitionKey);
    // The split was more than a day ago: split again.
    let long_ago = entries(SPLIT_SHARD, 1, 30);
    assert!(matches!(
        decide(&after_split, &split, &long_ago),
        Decision::Act(_)
    ));
    // Today's split was of another shard: this hot shard's parent was closed by a reshard,
    // not by our split of it. Its lineage has not been split today: split it.
    let named = |shard: &str| {
        entries(SPLIT_SHARD, 1, 2)
            .into_iter()
            .map(|entry| HistoryEntry {
                subject: Some(shard.to_owned()),
                ..entry
            })
            .collect::<Vec<_>>()
    };
    assert!(
        matches!(
            decide(&after_split, &split, &named("shardId-000000000004")),
            Decision::Act(Proposal {
                change: StreamChange::SplitShard { .. },
                ..
            })
        ),
        "another lineage's split holds nothing back"
    );
    let Decision::Diagnosed(finding) = decide(&after_split, &split, &named("shardId-000000000009")) else {
        panic!("a child of the shard split today is one key")
    };
    assert_eq!(finding.code, FindingCode::HotPartitionKey);
}

/// The account's shard quota (DescribeLimits): no room is a finding announced as quota
/// pressure, little room bounds the step, an unread quota leaves the step as it was.
#[test]
fn the_account_shard_quota_bounds_the_step_and_a_full_account_is_a_finding() {
    let with_account = |quota, open| StreamState {
        account: Some(AccountShards { quota, open }),
        ..provisioned_stream("clickstream", 4)
    };
    let decide = |stream: &StreamState| {
        plan(
            stream,
            &writes(),
            &no_metrics(),
            &policy(OnDemandPolicy::Never, 64),
            &[],
            now(),
        )
    };
    let cases = [
        (
            "unread: the doubling step",
            provisioned_stream("clickstream", 4),
            Some(8),
        ),
        (
            "plenty of room: the doubling step",
            with_account(500, 40),
            Some(8),
        ),
        ("room for one: 4 -> 5", with_account(500, 499), Some(5)),
        ("no room: a finding", with_account(500, 500), None),
        ("over the quota: a finding", with_account(500, 510), None),
    ];
    for (name, stream, expected) in cases {
        match (decide(&stream), expected) {
            (Decision::Act(proposal), Some(target)) => {
                assert_eq!(
                    proposal.change,
                    StreamChange::UpdateShardCount { target },
                    "{name}"
                );
                assert_eq!(
                    proposal.why.contains("L-0918CF54"),
                    target == 5,
                    "{name}: the why names the quota only when it bounds the step: {}",
                    proposal.why
                );
            }
            (Decision::Diagnosed(finding), None) => {
                assert_eq!(finding.code, FindingCode::AccountQuota, "{name}");
                assert_eq!(finding.quota, Some(SHARD_QUOTA), "{name}");
                assert!(finding.hold_back, "{name}: later events back off");
                assert!(
                    finding.detail.contains("500 shards"),
                    "{name}: {}",
                    finding.detail
                );
            }
            (other, _) => panic!("{name}: {other:?}"),
        }
    }
}
