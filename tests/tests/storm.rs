//! Proofs (issue 9): one change per incident, whatever arrives, through the real handler path.
//!
//! Each invocation runs what the Lambda handler runs (shared/src/run.rs):
//! `pipeline.handle(event, invocation)` then `core::pipeline::verdict`, with the function built
//! from its environment against the emulators (`integration_tests::World`). Invocations run as
//! tokio tasks, `IN_FLIGHT` at once, each with its own invocation id and clock reading, as
//! separate Lambda execution environments would.
//!
//! What changed is counted in AWS, not only in the reports: the UpdateTable / UpdateShardCount
//! requests the function's own clients sent (an interceptor that only observes), the
//! resource's capacity or open shards, the snapshot objects, the ledger's items and the
//! AutoFix metrics.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;
use futures::stream::{self, StreamExt};
use integration_tests::{World, sample_event};
use serde_json::{Value, json};
use unthrottle::adapters::Deploy;
use unthrottle::adapters::ledger::DynamoDbLedger;
use unthrottle::core::config::{CoreSettings, Env};
use unthrottle::core::diagnosis::Diagnosis;
use unthrottle::core::domain::ResourceRef;
use unthrottle::core::error::Result as PortResult;
use unthrottle::core::pipeline::{Pipeline, verdict};
use unthrottle::core::ports::{Apply, Describe, Described, Diagnose};
use unthrottle::core::report::{Outcome, Report};
use unthrottle::core::service::Service;
use unthrottle::dynamodb::{DynamoDb, SdkTables};
use unthrottle::kinesis::{Kinesis, SdkStreams, StreamChange, StreamMetrics, StreamState, StreamTarget};
use unthrottle::testing::{RecordedMetrics, happened_at};

/// Distinct throttle events of one incident, for one resource.
const STORM_EVENTS: usize = 1000;
/// Invocations in flight at once.
const IN_FLIGHT: usize = 32;
/// The storm's throttle times are spread over this many milliseconds, centred on its start.
const STORM_SPREAD_MS: i64 = 5_000;
/// Same-instant races, each on its own table.
const RACE_ROUNDS: usize = 10;
/// Deliveries of one event.
const REDELIVERIES: usize = 10;
/// COOLDOWN_SECONDS and SETTLE_SECONDS as the function reads them by default.
const COOLDOWN: Duration = Duration::seconds(300);
const SETTLE: Duration = Duration::seconds(60);

const TABLE_SAMPLE: &str = "cloudtrail-putitem-throttled.json";
const STREAM_SAMPLE: &str = "cloudtrail-putrecord-throttled.json";

/// Codes an invocation of the incident may answer with besides the one change. `duplicate`
/// is not among them for distinct events: only a re-delivery of the same event is one.
const INCIDENT_SKIPS: [&str; 3] = ["cooling-down", "update-in-progress", "stale"];
/// Codes a re-delivery of the event that made the change may answer with, while it runs.
const REDELIVERY_SKIPS: [&str; 3] = ["duplicate", "update-in-progress", "stale"];

// --- counting what the function's clients send -------------------------------------------

/// Counts the requests a client sends, by operation, every attempt included, and the
/// attempts that were not a success, by operation and status (or "no answer": a timeout or a
/// lost connection, after which the SDK tries again). It only observes.
#[derive(Debug, Clone, Default)]
struct Calls {
    sent: Arc<Mutex<BTreeMap<String, usize>>>,
    unsuccessful: Arc<Mutex<BTreeMap<String, usize>>>,
    /// Operation -> attempts AWS answered with an error: those changed nothing.
    errors: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl Calls {
    /// Attempts of `operation` that AWS did not refuse: answered with a success, or not
    /// answered at all (a timeout after which the request may still have been carried out).
    /// For a change, this is the number of changes that can have been made.
    fn landed(&self, operation: &str) -> usize {
        let sent = self.all().get(operation).copied().unwrap_or_default();
        let errors = self.errors.lock().expect("calls").get(operation).copied();
        sent - errors.unwrap_or_default()
    }

    fn all(&self) -> BTreeMap<String, usize> {
        self.sent.lock().expect("calls").clone()
    }

    /// "Operation status" (or "Operation no answer") -> attempts that were not a success.
    fn unsuccessful(&self) -> BTreeMap<String, usize> {
        self.unsuccessful.lock().expect("calls").clone()
    }
}

/// The operation an attempt belongs to, as the SDK names it.
fn operation(cfg: &ConfigBag) -> String {
    cfg.load::<Metadata>().map_or("?", Metadata::name).to_owned()
}

impl Intercept for Calls {
    fn name(&self) -> &'static str {
        "Calls"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        *self
            .sent
            .lock()
            .expect("calls")
            .entry(operation(cfg))
            .or_default() += 1;
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let answer = match context.response().map(|response| response.status()) {
            Some(status) if status.is_success() => return Ok(()),
            Some(status) => {
                *self
                    .errors
                    .lock()
                    .expect("calls")
                    .entry(operation(cfg))
                    .or_default() += 1;
                status.as_u16().to_string()
            }
            None => "no answer".to_owned(),
        };
        *self
            .unsuccessful
            .lock()
            .expect("calls")
            .entry(format!("{} {answer}", operation(cfg)))
            .or_default() += 1;
        Ok(())
    }
}

