//! The restore function against the emulators: a table and a stream unthrottle raised come
//! back down after the quiet hours, from their snapshots, one step per run within AWS's
//! limits; nothing is touched before the quiet hours, after a person's change, or on an
//! opted-out resource.

use aws_sdk_cloudwatch::types::{MetricDataResult, StatusCode};
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use unthrottle::adapters::Deploy;
use unthrottle::adapters::ledger::DynamoDbLedger;
use unthrottle::adapters::snapshots::S3Snapshots;
use unthrottle::core::config::{AllowList, CoreSettings, Env};
use unthrottle::core::envelope::Scope;
use unthrottle::core::report::{Outcome, Report};
use unthrottle::dynamodb::settings::TABLE_ALLOW;
use unthrottle::dynamodb::{DynamoDb, SdkTables};
use unthrottle::kinesis::settings::STREAM_ALLOW;
use unthrottle::kinesis::{Kinesis, SdkStreams};
use unthrottle::restore::{self, Restorer};
use unthrottle::testing::RecordedMetrics;

use integration_tests::World;

type Deployed = Restorer<SdkTables, SdkStreams, DynamoDbLedger, S3Snapshots, RecordedMetrics>;

/// One-minute Sums by query id (`t2`: the table's consumed writes, `t3`: its write throttle
/// events; see `dynamodb::metrics::measure`), and each series' status.
type Series = [(&'static str, &'static [f64], StatusCode)];

/// CloudWatch as aws-smithy-mocks plays it: moto does not serve the Rust client's CBOR
/// protocol (../shared/aws-facts.md). Everything else is the emulators'.
fn cloudwatch(series: &'static Series) -> aws_sdk_cloudwatch::Client {
    use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    let answer = mock!(aws_sdk_cloudwatch::Client::get_metric_data).then_output(move || {
        let results = series
            .iter()
            .map(|(id, values, status)| {
                MetricDataResult::builder()
                    .id(*id)
                    .set_values(Some(values.to_vec()))
                    .status_code(status.clone())
                    .build()
            })
            .collect();
        GetMetricDataOutput::builder()
            .set_metric_data_results(Some(results))
            .build()
    });
    mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&answer])
}

/// No throttles and no traffic in the quiet window, read whole.
const QUIET: &Series = &[];

/// The restore function over `world`'s stores, configured from its environment, reading
/// `series` from CloudWatch.
fn restorer<S: Deploy>(world: &World<S>, settings: &[(&str, &str)], series: &'static Series) -> Deployed {
    let vars = world.stores.env(settings);
    let env = Env::from_fn(|key| vars.get(key).cloned());
    let core = CoreSettings::from_env(&env).expect("core settings");
    let sdk = &world.aws.sdk;
    Restorer {
        tables: SdkTables::new(
            aws_sdk_dynamodb::Client::new(sdk),
            cloudwatch(series),
            aws_sdk_applicationautoscaling::Client::new(sdk),
        ),
        streams: SdkStreams::new(aws_sdk_kinesis::Client::new(sdk), cloudwatch(series)),
        tables_allowed: AllowList::from_env(&env, &TABLE_ALLOW).expect("TABLE_ALLOW"),
        streams_allowed: AllowList::from_env(&env, &STREAM_ALLOW).expect("STREAM_ALLOW"),
        ledger: world.aws.ledger(&world.stores.ledger),
        archive: world.aws.snapshots(&world.stores.bucket),
        metrics: RecordedMetrics::default(),
        policy: restore::policy(&env)
            .expect("restore settings")
            .expect("restore on"),
        dry_run: false,
        cooldown: core.run.cooldown,
        step_budget: std::time::Duration::from_secs(15),
    }
}

fn home() -> Scope {
    Scope {
        account: "123456789012".into(),
        region: "us-east-1".into(),
    }
}

