use serde_json::json;

use super::*;

fn document(service: &str, action: &str, change: Value, describe: Value) -> Value {
    json!({
        "schema": SCHEMA,
        "service": service, "account": "123456789012", "region": "us-east-1", "name": "orders",
        "takenAt": "2026-11-20T10:15:00Z",
        "plan": {"action": action, "change": change, "before": {}, "after": {}, "why": "w"},
        "describe": describe,
    })
}

#[test]
fn a_table_scale_is_undone_to_the_capacities_its_describe_held() {
    let describe = json!({"Table": {
    "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
    "GlobalSecondaryIndexes": [
        {"IndexName": "by-customer", "ProvisionedThroughput": {"ReadCapacityUnits": 3, "WriteCapacityUnits": 4}},
        {"IndexName": "untouched", "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}}
    ]}});
    let change = json!({"scale": {"table": {"read": 5, "write": 10}, "indexes": {"by-customer": {"read": 6, "write": 4}}}});
    let recorded = recorded(
        &document("dynamodb", "ScaleCapacity", change, describe),
        "s3://b/k",
    )
    .unwrap();
    assert_eq!(
        undo(&recorded).unwrap(),
        Undo::Table {
            table: Some(Capacity { read: 5, write: 5 }),
            indexes: BTreeMap::from([("by-customer".to_owned(), Capacity { read: 3, write: 4 })]),
        },
        "only what the change raised"
    );
}

#[test]
fn streams_settings_and_refusals() {
    let stream = document(
        "kinesis",
        "UpdateShardCount",
        json!({"updateShardCount": {"target": 4}}),
        json!({"DescribeStreamSummary": {"StreamDescriptionSummary": {"OpenShardCount": 2}}}),
    );
    assert_eq!(
        undo(&recorded(&stream, "u").unwrap()).unwrap(),
        Undo::Stream { shards: 2 }
    );
    let setting = document(
        "api",
        "UpdateServiceSetting",
        json!({"enableHighThroughput": {"settingId": "/ssm/parameter-store/high-throughput-enabled"}}),
        json!({}),
    );
    assert_eq!(
        undo(&recorded(&setting, "u").unwrap()).unwrap(),
        Undo::Setting {
            id: "/ssm/parameter-store/high-throughput-enabled".into()
        }
    );
    let quota = document("api", "RequestServiceQuotaIncrease", json!({}), json!({}));
    let refused = undo(&recorded(&quota, "u").unwrap()).unwrap_err();
    assert_eq!(refused.exit_code(), 7);
    assert!(refused.to_string().contains("Support case"), "{refused}");
}

fn with_plan(mut document: Value, before: Value, after: Value) -> Value {
    document["plan"]["before"] = before;
    document["plan"]["after"] = after;
    document
}

#[test]
fn floors_maximums_switches_and_splits_are_undone_to_what_they_replaced() {
    let floors = with_plan(
        document(
            "dynamodb",
            "ScaleCapacity",
            json!({"scale": {"floors": [{"side": "write", "min": 10, "max": 40}]}}),
            json!({}),
        ),
        json!({"autoScaling": [
            {"side": "read", "min": 1, "max": 10},
            {"side": "write", "min": 5, "max": 20}
        ]}),
        json!({"autoScaling": [{"side": "write", "min": 10, "max": 40}]}),
    );
    assert_eq!(
        undo(&recorded(&floors, "u").unwrap()).unwrap(),
        Undo::Floors(vec![FloorChange {
            index: None,
            side: Side::Write,
            min: 5,
            max: 20
        }]),
        "only the side the change raised, to its bounds before"
    );
    let no_bounds = with_plan(floors.clone(), json!({}), json!({}));
    assert_eq!(
        undo(&recorded(&no_bounds, "u").unwrap()).unwrap_err().exit_code(),
        5
    );

    let max = with_plan(
        document(
            "dynamodb",
            "RaiseOnDemandMaximum",
            json!({"raiseOnDemandMax": {"read": 100, "write": 400}}),
            json!({}),
        ),
        json!({"onDemandMax": {"read": 100, "write": 200}}),
        json!({"onDemandMax": {"read": 100, "write": 400}}),
    );
    assert_eq!(
        undo(&recorded(&max, "u").unwrap()).unwrap(),
        Undo::OnDemandMax(OnDemandMax {
            read: Some(100),
            write: Some(200)
        })
    );

    let switch = document(
        "dynamodb",
        "SwitchToOnDemand",
        json!("switchToOnDemand"),
        json!({"Table": {
        "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 10},
        "GlobalSecondaryIndexes": [
            {"IndexName": "by-customer", "ProvisionedThroughput": {"ReadCapacityUnits": 3, "WriteCapacityUnits": 4}}
        ]}}),
    );
    assert_eq!(
        undo(&recorded(&switch, "u").unwrap()).unwrap(),
        Undo::Provisioned {
            table: Capacity { read: 5, write: 10 },
            indexes: BTreeMap::from([("by-customer".to_owned(), Capacity { read: 3, write: 4 })]),
        }
    );
    // A snapshot of a table that was on-demand already holds no capacity to go back to.
    let zero = document(
        "dynamodb",
        "SwitchToOnDemand",
        json!("switchToOnDemand"),
        json!({"Table": {"ProvisionedThroughput": {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0}}}),
    );
    assert_eq!(undo(&recorded(&zero, "u").unwrap()).unwrap_err().exit_code(), 5);

    let split = document(
        "kinesis",
        "SplitShard",
        json!({"splitShard": {"shard": "shardId-000000000001", "at": "1"}}),
        json!({"DescribeStreamSummary": {"StreamDescriptionSummary": {"OpenShardCount": 3}}}),
    );
    assert_eq!(
        undo(&recorded(&split, "u").unwrap()).unwrap(),
        Undo::Stream { shards: 3 }
    );
    let stream_switch = document(
        "kinesis",
        "SwitchToOnDemand",
        json!("switchToOnDemand"),
        json!({}),
    );
    assert_eq!(
        undo(&recorded(&stream_switch, "u").unwrap())
            .unwrap_err()
            .exit_code(),
        7
    );
}

#[test]
fn a_document_that_is_not_our_snapshot_is_refused_with_what_is_wrong() {
    for (document, words) in [
        (json!({"hello": "world"}), "schema"),
        (
            json!({"schema": SCHEMA, "service": "lambda", "account": "1", "region": "r", "name": "n", "plan": {"action": "x"}}),
            "unknown service",
        ),
        (
            json!({"schema": SCHEMA, "service": "dynamodb", "account": "1", "region": "r", "name": "n"}),
            "no plan",
        ),
    ] {
        let refused = recorded(&document, "s3://b/k").unwrap_err();
        assert_eq!(refused.exit_code(), 5);
        assert!(refused.to_string().contains(words), "{refused}");
    }
    let describe_lost = document(
        "dynamodb",
        "ScaleCapacity",
        json!({"scale": {"table": {"read": 1, "write": 2}}}),
        json!({}),
    );
    assert_eq!(
        undo(&recorded(&describe_lost, "u").unwrap())
            .unwrap_err()
            .exit_code(),
        5
    );
    for uri in ["orders", "s3://", "s3://bucket", "s3:///key", "https://b/k"] {
        assert_eq!(parse_uri(uri).unwrap_err().exit_code(), 5, "{uri}");
    }
    assert_eq!(
        parse_uri("s3://b/snapshots/x.json").unwrap(),
        ("b", "snapshots/x.json")
    );
}

#[test]
fn a_stream_is_brought_back_within_halving_steps() {
    assert_eq!(next_shard_count(8, 2), 4);
    assert_eq!(next_shard_count(4, 2), 2);
    assert_eq!(next_shard_count(5, 2), 3);
    assert_eq!(shard_steps(8, 2), 2);
    assert_eq!(shard_steps(4, 2), 1);
    assert_eq!(shard_steps(2, 2), 0);
    assert_eq!(shard_steps(2, 8), 2, "and doubling at most, the other way");
}

/// A table whose decreases today are spent is not lowered: the rollback says so and when
/// the next is allowed (exit 8), and nothing is claimed, kept or changed.
#[tokio::test]
async fn a_decrease_dynamodb_would_refuse_today_is_held_with_when() {
    use crate::dynamodb::Decreases;
    use crate::testing::{
        FakeSettings, FakeStreams, FakeTables, MemoryLedger, MemorySnapshots, provisioned_table,
    };

    let now = Utc::now();
    let mut table = provisioned_table("orders", 5, 10, &[]);
    table.decreases = Decreases {
        today: 4,
        last: Some(now - chrono::Duration::minutes(10)),
        last_increase: None,
    };
    let tables = FakeTables::with(table);
    let document = with_plan(
        document(
            "dynamodb",
            "ScaleCapacity",
            json!({"scale": {"table": {"read": 5, "write": 10}}}),
            json!({"Table": {"ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}}}),
        ),
        json!({"table": {"read": 5, "write": 5}}),
        json!({"table": {"read": 5, "write": 10}}),
    );
    let recorded = recorded(&document, "s3://b/k").unwrap();
    let ledger = MemoryLedger::default();
    let archive = MemorySnapshots::default();
    let ports = Ports {
        tables: &tables,
        streams: &FakeStreams::default(),
        settings: &FakeSettings::default(),
        ledger: &ledger,
        archive: &archive,
    };
    let done = restore(
        &recorded,
        "k",
        chrono::Duration::minutes(5),
        Options::default(),
        ports,
    )
    .await
    .unwrap();
    assert_eq!(done.remaining, 1);
    let held = done.held.expect("held");
    assert!(
        held.contains("4 decreases today") && held.contains("allows the next at"),
        "{held}"
    );
    assert!(tables.updates().is_empty(), "no UpdateTable");
    assert_eq!(ledger.writes(), 0, "no claim");
    assert!(archive.objects().is_empty(), "no snapshot");
}
