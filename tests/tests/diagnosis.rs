//! Acting on the cause: one handler test per row of docs/remediations.md, through the
//! shared pipeline with in-memory fakes. Each asserts the calls made (UpdateTable or not,
//! a metrics lookup or not), what was written, and the cause and figures in the result.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use unthrottle::core::diagnosis::Sums;
use unthrottle::core::domain::OnDemandPolicy;
use unthrottle::core::plan::SkipReason;
use unthrottle::core::report::{Outcome, Report};
use unthrottle::dynamodb::{
    BillingMode, Capacity, Cause, DynamoDb, PartMetrics, SideMetrics, TableChange, TableMetrics, TableState,
};
use unthrottle::testing::InMemory;
use unthrottle::testing::{
    FakeTables, default_dynamodb, happened_at, in_memory, provisioned_table, sample_table,
};

type Fixture = InMemory<DynamoDb, FakeTables>;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-20T10:15:30Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn fixture(tables: FakeTables) -> Fixture {
    let mut service = default_dynamodb().unwrap();
    service.policy.on_demand = OnDemandPolicy::Allow;
    in_memory(service, tables)
}

fn sample(path: &str) -> Value {
    happened_at(integration_tests::sample(path), now())
}

fn sessions_on_demand() -> TableState {
    TableState {
        billing: BillingMode::OnDemand,
        capacity: Capacity::default(),
        ..provisioned_table("sessions", 0, 0, &[])
    }
}

/// Writes on the table: consumed units per minute and throttle events per cause.
fn writes(consumed: &[f64], causes: &[(Cause, f64)]) -> TableMetrics {
    TableMetrics {
        table: PartMetrics {
            write: SideMetrics {
                consumed: Sums(consumed.to_vec()),
                throttle_events: Sums(vec![causes.iter().map(|(_, n)| n).sum()]),
                by_cause: causes.iter().map(|(c, n)| (*c, Sums(vec![*n]))).collect(),
            },
            ..PartMetrics::default()
        },
        indexes: BTreeMap::new(),
    }
}

async fn one(pipeline: &Fixture, event: Value) -> Report {
    let mut reports = pipeline.handle(event, now()).await.expect("readable");
    assert_eq!(reports.len(), 1, "{reports:?}");
    reports.remove(0)
}

fn published(pipeline: &Fixture) -> Vec<(&'static str, Vec<(&'static str, String)>)> {
    unthrottle::core::metrics::data_for(&pipeline.metrics.published())
        .into_iter()
        .map(|datum| (datum.name, datum.dimensions))
        .collect()
}

#[tokio::test]
async fn provisioned_throughput_is_sized_from_measured_demand() {
    // Peak minute 720 WCU = 12/s; x 1.25 = 15, under the doubling step to 20.
    let tables = FakeTables::with(provisioned_table("orders", 5, 10, &[])).measuring(writes(
        &[300.0, 720.0, 540.0],
        &[(Cause::ProvisionedThroughput, 40.0)],
    ));
    let pipeline = fixture(tables);

    let report = one(&pipeline, sample("dynamodb/cloudtrail-putitem-throttled.json")).await;

    assert_eq!(report.outcome, Outcome::Remediated, "{report:?}");
    assert_eq!(report.cause, Some("provisioned-throughput"));
    assert!(
        report
            .reason
            .contains("WCU 10 -> 15 (busiest minute averaged 12.0/s x HEADROOM 1.25 = 15)"),
        "{}",
        report.reason
    );
    let evidence = report.evidence.expect("figures in the result");
    assert_eq!(evidence["source"], "measured");
    assert_eq!(
        evidence["evidence"]["table"]["write"]["consumed"],
        json!([300.0, 720.0, 540.0])
    );
    assert_eq!(
        pipeline.resources.updates(),
        [(
            "orders".to_owned(),
            TableChange::Scale {
                table: Some(Capacity { read: 5, write: 15 }),
                indexes: BTreeMap::new(),
                floors: Vec::new(),
            }
        )]
    );
    assert_eq!(
        pipeline.resources.diagnosed().len(),
        1,
        "one lookup, beside the describe"
    );
    assert_eq!(pipeline.snapshots.objects().len(), 1);
}

