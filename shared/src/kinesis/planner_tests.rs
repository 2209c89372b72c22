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
        max_shards,
        on_demand,
        max_switches_per_day: 4,
    }
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
        matches!(plan(&stream, &writes(), &policy, &nine, now()), Decision::Act(_)),
        "the 10th is allowed"
    );

    let ten = entries(crate::kinesis::UPDATE_SHARD_COUNT, 10, 2);
    let Decision::Hold(hold) = plan(&stream, &writes(), &policy, &ten, now()) else {
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
        matches!(plan(&stream, &writes(), &policy, &old, now()), Decision::Act(_)),
        "a rolling 24 h window"
    );
}

#[test]
fn streams_that_cannot_or_need_not_change_are_held() {
    let mut on_demand = provisioned_stream("clickstream", 4);
    on_demand.mode = StreamMode::OnDemand;
    let mut updating = provisioned_stream("clickstream", 4);
    updating.status = Status::Busy("UPDATING".into());
    for (stream, reason, words) in [
        (on_demand, SkipReason::AlreadyOnDemand, "hot partition key"),
        (updating, SkipReason::UpdateInProgress, "UPDATING"),
    ] {
        for on_demand_policy in [
            OnDemandPolicy::Never,
            OnDemandPolicy::Allow,
            OnDemandPolicy::Prefer,
        ] {
            let Decision::Hold(hold) = plan(&stream, &writes(), &policy(on_demand_policy, 64), &[], now())
            else {
                panic!("acted on {stream:?}")
            };
            assert_eq!(hold.reason, reason);
            assert!(hold.detail.contains(words), "{}", hold.detail);
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
        match plan(&at_cap, &writes(), &policy, &history, now()) {
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
            Decision::Diagnosed(finding) => panic!("streams find nothing yet: {finding:?}"),
        }
    }
}

#[test]
fn prefer_switches_first_then_scales_when_the_guard_refuses() {
    let stream = provisioned_stream("clickstream", 2);
    let first = plan(
        &stream,
        &writes(),
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
