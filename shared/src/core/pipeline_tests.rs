use chrono::TimeZone;
use serde_json::json;

use super::*;
use crate::core::config::{AllowList, Env};
use crate::core::domain::Action;
use crate::core::domain::OnDemandPolicy;
use crate::core::guards::Growth;
use crate::core::ledger::Claim;
use crate::core::report::Outcome;
use crate::dynamodb::{Capacity, DynamoDb, TableChange};
use crate::testing::table_policy as policy;
use crate::testing::*;
use chrono::Duration;

type Fixture = Pipeline<DynamoDb, FakeTables, MemoryLedger, MemorySnapshots, RecordedMetrics>;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 10, 15, 5).unwrap()
}

fn allow(pattern: &str) -> AllowList {
    let pattern = pattern.to_owned();
    AllowList::from_env(
        &Env::from_fn(move |_| Some(pattern.clone())),
        &crate::dynamodb::settings::TABLE_ALLOW,
    )
    .unwrap()
}

fn fixture(tables: FakeTables) -> Fixture {
    let service = DynamoDb {
        policy: policy(OnDemandPolicy::Allow),
        allow: allow("*"),
    };
    in_memory(service, tables)
}

fn orders() -> ResourceRef {
    ResourceRef {
        service: <DynamoDb as Service>::ID,
        account: "123456789012".into(),
        region: "us-east-1".into(),
        name: "orders".into(),
    }
}

fn put_item(event_id: &str) -> Value {
    dynamodb_throttle_event(event_id, "PutItem", json!({"tableName": "orders"}))
}

async fn one(pipeline: &Fixture, event: Value, at: DateTime<Utc>) -> Report {
    let mut reports = pipeline.handle(event, at).await.expect("event is readable");
    assert_eq!(reports.len(), 1, "{reports:?}");
    reports.remove(0)
}

#[tokio::test]
async fn a_write_throttle_is_snapshotted_then_healed_and_reported() {
    let pipeline = fixture(FakeTables::with(provisioned_table(
        "orders",
        5,
        5,
        &[("by-customer", 5, 5)],
    )));
    let report = one(&pipeline, put_item("evt-1"), now()).await;

    assert_eq!(report.outcome, Outcome::Remediated, "{report:?}");
    assert_eq!(report.action, Some(crate::dynamodb::SCALE_CAPACITY));
    assert_eq!(report.before, Some(json!({"table": {"read": 5, "write": 5}})));
    assert_eq!(report.after, Some(json!({"table": {"read": 5, "write": 10}})));
    assert_eq!(
        pipeline.resources.state("orders").unwrap().capacity,
        Capacity { read: 5, write: 10 }
    );

    let snapshots = pipeline.snapshots.objects();
    assert_eq!(snapshots.len(), 1);
    let (key, body) = &snapshots[0];
    assert_eq!(
        key,
        "snapshots/dynamodb/123456789012/us-east-1/orders/20261120T101505.000Z-evt-1.json"
    );
    assert_eq!(
        report.snapshot.as_deref(),
        Some(format!("s3://memory/{key}").as_str())
    );
    assert_eq!(
        body["describe"]["Table"]["capacity"],
        json!({"read": 5, "write": 5}),
        "pre-change state"
    );
    assert_eq!(
        body["plan"]["change"],
        json!({"scale": {"table": {"read": 5, "write": 10}}})
    );
    assert_eq!(
        body["trigger"]["incident"]["origin"]["errorCode"],
        "ProvisionedThroughputExceededException"
    );
    assert_eq!(body["schema"], "unthrottle.snapshot/v1");

    let history = pipeline.ledger.history(&orders());
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].action.clone(), history[0].event_id.as_str()),
        (crate::dynamodb::SCALE_CAPACITY, "evt-1")
    );
    assert_eq!(
        pipeline.ledger.claim(&orders()),
        Some(Claim {
            holder: "evt-1".into(),
            until: now() + Duration::seconds(300)
        })
    );
    assert_eq!(pipeline.metrics.published(), vec![report]);
}