/// The one report of a sweep that names `name`.
async fn sweep_for(restorer: &Deployed, name: &str, now: DateTime<Utc>) -> Option<Report> {
    let reports = restorer.sweep(&home(), now, None).await;
    let mut mine: Vec<Report> = reports
        .into_iter()
        .filter(|report| report.resource.as_deref() == Some(name))
        .collect();
    assert!(mine.len() <= 1, "{mine:?}");
    mine.pop()
}

async fn remediated<S: Deploy>(world: &World<S>, sample: &str, at: DateTime<Utc>) -> Report {
    let report = world.run(world.event_at(sample, at), at).await;
    assert_eq!(report.outcome, Outcome::Remediated, "{report:?}");
    report
}

async fn write_capacity(world: &World<DynamoDb>) -> Option<i64> {
    world
        .aws
        .wait_active(&world.name)
        .await
        .provisioned_throughput()
        .and_then(|throughput| throughput.write_capacity_units())
}

#[tokio::test]
async fn a_raised_table_comes_back_down_after_the_quiet_hours_and_only_then() {
    let world = World::<DynamoDb>::new(("dynamodb", "orders"), &[]).await;
    world.aws.create_table(&world.name, 5, 5, &[]).await;
    let raised_at = Utc::now() - Duration::minutes(10);
    let raise = remediated(&world, "cloudtrail-putitem-throttled.json", raised_at).await;
    assert_eq!(write_capacity(&world).await, Some(10));
    let restorer = restorer(&world, &[], QUIET);

    // Within the quiet hours: nothing changes, nothing is written.
    let early = sweep_for(&restorer, &world.name, Utc::now())
        .await
        .expect("a report");
    assert_eq!(early.code, Some("not-quiet"), "{early:?}");
    assert_eq!(write_capacity(&world).await, Some(10));
    assert_eq!(world.aws.object_keys(&world.stores.bucket).await.len(), 1);

    // A day later (the emulators' metrics show no throttle and no traffic): back to 5.
    let later = Utc::now() + Duration::hours(25);
    let step = sweep_for(&restorer, &world.name, later).await.expect("a report");
    assert_eq!(step.outcome, Outcome::Restored, "{step:?}");
    assert_eq!(step.before, Some(serde_json::json!({ "table.write": 10 })));
    assert_eq!(step.after, Some(serde_json::json!({ "table.write": 5 })));
    assert_eq!(write_capacity(&world).await, Some(5));
    let keys = world.aws.object_keys(&world.stores.bucket).await;
    let kept = keys
        .iter()
        .find(|key| key.ends_with("-restore.json"))
        .expect("the step's snapshot");
    let snapshot: Value = world.aws.object_json(&world.stores.bucket, kept).await;
    assert_eq!(
        snapshot["describe"]["Table"]["ProvisionedThroughput"]["WriteCapacityUnits"], 10,
        "the state it replaced"
    );
    assert_eq!(snapshot["restore"]["done"], true);
    assert_eq!(
        snapshot["restore"]["episode"]["origin"],
        raise.snapshot.unwrap().as_str()
    );
    let published = restorer.metrics.published();
    assert!(
        published.iter().any(|report| report.outcome == Outcome::Restored),
        "AutoRestore counted: {published:?}"
    );
    // The ledger remembers the step under its real action, for the daily limits.
    let ledger = world.aws.items(&world.stores.ledger).await;
    assert!(
        ledger.iter().any(|item| {
            let item = format!("{item:?}");
            item.contains("restore:") && item.contains("ScaleCapacity")
        }),
        "{ledger:?}"
    );

    // Done: the next runs find nothing open and change nothing.
    assert_eq!(
        sweep_for(&restorer, &world.name, later + Duration::hours(2)).await,
        None
    );
    assert_eq!(write_capacity(&world).await, Some(5));
    assert_eq!(world.aws.object_keys(&world.stores.bucket).await.len(), 2);
}