#[tokio::test]
async fn a_hot_key_is_diagnosed_and_nothing_changes() {
    let tables = FakeTables::with(provisioned_table("orders", 5, 10, &[])).measuring(writes(
        &[720.0],
        &[
            (Cause::KeyRangeThroughput, 30.0),
            (Cause::ProvisionedThroughput, 1.0),
        ],
    ));
    let pipeline = fixture(tables);

    let report = one(&pipeline, sample("dynamodb/cloudtrail-putitem-throttled.json")).await;

    assert_eq!(report.outcome, Outcome::Diagnosed, "{report:?}");
    assert_eq!(report.code, Some("hot-partition"));
    assert_eq!(report.cause, Some("hot-partition"));
    assert!(
        report.reason.contains("KeyRangeThroughputExceeded"),
        "{}",
        report.reason
    );
    assert!(report.evidence.is_some());
    assert!(pipeline.resources.updates().is_empty(), "no UpdateTable");
    assert!(pipeline.snapshots.objects().is_empty(), "no change, no snapshot");
    assert!(!pipeline.ledger.holds_anything(), "nothing claimed");
    assert!(
        pipeline.ledger.history(&sample_table()).is_empty(),
        "nothing recorded"
    );
    assert!(pipeline.bus.announced().is_empty(), "no quota to announce");
    assert_eq!(
        published(&pipeline),
        [("HotPartition", vec![("Service", "DynamoDB".to_owned())])]
    );
}

#[tokio::test]
async fn an_alarm_on_a_cause_metric_needs_no_lookup() {
    let pipeline = fixture(
        FakeTables::with(provisioned_table("orders", 5, 10, &[]))
            .measuring(writes(&[720.0], &[(Cause::ProvisionedThroughput, 30.0)])),
    );

    let report = one(&pipeline, sample("dynamodb/alarm-write-key-range-throttle.json")).await;

    assert_eq!(report.outcome, Outcome::Diagnosed, "{report:?}");
    assert_eq!(report.code, Some("hot-partition"));
    assert!(
        pipeline.resources.diagnosed().is_empty(),
        "the alarm named the cause"
    );
    assert_eq!(report.evidence, None, "no lookup, no figures");
    assert!(pipeline.resources.updates().is_empty());
}

#[tokio::test]
async fn an_on_demand_maximum_is_left_alone_by_default() {
    let pipeline = fixture(FakeTables::with(sessions_on_demand()));

    let report = one(
        &pipeline,
        sample("dynamodb/alarm-read-max-on-demand-throttle.json"),
    )
    .await;

    assert_eq!(report.outcome, Outcome::Diagnosed, "{report:?}");
    assert_eq!(report.code, Some("on-demand-max"));
    assert!(report.reason.contains("MaxReadRequestUnits"), "{}", report.reason);
    assert!(pipeline.resources.updates().is_empty());
    assert!(!pipeline.ledger.holds_anything(), "nothing claimed or refused");
    assert_eq!(
        published(&pipeline),
        [("OnDemandMaximum", vec![("Service", "DynamoDB".to_owned())])]
    );
}

#[tokio::test]
async fn an_account_quota_is_diagnosed_once_and_later_events_back_off() {
    let pipeline = fixture(FakeTables::with(provisioned_table("customers", 5, 10, &[])));

    let first = one(
        &pipeline,
        sample("dynamodb/alarm-write-account-limit-throttle.json"),
    )
    .await;
    assert_eq!(first.outcome, Outcome::Diagnosed, "{first:?}");
    assert_eq!(first.code, Some("account-quota"));
    assert!(first.reason.contains("L-AB614373"), "{}", first.reason);
    assert!(pipeline.resources.updates().is_empty());
    let customers = unthrottle::core::domain::ResourceRef {
        name: "customers".into(),
        ..sample_table()
    };
    assert!(
        pipeline.ledger.refusal(&customers).is_some(),
        "recorded as a refusal"
    );
    // Announced for the quota path: source unthrottle, detail-type Quota Pressure.
    let announced = pipeline.bus.announced();
    assert_eq!(announced.len(), 1, "{announced:?}");
    let (detail_type, detail) = &announced[0];
    assert_eq!(detail_type, "Quota Pressure");
    assert_eq!(detail["service"], "dynamodb");
    assert_eq!(detail["resource"], "customers");
    assert_eq!(
        (detail["account"].as_str(), detail["region"].as_str()),
        (Some("123456789012"), Some("us-east-1"))
    );
    assert_eq!(detail["quota"]["quotaCode"], "L-AB614373");
    assert_eq!(detail["quota"]["serviceCode"], "dynamodb");

    // Another event of the same table: held back before any describe.
    let mut again = sample("dynamodb/alarm-write-account-limit-throttle.json");
    again["id"] = json!("another-delivery");
    let describes = pipeline.resources.describe_calls();
    let second = one(&pipeline, again).await;
    assert_eq!(second.outcome, Outcome::Skipped);
    assert_eq!(second.code, Some(SkipReason::BackingOff.code()));
    assert_eq!(
        pipeline.resources.describe_calls(),
        describes,
        "no describe while backing off"
    );
}

