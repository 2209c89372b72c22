//! The handler's own overhead per event: the real `Pipeline::handle` of dynamodb-throttle,
//! kinesis-throttle and api-throttle, with every port an in-memory fake
//! (`unthrottle::testing`), on one current-thread runtime. No AWS call, no emulator: what is
//! left is our work per event.
//!
//! What one timed event is, as a warm Lambda container does it apart from the Runtime API's
//! HTTP: the event's JSON text read into the handler's payload type, `EventJson`
//! (lambda_runtime does that before the handler), `Pipeline::handle`, the verdict, and the
//! response serialised to JSON. Log lines are formatted as in the functions when the bench
//! installs the functions' own subscriber (`unthrottle::logging`, benches/handler.rs), into a
//! sink rather than stdout.
//!
//! Every case is checked, not assumed: `Function::check` runs it once before timing, and
//! `Function::timed` checks every timed event's published report after the clock stops. The
//! test below runs the checks in `make test`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use unthrottle::adapters::emf::EmfSink;
use unthrottle::api::{Api, Apis};
use unthrottle::core::config::{AllowList, CoreSettings, Env};
use unthrottle::core::envelope::EventJson;
use unthrottle::core::envelope::Scope;
use unthrottle::core::pipeline::{InvocationError, verdict};
use unthrottle::core::ports::{Apply, Describe, Diagnose};
use unthrottle::core::report::{Outcome, Report};
use unthrottle::core::service::Service;
use unthrottle::dynamodb::settings::TABLE_ALLOW;
use unthrottle::dynamodb::{DynamoDb, TableMetrics};
use unthrottle::kinesis::Kinesis;
use unthrottle::kinesis::settings::STREAM_ALLOW;
use unthrottle::restore::Restorer;
use unthrottle::testing::{
    FakeQuotas, FakeSettings, FakeStreams, FakeTables, InMemory, MemoryLedger, MemorySnapshots, in_memory,
    kms_quota, provisioned_stream, provisioned_table,
};

/// The kinds of event timed (`Function::kinds`: which of them each function has).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A throttle on a resource nothing has changed yet: the whole pipeline, every port.
    Remediation,
    /// A throttle diagnosed (api-throttle): the whole pipeline, nothing changed.
    Diagnosis,
    /// The first event delivered again: one ledger read, then skipped.
    Duplicate,
    /// Another event of the same incident, within the cooldown: one ledger read, skipped.
    Cooldown,
    /// An event this function does not heal: triage only.
    NothingToHeal,
    /// An event that cannot be read: rejected, and a failure published.
    Malformed,
}

/// The kinds of a function that changes its resource.
pub const REMEDIATOR: [Kind; 5] = [
    Kind::Remediation,
    Kind::Duplicate,
    Kind::Cooldown,
    Kind::NothingToHeal,
    Kind::Malformed,
];

/// The kinds of a function that diagnoses: no cooldown follows a diagnosis, so another event
/// of the incident is diagnosed again (timed as a diagnosis).
pub const DIAGNOSER: [Kind; 4] = [
    Kind::Diagnosis,
    Kind::Duplicate,
    Kind::NothingToHeal,
    Kind::Malformed,
];

impl Kind {
    /// The benchmark's id: criterion's directory under `handler/<function>/`, and what
    /// `make bench` looks for there.
    pub fn id(self) -> &'static str {
        match self {
            Kind::Remediation => "remediation",
            Kind::Diagnosis => "diagnosis",
            Kind::Duplicate => "duplicate",
            Kind::Cooldown => "cooldown",
            Kind::NothingToHeal => "nothing-to-heal",
            Kind::Malformed => "malformed",
        }
    }

    /// Events timed per fixture, and fixtures built per batch (the clock is read once a
    /// batch). A first event needs a fresh fixture each (the same event again would be a
    /// duplicate): 64 of them a batch. The others change nothing, and their fixture is
    /// renewed every 1,000 events only so the reports it records stay few.
    fn fixtures(self) -> (u64, usize) {
        match self {
            Kind::Remediation | Kind::Diagnosis => (1, 64),
            _ => (1_000, 1),
        }
    }
}

