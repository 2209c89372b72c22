//! Issue 9: 48 hours of simulated time against in-memory AWS that enforces AWS's own rules.
//!
//! One table (`orders`, GSI `by-customer`) and one stream (`clickstream`) throttle every 2 to
//! 15 minutes. Each incident raises one to four throttle events (CloudTrail calls and alarms,
//! built from the samples in `events/`) whose throttle time is the incident's; each event is
//! delivered twice, 0 s to 2 h late, and the deliveries are shuffled in small windows. An
//! operator switches on-demand resources back to provisioned by hand, so the rolling-24-hour
//! switch guards are pressed again and again.
//!
//! The fakes (`StrictTables`, `StrictStreams`) run on the simulated clock: an update leaves the
//! resource UPDATING for a while, then ACTIVE with the new capacity, and DescribeTable reports
//! `LastIncreaseDateTime` / `LastUpdateToPayPerRequestDateTime` as DynamoDB does. Every call
//! AWS would refuse is refused with an error of kind `Refused` and recorded as a violation.
//!
//! Each scenario holds: no violation; no change, made or tried, for a stale event (a throttle
//! from before the resource's previous change, by anyone, plus `SETTLE_SECONDS`); at most one
//! change per incident; every handler result and every verdict `Ok`; no failed report; a
//! snapshot before every update call. It also checks that the run pressed every rule it claims
//! to, and prints its figures (`cargo test -p integration-tests --test simulation --
//! --nocapture`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};
use unthrottle::core::config::{CoreSettings, Env};
use unthrottle::core::diagnosis::Diagnosis;
use unthrottle::core::domain::{ResourceRef, Status};
use unthrottle::core::error::{Error, ErrorKind, Result};
use unthrottle::core::pipeline::verdict;
use unthrottle::core::ports::{Apply, Describe, Described, Diagnose};
use unthrottle::core::report::Outcome;
use unthrottle::core::service::Service;
use unthrottle::dynamodb::{
    BillingMode, Capacity, DynamoDb, TableChange, TableMetrics, TableState, TableTarget,
};
use unthrottle::kinesis::{Kinesis, StreamChange, StreamMetrics, StreamMode, StreamState, StreamTarget};
use unthrottle::testing::InMemory;
use unthrottle::testing::{happened_at, in_memory, provisioned_stream, provisioned_table};

const TABLE: &str = "orders";
const GSI: &str = "by-customer";
const STREAM: &str = "clickstream";
const SEED: u64 = 0x5EED_0009;

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ---------------------------------------------------------------------------------------------
// The simulated clock and a deterministic pseudo-random source.

/// The simulated clock: the fakes read it, the simulation moves it forward.
#[derive(Clone)]
struct Clock(Arc<Mutex<DateTime<Utc>>>);

impl Clock {
    fn starting_at(start: DateTime<Utc>) -> Self {
        Clock(Arc::new(Mutex::new(start)))
    }

    fn now(&self) -> DateTime<Utc> {
        *locked(&self.0)
    }

    fn advance_to(&self, time: DateTime<Utc>) {
        let mut now = locked(&self.0);
        assert!(
            time >= *now,
            "simulated time runs forward: {time} is before {now}"
        );
        *now = time;
    }
}

/// SplitMix64: small, fast and the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        let n = u64::try_from(n).unwrap();
        usize::try_from(self.next() % n).unwrap()
    }

    /// A whole number from `low` to `high`, both included.
    fn between(&mut self, low: i64, high: i64) -> i64 {
        let span = usize::try_from(high - low + 1).unwrap();
        low + i64::try_from(self.below(span)).unwrap()
    }

    fn percent(&mut self) -> usize {
        self.below(100)
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// Changes of one kind in AWS's rolling 24 h before `now`.
fn in_last_day(times: &[DateTime<Utc>], now: DateTime<Utc>) -> usize {
    times.iter().filter(|at| **at > now - Duration::hours(24)).count()
}

// ---------------------------------------------------------------------------------------------
// What the fakes share: who changed what, and the calls AWS would have refused.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Actor {
    Unthrottle,
    Operator,
}

#[derive(Debug, Clone)]
struct Change {
    at: DateTime<Utc>,
    by: Actor,
    what: String,
}

/// An update AWS accepted and is still working on: the resource is UPDATING until `until`.
struct Pending<S> {
    until: DateTime<Utc>,
    after: S,
    /// GSIs the update touches (tables only): they are UPDATING too.
    indexes: Vec<String>,
}

/// The record every strict fake keeps.
#[derive(Default)]
struct Journal {
    changes: Vec<Change>,
    violations: Vec<String>,
    describes: usize,
    updates: usize,
    /// Calls the operator made that AWS refused (their problem, not a violation).
    operator_refused: usize,
}

impl Journal {
    /// Records a call AWS would refuse and answers as AWS does.
    fn refuse(&mut self, now: DateTime<Utc>, operation: &str, resource: &str, rule: String) -> Error {
        self.violations
            .push(format!("{} {operation} on {resource}: {rule}", now.to_rfc3339()));
        Error::new(ErrorKind::Refused, operation, resource, rule)
    }

    fn last_change(&self) -> Option<DateTime<Utc>> {
        self.changes.iter().map(|change| change.at).max()
    }

    fn made_by(&self, actor: Actor) -> usize {
        self.changes.iter().filter(|change| change.by == actor).count()
    }
}

/// What the simulation reads from a strict fake.
trait Simulated {
    fn journal(&self) -> MutexGuard<'_, Journal>;
}

// ---------------------------------------------------------------------------------------------
// DynamoDB, strictly.

struct TableRules {
    /// Switches from provisioned to on-demand per table per rolling 24 h (AWS: 4).
    switches_per_day: usize,
    /// The most units one table or GSI may have (AWS's default table quota: 40,000).
    max_units: u64,
    /// How long a table stays UPDATING after a capacity change, and after a billing-mode switch
    /// ("several minutes").
    scale_takes: Duration,
    switch_takes: Duration,
}

struct TableAws {
    /// The table as DescribeTable reports it while ACTIVE.
    table: TableState,
    pending: Option<Pending<TableState>>,
    /// Every switch to on-demand, by anyone: what AWS counts.
    switches: Vec<DateTime<Utc>>,
}

impl TableAws {
    /// Finishes an update whose time is up.
    fn settle(&mut self, now: DateTime<Utc>) {
        if let Some(done) = self.pending.take_if(|pending| pending.until <= now) {
            self.table = done.after;
        }
    }

