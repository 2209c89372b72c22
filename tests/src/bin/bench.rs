//! `make bench`: what each kind of event costs, measured with the functions' real adapters
//! against the emulators, written to the file named on the command line (docs/benchmarks.md).
//!
//! - AWS calls are counted on the wire (tests/src/calls.rs), not estimated: every call, and
//!   the critical path of sequential round trips.
//! - Warm latency is one event through the pipeline, clients already built, against the
//!   emulators on this machine.
//!
//! scripts/bench.sh starts its own emulators on free ports and stops them afterwards.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use chrono::Utc;
use integration_tests::World;
use integration_tests::calls::{Call, critical_path, operations};
use serde_json::{Value, json};
use unthrottle::adapters::Deploy;
use unthrottle::core::report::Report;
use unthrottle::dynamodb::DynamoDb;
use unthrottle::kinesis::Kinesis;

/// Fresh resources per remediation row (each remediation changes its resource once).
const REMEDIATIONS: usize = 10;
/// Events per row for the events that change nothing.
const REPEATS: usize = 30;

/// One measured row: what an event of this kind made the function send, and how long the
/// pipeline took for it.
struct Row {
    function: &'static str,
    event: &'static str,
    outcome: String,
    calls: Vec<Call>,
    latencies: Vec<Duration>,
}

fn outcome(report: &Report) -> String {
    let outcome = serde_json::to_value(report.outcome).unwrap_or(Value::Null);
    match report.code {
        Some(code) => format!("{} {code}", outcome.as_str().unwrap_or("?")),
        None => outcome.as_str().unwrap_or("?").to_owned(),
    }
}

/// Runs `event` once, timed, and returns its report and the calls it made.
async fn timed<S: Deploy>(world: &World<S>, event: Value) -> (Report, Vec<Call>, Duration) {
    world.aws.calls.take();
    let started = Instant::now();
    let report = world.run(event, Utc::now()).await;
    let took = started.elapsed();
    (report, world.aws.calls.take(), took)
}

/// The four kinds of event for one function: a remediation on a fresh resource, the same
/// event again (a duplicate delivery), another event of the same incident (in cooldown),
/// and an event that is not a throttle.
async fn measure<S: Deploy, F, Fut>(
    function: &'static str,
    samples: (&'static str, &'static str),
    throttle: &'static str,
    not_a_throttle: &'static str,
    create: F,
) -> Vec<Row>
where
    F: Fn(World<S>) -> Fut,
    Fut: std::future::Future<Output = World<S>>,
{
    let mut remediation = Row {
        function,
        event: "remediation",
        outcome: String::new(),
        calls: Vec::new(),
        latencies: Vec::new(),
    };
    let mut last = None;
    for _ in 0..REMEDIATIONS {
        let world = create(World::new(samples, &[]).await).await;
        let event = world.event(throttle);
        let (report, calls, took) = timed(&world, event.clone()).await;
        remediation.outcome = outcome(&report);
        remediation.calls = calls;
        remediation.latencies.push(took);
        last = Some((world, event));
    }
    let Some((world, event)) = last else {
        return vec![remediation];
    };

    let mut rows = vec![remediation];
    for repeat in [Repeat::Duplicate, Repeat::Cooldown, Repeat::NothingToHeal] {
        let mut row = Row {
            function,
            event: repeat.name(),
            outcome: String::new(),
            calls: Vec::new(),
            latencies: Vec::new(),
        };
        for n in 0..REPEATS {
            let next = match repeat {
                Repeat::Duplicate => event.clone(),
                Repeat::Cooldown => another_event_of(&event, n),
                Repeat::NothingToHeal => world.event(not_a_throttle),
            };
            let (report, calls, took) = timed(&world, next).await;
            row.outcome = outcome(&report);
            row.calls = calls;
            row.latencies.push(took);
        }
        rows.push(row);
    }
    rows
}

/// The events after a remediation that change nothing.
#[derive(Clone, Copy)]
enum Repeat {
    /// The remediating event delivered again.
    Duplicate,
    /// Another event of the same incident, within the cooldown.
    Cooldown,
    /// An event that is not a throttle this function heals.
    NothingToHeal,
}

impl Repeat {
    fn name(self) -> &'static str {
        match self {
            Repeat::Duplicate => "duplicate delivery",
            Repeat::Cooldown => "same incident, in cooldown",
            Repeat::NothingToHeal => "nothing to heal",
        }
    }
}