#[tokio::test]
async fn duplicates_and_cooldowns_make_no_metrics_lookup() {
    let tables = FakeTables::with(provisioned_table("orders", 5, 10, &[]))
        .measuring(writes(&[720.0], &[(Cause::ProvisionedThroughput, 40.0)]));
    let pipeline = fixture(tables);
    let event = sample("dynamodb/cloudtrail-putitem-throttled.json");
    assert_eq!(one(&pipeline, event.clone()).await.outcome, Outcome::Remediated);

    let duplicate = one(&pipeline, event).await;
    let mut other = sample("dynamodb/cloudtrail-putitem-throttled.json");
    other["detail"]["eventID"] = json!("another-throttle-same-incident");
    let cooling = one(&pipeline, other).await;

    assert_eq!(duplicate.code, Some(SkipReason::Duplicate.code()));
    assert_eq!(cooling.code, Some(SkipReason::CoolingDown.code()));
    assert_eq!(
        pipeline.resources.diagnosed().len(),
        1,
        "only the remediation looked"
    );
    assert_eq!(pipeline.resources.describe_calls(), 1);
}

#[tokio::test]
async fn without_metrics_the_fixed_step_is_taken_and_the_result_says_so() {
    // FakeTables answers Unavailable until told what it measures, as when GetMetricData fails.
    let pipeline = fixture(FakeTables::with(provisioned_table("orders", 5, 10, &[])));

    let report = one(&pipeline, sample("dynamodb/cloudtrail-putitem-throttled.json")).await;

    assert_eq!(report.outcome, Outcome::Remediated);
    assert_eq!(report.cause, Some("unknown"));
    assert_eq!(
        report.evidence.as_ref().map(|e| e["source"].clone()),
        Some(json!("unavailable"))
    );
    assert_eq!(
        pipeline.resources.state("orders").map(|t| t.capacity),
        Some(Capacity { read: 5, write: 20 }),
        "SCALE_FACTOR 2.0"
    );
}

/// A throttle after unthrottle's change settled and within VERIFY_WINDOW_SECONDS (30 min in
/// the fixture) means the change did not hold: the result says so and FixIneffective is
/// counted, with the cause. Later than the window, it is a new incident like any other.
#[tokio::test]
async fn a_throttle_soon_after_a_settled_fix_says_the_fix_did_not_hold() {
    let tables = FakeTables::with(provisioned_table("orders", 5, 10, &[]))
        .measuring(writes(&[720.0], &[(Cause::ProvisionedThroughput, 40.0)]));
    let pipeline = fixture(tables);
    let throttle = |id: &str, at: DateTime<Utc>| {
        let mut event = happened_at(
            integration_tests::sample("dynamodb/cloudtrail-putitem-throttled.json"),
            at,
        );
        event["detail"]["eventID"] = json!(id);
        event
    };
    let at = |minutes| now() + chrono::Duration::minutes(minutes);
    let run = |id: &'static str, minutes| {
        let pipeline = &pipeline;
        async move {
            let mut reports = pipeline
                .handle(throttle(id, at(minutes)), at(minutes))
                .await
                .unwrap();
            reports.remove(0)
        }
    };

    let first = run("first", 0).await;
    assert_eq!(first.outcome, Outcome::Remediated);
    assert_eq!(first.fix_did_not_hold, None, "nothing before it");

    // Ten minutes later (after the 5-minute cooldown): the fix did not hold.
    let again = run("again", 10).await;
    assert_eq!(again.outcome, Outcome::Remediated, "{again:?}");
    assert_eq!(again.fix_did_not_hold, Some(at(0)));
    assert!(
        again
            .reason
            .starts_with("the change of 2026-11-20T10:15:30+00:00 did not hold"),
        "{}",
        again.reason
    );
    let ineffective: Vec<_> = published(&pipeline)
        .into_iter()
        .filter(|(name, _)| *name == "FixIneffective")
        .collect();
    assert_eq!(
        ineffective,
        [(
            "FixIneffective",
            vec![
                ("Service", "DynamoDB".to_owned()),
                ("Cause", "provisioned-throughput".to_owned())
            ]
        )]
    );

    // Forty-five minutes after the last change: outside the window, a new incident.
    let later = run("later", 55).await;
    assert_eq!(later.outcome, Outcome::Remediated, "{later:?}");
    assert_eq!(later.fix_did_not_hold, None);
}

