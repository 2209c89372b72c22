//! In-memory fakes of every port, with the same contracts as the SDK adapters, so the
//! pipeline's rules are tested fast and without I/O. The emulator tests in `tests/` check
//! the SDK adapters against the same contracts.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::core::config::RunOptions;
use crate::core::diagnosis::Diagnosis;
use crate::core::domain::{Action, ServiceId};
use crate::core::domain::{HistoryEntry, OnDemandPolicy, ResourceRef, Status};
use crate::core::envelope::Scope;
use crate::core::error::{Error, ErrorKind, Result};
use crate::core::guards::Growth;
use crate::core::guards::rolling_day;
use crate::core::ledger::{
    Admission, Claim, LedgerView, Refusal, Release, Sighting, TalliedCall, Ticket, history_retention,
    tally_partition,
};
use crate::core::pipeline::{Invocation, Pipeline};
use crate::core::ports::{Announce, Apply, Describe, Described, Diagnose, Ledger, Metrics, Snapshots, Tally};
use crate::core::report::{Outcome, Report};
use crate::core::service::Service;
use crate::dynamodb::{
    BillingMode, Capacity, Decreases, DynamoDb, IndexState, OnDemandMax, TableChange, TableMetrics,
    TablePolicy, TableState, TableTarget,
};
use crate::kinesis::{Kinesis, Shard, StreamChange, StreamMetrics, StreamMode, StreamState, StreamTarget};

fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A provisioned, ACTIVE table with the given capacity and GSIs.
pub fn provisioned_table(name: &str, read: u64, write: u64, gsis: &[(&str, u64, u64)]) -> TableState {
    TableState {
        name: name.to_owned(),
        status: Status::Active,
        billing: BillingMode::Provisioned,
        capacity: Capacity { read, write },
        last_change: None,
        decreases: Decreases::default(),
        indexes: gsis
            .iter()
            .map(|(gsi, read, write)| IndexState {
                name: (*gsi).to_owned(),
                status: Status::Active,
                capacity: Capacity {
                    read: *read,
                    write: *write,
                },
                last_change: None,
                decreases: Decreases::default(),
            })
            .collect(),
        last_switch_to_on_demand: None,
        auto_scaling: Vec::new(),
        on_demand_max: OnDemandMax::default(),
        insights_opt_in: false,
        insights: Vec::new(),
    }
}

/// Doubling, capped at 100 units each way, at most one switch to on-demand a day.
pub fn table_policy(on_demand: OnDemandPolicy) -> TablePolicy {
    TablePolicy {
        growth: Growth {
            factor: 2.0,
            min_step: 1,
        },
        headroom: 1.25,
        max_read: 100,
        max_write: 100,
        on_demand,
        max_switches_per_day: 1,
        raise_on_demand_max: false,
        max_on_demand: Capacity {
            read: 1_000,
            write: 1_000,
        },
    }
}

type Tags = HashMap<String, String>;

/// DynamoDB tables in memory. Updates change the state and are remembered.
#[derive(Default)]
pub struct FakeTables {
    tables: Mutex<BTreeMap<String, (TableState, Tags)>>,
    updates: Mutex<Vec<(String, TableChange)>>,
    describes: Mutex<u32>,
    fail_updates: Option<Error>,
    /// Make the change, then answer with this error, as when the response is lost.
    lose_responses: Option<Error>,
    /// How long each describe takes (on tokio's clock).
    describe_delay: Option<std::time::Duration>,
    /// What each metrics lookup answers (`Unavailable` until set), and the targets asked about.
    diagnosis: Option<Diagnosis<TableMetrics>>,
    diagnosed: Mutex<Vec<TableTarget>>,
}

impl FakeTables {
    pub fn with(table: TableState) -> Self {
        Self::default().and(table, &[])
    }

    pub fn and(self, table: TableState, tags: &[(&str, &str)]) -> Self {
        let tags = tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        locked(&self.tables).insert(table.name.clone(), (table, tags));
        self
    }

    pub fn failing_updates(mut self, error: Error) -> Self {
        self.fail_updates = Some(error);
        self
    }

    /// Each describe takes this long, on tokio's clock (pause it in the test).
    pub fn slow_describes(mut self, delay: std::time::Duration) -> Self {
        self.describe_delay = Some(delay);
        self
    }

    /// Every update is made, but its answer is this error (a response lost on the way back).
    pub fn losing_responses(mut self, error: Error) -> Self {
        self.lose_responses = Some(error);
        self
    }