/// The world's DynamoDB clients (table adapter and ledger), rebuilt with a counter attached:
/// the same adapters `unthrottle::run` builds, from the same `SdkConfig`.
fn observe_tables(world: &mut World<DynamoDb>) -> Calls {
    let calls = Calls::default();
    let dynamodb = counted_dynamodb(world, &calls);
    world.pipeline.resources = SdkTables::new(
        dynamodb.clone(),
        aws_sdk_cloudwatch::Client::new(&world.aws.sdk),
        aws_sdk_applicationautoscaling::Client::new(&world.aws.sdk),
    );
    world.pipeline.ledger = DynamoDbLedger::new(dynamodb, &world.stores.ledger);
    calls
}

/// The world's Kinesis client and its ledger's DynamoDB client, with a counter attached.
fn observe_streams(world: &mut World<Kinesis>) -> Calls {
    let calls = Calls::default();
    let kinesis = aws_sdk_kinesis::config::Builder::from(&world.aws.sdk)
        .interceptor(calls.clone())
        .build();
    world.pipeline.resources = SdkStreams::new(
        aws_sdk_kinesis::Client::from_conf(kinesis),
        aws_sdk_cloudwatch::Client::new(&world.aws.sdk),
    );
    world.pipeline.ledger = DynamoDbLedger::new(counted_dynamodb(world, &calls), &world.stores.ledger);
    calls
}

fn counted_dynamodb<S: Deploy>(world: &World<S>, calls: &Calls) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::config::Builder::from(&world.aws.sdk)
        .interceptor(calls.clone())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

// --- invoking as the handler does --------------------------------------------------------

/// What one invocation returns to Lambda: the reports, or the error the handler returns
/// (an unreadable event, or a failure a retry may fix).
type Answer = Result<Vec<Report>, String>;

async fn invoke<S: Deploy>(world: &World<S>, event: Value, now: DateTime<Utc>) -> Answer {
    let reports = world
        .pipeline
        .handle(event, now)
        .await
        .map_err(|e| format!("UnreadableEvent: {e}"))?;
    verdict(reports).map_err(|e| format!("{}: {e}", e.kind()))
}

/// Runs every event as its own invocation, `IN_FLIGHT` at once, each reading the clock when
/// it starts; returns the answers and how long the whole run took.
async fn storm<S: Deploy>(world: &Arc<World<S>>, events: Vec<Value>) -> (Vec<Answer>, StdDuration) {
    let started = Instant::now();
    let answers: Vec<Answer> = stream::iter(events)
        .map(|event| {
            let world = Arc::clone(world);
            tokio::spawn(async move { invoke(&world, event, Utc::now()).await })
        })
        .buffer_unordered(IN_FLIGHT)
        .map(|joined| joined.expect("invocation task"))
        .collect()
        .await;
    (answers, started.elapsed())
}

/// Runs every event as its own invocation, all released at the same instant and all
/// reading the same clock.
async fn at_one_instant<S: Deploy>(world: &Arc<World<S>>, events: Vec<Value>) -> Vec<Answer> {
    let start = tokio::time::Instant::now() + StdDuration::from_millis(50);
    let now = Utc::now() + Duration::milliseconds(50);
    let tasks = events.into_iter().map(|event| {
        let world = Arc::clone(world);
        tokio::spawn(async move {
            tokio::time::sleep_until(start).await;
            invoke(&world, event, now).await
        })
    });
    join_all(tasks)
        .await
        .into_iter()
        .map(|joined| joined.expect("invocation task"))
        .collect()
}

