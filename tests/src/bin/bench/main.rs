//! `make bench`: what each kind of event costs, measured with the functions' real adapters
//! against the emulators, written to the file named on the command line (docs/benchmarks.md).
//!
//! - AWS calls are counted on the wire (tests/src/calls.rs), not estimated: every call, and
//!   the critical path of sequential round trips.
//! - Warm latency is one event through the pipeline, clients already built, against the
//!   emulators on this machine.
//! - The handler's own overhead per event, with in-memory fakes, is criterion's
//!   (tests/handler-bench), read from its JSON estimates (overhead.rs).
//! - Cold starts, sizes and memory are those of the release binaries (cold.rs), started by a
//!   minimal Lambda Runtime API (tests/src/servers.rs) beside a probe that only makes one
//!   DescribeTable (tests/probe): the floor each figure is set against.
//! - CloudWatch `GetMetricData`, which no emulator serves, is answered by a local stub with
//!   no data.
//!
//! - `bench --peer OUTPUT.md` (`make bench-peer`, peer.rs) measures ours against Cloud
//!   Custodian instead, into a section of OUTPUT.md of its own, which a plain run keeps.
//!
//! scripts/bench.sh builds the release binaries, starts its own emulators on free ports and
//! stops them afterwards.

mod cold;
mod overhead;
mod peer;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use chrono::Utc;
use integration_tests::World;
use integration_tests::calls::{Call, critical_path, operations};
use serde_json::{Value, json};
use unthrottle::adapters::Deploy;
use unthrottle::api::Api;
use unthrottle::core::report::Report;
use unthrottle::dynamodb::DynamoDb;
use unthrottle::kinesis::Kinesis;

/// Fresh resources per remediation row (each remediation changes its resource once).
const REMEDIATIONS: usize = 10;
/// The raised tables the restore row's bucket holds: a snapshot and an open episode each.
const RAISED: usize = 10;
/// The restore row's event (the handler overhead's too).
const SWEEP: &str = overhead::SWEEP;
/// Events per row for the events that change nothing.
const REPEATS: usize = 30;

/// One measured row: what an event of this kind made the function send, and how long the
/// pipeline took for it.
struct Row {
    function: &'static str,
    event: &'static str,
    /// The ledger on moto, which returns the item with a refused condition as DynamoDB does,
    /// instead of dynalite, which returns none (docs/performance.md).
    ledger_on_moto: bool,
    outcome: String,
    calls: Vec<Call>,
    latencies: Vec<Duration>,
}

impl Row {
    /// One run of the row's event: stops the bench if it did not end as `expected` says (its
    /// figures would be another kind of event's), and keeps the calls of the run that made
    /// the most, so a retry in any run shows.
    fn record(
        &mut self,
        report: &Report,
        calls: Vec<Call>,
        took: Duration,
        expected: impl Fn(&Report) -> bool,
    ) {
        let ended = outcome(report);
        if !expected(report) {
            fail(&format!(
                "{} {}: ended {ended}, not as the row says: {report:?}",
                self.function,
                self.name()
            ));
        }
        self.outcome = ended;
        if calls.len() >= self.calls.len() {
            self.calls = calls;
        }
        self.latencies.push(took);
    }