    /// Every metrics lookup answers these figures.
    pub fn measuring(mut self, metrics: TableMetrics) -> Self {
        self.diagnosis = Some(Diagnosis::Measured(metrics));
        self
    }

    /// The targets a metrics lookup was made for, in order.
    pub fn diagnosed(&self) -> Vec<TableTarget> {
        locked(&self.diagnosed).clone()
    }

    pub fn state(&self, name: &str) -> Option<TableState> {
        locked(&self.tables).get(name).map(|(state, _)| state.clone())
    }

    pub fn updates(&self) -> Vec<(String, TableChange)> {
        locked(&self.updates).clone()
    }

    pub fn describe_calls(&self) -> u32 {
        *locked(&self.describes)
    }
}

/// The error the adapters return for a resource that does not exist.
pub fn not_found(operation: &str, resource: String) -> Error {
    Error::new(
        ErrorKind::NotFound,
        operation,
        resource,
        "ResourceNotFoundException",
    )
}

impl Describe<DynamoDb> for FakeTables {
    async fn describe(&self, table: &ResourceRef) -> Result<Described<TableState>> {
        let table = table.name.as_str();
        if let Some(delay) = self.describe_delay {
            tokio::time::sleep(delay).await;
        }
        *locked(&self.describes) += 1;
        let tables = locked(&self.tables);
        let (state, tags) = tables
            .get(table)
            .ok_or_else(|| not_found("DescribeTable", format!("table {table}")))?;
        Ok(Described {
            state: state.clone(),
            tags: tags.clone(),
            raw: json!({ "Table": state }),
        })
    }
}

impl Diagnose<DynamoDb> for FakeTables {
    async fn diagnose(&self, target: &TableTarget, _now: DateTime<Utc>) -> Diagnosis<TableMetrics> {
        locked(&self.diagnosed).push(target.clone());
        self.diagnosis
            .clone()
            .unwrap_or_else(|| Diagnosis::Unavailable("no metrics in this fake".to_owned()))
    }
}

/// The figures `measuring` set, over any window; an error (as a lookup that failed) without.
fn measured<E: Clone>(diagnosis: &Option<Diagnosis<E>>, name: &str) -> Result<E> {
    match diagnosis {
        Some(Diagnosis::Measured(figures)) => Ok(figures.clone()),
        _ => Err(Error::new(
            ErrorKind::Transient,
            "GetMetricData",
            name.to_owned(),
            "no metrics in this fake",
        )),
    }
}

impl crate::core::ports::Measure<DynamoDb> for FakeTables {
    async fn measure(
        &self,
        name: &str,
        _since: DateTime<Utc>,
        _until: DateTime<Utc>,
    ) -> Result<TableMetrics> {
        measured(&self.diagnosis, name)
    }
}

impl Apply<DynamoDb> for FakeTables {
    async fn apply(&self, table: &TableState, change: &TableChange) -> Result<()> {
        if let Some(error) = &self.fail_updates {
            return Err(error.clone());
        }
        let table = table.name.as_str();
        let mut tables = locked(&self.tables);
        let (state, _) = tables
            .get_mut(table)
            .ok_or_else(|| not_found("UpdateTable", format!("table {table}")))?;
        match change {
            TableChange::SwitchToOnDemand => state.billing = BillingMode::OnDemand,
            TableChange::SwitchToProvisioned { table, indexes } => {
                state.billing = BillingMode::Provisioned;
                state.capacity = *table;
                for gsi in &mut state.indexes {
                    if let Some(capacity) = indexes.get(&gsi.name) {
                        gsi.capacity = *capacity;
                    }
                }
            }
            TableChange::RaiseOnDemandMax(max) => state.on_demand_max = *max,
            TableChange::EnableContributorInsights { .. } => {}
            TableChange::Scale {
                table: capacity,
                indexes,
                floors,
            } => {
                for floor in floors {
                    let target = state
                        .auto_scaling
                        .iter_mut()
                        .find(|target| target.index == floor.index && target.side == floor.side)
                        .ok_or_else(|| not_found("RegisterScalableTarget", format!("{table}: {floor:?}")))?;
                    target.min = floor.min;
                    target.max = floor.max;
                }
                if let Some(capacity) = capacity {
                    state.capacity = *capacity;
                }
                for gsi in &mut state.indexes {
                    if let Some(capacity) = indexes.get(&gsi.name) {
                        gsi.capacity = *capacity;
                    }
                }
            }
        }
        locked(&self.updates).push((table.to_owned(), change.clone()));
        match &self.lose_responses {
            Some(error) => Err(error.clone()),
            None => Ok(()),
        }
    }
}