/// `sample` naming `name` as a distinct event (its own envelope id and CloudTrail eventID),
/// its throttle at `time`.
fn distinct_event(
    folder: &str,
    sample: &str,
    sample_name: &str,
    name: &str,
    id: &str,
    time: DateTime<Utc>,
) -> Value {
    let event = sample_event(&format!("{folder}/{sample}"), sample_name, name);
    let mut event = happened_at(event, time);
    event["id"] = json!(format!("envelope-{id}"));
    event["detail"]["eventID"] = json!(id);
    event
}

/// `STORM_EVENTS` distinct events for the world's resource, their throttle times spread
/// evenly over `STORM_SPREAD_MS` centred on `centre`, in time order.
fn storm_events<S: Deploy>(
    world: &World<S>,
    sample: &str,
    centre: DateTime<Utc>,
) -> (Vec<Value>, HashMap<String, DateTime<Utc>>) {
    let count = i64::try_from(STORM_EVENTS).expect("count");
    let mut times = HashMap::new();
    let events = (0..count)
        .map(|n| {
            let id = format!("storm-{n}");
            let time = centre + Duration::milliseconds(n * STORM_SPREAD_MS / count - STORM_SPREAD_MS / 2);
            times.insert(id.clone(), time);
            let mut event = world.event_at(sample, time);
            event["id"] = json!(format!("envelope-{id}"));
            event["detail"]["eventID"] = json!(id);
            event
        })
        .collect();
    (events, times)
}

// --- what came back ----------------------------------------------------------------------

/// The answers, sorted.
#[derive(Debug, Default)]
struct Tally {
    invocations: usize,
    remediated: Vec<Report>,
    /// Skip code -> the event ids that got it.
    skipped: BTreeMap<&'static str, Vec<String>>,
    /// Reports that are neither a change nor a skip (failed, planned), and a skip with no code.
    other: Vec<Report>,
    /// Invocations that returned an error to Lambda.
    errors: Vec<String>,
}

impl Tally {
    fn of(answers: &[Answer]) -> Self {
        let mut tally = Tally {
            invocations: answers.len(),
            ..Tally::default()
        };
        for answer in answers {
            match answer {
                Err(error) => tally.errors.push(error.clone()),
                Ok(reports) => {
                    for report in reports {
                        match (report.outcome, report.code) {
                            (Outcome::Remediated, _) => tally.remediated.push(report.clone()),
                            (Outcome::Skipped, Some(code)) => tally
                                .skipped
                                .entry(code)
                                .or_default()
                                .push(report.event_id.clone().unwrap_or_default()),
                            _ => tally.other.push(report.clone()),
                        }
                    }
                }
            }
        }
        tally
    }

    fn skips(&self) -> usize {
        self.skipped.values().map(Vec::len).sum()
    }

    fn skip_counts(&self) -> BTreeMap<&'static str, usize> {
        self.skipped
            .iter()
            .map(|(code, ids)| (*code, ids.len()))
            .collect()
    }

    fn skipped_with(&self, code: &str) -> &[String] {
        self.skipped.get(code).map_or(&[], Vec::as_slice)
    }

    /// The one change and nothing but `allowed` skips, no failure, no error.
    fn assert_one_change(&self, allowed: &[&str], what: &str) -> Report {
        assert!(
            self.errors.is_empty(),
            "{what}: {} errors: {:#?}",
            self.errors.len(),
            self.errors
        );
        assert!(
            self.other.is_empty(),
            "{what}: reports that are neither: {:#?}",
            self.other
        );
        assert_eq!(
            self.remediated.len(),
            1,
            "{what}: changes: {:#?}",
            self.remediated
        );
        let unexpected: Vec<&str> = self
            .skipped
            .keys()
            .copied()
            .filter(|code| !allowed.contains(code))
            .collect();
        assert!(
            unexpected.is_empty(),
            "{what}: skip codes {unexpected:?} ({:?})",
            self.skip_counts()
        );
        assert_eq!(
            self.skips(),
            self.invocations - 1,
            "{what}: one report per invocation"
        );
        self.remediated[0].clone()
    }

    fn print(&self, what: &str, changes: usize, snapshots: usize, elapsed: Option<StdDuration>) {
        let timing = elapsed.map_or_else(String::new, |elapsed| {
            format!(
                ", elapsed {:.2} s ({:.0} invocations/s, {IN_FLIGHT} in flight)",
                elapsed.as_secs_f64(),
                self.invocations as f64 / elapsed.as_secs_f64()
            )
        });
        println!(
            "{what}: events {}, remediated {}, changes in AWS {changes}, snapshots {snapshots}, \
             skips {} {:?}, other {}, errors {}{timing}",
            self.invocations,
            self.remediated.len(),
            self.skips(),
            self.skip_counts(),
            self.other.len(),
            self.errors.len(),
        );
    }
}