/// An announcement that fails is a retryable failure, and the table is not held back nor the
/// event remembered, so Lambda's retry diagnoses and announces again; once it is diagnosed,
/// the same event again is a duplicate.
#[tokio::test]
async fn a_quota_announcement_that_fails_is_retried_not_held_back() {
    let mut pipeline = fixture(FakeTables::with(provisioned_table("customers", 5, 10, &[])));
    pipeline.bus = unthrottle::testing::RecordedAnnouncements::refusing();

    let report = one(
        &pipeline,
        sample("dynamodb/alarm-write-account-limit-throttle.json"),
    )
    .await;

    assert_eq!(report.outcome, Outcome::Failed, "{report:?}");
    assert_eq!(report.code, Some("announce"));
    assert_eq!(report.cause, Some("account-quota"));
    assert_eq!(report.retryable, Some(true));
    let customers = unthrottle::core::domain::ResourceRef {
        name: "customers".into(),
        ..sample_table()
    };
    assert!(
        pipeline.ledger.refusal(&customers).is_none(),
        "not held back: the retry must announce"
    );
    assert!(pipeline.resources.updates().is_empty());

    pipeline.bus = unthrottle::testing::RecordedAnnouncements::default();
    let event = || sample("dynamodb/alarm-write-account-limit-throttle.json");
    let retried = one(&pipeline, event()).await;
    assert_eq!(retried.outcome, Outcome::Diagnosed, "{retried:?}");
    assert_eq!(pipeline.bus.announced().len(), 1, "announced on the retry");
    let again = one(&pipeline, event()).await;
    assert_eq!(again.code, Some("duplicate"), "{again:?}");
    assert_eq!(pipeline.bus.announced().len(), 1, "not announced again");
}

/// Reads of a provisioned stream throttle while it reads far below what its shards serve:
/// consumers compete for GetRecords calls; a finding, no reshard, nothing written.
#[tokio::test]
async fn a_read_throttled_stream_below_capacity_is_read_fan_out_not_a_reshard() {
    use unthrottle::core::diagnosis::Sums;
    use unthrottle::kinesis::{Kinesis, StreamMetrics};
    use unthrottle::testing::{FakeStreams, provisioned_stream};

    let streams = FakeStreams::with(provisioned_stream("clickstream", 4)).measuring(StreamMetrics {
        read_bytes: Sums(vec![1_048_576.0 * 60.0]),
        ..StreamMetrics::default()
    });
    let service = <Kinesis as unthrottle::core::service::Service>::from_env(
        &unthrottle::core::config::Env::from_fn(|_| None),
    )
    .unwrap();
    let pipeline = in_memory(service, streams);
    let event = happened_at(
        integration_tests::sample("kinesis/alarm-read-provisioned-throughput-exceeded.json"),
        now(),
    );

    let mut reports = pipeline.handle(event, now()).await.expect("readable");
    let report = reports.remove(0);

    assert_eq!(report.outcome, Outcome::Diagnosed, "{report:?}");
    assert_eq!(report.code, Some("read-fan-out"));
    assert!(report.reason.contains("enhanced fan-out"), "{}", report.reason);
    assert!(pipeline.resources.updates().is_empty(), "no UpdateShardCount");
    assert!(pipeline.snapshots.objects().is_empty());
    assert!(!pipeline.ledger.holds_anything(), "nothing claimed or refused");
    assert!(pipeline.ledger.history(&stream_ref("clickstream")).is_empty());
}

