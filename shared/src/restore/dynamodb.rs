//! A table's dials: `table.read`, `table.write`, `index:NAME.read|write` (provisioned
//! capacity), `floor:table.read`, `floor:index:NAME.write` (auto-scaling minimums) and
//! `onDemandMax.read|write` (an on-demand table's maximums).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use strum::IntoEnumIterator;

use super::model::{Call, Raised, Restores};
use super::planner::{Limit, Usage};
use crate::core::domain::{Action, HistoryEntry, Status};
use crate::dynamodb::limits::next_decrease;
use crate::dynamodb::model::{FloorChange, ScalableTarget};
use crate::dynamodb::{
    BillingMode, Capacity, Decreases, DynamoDb, RAISE_ON_DEMAND_MAX, SCALE_CAPACITY, Side, TableChange,
    TableMetrics, TableState,
};

fn capacity_dial(index: Option<&str>, side: Side) -> String {
    let side = side_name(side);
    match index {
        Some(index) => format!("index:{index}.{side}"),
        None => format!("table.{side}"),
    }
}

fn floor_dial(index: Option<&str>, side: Side) -> String {
    format!("floor:{}", capacity_dial(index, side))
}

fn max_dial(side: Side) -> String {
    format!("onDemandMax.{}", side_name(side))
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Read => "read",
        Side::Write => "write",
    }
}

/// `{"read": 5, "write": 10}` as dials of one part.
fn capacities(index: Option<&str>, before: &Value, after: &Value, dials: &mut Vec<(String, u64, u64)>) {
    for side in Side::iter() {
        let key = side_name(side);
        if let (Some(before), Some(after)) = (before[key].as_u64(), after[key].as_u64())
            && after > before
        {
            dials.push((capacity_dial(index, side), before, after));
        }
    }
}

/// A GSI's capacity as DescribeTable reports it.
fn described_capacity(throughput: &Value) -> Option<(u64, u64)> {
    Some((
        throughput["ReadCapacityUnits"].as_u64()?,
        throughput["WriteCapacityUnits"].as_u64()?,
    ))
}

/// How far one part (table or GSI) may go down now: DynamoDB's decreases per UTC day.
fn decrease_limit(decreases: Decreases, now: DateTime<Utc>) -> Limit {
    match next_decrease(decreases.today, decreases.last, now) {
        Ok(()) => Limit::Free,
        Err(why) => Limit::Blocked(why),
    }
}

impl Restores for DynamoDb {
    fn raised(action: &str, before: &Value, after: &Value, describe: &Value) -> Option<Raised> {
        let mut dials = Vec::new();
        if action == SCALE_CAPACITY.name() {
            capacities(None, &before["table"], &after["table"], &mut dials);
            for (index, set) in after["indexes"].as_object().into_iter().flatten() {
                capacities(Some(index), &before["indexes"][index], set, &mut dials);
            }
            for floor in after["autoScaling"].as_array().into_iter().flatten() {
                let index = floor["index"].as_str();
                let side = match floor["side"].as_str()? {
                    "read" => Side::Read,
                    "write" => Side::Write,
                    _ => return None,
                };
                let was = before["autoScaling"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|was| was["index"].as_str() == index && was["side"] == floor["side"])
                    .and_then(|was| was["min"].as_u64());
                if let (Some(was), Some(min)) = (was, floor["min"].as_u64())
                    && min > was
                {
                    dials.push((floor_dial(index, side), was, min));
                }
            }
            return Some(Raised {
                dials,
                switched: false,
            });
        }
        if action == RAISE_ON_DEMAND_MAX.name() {
            for side in Side::iter() {
                let key = side_name(side);
                if let (Some(was), Some(set)) = (
                    before["onDemandMax"][key].as_u64(),
                    after["onDemandMax"][key].as_u64(),
                ) && set > was
                {
                    dials.push((max_dial(side), was, set));
                }
            }
            return Some(Raised {
                dials,
                switched: false,
            });
        }
        if action == Action::SWITCH_TO_ON_DEMAND.name() {
            // On-demand has no capacity: the dials are what it left, set to nothing.
            let table = &describe["Table"];
            if let Some((read, write)) = described_capacity(&table["ProvisionedThroughput"]) {
                dials.push((capacity_dial(None, Side::Read), read, 0));
                dials.push((capacity_dial(None, Side::Write), write, 0));
            }
            for gsi in table["GlobalSecondaryIndexes"].as_array().into_iter().flatten() {
                if let (Some(name), Some((read, write))) = (
                    gsi["IndexName"].as_str(),
                    described_capacity(&gsi["ProvisionedThroughput"]),
                ) {
                    dials.push((capacity_dial(Some(name), Side::Read), read, 0));
                    dials.push((capacity_dial(Some(name), Side::Write), write, 0));
                }
            }
            return Some(Raised {
                dials,
                switched: true,
            });
        }
        None
    }