#[tokio::test]
async fn no_snapshot_no_change_and_the_claim_is_released_for_a_retry() {
    let mut pipeline = fixture(FakeTables::with(provisioned_table("orders", 5, 5, &[])));
    pipeline.snapshots = MemorySnapshots::refusing();
    let report = one(&pipeline, put_item("evt-1"), now()).await;

    assert_eq!(
        (report.outcome, report.code),
        (Outcome::Failed, Some("snapshot")),
        "{report:?}"
    );
    assert!(report.reason.contains("PutObject"), "{}", report.reason);
    assert!(
        pipeline.resources.updates().is_empty(),
        "no UpdateTable without a snapshot"
    );
    assert_eq!(
        pipeline.resources.state("orders").unwrap().capacity,
        Capacity { read: 5, write: 5 }
    );
    assert_eq!(pipeline.ledger.claim(&orders()), None, "claim released");

    // The retry of the same event acts once the bucket is back.
    pipeline.snapshots = MemorySnapshots::default();
    let retry = one(&pipeline, put_item("evt-1"), now()).await;
    assert_eq!(retry.outcome, Outcome::Remediated, "{retry:?}");
}

#[tokio::test]
async fn a_failed_update_keeps_its_snapshot_and_releases_the_claim() {
    let tables = FakeTables::with(provisioned_table("orders", 5, 5, &[])).failing_updates(Error::new(
        ErrorKind::Refused,
        "UpdateTable",
        "table orders",
        "LimitExceededException",
    ));
    let pipeline = fixture(tables);
    let report = one(&pipeline, put_item("evt-1"), now()).await;

    assert_eq!((report.outcome, report.code), (Outcome::Failed, Some("apply")));
    assert_eq!(
        (report.error_kind, report.retryable),
        (Some(ErrorKind::Refused), Some(false)),
        "the adapter's error kind reaches the result"
    );
    assert!(
        report.reason.contains("LimitExceededException"),
        "{}",
        report.reason
    );
    assert_eq!(pipeline.snapshots.objects().len(), 1);
    assert_eq!(pipeline.ledger.claim(&orders()), None);
    assert!(pipeline.ledger.history(&orders()).is_empty());
    assert_eq!(pipeline.metrics.published()[0].code, Some("apply"));
}

#[tokio::test]
async fn dry_run_plans_and_writes_nothing() {
    let mut pipeline = fixture(FakeTables::with(provisioned_table("orders", 5, 5, &[])));
    pipeline.options.dry_run = true;
    let report = one(&pipeline, put_item("evt-1"), now()).await;

    assert_eq!(report.outcome, Outcome::Planned);
    assert_eq!(report.after, Some(json!({"table": {"read": 5, "write": 10}})));
    assert!(report.reason.starts_with("DRY_RUN"), "{}", report.reason);
    assert!(pipeline.resources.updates().is_empty());
    assert!(pipeline.snapshots.objects().is_empty());
    assert_eq!(pipeline.ledger.writes(), 0);
    assert!(pipeline.metrics.published().is_empty());
}

#[tokio::test]
async fn the_same_event_twice_changes_the_table_once() {
    let pipeline = fixture(FakeTables::with(provisioned_table("orders", 5, 5, &[])));
    let first = one(&pipeline, put_item("evt-1"), now()).await;
    // Re-delivered long after the cooldown: the event record still says it was handled.
    let again = one(&pipeline, put_item("evt-1"), now() + Duration::hours(2)).await;

    assert_eq!(first.outcome, Outcome::Remediated);
    assert_eq!(
        (again.outcome, again.code),
        (Outcome::Skipped, Some("duplicate")),
        "{again:?}"
    );
    assert_eq!(pipeline.resources.updates().len(), 1);
    assert_eq!(pipeline.resources.state("orders").unwrap().capacity.write, 10);
}