    fn described(&self) -> TableState {
        let mut state = self.table.clone();
        if let Some(pending) = &self.pending {
            state.status = Status::Busy("UPDATING".into());
            for gsi in &mut state.indexes {
                if pending.indexes.contains(&gsi.name) {
                    gsi.status = Status::Busy("UPDATING".into());
                }
            }
        }
        state
    }

    /// Why AWS would refuse `change` now, if it would.
    fn refusal(&self, rules: &TableRules, change: &TableChange, now: DateTime<Utc>) -> Option<String> {
        if self.pending.is_some() {
            return Some("the table is UPDATING (ResourceInUseException)".into());
        }
        match change {
            // The simulated workload has no on-demand maximum and no opt-in tag.
            TableChange::RaiseOnDemandMax(_)
            | TableChange::EnableContributorInsights { .. }
            | TableChange::SwitchToProvisioned { .. } => {
                Some(format!("the simulation does not model {change:?}"))
            }
            TableChange::SwitchToOnDemand => {
                if self.table.billing == BillingMode::OnDemand {
                    return Some("the table is already PAY_PER_REQUEST (ValidationException)".into());
                }
                let switches = in_last_day(&self.switches, now);
                (switches >= rules.switches_per_day).then(|| {
                    format!(
                        "switch to on-demand number {} in a rolling 24 h; AWS allows {} \
                         (LimitExceededException)",
                        switches + 1,
                        rules.switches_per_day
                    )
                })
            }
            TableChange::Scale { table, indexes, .. } => {
                if self.table.billing == BillingMode::OnDemand {
                    return Some(
                        "provisioned throughput for a PAY_PER_REQUEST table (ValidationException)".into(),
                    );
                }
                if table.is_none() && indexes.is_empty() {
                    return Some("an UpdateTable that changes nothing (ValidationException)".into());
                }
                let mut refusals = Vec::new();
                if let Some(capacity) = table {
                    refusals.extend(units_refusal("table", self.table.capacity, *capacity, rules));
                }
                for (name, capacity) in indexes {
                    match self.table.indexes.iter().find(|gsi| &gsi.name == name) {
                        Some(gsi) => refusals.extend(units_refusal(
                            &format!("GSI {name}"),
                            gsi.capacity,
                            *capacity,
                            rules,
                        )),
                        None => refusals.push(format!("there is no GSI {name} (ValidationException)")),
                    }
                }
                (!refusals.is_empty()).then(|| refusals.join("; "))
            }
        }
    }

    /// Starts an update AWS accepted.
    fn start(
        &mut self,
        journal: &mut Journal,
        change: Change,
        after: TableState,
        indexes: Vec<String>,
        takes: Duration,
    ) {
        self.pending = Some(Pending {
            until: change.at + takes,
            after,
            indexes,
        });
        journal.changes.push(change);
    }
}

/// DynamoDB's rules for new provisioned throughput; unthrottle never lowers capacity, so any
/// decrease is a violation whatever AWS's daily decrease allowance.
fn units_refusal(what: &str, before: Capacity, after: Capacity, rules: &TableRules) -> Option<String> {
    let show = |c: Capacity| format!("{}/{}", c.read, c.write);
    if after.read < before.read || after.write < before.write {
        Some(format!(
            "{what} capacity {} -> {} is a decrease (unthrottle never lowers capacity)",
            show(before),
            show(after)
        ))
    } else if after == before {
        Some(format!(
            "{what} provisioned throughput will not change, {} (ValidationException)",
            show(before)
        ))
    } else if after.read == 0 || after.write == 0 {
        Some(format!(
            "{what} capacity {} has a zero (ValidationException)",
            show(after)
        ))
    } else if after.read > rules.max_units || after.write > rules.max_units {
        Some(format!(
            "{what} capacity {} is above the table quota of {} units (LimitExceededException)",
            show(after),
            rules.max_units
        ))
    } else {
        None
    }
}

struct StrictTables {
    clock: Clock,
    rules: TableRules,
    aws: Mutex<TableAws>,
    journal: Mutex<Journal>,
}

impl StrictTables {
    fn new(clock: Clock, rules: TableRules, table: TableState) -> Self {
        Self {
            clock,
            rules,
            aws: Mutex::new(TableAws {
                table,
                pending: None,
                switches: Vec::new(),
            }),
            journal: Mutex::new(Journal::default()),
        }
    }

    /// The table as it is now, its pending update finished if its time is up.
    fn aws(&self) -> MutexGuard<'_, TableAws> {
        let mut aws = locked(&self.aws);
        aws.settle(self.clock.now());
        aws
    }

    fn state(&self) -> TableState {
        self.aws().described()
    }

    fn switches(&self) -> usize {
        self.aws().switches.len()
    }

    /// An operator switches the table to on-demand by hand: AWS counts it like any switch, and
    /// reports it as `LastUpdateToPayPerRequestDateTime` until the next switch. Returns whether
    /// they did (not while UPDATING or on-demand; AWS refuses them past its daily limit).
    fn switch_to_on_demand_by_hand(&self) -> bool {
        let now = self.clock.now();
        let mut aws = self.aws();
        if aws.pending.is_some() || aws.table.billing == BillingMode::OnDemand {
            return false;
        }
        let mut journal = locked(&self.journal);
        if in_last_day(&aws.switches, now) >= self.rules.switches_per_day {
            journal.operator_refused += 1;
            return false;
        }
        aws.switches.push(now);
        aws.table.last_switch_to_on_demand = Some(now);
        let mut after = aws.table.clone();
        after.billing = BillingMode::OnDemand;
        after.capacity = Capacity::default();
        for gsi in &mut after.indexes {
            gsi.capacity = Capacity::default();
        }
        let indexes = after.indexes.iter().map(|gsi| gsi.name.clone()).collect();
        let change = Change {
            at: now,
            by: Actor::Operator,
            what: "switched to PAY_PER_REQUEST by hand".into(),
        };
        aws.start(&mut journal, change, after, indexes, self.rules.switch_takes);
        true
    }

    /// An operator puts an on-demand table back on provisioned capacity (AWS allows that at
    /// any time) once it has been on-demand for `after`. Returns whether they did.
    fn switch_to_provisioned_by_hand(&self, capacity: Capacity, after: Duration) -> bool {
        let now = self.clock.now();
        let mut aws = self.aws();
        let due = aws.pending.is_none()
            && aws.table.billing == BillingMode::OnDemand
            && aws
                .table
                .last_switch_to_on_demand
                .is_none_or(|switched| now - switched >= after);
        if !due {
            return false;
        }
        // From 0/0 to `capacity`: DynamoDB reports it as the last increase of the table and
        // of each GSI.
        aws.table.last_change = Some(now);
        for gsi in &mut aws.table.indexes {
            gsi.last_change = Some(now);
        }
        let mut table = aws.table.clone();
        table.billing = BillingMode::Provisioned;
        table.capacity = capacity;
        for gsi in &mut table.indexes {
            gsi.capacity = capacity;
        }
        let indexes = table.indexes.iter().map(|gsi| gsi.name.clone()).collect();
        let change = Change {
            at: now,
            by: Actor::Operator,
            what: format!(
                "switched to PROVISIONED {}/{} by hand",
                capacity.read, capacity.write
            ),
        };
        aws.start(
            &mut locked(&self.journal),
            change,
            table,
            indexes,
            self.rules.switch_takes,
        );
        true
    }
}

