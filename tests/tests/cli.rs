//! The `unthrottle` command against the emulators: `plan` on every events/ sample picks
//! the function the template's rules route it to, reads what that function reads and
//! writes nothing; `history` lists a real remediation's change with its snapshot and the
//! claim it holds; failures exit with their documented codes.

use clap::Parser;
use serde_json::Value;
use unthrottle::cli::plan::Function;
use unthrottle::cli::{Cli, Failure, run};
use unthrottle::core::config::Env;
use unthrottle::core::service::Service;
use unthrottle::dynamodb::DynamoDb;
use unthrottle::kinesis::Kinesis;

use integration_tests::{Emulators, Stores, World, events_dir, expected_outcomes};

const HOME: [&str; 4] = ["--account", "123456789012", "--region", "us-east-1"];

/// Runs the command as its binary does, with `stores` as the deployment's, and returns what
/// it printed.
async fn unthrottle(aws: &Emulators, stores: &Stores, args: &[&str]) -> Result<String, Failure> {
    let cli = Cli::try_parse_from(std::iter::once("unthrottle").chain(args.iter().copied()))
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let vars = stores.env(&[("S3_FORCE_PATH_STYLE", "true")]);
    let env = Env::from_fn(|key| vars.get(key).cloned().or_else(|| std::env::var(key).ok()));
    let mut out = Vec::new();
    run(cli, &env, &aws.sdk, &mut out, false).await?;
    Ok(String::from_utf8(out).expect("UTF-8"))
}

#[tokio::test]
async fn plan_on_every_sample_matches_the_expectations_table_and_writes_nothing() {
    let aws = Emulators::connect().await.expect("emulators running");
    let stores = aws.stores().await;
    let mut planned = 0;
    for (path, expected) in expected_outcomes() {
        let event: Value = integration_tests::sample(&path);
        let file = events_dir().join(&path);
        let Some(routes) = expected["routes"].as_array() else {
            // Not an EventBridge event at all (PutEvents refuses it): the plan says so.
            let refused = unthrottle(
                &aws,
                &stores,
                &[&["plan", "--event", file.to_str().unwrap()][..], &HOME[..]].concat(),
            )
            .await;
            assert_eq!(refused.map_err(|e| e.exit_code()).err(), Some(3), "{path}");
            continue;
        };
        let routes: Vec<&str> = routes.iter().filter_map(Value::as_str).collect();
        let function = Function::for_event(&event).expect("an EventBridge event");
        // The function whose trigger takes it: the one the rules route it to. A rule may
        // filter more than a trigger (an alarm's name prefix): then no rule routes it, and
        // the plan shows what the function would make of it if handed it.
        match function {
            Some(function) if !routes.is_empty() => assert!(
                routes.contains(&function.to_string().as_str()),
                "{path}: plan picked {function}, the rules route it to {routes:?}"
            ),
            Some(_) => {}
            None => assert!(
                routes.is_empty(),
                "{path}: no function takes it, the rules route it to {routes:?}"
            ),
        }
        let Some(function) = function else { continue };
        let args = [
            &["plan", "--event", file.to_str().unwrap(), "--json"][..],
            &HOME[..],
        ]
        .concat();
        let read = expected["reads"][function.to_string()].as_str().expect("reads");
        if read.starts_with("error:") {
            let refused = unthrottle(&aws, &stores, &args).await;
            assert_eq!(
                refused.map_err(|e| e.exit_code()).err(),
                Some(3),
                "{path}: {read}"
            );
            planned += 1;
            continue;
        }
        let printed = unthrottle(&aws, &stores, &args)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let reports: Vec<Value> =
            serde_json::from_str(&printed).unwrap_or_else(|e| panic!("{path}: {e}: {printed}"));
        let report = &reports[0];
        match read.strip_prefix("skip:") {
            Some(code) => assert_eq!(report["code"], code, "{path}: {report}"),
            None => {
                // `orders/by-customer:r` is the table's index: the report names the table.
                let resource = read.split([':', '/']).next().unwrap_or(read);
                assert_eq!(report["resource"], resource, "{path}: {report}");
                assert!(
                    ["planned", "diagnosed", "skipped", "failed"]
                        .contains(&report["outcome"].as_str().unwrap_or("")),
                    "{path}: {report}"
                );
                assert!(
                    report["snapshot"].is_null(),
                    "{path}: a plan takes no snapshot: {report}"
                );
            }
        }
        planned += 1;
    }
    assert!(planned >= 30, "planned {planned} samples");
    aws.assert_nothing_written(&stores).await;
}

