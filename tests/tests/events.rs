//! Every sample in events/ is read by each function's trigger exactly as documented in
//! events/README.md. A new sample without an expectation here fails the test, so the
//! samples and the code cannot drift apart.

use std::collections::BTreeMap;
use std::path::Path;

use integration_tests::events_dir;
use unthrottle::domain::Pressure;
use unthrottle::dynamodb::TableTarget;
use unthrottle::event::{Envelope, Triage, TriggerError};
use unthrottle::kinesis::StreamTarget;

fn side(pressure: Pressure) -> &'static str {
    match (pressure.read, pressure.write) {
        (true, true) => "rw",
        (true, false) => "r",
        (false, true) => "w",
        (false, false) => "-",
    }
}

/// A one-line summary: `orders:w`, `orders/by-customer:r`, `skip:not-throttle`, `error:...`.
fn summary<T>(result: Result<Triage<T>, TriggerError>, targets_of: impl Fn(&[T]) -> String) -> String {
    match result {
        Ok(Triage::Throttled { targets, .. }) => targets_of(&targets),
        Ok(Triage::Ignored { reason, .. }) => format!("skip:{}", reason.code()),
        Err(TriggerError::NotAnEvent(_)) => "error:not-an-event".into(),
        Err(TriggerError::BadDetail { .. }) => "error:bad-detail".into(),
        Err(TriggerError::NoResource { .. }) => "error:no-resource".into(),
    }
}

fn tables(targets: &[TableTarget]) -> String {
    targets
        .iter()
        .flat_map(|target| {
            let table =
                (target.on_table.any()).then(|| format!("{}:{}", target.table, side(target.on_table)));
            let indexes = target
                .on_indexes
                .iter()
                .map(move |(index, pressure)| format!("{}/{index}:{}", target.table, side(*pressure)));
            table.into_iter().chain(indexes)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn streams(targets: &[StreamTarget]) -> String {
    targets
        .iter()
        .map(|t| format!("{}:{}", t.stream, side(t.pressure)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn samples(dir: &Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("events/ is readable") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            samples(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "json") {
            let relative = path.strip_prefix(events_dir()).expect("inside events/");
            found.push(relative.to_string_lossy().replace('\\', "/"));
        }
    }
}

#[test]
fn every_sample_event_is_read_as_documented_by_each_function() {
    // file -> (what dynamodb-throttle reads, what kinesis-throttle reads)
    let expected: BTreeMap<&str, (&str, &str)> = BTreeMap::from([
        ("dynamodb/alarm-metric-math.json", ("orders:rw", "skip:not-ours")),
        (
            "dynamodb/alarm-ok-state.json",
            ("skip:not-throttle", "skip:not-throttle"),
        ),
        (
            "dynamodb/alarm-other-namespace.json",
            ("skip:not-ours", "skip:not-ours"),
        ),
        (
            "dynamodb/alarm-read-throttle-gsi.json",
            ("orders/by-customer:r", "skip:not-ours"),
        ),
        (
            "dynamodb/alarm-throttled-requests.json",
            ("orders:w", "skip:not-ours"),
        ),
        (
            "dynamodb/alarm-write-throttle-events.json",
            ("orders:w", "skip:not-ours"),
        ),
        (
            "dynamodb/cloudtrail-batchwriteitem-two-tables.json",
            ("orders:w customers:w", "skip:not-ours"),
        ),
        (
            "dynamodb/cloudtrail-conditional-check-failed.json",
            ("skip:not-throttle", "skip:not-ours"),
        ),
        (
            "dynamodb/cloudtrail-describetable-throttled.json",
            ("skip:control-plane", "skip:not-ours"),
        ),
        (
            "dynamodb/cloudtrail-getitem-throttled.json",
            ("orders:r", "skip:not-ours"),
        ),
        (
            "dynamodb/cloudtrail-putitem-success.json",
            ("skip:not-throttle", "skip:not-ours"),
        ),
        (
            "dynamodb/cloudtrail-putitem-throttled.json",
            ("orders:w", "skip:not-ours"),
        ),
        (
            "dynamodb/cloudtrail-query-gsi-throttled.json",
            ("orders/by-customer:r", "skip:not-ours"),
        ),
        (
            "dynamodb/cloudtrail-requestlimitexceeded.json",
            ("orders:w", "skip:not-ours"),
        ),
        (
            "dynamodb/cloudtrail-transactwriteitems-throttled.json",
            ("orders:w customers:w", "skip:not-ours"),
        ),
        (
            "dynamodb/cloudtrail-updateitem-table-arn.json",
            ("orders:w", "skip:not-ours"),
        ),
        (
            "kinesis/alarm-putrecords-throttled-records.json",
            ("skip:not-ours", "clickstream:w"),
        ),
        (
            "kinesis/alarm-read-provisioned-throughput-exceeded.json",
            ("skip:not-ours", "clickstream:r"),
        ),
        (
            "kinesis/alarm-write-provisioned-throughput-exceeded.json",
            ("skip:not-ours", "clickstream:w"),
        ),
        (
            "kinesis/cloudtrail-describestream-limit-exceeded.json",
            ("skip:not-ours", "skip:control-plane"),
        ),
        (
            "kinesis/cloudtrail-getrecords-throttled.json",
            ("skip:not-ours", "clickstream:r"),
        ),
        (
            "kinesis/cloudtrail-listshards-throttling.json",
            ("skip:not-ours", "skip:control-plane"),
        ),
        (
            "kinesis/cloudtrail-putrecord-throttled.json",
            ("skip:not-ours", "clickstream:w"),
        ),
        (
            "kinesis/cloudtrail-putrecords-stream-arn.json",
            ("skip:not-ours", "clickstream:w"),
        ),
        (
            "malformed/alarm-no-metrics.json",
            ("skip:not-ours", "skip:not-ours"),
        ),
        (
            "malformed/cloudtrail-missing-detail.json",
            ("error:bad-detail", "error:bad-detail"),
        ),
        (
            "malformed/cloudtrail-throttled-no-table.json",
            ("error:no-resource", "skip:not-ours"),
        ),
        (
            "malformed/not-an-eventbridge-event.json",
            ("error:not-an-event", "error:not-an-event"),
        ),
        (
            "other/cloudtrail-kms-throttling.json",
            ("skip:not-ours", "skip:not-ours"),
        ),
    ]);

    let mut files = Vec::new();
    samples(&events_dir(), &mut files);
    files.sort();
    let listed: Vec<&str> = expected.keys().copied().collect();
    assert_eq!(
        files, listed,
        "every file in events/ needs an expectation here, and every expectation a file"
    );

    let mut mismatches = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(events_dir().join(file)).expect("readable");
        let event: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file} is not JSON: {e}"));
        let got = (
            summary(
                Envelope::parse(event.clone()).and_then(|e| unthrottle::dynamodb::triage(&e)),
                tables,
            ),
            summary(
                Envelope::parse(event).and_then(|e| unthrottle::kinesis::triage(&e)),
                streams,
            ),
        );
        let want = expected[file.as_str()];
        if (got.0.as_str(), got.1.as_str()) != want {
            mismatches.push(format!("{file}: expected {want:?}, got {got:?}"));
        }
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}