impl Simulated for StrictTables {
    fn journal(&self) -> MutexGuard<'_, Journal> {
        locked(&self.journal)
    }
}

impl Describe<DynamoDb> for StrictTables {
    async fn describe(&self, resource: &ResourceRef) -> Result<Described<TableState>> {
        let name = resource.name.as_str();
        let aws = self.aws();
        locked(&self.journal).describes += 1;
        if name != aws.table.name {
            return Err(Error::new(
                ErrorKind::NotFound,
                "DescribeTable",
                format!("table {name}"),
                "ResourceNotFoundException",
            ));
        }
        let state = aws.described();
        Ok(Described {
            raw: json!({ "Table": &state }),
            state,
            tags: HashMap::new(),
        })
    }
}

/// The simulated table publishes no metrics: sized by the fixed step, as when CloudWatch
/// cannot be read.
impl Diagnose<DynamoDb> for StrictTables {
    async fn diagnose(&self, _target: &TableTarget, _now: DateTime<Utc>) -> Diagnosis<TableMetrics> {
        Diagnosis::Unavailable("the simulation publishes no metrics".to_owned())
    }
}

impl Apply<DynamoDb> for StrictTables {
    async fn apply(&self, described: &TableState, change: &TableChange) -> Result<()> {
        let now = self.clock.now();
        let resource = format!("table {}", described.name);
        let mut aws = self.aws();
        let mut journal = locked(&self.journal);
        journal.updates += 1;
        if described.name != aws.table.name {
            return Err(journal.refuse(now, "UpdateTable", &resource, "ResourceNotFoundException".into()));
        }
        if let Some(rule) = aws.refusal(&self.rules, change, now) {
            return Err(journal.refuse(now, "UpdateTable", &resource, rule));
        }
        let mut after = aws.table.clone();
        let mut indexes = Vec::new();
        let (what, takes) = match change {
            TableChange::RaiseOnDemandMax(_)
            | TableChange::EnableContributorInsights { .. }
            | TableChange::SwitchToProvisioned { .. } => unreachable!("refused above: {change:?}"),
            TableChange::SwitchToOnDemand => {
                aws.switches.push(now);
                aws.table.last_switch_to_on_demand = Some(now);
                after.last_switch_to_on_demand = Some(now);
                after.billing = BillingMode::OnDemand;
                // DescribeTable reports 0/0 for an on-demand table and its GSIs.
                after.capacity = Capacity::default();
                for gsi in &mut after.indexes {
                    gsi.capacity = Capacity::default();
                    indexes.push(gsi.name.clone());
                }
                ("SwitchToOnDemand".to_owned(), self.rules.switch_takes)
            }
            TableChange::Scale {
                table, indexes: gsis, ..
            } => {
                if let Some(capacity) = table {
                    aws.table.last_change = Some(now);
                    after.last_change = Some(now);
                    after.capacity = *capacity;
                }
                for (name, capacity) in gsis {
                    for (visible, next) in aws.table.indexes.iter_mut().zip(after.indexes.iter_mut()) {
                        if &next.name == name {
                            visible.last_change = Some(now);
                            next.last_change = Some(now);
                            next.capacity = *capacity;
                            indexes.push(name.clone());
                        }
                    }
                }
                let what = format!("ScaleCapacity {}", serde_json::to_string(change).unwrap());
                (what, self.rules.scale_takes)
            }
        };
        let change = Change {
            at: now,
            by: Actor::Unthrottle,
            what,
        };
        aws.start(&mut journal, change, after, indexes, takes);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Kinesis, strictly.

struct StreamRules {
    /// UpdateShardCount calls per stream per rolling 24 h (AWS: 10).
    shard_updates_per_day: usize,
    /// UpdateStreamMode calls per stream per rolling 24 h, either way (AWS: 2).
    mode_changes_per_day: usize,
    /// Shards one stream may have (AWS: 10,000).
    max_shards: u32,
    /// How long a stream stays UPDATING after UpdateShardCount, and after UpdateStreamMode.
    reshard_takes: Duration,
    /// Whether a decrease is a legitimate call (a rollback's) rather than a violation
    /// (the functions never scale down).
    decreases: bool,
    switch_takes: Duration,
}

struct StreamAws {
    stream: StreamState,
    pending: Option<Pending<StreamState>>,
    shard_updates: Vec<DateTime<Utc>>,
    /// Every UpdateStreamMode, by anyone, either way: what AWS counts.
    mode_changes: Vec<DateTime<Utc>>,
    on_demand_since: Option<DateTime<Utc>>,
}

impl StreamAws {
    fn settle(&mut self, now: DateTime<Utc>) {
        if let Some(done) = self.pending.take_if(|pending| pending.until <= now) {
            self.stream = done.after;
        }
    }

    fn described(&self) -> StreamState {
        let mut state = self.stream.clone();
        if self.pending.is_some() {
            state.status = Status::Busy("UPDATING".into());
        }
        state
    }

    fn refusal(&self, rules: &StreamRules, change: &StreamChange, now: DateTime<Utc>) -> Option<String> {
        if self.pending.is_some() {
            return Some("the stream is UPDATING (ResourceInUseException)".into());
        }
        let open = self.stream.open_shards;
        match *change {
            // The simulated stream publishes no shard-level metrics: never asked for.
            StreamChange::SplitShard { .. } => Some(format!("the simulation does not model {change:?}")),
            StreamChange::UpdateShardCount { target } => {
                let updates = in_last_day(&self.shard_updates, now);
                if self.stream.mode == StreamMode::OnDemand {
                    Some("UpdateShardCount on an ON_DEMAND stream (ValidationException)".into())
                } else if u64::from(target) > 2 * u64::from(open) {
                    Some(format!(
                        "{open} -> {target} shards is more than double (LimitExceededException)"
                    ))
                } else if 2 * u64::from(target) < u64::from(open) {
                    Some(format!(
                        "{open} -> {target} shards is below half (LimitExceededException)"
                    ))
                } else if target > rules.max_shards {
                    Some(format!(
                        "{target} shards is above {} per stream (LimitExceededException)",
                        rules.max_shards
                    ))
                } else if target < open && !rules.decreases {
                    Some(format!(
                        "{open} -> {target} shards is a decrease (unthrottle never scales down)"
                    ))
                } else if target == open {
                    Some(format!(
                        "{open} -> {target} shards changes nothing (a call unthrottle must not make)"
                    ))
                } else if updates >= rules.shard_updates_per_day {
                    Some(format!(
                        "UpdateShardCount number {} in a rolling 24 h; AWS allows {} \
                         (LimitExceededException)",
                        updates + 1,
                        rules.shard_updates_per_day
                    ))
                } else {
                    None
                }
            }
            StreamChange::SwitchToOnDemand => {
                let changes = in_last_day(&self.mode_changes, now);
                if self.stream.mode == StreamMode::OnDemand {
                    Some("the stream is already ON_DEMAND (InvalidArgumentException)".into())
                } else if changes >= rules.mode_changes_per_day {
                    Some(format!(
                        "UpdateStreamMode number {} in a rolling 24 h (either way, by anyone); AWS allows {} \
                         (LimitExceededException)",
                        changes + 1,
                        rules.mode_changes_per_day
                    ))
                } else {
                    None
                }
            }
        }
    }
}

struct StrictStreams {
    clock: Clock,
    rules: StreamRules,
    aws: Mutex<StreamAws>,
    journal: Mutex<Journal>,
}

/// What the operator's attempt to put the stream back on provisioned came to.
#[derive(Debug, PartialEq, Eq)]
enum ByHand {
    NotDue,
    Done,
    RefusedByAws,
}

impl StrictStreams {
    fn new(clock: Clock, rules: StreamRules, stream: StreamState) -> Self {
        Self {
            clock,
            rules,
            aws: Mutex::new(StreamAws {
                stream,
                pending: None,
                shard_updates: Vec::new(),
                mode_changes: Vec::new(),
                on_demand_since: None,
            }),
            journal: Mutex::new(Journal::default()),
        }
    }

    fn aws(&self) -> MutexGuard<'_, StreamAws> {
        let mut aws = locked(&self.aws);
        aws.settle(self.clock.now());
        aws
    }

    fn state(&self) -> StreamState {
        self.aws().described()
    }

    /// An operator calls UpdateStreamMode PROVISIONED once the stream has been on-demand for
    /// `after`; AWS counts the call against the stream's two mode changes a day.
    fn switch_to_provisioned_by_hand(&self, after: Duration) -> ByHand {
        let now = self.clock.now();
        let mut aws = self.aws();
        let due = aws.pending.is_none()
            && aws.stream.mode == StreamMode::OnDemand
            && aws.on_demand_since.is_none_or(|since| now - since >= after);
        if !due {
            return ByHand::NotDue;
        }
        let mut journal = locked(&self.journal);
        if in_last_day(&aws.mode_changes, now) >= self.rules.mode_changes_per_day {
            journal.operator_refused += 1;
            return ByHand::RefusedByAws;
        }
        aws.mode_changes.push(now);
        aws.on_demand_since = None;
        let mut after = aws.stream.clone();
        after.mode = StreamMode::Provisioned;
        aws.pending = Some(Pending {
            until: now + self.rules.switch_takes,
            after,
            indexes: Vec::new(),
        });
        journal.changes.push(Change {
            at: now,
            by: Actor::Operator,
            what: "UpdateStreamMode PROVISIONED by hand".into(),
        });
        ByHand::Done
    }
}

impl Simulated for StrictStreams {
    fn journal(&self) -> MutexGuard<'_, Journal> {
        locked(&self.journal)
    }
}