#[tokio::test]
async fn a_storm_of_events_for_one_incident_makes_one_change() {
    let pipeline = fixture(FakeTables::with(provisioned_table("orders", 5, 5, &[])));
    let mut outcomes = Vec::new();
    for n in 0..1000 {
        let at = now() + Duration::milliseconds(n * 100);
        outcomes.push(one(&pipeline, put_item(&format!("evt-{n}")), at).await);
    }
    let remediated = outcomes
        .iter()
        .filter(|r| r.outcome == Outcome::Remediated)
        .count();
    let cooling = outcomes.iter().filter(|r| r.code == Some("cooling-down")).count();
    assert_eq!((remediated, cooling), (1, 999));
    assert_eq!(pipeline.resources.updates().len(), 1);
    assert_eq!(
        pipeline.resources.describe_calls(),
        1,
        "events in the cooldown do not even describe"
    );

    // After the cooldown the next throttle is a new incident.
    let later = one(&pipeline, put_item("evt-late"), now() + Duration::seconds(400)).await;
    assert_eq!(later.outcome, Outcome::Remediated);
    assert_eq!(pipeline.resources.state("orders").unwrap().capacity.write, 20);
}

#[tokio::test]
async fn opted_out_not_allowed_missing_and_non_throttle_tables_are_skipped_without_writes() {
    let tables = FakeTables::default()
        .and(
            provisioned_table("orders", 5, 5, &[]),
            &[("unthrottle:disabled", "TRUE")],
        )
        .and(provisioned_table("payments", 5, 5, &[]), &[]);
    let mut pipeline = fixture(tables);
    pipeline.service.allow = allow("orders*");

    let opted_out = one(&pipeline, put_item("e1"), now()).await;
    assert_eq!(
        (opted_out.outcome, opted_out.code),
        (Outcome::Skipped, Some("opted-out"))
    );
    assert!(
        opted_out.reason.contains("unthrottle:disabled=true"),
        "{}",
        opted_out.reason
    );

    let payments = dynamodb_throttle_event("e2", "PutItem", json!({"tableName": "payments"}));
    let not_allowed = one(&pipeline, payments, now()).await;
    assert_eq!(not_allowed.code, Some("not-allowed"));
    assert_eq!(
        pipeline.resources.describe_calls(),
        1,
        "the allow-list is checked before DescribeTable"
    );

    let missing = dynamodb_throttle_event("e3", "PutItem", json!({"tableName": "orders-gone"}));
    assert_eq!(one(&pipeline, missing, now()).await.code, Some("not-found"));

    let mut success = put_item("e4");
    success["detail"].as_object_mut().unwrap().remove("errorCode");
    let not_throttle = one(&pipeline, success, now()).await;
    assert_eq!(
        (not_throttle.code, not_throttle.resource),
        (Some("not-throttle"), None)
    );

    assert!(pipeline.resources.updates().is_empty());
    assert!(pipeline.snapshots.objects().is_empty());
    assert_eq!(pipeline.ledger.writes(), 0);
    let codes: Vec<_> = pipeline.metrics.published().iter().map(|r| r.code).collect();
    assert_eq!(
        codes,
        [
            Some("opted-out"),
            Some("not-allowed"),
            Some("not-found"),
            Some("not-throttle")
        ]
    );
}

#[tokio::test]
async fn one_event_naming_two_tables_reports_each() {
    let tables = FakeTables::with(provisioned_table("orders", 5, 5, &[]))
        .and(provisioned_table("customers", 8, 8, &[]), &[]);
    let pipeline = fixture(tables);
    let event = dynamodb_throttle_event(
        "evt-b",
        "BatchWriteItem",
        json!({"requestItems": {"orders": [], "customers": []}}),
    );
    let reports = pipeline.handle(event, now()).await.unwrap();

    // Batch tables come in the order serde_json keeps object keys, which depends on features.
    let mut summary: Vec<_> = reports
        .iter()
        .map(|r| (r.resource.as_deref(), r.outcome))
        .collect();
    summary.sort();
    assert_eq!(
        summary,
        [
            (Some("customers"), Outcome::Remediated),
            (Some("orders"), Outcome::Remediated)
        ]
    );
    assert_eq!(pipeline.resources.state("customers").unwrap().capacity.write, 16);
    assert_eq!(pipeline.snapshots.objects().len(), 2);
}

