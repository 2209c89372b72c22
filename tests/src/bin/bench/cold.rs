//! Cold starts: each function's release binary started afresh for every event, under the
//! minimal Runtime API of tests/src/servers.rs, against the emulators; interleaved round by
//! round with the probe (tests/probe), so a slow moment of the machine lands on every row.

use std::path::PathBuf;

use integration_tests::servers::{Start, cold_start};
use integration_tests::{Emulators, Stores, sample_event, unique};
use serde_json::{Value, json};

/// Cold starts per row.
pub const STARTS: usize = 30;

/// What one row of the cold-start table started, and on what.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Case {
    TableRemediation,
    TableDuplicate,
    StreamRemediation,
    StreamDuplicate,
    ApiDiagnosis,
    ApiDuplicate,
    RestoreSweep,
    Probe,
}

impl Case {
    pub const ALL: [Case; 8] = [
        Case::Probe,
        Case::TableRemediation,
        Case::TableDuplicate,
        Case::StreamRemediation,
        Case::StreamDuplicate,
        Case::ApiDiagnosis,
        Case::ApiDuplicate,
        Case::RestoreSweep,
    ];

    pub fn function(self) -> &'static str {
        match self {
            Case::TableRemediation | Case::TableDuplicate => "dynamodb-throttle",
            Case::StreamRemediation | Case::StreamDuplicate => "kinesis-throttle",
            Case::ApiDiagnosis | Case::ApiDuplicate => "api-throttle",
            Case::RestoreSweep => "restore",
            Case::Probe => "probe",
        }
    }

    pub fn event(self) -> &'static str {
        match self {
            Case::TableRemediation | Case::StreamRemediation => "remediation",
            Case::TableDuplicate | Case::StreamDuplicate | Case::ApiDuplicate => "duplicate delivery",
            Case::ApiDiagnosis => "KMS throttle, diagnosed",
            Case::RestoreSweep => "hourly sweep, the rows' resources in cooldown",
            Case::Probe => "one DescribeTable",
        }
    }

    /// The warm events handed to a start after its own, and what each must end as: the same
    /// event again and, where a cooldown follows, another event of the incident.
    pub fn warm(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Case::TableRemediation | Case::StreamRemediation => &WARM_REPEATS,
            Case::ApiDiagnosis => &WARM_REPEATS[..1],
            _ => &[],
        }
    }

    /// The outcome a start of this case must report, or the bench fails: a figure for a
    /// function that did not do its job would be a wrong figure.
    fn expected(self) -> Option<&'static str> {
        match self {
            Case::TableRemediation | Case::StreamRemediation => Some("remediated"),
            Case::TableDuplicate | Case::StreamDuplicate | Case::ApiDuplicate => Some("skipped duplicate"),
            Case::ApiDiagnosis => Some("diagnosed kms-request-quota"),
            // Every row's resource was raised seconds before, in this round or an earlier one.
            Case::RestoreSweep => Some("skipped cooling-down"),
            Case::Probe => None,
        }
    }
}

pub struct Row {
    pub case: Case,
    pub outcome: String,
    pub starts: Vec<Start>,
}

pub fn binary(function: &str) -> PathBuf {
    // Where cargo put it: CARGO_TARGET_DIR when set (as for the build), else the workspace's.
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("release")
        .join(function)
}

/// `event` as a new delivery: its own event id, so nothing takes it for a repeat.
pub fn fresh(mut event: Value, round: usize) -> Value {
    let id = unique(&format!("bench-{round}"));
    event["id"] = json!(id);
    if event["detail"]["eventID"].is_string() {
        event["detail"]["eventID"] = json!(format!("{id}-record"));
    }
    unthrottle::testing::happened_at(event, chrono::Utc::now())
}

/// Every AWS setting of this process (the emulators' endpoints, the stub's, credentials,
/// region) and the functions' stores: what each started binary sees, and nothing else.
pub fn environment(stores: &Stores) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = std::env::vars()
        .filter(|(name, _)| name.starts_with("AWS_") && !name.starts_with("AWS_LAMBDA_"))
        .collect();
    env.extend(stores.env(&[
        ("S3_FORCE_PATH_STYLE", "true"),
        // The samples' clocks are rewritten to now; a start must never be skipped as late.
        ("MAX_EVENT_AGE_SECONDS", "0"),
    ]));
    env
}

pub fn outcome(result: &Result<Value, Value>) -> String {
    match result {
        Ok(value) => {
            let first = if value.is_array() { &value[0] } else { value };
            match (first["outcome"].as_str(), first["code"].as_str()) {
                (Some(outcome), Some(code)) => format!("{outcome} {code}"),
                (Some(outcome), None) => outcome.to_owned(),
                _ => "ok".to_owned(),
            }
        }
        Err(error) => format!("error {}", error["errorType"].as_str().unwrap_or("?")),
    }
}