/// A real remediation, then `history`: the change with its before, after and snapshot, and
/// the claim its incident holds, newest first; as a table and as JSON.
#[tokio::test]
async fn history_lists_a_remediation_with_its_snapshot_and_claim() {
    let world = World::<DynamoDb>::new(("dynamodb", "orders"), &[]).await;
    world.aws.create_table(&world.name, 5, 5, &[]).await;
    let now = chrono::Utc::now();
    let report = world
        .run(world.event_at("cloudtrail-putitem-throttled.json", now), now)
        .await;
    assert_eq!(
        report.outcome,
        unthrottle::core::report::Outcome::Remediated,
        "{report:?}"
    );

    let json = unthrottle(
        &world.aws,
        &world.stores,
        &[&["history", &world.name, "--json"][..], &HOME[..]].concat(),
    )
    .await
    .unwrap();
    let rows: Vec<Value> = serde_json::from_str(&json).unwrap();
    let kinds: Vec<&str> = rows.iter().filter_map(|row| row["kind"].as_str()).collect();
    assert_eq!(kinds, ["claimed", "change"], "{json}");
    let change = &rows[1];
    assert_eq!(change["resource"], format!("dynamodb/{}", world.name));
    assert_eq!(change["action"], report.action.as_ref().unwrap().name());
    assert_eq!(
        change["snapshot"],
        report.snapshot.clone().unwrap(),
        "what rollback restores from"
    );
    assert_eq!(change["before"], report.before.clone().unwrap());
    assert_eq!(change["after"], report.after.clone().unwrap());

    let table = unthrottle(
        &world.aws,
        &world.stores,
        &[&["history", &world.name][..], &HOME[..]].concat(),
    )
    .await
    .unwrap();
    let snapshot = report.snapshot.as_deref().unwrap();
    assert!(
        table
            .lines()
            .any(|line| line.contains(" change ") && line.contains(snapshot)),
        "a change row with its snapshot: {table}"
    );
    assert!(table.lines().any(|line| line.contains(" claimed ")), "{table}");

    // Another account's history is empty: nothing of this one leaks into it.
    let elsewhere = unthrottle(
        &world.aws,
        &world.stores,
        &[
            "history",
            &world.name,
            "--account",
            "999999999999",
            "--region",
            "us-east-1",
        ],
    )
    .await
    .unwrap();
    assert!(elsewhere.starts_with("no changes"), "{elsewhere}");
}

/// The documented exit codes: a usage error 2, an unreadable event 3, AWS failing 1.
#[tokio::test]
async fn failures_exit_with_their_documented_codes() {
    let aws = Emulators::connect().await.expect("emulators running");
    let stores = aws.stores().await;
    let code = |result: Result<String, Failure>| result.map(|_| 0).unwrap_or_else(|e| e.exit_code());

    let missing = unthrottle(
        &aws,
        &stores,
        &[&["plan", "--event", "/nonexistent.json"][..], &HOME[..]].concat(),
    )
    .await;
    assert_eq!(code(missing), 2);

    let dir = std::env::temp_dir().join(integration_tests::unique("cli"));
    std::fs::create_dir_all(&dir).unwrap();
    let not_json = dir.join("not-json.json");
    std::fs::write(&not_json, "{ not json").unwrap();
    let unreadable = unthrottle(
        &aws,
        &stores,
        &[&["plan", "--event", not_json.to_str().unwrap()][..], &HOME[..]].concat(),
    )
    .await;
    assert_eq!(code(unreadable), 3);
    let no_envelope = dir.join("no-envelope.json");
    std::fs::write(&no_envelope, "{\"detail\": {}}").unwrap();
    let unreadable = unthrottle(
        &aws,
        &stores,
        &[&["plan", "--event", no_envelope.to_str().unwrap()][..], &HOME[..]].concat(),
    )
    .await;
    assert_eq!(code(unreadable), 3);

    let bad_flag = unthrottle(&aws, &stores, &["plan", "--no-such-flag"]).await;
    assert_eq!(code(bad_flag), 2);

    let gone = Stores {
        ledger: stores.ledger.clone(),
        bucket: integration_tests::unique("missing-bucket"),
    };
    let failed = unthrottle(&aws, &gone, &[&["history"][..], &HOME[..]].concat()).await;
    assert_eq!(code(failed), 1, "a bucket that does not exist is AWS's answer");
}