#[tokio::test]
async fn a_stream_halves_once_per_run_back_to_where_it_was() {
    let world = World::<Kinesis>::new(("kinesis", "clickstream"), &[]).await;
    world.aws.create_stream(&world.name, 2).await;
    // Two incidents an hour apart: 2 -> 4 -> 8 shards.
    let first = Utc::now() - Duration::hours(2);
    remediated(&world, "cloudtrail-putrecord-throttled.json", first).await;
    assert_eq!(world.aws.wait_stream_active(&world.name).await.open_shards, 4);
    let mut second = world.event_at("cloudtrail-putrecord-throttled.json", first + Duration::hours(1));
    second["id"] = "second-incident".into();
    second["detail"]["eventID"] = "second-incident".into();
    let report = world.run(second, first + Duration::hours(1)).await;
    assert_eq!(report.outcome, Outcome::Remediated, "{report:?}");
    assert_eq!(world.aws.wait_stream_active(&world.name).await.open_shards, 8);
    let restorer = restorer(&world, &[], QUIET);

    let day = Utc::now() + Duration::hours(25);
    let step = sweep_for(&restorer, &world.name, day).await.expect("a report");
    assert_eq!(step.outcome, Outcome::Restored, "{step:?}");
    assert_eq!(
        world.aws.wait_stream_active(&world.name).await.open_shards,
        4,
        "halved"
    );
    // The same hour again (a retried run): no second step.
    let again = sweep_for(&restorer, &world.name, day + Duration::minutes(5))
        .await
        .expect("a report");
    assert_eq!(again.code, Some("cooling-down"), "{again:?}");
    assert_eq!(world.aws.wait_stream_active(&world.name).await.open_shards, 4);
    // The next hour: the rest of the way, and no further.
    let next = sweep_for(&restorer, &world.name, day + Duration::hours(1))
        .await
        .expect("a report");
    assert_eq!(next.outcome, Outcome::Restored, "{next:?}");
    assert_eq!(world.aws.wait_stream_active(&world.name).await.open_shards, 2);
    assert_eq!(
        sweep_for(&restorer, &world.name, day + Duration::hours(2)).await,
        None,
        "back where it was: nothing open"
    );
}

/// A 5/5 table whose writes unthrottle raised to 10, ten minutes ago.
async fn raised_table() -> World<DynamoDb> {
    let world = World::<DynamoDb>::new(("dynamodb", "orders"), &[]).await;
    world.aws.create_table(&world.name, 5, 5, &[]).await;
    remediated(
        &world,
        "cloudtrail-putitem-throttled.json",
        Utc::now() - Duration::minutes(10),
    )
    .await;
    assert_eq!(write_capacity(&world).await, Some(10));
    world
}

#[tokio::test]
async fn restore_leaves_a_changed_or_opted_out_table_alone() {
    let world = raised_table().await;
    let restorer = restorer(&world, &[], QUIET);
    let later = Utc::now() + Duration::hours(25);

    world.aws.tag(&world.name, "unthrottle:disabled", "true").await;
    let opted_out = sweep_for(&restorer, &world.name, later).await.expect("a report");
    assert_eq!(opted_out.code, Some("opted-out"), "{opted_out:?}");
    assert_eq!(write_capacity(&world).await, Some(10));
    world.aws.tag(&world.name, "unthrottle:disabled", "false").await;

    // A person sets their own capacity: theirs now, whatever the quiet hours say.
    world
        .aws
        .dynamodb
        .update_table()
        .table_name(&world.name)
        .provisioned_throughput(integration_tests::throughput(5, 7))
        .send()
        .await
        .expect("UpdateTable by hand");
    assert_eq!(write_capacity(&world).await, Some(7));
    // The next hourly sweep: its container keeps tags a minute at most, so it reads them
    // again (here: a new one, rather than waiting out TAGS_TTL).
    let restorer = self::restorer(&world, &[], QUIET);
    let changed = sweep_for(&restorer, &world.name, later + Duration::hours(1))
        .await
        .expect("a report");
    assert_eq!(changed.code, Some("changed-since"), "{changed:?}");
    assert_eq!(write_capacity(&world).await, Some(7));
    assert_eq!(
        world.aws.object_keys(&world.stores.bucket).await.len(),
        1,
        "only the remediation's snapshot"
    );

    // Outside the allow-list: not touched either.
    let fenced = self::restorer(&world, &[("TABLE_ALLOW", "payments-*")], QUIET);
    let refused = sweep_for(&fenced, &world.name, later + Duration::hours(2))
        .await
        .expect("a report");
    assert_eq!(refused.code, Some("not-allowed"), "{refused:?}");
}