impl Describe<Kinesis> for StrictStreams {
    async fn describe(&self, resource: &ResourceRef) -> Result<Described<StreamState>> {
        let name = resource.name.as_str();
        let aws = self.aws();
        locked(&self.journal).describes += 1;
        if name != aws.stream.name {
            return Err(Error::new(
                ErrorKind::NotFound,
                "DescribeStreamSummary",
                format!("stream {name}"),
                "ResourceNotFoundException",
            ));
        }
        let state = aws.described();
        Ok(Described {
            raw: json!({ "DescribeStreamSummary": { "StreamDescriptionSummary": &state } }),
            state,
            tags: HashMap::new(),
        })
    }
}

/// The simulated stream publishes no metrics: sized by the fixed step.
impl Diagnose<Kinesis> for StrictStreams {
    async fn diagnose(&self, _target: &StreamTarget, _now: DateTime<Utc>) -> Diagnosis<StreamMetrics> {
        Diagnosis::Unavailable("the simulation publishes no metrics".to_owned())
    }
}

impl Apply<Kinesis> for StrictStreams {
    async fn apply(&self, described: &StreamState, change: &StreamChange) -> Result<()> {
        let now = self.clock.now();
        let resource = format!("stream {}", described.name);
        let operation = match change {
            StreamChange::UpdateShardCount { .. } => "UpdateShardCount",
            StreamChange::SwitchToOnDemand => "UpdateStreamMode",
            StreamChange::SplitShard { .. } => "SplitShard",
        };
        let mut aws = self.aws();
        let mut journal = locked(&self.journal);
        journal.updates += 1;
        if described.name != aws.stream.name {
            return Err(journal.refuse(now, operation, &resource, "ResourceNotFoundException".into()));
        }
        if let Some(rule) = aws.refusal(&self.rules, change, now) {
            return Err(journal.refuse(now, operation, &resource, rule));
        }
        let mut after = aws.stream.clone();
        let (what, takes) = match *change {
            StreamChange::SplitShard { .. } => unreachable!("refused above: {change:?}"),
            StreamChange::UpdateShardCount { target } => {
                aws.shard_updates.push(now);
                after.open_shards = target;
                let what = format!("UpdateShardCount {} -> {target}", aws.stream.open_shards);
                (what, self.rules.reshard_takes)
            }
            StreamChange::SwitchToOnDemand => {
                aws.mode_changes.push(now);
                aws.on_demand_since = Some(now);
                after.mode = StreamMode::OnDemand;
                ("UpdateStreamMode ON_DEMAND".to_owned(), self.rules.switch_takes)
            }
        };
        aws.pending = Some(Pending {
            until: now + takes,
            after,
            indexes: Vec::new(),
        });
        journal.changes.push(Change {
            at: now,
            by: Actor::Unthrottle,
            what,
        });
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Incidents, throttle events and their deliveries.

const PUT_ITEM: &str = include_str!("../../events/dynamodb/cloudtrail-putitem-throttled.json");
const GET_ITEM: &str = include_str!("../../events/dynamodb/cloudtrail-getitem-throttled.json");
const QUERY_GSI: &str = include_str!("../../events/dynamodb/cloudtrail-query-gsi-throttled.json");
const TABLE_ALARM: &str = include_str!("../../events/dynamodb/alarm-write-throttle-events.json");
const PUT_RECORD: &str = include_str!("../../events/kinesis/cloudtrail-putrecord-throttled.json");
const PUT_RECORDS: &str = include_str!("../../events/kinesis/cloudtrail-putrecords-stream-arn.json");
const GET_RECORDS: &str = include_str!("../../events/kinesis/cloudtrail-getrecords-throttled.json");
const STREAM_ALARM: &str =
    include_str!("../../events/kinesis/alarm-write-provisioned-throughput-exceeded.json");

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Resource {
    Table,
    Stream,
}

/// One throttle event: CloudTrail's `eventID` or the alarm event's id is `id`.
struct Throttle {
    id: String,
    resource: Resource,
    incident: usize,
    /// When the throttle happened: the incident's time.
    at: DateTime<Utc>,
    event: Value,
}

struct Delivery {
    at: DateTime<Utc>,
    throttle: usize,
    event: Value,
}

/// A sample event renamed `id` and dated `at`.
fn sample(template: &str, id: &str, at: DateTime<Utc>) -> Value {
    let mut event: Value = serde_json::from_str(template).expect("a sample event");
    event["id"] = json!(format!("envelope-{id}"));
    if event["detail"].get("eventID").is_some() {
        event["detail"]["eventID"] = json!(id);
    }
    happened_at(event, at)
}

fn table_event(rng: &mut Rng, id: &str, at: DateTime<Utc>) -> Value {
    // Mostly writes; sometimes a read of the table itself, now and then a read of the GSI.
    let template = match rng.percent() {
        0..=54 => PUT_ITEM,
        55..=69 => TABLE_ALARM,
        70..=91 => GET_ITEM,
        _ => QUERY_GSI,
    };
    sample(template, id, at)
}

fn stream_event(rng: &mut Rng, id: &str, at: DateTime<Utc>) -> Value {
    let template = match rng.percent() {
        0..=39 => PUT_RECORDS,
        40..=64 => PUT_RECORD,
        65..=79 => GET_RECORDS,
        _ => STREAM_ALARM,
    };
    sample(template, id, at)
}

/// How late a delivery is: mostly seconds, sometimes minutes, now and then up to two hours.
fn lateness(rng: &mut Rng) -> Duration {
    Duration::seconds(match rng.percent() {
        0..=54 => rng.between(0, 30),
        55..=79 => rng.between(30, 600),
        80..=91 => rng.between(600, 3600),
        _ => rng.between(3600, 7200),
    })
}

/// Incidents every 2 to 15 minutes on each resource for `hours`, each with one to four events.
fn throttles(rng: &mut Rng, start: DateTime<Utc>, hours: i64) -> Vec<Throttle> {
    let end = start + Duration::hours(hours);
    let mut throttles = Vec::new();
    for resource in [Resource::Table, Resource::Stream] {
        let mut at = start;
        let mut incident = 0;
        loop {
            at += Duration::seconds(rng.between(120, 900));
            if at >= end {
                break;
            }
            incident += 1;
            for n in 0..1 + rng.below(4) {
                let id = format!("{resource:?}-{incident}-{n}").to_lowercase();
                let event = match resource {
                    Resource::Table => table_event(rng, &id, at),
                    Resource::Stream => stream_event(rng, &id, at),
                };
                throttles.push(Throttle {
                    id,
                    resource,
                    incident,
                    at,
                    event,
                });
            }
        }
    }
    throttles
}

/// Each event twice, each copy late on its own; then shuffled within windows of a few
/// deliveries (a shuffled delivery waits for the one before it: time only runs forward).
fn deliveries(rng: &mut Rng, throttles: &[Throttle]) -> Vec<Delivery> {
    let mut deliveries = Vec::new();
    for (index, throttle) in throttles.iter().enumerate() {
        for copy in 0..2 {
            let mut event = throttle.event.clone();
            // CloudTrail may deliver one call twice in two envelopes; a retry keeps the envelope.
            if copy == 1 && event["detail"].get("eventID").is_some() && rng.percent() < 50 {
                event["id"] = json!(format!("envelope-{}-again", throttle.id));
            }
            deliveries.push(Delivery {
                at: throttle.at + lateness(rng),
                throttle: index,
                event,
            });
        }
    }
    deliveries.sort_by_key(|delivery| (delivery.at, delivery.throttle));
    for window in deliveries.chunks_mut(8) {
        rng.shuffle(window);
    }
    for i in 1..deliveries.len() {
        deliveries[i].at = deliveries[i].at.max(deliveries[i - 1].at);
    }
    deliveries
}

// ---------------------------------------------------------------------------------------------
// The run.

type Sim<S, R> = InMemory<S, R>;

#[derive(Default)]
struct Tally {
    deliveries: usize,
    /// `service outcome[ code]` -> reports.
    outcomes: BTreeMap<String, usize>,
    /// `service action` -> changes reported.
    actions: BTreeMap<String, usize>,
    remediated_incidents: BTreeSet<(Resource, usize)>,
    stale_changes: Vec<String>,
    second_changes: Vec<String>,
    failures: Vec<String>,
    handler_errors: Vec<String>,
    verdict_errors: Vec<String>,
    miscounts: Vec<String>,
    operator_table: usize,
    operator_table_on_demand: usize,
    operator_stream: usize,
}

impl Tally {
    fn count(&self, key: &str) -> usize {
        self.outcomes.get(key).copied().unwrap_or(0)
    }
}

/// Hands one delivery to the pipeline and checks what it did against what the fake saw.
async fn deliver<S, R>(
    pipeline: &Sim<S, R>,
    throttle: &Throttle,
    event: Value,
    now: DateTime<Utc>,
    settle: Duration,
    tally: &mut Tally,
) where
    S: Service,
    R: Describe<S> + Diagnose<S> + Apply<S> + Simulated,
{
    tally.deliveries += 1;
    let (changed_before, made_before) = {
        let journal = pipeline.resources.journal();
        (journal.last_change(), journal.made_by(Actor::Unthrottle))
    };
    let reports = match pipeline.handle(event, now).await {
        Ok(reports) => reports,
        Err(error) => {
            tally
                .handler_errors
                .push(format!("{now} {}: {error}", throttle.id));
            return;
        }
    };
    if let Err(error) = verdict(reports.clone()) {
        tally
            .verdict_errors
            .push(format!("{now} {}: {error}", throttle.id));
    }
    let made = pipeline.resources.journal().made_by(Actor::Unthrottle) - made_before;
    let remediated = reports
        .iter()
        .filter(|report| report.outcome == Outcome::Remediated)
        .count();
    if made != remediated {
        tally.miscounts.push(format!(
            "{now} {}: {remediated} remediated report(s) but {made} change(s) made",
            throttle.id
        ));
    }
    for report in &reports {
        let service = report.service.key;
        let outcome = format!("{:?}", report.outcome).to_lowercase();
        let key = match report.code {
            Some(code) => format!("{service} {outcome} {code}"),
            None => format!("{service} {outcome}"),
        };
        *tally.outcomes.entry(key).or_default() += 1;
        match report.outcome {
            Outcome::Remediated => {
                let action = report.action.as_ref().map_or("-", |action| action.name());
                *tally.actions.entry(format!("{service} {action}")).or_default() += 1;
                if let Some(changed) = changed_before
                    && throttle.at < changed + settle
                {
                    tally.stale_changes.push(format!(
                        "{now}: {} changed {service} for a throttle at {}, before its previous change at \
                         {changed} + {} s: {}",
                        throttle.id,
                        throttle.at,
                        settle.num_seconds(),
                        report.reason
                    ));
                }
                if !tally
                    .remediated_incidents
                    .insert((throttle.resource, throttle.incident))
                {
                    tally.second_changes.push(format!(
                        "{now}: {} changed {service} a second time for incident {}",
                        throttle.id, throttle.incident
                    ));
                }
            }
            Outcome::Failed => {
                // A change AWS refused was still tried: it must not have been for a stale event.
                if report.code == Some("apply")
                    && let Some(changed) = changed_before
                    && throttle.at < changed + settle
                {
                    tally.stale_changes.push(format!(
                        "{now}: {} tried to change {service} for a throttle at {}, before its previous \
                         change at {changed} + {} s",
                        throttle.id,
                        throttle.at,
                        settle.num_seconds(),
                    ));
                }
                tally
                    .failures
                    .push(format!("{now} {}: {}", throttle.id, report.reason));
            }
            Outcome::Skipped | Outcome::Planned | Outcome::Diagnosed => {}
            Outcome::Restored => panic!("{now}: a throttle function reported a restore step: {report:?}"),
        }
    }
}

/// A function's settings as its environment would give them.
fn settings<T>(read: impl Fn(&Env) -> T, variables: &[(&str, &str)]) -> T {
    let variables: HashMap<String, String> = variables
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect();
    read(&Env::from_fn(move |key| variables.get(key).cloned()))
}

fn show_list(title: &str, items: &[String]) {
    println!("  {title}: {}", items.len());
    for item in items.iter().take(12) {
        println!("    {item}");
    }
    if items.len() > 12 {
        println!("    ... and {} more", items.len() - 12);
    }
}

/// What varies between runs.
struct Scenario {
    /// The stream function's `MAX_ON_DEMAND_SWITCHES_PER_DAY` (the table's is 4, AWS's limit),
    /// set on the policy directly, so even a value the settings refuse is tried.
    stream_switches_per_day: u32,
    /// Minutes into the run after which an operator switches the table to on-demand by hand
    /// (at their first round where it is provisioned and not updating).
    table_to_on_demand_by_hand: &'static [i64],
}

/// The scenario: the operator only ever switches resources back to provisioned.
#[tokio::test]
async fn forty_eight_hours_of_late_repeated_shuffled_throttles_break_no_aws_rule() {
    simulate(Scenario {
        stream_switches_per_day: 1,
        table_to_on_demand_by_hand: &[],
    })
    .await;
}

/// The same with two stream switches a day asked for. Kinesis allows two UpdateStreamMode
/// calls per stream per rolling 24 h, either way and by anyone; a second switch to on-demand
/// within a day needs a switch back in between, so it is always the third call, and AWS
/// refuses it. The settings refuse 2, and the planner holds to one whatever its policy says.
#[tokio::test]
async fn forty_eight_hours_at_two_stream_switches_a_day_break_no_aws_rule() {
    let refused = settings(
        Kinesis::from_env,
        &[("ON_DEMAND", "allow"), ("MAX_ON_DEMAND_SWITCHES_PER_DAY", "2")],
    );
    assert!(
        refused.is_err(),
        "the settings accept a second stream switch a day"
    );
    simulate(Scenario {
        stream_switches_per_day: 2,
        table_to_on_demand_by_hand: &[],
    })
    .await;
}

/// The same with one switch of the table to on-demand made by hand, on day two. DynamoDB
/// reports only the last switch; once unthrottle switches again, the hand switch is no longer
/// visible, and with `MAX_ON_DEMAND_SWITCHES_PER_DAY=4` unthrottle makes a fifth switch in
/// 24 h, which AWS refuses. Fails while the guard forgets a reported switch it did not make.
#[tokio::test]
async fn forty_eight_hours_with_a_table_switched_to_on_demand_by_hand_break_no_aws_rule() {
    simulate(Scenario {
        stream_switches_per_day: 1,
        table_to_on_demand_by_hand: &[27 * 60 + 30],
    })
    .await;
}

/// 48 simulated hours; prints the figures, then asserts.
async fn simulate(scenario: Scenario) {
    let Scenario {
        stream_switches_per_day,
        table_to_on_demand_by_hand,
    } = scenario;
    let wall = Instant::now();
    let start = Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap();
    let hours = 48;
    let clock = Clock::starting_at(start);

    // The production defaults: cooldown 300 s, MAX_EVENT_AGE_SECONDS 3600, SETTLE_SECONDS 60.
    let run = settings(
        CoreSettings::from_env,
        &[("SNAPSHOT_BUCKET", "b"), ("LEDGER_TABLE", "l")],
    )
    .expect("core settings")
    .run;
    // What a stale event is, whatever the pipeline is told.
    let settle = run.settle;
    // Caps low enough to be reached, on-demand allowed, switch limits at AWS's own.
    let dynamodb = settings(
        DynamoDb::from_env,
        &[
            ("ON_DEMAND", "allow"),
            ("MAX_ON_DEMAND_SWITCHES_PER_DAY", "4"),
            ("MAX_READ_CAPACITY", "40"),
            ("MAX_WRITE_CAPACITY", "40"),
        ],
    )
    .expect("table settings");
    let kinesis = settings(
        Kinesis::from_env,
        &[("ON_DEMAND", "allow"), ("MAX_SHARDS", "10000")],
    )
    .map(|mut kinesis: Kinesis| {
        kinesis.policy.max_switches_per_day = stream_switches_per_day;
        kinesis
    })
    .expect("stream settings");

    let tables = StrictTables::new(
        clock.clone(),
        TableRules {
            switches_per_day: 4,
            max_units: 40_000,
            scale_takes: Duration::seconds(75),
            switch_takes: Duration::minutes(6),
        },
        provisioned_table(TABLE, 5, 5, &[(GSI, 5, 5)]),
    );
    let streams = StrictStreams::new(
        clock.clone(),
        StreamRules {
            shard_updates_per_day: 10,
            mode_changes_per_day: 2,
            max_shards: 10_000,
            reshard_takes: Duration::seconds(150),
            switch_takes: Duration::minutes(6),
            decreases: false,
        },
        provisioned_stream(STREAM, 2),
    );
    let mut table_pipeline = in_memory(dynamodb, tables);
    table_pipeline.options = run;
    let mut stream_pipeline = in_memory(kinesis, streams);
    stream_pipeline.options = run;

    let mut rng = Rng(SEED);
    let throttles = throttles(&mut rng, start, hours);
    let deliveries = deliveries(&mut rng, &throttles);

    let mut tally = Tally::default();
    let mut operator_round = start;
    let mut by_hand: Vec<DateTime<Utc>> = table_to_on_demand_by_hand
        .iter()
        .map(|minutes| start + Duration::minutes(*minutes))
        .collect();
    for delivery in deliveries {
        // Every five minutes the operator looks at what is on-demand.
        while operator_round <= delivery.at {
            clock.advance_to(operator_round);
            if by_hand.first().is_some_and(|due| *due <= operator_round)
                && table_pipeline.resources.switch_to_on_demand_by_hand()
            {
                by_hand.remove(0);
                tally.operator_table_on_demand += 1;
            }
            let back_to = Capacity { read: 5, write: 5 };
            if table_pipeline
                .resources
                .switch_to_provisioned_by_hand(back_to, Duration::minutes(40))
            {
                tally.operator_table += 1;
            }
            if stream_pipeline
                .resources
                .switch_to_provisioned_by_hand(Duration::minutes(40))
                == ByHand::Done
            {
                tally.operator_stream += 1;
            }
            operator_round += Duration::minutes(5);
        }
        clock.advance_to(delivery.at);
        let throttle = &throttles[delivery.throttle];
        match throttle.resource {
            Resource::Table => {
                deliver(
                    &table_pipeline,
                    throttle,
                    delivery.event,
                    delivery.at,
                    settle,
                    &mut tally,
                )
                .await;
            }
            Resource::Stream => {
                deliver(
                    &stream_pipeline,
                    throttle,
                    delivery.event,
                    delivery.at,
                    settle,
                    &mut tally,
                )
                .await;
            }
        }
    }
    let wall = wall.elapsed();

    // The figures.
    let incidents = |resource| {
        throttles
            .iter()
            .filter(|throttle| throttle.resource == resource)
            .map(|throttle| throttle.incident)
            .max()
            .unwrap_or(0)
    };
    let events = |resource| {
        throttles
            .iter()
            .filter(|throttle| throttle.resource == resource)
            .count()
    };
    let table_journal = table_pipeline.resources.journal();
    let stream_journal = stream_pipeline.resources.journal();
    let table_snapshots = table_pipeline.snapshots.objects().len();
    let stream_snapshots = stream_pipeline.snapshots.objects().len();
    let mut violations = table_journal.violations.clone();
    violations.extend(stream_journal.violations.iter().cloned());

    println!(
        "simulation: {hours} h of simulated time in {wall:?} (seed {SEED:#x}); stream switches a day: \
         {stream_switches_per_day}"
    );
    println!(
        "  incidents: table {}, stream {}; throttle events in: {} (table {}, stream {}); deliveries: {}",
        incidents(Resource::Table),
        incidents(Resource::Stream),
        throttles.len(),
        events(Resource::Table),
        events(Resource::Stream),
        tally.deliveries
    );
    println!(
        "  changes by unthrottle: table {}, stream {}; by hand: table {} back to provisioned and {} to \
         on-demand, stream {} back to provisioned (AWS refused the operator {} time(s))",
        table_journal.made_by(Actor::Unthrottle),
        stream_journal.made_by(Actor::Unthrottle),
        tally.operator_table,
        tally.operator_table_on_demand,
        tally.operator_stream,
        table_journal.operator_refused + stream_journal.operator_refused
    );
    for (action, count) in &tally.actions {
        println!("    {action}: {count}");
    }
    println!("  snapshots: table {table_snapshots}, stream {stream_snapshots}");
    println!(
        "  AWS calls: DescribeTable {}, UpdateTable {}, DescribeStreamSummary {}, \
         UpdateShardCount + UpdateStreamMode {}",
        table_journal.describes, table_journal.updates, stream_journal.describes, stream_journal.updates
    );
    println!("  reports by outcome and code:");
    for (key, count) in &tally.outcomes {
        println!("    {key}: {count}");
    }
    let table = table_pipeline.resources.state();
    let stream = stream_pipeline.resources.state();
    println!(
        "  end: table {:?} {}/{} (GSI {}/{}), {} switch(es) to on-demand; stream {:?} {} open shards",
        table.billing,
        table.capacity.read,
        table.capacity.write,
        table.indexes[0].capacity.read,
        table.indexes[0].capacity.write,
        table_pipeline.resources.switches(),
        stream.mode,
        stream.open_shards
    );
    show_list("AWS rule violations", &violations);
    show_list("changes for a stale event", &tally.stale_changes);
    show_list("second changes for one incident", &tally.second_changes);
    show_list("failed reports", &tally.failures);
    show_list("handler errors", &tally.handler_errors);
    show_list("verdict errors", &tally.verdict_errors);
    show_list("changes and reports that disagree", &tally.miscounts);
    println!("  timeline of changes:");
    for (service, journal) in [("table", &table_journal), ("stream", &stream_journal)] {
        for change in &journal.changes {
            println!("    {} {service} {:?}: {}", change.at, change.by, change.what);
        }
    }

    // The rules.
    assert!(
        violations.is_empty(),
        "AWS would have refused {} call(s)",
        violations.len()
    );
    assert!(
        tally.stale_changes.is_empty(),
        "{} change(s) for a stale event",
        tally.stale_changes.len()
    );
    assert!(
        tally.second_changes.is_empty(),
        "an incident changed a resource twice"
    );
    assert!(tally.handler_errors.is_empty(), "a handler returned an error");
    assert!(tally.verdict_errors.is_empty(), "a verdict was an error");
    assert!(tally.failures.is_empty(), "a report failed");
    assert!(tally.miscounts.is_empty(), "reports and changes disagree");
    // Snapshot, then change: one snapshot for every update call, whatever AWS answered.
    assert_eq!(
        table_snapshots, table_journal.updates,
        "one snapshot per UpdateTable"
    );
    assert_eq!(
        stream_snapshots, stream_journal.updates,
        "one snapshot per update"
    );
    assert_eq!(tally.deliveries, 2 * throttles.len());

    // And the run exercised what it claims to: late, repeated and stale events, caps, the
    // daily limits and the switch guards, switches made by hand.
    for key in [
        "dynamodb remediated",
        "dynamodb skipped stale",
        "dynamodb skipped duplicate",
        "dynamodb skipped cooling-down",
        "dynamodb skipped too-old",
        "dynamodb skipped at-cap",
        "dynamodb skipped already-on-demand",
        "dynamodb skipped update-in-progress",
        "kinesis remediated",
        "kinesis skipped stale",
        "kinesis skipped duplicate",
        "kinesis skipped cooling-down",
        "kinesis skipped daily-limit",
    ] {
        assert!(tally.count(key) > 0, "the run never saw `{key}`");
    }
    assert!(
        table_pipeline.resources.switches() >= 4,
        "the table's switch guard was never pressed"
    );
    assert!(
        tally.operator_table >= 2,
        "nobody switched the table back by hand"
    );
    assert!(
        tally.operator_stream >= 1,
        "nobody switched the stream back by hand"
    );
    assert_eq!(
        tally.operator_table_on_demand,
        table_to_on_demand_by_hand.len(),
        "the operator could not switch the table to on-demand by hand"
    );
    assert!(
        tally.actions.contains_key("kinesis SwitchToOnDemand"),
        "the stream never reached on-demand"
    );
}

// ---------------------------------------------------------------------------------------------
// A rollback on the strict fakes: kinesis-local counts no reshards per day.

/// A stream raised from 2 to 64 shards, rolled back with `--follow` on the strict stream,
/// after 7 reshards in the day: every call at most halves it, and the rollback stops itself
/// at AWS's 10 a day (the ledger's count) with the steps left and when the next is allowed;
/// AWS refuses nothing.
#[tokio::test]
async fn a_followed_rollback_halves_a_stream_and_stops_at_ten_reshards_a_day() {
    use unthrottle::cli::rollback::{Options, Ports, Recorded, restore};
    use unthrottle::core::domain::{HistoryEntry, ResourceRef};
    use unthrottle::core::ports::Ledger;
    use unthrottle::kinesis::UPDATE_SHARD_COUNT;
    use unthrottle::testing::{FakeSettings, FakeTables, MemoryLedger, MemorySnapshots};

    let now = Utc::now();
    let streams = StrictStreams::new(
        Clock::starting_at(now),
        StreamRules {
            shard_updates_per_day: 10,
            mode_changes_per_day: 2,
            max_shards: 10_000,
            reshard_takes: Duration::zero(),
            switch_takes: Duration::zero(),
            decreases: true,
        },
        provisioned_stream(STREAM, 64),
    );
    let resource = ResourceRef {
        service: Kinesis::ID,
        account: "123456789012".into(),
        region: "us-east-1".into(),
        name: STREAM.into(),
    };
    // Seven reshards in the last day: AWS's count, and the ledger's.
    let ledger = MemoryLedger::default();
    for hour in 1..=7 {
        let at = now - Duration::hours(hour);
        locked(&streams.aws).shard_updates.push(at);
        let entry = HistoryEntry {
            at,
            action: UPDATE_SHARD_COUNT,
            event_id: format!("incident-{hour}"),
            subject: None,
        };
        ledger.record(&resource, &entry).await.unwrap();
    }
    let recorded = Recorded {
        uri: "s3://bucket/snapshots/kinesis/123456789012/us-east-1/clickstream/k.json".into(),
        resource: resource.clone(),
        action: "UpdateShardCount".into(),
        change: json!({"updateShardCount": {"target": 64}}),
        before: json!({"openShards": 2}),
        after: json!({"openShards": 64}),
        describe: json!({"DescribeStreamSummary": {"StreamDescriptionSummary": {"OpenShardCount": 2}}}),
    };
    let archive = MemorySnapshots::default();
    let options = Options {
        follow: true,
        poll: Some(std::time::Duration::from_millis(1)),
        ..Options::default()
    };
    let ports = Ports {
        tables: &FakeTables::default(),
        streams: &streams,
        settings: &FakeSettings::default(),
        ledger: &ledger,
        archive: &archive,
    };
    let done = restore(&recorded, "k.json", Duration::minutes(5), options, ports)
        .await
        .expect("three steps, then held");

    assert_eq!(done.after, json!({"shards": 8}), "64 -> 32 -> 16 -> 8");
    assert_eq!(done.remaining, 2, "8 -> 4 -> 2 left");
    let held = done.held.expect("held by the daily limit");
    assert!(held.contains("10 shard-count updates"), "{held}");
    let journal = streams.journal();
    assert!(
        journal.violations.is_empty(),
        "AWS refused: {:?}",
        journal.violations
    );
    let calls: Vec<&str> = journal
        .changes
        .iter()
        .map(|change| change.what.as_str())
        .collect();
    assert_eq!(
        calls,
        [
            "UpdateShardCount 64 -> 32",
            "UpdateShardCount 32 -> 16",
            "UpdateShardCount 16 -> 8"
        ]
    );
    assert_eq!(archive.objects().len(), 1, "the state it replaced, kept once");
}