    /// The event's name as the tables show it.
    fn name(&self) -> String {
        if self.ledger_on_moto {
            format!("{}, ledger on moto", self.event)
        } else {
            self.event.to_owned()
        }
    }
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

/// One function's events: its first event on a fresh resource (a remediation, or for
/// api-throttle a diagnosis), the same event again (a duplicate delivery), another event of
/// the same incident (in cooldown, or diagnosed again), and an event that is not a
/// throttle. With `ledger_on_moto`, only the events the ledger alone decides are kept.
async fn measure<S: Deploy, F, Fut>(
    function: &'static str,
    samples: (&'static str, &'static str),
    [throttle, not_a_throttle]: [&'static str; 2],
    first: First,
    ledger_on_moto: bool,
    create: F,
) -> Vec<Row>
where
    F: Fn(World<S>) -> Fut,
    Fut: std::future::Future<Output = World<S>>,
{
    let row = |event: &'static str| Row {
        function,
        event,
        ledger_on_moto,
        outcome: String::new(),
        calls: Vec::new(),
        latencies: Vec::new(),
    };
    let mut remediation = row(first.name());
    let mut last = None;
    let remediations = if ledger_on_moto { 1 } else { REMEDIATIONS };
    for _ in 0..remediations {
        let mut world = World::new(samples, &[]).await;
        if ledger_on_moto {
            world.pipeline.ledger = world
                .aws
                .ledger_on_moto(&world.stores.ledger)
                .await
                .unwrap_or_else(|e| fail(&e));
        }
        let world = create(world).await;
        let event = world.event(throttle);
        let (report, calls, took) = timed(&world, event.clone()).await;
        remediation.record(&report, calls, took, |report| first.ends_as(report));
        last = Some((world, event));
    }
    let Some((world, event)) = last else {
        return vec![remediation];
    };

    let next = match first {
        First::Remediation => Repeat::Cooldown,
        First::Diagnosis => Repeat::Diagnosed,
    };
    // On moto, the events the ledger alone decides: a diagnosis is the tally's as well.
    let (mut rows, repeats) = if ledger_on_moto {
        let decided_by_the_claim = match first {
            First::Remediation => vec![Repeat::Duplicate, Repeat::Cooldown],
            First::Diagnosis => vec![Repeat::Duplicate],
        };
        (Vec::new(), decided_by_the_claim)
    } else {
        (
            vec![remediation],
            vec![Repeat::Duplicate, next, Repeat::NothingToHeal],
        )
    };
    for repeat in repeats {
        let mut row = row(repeat.name());
        for n in 0..REPEATS {
            let next = match repeat {
                Repeat::Duplicate => event.clone(),
                Repeat::Cooldown | Repeat::Diagnosed => another_event_of(&event, n),
                Repeat::NothingToHeal => world.event(not_a_throttle),
            };
            let (report, calls, took) = timed(&world, next).await;
            row.record(&report, calls, took, |report| repeat.ends_as(report));
        }
        rows.push(row);
    }
    rows
}

/// restore's hourly sweep over a bucket of `RAISED` tables unthrottle raised, swept as if an
/// hour later (past the cooldown, before the quiet hours end): each is read, described and
/// measured, none due yet; what each hour costs while they stay up. The restorer is the
/// function's own (`restore::deployed`), its metrics recorded rather than printed (EMF is a
/// line on stdout, no AWS call).
async fn measure_restore() -> Row {
    let world: World<DynamoDb> = World::new(("dynamodb", "orders"), &[]).await;
    for n in 0..RAISED {
        let name = format!("{}-{n}", world.name);
        world.aws.create_table(&name, 5, 5, &[]).await;
        let event =
            integration_tests::sample_event("dynamodb/cloudtrail-putitem-throttled.json", "orders", &name);
        let report = world
            .run(unthrottle::testing::happened_at(event, Utc::now()), Utc::now())
            .await;
        if outcome(&report) != "remediated" {
            fail(&format!("restore's bucket: {name} not raised: {report:?}"));
        }
        world.aws.wait_active(&name).await;
    }
    let vars = world.stores.env(&[("S3_FORCE_PATH_STYLE", "true")]);
    let env = unthrottle::core::config::Env::from_fn(|key| vars.get(key).cloned());
    let deployed = match unthrottle::restore::run::deployed(&env, &world.aws.sdk) {
        Ok(Some(deployed)) => deployed,
        Ok(None) => fail("restore is off at its defaults"),
        Err(e) => fail(&e.to_string()),
    };
    let restorer = unthrottle::restore::Restorer {
        tables: deployed.tables,
        streams: deployed.streams,
        tables_allowed: deployed.tables_allowed,
        streams_allowed: deployed.streams_allowed,
        ledger: deployed.ledger,
        archive: deployed.archive,
        metrics: unthrottle::testing::RecordedMetrics::default(),
        policy: deployed.policy,
        dry_run: deployed.dry_run,
        cooldown: deployed.cooldown,
        step_budget: deployed.step_budget,
    };
    let home = unthrottle::core::envelope::Scope {
        account: "123456789012".into(),
        region: "us-east-1".into(),
    };
    let mut row = Row {
        function: "restore",
        event: SWEEP,
        ledger_on_moto: false,
        outcome: String::new(),
        calls: Vec::new(),
        latencies: Vec::new(),
    };
    for _ in 0..REPEATS {
        world.aws.calls.take();
        let an_hour_on = Utc::now() + chrono::Duration::hours(1);
        let started = Instant::now();
        let reports = restorer.sweep(&home, an_hour_on, None).await;
        let took = started.elapsed();
        let calls = world.aws.calls.take();
        let not_quiet = reports
            .iter()
            .filter(|report| outcome(report) == "skipped not-quiet")
            .count();
        if reports.len() != RAISED || not_quiet != RAISED {
            fail(&format!(
                "restore's sweep: each raised table skipped not-quiet expected: {reports:?}"
            ));
        }
        row.outcome = format!("{RAISED} × skipped not-quiet");
        if calls.len() >= row.calls.len() {
            row.calls = calls;
        }
        row.latencies.push(took);
    }
    row
}

/// What a function's first event on a fresh resource does.
#[derive(Clone, Copy)]
enum First {
    /// It changes the resource (dynamodb-throttle, kinesis-throttle).
    Remediation,
    /// It diagnoses and changes nothing (api-throttle).
    Diagnosis,
}

/// A diagnosis of the KMS throttle sample with its callers counted: a diagnosis whose count
/// failed would end the same but skip the ledger's calls, and be timed as if it had not.
fn diagnosed_with_callers(report: &Report) -> bool {
    outcome(report) == "diagnosed kms-request-quota"
        && report
            .evidence
            .as_ref()
            .and_then(|evidence| evidence.pointer("/evidence/top"))
            .and_then(Value::as_array)
            .is_some_and(|top| !top.is_empty())
}

impl First {
    fn ends_as(self, report: &Report) -> bool {
        match self {
            First::Remediation => outcome(report) == "remediated",
            First::Diagnosis => diagnosed_with_callers(report),
        }
    }