    fn dials(state: &TableState) -> BTreeMap<String, u64> {
        let mut dials = BTreeMap::new();
        for side in Side::iter() {
            match state.billing {
                BillingMode::Provisioned => {
                    dials.insert(capacity_dial(None, side), state.capacity.side(side));
                    for index in &state.indexes {
                        dials.insert(capacity_dial(Some(&index.name), side), index.capacity.side(side));
                    }
                }
                BillingMode::OnDemand => {
                    if let Some(max) = state.on_demand_max.side(side) {
                        dials.insert(max_dial(side), max);
                    }
                }
            }
        }
        for target in &state.auto_scaling {
            dials.insert(floor_dial(target.index.as_deref(), target.side), target.min);
        }
        dials
    }

    fn busy(state: &TableState) -> bool {
        state.status != Status::Active || state.indexes.iter().any(|index| index.status != Status::Active)
    }

    fn on_demand(state: &TableState) -> bool {
        state.billing == BillingMode::OnDemand
    }

    fn raised_at(state: &TableState) -> Option<DateTime<Utc>> {
        state
            .indexes
            .iter()
            .map(|index| index.decreases.last_increase)
            .fold(state.decreases.last_increase, Option::max)
    }

    fn switched_at(state: &TableState) -> Option<DateTime<Utc>> {
        state.last_switch_to_on_demand
    }

    fn limits(state: &TableState, _history: &[HistoryEntry], now: DateTime<Utc>) -> BTreeMap<String, Limit> {
        let mut limits = BTreeMap::new();
        for side in Side::iter() {
            limits.insert(capacity_dial(None, side), decrease_limit(state.decreases, now));
            for index in &state.indexes {
                limits.insert(
                    capacity_dial(Some(&index.name), side),
                    decrease_limit(index.decreases, now),
                );
            }
        }
        limits
    }

    fn usage(evidence: &TableMetrics) -> Usage {
        let mut usage = Usage::default();
        let parts = std::iter::once((None, &evidence.table)).chain(
            evidence
                .indexes
                .iter()
                .map(|(name, part)| (Some(name.as_str()), part)),
        );
        for (index, part) in parts {
            for side in Side::iter() {
                let metrics = part.side(side);
                usage.throttles += metrics.throttle_events.total();
                if let Some(peak) = metrics.consumed.peak_per_second() {
                    usage.peak.insert(capacity_dial(index, side), peak);
                    usage.peak.insert(floor_dial(index, side), peak);
                    if index.is_none() {
                        usage.peak.insert(max_dial(side), peak);
                    }
                }
            }
        }
        usage
    }