/// What a person reads, as text (insta snapshots in tests/tests/snapshots/).
#[tokio::test]
async fn plan_prints_an_aligned_table_and_each_reason() {
    let aws = Emulators::connect().await.expect("emulators running");
    let stores = aws.stores().await;
    let file = events_dir().join("api/cloudtrail-iam-getrole-throttled.json");
    let text = unthrottle(
        &aws,
        &stores,
        &[&["plan", "--event", file.to_str().unwrap()][..], &HOME[..]].concat(),
    )
    .await
    .unwrap();
    insta::assert_snapshot!("plan_iam_getrole", text);
}

#[test]
fn history_prints_an_aligned_table_and_what_the_ledger_says() {
    use chrono::TimeZone;
    use unthrottle::cli::history::{Kind, Row};
    let at = |h| chrono::Utc.with_ymd_and_hms(2026, 11, 20, h, 15, 0).unwrap();
    let rows = [
        Row {
            at: at(11),
            kind: Kind::Claimed,
            resource: "dynamodb/orders".into(),
            action: None,
            before: None,
            after: None,
            detail: "held by event evt-2 until 2026-11-20T11:20:00+00:00".into(),
            snapshot: None,
        },
        Row {
            at: at(10),
            kind: Kind::Change,
            resource: "dynamodb/orders".into(),
            action: Some("ScaleCapacity".into()),
            before: Some(serde_json::json!({"write": 5})),
            after: Some(serde_json::json!({"write": 10})),
            detail: "throttled".into(),
            snapshot: Some(
                "s3://snaps/snapshots/dynamodb/123456789012/us-east-1/orders/20261120T101500.000Z-evt-1.json"
                    .into(),
            ),
        },
    ];
    let mut out = Vec::new();
    unthrottle::cli::render::history(&mut out, &rows, false, false).unwrap();
    insta::assert_snapshot!("history_table", String::from_utf8(out).unwrap());
}

/// A remediation made ten minutes ago: its claim has ended, so a rollback may take it.
async fn remediated_earlier<S: unthrottle::adapters::Deploy>(
    world: &World<S>,
    sample: &str,
) -> unthrottle::core::report::Report {
    let then = chrono::Utc::now() - chrono::Duration::minutes(10);
    let report = world.run(world.event_at(sample, then), then).await;
    assert_eq!(
        report.outcome,
        unthrottle::core::report::Outcome::Remediated,
        "{report:?}"
    );
    report
}

