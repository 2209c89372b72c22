//! `make demo`'s steps around two real invokes:
//! - `demo setup`: a fresh provisioned table `orders` (5 RCU / 5 WCU, GSI `by-customer`), a
//!   fresh 2-shard stream `clickstream`, the ledger table and the snapshot bucket;
//! - `demo report-finding RESULT_FILE`: a hot key diagnosed, and the table left as it was;
//! - `demo report-api RESULT_FILE`: a KMS throttle named with its case, caller and advice;
//! - `demo report-table RESULT_FILE` / `demo report-stream RESULT_FILE`: what the function
//!   changed and what it saved.

use integration_tests::Emulators;
use serde_json::Value;

const TABLE: &str = "orders";
const STREAM: &str = "clickstream";
pub const LEDGER: &str = "unthrottle-demo-ledger";
pub const BUCKET: &str = "unthrottle-demo-snapshots";

async fn setup(aws: &Emulators) {
    // A fresh start each run: a table scaled by an earlier demo would not show 5 -> 10.
    for table in [TABLE, LEDGER] {
        if aws.dynamodb.delete_table().table_name(table).send().await.is_ok() {
            while aws
                .dynamodb
                .describe_table()
                .table_name(table)
                .send()
                .await
                .is_ok()
            {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
    if aws
        .kinesis
        .delete_stream()
        .stream_name(STREAM)
        .send()
        .await
        .is_ok()
    {
        while aws
            .kinesis
            .describe_stream_summary()
            .stream_name(STREAM)
            .send()
            .await
            .is_ok()
        {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    aws.create_table(TABLE, 5, 5, &[("by-customer", 5, 5)]).await;
    aws.create_stream(STREAM, 2).await;
    aws.create_ledger(LEDGER).await;
    if aws.s3.head_bucket().bucket(BUCKET).send().await.is_err() {
        aws.create_bucket(BUCKET).await;
    }
    println!(
        "demo: table {TABLE} (5 RCU / 5 WCU, GSI by-customer), stream {STREAM} (2 shards), ledger {LEDGER}, bucket {BUCKET} ready"
    );
}

/// The function's single result, printed.
fn result(result_file: &str) -> Result<Value, String> {
    let text = std::fs::read_to_string(result_file).map_err(|e| format!("{result_file}: {e}"))?;
    let reports: Vec<Value> = serde_json::from_str(&text).map_err(|e| format!("{result_file}: {e}"))?;
    let report = reports
        .into_iter()
        .next()
        .ok_or("the function returned no result")?;
    println!(
        "demo: outcome {} ({})",
        report["outcome"],
        report["reason"].as_str().unwrap_or_default()
    );
    Ok(report)
}

/// A hot key: diagnosed, the table's capacity as it was, nothing snapshotted.
async fn report_finding(aws: &Emulators, result_file: &str) -> Result<(), String> {
    let report = result(result_file)?;
    if report["outcome"] != "diagnosed" || report["code"] != "hot-partition" {
        return Err(format!("{} was not diagnosed as a hot key", report["resource"]));
    }
    let table = aws.describe(TABLE).await;
    let now = table.provisioned_throughput().ok_or("no throughput")?;
    let (read, write) = (
        now.read_capacity_units().unwrap_or_default(),
        now.write_capacity_units().unwrap_or_default(),
    );
    if (read, write) != (5, 5) {
        return Err(format!("a hot key changed {TABLE} to {read} RCU / {write} WCU"));
    }
    let event_id = report["eventId"].as_str().ok_or("no eventId in the result")?;
    let snapshots: Vec<String> = aws
        .object_keys(BUCKET)
        .await
        .into_iter()
        .filter(|key| key.contains(event_id))
        .collect();
    if !snapshots.is_empty() {
        return Err(format!("a hot key left snapshots: {snapshots:?}"));
    }
    println!(
        "demo: table {TABLE} left at {read} RCU / {write} WCU, no snapshot: more capacity cannot fix a hot key"
    );
    Ok(())
}

/// An API throttle: diagnosed with its case, top caller, advice and quota; nothing changed.
fn report_api(result_file: &str) -> Result<(), String> {
    let report = result(result_file)?;
    if report["outcome"] != "diagnosed" || report["snapshot"] != Value::Null {
        return Err(format!("{} was not only diagnosed", report["resource"]));
    }
    let caller = report
        .pointer("/evidence/evidence/top/0/caller")
        .and_then(Value::as_str)
        .ok_or("no caller counted in the result")?;
    println!(
        "demo: {} throttled: case {}, top caller {caller}, advice {}, quota {}",
        report["resource"].as_str().unwrap_or_default(),
        report["code"].as_str().unwrap_or_default(),
        report["advice"].as_str().unwrap_or_default(),
        report["quota"]["quotaCode"].as_str().unwrap_or("none"),
    );
    Ok(())
}

/// The function's single result, which must be `remediated`, and its snapshot.
async fn remediated(aws: &Emulators, result_file: &str) -> Result<(String, Value), String> {
    let report = result(result_file)?;
    if report["outcome"] != "remediated" {
        return Err(format!("{} was not remediated", report["resource"]));
    }
    let location = report["snapshot"].as_str().ok_or("no snapshot in the result")?;
    let key = location
        .strip_prefix(&format!("s3://{BUCKET}/"))
        .ok_or_else(|| format!("snapshot {location} is not in {BUCKET}"))?;
    Ok((location.to_owned(), aws.object_json(BUCKET, key).await))
}

async fn report_table(aws: &Emulators, result_file: &str) -> Result<(), String> {
    let (location, snapshot) = remediated(aws, result_file).await?;
    let table = aws.wait_active(TABLE).await;
    let now = table.provisioned_throughput().ok_or("no throughput")?;
    let before = &snapshot["describe"]["Table"]["ProvisionedThroughput"];
    println!(
        "demo: table {TABLE} write capacity {} -> {}, read capacity {} -> {}",
        before["WriteCapacityUnits"],
        now.write_capacity_units().unwrap_or_default(),
        before["ReadCapacityUnits"],
        now.read_capacity_units().unwrap_or_default(),
    );
    println!("demo: snapshot {location} (holds the pre-change DescribeTable output)");
    Ok(())
}

async fn report_stream(aws: &Emulators, result_file: &str) -> Result<(), String> {
    let (location, snapshot) = remediated(aws, result_file).await?;
    let now = aws.wait_stream_active(STREAM).await;
    let before = &snapshot["describe"]["DescribeStreamSummary"]["StreamDescriptionSummary"]["OpenShardCount"];
    println!(
        "demo: stream {STREAM} open shards {before} -> {}",
        now.open_shards
    );
    println!("demo: snapshot {location} (holds the pre-change DescribeStreamSummary and open shard list)");
    Ok(())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match Emulators::connect().await {
        Ok(aws) => run(&aws, &args).await,
        Err(problem) => Err(problem),
    };
    if let Err(problem) = outcome {
        eprintln!("demo: {problem}");
        std::process::exit(1);
    }
}

async fn run(aws: &Emulators, args: &[String]) -> Result<(), String> {
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["setup"] => {
            setup(aws).await;
            Ok(())
        }
        ["report-finding", result_file] => report_finding(aws, result_file).await,
        ["report-table", result_file] => report_table(aws, result_file).await,
        ["report-stream", result_file] => report_stream(aws, result_file).await,
        ["report-api", result_file] => report_api(result_file),
        _ => Err(
            "usage: demo setup | demo report-finding RESULT_FILE | demo report-table RESULT_FILE | \
             demo report-stream RESULT_FILE | demo report-api RESULT_FILE"
                .into(),
        ),
    }
}