/// The ledger table, sorted by kind of record.
#[derive(Debug, Default)]
struct LedgerItems {
    /// resource key -> (holder, until)
    claims: BTreeMap<String, (String, DateTime<Utc>)>,
    /// event ids of recorded changes
    history: Vec<String>,
    /// resource keys whose item still holds a lease
    leases: Vec<String>,
    unknown: Vec<String>,
}

async fn ledger_items<S: Deploy>(world: &World<S>) -> LedgerItems {
    let items = world.aws.items(&world.stores.ledger).await;
    let text = |item: &HashMap<String, AttributeValue>, name: &str| {
        item.get(name)
            .and_then(|value| value.as_s().ok())
            .cloned()
            .unwrap_or_default()
    };
    let mut ledger = LedgerItems::default();
    for item in &items {
        let (pk, sk) = (text(item, "pk"), text(item, "sk"));
        if sk != "claim" {
            ledger.unknown.push(format!("{pk} / {sk}"));
            continue;
        }
        if item.contains_key("holder") {
            let until = item
                .get("until")
                .and_then(|value| value.as_n().ok())
                .and_then(|n| n.parse().ok())
                .and_then(|seconds| DateTime::from_timestamp(seconds, 0))
                .expect("claim until");
            ledger.claims.insert(pk.clone(), (text(item, "holder"), until));
        }
        if item.contains_key("lease_holder") {
            ledger.leases.push(pk.clone());
        }
        for (name, change) in item.iter().filter(|(name, _)| name.starts_with("change#")) {
            let event = change
                .as_m()
                .ok()
                .and_then(|fields| fields.get("event_id"))
                .and_then(|id| id.as_s().ok())
                .unwrap_or_else(|| panic!("{name} names no event"));
            ledger.history.push(event.clone());
        }
    }
    ledger
}

/// The snapshot objects of one resource.
async fn snapshots_of<S: Deploy>(world: &World<S>, name: &str) -> Vec<String> {
    let keys = world.aws.object_keys(&world.stores.bucket).await;
    keys.into_iter()
        .filter(|key| key.contains(&format!("/{name}/")))
        .collect()
}

/// A table's (read, write) capacity once it is ACTIVE again.
async fn capacity<S: Deploy>(world: &World<S>, table: &str) -> (i64, i64) {
    let description = world.aws.wait_active(table).await;
    let throughput = description.provisioned_throughput().expect("throughput");
    (
        throughput.read_capacity_units().unwrap_or_default(),
        throughput.write_capacity_units().unwrap_or_default(),
    )
}

/// The incident's ledger: one claim, held by the event that changed the resource for the
/// cooldown from its invocation; one recorded change; no lease left behind by any of the
/// events that were held back or decided on nothing.
fn assert_incident_ledger(ledger: &LedgerItems, winner: &Report, changed_at: DateTime<Utc>) {
    let winner_id = winner.event_id.clone().expect("event id");
    assert!(
        ledger.unknown.is_empty(),
        "unknown ledger items: {:?}",
        ledger.unknown
    );
    assert_eq!(ledger.claims.len(), 1, "one claim: {:?}", ledger.claims);
    let (holder, until) = ledger.claims.values().next().expect("claim");
    assert_eq!(holder, &winner_id, "the claim is the change's");
    // The claim is taken in the invocation that changes the resource, from its start: its
    // cooldown ends at most at the change's plus the cooldown (DynamoDB reports whole-ish
    // seconds), and not long before (the same invocation, not an earlier one; a storm on
    // two cores, with the describe's lookups beside it, stretches the steps between to seconds).
    let expected_until = changed_at + COOLDOWN;
    let early = (expected_until - *until).num_milliseconds();
    assert!(
        (-1_000..=15_000).contains(&early),
        "claimed until {until}, the change plus the cooldown is {expected_until}"
    );
    assert_eq!(
        ledger.history,
        vec![winner_id.clone()],
        "one history entry: the change"
    );
    assert!(ledger.leases.is_empty(), "leases left: {:?}", ledger.leases);
}

