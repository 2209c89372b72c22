use std::collections::BTreeMap;

use chrono::{Duration, TimeZone};
use serde_json::json;

use super::*;
use crate::core::diagnosis::Sums;
use crate::core::plan::Hold;
use crate::dynamodb::model::OnDemandMax;
use crate::testing::provisioned_table;
use crate::testing::table_policy as policy;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap()
}

fn on_table(table: &str, pressure: Pressure) -> TableTarget {
    TableTarget {
        table: table.into(),
        on_table: pressure,
        on_indexes: BTreeMap::new(),
        scope: None,
        cause: None,
    }
}

fn on_index(table: &str, index: &str, pressure: Pressure) -> TableTarget {
    TableTarget {
        table: table.into(),
        on_table: Pressure::default(),
        on_indexes: BTreeMap::from([(index.to_owned(), pressure)]),
        scope: None,
        cause: None,
    }
}

fn cap(read: u64, write: u64) -> Capacity {
    Capacity { read, write }
}

fn scale(table: Option<Capacity>, indexes: &[(&str, Capacity)]) -> TableChange {
    TableChange::Scale {
        table,
        indexes: indexes.iter().map(|(n, c)| (n.to_string(), *c)).collect(),
        floors: Vec::new(),
    }
}

fn switch_entry(hours_ago: i64) -> HistoryEntry {
    HistoryEntry {
        at: now() - Duration::hours(hours_ago),
        action: Action::SWITCH_TO_ON_DEMAND,
        event_id: format!("earlier-{hours_ago}"),
        subject: None,
    }
}

/// The planner's answer when no metrics could be read: the fixed step.
const NO_METRICS: Diagnosis<TableMetrics> = Diagnosis::NotNeeded;

fn acted(decision: Decision<TableChange>) -> Proposal<TableChange> {
    match decision {
        Decision::Act(proposal) => proposal,
        other => panic!("did not act: {other:?}"),
    }
}

fn held(decision: Decision<TableChange>) -> Hold {
    match decision {
        Decision::Hold(hold) => hold,
        other => panic!("did not hold: {other:?}"),
    }
}

/// Scaling rules: which throttle raises what, from which capacities.
#[test]
fn scaling_raises_only_what_throttled() {
    struct Case {
        name: &'static str,
        table: TableState,
        target: TableTarget,
        expected: TableChange,
    }
    let with_gsi = |read, write, gsi_read, gsi_write| {
        provisioned_table("orders", read, write, &[("by-customer", gsi_read, gsi_write)])
    };
    let cases = [
        Case {
            name: "write throttle raises WCU only",
            table: provisioned_table("orders", 5, 5, &[]),
            target: on_table("orders", Pressure::WRITE),
            expected: scale(Some(cap(5, 10)), &[]),
        },
        Case {
            name: "read throttle raises RCU only",
            table: provisioned_table("orders", 5, 5, &[]),
            target: on_table("orders", Pressure::READ),
            expected: scale(Some(cap(10, 5)), &[]),
        },
        Case {
            name: "both sides throttled raises both",
            table: provisioned_table("orders", 5, 7, &[]),
            target: on_table("orders", Pressure::BOTH),
            expected: scale(Some(cap(10, 14)), &[]),
        },
        Case {
            name: "raise stops at the cap",
            table: provisioned_table("orders", 5, 80, &[]),
            target: on_table("orders", Pressure::WRITE),
            expected: scale(Some(cap(5, 100)), &[]),
        },
        Case {
            name: "min step lifts tiny capacities",
            table: provisioned_table("orders", 1, 0, &[]),
            target: on_table("orders", Pressure::WRITE),
            expected: scale(Some(cap(1, 1)), &[]),
        },
        Case {
            name: "GSI read throttle raises that GSI's RCU only",
            table: with_gsi(5, 5, 5, 5),
            target: on_index("orders", "by-customer", Pressure::READ),
            expected: scale(None, &[("by-customer", cap(10, 5))]),
        },
        Case {
            name: "GSI write throttle raises that GSI's WCU only",
            table: with_gsi(5, 5, 5, 5),
            target: on_index("orders", "by-customer", Pressure::WRITE),
            expected: scale(None, &[("by-customer", cap(5, 10))]),
        },
        Case {
            name: "table write throttle with a GSI at equal WCU leaves the GSI",
            table: with_gsi(5, 5, 5, 5),
            target: on_table("orders", Pressure::WRITE),
            expected: scale(Some(cap(5, 10)), &[]),
        },
        Case {
            name: "GSI below the table's WCU is raised to the table's new WCU (back-pressure)",
            table: with_gsi(5, 20, 5, 3),
            target: on_table("orders", Pressure::WRITE),
            expected: scale(Some(cap(5, 40)), &[("by-customer", cap(5, 40))]),
        },
        Case {
            name: "back-pressure raise respects the cap",
            table: with_gsi(5, 80, 5, 10),
            target: on_table("orders", Pressure::WRITE),
            expected: scale(Some(cap(5, 100)), &[("by-customer", cap(5, 100))]),
        },
        Case {
            name: "table at the write cap still lifts a lagging GSI",
            table: with_gsi(5, 100, 5, 10),
            target: on_table("orders", Pressure::WRITE),
            expected: scale(None, &[("by-customer", cap(5, 100))]),
        },
        Case {
            name: "read throttle on the table causes no GSI back-pressure",
            table: with_gsi(5, 20, 5, 3),
            target: on_table("orders", Pressure::READ),
            expected: scale(Some(cap(10, 20)), &[]),
        },
        Case {
            name: "an index that is not a GSI (an LSI) uses the table's capacity",
            table: with_gsi(5, 5, 5, 5),
            target: on_index("orders", "by-date-lsi", Pressure::READ),
            expected: scale(Some(cap(10, 5)), &[]),
        },
    ];
    for case in cases {
        let proposal = acted(plan(
            &case.table,
            &case.target,
            &NO_METRICS,
            &policy(OnDemandPolicy::Never),
            &[],
            now(),
        ));
        assert_eq!(proposal.action, crate::dynamodb::SCALE_CAPACITY, "{}", case.name);
        assert_eq!(proposal.change, case.expected, "{}", case.name);
    }
}