/// Remediate a table and a stream, then roll each back from its snapshot: the original
/// values again, the replaced state snapshotted first, the rollback in the history.
#[tokio::test]
async fn rollback_restores_a_table_and_a_stream_from_their_snapshots() {
    let tables = World::<DynamoDb>::new(("dynamodb", "orders"), &[]).await;
    tables.aws.create_table(&tables.name, 5, 5, &[]).await;
    let report = remediated_earlier(&tables, "cloudtrail-putitem-throttled.json").await;
    let raised = tables.aws.wait_active(&tables.name).await;
    assert_eq!(
        raised.provisioned_throughput().unwrap().write_capacity_units(),
        Some(10)
    );

    let snapshot = report.snapshot.clone().unwrap();
    let planned = unthrottle(
        &tables.aws,
        &tables.stores,
        &[&["rollback", &snapshot, "--dry-run"][..], &HOME[..]].concat(),
    )
    .await
    .expect("a dry run");
    assert!(planned.contains("would restore"), "{planned}");
    let untouched = tables.aws.describe(&tables.name).await;
    assert_eq!(
        untouched.provisioned_throughput().unwrap().write_capacity_units(),
        Some(10)
    );
    assert_eq!(
        tables.aws.object_keys(&tables.stores.bucket).await.len(),
        1,
        "a dry run writes nothing"
    );

    let printed = unthrottle(
        &tables.aws,
        &tables.stores,
        &[&["rollback", &snapshot][..], &HOME[..]].concat(),
    )
    .await
    .expect("rolled back");
    assert!(printed.contains("restored"), "{printed}");
    let restored = tables.aws.wait_active(&tables.name).await;
    let throughput = restored.provisioned_throughput().unwrap();
    assert_eq!(
        (
            throughput.read_capacity_units(),
            throughput.write_capacity_units()
        ),
        (Some(5), Some(5))
    );
    let objects = tables.aws.object_keys(&tables.stores.bucket).await;
    assert_eq!(
        objects.len(),
        2,
        "the remediation's snapshot and the rollback's: {objects:?}"
    );
    let kept = objects
        .iter()
        .find(|key| key.ends_with("-rollback.json"))
        .expect("the rollback's snapshot");
    let replaced = tables.aws.object_json(&tables.stores.bucket, kept).await;
    assert_eq!(
        replaced["describe"]["Table"]["ProvisionedThroughput"]["WriteCapacityUnits"],
        10
    );
    let history = unthrottle(
        &tables.aws,
        &tables.stores,
        &[&["history", &tables.name, "--json"][..], &HOME[..]].concat(),
    )
    .await
    .unwrap();
    let rows: Vec<Value> = serde_json::from_str(&history).unwrap();
    let changes: Vec<&Value> = rows.iter().filter(|row| row["kind"] == "change").collect();
    assert_eq!(changes[0]["action"], "Rollback", "newest first: {history}");
    assert_eq!(changes[1]["snapshot"], snapshot.as_str());
    assert_eq!(
        rows[0]["kind"], "claimed",
        "the rollback holds the claim for a cooldown: {history}"
    );

    // Nothing left to restore: a second rollback changes nothing.
    let again = unthrottle(
        &tables.aws,
        &tables.stores,
        &[&["rollback", &snapshot][..], &HOME[..]].concat(),
    )
    .await
    .unwrap();
    assert!(again.contains("nothing to restore"), "{again}");
    assert_eq!(tables.aws.object_keys(&tables.stores.bucket).await.len(), 2);

    let streams = World::<Kinesis>::new(("kinesis", "clickstream"), &[]).await;
    streams.aws.create_stream(&streams.name, 2).await;
    let report = remediated_earlier(&streams, "cloudtrail-putrecord-throttled.json").await;
    assert_eq!(streams.aws.wait_stream_active(&streams.name).await.open_shards, 4);
    let planned = unthrottle(
        &streams.aws,
        &streams.stores,
        &[
            &["rollback", report.snapshot.as_deref().unwrap(), "--dry-run"][..],
            &HOME[..],
        ]
        .concat(),
    )
    .await
    .expect("a dry run of a stream exits 0");
    assert!(planned.contains("would restore"), "{planned}");
    assert_eq!(streams.aws.wait_stream_active(&streams.name).await.open_shards, 4);
    unthrottle(
        &streams.aws,
        &streams.stores,
        &[&["rollback", report.snapshot.as_deref().unwrap()][..], &HOME[..]].concat(),
    )
    .await
    .expect("4 -> 2 is one halving");
    assert_eq!(streams.aws.wait_stream_active(&streams.name).await.open_shards, 2);
}

async fn attempt(world: &World<DynamoDb>, args: &[&str]) -> Result<String, Failure> {
    unthrottle(&world.aws, &world.stores, args).await
}