    fn change(
        state: &TableState,
        to: &BTreeMap<String, u64>,
        switch_back: bool,
    ) -> Result<Call<TableChange>, String> {
        let part = |index: Option<&str>, now: Capacity| Capacity {
            read: to
                .get(&capacity_dial(index, Side::Read))
                .copied()
                .unwrap_or(now.read),
            write: to
                .get(&capacity_dial(index, Side::Write))
                .copied()
                .unwrap_or(now.write),
        };
        // What a call sets, by dial, for the step's snapshot: the dials it was asked to
        // lower (UpdateTable also sends the other side, at its value now: not restore's).
        let sets = |dials: &mut BTreeMap<String, u64>, index: Option<&str>, capacity: Capacity| {
            for side in Side::iter() {
                let dial = capacity_dial(index, side);
                if to.contains_key(&dial) {
                    dials.insert(dial, capacity.side(side));
                }
            }
        };
        let mut applied = BTreeMap::new();
        if switch_back {
            let table = part(None, Capacity::default());
            let indexes = state
                .indexes
                .iter()
                .map(|index| (index.name.clone(), part(Some(&index.name), Capacity::default())))
                .collect::<BTreeMap<_, _>>();
            let unset = |capacity: &Capacity| capacity.read == 0 || capacity.write == 0;
            if unset(&table) || indexes.values().any(unset) {
                return Err(format!(
                    "the snapshot of {} records no capacity for every part to switch back to",
                    state.name
                ));
            }
            sets(&mut applied, None, table);
            for (name, capacity) in &indexes {
                sets(&mut applied, Some(name), *capacity);
            }
            return Ok(Call {
                action: SCALE_CAPACITY,
                change: TableChange::SwitchToProvisioned { table, indexes },
                applied,
            });
        }
        if state.billing == BillingMode::OnDemand {
            let mut max = state.on_demand_max;
            for side in Side::iter() {
                if let Some(units) = to.get(&max_dial(side)) {
                    max.set(side, Some(*units));
                    applied.insert(max_dial(side), *units);
                }
            }
            return Ok(Call {
                action: RAISE_ON_DEMAND_MAX,
                change: TableChange::RaiseOnDemandMax(max),
                applied,
            });
        }
        let floors: Vec<FloorChange> = state
            .auto_scaling
            .iter()
            .filter_map(|target: &ScalableTarget| {
                let dial = floor_dial(target.index.as_deref(), target.side);
                let min = *to.get(&dial)?;
                applied.insert(dial, min);
                Some(FloorChange {
                    index: target.index.clone(),
                    side: target.side,
                    min,
                    max: target.max,
                })
            })
            .collect();
        // A floor is RegisterScalableTarget, a capacity UpdateTable: one kind per call, the
        // floors first; the next run takes the rest (the snapshot records only the floors).
        if !floors.is_empty() {
            return Ok(Call {
                action: SCALE_CAPACITY,
                change: TableChange::Scale {
                    table: None,
                    indexes: BTreeMap::new(),
                    floors,
                },
                applied,
            });
        }
        let table = Some(part(None, state.capacity)).filter(|capacity| *capacity != state.capacity);
        if let Some(capacity) = table {
            sets(&mut applied, None, capacity);
        }
        let indexes = state
            .indexes
            .iter()
            .map(|index| {
                (
                    index.name.clone(),
                    part(Some(&index.name), index.capacity),
                    index.capacity,
                )
            })
            .filter(|(_, next, now)| next != now)
            .map(|(name, next, _)| (name, next))
            .collect::<BTreeMap<_, _>>();
        for (name, capacity) in &indexes {
            sets(&mut applied, Some(name), *capacity);
        }
        Ok(Call {
            action: SCALE_CAPACITY,
            change: TableChange::Scale {
                table,
                indexes,
                floors,
            },
            applied,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::provisioned_table;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn dynamodb_allows_four_decreases_a_day_then_one_an_hour_up_to_27() {
        let now = at("2026-12-02T10:30:00Z");
        for (today, last, free) in [
            (0, None, true),
            (3, Some("2026-12-02T10:29:00Z"), true),
            (4, Some("2026-12-02T10:29:00Z"), false),
            (4, Some("2026-12-02T09:29:00Z"), true),
            (26, Some("2026-12-02T09:00:00Z"), true),
            (27, Some("2026-12-02T09:00:00Z"), false),
            // Yesterday's count is not today's.
            (27, Some("2026-12-01T23:59:00Z"), true),
        ] {
            let decreases = Decreases {
                today,
                last: last.map(at),
                last_increase: None,
            };
            assert_eq!(
                decrease_limit(decreases, now) == Limit::Free,
                free,
                "{today} decreases, last at {last:?}"
            );
        }
    }

    #[test]
    fn a_scale_raise_names_each_part_and_floor_it_raised() {
        let before = serde_json::json!({
            "table": {"read": 5, "write": 5},
            "indexes": {"byUser": {"read": 5, "write": 5}},
            "autoScaling": [{"side": "write", "min": 5, "max": 100}],
        });
        let after = serde_json::json!({
            "table": {"read": 5, "write": 10},
            "indexes": {"byUser": {"read": 20, "write": 5}},
            "autoScaling": [{"side": "write", "min": 20, "max": 100}],
        });
        let raised = DynamoDb::raised("ScaleCapacity", &before, &after, &Value::Null).unwrap();
        assert!(!raised.switched);
        assert_eq!(
            raised.dials,
            vec![
                ("table.write".to_owned(), 5, 10),
                ("index:byUser.read".to_owned(), 5, 20),
                ("floor:table.write".to_owned(), 5, 20),
            ]
        );
        // A finding's change (Contributor Insights) is not restore's.
        assert_eq!(
            DynamoDb::raised("EnableContributorInsights", &before, &after, &Value::Null),
            None
        );
    }

    #[test]
    fn only_the_dials_that_move_are_sent() {
        let state = provisioned_table("orders", 5, 40, &[("byUser", 30, 5)]);
        let to = BTreeMap::from([
            ("table.write".to_owned(), 10),
            ("index:byUser.read".to_owned(), 5),
        ]);
        let call = DynamoDb::change(&state, &to, false).unwrap();
        assert_eq!(
            call.change,
            TableChange::Scale {
                table: Some(Capacity { read: 5, write: 10 }),
                indexes: BTreeMap::from([("byUser".to_owned(), Capacity { read: 5, write: 5 })]),
                floors: Vec::new(),
            }
        );
    }

    /// One call per kind: floors first, and the step records only what it sets, so the
    /// next run takes the capacity from where it really is.
    #[test]
    fn a_step_over_floors_and_capacity_records_only_the_floors() {
        use crate::dynamodb::model::ScalableTarget;
        use crate::restore::planner::stepped;
        let mut state = provisioned_table("orders", 40, 5, &[]);
        state.auto_scaling = vec![ScalableTarget {
            index: None,
            side: Side::Write,
            min: 20,
            max: 100,
        }];
        let to = BTreeMap::from([("table.read".to_owned(), 5), ("floor:table.write".to_owned(), 5)]);
        let call = DynamoDb::change(&state, &to, false).unwrap();
        assert_eq!(
            call.applied,
            BTreeMap::from([("floor:table.write".to_owned(), 5)])
        );
        let episode = crate::restore::Episode {
            baseline: BTreeMap::from([("table.read".to_owned(), 5), ("floor:table.write".to_owned(), 5)]),
            set: BTreeMap::from([
                ("table.read".to_owned(), 40),
                ("floor:table.write".to_owned(), 20),
            ]),
            raised_at: DateTime::UNIX_EPOCH,
            switched: false,
            origin: "s3://b/k".into(),
            stepped_at: None,
            previous: BTreeMap::new(),
            switching_back: false,
        };
        let from = BTreeMap::from([
            ("table.read".to_owned(), 40),
            ("floor:table.write".to_owned(), 20),
        ]);
        let (after, done) = stepped(&episode, &from, &call.applied, false, DateTime::UNIX_EPOCH);
        assert_eq!(
            after.set["table.read"], 40,
            "the capacity was not part of the call"
        );
        assert_eq!(after.set["floor:table.write"], 5);
        assert!(!done);
    }

    #[test]
    fn an_on_demand_table_is_lowered_through_its_maximums_only() {
        let mut state = TableState {
            billing: BillingMode::OnDemand,
            ..provisioned_table("orders", 0, 0, &[])
        };
        state.on_demand_max = crate::dynamodb::OnDemandMax {
            read: Some(100),
            write: Some(400),
        };
        let to = BTreeMap::from([("onDemandMax.write".to_owned(), 200)]);
        let call = DynamoDb::change(&state, &to, false).unwrap();
        assert_eq!(call.action, RAISE_ON_DEMAND_MAX);
        assert_eq!(
            call.change,
            TableChange::RaiseOnDemandMax(crate::dynamodb::OnDemandMax {
                read: Some(100),
                write: Some(200)
            }),
            "both maximums sent, the read one as it is"
        );
        assert_eq!(call.applied, to, "only the one it lowers is restore's");
    }

    #[test]
    fn a_switch_back_needs_a_capacity_for_every_part() {
        let state = TableState {
            billing: BillingMode::OnDemand,
            ..provisioned_table("orders", 0, 0, &[("byUser", 0, 0)])
        };
        let table_only = BTreeMap::from([("table.read".to_owned(), 5), ("table.write".to_owned(), 5)]);
        assert!(DynamoDb::change(&state, &table_only, true).is_err());
        let every = BTreeMap::from([
            ("table.read".to_owned(), 5),
            ("table.write".to_owned(), 5),
            ("index:byUser.read".to_owned(), 3),
            ("index:byUser.write".to_owned(), 4),
        ]);
        let call = DynamoDb::change(&state, &every, true).unwrap();
        assert_eq!(
            call.change,
            TableChange::SwitchToProvisioned {
                table: Capacity { read: 5, write: 5 },
                indexes: BTreeMap::from([("byUser".to_owned(), Capacity { read: 3, write: 4 })]),
            }
        );
    }
}