/// What the DynamoDB adapter keeps in one resource's item.
#[derive(Default, Clone)]
struct ResourceRecord {
    claim: Option<Claim>,
    lease: Option<Claim>,
    refusal: Option<Refusal>,
    changes: Vec<HistoryEntry>,
    diagnosed: Vec<String>,
}

#[derive(Default)]
struct LedgerState {
    resources: HashMap<String, ResourceRecord>,
    /// (resource key, sighting key) -> the distinct events seen.
    sightings: HashMap<(String, String), std::collections::BTreeSet<String>>,
    /// (tally partition, count key) -> (caller, the event ids remembered, the count).
    tallies: HashMap<(String, String), (String, std::collections::BTreeSet<String>, u32)>,
    /// (tally partition, caller) -> until when the caller's incident is claimed.
    digests: HashMap<(String, String), DateTime<Utc>>,
    writes: u32,
}

/// The ledger in memory, with the DynamoDB adapter's conditional-write semantics.
#[derive(Default)]
pub struct MemoryLedger {
    state: Mutex<LedgerState>,
}

impl MemoryLedger {
    pub fn writes(&self) -> u32 {
        locked(&self.state).writes
    }

    fn record_of(&self, resource: &ResourceRef) -> ResourceRecord {
        locked(&self.state)
            .resources
            .get(&resource.key())
            .cloned()
            .unwrap_or_default()
    }

    /// Whether any resource is leased, claimed or backing off: what an event that changed
    /// nothing must not leave (its lease is taken and given back).
    pub fn holds_anything(&self) -> bool {
        locked(&self.state)
            .resources
            .values()
            .any(|record| record.lease.is_some() || record.claim.is_some() || record.refusal.is_some())
    }

    /// The claim of the event that changed the resource last.
    pub fn claim_of(&self, resource: &ResourceRef) -> Option<Claim> {
        self.record_of(resource).claim
    }

    /// An invocation's lease on the resource (none once it committed or gave it back).
    pub fn lease_of(&self, resource: &ResourceRef) -> Option<Claim> {
        self.record_of(resource).lease
    }

    pub fn refusal(&self, resource: &ResourceRef) -> Option<Refusal> {
        self.record_of(resource).refusal
    }

    pub fn history(&self, resource: &ResourceRef) -> Vec<HistoryEntry> {
        self.record_of(resource).changes
    }
}

impl Tally for MemoryLedger {
    async fn tally(&self, resource: &ResourceRef, call: &TalliedCall) -> Result<bool> {
        let mut state = locked(&self.state);
        let (_, events, hits) = state
            .tallies
            .entry((tally_partition(resource), call.key()))
            .or_insert_with(|| (call.caller.clone(), Default::default(), 0));
        let new = !events.contains(&call.event_id);
        if new {
            *hits += 1;
            if events.len() < TalliedCall::REMEMBERED_PER_MINUTE as usize {
                events.insert(call.event_id.clone());
            }
        }
        state.writes += 1;
        Ok(new)
    }

    async fn first_in_window(
        &self,
        resource: &ResourceRef,
        caller: &str,
        at: DateTime<Utc>,
        minutes: u32,
    ) -> Result<bool> {
        let mut state = locked(&self.state);
        let key = (tally_partition(resource), caller.to_owned());
        if state.digests.get(&key).is_some_and(|until| *until > at) {
            return Ok(false);
        }
        state
            .digests
            .insert(key, at + chrono::Duration::minutes(i64::from(minutes)));
        state.writes += 1;
        Ok(true)
    }

    async fn callers(
        &self,
        resource: &ResourceRef,
        at: DateTime<Utc>,
        minutes: u32,
    ) -> Result<Vec<(String, u32)>> {
        let partition = tally_partition(resource);
        let (from, until) = TalliedCall::window(at, minutes);
        let mut by_caller: BTreeMap<String, u32> = BTreeMap::new();
        for ((pk, sk), (caller, _, hits)) in &locked(&self.state).tallies {
            if *pk == partition && *sk >= from && *sk <= until {
                *by_caller.entry(caller.clone()).or_default() += hits;
            }
        }
        Ok(by_caller.into_iter().collect())
    }
}