/// `event` as another delivery of another record: the same incident, a new event.
fn another_event_of(event: &Value, n: usize) -> Value {
    let mut other = event.clone();
    other["id"] = json!(format!("cooldown-{n}"));
    if other["detail"]["eventID"].is_string() {
        other["detail"]["eventID"] = json!(format!("cooldown-record-{n}"));
    }
    other
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

fn ms(duration: Duration) -> String {
    format!("{:.1}", duration.as_secs_f64() * 1000.0)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    format!("{cores} cores, {cpu}")
}

fn report(rows: &[Row]) -> String {
    let mut out = String::new();
    let commit = std::env::var("BENCH_COMMIT").unwrap_or_else(|_| "unknown".to_owned());
    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(
        out,
        "Written by `make bench` (scripts/bench.sh, tests/src/bin/bench.rs); do not edit by hand.\n"
    );
    let _ = writeln!(out, "- Machine: {}", machine());
    let _ = writeln!(out, "- Date: {}", Utc::now().format("%Y-%m-%d %H:%M UTC"));
    let _ = writeln!(out, "- Commit: `{commit}`");
    let _ = writeln!(
        out,
        "- Reproduce: `make bench` (its own emulators on free ports, stopped afterwards)\n"
    );
    let _ = writeln!(out, "## AWS calls per event\n");
    let _ = writeln!(
        out,
        "Counted on the wire: every client is built on an `SdkConfig` whose HTTP client records \
         each request's operation and when it started and ended (tests/src/calls.rs). The \
         critical path is the longest chain of calls each of which started after the one \
         before it ended: the sequential round trips; a call missing from it ran beside one on \
         it. The metrics lookup (`GetMetricData`) goes to moto, which does not \
         serve the CloudWatch client's rpcv2 CBOR and answers with an error: it is still one \
         call on the wire, and the function plans without figures.\n"
    );
    let _ = writeln!(
        out,
        "| function | event | outcome | calls | round trips | critical path | all calls, in the order sent |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for row in rows {
        let path = critical_path(&row.calls);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            row.function,
            row.event,
            row.outcome,
            row.calls.len(),
            path.len(),
            if path.is_empty() {
                "none".to_owned()
            } else {
                path.join(" → ")
            },
            if row.calls.is_empty() {
                "none".to_owned()
            } else {
                operations(&row.calls).join(", ")
            }
        );
    }
    let _ = writeln!(out, "\n## Warm latency per event, against the emulators\n");
    let _ = writeln!(
        out,
        "One event through the pipeline with its clients already built (a warm Lambda \
         container), against the emulators on this machine: the round trips dominate. \
         {REMEDIATIONS} remediations (each on a fresh resource), {REPEATS} of each other kind.\n"
    );
    let _ = writeln!(out, "| function | event | runs | median ms | p99 ms | max ms |");
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for row in rows {
        let mut sorted = row.latencies.clone();
        sorted.sort();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            row.function,
            row.event,
            sorted.len(),
            ms(percentile(&sorted, 50.0)),
            ms(percentile(&sorted, 99.0)),
            ms(sorted.last().copied().unwrap_or_default())
        );
    }
    out
}

#[tokio::main]
async fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: bench OUTPUT.md (run through `make bench`)");
        std::process::exit(2);
    };
    let mut rows = measure::<DynamoDb, _, _>(
        "dynamodb-throttle",
        ("dynamodb", "orders"),
        "cloudtrail-putitem-throttled.json",
        "cloudtrail-putitem-success.json",
        |world| async move {
            world.aws.create_table(&world.name, 5, 5, &[]).await;
            world
        },
    )
    .await;
    rows.extend(
        measure::<Kinesis, _, _>(
            "kinesis-throttle",
            ("kinesis", "clickstream"),
            "cloudtrail-putrecord-throttled.json",
            "cloudtrail-listshards-throttling.json",
            |world| async move {
                world.aws.create_stream(&world.name, 2).await;
                world
            },
        )
        .await,
    );
    let text = report(&rows);
    if let Err(e) = std::fs::write(&path, &text) {
        eprintln!("bench: cannot write {path}: {e}");
        std::process::exit(1);
    }
    print!("{text}");
}
