//! The kinesis-throttle pipeline with its real SDK adapters against kinesis-local (which
//! itself refuses more than 2x per call and non-ACTIVE streams),
//! dynalite (the ledger) and moto (S3). Each test owns its stream, ledger and bucket.

use chrono::{DateTime, Duration, Utc};
use integration_tests::{StreamView, expected_skips, sample_event, unique};
use serde_json::{Value, json};
use unthrottle::core::report::Outcome;
use unthrottle::kinesis::Kinesis;
use unthrottle::testing::happened_at;

type World = integration_tests::World<Kinesis>;

/// Between two incidents of one stream: past the cooldown (300 s) and the settle margin.
const INCIDENT_GAP: Duration = Duration::seconds(400);

async fn world(settings: &[(&str, &str)]) -> World {
    World::new(("kinesis", "clickstream"), settings).await
}

/// What these tests do and read back with Kinesis.
trait StreamWorld {
    fn fresh_event(&self, sample: &str, id: &str, time: DateTime<Utc>) -> Value;
    async fn view(&self) -> StreamView;
}

impl StreamWorld for World {
    /// The sample with its own event id, so it is a new delivery to the ledger, its
    /// throttle at `time`.
    fn fresh_event(&self, sample: &str, id: &str, time: DateTime<Utc>) -> Value {
        let mut event = self.event_at(sample, time);
        event["id"] = json!(format!("envelope-{id}"));
        if event["detail"]["eventID"].is_string() {
            event["detail"]["eventID"] = json!(id);
        }
        event
    }

    async fn view(&self) -> StreamView {
        self.aws.wait_stream_active(&self.name).await
    }
}

fn provisioned(open_shards: i32) -> StreamView {
    StreamView {
        open_shards,
        on_demand: false,
    }
}

#[tokio::test]
async fn a_write_throttle_doubles_a_two_shard_stream_after_a_snapshot() {
    let world = world(&[]).await;
    world.aws.create_stream(&world.name, 2).await;

    let report = world
        .run(world.event("cloudtrail-putrecord-throttled.json"), Utc::now())
        .await;

    assert_eq!(report.outcome, Outcome::Remediated, "{report:?}");
    assert_eq!(report.action.as_ref().map(|a| a.name()), Some("UpdateShardCount"));
    assert_eq!(world.view().await, provisioned(4));
    let keys = world.aws.object_keys(&world.stores.bucket).await;
    assert_eq!(keys.len(), 1);
    assert!(
        keys[0].starts_with(&format!(
            "snapshots/kinesis/123456789012/us-east-1/{}/",
            world.name
        )),
        "{}",
        keys[0]
    );
    let snapshot = world.aws.object_json(&world.stores.bucket, &keys[0]).await;
    let summary = &snapshot["describe"]["DescribeStreamSummary"]["StreamDescriptionSummary"];
    assert_eq!(summary["OpenShardCount"], json!(2), "the pre-change summary");
    assert_eq!(summary["StreamName"], json!(world.name));
    assert_eq!(
        snapshot["describe"]["OpenShards"].as_array().map(Vec::len),
        Some(2),
        "the open shard list"
    );
    assert_eq!(
        world.pipeline.metrics.published()[0].service.metric_name,
        "Kinesis"
    );
}

#[tokio::test]
async fn a_stream_arn_event_and_an_alarm_heal_the_stream_they_name() {
    let world = world(&[]).await;
    world.aws.create_stream(&world.name, 1).await;
    let start = Utc::now();

    let by_arn = world
        .run(
            world.event_at("cloudtrail-putrecords-stream-arn.json", start),
            start,
        )
        .await;
    assert_eq!(by_arn.outcome, Outcome::Remediated, "{by_arn:?}");
    assert_eq!(world.view().await, provisioned(2));

    // A new incident: after the cooldown, and its throttle after the change settled.
    let later = start + INCIDENT_GAP;
    let alarm = world
        .run(
            world.event_at("alarm-write-provisioned-throughput-exceeded.json", later),
            later,
        )
        .await;
    assert_eq!(alarm.outcome, Outcome::Remediated, "{alarm:?}");
    assert_eq!(world.view().await, provisioned(4));
}

#[tokio::test]
async fn max_shards_is_respected_and_then_holds_at_the_cap() {
    let world = world(&[("MAX_SHARDS", "3")]).await;
    world.aws.create_stream(&world.name, 2).await;
    let start = Utc::now();

    let first = world
        .run(
            world.fresh_event("cloudtrail-putrecord-throttled.json", "cap-1", start),
            start,
        )
        .await;
    assert_eq!(first.after, Some(json!({"openShards": 3})), "{first:?}");
    assert_eq!(world.view().await, provisioned(3));

    let later = start + INCIDENT_GAP;
    let second = world
        .run(
            world.fresh_event("cloudtrail-putrecord-throttled.json", "cap-2", later),
            later,
        )
        .await;
    assert_eq!(
        (second.outcome, second.code),
        (Outcome::Skipped, Some("at-cap")),
        "{second:?}"
    );
    assert!(
        second.reason.contains("3 open shards of MAX_SHARDS 3"),
        "{}",
        second.reason
    );
    assert_eq!(world.view().await, provisioned(3));
}