impl MemoryLedger {
    fn view_of(record: &ResourceRecord, now: DateTime<Utc>) -> LedgerView {
        let mut view = LedgerView {
            claim: record.claim.clone(),
            lease: record.lease.clone(),
            refusal: record.refusal.clone(),
            diagnosed: record.diagnosed.clone(),
            ..LedgerView::default()
        };
        for entry in &record.changes {
            if entry.at <= now - history_retention() {
                view.expired.push(entry.clone());
            } else if entry.at > now - rolling_day() {
                view.history.push(entry.clone());
            }
        }
        view.history.sort_by_key(|entry| entry.at);
        view
    }
}

impl Ledger for MemoryLedger {
    async fn view(&self, resource: &ResourceRef, now: DateTime<Utc>) -> Result<LedgerView> {
        Ok(Self::view_of(&self.record_of(resource), now))
    }

    /// The DynamoDB adapter's claim condition, on the record in memory.
    async fn claim(&self, ticket: &Ticket) -> Result<Admission> {
        let mut state = locked(&self.state);
        let record = state.resources.entry(ticket.resource.key()).or_default();
        let before = Self::view_of(record, ticket.now);
        let me = Some(&ticket.invocation);
        let ended = |held: &Option<Claim>| held.as_ref().is_none_or(|held| held.until <= ticket.now);
        let free = record
            .lease
            .as_ref()
            .is_some_and(|lease| lease.invocation.as_ref() == me)
            || (ended(&record.lease)
                && ended(&record.claim)
                && record
                    .claim
                    .as_ref()
                    .is_none_or(|claim| claim.holder != ticket.event_id)
                && !record.diagnosed.contains(&ticket.event_id)
                && record
                    .refusal
                    .as_ref()
                    .is_none_or(|refusal| refusal.until <= ticket.now));
        if !free {
            return Ok(Admission::Held(before));
        }
        record.lease = Some(Claim {
            holder: ticket.event_id.clone(),
            until: ticket.now + ticket.lease,
            invocation: Some(ticket.invocation.clone()),
        });
        state.writes += 1;
        Ok(Admission::Granted(before))
    }

    async fn commit(
        &self,
        ticket: &Ticket,
        changes: &[HistoryEntry],
        expired: &[HistoryEntry],
        forgive: bool,
    ) -> Result<()> {
        let mut state = locked(&self.state);
        let record = state.resources.entry(ticket.resource.key()).or_default();
        let mine =
            record.lease.as_ref().and_then(|lease| lease.invocation.as_ref()) == Some(&ticket.invocation);
        let made = record.claim.as_ref().is_some_and(|claim| {
            claim.holder == ticket.event_id && claim.invocation.as_ref() == Some(&ticket.invocation)
        });
        if !mine && !made {
            return Err(Error::new(
                ErrorKind::Transient,
                "UpdateItem (commit)",
                ticket.resource.to_string(),
                "the lease ended before the change was recorded",
            ));
        }
        record.lease = None;
        record.claim = Some(Claim {
            holder: ticket.event_id.clone(),
            until: ticket.now + ticket.cooldown,
            invocation: Some(ticket.invocation.clone()),
        });
        record.changes.retain(|entry| !expired.contains(entry));
        record.changes.extend(changes.iter().cloned());
        if forgive {
            record.refusal = None;
        }
        state.writes += 1;
        Ok(())
    }

    async fn release(&self, ticket: &Ticket, release: Release<'_>, refusal: Option<&Refusal>) -> Result<()> {
        let mut state = locked(&self.state);
        let record = state.resources.entry(ticket.resource.key()).or_default();
        let me = Some(&ticket.invocation);
        let leased = record
            .lease
            .as_ref()
            .is_some_and(|lease| lease.invocation.as_ref() == me);
        match release {
            Release::Lease if leased => record.lease = None,
            Release::Diagnosed(diagnosed) if leased => {
                record.lease = None;
                record.diagnosed = diagnosed.to_vec();
            }
            Release::Commit(undone)
                if record.claim.as_ref().is_some_and(|claim| {
                    claim.holder == ticket.event_id && claim.invocation.as_ref() == me
                }) =>
            {
                record.claim = None;
                record.changes.retain(|entry| !undone.contains(entry));
            }
            _ => return Ok(()),
        }
        if let Some(refusal) = refusal {
            record.refusal = Some(refusal.clone());
        }
        state.writes += 1;
        Ok(())
    }

    async fn sight(&self, resource: &ResourceRef, sighting: &Sighting) -> Result<u32> {
        let mut state = locked(&self.state);
        state.writes += 1;
        let seen = state
            .sightings
            .entry((resource.key(), sighting.key()))
            .or_default();
        seen.insert(sighting.event_id.clone());
        Ok(u32::try_from(seen.len()).unwrap_or(u32::MAX))
    }