/// What an event must end as: the published report's outcome and code, and whether the
/// handler rejected the event as unreadable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expected {
    pub outcome: Outcome,
    pub code: Option<&'static str>,
    pub unreadable: bool,
}

impl Expected {
    const fn handled(outcome: Outcome, code: Option<&'static str>) -> Self {
        Self {
            outcome,
            code,
            unreadable: false,
        }
    }
}

/// When every event is handled: a minute after the samples' throttles (2026-11-20 10:15Z),
/// well within the default `MAX_EVENT_AGE_SECONDS`.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 10, 16, 0)
        .single()
        .unwrap_or_else(Utc::now)
}

/// One function under the bench: how to build it with fresh fakes, and its events as the
/// JSON text Lambda hands over.
pub struct Function<S: Service, R> {
    pub name: &'static str,
    /// The kinds of event it is timed on, the first event first (`REMEDIATOR`, `DIAGNOSER`).
    pub kinds: &'static [Kind],
    build: fn() -> InMemory<S, R>,
    throttle: Vec<u8>,
    cooldown: Vec<u8>,
    nothing_to_heal: Vec<u8>,
    malformed: Vec<u8>,
    /// The code a `NothingToHeal` event is skipped with.
    nothing_to_heal_code: &'static str,
    /// The code a `Diagnosis` ends with.
    diagnosis_code: Option<&'static str>,
}