#[tokio::test]
async fn at_the_cap_with_on_demand_allowed_the_stream_switches_mode() {
    let world = world(&[("MAX_SHARDS", "2"), ("ON_DEMAND", "allow")]).await;
    world.aws.create_stream(&world.name, 2).await;
    let report = world
        .run(world.event("cloudtrail-putrecord-throttled.json"), Utc::now())
        .await;
    assert_eq!(
        report.action.as_ref().map(|a| a.name()),
        Some("SwitchToOnDemand"),
        "{report:?}"
    );
    assert!(world.view().await.on_demand);
}

#[tokio::test]
async fn the_eleventh_update_in_a_day_is_skipped_by_our_guard_before_aws_refuses() {
    // One shard more each time (1 -> 11), each event its own incident, all within 24 h.
    let world = world(&[("SCALE_FACTOR", "1.01")]).await;
    world.aws.create_stream(&world.name, 1).await;
    let start = Utc::now();

    for n in 1..=10 {
        let at = start + INCIDENT_GAP * n;
        let event = world.fresh_event("cloudtrail-putrecord-throttled.json", &format!("update-{n}"), at);
        let report = world.run(event, at).await;
        assert_eq!(report.outcome, Outcome::Remediated, "update {n}: {report:?}");
        assert_eq!(world.view().await, provisioned(1 + n));
    }
    let at = start + INCIDENT_GAP * 11;
    let eleventh = world.fresh_event("cloudtrail-putrecord-throttled.json", "update-11", at);
    let report = world.run(eleventh, at).await;
    assert_eq!(
        (report.outcome, report.code),
        (Outcome::Skipped, Some("daily-limit")),
        "{report:?}"
    );
    assert!(
        report.reason.contains("daily shard-update limit"),
        "{}",
        report.reason
    );
    assert_eq!(world.view().await, provisioned(11));

    // The held event wrote nothing: no 11th snapshot, no 11th history entry. (kinesis-local
    // 0.6.2 does not enforce AWS's 10-per-24-h limit itself, so the guard is what holds here;
    // docs/kinesis.md.)
    assert_eq!(world.aws.object_keys(&world.stores.bucket).await.len(), 10);
}

/// A stream being updated is skipped and an on-demand stream diagnosed: neither is changed,
/// nothing is written.
#[tokio::test]
async fn updating_and_on_demand_streams_are_left_alone() {
    let world = world(&[("ON_DEMAND", "allow")]).await;
    world.aws.create_stream(&world.name, 2).await;
    world
        .aws
        .kinesis
        .update_shard_count()
        .stream_name(&world.name)
        .target_shard_count(3)
        .scaling_type(aws_sdk_kinesis::types::ScalingType::UniformScaling)
        .send()
        .await
        .expect("UpdateShardCount by hand");
    let updating = world
        .run(world.event("cloudtrail-putrecord-throttled.json"), Utc::now())
        .await;
    assert_eq!(
        (updating.outcome, updating.code),
        (Outcome::Skipped, Some("update-in-progress")),
        "{updating:?}"
    );
    assert_eq!(
        world.view().await,
        provisioned(3),
        "only the hand-made update happened"
    );

    let on_demand = unique("clickstream");
    world.aws.create_on_demand_stream(&on_demand).await;
    let event = sample_event(
        "kinesis/cloudtrail-putrecord-throttled.json",
        "clickstream",
        &on_demand,
    );
    let event = happened_at(event, Utc::now());
    let report = world.run(event.clone(), Utc::now()).await;
    assert_eq!(
        (report.outcome, report.code),
        (Outcome::Diagnosed, Some("on-demand-stream-limit")),
        "{report:?}"
    );

    // The stream's metrics lookup is unavailable here (moto does not serve CloudWatch's
    // CBOR), so the diagnosis is not remembered: nothing is written, and the event delivered
    // again is diagnosed again, with the figures it may have by then.
    world.aws.assert_nothing_written(&world.stores).await;
    let again = world.run(event, Utc::now()).await;
    assert_eq!(again.outcome, Outcome::Diagnosed, "{again:?}");
}