    async fn record(&self, resource: &ResourceRef, entry: &HistoryEntry) -> Result<()> {
        let mut state = locked(&self.state);
        state
            .resources
            .entry(resource.key())
            .or_default()
            .changes
            .push(entry.clone());
        state.writes += 1;
        Ok(())
    }
}

/// Snapshot objects in memory; optionally refuses every put, like a missing bucket.
#[derive(Default)]
pub struct MemorySnapshots {
    objects: Mutex<Vec<(String, Vec<u8>)>>,
    refuse: bool,
}

impl MemorySnapshots {
    pub fn refusing() -> Self {
        Self {
            refuse: true,
            ..Self::default()
        }
    }

    pub fn objects(&self) -> Vec<(String, serde_json::Value)> {
        locked(&self.objects)
            .iter()
            .map(|(key, body)| (key.clone(), serde_json::from_slice(body).unwrap_or_default()))
            .collect()
    }
}

impl Snapshots for MemorySnapshots {
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<String> {
        if self.refuse {
            return Err(Error::new(
                ErrorKind::NotFound,
                "PutObject",
                "s3://missing-bucket",
                "NoSuchBucket",
            ));
        }
        locked(&self.objects).push((key.to_owned(), body));
        Ok(format!("s3://memory/{key}"))
    }
}

impl crate::core::ports::SnapshotArchive for MemorySnapshots {
    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(locked(&self.objects)
            .iter()
            .map(|(key, _)| key.clone())
            .filter(|key| key.starts_with(prefix))
            .collect())
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>> {
        locked(&self.objects)
            .iter()
            .rev()
            .find(|(kept, _)| kept == key)
            .map(|(_, body)| body.clone())
            .ok_or_else(|| Error::new(ErrorKind::NotFound, "GetObject", key, "NoSuchKey"))
    }

    fn location(&self, key: &str) -> String {
        format!("s3://memory/{key}")
    }
}

/// Remembers every report published as metrics.
#[derive(Default)]
pub struct RecordedMetrics {
    published: Mutex<Vec<Report>>,
}

impl RecordedMetrics {
    pub fn published(&self) -> Vec<Report> {
        locked(&self.published).clone()
    }
}

impl Metrics for RecordedMetrics {
    async fn publish(&self, reports: &[Report]) -> Result<()> {
        locked(&self.published).extend_from_slice(reports);
        Ok(())
    }
}

/// A CloudTrail "AWS API Call via CloudTrail" event for a throttled DynamoDB call.
pub fn dynamodb_throttle_event(
    event_id: &str,
    operation: &str,
    request_parameters: serde_json::Value,
) -> serde_json::Value {
    json!({
        "version": "0",
        "id": format!("envelope-{event_id}"),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.dynamodb",
        "account": "123456789012",
        "time": "2026-11-20T10:15:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "eventSource": "dynamodb.amazonaws.com",
            "eventName": operation,
            "awsRegion": "us-east-1",
            "errorCode": "ProvisionedThroughputExceededException",
            "errorMessage": "The level of configured provisioned throughput for the table was exceeded.",
            "requestParameters": request_parameters,
            "eventID": event_id,
            "eventCategory": "Data",
            "readOnly": false,
            "recipientAccountId": "123456789012"
        }
    })
}

/// `event` as if its throttle happened at `time`: the envelope's `time` and, where present,
/// CloudTrail's `eventTime` and the alarm's state-change time.
pub fn happened_at(mut event: serde_json::Value, time: DateTime<Utc>) -> serde_json::Value {
    let text = time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    event["time"] = json!(text);
    let detail = &mut event["detail"];
    if detail.get("eventTime").is_some() {
        detail["eventTime"] = json!(text);
    }
    if detail["state"].get("timestamp").is_some() {
        detail["state"]["timestamp"] = json!(text);
    }
    event
}

/// A provisioned, ACTIVE stream with this many open shards, `shardId-00000000000N`, each
/// an equal part of the hash-key space.
pub fn provisioned_stream(name: &str, open_shards: u32) -> StreamState {
    let width = u128::MAX / u128::from(open_shards.max(1));
    StreamState {
        name: name.to_owned(),
        arn: format!("arn:aws:kinesis:us-east-1:123456789012:stream/{name}"),
        status: Status::Active,
        mode: StreamMode::Provisioned,
        open_shards,
        shards: (0..open_shards)
            .map(|n| Shard {
                id: format!("shardId-{n:012}"),
                parent: None,
                start: width * u128::from(n),
                end: if n + 1 == open_shards {
                    u128::MAX
                } else {
                    width * u128::from(n + 1) - 1
                },
            })
            .collect(),
        account: None,
    }
}