/// With MIN_THROTTLE_EVENTS=3, CloudTrail throttles of one table act only at the third
/// distinct event in one SUSTAIN_SECONDS window; a redelivered event counts once; an alarm
/// (sustained already) is never counted.
#[tokio::test]
async fn only_sustained_cloudtrail_throttles_act() {
    let pipeline = fixture_with_sustain(FakeTables::with(provisioned_table("orders", 5, 10, &[])));
    let throttle = |id: &str| {
        let mut event = sample("dynamodb/cloudtrail-putitem-throttled.json");
        event["detail"]["eventID"] = json!(id);
        event
    };

    let first = one(&pipeline, throttle("one")).await;
    let again = one(&pipeline, throttle("one")).await;
    let second = one(&pipeline, throttle("two")).await;
    for report in [&first, &again, &second] {
        assert_eq!(report.code, Some("not-sustained"), "{report:?}");
    }
    assert!(second.reason.contains("2 throttle event(s)"), "{}", second.reason);
    assert_eq!(
        pipeline.resources.describe_calls(),
        0,
        "nothing described before it is sustained"
    );

    let third = one(&pipeline, throttle("three")).await;
    assert_eq!(third.outcome, Outcome::Remediated, "{third:?}");
    assert_eq!(pipeline.resources.updates().len(), 1);

    // An alarm on another table is not counted: it acts at once.
    let alarmed = fixture_with_sustain(FakeTables::with(provisioned_table("customers", 5, 10, &[])));
    let report = one(
        &alarmed,
        sample("dynamodb/alarm-write-account-limit-throttle.json"),
    )
    .await;
    assert_eq!(report.outcome, Outcome::Diagnosed, "{report:?}");
}

fn fixture_with_sustain(tables: FakeTables) -> Fixture {
    let mut pipeline = fixture(tables);
    pipeline.options.sustain = Some(unthrottle::core::config::Sustain {
        min_events: 3,
        window: chrono::Duration::seconds(60),
    });
    pipeline
}

fn kinesis_pipeline(
    streams: unthrottle::testing::FakeStreams,
) -> InMemory<unthrottle::kinesis::Kinesis, unthrottle::testing::FakeStreams> {
    let service = <unthrottle::kinesis::Kinesis as unthrottle::core::service::Service>::from_env(
        &unthrottle::core::config::Env::from_fn(|_| None),
    )
    .unwrap();
    in_memory(service, streams)
}

const MIB_PER_MINUTE: f64 = 1_048_576.0 * 60.0;

fn stream_ref(name: &str) -> unthrottle::core::domain::ResourceRef {
    unthrottle::core::domain::ResourceRef {
        service: <unthrottle::kinesis::Kinesis as unthrottle::core::service::Service>::ID,
        account: "123456789012".into(),
        region: "us-east-1".into(),
        name: name.into(),
    }
}

/// Writes above what the open shards carry: the reshard is sized from the busiest minute
/// (3 MiB/s x HEADROOM 1.25 = 3.75, so 4 shards), not the fixed step, and says so.
#[tokio::test]
async fn a_write_throttled_stream_is_resharded_to_what_its_demand_needs() {
    use unthrottle::kinesis::{StreamChange, StreamMetrics};
    use unthrottle::testing::{FakeStreams, provisioned_stream};

    let streams = FakeStreams::with(provisioned_stream("clickstream", 2)).measuring(StreamMetrics {
        incoming_bytes: Sums(vec![MIB_PER_MINUTE, 3.0 * MIB_PER_MINUTE]),
        ..StreamMetrics::default()
    });
    let pipeline = kinesis_pipeline(streams);
    let report = {
        let mut reports = pipeline
            .handle(
                sample("kinesis/alarm-write-provisioned-throughput-exceeded.json"),
                now(),
            )
            .await
            .expect("readable");
        reports.remove(0)
    };

    assert_eq!(report.outcome, Outcome::Remediated, "{report:?}");
    assert_eq!(report.cause, Some("provisioned-throughput"));
    assert_eq!(
        pipeline.resources.updates(),
        [(
            "clickstream".to_owned(),
            StreamChange::UpdateShardCount { target: 4 }
        )]
    );
    assert!(report.reason.contains("2 -> 4"), "{}", report.reason);
    assert!(report.evidence.is_some(), "the figures the plan read");
    assert_eq!(pipeline.snapshots.objects().len(), 1);
}