/// What the warm events after a remediation must end as, in the order they are handed over:
/// the same event again, then another event of the same incident (`Case::warm`).
const WARM_REPEATS: [(&str, &str); 2] = [
    ("duplicate delivery", "skipped duplicate"),
    ("same incident, in cooldown", "skipped cooling-down"),
];

/// `event` as another record of the same incident: a new envelope id and CloudTrail event id.
fn another_event_of(event: &Value) -> Value {
    let mut other = event.clone();
    let id = unique("bench-cooldown");
    if let Some(detail) = other.get_mut("detail").and_then(Value::as_object_mut) {
        detail.insert("eventID".to_owned(), json!(format!("{id}-record")));
    }
    other["id"] = json!(id);
    other
}

/// One cold start of `case` on `event`, then, in the same process (warm), its `Case::warm`
/// events.
async fn start(case: Case, env: &[(String, String)], event: &Value) -> Result<Start, String> {
    let mut events = vec![event.clone()];
    events.extend(case.warm().iter().map(|(repeat, _)| match *repeat {
        "duplicate delivery" => event.clone(),
        _ => another_event_of(event),
    }));
    let started = cold_start(&binary(case.function()), case.function(), env, &events).await?;
    let start = case
        .expected()
        .map(|expected| ("the start", expected, &started.result));
    let repeats = case
        .warm()
        .iter()
        .zip(&started.warm)
        .map(|((which, expected), (_, result))| (*which, *expected, result));
    for (which, expected, result) in start.into_iter().chain(repeats) {
        let got = outcome(result);
        // A diagnosis whose callers were not counted ends the same, without the ledger's calls.
        let counted = || {
            result
                .as_ref()
                .ok()
                .and_then(|value| value.pointer("/0/evidence/evidence/top"))
                .and_then(Value::as_array)
                .is_some_and(|top| !top.is_empty())
        };
        if !got.starts_with(expected) || (got.starts_with("diagnosed") && !counted()) {
            return Err(format!(
                "{} on {} ({which}): expected {expected}, got {got}: {result:?}",
                case.function(),
                case.event(),
            ));
        }
    }
    Ok(started)
}

/// `STARTS` rounds; each round creates a fresh table and stream, then starts every case once.
pub async fn measure(aws: &Emulators) -> Result<Vec<Row>, String> {
    let stores = aws.stores().await;
    let env = environment(&stores);
    let mut rows: Vec<Row> = Case::ALL
        .iter()
        .map(|&case| Row {
            case,
            outcome: String::new(),
            starts: Vec::new(),
        })
        .collect();
    let scheduled = json!({
        "version": "0", "id": "bench-sweep", "detail-type": "Scheduled Event",
        "source": "aws.events", "account": "123456789012", "region": "us-east-1",
        "time": chrono::Utc::now().to_rfc3339(), "resources": [], "detail": {}
    });
    for round in 0..STARTS {
        let table = unique("bench-orders");
        let stream = unique("bench-clicks");
        aws.create_table(&table, 5, 5, &[]).await;
        aws.create_stream(&stream, 2).await;
        let table_event = fresh(
            sample_event("dynamodb/cloudtrail-putitem-throttled.json", "orders", &table),
            round,
        );
        let stream_event = fresh(
            sample_event(
                "kinesis/cloudtrail-putrecord-throttled.json",
                "clickstream",
                &stream,
            ),
            round,
        );
        let api_event = fresh(
            sample_event("api/cloudtrail-kms-decrypt-throttled.json", "unused", "unused"),
            round,
        );
        for row in &mut rows {
            let event = match row.case {
                Case::Probe => json!({ "table": table }),
                Case::TableRemediation | Case::TableDuplicate => table_event.clone(),
                Case::StreamRemediation | Case::StreamDuplicate => stream_event.clone(),
                Case::ApiDiagnosis | Case::ApiDuplicate => api_event.clone(),
                Case::RestoreSweep => scheduled.clone(),
            };
            let started = start(row.case, &env, &event).await?;
            row.outcome = outcome(&started.result);
            row.starts.push(started);
        }
    }
    Ok(rows)
}

/// A function's stripped binary and its size zipped (deflate, best), as Lambda receives it.
pub fn sizes(function: &str) -> Result<(u64, u64), String> {
    use std::io::Write as _;
    let path = binary(function);
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut zipped = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    zipped
        .write_all(&bytes)
        .and_then(|()| zipped.finish())
        .map(|zipped| (bytes.len() as u64, zipped.len() as u64))
        .map_err(|e| format!("{}: {e}", path.display()))
}