/// Kinesis streams in memory. Updates change the state and are remembered.
#[derive(Default)]
pub struct FakeStreams {
    streams: Mutex<BTreeMap<String, StreamState>>,
    updates: Mutex<Vec<(String, StreamChange)>>,
    /// What each metrics lookup answers (`Unavailable` until set).
    diagnosis: Option<Diagnosis<StreamMetrics>>,
}

impl FakeStreams {
    pub fn with(stream: StreamState) -> Self {
        let fake = Self::default();
        locked(&fake.streams).insert(stream.name.clone(), stream);
        fake
    }

    /// Every metrics lookup answers these figures.
    pub fn measuring(mut self, metrics: StreamMetrics) -> Self {
        self.diagnosis = Some(Diagnosis::Measured(metrics));
        self
    }

    pub fn state(&self, name: &str) -> Option<StreamState> {
        locked(&self.streams).get(name).cloned()
    }

    pub fn updates(&self) -> Vec<(String, StreamChange)> {
        locked(&self.updates).clone()
    }
}

impl Describe<Kinesis> for FakeStreams {
    async fn describe(&self, stream: &ResourceRef) -> Result<Described<StreamState>> {
        let stream = stream.name.as_str();
        let state = locked(&self.streams)
            .get(stream)
            .cloned()
            .ok_or_else(|| not_found("DescribeStreamSummary", format!("stream {stream}")))?;
        Ok(Described {
            raw: json!({ "DescribeStreamSummary": { "StreamDescriptionSummary": &state } }),
            state,
            tags: HashMap::new(),
        })
    }
}

impl Diagnose<Kinesis> for FakeStreams {
    async fn diagnose(&self, _target: &StreamTarget, _now: DateTime<Utc>) -> Diagnosis<StreamMetrics> {
        self.diagnosis
            .clone()
            .unwrap_or_else(|| Diagnosis::Unavailable("no metrics in this fake".to_owned()))
    }
}

impl crate::core::ports::Measure<Kinesis> for FakeStreams {
    async fn measure(
        &self,
        name: &str,
        _since: DateTime<Utc>,
        _until: DateTime<Utc>,
    ) -> Result<StreamMetrics> {
        measured(&self.diagnosis, name)
    }
}

impl Apply<Kinesis> for FakeStreams {
    async fn apply(&self, stream: &StreamState, change: &StreamChange) -> Result<()> {
        let mut streams = locked(&self.streams);
        let state = streams
            .get_mut(&stream.name)
            .ok_or_else(|| not_found("UpdateShardCount", format!("stream {}", stream.name)))?;
        match change {
            StreamChange::UpdateShardCount { target } => state.open_shards = *target,
            StreamChange::SwitchToOnDemand => state.mode = StreamMode::OnDemand,
            StreamChange::SplitShard { shard, at } => {
                let at: u128 = at.parse().map_err(|_| not_found("SplitShard", at.clone()))?;
                let parent = state
                    .shards
                    .iter()
                    .position(|open| &open.id == shard)
                    .ok_or_else(|| not_found("SplitShard", shard.clone()))?;
                let split = state.shards.remove(parent);
                for (n, (start, end)) in [(split.start, at - 1), (at, split.end)].into_iter().enumerate() {
                    state.shards.push(Shard {
                        id: format!("{}-child-{n}", split.id),
                        parent: Some(split.id.clone()),
                        start,
                        end,
                    });
                }
                state.open_shards += 1;
            }
        }
        locked(&self.updates).push((stream.name.clone(), change.clone()));
        Ok(())
    }
}

/// A CloudTrail "AWS API Call via CloudTrail" event for a throttled Kinesis call.
pub fn kinesis_throttle_event(
    event_id: &str,
    operation: &str,
    request_parameters: serde_json::Value,
) -> serde_json::Value {
    let mut event = dynamodb_throttle_event(event_id, operation, request_parameters);
    event["source"] = json!("aws.kinesis");
    event["detail"]["eventSource"] = json!("kinesis.amazonaws.com");
    event
}

/// Announcements in memory, in order; or every one refused.
#[derive(Default)]
pub struct RecordedAnnouncements {
    announced: Mutex<Vec<(String, serde_json::Value)>>,
    refuse: bool,
}