// --- storm -------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_a_thousand_throttle_events_changes_a_table_once() {
    let mut world = World::<DynamoDb>::new(("dynamodb", "orders"), &[]).await;
    let calls = observe_tables(&mut world);
    let world = Arc::new(world);
    world.aws.create_table(&world.name, 5, 5, &[]).await;
    let (events, times) = storm_events(&world, TABLE_SAMPLE, Utc::now());

    let (answers, elapsed) = storm(&world, events).await;

    let tally = Tally::of(&answers);
    let updates = calls.landed("UpdateTable");
    let snapshots = snapshots_of(&world, &world.name).await;
    tally.print("table storm", updates, snapshots.len(), Some(elapsed));
    println!(
        "table storm: requests sent {:?}, not a success {:?}",
        calls.all(),
        calls.unsuccessful()
    );

    let winner = tally.assert_one_change(&INCIDENT_SKIPS, "table storm");
    assert_eq!(
        updates,
        1,
        "UpdateTable requests: {:?}, not a success {:?}",
        calls.all(),
        calls.unsuccessful()
    );
    assert_eq!(
        capacity(&world, &world.name).await,
        (5, 10),
        "one step: WCU 5 -> 10"
    );
    assert_eq!(snapshots.len(), 1, "{snapshots:?}");
    assert_eq!(
        winner.snapshot,
        Some(format!("s3://{}/{}", world.stores.bucket, snapshots[0]))
    );

    let published = world.pipeline.metrics.published();
    let autofix = published
        .iter()
        .filter(|r| r.outcome == Outcome::Remediated)
        .count();
    let failed = published.iter().filter(|r| r.outcome == Outcome::Failed).count();
    println!(
        "table storm: metrics published {}, AutoFix {autofix}, Failed {failed}",
        published.len()
    );
    assert_eq!((autofix, failed, published.len()), (1, 0, STORM_EVENTS));

    // A stale event's throttle is from before the change (plus the settle margin).
    let changed_at = world
        .aws
        .describe(&world.name)
        .await
        .provisioned_throughput()
        .and_then(|t| t.last_increase_date_time())
        .map(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()).expect("time"))
        .expect("LastIncreaseDateTime");
    for id in tally.skipped_with("stale") {
        assert!(
            times[id] < changed_at + SETTLE,
            "{id} at {} is not stale",
            times[id]
        );
    }
    let ledger = ledger_items(&world).await;
    println!(
        "table storm: ledger {} claim, {} history, {} leases left",
        ledger.claims.len(),
        ledger.history.len(),
        ledger.leases.len()
    );
    assert_incident_ledger(&ledger, &winner, changed_at);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_a_thousand_throttle_events_changes_a_stream_once() {
    let mut world = World::<Kinesis>::new(("kinesis", "clickstream"), &[]).await;
    let calls = observe_streams(&mut world);
    let world = Arc::new(world);
    world.aws.create_stream(&world.name, 2).await;
    let (events, _) = storm_events(&world, STREAM_SAMPLE, Utc::now());

    let (answers, elapsed) = storm(&world, events).await;

    let tally = Tally::of(&answers);
    let updates = calls.landed("UpdateShardCount");
    let snapshots = snapshots_of(&world, &world.name).await;
    tally.print("stream storm", updates, snapshots.len(), Some(elapsed));
    println!(
        "stream storm: requests sent {:?}, not a success {:?}",
        calls.all(),
        calls.unsuccessful()
    );

    let winner = tally.assert_one_change(&INCIDENT_SKIPS, "stream storm");
    assert_eq!(
        updates,
        1,
        "UpdateShardCount requests: {:?}, not a success {:?}",
        calls.all(),
        calls.unsuccessful()
    );
    assert_eq!(calls.landed("UpdateStreamMode"), 0);
    let view = world.aws.wait_stream_active(&world.name).await;
    assert_eq!(
        (view.open_shards, view.on_demand),
        (4, false),
        "one step: 2 -> 4 shards"
    );
    assert_eq!(snapshots.len(), 1, "{snapshots:?}");
    assert_eq!(
        winner.snapshot,
        Some(format!("s3://{}/{}", world.stores.bucket, snapshots[0]))
    );

    let published = world.pipeline.metrics.published();
    let autofix = published
        .iter()
        .filter(|r| r.outcome == Outcome::Remediated)
        .count();
    let failed = published.iter().filter(|r| r.outcome == Outcome::Failed).count();
    println!(
        "stream storm: metrics published {}, AutoFix {autofix}, Failed {failed}",
        published.len()
    );
    assert_eq!((autofix, failed, published.len()), (1, 0, STORM_EVENTS));

    let ledger = ledger_items(&world).await;
    println!(
        "stream storm: ledger {} claim, {} history, {} leases left",
        ledger.claims.len(),
        ledger.history.len(),
        ledger.leases.len()
    );
    // Kinesis reports no change time: the claim's own start is the change's.
    let (_, until) = ledger.claims.values().next().expect("claim");
    assert_incident_ledger(&ledger, &winner, *until - COOLDOWN);
}