    fn name(self) -> &'static str {
        match self {
            First::Remediation => "remediation",
            First::Diagnosis => "diagnosis",
        }
    }
}

/// The events after the first.
#[derive(Clone, Copy)]
enum Repeat {
    /// The first event delivered again.
    Duplicate,
    /// Another event of the same incident, within the cooldown of a remediation.
    Cooldown,
    /// Another event of the same incident, after a diagnosis: diagnosed in its turn.
    Diagnosed,
    /// An event that is not a throttle this function heals.
    NothingToHeal,
}

impl Repeat {
    /// Whether `report` is how this kind of event ends.
    fn ends_as(self, report: &Report) -> bool {
        let ended = outcome(report);
        match self {
            Repeat::Duplicate => ended == "skipped duplicate",
            Repeat::Cooldown => ended == "skipped cooling-down",
            Repeat::Diagnosed => diagnosed_with_callers(report),
            // not-throttle for a table or an API, control-plane for a stream.
            Repeat::NothingToHeal => ended == "skipped not-throttle" || ended == "skipped control-plane",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Repeat::Duplicate => "duplicate delivery",
            Repeat::Cooldown => "same incident, in cooldown",
            Repeat::Diagnosed => "same incident, another event",
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

/// `UpdateItem 3.1, DescribeTable 2.0, ...`: each call in the order sent, with how long it
/// took from request to response (what the emulator costs each round trip).
fn timed_operations(calls: &[Call]) -> String {
    let mut sorted: Vec<&Call> = calls.iter().collect();
    sorted.sort_by_key(|call| call.started);
    sorted
        .iter()
        .map(|call| {
            format!(
                "{} {}",
                call.operation,
                ms(call.ended.duration_since(call.started))
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
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

fn report(rows: &[Row], fakes: &[overhead::Row], cold: &[cold::Row], probe: Size, sizes: &[Size]) -> String {
    let mut out = String::new();
    let commit = std::env::var("BENCH_COMMIT").unwrap_or_else(|_| "unknown".to_owned());
    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(
        out,
        "Written by `make bench` (scripts/bench.sh, tests/src/bin/bench/); do not edit by hand.\n"
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
         it. Every call goes to an emulator except these, which a local stub answers \
         (tests/src/servers.rs; no emulator serves them: moto does not speak the CloudWatch \
         client's rpcv2 CBOR, and fails two of the three Service Quotas reads):\n"
    );
    for stubbed in integration_tests::servers::STUBBED {
        let _ = writeln!(out, "- {stubbed}");
    }
    let _ = writeln!(
        out,
        "\nThe DynamoDB emulator is dynalite, which returns no item with a refused condition, so \
         there the ledger reads a refused claim's item with a `GetItem` more. The rows marked \
         \"ledger on moto\" run the same events with only the ledger on moto's DynamoDB, which \
         returns the item as DynamoDB does (`ReturnValuesOnConditionCheckFailure`); the \
         resource stays on its emulator. A row's calls are those of its run that made the most.\n\n\
         api-throttle diagnoses and changes nothing: its first event is a diagnosis, and \
         another event of the incident is diagnosed in its turn (no cooldown follows a \
         diagnosis); the Service Quotas reads of its first event are kept per container. \
         restore's row is its hourly sweep over a bucket holding the snapshots of {RAISED} \
         tables raised just now, swept as if an hour later (past the cooldown, inside the \
         quiet hours: none due): a listing per service, then per raised resource, one after \
         another, its latest snapshot, its ledger item, and its describe, tags, auto-scaling \
         targets and metrics side by side; its calls grow with what is raised.\n"
    );
    let _ = writeln!(
        out,
        "| function | event | outcome | calls | round trips | critical path | all calls, in the order sent, with each one's time on the wire (ms) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for row in rows {
        let path = critical_path(&row.calls);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            row.function,
            row.name(),
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
                timed_operations(&row.calls)
            }
        );
    }
    let _ = writeln!(out, "\n## Warm latency per event, against the emulators\n");
    let _ = writeln!(
        out,
        "One event through the pipeline with its clients already built (a warm Lambda \
         container), against the emulators on this machine: the round trips dominate. \
         {REMEDIATIONS} first events (each on a fresh resource), {REPEATS} of each other kind \
         (the \"ledger on moto\" rows: after one first event with the ledger there); with \
         so few runs the p99 is the slowest run. This is the bench's own build of the pipeline (the debug profile, where the calls are \
         counted); the release binary's warm duplicate and cooldown, handed to each cold \
         start's process after its first event, are under Targets.\n"
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
            row.name(),
            sorted.len(),
            ms(percentile(&sorted, 50.0)),
            ms(percentile(&sorted, 99.0)),
            ms(sorted.last().copied().unwrap_or_default())
        );
    }
    overhead_section(&mut out, fakes);
    cold_section(&mut out, cold);
    size_section(&mut out, cold, probe, sizes);
    targets_section(&mut out, rows, fakes, cold, sizes);
    out
}

fn overhead_section(out: &mut String, fakes: &[overhead::Row]) {
    let _ = writeln!(out, "\n## Handler overhead with in-memory fakes\n");
    let _ = writeln!(
        out,
        "Our own work per event, with no AWS call: the real `Pipeline::handle` of each function \
         at its default settings, every port an in-memory fake (`unthrottle::testing`), on one \
         current-thread runtime (the functions' own), in the release profile. One event is \
         what a warm container does with it apart from the Runtime API's HTTP: its JSON text \
         parsed, handled, judged (`verdict`), the response serialised; the result is logged \
         through the functions' log subscriber into a sink. A first event (a remediation, or \
         api-throttle's diagnosis, with the KMS quota in memory) gets fresh fakes each time; \
         a duplicate and a cooldown follow a first event handled before the clock starts. restore's row is one whole sweep over 10 tables raised in memory, an \
         hour on (each snapshot and ledger item read, each table described and measured, \
         none due); its per-second figure is sweeps. Each case is run and checked before it is timed, and every timed \
         event's published report is checked after (tests/handler-bench). Criterion \
         (`cargo bench -p handler-bench`): median of 50 samples over 2 s, with its 95% \
         confidence interval; events/s is one core at the median.\n"
    );
    let _ = writeln!(
        out,
        "| function | event | median per event | 95% CI of the median | events/s on one core |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for row in fakes {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} – {} | {:.0} |",
            row.function,
            row.event,
            overhead::micros(row.median_ns),
            overhead::micros(row.median_low_ns),
            overhead::micros(row.median_high_ns),
            row.per_second()
        );
    }
}

/// Sorted copies of one figure of every start in `row`.
fn figure(row: &cold::Row, of: impl Fn(&integration_tests::servers::Start) -> Duration) -> Vec<Duration> {
    let mut values: Vec<Duration> = row.starts.iter().map(of).collect();
    values.sort();
    values
}

fn probe(cold: &[cold::Row]) -> Option<&cold::Row> {
    cold.iter().find(|row| row.case == cold::Case::Probe)
}

fn cold_section(out: &mut String, cold: &[cold::Row]) {
    let _ = writeln!(out, "\n## Cold start\n");
    let _ = writeln!(
        out,
        "Each start is a new process of the release binary, started with the environment a \
         Lambda gets (the Runtime API's address, the function's settings) by a minimal \
         Runtime API server (tests/src/servers.rs) that hands it one event. Init is exec to \
         the first `GET /next`; first result is exec to the posted result; handler is the \
         difference. CPU is the process's, all threads, once it asks for the next event. \
         {} rounds, each on a fresh table and stream, every row started once per round \
         (interleaved). The probe (tests/probe) builds the SDK config and one DynamoDB client \
         and makes one DescribeTable: the floor for a Rust Lambda on this machine. Times in \
         ms.\n",
        cold::STARTS
    );
    let _ = writeln!(
        out,
        "| function | event | outcome | starts | init median | init p95 | first result median | p95 | min | max | handler median | CPU median | init ÷ probe's | first result ÷ probe's | handler ÷ probe's | CPU ÷ probe's |"
    );
    let _ = writeln!(
        out,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    let probe_median = |of: fn(&integration_tests::servers::Start) -> Duration| {
        probe(cold).map(|row| percentile(&figure(row, of), 50.0))
    };
    let (probe_init, probe_first, probe_handler, probe_cpu) = (
        probe_median(|s| s.init),
        probe_median(|s| s.first_result),
        probe_median(|s| s.handler),
        probe_median(|s| s.cpu),
    );
    for row in cold {
        let init = figure(row, |s| s.init);
        let first = figure(row, |s| s.first_result);
        let handler = figure(row, |s| s.handler);
        let cpu = figure(row, |s| s.cpu);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.case.function(),
            row.case.event(),
            row.outcome,
            row.starts.len(),
            ms(percentile(&init, 50.0)),
            ms(percentile(&init, 95.0)),
            ms(percentile(&first, 50.0)),
            ms(percentile(&first, 95.0)),
            ms(first.first().copied().unwrap_or_default()),
            ms(first.last().copied().unwrap_or_default()),
            ms(percentile(&handler, 50.0)),
            ms(percentile(&cpu, 50.0)),
            ratio(percentile(&init, 50.0), probe_init),
            ratio(percentile(&first, 50.0), probe_first),
            ratio(percentile(&handler, 50.0), probe_handler),
            ratio(percentile(&cpu, 50.0), probe_cpu)
        );
    }
}

/// `ours` as a multiple of the probe's figure; a dash when the probe has none.
fn ratio(ours: Duration, probe: Option<Duration>) -> String {
    times(
        ours.as_secs_f64(),
        probe.map_or(0.0, |probe| probe.as_secs_f64()),
        1,
    )
}

/// `ours` as a multiple of `probe`, to `decimals` places; a dash when `probe` is zero.
fn times(ours: f64, probe: f64, decimals: usize) -> String {
    if probe > 0.0 {
        format!("{:.decimals$}×", ours / probe)
    } else {
        "–".to_owned()
    }
}

fn peak_rss_mib(cold: &[cold::Row], function: &str) -> f64 {
    let kib = cold
        .iter()
        .filter(|row| row.case.function() == function)
        .flat_map(|row| row.starts.iter().map(|start| start.peak_rss_kib))
        .max()
        .unwrap_or_default();
    kib as f64 / 1024.0
}

fn size_section(out: &mut String, cold: &[cold::Row], probe: Size, sizes: &[Size]) {
    let _ = writeln!(out, "\n## Size and memory\n");
    let _ = writeln!(
        out,
        "The release binary as it ships (`bootstrap`, stripped), its size compressed as a zip \
         entry is (raw deflate at the best level; a zip file adds about 100 bytes of headers \
         around it), and the highest peak resident set (VmHWM) of its cold starts above, each \
         read when the process asked for its second event; the probe's for scale. Bytes, and \
         MB of 10^6 bytes.\n"
    );
    let _ = writeln!(
        out,
        "| function | bootstrap bytes | MB | bootstrap ÷ probe's | zipped bytes | MB | zipped ÷ probe's | peak RSS MiB | peak RSS ÷ probe's |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    let probe_rss = peak_rss_mib(cold, probe.0);
    for &(function, size, zipped) in std::iter::once(&probe).chain(sizes) {
        let rss = peak_rss_mib(cold, function);
        let _ = writeln!(
            out,
            "| {function} | {size} | {:.2} | {} | {zipped} | {:.2} | {} | {rss:.1} | {} |",
            size as f64 / 1e6,
            times(size as f64, probe.1 as f64, 2),
            zipped as f64 / 1e6,
            times(zipped as f64, probe.2 as f64, 2),
            times(rss, probe_rss, 2),
        );
    }
}

/// A binary's name, its stripped size and its zipped size, in bytes.
type Size = (&'static str, u64, u64);

/// Item-level DynamoDB calls: the ledger's (the functions read and write the user's tables
/// only through table-level calls).
fn ledger_calls(calls: &[Call]) -> usize {
    calls
        .iter()
        .filter(|call| {
            matches!(
                call.operation.as_str(),
                "Query"
                    | "GetItem"
                    | "PutItem"
                    | "UpdateItem"
                    | "DeleteItem"
                    | "TransactWriteItems"
                    | "BatchWriteItem"
            )
        })
        .count()
}

/// The release binary's warm handler time (median) for `event`, one of the function's
/// `Case::warm` events: handed over after each start, in the same process.
fn warm_repeat(cold: &[cold::Row], function: &str, event: &str) -> Option<Duration> {
    let (row, index) = cold.iter().find_map(|row| {
        let index = row.case.warm().iter().position(|(name, _)| *name == event);
        index
            .filter(|_| row.case.function() == function)
            .map(|index| (row, index))
    })?;
    let mut warm: Vec<Duration> = row
        .starts
        .iter()
        .filter_map(|start| start.warm.get(index).map(|(handler, _)| *handler))
        .collect();
    warm.sort();
    (!warm.is_empty()).then(|| percentile(&warm, 50.0))
}

fn targets_section(
    out: &mut String,
    rows: &[Row],
    fakes: &[overhead::Row],
    cold: &[cold::Row],
    sizes: &[Size],
) {
    let _ = writeln!(out, "\n## Targets\n");
    let _ = writeln!(
        out,
        "Each target of the performance issue against the figures above. Where one is not \
         met, [docs/performance.md](performance.md) gives the cause and what would fix it.\n"
    );
    let _ = writeln!(out, "| target | figure | met |");
    let _ = writeln!(out, "|---|---|---|");
    let mut line = |target: String, figure: String, met: bool| {
        let _ = writeln!(
            out,
            "| {target} | {figure} | {} |",
            if met { "yes" } else { "**no**" }
        );
    };
    let (probe_init, probe_trip) = probe(cold).map_or((Duration::ZERO, Duration::ZERO), |row| {
        (
            percentile(&figure(row, |s| s.init), 50.0),
            percentile(&figure(row, |s| s.handler), 50.0),
        )
    });
    // Init comes before the event, so every start of a function counts, whatever its event.
    for function in FUNCTIONS {
        let mut init: Vec<Duration> = cold
            .iter()
            .filter(|row| row.case.function() == function)
            .flat_map(|row| row.starts.iter().map(|start| start.init))
            .collect();
        init.sort();
        let median = percentile(&init, 50.0);
        line(
            format!("{function} init ≤ 5 ms median"),
            format!(
                "{:.2} ms (all {} starts)",
                median.as_secs_f64() * 1000.0,
                init.len()
            ),
            !init.is_empty() && median <= Duration::from_millis(5),
        );
    }
    for row in cold.iter().filter(|row| row.case != cold::Case::Probe) {
        if matches!(
            row.case,
            cold::Case::TableRemediation | cold::Case::StreamRemediation
        ) {
            let first = percentile(&figure(row, |s| s.first_result), 50.0);
            let limit = probe_init + probe_trip * 4;
            line(
                format!(
                    "{} first result ≤ probe init + 4 × its round trip ({} + 4 × {} = {} ms)",
                    row.case.function(),
                    ms(probe_init),
                    ms(probe_trip),
                    ms(limit)
                ),
                format!("{} ms", ms(first)),
                first <= limit,
            );
        }
    }
    for row in rows.iter().filter(|row| !row.ledger_on_moto) {
        let path = critical_path(&row.calls).len();
        match row.event {
            "remediation" => {
                line(
                    format!("{} remediation: ≤ 4 sequential round trips", row.function),
                    path.to_string(),
                    path <= 4,
                );
                let ledger = ledger_calls(&row.calls);
                line(
                    format!("{} remediation: ≤ 2 ledger calls", row.function),
                    ledger.to_string(),
                    ledger <= 2,
                );
            }
            // The issue sets no target for a diagnosis or a sweep; the tables give their figures.
            "diagnosis" | "same incident, another event" | SWEEP => {}
            "duplicate delivery" | "same incident, in cooldown" => {
                // The refused claim is the one call where the ledger's DynamoDB returns the
                // item with the refusal, as DynamoDB and moto do; dynalite returns none, so
                // the ledger reads it once more there (docs/performance.md).
                let on_moto = rows.iter().find(|other| {
                    other.ledger_on_moto && other.function == row.function && other.event == row.event
                });
                let sent = |row: &Row| operations(&row.calls).join(", ");
                let (shown, met) = match on_moto {
                    Some(moto) => (
                        format!(
                            "{} with the ledger on moto, which returns the refused item as DynamoDB \
                             does ({}); {} on dynalite, which returns none ({})",
                            moto.calls.len(),
                            sent(moto),
                            row.calls.len(),
                            sent(row)
                        ),
                        sent(moto) == "UpdateItem",
                    ),
                    None => (
                        format!("{} ({})", row.calls.len(), sent(row)),
                        row.calls.len() == 1,
                    ),
                };
                line(
                    format!("{} {}: exactly 1 AWS call", row.function, row.event),
                    shown,
                    met,
                );
                // Only for a function whose first event reads tags: for one that never
                // does, the line could not fail.
                let tag_lookups = |event: &str| {
                    rows.iter()
                        .filter(|other| other.function == row.function && other.event == event)
                        .flat_map(|other| other.calls.iter())
                        .filter(|call| call.operation.starts_with("ListTags"))
                        .count()
                };
                if tag_lookups("remediation") > 0 {
                    let tags = tag_lookups(row.event);
                    line(
                        format!("{} {}: the tag lookup never runs", row.function, row.event),
                        format!("{tags} tag lookups"),
                        tags == 0,
                    );
                }
                // The release binary, warm: cold.rs hands each remediation's process its
                // event again, then another event of the incident.
                let Some(median) = warm_repeat(cold, row.function, row.event) else {
                    line(
                        format!(
                            "{} {}: handler ≤ 3 ms (release, warm, median)",
                            row.function, row.event
                        ),
                        "not measured (no warm start)".to_owned(),
                        false,
                    );
                    continue;
                };
                let how = "release, warm";
                line(
                    format!("{} {}: handler ≤ 3 ms ({how}, median)", row.function, row.event),
                    format!("{} ms", ms(median)),
                    median <= Duration::from_millis(3),
                );
            }
            _ => line(
                format!("{} {}: 0 AWS calls", row.function, row.event),
                row.calls.len().to_string(),
                row.calls.is_empty(),
            ),
        }
    }
    // Per event: restore's sweep is not one (its figure is in the overhead table).
    for row in fakes.iter().filter(|row| row.event != SWEEP) {
        line(
            format!(
                "{} {}: handler overhead with in-memory fakes < 20 µs per event (median)",
                row.function, row.event
            ),
            overhead::micros(row.median_ns),
            row.median_ns < overhead::TARGET_NS,
        );
    }
    for (function, _, zipped) in sizes {
        let rss = peak_rss_mib(cold, function);
        line(
            format!("{function} peak RSS < 16 MiB"),
            format!("{rss:.1} MiB"),
            rss < 16.0,
        );
        line(
            format!("{function} zipped bootstrap < 4 MB"),
            format!("{zipped} bytes ({:.2} MB)", *zipped as f64 / 1e6),
            *zipped < 4_000_000,
        );
    }
}

fn main() {
    let peer = std::env::args().nth(1).is_some_and(|arg| arg == "--peer");
    let Some(path) = std::env::args().nth(1 + usize::from(peer)) else {
        eprintln!("usage: bench [--peer] OUTPUT.md (run through `make bench` or `make bench-peer`)");
        std::process::exit(2);
    };
    // The stub's port goes into the environment before any thread exists: the SDK clients,
    // ours and the started binaries', read their endpoints from it.
    let stub = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| fail(&e.to_string()));
    let endpoint = stub
        .local_addr()
        .map(|address| format!("http://{address}"))
        .unwrap_or_else(|e| fail(&e.to_string()));
    // SAFETY: single-threaded here; the runtime and every client are built afterwards.
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL_CLOUDWATCH", &endpoint);
        std::env::set_var("AWS_ENDPOINT_URL_SERVICE_QUOTAS", &endpoint);
    }
    // Criterion's figures first (scripts/bench.sh ran it): a missing one fails the run before
    // the long measurements against the emulators.
    // (`make bench-peer` runs no criterion.)
    let fakes = if peer {
        Vec::new()
    } else {
        overhead::read(&overhead::home()).unwrap_or_else(|e| fail(&e))
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&e.to_string()));
    let text = runtime.block_on(async move {
        let _stub = integration_tests::servers::Stub::serve(stub).unwrap_or_else(|e| fail(&e.to_string()));
        if peer {
            let aws = integration_tests::Emulators::connect()
                .await
                .unwrap_or_else(|e| fail(&e));
            peer::measure(&aws).await.unwrap_or_else(|e| fail(&e))
        } else {
            measure_all(&fakes).await
        }
    });
    // Each run writes its own part of the file and keeps the other's (peer.rs's markers).
    let existing = std::fs::read_to_string(&path).unwrap_or_default();
    let text = match (peer, peer::section_of(&existing)) {
        (true, _) => peer::replace_section(&existing, &text),
        (false, Some(kept)) => peer::replace_section(&text, kept),
        (false, None) => text,
    };
    if let Err(e) = std::fs::write(&path, &text) {
        fail(&format!("cannot write {path}: {e}"));
    }
    print!("{text}");
}

fn fail(message: &str) -> ! {
    eprintln!("bench: {message}");
    std::process::exit(1);
}

/// The bench's table: provisioned 5/5, as the samples' `orders`.
async fn create_table(world: World<DynamoDb>) -> World<DynamoDb> {
    world.aws.create_table(&world.name, 5, 5, &[]).await;
    world
}

/// The bench's stream: 2 shards, as the samples' `clickstream`.
async fn create_stream(world: World<Kinesis>) -> World<Kinesis> {
    world.aws.create_stream(&world.name, 2).await;
    world
}

async fn measure_all(fakes: &[overhead::Row]) -> String {
    let mut rows = Vec::new();
    // Every kind of event on dynalite, then the repeats with the ledger on moto.
    for ledger_on_moto in [false, true] {
        rows.extend(
            measure::<DynamoDb, _, _>(
                "dynamodb-throttle",
                ("dynamodb", "orders"),
                [
                    "cloudtrail-putitem-throttled.json",
                    "cloudtrail-putitem-success.json",
                ],
                First::Remediation,
                ledger_on_moto,
                create_table,
            )
            .await,
        );
        rows.extend(
            measure::<Kinesis, _, _>(
                "kinesis-throttle",
                ("kinesis", "clickstream"),
                [
                    "cloudtrail-putrecord-throttled.json",
                    "cloudtrail-listshards-throttling.json",
                ],
                First::Remediation,
                ledger_on_moto,
                create_stream,
            )
            .await,
        );
        // The API is named by the event: nothing to create.
        rows.extend(
            measure::<Api, _, _>(
                "api-throttle",
                ("api", "orders"),
                [
                    "cloudtrail-kms-decrypt-throttled.json",
                    "cloudtrail-kms-decrypt-access-denied.json",
                ],
                First::Diagnosis,
                ledger_on_moto,
                std::future::ready,
            )
            .await,
        );
    }
    rows.push(measure_restore().await);
    let aws = integration_tests::Emulators::connect()
        .await
        .unwrap_or_else(|e| fail(&e));
    let cold = cold::measure(&aws).await.unwrap_or_else(|e| fail(&e));
    let size = |function: &'static str| -> Size {
        let (size, zipped) = cold::sizes(function).unwrap_or_else(|e| fail(&e));
        (function, size, zipped)
    };
    let sizes: Vec<Size> = FUNCTIONS.into_iter().map(size).collect();
    report(&rows, fakes, &cold, size("probe"), &sizes)
}

/// What ships: one bootstrap per function.
const FUNCTIONS: [&str; 4] = ["dynamodb-throttle", "kinesis-throttle", "api-throttle", "restore"];