impl RecordedAnnouncements {
    /// Every announcement fails, as when EventBridge is unreachable.
    pub fn refusing() -> Self {
        Self {
            refuse: true,
            ..Self::default()
        }
    }

    pub fn announced(&self) -> Vec<(String, serde_json::Value)> {
        locked(&self.announced).clone()
    }
}

impl Announce for RecordedAnnouncements {
    async fn announce(&self, detail_type: &str, detail: &serde_json::Value) -> Result<()> {
        if self.refuse {
            return Err(Error::new(
                ErrorKind::Transient,
                "PutEvents",
                "the default event bus",
                "the bus is unreachable in this fake",
            ));
        }
        locked(&self.announced).push((detail_type.to_owned(), detail.clone()));
        Ok(())
    }
}

/// A pipeline with every store in memory, as `in_memory` builds it.
pub type InMemory<S, R> =
    Pipeline<S, R, MemoryLedger, MemorySnapshots, RecordedMetrics, RecordedAnnouncements>;

/// A pipeline around `service` and `resources` with every store in memory: not a dry run,
/// a 300 s cooldown.
pub fn in_memory<S: Service, R>(service: S, resources: R) -> InMemory<S, R> {
    Pipeline {
        service,
        resources,
        ledger: MemoryLedger::default(),
        snapshots: MemorySnapshots::default(),
        metrics: RecordedMetrics::default(),
        bus: RecordedAnnouncements::default(),
        options: RunOptions {
            dry_run: false,
            cooldown: chrono::Duration::seconds(300),
            max_event_age: None,
            settle: chrono::Duration::seconds(60),
            verify_window: Some(chrono::Duration::minutes(30)),
            sustain: None,
            step_budget: std::time::Duration::from_secs(10),
        },
    }
}

/// A report with only what metrics read: outcome, service, action and code.
pub fn metric_report(
    service: ServiceId,
    resource: &str,
    outcome: Outcome,
    action: Option<Action>,
    code: Option<&'static str>,
) -> Report {
    Report {
        outcome,
        service,
        resource: Some(resource.to_owned()),
        action,
        before: None,
        after: None,
        snapshot: None,
        reason: String::new(),
        code,
        event_id: None,
        error_kind: None,
        retryable: None,
        cause: None,
        evidence: None,
        advice: None,
        quota: None,
        fix_did_not_hold: None,
    }
}

/// Where the sample events' resources live: account 123456789012, us-east-1.
pub fn sample_home() -> Scope {
    Scope {
        account: "123456789012".to_owned(),
        region: "us-east-1".to_owned(),
    }
}

/// In tests, a new invocation at a time, in the samples' account and region.
impl From<DateTime<Utc>> for Invocation {
    fn from(now: DateTime<Utc>) -> Self {
        static INVOCATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = INVOCATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Invocation {
            id: format!("test-invocation-{n}"),
            now,
            home: sample_home(),
            deadline: None,
        }
    }
}

/// The `dynamodb-throttle` function with every setting at its declared default: doubling,
/// caps of 1000 units, never on-demand, every table.
pub fn default_dynamodb() -> std::result::Result<DynamoDb, crate::core::config::ConfigError> {
    <DynamoDb as Service>::from_env(&crate::core::config::Env::from_fn(|_| None))
}

/// The samples' table `orders`, in their account and region.
pub fn sample_table() -> ResourceRef {
    let home = sample_home();
    ResourceRef {
        service: <DynamoDb as Service>::ID,
        account: home.account,
        region: home.region,
        name: "orders".to_owned(),
    }
}

/// Service Quotas in memory: the quotas it knows, and the increases asked for (each becomes
/// an open request, as AWS lists it).
#[derive(Default)]
pub struct FakeQuotas {
    known: Mutex<HashMap<String, crate::api::QuotaState>>,
    requested: Mutex<Vec<(crate::api::aws::QuotaCode, f64)>>,
}

impl FakeQuotas {
    pub fn with(state: crate::api::QuotaState) -> Self {
        let fake = Self::default();
        locked(&fake.known).insert(state.quota_code.clone(), state);
        fake
    }

    /// The increases asked for, in order.
    pub fn requested(&self) -> Vec<(crate::api::aws::QuotaCode, f64)> {
        locked(&self.requested).clone()
    }
}