/// What the quiet window's metrics say decides: a throttle keeps it, a series CloudWatch
/// could not read whole keeps it, and a peak keeps `ceil(peak x HEADROOM)`.
#[tokio::test]
async fn the_quiet_windows_metrics_decide_how_far_it_comes_down() {
    let world = raised_table().await;
    let later = Utc::now() + Duration::hours(25);

    const THROTTLED: &Series = &[("t3", &[0.0, 4.0], StatusCode::Complete)];
    let kept = sweep_for(&restorer(&world, &[], THROTTLED), &world.name, later)
        .await
        .expect("a report");
    assert_eq!(kept.code, Some("not-quiet"), "{kept:?}");

    const PARTIAL: &Series = &[("t2", &[60.0], StatusCode::InternalError)];
    let unsure = sweep_for(&restorer(&world, &[], PARTIAL), &world.name, later)
        .await
        .expect("a report");
    assert_eq!(unsure.code, Some("metrics-partial"), "{unsure:?}");
    assert_eq!(write_capacity(&world).await, Some(10), "neither changed anything");
    assert_eq!(world.aws.object_keys(&world.stores.bucket).await.len(), 1);

    // A busiest minute of 360 writes is 6/s: ceil(6 x 1.25) = 8 kept, above the 5 before.
    const BUSY: &Series = &[("t2", &[120.0, 360.0, 60.0], StatusCode::Complete)];
    let step = sweep_for(&restorer(&world, &[], BUSY), &world.name, later)
        .await
        .expect("a report");
    assert_eq!(step.outcome, Outcome::Restored, "{step:?}");
    assert_eq!(write_capacity(&world).await, Some(8));
    // Not back at the pre-incident value: still open; with no traffic since, the rest.
    let rest = sweep_for(
        &restorer(&world, &[], QUIET),
        &world.name,
        later + Duration::hours(1),
    )
    .await
    .expect("a report");
    assert_eq!(rest.outcome, Outcome::Restored, "{rest:?}");
    assert_eq!(write_capacity(&world).await, Some(5));
}

/// An auto-scaling floor unthrottle raised (moto's Application Auto Scaling) comes back down
/// to the floor it replaced; the ceiling stays.
#[tokio::test]
async fn a_raised_auto_scaling_floor_comes_back_down() {
    let world = World::<DynamoDb>::new(("dynamodb", "inventory"), &[]).await;
    world.aws.create_table(&world.name, 5, 5, &[]).await;
    world.aws.auto_scale_writes(&world.name, 5, 50).await;
    let bounds = || world.aws.scaling_bounds(&world.name);
    remediated(
        &world,
        "alarm-write-provisioned-throttle-auto-scaled.json",
        Utc::now() - Duration::minutes(10),
    )
    .await;
    assert_eq!(bounds().await, [(10, 50)]);

    let step = sweep_for(
        &restorer(&world, &[], QUIET),
        &world.name,
        Utc::now() + Duration::hours(25),
    )
    .await
    .expect("a report");
    assert_eq!(step.outcome, Outcome::Restored, "{step:?}");
    assert_eq!(step.after, Some(serde_json::json!({ "floor:table.write": 5 })));
    assert_eq!(bounds().await, [(5, 50)]);
}