#[test]
fn proposal_reports_before_and_after_of_what_changes() {
    let table = provisioned_table("orders", 5, 20, &[("by-customer", 5, 3), ("by-date", 7, 40)]);
    let proposal = acted(plan(
        &table,
        &on_table("orders", Pressure::WRITE),
        &NO_METRICS,
        &policy(OnDemandPolicy::Never),
        &[],
        now(),
    ));
    assert_eq!(
        proposal.before,
        json!({"table": {"read": 5, "write": 20}, "indexes": {"by-customer": {"read": 5, "write": 3}}})
    );
    assert_eq!(
        proposal.after,
        json!({"table": {"read": 5, "write": 40}, "indexes": {"by-customer": {"read": 5, "write": 40}}})
    );
    assert!(
        proposal.why.contains("table orders WCU 20 -> 40"),
        "{}",
        proposal.why
    );
    assert!(
        proposal
            .why
            .contains("GSI by-customer WCU 3 -> 40 (GSI back-pressure)"),
        "{}",
        proposal.why
    );
}

/// Rules that hold before any scaling is considered.
#[test]
fn tables_that_cannot_or_need_not_change_are_held() {
    let mut on_demand = provisioned_table("orders", 0, 0, &[]);
    on_demand.billing = BillingMode::OnDemand;
    let mut updating = provisioned_table("orders", 5, 5, &[]);
    updating.status = Status::Busy("UPDATING".into());
    let mut gsi_creating = provisioned_table("orders", 5, 5, &[("by-customer", 5, 5)]);
    gsi_creating.indexes[0].status = Status::Busy("CREATING".into());

    let cases = [
        (on_demand, SkipReason::AlreadyOnDemand, "per-partition"),
        (updating, SkipReason::UpdateInProgress, "UPDATING"),
        (
            gsi_creating,
            SkipReason::UpdateInProgress,
            "GSI by-customer of orders is CREATING",
        ),
    ];
    for (table, reason, words) in cases {
        for on_demand_policy in [
            OnDemandPolicy::Never,
            OnDemandPolicy::Allow,
            OnDemandPolicy::Prefer,
        ] {
            let hold = held(plan(
                &table,
                &on_table("orders", Pressure::WRITE),
                &NO_METRICS,
                &policy(on_demand_policy),
                &[],
                now(),
            ));
            assert_eq!(hold.reason, reason, "{table:?}");
            assert!(hold.detail.contains(words), "{}", hold.detail);
        }
    }
}