/// One shard carries the throttled writes while the stream's total fits its shards (the
/// hot-shard sample): that shard is split at its midpoint, and the history names it, so
/// only its own children count as its lineage later.
#[tokio::test]
async fn a_hot_shard_is_split_and_its_history_names_the_shard() {
    use unthrottle::kinesis::{SPLIT_SHARD, StreamChange, StreamMetrics};
    use unthrottle::testing::{FakeStreams, provisioned_stream};

    let streams = FakeStreams::with(provisioned_stream("clickstream", 4)).measuring(StreamMetrics {
        incoming_bytes: Sums(vec![MIB_PER_MINUTE]),
        throttled_by_shard: BTreeMap::from([
            ("shardId-000000000001".to_owned(), Sums(vec![90.0])),
            ("shardId-000000000002".to_owned(), Sums(vec![10.0])),
        ]),
        ..StreamMetrics::default()
    });
    let pipeline = kinesis_pipeline(streams);
    let mut reports = pipeline
        .handle(sample("kinesis/alarm-hot-shard-write-throttled.json"), now())
        .await
        .expect("readable");
    let report = reports.remove(0);

    assert_eq!(report.outcome, Outcome::Remediated, "{report:?}");
    assert_eq!(report.cause, Some("hot-shard"));
    let updates = pipeline.resources.updates();
    assert!(
        matches!(&updates[..], [(_, StreamChange::SplitShard { shard, .. })] if shard == "shardId-000000000001"),
        "{updates:?}"
    );
    let history = pipeline.ledger.history(&stream_ref("clickstream"));
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].action, SPLIT_SHARD);
    assert_eq!(history[0].subject.as_deref(), Some("shardId-000000000001"));
}

/// A child of a shard split within the day throttles again: one partition key, which no
/// split spreads. Nothing changes.
#[tokio::test]
async fn a_hot_child_of_todays_split_is_one_hot_partition_key() {
    use unthrottle::core::domain::HistoryEntry;
    use unthrottle::kinesis::{SPLIT_SHARD, StreamMetrics};
    use unthrottle::testing::{FakeStreams, provisioned_stream};

    let mut stream = provisioned_stream("clickstream", 4);
    stream.shards[1].parent = Some("shardId-000000000009".into());
    let streams = FakeStreams::with(stream).measuring(StreamMetrics {
        incoming_bytes: Sums(vec![MIB_PER_MINUTE]),
        throttled_by_shard: BTreeMap::from([("shardId-000000000001".to_owned(), Sums(vec![90.0]))]),
        ..StreamMetrics::default()
    });
    let pipeline = kinesis_pipeline(streams);
    let split = HistoryEntry {
        at: now() - chrono::Duration::hours(3),
        action: SPLIT_SHARD,
        event_id: "the-split".into(),
        subject: Some("shardId-000000000009".into()),
    };
    unthrottle::core::ports::Ledger::record(&pipeline.ledger, &stream_ref("clickstream"), &split)
        .await
        .unwrap();
    let mut reports = pipeline
        .handle(sample("kinesis/alarm-hot-shard-write-throttled.json"), now())
        .await
        .expect("readable");
    let report = reports.remove(0);

    assert_eq!(report.outcome, Outcome::Diagnosed, "{report:?}");
    assert_eq!(report.code, Some("hot-partition-key"));
    assert!(pipeline.resources.updates().is_empty());
    assert!(pipeline.snapshots.objects().is_empty());
    assert!(!pipeline.ledger.holds_anything(), "nothing claimed or refused");
    assert_eq!(
        pipeline.ledger.history(&stream_ref("clickstream")),
        vec![split],
        "nothing recorded but the split"
    );
}