#[tokio::test]
async fn opted_out_and_control_plane_events_are_skipped_without_any_write() {
    let world = world(&[]).await;
    world.aws.create_stream(&world.name, 2).await;
    world
        .aws
        .tag_stream(&world.name, "unthrottle:disabled", "true")
        .await;
    // A throttle on the opted-out stream, then what events/expected.json says is skipped.
    let mut cases = vec![(
        "cloudtrail-putrecord-throttled.json".to_owned(),
        "opted-out".to_owned(),
    )];
    cases.extend(expected_skips("kinesis", "kinesis-throttle"));
    for (sample, code) in &cases {
        let report = world.run(world.event(sample), Utc::now()).await;
        assert_eq!(
            (report.outcome, report.code),
            (Outcome::Skipped, Some(code.as_str())),
            "{sample}: {report:?}"
        );
    }
    world.aws.assert_nothing_written(&world.stores).await;
    assert_eq!(world.view().await, provisioned(2));
}

#[tokio::test]
async fn the_same_event_delivered_twice_changes_the_stream_once() {
    let world = world(&[]).await;
    world.aws.create_stream(&world.name, 2).await;
    let event = world.event("cloudtrail-putrecord-throttled.json");
    let start = Utc::now();

    let first = world.run(event.clone(), start).await;
    world.view().await;
    let during = world.run(event.clone(), start + Duration::minutes(1)).await;
    let after = world.run(event, start + Duration::minutes(30)).await;

    assert_eq!(first.outcome, Outcome::Remediated, "{first:?}");
    assert_eq!(
        (during.code, after.code),
        (Some("duplicate"), Some("duplicate")),
        "{during:?} {after:?}"
    );
    assert_eq!(world.view().await, provisioned(4));
}

#[tokio::test]
async fn no_snapshot_means_no_change() {
    let mut world = world(&[]).await;
    world.aws.create_stream(&world.name, 2).await;
    world.pipeline.snapshots = world.aws.snapshots("no-such-bucket-unthrottle");

    let report = world
        .run(world.event("cloudtrail-putrecord-throttled.json"), Utc::now())
        .await;

    assert_eq!(
        (report.outcome, report.code),
        (Outcome::Failed, Some("snapshot")),
        "{report:?}"
    );
    assert_eq!(world.view().await, provisioned(2));
    world.assert_nothing_recorded().await;
}

/// The stream adapter reads each open shard's hash-key range from ListShards and splits one
/// at its middle key with SplitShard (kinesis-local serves both): the parent closes, two
/// children open, and the state says the split is made.
#[tokio::test]
async fn a_hot_shard_split_closes_the_parent_and_opens_two_children() {
    use unthrottle::core::ports::{Apply, Describe};
    use unthrottle::core::service::Service;
    use unthrottle::kinesis::StreamChange;

    let world = world(&[]).await;
    world.aws.create_stream(&world.name, 2).await;
    let before = Describe::<Kinesis>::describe(&world.pipeline.resources, &world.resource())
        .await
        .expect("described")
        .state;
    assert_eq!(before.shards.len(), 2, "{:?}", before.shards);
    let hot = before.shards[0].clone();
    assert_eq!(hot.start, 0, "the first shard starts at hash key 0");
    let at = hot.midpoint().expect("a range to split");
    let split = StreamChange::SplitShard {
        shard: hot.id.clone(),
        at: at.to_string(),
    };

    Apply::<Kinesis>::apply(&world.pipeline.resources, &before, &split)
        .await
        .expect("SplitShard");

    assert_eq!(world.aws.wait_stream_active(&world.name).await.open_shards, 3);
    let after = Describe::<Kinesis>::describe(&world.pipeline.resources, &world.resource())
        .await
        .expect("described")
        .state;
    assert!(Kinesis::applied(&after, &split), "{:?}", after.shards);
    let children: Vec<(u128, u128)> = after
        .shards
        .iter()
        .filter(|shard| shard.parent.as_deref() == Some(hot.id.as_str()))
        .map(|shard| (shard.start, shard.end))
        .collect();
    assert_eq!(children.len(), 2, "{:?}", after.shards);
    assert!(
        children.contains(&(hot.start, at - 1)) && children.contains(&(at, hot.end)),
        "{children:?}"
    );
}

/// The describe reads the account's shard quota beside the stream (DescribeLimits, which
/// kinesis-local answers with its SHARD_LIMIT, 5000 in scripts/emulators.sh): the planner
/// never asks for more shards than the account has room for.
#[tokio::test]
async fn the_describe_reads_the_accounts_shard_quota_beside_the_stream() {
    use unthrottle::core::ports::Describe;
    let world = world(&[]).await;
    world.aws.create_stream(&world.name, 2).await;
    world.aws.wait_stream_active(&world.name).await;

    let described = world
        .pipeline
        .resources
        .describe(&world.resource())
        .await
        .expect("describe on kinesis-local");

    let account = described.state.account.expect("DescribeLimits answered");
    assert_eq!(account.quota, 5000, "kinesis-local's SHARD_LIMIT");
    assert!(
        account.open >= 2,
        "the account's open shards include this stream's: {account:?}"
    );
    assert_eq!(described.state.shards.len(), 2, "ListShards beside it");
}