/// What happens when nothing can be raised, for each on-demand policy and guard state.
#[test]
fn at_the_cap_the_on_demand_policy_and_guard_decide() {
    let at_cap = provisioned_table("orders", 5, 100, &[]);
    let write = on_table("orders", Pressure::WRITE);
    struct Case {
        name: &'static str,
        policy: OnDemandPolicy,
        history: Vec<HistoryEntry>,
        aws_last_switch: Option<DateTime<Utc>>,
        max_switches: u32,
        switches: bool,
        words: &'static str,
    }
    let cases = [
        Case {
            name: "never: hold at cap",
            policy: OnDemandPolicy::Never,
            history: vec![],
            aws_last_switch: None,
            max_switches: 1,
            switches: false,
            words: "ON_DEMAND=never",
        },
        Case {
            name: "allow: switch",
            policy: OnDemandPolicy::Allow,
            history: vec![],
            aws_last_switch: None,
            max_switches: 1,
            switches: true,
            words: "at the cap",
        },
        Case {
            name: "allow, our switch 3 h ago: guard refuses",
            policy: OnDemandPolicy::Allow,
            history: vec![switch_entry(3)],
            aws_last_switch: None,
            max_switches: 1,
            switches: false,
            words: "1 switch(es) in the last 24 h, limit 1",
        },
        Case {
            name: "allow, AWS reports a switch 3 h ago: guard refuses",
            policy: OnDemandPolicy::Allow,
            history: vec![],
            aws_last_switch: Some(now() - Duration::hours(3)),
            max_switches: 1,
            switches: false,
            words: "on-demand guard refused",
        },
        Case {
            name: "allow, last switch 25 h ago: switch",
            policy: OnDemandPolicy::Allow,
            history: vec![switch_entry(25)],
            aws_last_switch: Some(now() - Duration::hours(25)),
            max_switches: 1,
            switches: true,
            words: "switching to on-demand",
        },
        Case {
            name: "allow, limit 2 with 1 recent: switch",
            policy: OnDemandPolicy::Allow,
            history: vec![switch_entry(3)],
            aws_last_switch: None,
            max_switches: 2,
            switches: true,
            words: "switching",
        },
        Case {
            name: "allow, limit 2, ours and someone else's: refuse",
            policy: OnDemandPolicy::Allow,
            history: vec![switch_entry(3)],
            aws_last_switch: Some(now() - Duration::hours(1)),
            max_switches: 2,
            switches: false,
            words: "2 switch(es)",
        },
        Case {
            name: "allow, limit 0: never switch",
            policy: OnDemandPolicy::Allow,
            history: vec![],
            aws_last_switch: None,
            max_switches: 0,
            switches: false,
            words: "limit 0",
        },
    ];
    for case in cases {
        let mut table = at_cap.clone();
        table.last_switch_to_on_demand = case.aws_last_switch;
        let policy = TablePolicy {
            max_switches_per_day: case.max_switches,
            ..policy(case.policy)
        };
        let decision = plan(&table, &write, &NO_METRICS, &policy, &case.history, now());
        if case.switches {
            let proposal = acted(decision);
            assert_eq!(proposal.action, Action::SWITCH_TO_ON_DEMAND, "{}", case.name);
            assert_eq!(proposal.change, TableChange::SwitchToOnDemand, "{}", case.name);
            assert_eq!(
                proposal.after,
                json!({"billingMode": "PAY_PER_REQUEST"}),
                "{}",
                case.name
            );
            assert!(
                proposal.why.contains(case.words),
                "{}: {}",
                case.name,
                proposal.why
            );
        } else {
            let hold = held(decision);
            assert_eq!(hold.reason, SkipReason::AtCap, "{}", case.name);
            assert!(
                hold.detail.contains("WCU 100 of MAX_WRITE_CAPACITY 100"),
                "{}: {}",
                case.name,
                hold.detail
            );
            assert!(hold.detail.contains(case.words), "{}: {}", case.name, hold.detail);
        }
    }
}

