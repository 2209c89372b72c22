//! Every sample in events/ is read by each function's trigger exactly as events/expected.json
//! says: the one table of expected outcomes, which the rule proof (tests/rules/test_rules.py)
//! reads too and events/README.md explains in prose. A sample without an entry there, or an
//! entry without a sample, fails the test, so the samples, the table and the code cannot drift
//! apart.

use std::path::Path;

use integration_tests::{events_dir, expected_outcomes};
use serde_json::Value;
use unthrottle::core::domain::Pressure;
use unthrottle::core::envelope::{Envelope, Triage, TriggerError};
use unthrottle::core::service::Service;
use unthrottle::dynamodb::TableTarget;
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

/// The table of expected outcomes, in events/ beside the samples; it is not a sample itself.
const EXPECTED: &str = integration_tests::EXPECTED_OUTCOMES;

/// The functions each entry's `reads` covers, named by their folder under functions/.
const FUNCTIONS: [&str; 3] = ["dynamodb-throttle", "kinesis-throttle", "api-throttle"];

/// What `function`'s trigger makes of `event`, as a one-line summary.
fn reading(function: &str, event: Value) -> String {
    match function {
        "dynamodb-throttle" => summary(
            Envelope::parse(event).and_then(|e| unthrottle::dynamodb::DynamoDb::triage(&e)),
            tables,
        ),
        "kinesis-throttle" => summary(
            Envelope::parse(event).and_then(|e| unthrottle::kinesis::Kinesis::triage(&e)),
            streams,
        ),
        "api-throttle" => summary(
            Envelope::parse(event).and_then(|e| unthrottle::api::Api::triage(&e)),
            |targets: &[unthrottle::api::ApiTarget]| {
                targets
                    .iter()
                    .map(|t| t.name.clone())
                    .collect::<Vec<_>>()
                    .join(" ")
            },
        ),
        other => panic!(
            "events/{EXPECTED} names a function {other:?} this test does not know: \
             add its trigger to `reading()` in tests/tests/events.rs (it knows {FUNCTIONS:?})"
        ),
    }
}

/// The path under events/ of every sample (every JSON file but the table itself).
fn samples(dir: &Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("events/ is readable") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            samples(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "json") {
            let relative = path.strip_prefix(events_dir()).expect("inside events/");
            let relative = relative.to_string_lossy().replace('\\', "/");
            if relative != EXPECTED {
                found.push(relative);
            }
        }
    }
}

#[test]
fn every_sample_event_is_read_as_expected_by_each_function() {
    let expected = expected_outcomes();
    let mut files = Vec::new();
    samples(&events_dir(), &mut files);
    files.sort();
    let mut listed: Vec<&str> = expected.keys().map(String::as_str).collect();
    listed.sort_unstable();
    assert_eq!(
        files, listed,
        "every file in events/ needs an entry in events/{EXPECTED}, and every entry a file"
    );

    let mut mismatches = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(events_dir().join(file)).expect("readable");
        let event: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file} is not JSON: {e}"));
        let reads = expected[file.as_str()]
            .get("reads")
            .and_then(Value::as_object)
            .unwrap_or_else(|| panic!("events/{EXPECTED}: {file} has no \"reads\" object"));
        for function in FUNCTIONS {
            assert!(
                reads.contains_key(function),
                "events/{EXPECTED}: the \"reads\" of {file} lack {function:?} (what its trigger reads)"
            );
        }
        for (function, want) in reads {
            let want = want.as_str().unwrap_or_else(|| {
                panic!("events/{EXPECTED}: {file}: reads.{function} must be a summary string")
            });
            let got = reading(function, event.clone());
            if got != want {
                mismatches.push(format!("{file}: {function} expected {want:?}, got {got:?}"));
            }
        }
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}

/// What api-throttle tells a human about each sample it reads (`"api"` in the table): the
/// case, the top caller, the advice id and the quota code, through the whole pipeline with
/// its callers counted in an in-memory ledger. Nothing is changed for any of them.
#[tokio::test]
async fn every_api_sample_names_its_case_caller_advice_and_quota() {
    use unthrottle::api::Api;
    use unthrottle::core::report::Outcome;
    use unthrottle::testing::{happened_at, in_memory, memory_apis};

    let expected = expected_outcomes();
    let mut checked = 0;
    let mut mismatches = Vec::new();
    for (file, outcome) in &expected {
        // Every sample api-throttle reads has an "api" expectation, and only those.
        let read = outcome["reads"]["api-throttle"].as_str().unwrap_or_default();
        let reads_it = !read.starts_with("skip:") && !read.starts_with("error:");
        assert_eq!(
            outcome.get("api").is_some(),
            reads_it,
            "events/{EXPECTED}: {file}: an \"api\" entry exactly when api-throttle reads it ({read})"
        );
        let Some(want) = outcome.get("api") else {
            continue;
        };
        let service = Api::from_env(&unthrottle::core::config::Env::from_fn(|_| None)).unwrap();
        let pipeline = in_memory(service, memory_apis());
        let now = chrono::Utc::now();
        let event = happened_at(integration_tests::sample(file), now);
        let reports = pipeline.handle(event, now).await.expect("readable");
        assert_eq!(reports.len(), 1, "{file}: {reports:?}");
        let report = &reports[0];
        let top_caller = report
            .evidence
            .as_ref()
            .and_then(|evidence| evidence.pointer("/evidence/top/0/caller"))
            .cloned()
            .unwrap_or(Value::Null);
        let got = serde_json::json!({
            "case": report.code,
            "caller": top_caller,
            "advice": report.advice,
            "quota": report.quota.map(|quota| quota.quota_code),
        });
        if report.outcome != Outcome::Diagnosed || &got != want {
            mismatches.push(format!(
                "{file}: expected {want}, got {got} ({:?}: {})",
                report.outcome, report.reason
            ));
        }
        assert!(
            pipeline.snapshots.objects().is_empty(),
            "{file}: nothing is changed"
        );
        checked += 1;
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
    assert!(
        checked >= 10,
        "only {checked} samples have an \"api\" expectation"
    );
}