// --- race --------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_invocations_for_one_table_at_the_same_instant_change_it_once() {
    let mut world = World::<DynamoDb>::new(("dynamodb", "orders"), &[]).await;
    let calls = observe_tables(&mut world);
    let world = Arc::new(world);
    let tables: Vec<String> = (0..RACE_ROUNDS).map(|n| format!("{}-r{n}", world.name)).collect();
    join_all(
        tables
            .iter()
            .map(|table| world.aws.create_table(table, 5, 5, &[])),
    )
    .await;

    let mut codes: BTreeMap<&'static str, usize> = BTreeMap::new();
    for (round, table) in tables.iter().enumerate() {
        let now = Utc::now();
        let events = ["a", "b"]
            .map(|side| {
                distinct_event(
                    "dynamodb",
                    TABLE_SAMPLE,
                    "orders",
                    table,
                    &format!("race-{round}-{side}"),
                    now,
                )
            })
            .to_vec();
        let tally = Tally::of(&at_one_instant(&world, events).await);
        tally.assert_one_change(&["cooling-down"], &format!("race {round}"));
        for (code, count) in tally.skip_counts() {
            *codes.entry(code).or_default() += count;
        }
    }

    let mut snapshots = 0;
    for table in &tables {
        assert_eq!(capacity(&world, table).await, (5, 10), "{table}: one step");
        let of_table = snapshots_of(&world, table).await;
        assert_eq!(of_table.len(), 1, "{table}: {of_table:?}");
        snapshots += of_table.len();
    }
    let updates = calls.landed("UpdateTable");
    println!(
        "race: {RACE_ROUNDS} rounds of 2 invocations at one instant, changes in AWS {updates}, \
         snapshots {snapshots}, losers {codes:?}; requests sent {:?}",
        calls.all()
    );
    assert_eq!(updates, RACE_ROUNDS, "one UpdateTable per table");
    let autofix = world
        .pipeline
        .metrics
        .published()
        .iter()
        .filter(|r| r.outcome == Outcome::Remediated)
        .count();
    assert_eq!(autofix, RACE_ROUNDS);
}