#[test]
fn prefer_switches_first_and_falls_back_to_scaling_when_the_guard_refuses() {
    let table = provisioned_table("orders", 5, 5, &[]);
    let write = on_table("orders", Pressure::WRITE);

    let first = acted(plan(
        &table,
        &write,
        &NO_METRICS,
        &policy(OnDemandPolicy::Prefer),
        &[],
        now(),
    ));
    assert_eq!(first.change, TableChange::SwitchToOnDemand);
    assert!(first.why.contains("ON_DEMAND=prefer"), "{}", first.why);

    let refused = acted(plan(
        &table,
        &write,
        &NO_METRICS,
        &policy(OnDemandPolicy::Prefer),
        &[switch_entry(2)],
        now(),
    ));
    assert_eq!(refused.change, scale(Some(cap(5, 10)), &[]));
    assert!(
        refused.why.contains("instead of switching to on-demand"),
        "{}",
        refused.why
    );

    let allow = acted(plan(
        &table,
        &write,
        &NO_METRICS,
        &policy(OnDemandPolicy::Allow),
        &[],
        now(),
    ));
    assert_eq!(
        allow.change,
        scale(Some(cap(5, 10)), &[]),
        "allow scales while below the cap"
    );
}

#[test]
fn partly_capped_throttles_raise_what_they_can() {
    // Reads are at their cap, writes are not: only writes move.
    let table = provisioned_table("orders", 100, 5, &[]);
    let proposal = acted(plan(
        &table,
        &on_table("orders", Pressure::BOTH),
        &NO_METRICS,
        &policy(OnDemandPolicy::Allow),
        &[],
        now(),
    ));
    assert_eq!(proposal.change, scale(Some(cap(100, 10)), &[]));

    // A GSI at its cap with the table fine: at cap.
    let table = provisioned_table("orders", 5, 5, &[("by-customer", 100, 5)]);
    let hold = held(plan(
        &table,
        &on_index("orders", "by-customer", Pressure::READ),
        &NO_METRICS,
        &policy(OnDemandPolicy::Never),
        &[],
        now(),
    ));
    assert_eq!(hold.reason, SkipReason::AtCap);
    assert!(
        hold.detail
            .contains("GSI by-customer RCU 100 of MAX_READ_CAPACITY 100"),
        "{}",
        hold.detail
    );
}

#[test]
fn capacity_set_above_the_cap_by_hand_is_never_lowered() {
    let table = provisioned_table("orders", 5, 500, &[]);
    let hold = held(plan(
        &table,
        &on_table("orders", Pressure::WRITE),
        &NO_METRICS,
        &policy(OnDemandPolicy::Never),
        &[],
        now(),
    ));
    assert_eq!(hold.reason, SkipReason::AtCap);
}

/// One side's figures: one-minute Sums of consumed units, and throttle events per cause.
fn side(consumed: &[f64], causes: &[(Cause, f64)]) -> SideMetrics {
    SideMetrics {
        consumed: Sums(consumed.to_vec()),
        throttle_events: Sums(vec![causes.iter().map(|(_, n)| n).sum()]),
        by_cause: causes.iter().map(|(cause, n)| (*cause, Sums(vec![*n]))).collect(),
    }
}

fn table_writes(write: SideMetrics) -> Diagnosis<TableMetrics> {
    Diagnosis::Measured(TableMetrics {
        table: PartMetrics {
            write,
            ..PartMetrics::default()
        },
        indexes: BTreeMap::new(),
    })
}