impl crate::api::aws::Quotas for FakeQuotas {
    async fn state(&self, quota: crate::core::plan::Quota) -> Result<crate::api::QuotaState> {
        locked(&self.known)
            .get(quota.quota_code)
            .cloned()
            .ok_or_else(|| not_found("GetServiceQuota", quota.quota_code.to_owned()))
    }

    async fn request(&self, quota: &crate::api::aws::QuotaCode, desired: f64) -> Result<()> {
        locked(&self.requested).push((quota.clone(), desired));
        if let Some(state) = locked(&self.known).get_mut(&quota.quota_code) {
            state.requests.push(crate::api::QuotaRequest {
                status: "PENDING".into(),
                created: Some(Utc::now()),
                desired: Some(desired),
            });
        }
        Ok(())
    }
}

/// SSM's service settings in memory: each one `false` at AWS's default until changed, and
/// the changes made, in order.
#[derive(Default)]
pub struct FakeSettings {
    known: Mutex<HashMap<String, crate::api::SettingState>>,
    updates: Mutex<Vec<(String, String)>>,
    /// Each update is made, and its answer lost (a timeout after SSM applied it).
    lose_answers: bool,
}

impl FakeSettings {
    pub fn with(state: crate::api::SettingState) -> Self {
        let fake = Self::default();
        locked(&fake.known).insert(state.id.clone(), state);
        fake
    }

    /// The same, losing the answer of every update it makes.
    pub fn losing_answers(self) -> Self {
        Self {
            lose_answers: true,
            ..self
        }
    }

    /// Each `(setting, value)` written, in order (a reset writes `default`).
    pub fn updates(&self) -> Vec<(String, String)> {
        locked(&self.updates).clone()
    }

    fn at_default(id: &str) -> crate::api::SettingState {
        crate::api::SettingState {
            id: id.to_owned(),
            value: "false".into(),
            status: "Default".into(),
            modified: None,
            modified_by: None,
        }
    }
}

impl crate::api::Settings for FakeSettings {
    async fn setting(&self, id: &str) -> Result<crate::api::SettingState> {
        Ok(locked(&self.known)
            .get(id)
            .cloned()
            .unwrap_or_else(|| Self::at_default(id)))
    }

    async fn reread(&self, id: &str) -> Result<crate::api::SettingState> {
        crate::api::Settings::setting(self, id).await
    }

    async fn update(&self, id: &str, value: &str) -> Result<()> {
        locked(&self.updates).push((id.to_owned(), value.to_owned()));
        locked(&self.known).insert(
            id.to_owned(),
            crate::api::SettingState {
                id: id.to_owned(),
                value: value.to_owned(),
                status: "Customized".into(),
                modified: Some(Utc::now()),
                modified_by: Some("unthrottle".into()),
            },
        );
        if self.lose_answers {
            return Err(Error::new(
                ErrorKind::Transient,
                "UpdateServiceSetting",
                id.to_owned(),
                "timed out after it was made",
            )
            .with_unknown_outcome());
        }
        Ok(())
    }

    async fn reset(&self, id: &str) -> Result<crate::api::SettingState> {
        locked(&self.updates).push((id.to_owned(), "default".to_owned()));
        let mut state = Self::at_default(id);
        state.modified = Some(Utc::now());
        locked(&self.known).insert(id.to_owned(), state.clone());
        Ok(state)
    }
}

/// api-throttle's adapters in memory: no caller counted, no quota known, every SSM
/// setting at AWS's default.
pub fn memory_apis() -> crate::api::Apis<MemoryLedger, FakeQuotas, FakeSettings> {
    crate::api::Apis::new(
        MemoryLedger::default(),
        FakeQuotas::default(),
        FakeSettings::default(),
    )
}

/// The digest lines api-throttle sent, in order.
#[derive(Default)]
pub struct RecordedDigest {
    lines: Mutex<Vec<String>>,
}

impl RecordedDigest {
    pub fn lines(&self) -> Vec<String> {
        locked(&self.lines).clone()
    }
}

impl crate::api::aws::Digest for RecordedDigest {
    async fn send(&self, line: &str) -> Result<()> {
        locked(&self.lines).push(line.to_owned());
        Ok(())
    }
}

/// The symmetric KMS quota as Service Quotas would describe it: 10,000/s applied, AWS's
/// default 10,000/s, adjustable, no request yet.
pub fn kms_quota() -> crate::api::QuotaState {
    crate::api::QuotaState {
        service_code: "kms".into(),
        quota_code: "L-6E3AF000".into(),
        value: 10_000.0,
        adjustable: true,
        aws_default: Some(10_000.0),
        requests: Vec::new(),
    }
}