// --- redelivery --------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_event_delivered_ten_times_at_once_changes_the_table_once() {
    let mut world = World::<DynamoDb>::new(("dynamodb", "orders"), &[]).await;
    let calls = observe_tables(&mut world);
    let world = Arc::new(world);
    world.aws.create_table(&world.name, 5, 5, &[]).await;
    let event = world.event(TABLE_SAMPLE);

    let answers = at_one_instant(&world, vec![event; REDELIVERIES]).await;

    let tally = Tally::of(&answers);
    let updates = calls.landed("UpdateTable");
    let snapshots = snapshots_of(&world, &world.name).await;
    tally.print("table redelivery x10 at once", updates, snapshots.len(), None);
    tally.assert_one_change(&REDELIVERY_SKIPS, "table redelivery at once");
    assert_eq!(
        updates,
        1,
        "UpdateTable requests: {:?}, not a success {:?}",
        calls.all(),
        calls.unsuccessful()
    );
    assert_eq!(snapshots.len(), 1);
    assert_eq!(capacity(&world, &world.name).await, (5, 10));
    let ledger = ledger_items(&world).await;
    assert_eq!(
        (ledger.claims.len(), ledger.history.len(), ledger.leases.len()),
        (1, 1, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_event_delivered_ten_times_at_once_changes_the_stream_once() {
    let mut world = World::<Kinesis>::new(("kinesis", "clickstream"), &[]).await;
    let calls = observe_streams(&mut world);
    let world = Arc::new(world);
    world.aws.create_stream(&world.name, 2).await;
    let event = world.event(STREAM_SAMPLE);

    let answers = at_one_instant(&world, vec![event; REDELIVERIES]).await;

    let tally = Tally::of(&answers);
    let updates = calls.landed("UpdateShardCount");
    let snapshots = snapshots_of(&world, &world.name).await;
    tally.print("stream redelivery x10 at once", updates, snapshots.len(), None);
    tally.assert_one_change(&REDELIVERY_SKIPS, "stream redelivery at once");
    assert_eq!(
        updates,
        1,
        "UpdateShardCount requests: {:?}, not a success {:?}",
        calls.all(),
        calls.unsuccessful()
    );
    assert_eq!(snapshots.len(), 1);
    assert_eq!(world.aws.wait_stream_active(&world.name).await.open_shards, 4);
    let ledger = ledger_items(&world).await;
    assert_eq!(
        (ledger.claims.len(), ledger.history.len(), ledger.leases.len()),
        (1, 1, 0)
    );
}

/// When each delivery after the first arrives: two in real time (while the resource is
/// UPDATING, then ACTIVE again), the rest as late as EventBridge and Lambda retries can
/// deliver, or later (their clocks moved on; the resource is as AWS left it).
const SPREAD: [(u64, Duration); REDELIVERIES - 1] = [
    (300, Duration::zero()),     // UPDATING, the claim held
    (1_500, Duration::zero()),   // ACTIVE again, the claim held
    (0, Duration::minutes(1)),   // the cooldown
    (0, Duration::seconds(299)), // its last second
    (0, Duration::seconds(301)), // the claim expired; the change is in the history
    (0, Duration::minutes(30)),  //
    (0, Duration::minutes(59)),  // just inside MAX_EVENT_AGE_SECONDS=3600
    (0, Duration::hours(25)),    // the history entry has left the rolling day
    (0, Duration::days(6)),      // the event record is kept 7 days
];

/// Delivers `event` once, then again at each `SPREAD` time; the answers, first one first.
async fn redeliver_over_time<S: Deploy>(world: &World<S>, event: &Value) -> Vec<Answer> {
    let start = Utc::now();
    let mut answers = vec![invoke(world, event.clone(), start).await];
    for (wait_ms, later) in SPREAD {
        tokio::time::sleep(StdDuration::from_millis(wait_ms)).await;
        let now = Utc::now().max(start + later);
        answers.push(invoke(world, event.clone(), now).await);
    }
    answers
}

fn codes(answers: &[Answer]) -> Vec<Option<&'static str>> {
    answers
        .iter()
        .map(|answer| answer.as_ref().expect("answer")[0].code)
        .collect()
}

/// With the default MAX_EVENT_AGE_SECONDS (3600): a day later the event is `too-old`
/// before any call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_event_delivered_ten_times_over_days_changes_the_table_once() {
    let mut world = World::<DynamoDb>::new(("dynamodb", "orders"), &[]).await;
    let calls = observe_tables(&mut world);
    world.aws.create_table(&world.name, 5, 5, &[]).await;

    let answers = redeliver_over_time(&world, &world.event(TABLE_SAMPLE)).await;

    let tally = Tally::of(&answers);
    let updates = calls.landed("UpdateTable");
    let snapshots = snapshots_of(&world, &world.name).await;
    tally.print("table redelivery x10 over 6 days", updates, snapshots.len(), None);
    tally.assert_one_change(&["duplicate", "too-old"], "table redelivery over time");
    let (dup, old) = (Some("duplicate"), Some("too-old"));
    assert_eq!(
        codes(&answers),
        [None, dup, dup, dup, dup, dup, dup, dup, old, old]
    );
    assert_eq!(
        updates,
        1,
        "UpdateTable requests: {:?}, not a success {:?}",
        calls.all(),
        calls.unsuccessful()
    );
    assert_eq!(snapshots.len(), 1);
    assert_eq!(capacity(&world, &world.name).await, (5, 10));
}

/// With no age limit (MAX_EVENT_AGE_SECONDS=0): the claim names the event that changed the
/// stream until the next change, so every redelivery, days later too, is a duplicate from
/// the one refused claim, before any describe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_event_delivered_ten_times_over_days_changes_the_stream_once() {
    let mut world =
        World::<Kinesis>::new(("kinesis", "clickstream"), &[("MAX_EVENT_AGE_SECONDS", "0")]).await;
    let calls = observe_streams(&mut world);
    world.aws.create_stream(&world.name, 2).await;

    let answers = redeliver_over_time(&world, &world.event(STREAM_SAMPLE)).await;

    let tally = Tally::of(&answers);
    let updates = calls.landed("UpdateShardCount");
    let snapshots = snapshots_of(&world, &world.name).await;
    tally.print(
        "stream redelivery x10 over 6 days",
        updates,
        snapshots.len(),
        None,
    );
    tally.assert_one_change(&["duplicate"], "stream redelivery over time");
    let dup = Some("duplicate");
    assert_eq!(
        codes(&answers),
        [None, dup, dup, dup, dup, dup, dup, dup, dup, dup]
    );
    assert_eq!(
        updates,
        1,
        "UpdateShardCount requests: {:?}, not a success {:?}",
        calls.all(),
        calls.unsuccessful()
    );
    assert_eq!(snapshots.len(), 1);
    assert_eq!(world.aws.wait_stream_active(&world.name).await.open_shards, 4);
    let ledger = ledger_items(&world).await;
    assert_eq!(
        (ledger.claims.len(), ledger.history.len(), ledger.leases.len()),
        (1, 1, 0)
    );
}