fn sample(path: &str) -> Value {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events")
        .join(path);
    let text = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

fn text(event: &Value) -> Vec<u8> {
    serde_json::to_vec(event).unwrap_or_else(|e| panic!("{e}"))
}

/// `event` as another record of the same incident: a new envelope id and CloudTrail event id.
fn another_event_of(event: &Value) -> Value {
    let mut other = event.clone();
    other["id"] = json!("bench-cooldown");
    other["detail"]["eventID"] = json!("bench-cooldown-record");
    other
}

/// The settings every function reads at init, at their defaults (cooldown 300 s, events up to
/// an hour old, metrics as EMF), as the functions run them.
fn production_options<S: Service, R>(mut pipeline: InMemory<S, R>) -> InMemory<S, R> {
    let env = Env::from_fn(|key| match key {
        "SNAPSHOT_BUCKET" => Some("bench-snapshots".to_owned()),
        "LEDGER_TABLE" => Some("bench-ledger".to_owned()),
        _ => None,
    });
    pipeline.options = CoreSettings::from_env(&env)
        .unwrap_or_else(|e| panic!("core settings: {e}"))
        .run;
    pipeline
}

fn defaults<S: Service>() -> S {
    S::from_env(&Env::from_fn(|_| None)).unwrap_or_else(|e| panic!("{} settings: {e}", S::ID))
}

/// dynamodb-throttle at its defaults, on the samples' provisioned table `orders` (5 RCU, 5 WCU,
/// GSI `by-customer`).
pub fn dynamodb() -> Function<DynamoDb, FakeTables> {
    let throttle = sample("dynamodb/cloudtrail-putitem-throttled.json");
    Function {
        name: "dynamodb-throttle",
        kinds: &REMEDIATOR,
        build: || {
            production_options(in_memory(
                defaults::<DynamoDb>(),
                FakeTables::with(provisioned_table("orders", 5, 5, &[("by-customer", 5, 5)])),
            ))
        },
        cooldown: text(&another_event_of(&throttle)),
        throttle: text(&throttle),
        nothing_to_heal: text(&sample("dynamodb/cloudtrail-putitem-success.json")),
        malformed: text(&sample("malformed/cloudtrail-missing-detail.json")),
        nothing_to_heal_code: "not-throttle",
        diagnosis_code: None,
    }
}

/// kinesis-throttle at its defaults, on the samples' provisioned stream `clickstream` (2
/// shards). Its "nothing to heal" is a control-plane throttle (ListShards): every Kinesis
/// event its rules deliver is a throttle.
pub fn kinesis() -> Function<Kinesis, FakeStreams> {
    let throttle = sample("kinesis/cloudtrail-putrecord-throttled.json");
    Function {
        name: "kinesis-throttle",
        kinds: &REMEDIATOR,
        build: || {
            production_options(in_memory(
                defaults::<Kinesis>(),
                FakeStreams::with(provisioned_stream("clickstream", 2)),
            ))
        },
        cooldown: text(&another_event_of(&throttle)),
        throttle: text(&throttle),
        nothing_to_heal: text(&sample("kinesis/cloudtrail-listshards-throttling.json")),
        malformed: text(&sample("malformed/cloudtrail-missing-detail.json")),
        nothing_to_heal_code: "control-plane",
        diagnosis_code: None,
    }
}

/// api-throttle at its defaults, on the KMS throttle sample, with the KMS quota Service
/// Quotas would describe (10,000/s, adjustable) kept in memory. Its "nothing to heal" is a
/// KMS call denied, not throttled.
pub fn api() -> Function<Api, Apis<MemoryLedger, FakeQuotas, FakeSettings>> {
    let throttle = sample("api/cloudtrail-kms-decrypt-throttled.json");
    Function {
        name: "api-throttle",
        kinds: &DIAGNOSER,
        build: || {
            production_options(in_memory(
                defaults::<Api>(),
                Apis::new(
                    MemoryLedger::default(),
                    FakeQuotas::with(kms_quota()),
                    FakeSettings::default(),
                ),
            ))
        },
        cooldown: text(&another_event_of(&throttle)),
        throttle: text(&throttle),
        nothing_to_heal: text(&sample("api/cloudtrail-kms-decrypt-access-denied.json")),
        malformed: text(&sample("malformed/cloudtrail-missing-detail.json")),
        nothing_to_heal_code: "not-throttle",
        diagnosis_code: Some("kms-request-quota"),
    }
}

/// The tables raised in memory before restore's sweep is timed.
pub const RAISED: usize = 10;

type MemoryRestorer =
    Restorer<FakeTables, FakeStreams, MemoryLedger, MemorySnapshots, EmfSink<std::io::Sink>>;

/// restore's hourly sweep over `RAISED` tables dynamodb-throttle raised in memory, an hour
/// after (past the cooldown, inside the quiet hours): each latest snapshot read, each
/// ledger item read, each table described and measured, none due. Its metrics are EMF lines,
/// as restore writes them by default, into a sink.
pub struct Sweep {
    restorer: MemoryRestorer,
    home: Scope,
}

/// The sweep's fixture: the tables raised through dynamodb-throttle's own pipeline, their
/// ledger and snapshots handed to restore.
pub async fn restore_sweep() -> Result<Sweep, String> {
    let names: Vec<String> = (0..RAISED).map(|n| format!("orders-{n}")).collect();
    let tables = names
        .iter()
        .fold(FakeTables::default(), |tables, name| {
            tables.and(provisioned_table(name, 5, 5, &[]), &[])
        })
        .measuring(TableMetrics::default());
    let raising = production_options(in_memory(defaults::<DynamoDb>(), tables));
    // The sample's table, `"orders"`, renamed in its JSON text.
    let throttle = String::from_utf8(text(&sample("dynamodb/cloudtrail-putitem-throttled.json")))
        .map_err(|e| e.to_string())?;
    for name in &names {
        let event = throttle.replace("\"orders\"", &format!("\"{name}\""));
        let (answer, _) = invoke(&raising, event.as_bytes()).await;
        match answer.as_deref() {
            Ok([report]) if report.outcome == Outcome::Remediated => {}
            other => return Err(format!("{name} not raised: {other:?}")),
        }
    }
    let env = Env::from_fn(|_| None);
    let policy = unthrottle::restore::model::policy(&env)
        .map_err(|e| e.to_string())?
        .ok_or("restore is off at its defaults")?;
    let restorer = Restorer {
        tables: raising.resources,
        streams: FakeStreams::default(),
        tables_allowed: AllowList::from_env(&env, &TABLE_ALLOW).map_err(|e| e.to_string())?,
        streams_allowed: AllowList::from_env(&env, &STREAM_ALLOW).map_err(|e| e.to_string())?,
        ledger: raising.ledger,
        archive: raising.snapshots,
        metrics: EmfSink::new("unthrottle", std::io::sink()),
        policy,
        dry_run: false,
        cooldown: raising.options.cooldown,
        step_budget: Duration::from_secs(10),
    };
    Ok(Sweep {
        restorer,
        home: Scope {
            account: "123456789012".into(),
            region: "us-east-1".into(),
        },
    })
}

impl Sweep {
    /// An hour after the tables were raised.
    fn at() -> DateTime<Utc> {
        now() + chrono::Duration::hours(1)
    }

    /// One sweep, untimed: a `not-quiet` report for every raised table, or why not.
    pub async fn check(&self) -> Result<(), String> {
        Self::judge(&self.restorer.sweep(&self.home, Self::at(), None).await)
    }

    /// `iters` sweeps, the time spent in them (criterion's `iter_custom`); each sweep's
    /// reports are checked after the clock stops: a `not-quiet` for every raised table.
    pub async fn timed(&self, iters: u64) -> Result<Duration, String> {
        let mut took = Duration::ZERO;
        for _ in 0..iters {
            let started = Instant::now();
            let reports = black_box(self.restorer.sweep(&self.home, black_box(Self::at()), None).await);
            took += started.elapsed();
            Self::judge(&reports)?;
        }
        Ok(took)
    }

    fn judge(reports: &[Report]) -> Result<(), String> {
        let not_quiet = reports
            .iter()
            .filter(|report| report.outcome == Outcome::Skipped && report.code == Some("not-quiet"))
            .count();
        if reports.len() == RAISED && not_quiet == RAISED {
            Ok(())
        } else {
            Err(format!("{RAISED} not-quiet reports expected: {reports:?}"))
        }
    }
}

/// One event, as the function handles it: parsed, handled, judged, the response serialised.
/// Returns the reports (or the error Lambda would be told) beside the response's length, so
/// nothing of it can be optimised away.
pub async fn invoke<S, R>(pipeline: &InMemory<S, R>, event: &[u8]) -> (Result<Vec<Report>, String>, usize)
where
    S: Service,
    R: Describe<S> + Diagnose<S> + Apply<S>,
{
    // As lambda_runtime reads the payload for the functions' handler. Not JSON at all would be
    // its error, before any handler; none of ours is.
    let event: EventJson = serde_json::from_slice(event).unwrap_or_else(|_| Value::Null.into());
    let answer = pipeline
        .handle(event, now())
        .await
        .map_err(InvocationError::from)
        .and_then(verdict);
    match answer {
        Ok(reports) => {
            let body = serde_json::to_vec(&reports).map_or(0, |body| body.len());
            (Ok(reports), body)
        }
        Err(error) => {
            let body = json!({ "errorType": error.kind(), "errorMessage": error.to_string() });
            let length = serde_json::to_vec(&body).map_or(0, |body| body.len());
            (Err(error.to_string()), length)
        }
    }
}

impl<S, R> Function<S, R>
where
    S: Service,
    R: Describe<S> + Diagnose<S> + Apply<S>,
{
    pub fn event(&self, kind: Kind) -> &[u8] {
        match kind {
            Kind::Remediation | Kind::Diagnosis | Kind::Duplicate => &self.throttle,
            Kind::Cooldown => &self.cooldown,
            Kind::NothingToHeal => &self.nothing_to_heal,
            Kind::Malformed => &self.malformed,
        }
    }

    pub fn expected(&self, kind: Kind) -> Expected {
        match kind {
            Kind::Remediation => Expected::handled(Outcome::Remediated, None),
            Kind::Diagnosis => Expected::handled(Outcome::Diagnosed, self.diagnosis_code),
            Kind::Duplicate => Expected::handled(Outcome::Skipped, Some("duplicate")),
            Kind::Cooldown => Expected::handled(Outcome::Skipped, Some("cooling-down")),
            Kind::NothingToHeal => Expected::handled(Outcome::Skipped, Some(self.nothing_to_heal_code)),
            Kind::Malformed => Expected {
                outcome: Outcome::Failed,
                code: Some("malformed-event"),
                unreadable: true,
            },
        }
    }

    /// A fixture ready for `kind`: fresh fakes and, for a duplicate or a cooldown, the first
    /// event it repeats already handled (and checked). Returns it with the number of
    /// reports it has published so far.
    async fn fixture(&self, kind: Kind) -> Result<(InMemory<S, R>, usize), String> {
        let pipeline = (self.build)();
        if matches!(kind, Kind::Duplicate | Kind::Cooldown) {
            let (answer, _) = invoke(&pipeline, &self.throttle).await;
            self.judge(self.kinds[0], &answer)?;
            return Ok((pipeline, 1));
        }
        Ok((pipeline, 0))
    }

    /// Whether an answer is the one `kind` must end with.
    fn judge(&self, kind: Kind, answer: &Result<Vec<Report>, String>) -> Result<(), String> {
        let expected = self.expected(kind);
        let got = match answer {
            Ok(reports) => match reports.as_slice() {
                [report] => Expected::handled(report.outcome, report.code),
                _ => return Err(format!("one report expected, got {reports:?}")),
            },
            // Lambda's answer for it is an error; what was published is checked apart.
            Err(_) if expected.unreadable => return Ok(()),
            Err(error) => return Err(format!("the handler failed: {error}")),
        };
        if got == expected {
            Ok(())
        } else {
            Err(format!("expected {expected:?}, got {got:?} ({answer:?})"))
        }
    }

    /// Whether every report a fixture published after its set-up is the one `kind` must
    /// publish, and there are `events` of them.
    fn published(
        &self,
        kind: Kind,
        pipeline: &InMemory<S, R>,
        before: usize,
        events: u64,
    ) -> Result<(), String> {
        let expected = self.expected(kind);
        let published = pipeline.metrics.published();
        let timed = published.get(before..).unwrap_or_default();
        if timed.len() as u64 != events {
            return Err(format!("{} reports published for {events} events", timed.len()));
        }
        match timed
            .iter()
            .find(|report| (report.outcome, report.code) != (expected.outcome, expected.code))
        {
            Some(report) => Err(format!(
                "expected {expected:?}, a timed event published {report:?}"
            )),
            None => Ok(()),
        }
    }

    /// One event of `kind`, untimed, on a fixture of its own: it must end as `kind` says.
    pub async fn check(&self, kind: Kind) -> Result<(), String> {
        let (pipeline, before) = self.fixture(kind).await?;
        let (answer, _) = invoke(&pipeline, self.event(kind)).await;
        self.judge(kind, &answer)?;
        self.published(kind, &pipeline, before, 1)
    }

    /// `iters` events of `kind`, the time spent handling them (criterion's `iter_custom`).
    /// Fixtures are built before the clock starts, and what each published is checked after
    /// it stops: every timed event ended as `kind` says, or this fails.
    pub async fn timed(&self, kind: Kind, iters: u64) -> Result<Duration, String> {
        let event = self.event(kind);
        let (per_fixture, batch) = kind.fixtures();
        let mut took = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            let mut plan = Vec::with_capacity(batch);
            let mut events = 0;
            while plan.len() < batch && events < left {
                let n = per_fixture.min(left - events);
                plan.push((self.fixture(kind).await?, n));
                events += n;
            }
            let started = Instant::now();
            for ((pipeline, _), n) in &plan {
                for _ in 0..*n {
                    let _ = black_box(invoke(pipeline, black_box(event)).await);
                }
            }
            took += started.elapsed();
            for ((pipeline, before), n) in &plan {
                self.published(kind, pipeline, *before, *n)?;
            }
            left -= events;
        }
        Ok(took)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the bench times is what it says: each kind ends as named, once and over a
    /// couple of fixtures' worth of timed events.
    #[tokio::test]
    async fn every_case_ends_as_its_name_says() {
        for kind in REMEDIATOR {
            dynamodb().check(kind).await.unwrap();
            kinesis().check(kind).await.unwrap();
            dynamodb().timed(kind, 70).await.unwrap();
            kinesis().timed(kind, 70).await.unwrap();
        }
        for &kind in api().kinds {
            api().check(kind).await.unwrap();
            api().timed(kind, 70).await.unwrap();
        }
        let sweep = restore_sweep().await.unwrap();
        sweep.check().await.unwrap();
        sweep.timed(3).await.unwrap();
    }
}