/// What each cause leads to, from the metric series (docs/remediations.md has the sources).
#[test]
fn the_fix_follows_the_cause_and_is_sized_from_demand() {
    use Cause::*;
    enum Expect {
        /// The table's new WCU, the cause named, and words of the why.
        Raise(u64, &'static str, &'static str),
        Finding(FindingCode, &'static str),
        /// Held, and the cause the result still names.
        Held(SkipReason, &'static str),
    }
    struct Case {
        name: &'static str,
        table: TableState,
        target: TableTarget,
        diagnosis: Diagnosis<TableMetrics>,
        on_demand: OnDemandPolicy,
        expect: Expect,
    }
    let provisioned = provisioned_table("orders", 10, 10, &[]);
    let mut on_demand_table = provisioned.clone();
    on_demand_table.billing = BillingMode::OnDemand;
    let writes = on_table("orders", Pressure::WRITE);
    let case = |name, diagnosis, expect| Case {
        name,
        table: provisioned.clone(),
        target: writes.clone(),
        diagnosis,
        on_demand: OnDemandPolicy::Never,
        expect,
    };
    let cases = [
        case(
            "demand 12/s x 1.25 = 15, under the doubling step",
            table_writes(side(&[300.0, 720.0, 600.0], &[(ProvisionedThroughput, 40.0)])),
            Expect::Raise(
                15,
                "provisioned-throughput",
                "averaged 12.0/s x HEADROOM 1.25 = 15)",
            ),
        ),
        case(
            "demand 100/s wants 125: at most the SCALE_FACTOR step",
            table_writes(side(&[6_000.0], &[(ProvisionedThroughput, 40.0)])),
            Expect::Raise(
                20,
                "provisioned-throughput",
                "= 125, at most the SCALE_FACTOR step",
            ),
        ),
        case(
            "busiest minute within capacity: bursts the average hides, the SCALE_FACTOR step",
            table_writes(side(&[60.0, 540.0], &[(ProvisionedThroughput, 3.0)])),
            Expect::Raise(20, "provisioned-throughput", "averaged 9.0/s, within capacity"),
        ),
        case(
            "demand just above capacity: sized, not doubled",
            table_writes(side(&[660.0], &[(ProvisionedThroughput, 3.0)])),
            Expect::Raise(
                14,
                "provisioned-throughput",
                "averaged 11.0/s x HEADROOM 1.25 = 14)",
            ),
        ),
        case(
            "throttle counts but no consumption figures: the step",
            table_writes(side(&[], &[(ProvisionedThroughput, 3.0)])),
            Expect::Raise(20, "provisioned-throughput", "no consumption figures"),
        ),
        case(
            "metrics unavailable: the step, cause unknown",
            Diagnosis::Unavailable("AccessDenied".into()),
            Expect::Raise(20, "unknown", "WCU 10 -> 20"),
        ),
        case(
            "zero data everywhere: the step, cause unknown",
            table_writes(SideMetrics::default()),
            Expect::Raise(20, "unknown", "no consumption figures"),
        ),
        case(
            "a tie between causes is unknown: the step",
            table_writes(side(
                &[720.0],
                &[(KeyRangeThroughput, 5.0), (ProvisionedThroughput, 5.0)],
            )),
            Expect::Raise(15, "unknown", "averaged 12.0/s"),
        ),
        case(
            "hot key: no capacity change",
            table_writes(side(&[720.0], &[(KeyRangeThroughput, 30.0)])),
            Expect::Finding(FindingCode::HotPartition, "KeyRangeThroughputExceeded"),
        ),
        case(
            "mostly hot key: the dominant cause decides",
            table_writes(side(
                &[720.0],
                &[(KeyRangeThroughput, 30.0), (ProvisionedThroughput, 2.0)],
            )),
            Expect::Finding(FindingCode::HotPartition, "Contributor Insights"),
        ),
        case(
            "account quota: no table change, the quota named",
            table_writes(side(&[720.0], &[(AccountLimit, 9.0)])),
            Expect::Finding(FindingCode::AccountQuota, "L-AB614373"),
        ),
        Case {
            name: "the alarm names a hot key: no lookup, no change",
            target: TableTarget {
                cause: Some(KeyRangeThroughput),
                ..writes.clone()
            },
            ..case(
                "",
                Diagnosis::NotNeeded,
                Expect::Finding(FindingCode::HotPartition, "hot key"),
            )
        },
        Case {
            name: "ON_DEMAND=prefer never switches for a hot key",
            on_demand: OnDemandPolicy::Prefer,
            ..case(
                "",
                table_writes(side(&[720.0], &[(KeyRangeThroughput, 30.0)])),
                Expect::Finding(FindingCode::HotPartition, "hot key"),
            )
        },
        Case {
            name: "on-demand table at its configured maximum: left alone by default",
            table: on_demand_table.clone(),
            ..case(
                "",
                table_writes(side(&[720.0], &[(MaxOnDemandThroughput, 12.0)])),
                Expect::Finding(FindingCode::OnDemandMax, "MaxWriteRequestUnits"),
            )
        },
        Case {
            name: "on-demand table with a hot key",
            table: on_demand_table.clone(),
            ..case(
                "",
                table_writes(side(&[720.0], &[(KeyRangeThroughput, 12.0)])),
                Expect::Finding(FindingCode::HotPartition, "hot key"),
            )
        },
        Case {
            name: "on-demand table at its account quota",
            table: on_demand_table.clone(),
            ..case(
                "",
                table_writes(side(&[720.0], &[(AccountLimit, 12.0)])),
                Expect::Finding(FindingCode::AccountQuota, "L-AB614373"),
            )
        },
        Case {
            name: "on-demand table, cause unknown: held as today",
            table: on_demand_table.clone(),
            ..case(
                "",
                Diagnosis::NotNeeded,
                Expect::Held(SkipReason::AlreadyOnDemand, "unknown"),
            )
        },
        Case {
            name: "at the cap, the measured cause still named",
            table: provisioned_table("orders", 10, 100, &[]),
            ..case(
                "",
                table_writes(side(&[6_600.0], &[(ProvisionedThroughput, 40.0)])),
                Expect::Held(SkipReason::AtCap, "provisioned-throughput"),
            )
        },
        Case {
            name: "busy table: held, the measured cause named",
            table: TableState {
                status: Status::Busy("UPDATING".into()),
                ..provisioned.clone()
            },
            ..case(
                "",
                table_writes(side(&[720.0], &[(ProvisionedThroughput, 40.0)])),
                Expect::Held(SkipReason::UpdateInProgress, "provisioned-throughput"),
            )
        },
    ];
    for case in cases {
        let decision = plan(
            &case.table,
            &case.target,
            &case.diagnosis,
            &policy(case.on_demand),
            &[],
            now(),
        );
        match (case.expect, decision) {
            (Expect::Raise(wcu, cause, words), Decision::Act(proposal)) => {
                assert_eq!(
                    proposal.change,
                    scale(Some(cap(10, wcu)), &[]),
                    "{}: {}",
                    case.name,
                    proposal.why
                );
                assert_eq!(proposal.cause, Some(cause), "{}", case.name);
                assert!(proposal.why.contains(words), "{}: {}", case.name, proposal.why);
            }
            (Expect::Finding(code, words), Decision::Diagnosed(finding)) => {
                assert_eq!(finding.code, code, "{}", case.name);
                assert_eq!(
                    finding.hold_back,
                    code == FindingCode::AccountQuota,
                    "{}",
                    case.name
                );
                assert!(
                    finding.detail.contains(words),
                    "{}: {}",
                    case.name,
                    finding.detail
                );
            }
            (Expect::Held(reason, cause), Decision::Hold(hold)) => {
                assert_eq!(hold.reason, reason, "{}", case.name);
                assert_eq!(hold.cause, Some(cause), "{}", case.name);
            }
            (_, other) => panic!("{}: {other:?}", case.name),
        }
    }
}

/// A GSI's own metrics name it even when the event named only the table (a GSI that
/// cannot keep up throttles its base table's writes); a GSI's hot key is left alone while
/// the table is raised, and the why says so.
#[test]
fn gsi_metrics_add_what_the_event_did_not_name() {
    let table = provisioned_table("orders", 10, 10, &[("by-customer", 10, 10), ("by-day", 10, 10)]);
    let metrics = Diagnosis::Measured(TableMetrics {
        table: PartMetrics {
            write: side(&[720.0], &[(Cause::ProvisionedThroughput, 10.0)]),
            ..PartMetrics::default()
        },
        indexes: BTreeMap::from([
            (
                "by-customer".to_owned(),
                PartMetrics {
                    write: side(&[900.0], &[(Cause::ProvisionedThroughput, 6.0)]),
                    ..PartMetrics::default()
                },
            ),
            (
                "by-day".to_owned(),
                PartMetrics {
                    write: side(&[300.0], &[(Cause::KeyRangeThroughput, 6.0)]),
                    ..PartMetrics::default()
                },
            ),
        ]),
    });
    let mut target = on_table("orders", Pressure::WRITE);
    target.on_indexes.insert("by-day".into(), Pressure::WRITE);
    let proposal = acted(plan(
        &table,
        &target,
        &metrics,
        &policy(OnDemandPolicy::Never),
        &[],
        now(),
    ));
    // Table: 12/s x 1.25 = 15. by-customer: 15/s x 1.25 = 19, from its own metrics.
    // by-day: a hot key, not raised.
    assert_eq!(
        proposal.change,
        scale(Some(cap(10, 15)), &[("by-customer", cap(10, 19))]),
        "{}",
        proposal.why
    );
    assert!(
        proposal
            .why
            .contains("by-day writes: hot-partition (no capacity change)"),
        "{}",
        proposal.why
    );
    assert_eq!(proposal.cause, Some("provisioned-throughput"));
}

/// A side Application Auto Scaling manages is raised through its floor, never UpdateTable:
/// auto scaling would take a manual raise back.
#[test]
fn auto_scaled_sides_raise_their_floor_not_the_table() {
    let managed = |index: Option<&str>, side, min, max| ScalableTarget {
        index: index.map(str::to_owned),
        side,
        min,
        max,
    };
    let floor = |index: Option<&str>, side, min, max| FloorChange {
        index: index.map(str::to_owned),
        side,
        min,
        max,
    };
    let with = |targets: Vec<ScalableTarget>| TableState {
        auto_scaling: targets,
        ..provisioned_table("orders", 10, 10, &[("by-customer", 10, 10)])
    };
    let decide = |table: &TableState, target: &TableTarget| {
        plan(
            table,
            target,
            &NO_METRICS,
            &policy(OnDemandPolicy::Never),
            &[],
            now(),
        )
    };

    // Writes managed: floor 5 -> 20 (the doubling step), ceiling kept; no UpdateTable.
    let table = with(vec![managed(None, Side::Write, 5, 40)]);
    let proposal = acted(decide(&table, &on_table("orders", Pressure::WRITE)));
    assert_eq!(
        proposal.change,
        TableChange::Scale {
            table: None,
            indexes: BTreeMap::new(),
            floors: vec![floor(None, Side::Write, 20, 40)],
        }
    );
    assert!(
        proposal.why.contains("by raising its auto scaling floor 5 -> 20"),
        "{}",
        proposal.why
    );
    assert_eq!(proposal.before["autoScaling"][0]["min"], 5);
    assert_eq!(proposal.after["autoScaling"][0]["min"], 20);

    // A ceiling below the new floor is raised with it.
    let table = with(vec![managed(None, Side::Write, 5, 15)]);
    let proposal = acted(decide(&table, &on_table("orders", Pressure::WRITE)));
    assert!(
        matches!(&proposal.change, TableChange::Scale { floors, .. } if floors == &[floor(None, Side::Write, 20, 20)])
    );

    // Reads unmanaged, writes managed, both throttled: the floor now, never an UpdateTable
    // beside it (it would race auto scaling's own); reads wait for the next throttle.
    let table = with(vec![managed(None, Side::Write, 5, 40)]);
    let proposal = acted(decide(&table, &on_table("orders", Pressure::BOTH)));
    assert_eq!(
        proposal.change,
        TableChange::Scale {
            table: None,
            indexes: BTreeMap::new(),
            floors: vec![floor(None, Side::Write, 20, 40)],
        }
    );
    assert!(
        proposal
            .why
            .contains("not raised in this step: read throttled: table orders RCU 10 -> 20"),
        "{}",
        proposal.why
    );
    assert!(proposal.before.get("table").is_none(), "{}", proposal.before);

    // A managed GSI: its own floor, with its own resource.
    let table = with(vec![managed(Some("by-customer"), Side::Read, 2, 100)]);
    let proposal = acted(decide(&table, &on_index("orders", "by-customer", Pressure::READ)));
    assert_eq!(
        proposal.change,
        TableChange::Scale {
            table: None,
            indexes: BTreeMap::new(),
            floors: vec![floor(Some("by-customer"), Side::Read, 20, 100)],
        }
    );

    // The floor is already above the step: auto scaling is on its way; nothing to do.
    let table = with(vec![managed(None, Side::Write, 25, 40)]);
    let hold = held(decide(&table, &on_table("orders", Pressure::WRITE)));
    assert_eq!(hold.reason, SkipReason::UpdateInProgress);
    assert!(hold.detail.contains("floor is already 25"), "{}", hold.detail);
}

/// The changes a finding allows: `RAISE_ON_DEMAND_MAX=on` raises an on-demand maximum by
/// the step, to `MAX_ON_DEMAND_*_UNITS`; the tag opt-in turns Contributor Insights on for a
/// hot key, and the result stays a finding.
#[test]
fn findings_allow_only_the_change_the_team_opted_into() {
    let on_demand = |read, write| TableState {
        billing: BillingMode::OnDemand,
        on_demand_max: OnDemandMax { read, write },
        ..provisioned_table("orders", 0, 0, &[])
    };
    let reads_at_max = TableTarget {
        cause: Some(Cause::MaxOnDemandThroughput),
        ..on_table("orders", Pressure::READ)
    };
    let raising = TablePolicy {
        raise_on_demand_max: true,
        ..policy(OnDemandPolicy::Never)
    };
    let decide = |table: &TableState, target: &TableTarget, policy: &TablePolicy| {
        plan(table, target, &NO_METRICS, policy, &[], now())
    };

    // Off by default: a finding, nothing changed.
    let table = on_demand(Some(400), Some(100));
    assert!(matches!(
        decide(&table, &reads_at_max, &policy(OnDemandPolicy::Never)),
        Decision::Diagnosed(finding) if finding.code == FindingCode::OnDemandMax
    ));

    // On: the read maximum doubles, the write maximum is sent as it is.
    let proposal = acted(decide(&table, &reads_at_max, &raising));
    assert_eq!(
        proposal.change,
        TableChange::RaiseOnDemandMax(OnDemandMax {
            read: Some(800),
            write: Some(100)
        })
    );
    assert_eq!(proposal.action, RAISE_ON_DEMAND_MAX);
    assert_eq!(proposal.cause, Some("on-demand-max"));
    assert_eq!(proposal.finding, None, "a remediation");

    // Capped by MAX_ON_DEMAND_READ_UNITS (1,000 in the fixture), then held at the cap.
    let near = on_demand(Some(700), None);
    assert!(matches!(
        acted(decide(&near, &reads_at_max, &raising)).change,
        TableChange::RaiseOnDemandMax(OnDemandMax {
            read: Some(1_000),
            write: None
        })
    ));
    let at_cap = on_demand(Some(1_000), None);
    assert_eq!(
        held(decide(&at_cap, &reads_at_max, &raising)).reason,
        SkipReason::AtCap
    );

    // No maximum on that side: nothing to raise, the finding stands.
    let unlimited = on_demand(None, None);
    assert!(matches!(
        decide(&unlimited, &reads_at_max, &raising),
        Decision::Diagnosed(_)
    ));

    // A hot key on a table that opted in: Contributor Insights for the GSI that is hot.
    let hot = TableTarget {
        cause: Some(Cause::KeyRangeThroughput),
        ..on_index("orders", "by-customer", Pressure::WRITE)
    };
    let tagged = TableState {
        insights_opt_in: true,
        ..provisioned_table("orders", 10, 10, &[("by-customer", 10, 10)])
    };
    let proposal = acted(decide(&tagged, &hot, &policy(OnDemandPolicy::Never)));
    assert_eq!(
        proposal.change,
        TableChange::EnableContributorInsights {
            index: Some("by-customer".into())
        }
    );
    assert_eq!(
        proposal.finding,
        Some(FindingCode::HotPartition),
        "reported as the finding"
    );
    assert!(
        proposal.why.contains("KeyRangeThroughputExceeded"),
        "{}",
        proposal.why
    );

    // On already (a wider mode set by hand): never narrowed, only the finding.
    let already = TableState {
        insights: vec![crate::dynamodb::model::InsightsState {
            index: Some("by-customer".into()),
            status: "ENABLED".into(),
            mode: Some("ACCESSED_AND_THROTTLED_KEYS".into()),
        }],
        ..tagged.clone()
    };
    assert!(matches!(
        decide(&already, &hot, &policy(OnDemandPolicy::Never)),
        Decision::Diagnosed(finding) if finding.code == FindingCode::HotPartition
    ));

    // Without the tag, only the finding.
    let untagged = provisioned_table("orders", 10, 10, &[("by-customer", 10, 10)]);
    assert!(matches!(
        decide(&untagged, &hot, &policy(OnDemandPolicy::Never)),
        Decision::Diagnosed(finding) if finding.code == FindingCode::HotPartition
    ));
}
