//! The real runtime path, as `make invoke` runs it: each function's binary under
//! `cargo lambda watch` (the Lambda Runtime API), the event sent with
//! `cargo lambda invoke --data-file`, against the emulators. One event per function.
//!
//! The binaries are built with the dev profile: the release profile would compile the AWS SDK
//! again, optimised, for no difference the Runtime API can see (docs/architecture.md, "Build
//! profile and CI time").

use std::path::PathBuf;
use std::process::Command;

use integration_tests::{Emulators, Stores, unique};
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `scripts/invoke.sh` and returns the handler's result (the last line of stdout).
fn invoke(function: &str, event: &Value, stores: &Stores) -> Value {
    let event_file = std::env::temp_dir().join(format!("{}.json", unique(function)));
    std::fs::write(&event_file, event.to_string()).expect("event file written");
    let output = invoke_script(function, &event_file)
        .envs(stores.env(&[("S3_FORCE_PATH_STYLE", "true")]))
        .output()
        .expect("invoke.sh runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "invoke.sh failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("last line is not the JSON result ({e}): {stdout}"))
}

/// `scripts/invoke.sh FUNCTION EVENT_FILE` on dev binaries, on a port the script chooses.
fn invoke_script(function: &str, event_file: &std::path::Path) -> Command {
    let mut command = Command::new("bash");
    command
        .arg(repo().join("scripts/invoke.sh"))
        .arg(function)
        .arg(event_file)
        .current_dir(repo())
        .env("UNTHROTTLE_INVOKE_PROFILE", "dev")
        .env_remove("UNTHROTTLE_INVOKE_PORT");
    command
}

fn sample(path: &str, sample_name: &str, name: &str) -> Value {
    integration_tests::sample_event(path, sample_name, name)
}

#[tokio::test]
async fn dynamodb_throttle_heals_a_table_through_the_lambda_runtime() {
    let aws = Emulators::connect().await.expect("emulators running");
    let stores = aws.stores().await;
    let table = unique("orders");
    aws.create_table(&table, 5, 5, &[]).await;

    let event = sample("dynamodb/cloudtrail-putitem-throttled.json", "orders", &table);
    let result = invoke("dynamodb-throttle", &event, &stores);

    assert_eq!(result[0]["outcome"], "remediated", "{result}");
    let throughput = aws
        .wait_active(&table)
        .await
        .provisioned_throughput
        .expect("throughput");
    assert_eq!(throughput.write_capacity_units, Some(10));
    assert_eq!(aws.object_keys(&stores.bucket).await.len(), 1, "one snapshot");
}

#[tokio::test]
async fn kinesis_throttle_heals_a_stream_through_the_lambda_runtime() {
    let aws = Emulators::connect().await.expect("emulators running");
    let stores = aws.stores().await;
    let stream = unique("clickstream");
    aws.create_stream(&stream, 2).await;

    let event = sample(
        "kinesis/cloudtrail-putrecord-throttled.json",
        "clickstream",
        &stream,
    );
    let result = invoke("kinesis-throttle", &event, &stores);

    assert_eq!(result[0]["outcome"], "remediated", "{result}");
    assert_eq!(aws.wait_stream_active(&stream).await.open_shards, 4);
    let keys = aws.object_keys(&stores.bucket).await;
    assert_eq!(keys.len(), 1, "one snapshot");
    let snapshot = aws.object_json(&stores.bucket, &keys[0]).await;
    assert_eq!(
        snapshot["describe"]["DescribeStreamSummary"]["StreamDescriptionSummary"]["OpenShardCount"],
        2
    );
}

/// `make invoke FUNCTION=api-throttle` on the STS sample: diagnosed through the runtime,
/// its caller counted in the emulated ledger, nothing written to the bucket.
#[tokio::test]
async fn api_throttle_names_the_case_and_caller_through_the_lambda_runtime() {
    let aws = Emulators::connect().await.expect("emulators running");
    let stores = aws.stores().await;
    let event = sample(
        "api/cloudtrail-sts-assumerole-global-endpoint.json",
        "unused",
        "unused",
    );
    let result = invoke("api-throttle", &event, &stores);

    assert_eq!(result[0]["outcome"], "diagnosed", "{result}");
    assert_eq!(result[0]["code"], "sts-global-endpoint");
    assert_eq!(result[0]["advice"], "use-regional-sts-endpoints");
    assert_eq!(
        result[0]["evidence"]["evidence"]["top"][0]["caller"],
        "arn:aws:iam::123456789012:role/ci-runner"
    );
    assert!(
        aws.object_keys(&stores.bucket).await.is_empty(),
        "nothing changed"
    );
}

#[test]
fn a_malformed_event_is_an_error_through_the_runtime_not_a_crash() {
    let event_file = repo().join("events/malformed/not-an-eventbridge-event.json");
    let output = invoke_script("dynamodb-throttle", &event_file)
        .envs([("SNAPSHOT_BUCKET", "unused"), ("LEDGER_TABLE", "unused")])
        .output()
        .expect("invoke.sh runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the handler's error fails the invoke");
    assert!(stderr.contains("not an EventBridge event"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