#[tokio::test]
async fn the_on_demand_guard_counts_the_ledger_across_incidents() {
    let pipeline = fixture(FakeTables::with(provisioned_table("orders", 5, 100, &[])));
    let first = one(&pipeline, put_item("evt-1"), now()).await;
    assert_eq!(first.action, Some(Action::SWITCH_TO_ON_DEMAND), "{first:?}");
    assert_eq!(
        pipeline.resources.updates(),
        vec![("orders".to_owned(), TableChange::SwitchToOnDemand)]
    );

    // Someone switches the table back to provisioned; a second incident the same day.
    let back = provisioned_table("orders", 5, 100, &[]);
    let pipeline = Pipeline {
        resources: FakeTables::with(back),
        ..pipeline
    };
    let second = one(&pipeline, put_item("evt-2"), now() + Duration::hours(3)).await;
    assert_eq!(
        (second.outcome, second.code),
        (Outcome::Skipped, Some("at-cap")),
        "{second:?}"
    );
    assert!(
        second
            .reason
            .contains("on-demand guard refused: 1 switch(es) in the last 24 h"),
        "{}",
        second.reason
    );
    assert!(pipeline.resources.updates().is_empty());
}

#[tokio::test]
async fn unreadable_events_are_errors_and_counted_as_failures() {
    let pipeline = fixture(FakeTables::default());
    for event in [
        json!({"hello": "world"}),
        json!(null),
        put_item("x")["detail"].clone(),
    ] {
        let err = pipeline.handle(event.clone(), now()).await.unwrap_err();
        assert!(
            err.to_string().contains("not an EventBridge event"),
            "{event}: {err}"
        );
    }
    let no_table = dynamodb_throttle_event("evt-n", "PutItem", json!({}));
    let err = pipeline.handle(no_table, now()).await.unwrap_err();
    assert!(err.to_string().contains("names no table"), "{err}");

    let published = pipeline.metrics.published();
    assert_eq!(published.len(), 4);
    assert!(published.iter().all(|r| r.code == Some("malformed-event")));
    assert_eq!(pipeline.ledger.writes(), 0);
}

#[tokio::test]
async fn a_throttled_stream_is_snapshotted_then_resharded_through_the_same_pipeline() {
    use crate::kinesis::{Kinesis, StreamChange, StreamPolicy};
    let service = Kinesis {
        policy: StreamPolicy {
            growth: Growth {
                factor: 2.0,
                min_step: 1,
            },
            max_shards: 64,
            on_demand: OnDemandPolicy::Never,
            max_switches_per_day: 1,
        },
        allow: allow("*"),
    };
    let pipeline = in_memory(service, FakeStreams::with(provisioned_stream("clickstream", 2)));
    let event = kinesis_throttle_event("evt-k", "PutRecords", json!({"streamName": "clickstream"}));
    let reports = pipeline.handle(event.clone(), now()).await.unwrap();

    assert_eq!(reports.len(), 1);
    let report = &reports[0];
    assert_eq!(
        (report.outcome, report.service, report.action.clone()),
        (
            Outcome::Remediated,
            <crate::kinesis::Kinesis as Service>::ID,
            Some(crate::kinesis::UPDATE_SHARD_COUNT)
        )
    );
    assert_eq!(report.after, Some(json!({"openShards": 4})));
    assert_eq!(
        pipeline.resources.updates(),
        vec![(
            "clickstream".to_owned(),
            StreamChange::UpdateShardCount { target: 4 }
        )]
    );
    let (key, body) = &pipeline.snapshots.objects()[0];
    assert!(
        key.starts_with("snapshots/kinesis/123456789012/us-east-1/clickstream/"),
        "{key}"
    );
    assert_eq!(
        body["describe"]["DescribeStreamSummary"]["StreamDescriptionSummary"]["openShards"],
        json!(2)
    );

    let again = pipeline.handle(event, now() + Duration::hours(1)).await.unwrap();
    assert_eq!(again[0].code, Some("duplicate"));
    assert_eq!(pipeline.resources.state("clickstream").unwrap().open_shards, 4);
}