// --- a race with another writer ----------------------------------------------------------

/// The stream adapter, with someone else's UpdateShardCount landing between unthrottle's
/// describe and its own (an operator, another scaler, a deploy).
struct Interloper {
    streams: SdkStreams,
    hand: aws_sdk_kinesis::Client,
}

impl Describe<Kinesis> for Interloper {
    fn describe(
        &self,
        resource: &ResourceRef,
    ) -> impl Future<Output = PortResult<Described<StreamState>>> + Send {
        self.streams.describe(resource)
    }
}

impl Diagnose<Kinesis> for Interloper {
    fn diagnose(
        &self,
        target: &StreamTarget,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Diagnosis<StreamMetrics>> + Send {
        self.streams.diagnose(target, now)
    }
}

impl Apply<Kinesis> for Interloper {
    async fn apply(&self, state: &StreamState, change: &StreamChange) -> PortResult<()> {
        self.hand
            .update_shard_count()
            .stream_name(&state.name)
            .target_shard_count(3)
            .scaling_type(aws_sdk_kinesis::types::ScalingType::UniformScaling)
            .send()
            .await
            .expect("the other writer's UpdateShardCount");
        self.streams.apply(state, change).await
    }
}

/// Kinesis refuses UpdateShardCount while the stream is UPDATING (ResourceInUseException;
/// kinesis-local too). Here the update in progress is another writer's: the stream goes to 3
/// shards, not the planned 4. AWS answered our call with an error, so nothing of ours was
/// made: the event must end `failed` (retryable), not be taken for made because the stream
/// is updating (what the lost-answer check did before it asked whether AWS had answered).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_refused_because_another_writer_is_updating_the_stream_is_not_reported_as_made() {
    let world = World::<Kinesis>::new(("kinesis", "clickstream"), &[]).await;
    world.aws.create_stream(&world.name, 2).await;
    let vars = world.stores.env(&[]);
    let env = Env::from_fn(|key| vars.get(key).cloned());
    let pipeline = Pipeline {
        service: Kinesis::from_env(&env).expect("settings"),
        resources: Interloper {
            streams: SdkStreams::new(
                aws_sdk_kinesis::Client::new(&world.aws.sdk),
                aws_sdk_cloudwatch::Client::new(&world.aws.sdk),
            ),
            hand: world.aws.kinesis.clone(),
        },
        ledger: world.aws.ledger(&world.stores.ledger),
        snapshots: world.aws.snapshots(&world.stores.bucket),
        metrics: RecordedMetrics::default(),
        bus: unthrottle::adapters::events::EventBridgeBus::new(aws_sdk_eventbridge::Client::new(
            &world.aws.sdk,
        )),
        options: CoreSettings::from_env(&env).expect("core settings").run,
    };

    let reports = pipeline
        .handle(world.event(STREAM_SAMPLE), Utc::now())
        .await
        .expect("readable");
    let answer = verdict(reports.clone()).map_err(|e| e.to_string());

    let shards = world.aws.wait_stream_active(&world.name).await.open_shards;
    let autofix = pipeline
        .metrics
        .published()
        .iter()
        .filter(|r| r.outcome == Outcome::Remediated)
        .count();
    println!(
        "interloper: open shards after {shards} (planned 4), report {:?} {:?} {:?}, AutoFix {autofix}, \
         invocation answer ok: {}",
        reports[0].outcome,
        reports[0].code,
        reports[0].after,
        answer.is_ok()
    );
    assert_eq!(shards, 3, "only the other writer's change was made");
    assert_ne!(
        reports[0].outcome,
        Outcome::Remediated,
        "reported as made, though the stream has {shards} shards, not 4: {:?}",
        reports[0]
    );
}