/// While a remediation holds the claim, a rollback refuses (exit 6, naming the holder); a
/// missing, corrupt, foreign or other-bucket snapshot fails (exit 5); credentials of
/// another account are refused (exit 2). None of them changes the table.
#[tokio::test]
async fn rollback_refuses_what_it_must_and_changes_nothing_then() {
    let world = World::<DynamoDb>::new(("dynamodb", "orders"), &[]).await;
    world.aws.create_table(&world.name, 5, 5, &[]).await;
    let now = chrono::Utc::now();
    let report = world
        .run(world.event_at("cloudtrail-putitem-throttled.json", now), now)
        .await;
    assert_eq!(
        report.outcome,
        unthrottle::core::report::Outcome::Remediated,
        "{report:?}"
    );
    world.aws.wait_active(&world.name).await;
    let snapshot = report.snapshot.clone().unwrap();
    let write_capacity = || async {
        world
            .aws
            .describe(&world.name)
            .await
            .provisioned_throughput()
            .unwrap()
            .write_capacity_units()
    };

    // Twice: a run again must not pass where the first was refused.
    let first = attempt(&world, &[&["rollback", &snapshot][..], &HOME[..]].concat())
        .await
        .unwrap_err();
    assert_eq!(first.exit_code(), 6, "{first}");
    let held = attempt(&world, &[&["rollback", &snapshot][..], &HOME[..]].concat())
        .await
        .unwrap_err();
    assert_eq!(held.exit_code(), 6, "{held}");
    assert!(
        held.to_string().contains(report.event_id.as_deref().unwrap()),
        "names the holder: {held}"
    );

    let dry = attempt(
        &world,
        &[&["rollback", &snapshot, "--dry-run"][..], &HOME[..]].concat(),
    )
    .await
    .unwrap_err();
    assert_eq!(dry.exit_code(), 6, "a dry run says so too: {dry}");

    let bucket = &world.stores.bucket;
    let other_bucket = snapshot.replacen(bucket.as_str(), "someone-elses-bucket", 1);
    let elsewhere = attempt(&world, &[&["rollback", &other_bucket][..], &HOME[..]].concat())
        .await
        .unwrap_err();
    assert_eq!(
        elsewhere.exit_code(),
        5,
        "only the deployment's bucket: {elsewhere}"
    );
    let missing = format!("s3://{bucket}/snapshots/dynamodb/nothing-here.json");
    assert_eq!(
        attempt(&world, &[&["rollback", &missing][..], &HOME[..]].concat())
            .await
            .unwrap_err()
            .exit_code(),
        5
    );

    world
        .aws
        .s3
        .put_object()
        .bucket(bucket)
        .key("snapshots/not-ours.json")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(
            b"{\"hello\": \"world\"}",
        ))
        .send()
        .await
        .unwrap();
    let corrupt = format!("s3://{bucket}/snapshots/not-ours.json");
    let refused = attempt(&world, &[&["rollback", &corrupt][..], &HOME[..]].concat())
        .await
        .unwrap_err();
    assert_eq!(refused.exit_code(), 5, "{refused}");

    let foreign = attempt(
        &world,
        &[
            "rollback",
            &snapshot,
            "--account",
            "123456789012",
            "--region",
            "eu-west-1",
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(foreign.exit_code(), 5, "a snapshot of another region: {foreign}");
    assert!(foreign.to_string().contains("us-east-1"), "{foreign}");
    let not_these_credentials = attempt(
        &world,
        &[
            "rollback",
            &snapshot,
            "--account",
            "999999999999",
            "--region",
            "us-east-1",
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(not_these_credentials.exit_code(), 2, "{not_these_credentials}");

    assert_eq!(write_capacity().await, Some(10), "nothing rolled back");
    assert_eq!(
        world.aws.object_keys(bucket).await.len(),
        2,
        "the remediation's snapshot and the planted one only"
    );
}

/// A person changed the table since unthrottle's change: a rollback would undo theirs too,
/// so it refuses (exit 9) and changes nothing; `--force` restores anyway.
#[tokio::test]
async fn rollback_refuses_a_table_changed_since_unless_forced() {
    let world = World::<DynamoDb>::new(("dynamodb", "orders"), &[]).await;
    world.aws.create_table(&world.name, 5, 5, &[]).await;
    let report = remediated_earlier(&world, "cloudtrail-putitem-throttled.json").await;
    world.aws.wait_active(&world.name).await;
    world
        .aws
        .dynamodb
        .update_table()
        .table_name(&world.name)
        .provisioned_throughput(integration_tests::throughput(5, 20))
        .send()
        .await
        .unwrap();
    world.aws.wait_active(&world.name).await;
    let snapshot = report.snapshot.unwrap();
    let drifted = attempt(&world, &[&["rollback", &snapshot][..], &HOME[..]].concat())
        .await
        .unwrap_err();
    assert_eq!(drifted.exit_code(), 9, "{drifted}");
    let write = || async {
        world
            .aws
            .describe(&world.name)
            .await
            .provisioned_throughput()
            .unwrap()
            .write_capacity_units()
    };
    assert_eq!(write().await, Some(20), "the person's change stands");
    assert_eq!(
        world.aws.object_keys(&world.stores.bucket).await.len(),
        1,
        "nothing written"
    );

    attempt(
        &world,
        &[&["rollback", &snapshot, "--force"][..], &HOME[..]].concat(),
    )
    .await
    .expect("forced");
    world.aws.wait_active(&world.name).await;
    assert_eq!(write().await, Some(5));
}

/// A switch to on-demand (dynalite) and an auto-scaling floor (moto's Application Auto
/// Scaling), each remediated and rolled back from its snapshot.
#[tokio::test]
async fn rollback_switches_a_table_back_and_lowers_an_auto_scaling_floor() {
    let switched = World::<DynamoDb>::new(
        ("dynamodb", "orders"),
        &[("ON_DEMAND", "allow"), ("MAX_WRITE_CAPACITY", "5")],
    )
    .await;
    switched.aws.create_table(&switched.name, 5, 5, &[]).await;
    let report = remediated_earlier(&switched, "cloudtrail-putitem-throttled.json").await;
    assert_eq!(report.action.as_ref().unwrap().name(), "SwitchToOnDemand");
    let on_demand = switched.aws.wait_active(&switched.name).await;
    assert_eq!(
        on_demand
            .billing_mode_summary()
            .and_then(|s| s.billing_mode())
            .map(|m| m.as_str()),
        Some("PAY_PER_REQUEST")
    );
    unthrottle(
        &switched.aws,
        &switched.stores,
        &[&["rollback", report.snapshot.as_deref().unwrap()][..], &HOME[..]].concat(),
    )
    .await
    .expect("switched back");
    let back = switched.aws.wait_active(&switched.name).await;
    assert_eq!(
        back.billing_mode_summary()
            .and_then(|s| s.billing_mode())
            .map(|m| m.as_str()),
        Some("PROVISIONED")
    );
    let throughput = back.provisioned_throughput().unwrap();
    assert_eq!(
        (
            throughput.read_capacity_units(),
            throughput.write_capacity_units()
        ),
        (Some(5), Some(5)),
        "at the capacities the snapshot held"
    );

    let scaled = World::<DynamoDb>::new(("dynamodb", "inventory"), &[]).await;
    scaled.aws.create_table(&scaled.name, 5, 5, &[]).await;
    scaled.aws.auto_scale_writes(&scaled.name, 5, 50).await;
    let bounds = || scaled.aws.scaling_bounds(&scaled.name);
    let raised = remediated_earlier(&scaled, "alarm-write-provisioned-throttle-auto-scaled.json").await;
    assert_eq!(bounds().await, [(10, 50)]);
    unthrottle(
        &scaled.aws,
        &scaled.stores,
        &[&["rollback", raised.snapshot.as_deref().unwrap()][..], &HOME[..]].concat(),
    )
    .await
    .expect("floor lowered");
    assert_eq!(
        bounds().await,
        [(5, 50)],
        "the floor it replaced, the ceiling kept"
    );
}

/// On-demand maximums: dynalite lacks `OnDemandThroughput`, so DynamoDB is aws-smithy-mocks
/// here; the snapshot, the bucket and the ledger are the emulators'.
#[tokio::test]
async fn rollback_sets_on_demand_maximums_back() {
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use integration_tests::mocks::http;
    use unthrottle::cli::rollback::{Options, rollback_through};

    let aws = Emulators::connect().await.expect("emulators running");
    let stores = aws.stores().await;
    let taken = chrono::Utc::now() - chrono::Duration::hours(1);
    let resource = unthrottle::core::domain::ResourceRef {
        service: DynamoDb::ID,
        account: "123456789012".into(),
        region: "us-east-1".into(),
        name: "orders".into(),
    };
    let key = unthrottle::core::snapshot::key(&resource, taken, "event-1");
    let document = serde_json::json!({
        "schema": unthrottle::core::snapshot::SCHEMA,
        "service": "dynamodb", "account": "123456789012", "region": "us-east-1", "name": "orders",
        "takenAt": taken,
        "plan": {
            "action": "RaiseOnDemandMaximum",
            "change": {"raiseOnDemandMax": {"read": 100, "write": 400}},
            "before": {"onDemandMax": {"read": 100, "write": 200}},
            "after": {"onDemandMax": {"read": 100, "write": 400}},
            "why": "write throttled at its on-demand maximum",
        },
        "describe": {},
    });
    aws.s3
        .put_object()
        .bucket(&stores.bucket)
        .key(&key)
        .body(serde_json::to_vec(&document).unwrap().into())
        .send()
        .await
        .expect("PutObject");

    let on_demand = |write: i64| {
        move || {
            http(
                200,
                serde_json::json!({"Table": {
                    "TableName": "orders",
                    "TableArn": "arn:aws:dynamodb:us-east-1:123456789012:table/orders",
                    "TableStatus": "ACTIVE",
                    "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
                    "ProvisionedThroughput": {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0, "NumberOfDecreasesToday": 0},
                    "OnDemandThroughput": {"MaxReadRequestUnits": 100, "MaxWriteRequestUnits": write},
                }}),
            )
        }
    };
    let describe = mock!(aws_sdk_dynamodb::Client::describe_table).then_http_response(on_demand(400));
    let tags = mock!(aws_sdk_dynamodb::Client::list_tags_of_resource)
        .then_http_response(|| http(200, serde_json::json!({"Tags": []})));
    let update = mock!(aws_sdk_dynamodb::Client::update_table)
        .match_requests(|request| {
            request
                .on_demand_throughput()
                .map(|t| (t.max_read_request_units(), t.max_write_request_units()))
                == Some((Some(100), Some(200)))
        })
        .then_http_response(on_demand(200));
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&describe, &tags, &update]);
    let tables = integration_tests::mocks::tables(client);

    let vars = stores.env(&[("S3_FORCE_PATH_STYLE", "true")]);
    let env = Env::from_fn(|key| vars.get(key).cloned());
    let core = unthrottle::core::config::CoreSettings::from_env(&env).unwrap();
    let home = unthrottle::cli::Home {
        scope: unthrottle::core::envelope::Scope {
            account: "123456789012".into(),
            region: "us-east-1".into(),
        },
    };
    let uri = format!("s3://{}/{key}", stores.bucket);
    let streams = unthrottle::kinesis::SdkStreams::new(
        aws_sdk_kinesis::Client::new(&aws.sdk),
        aws_sdk_cloudwatch::Client::new(&aws.sdk),
    );
    let settings = unthrottle::api::SdkSettings::new(aws_sdk_ssm::Client::new(&aws.sdk));
    let done = rollback_through(
        &uri,
        &home,
        &core,
        &aws.sdk,
        Options::default(),
        &tables,
        &streams,
        &settings,
    )
    .await
    .expect("rolled back");
    assert_eq!(
        update.num_calls(),
        1,
        "one UpdateTable with the maximums it replaced"
    );
    assert_eq!(
        done.after,
        serde_json::json!({"onDemandMax": {"read": 100, "write": 200}})
    );
    assert!(done.snapshot.is_some(), "the replaced state kept first");
    assert_eq!(aws.object_keys(&stores.bucket).await.len(), 2);
}
