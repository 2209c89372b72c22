//! `unthrottle rollback SNAPSHOT_URI`: restores what a snapshot recorded, as a change of its
//! own: the snapshot read and checked (ours, this account and region, a change unthrottle
//! knows how to undo), the resource's claim taken like a remediation's (refused while an
//! incident holds it), the current state snapshotted first, then AWS's own limits
//! respected (a stream at most halves per call; `--follow` takes the next step once the
//! stream is active again).

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{Failure, Home, service_named};
use crate::adapters::ledger::DynamoDbLedger;
use crate::adapters::snapshots::S3Snapshots;
use crate::api::{Api, SdkSettings, Settings};
use crate::core::config::CoreSettings;
use crate::core::domain::{Action, HistoryEntry, ResourceRef, Status};
use crate::core::error::ErrorKind;
use crate::core::ledger::{Admission, Release, Ticket};
use crate::core::ports::{Apply, Describe, Ledger, SnapshotArchive, Snapshots};
use crate::core::service::Service;
use crate::core::snapshot::{SCHEMA, folder, key as snapshot_key, serialised};
use crate::dynamodb::limits::next_decrease;
use crate::dynamodb::model::FloorChange;
use crate::dynamodb::{
    BillingMode, Capacity, DynamoDb, OnDemandMax, RAISE_ON_DEMAND_MAX, SCALE_CAPACITY, SdkTables, Side,
    TableChange,
};
use crate::kinesis::limits::SHARD_UPDATES_PER_DAY;
use crate::kinesis::{Kinesis, SPLIT_SHARD, SdkStreams, StreamChange, StreamMode, UPDATE_SHARD_COUNT};

/// What a rollback's own snapshot names its action.
pub const ROLLBACK: Action = Action::named("Rollback");

/// A snapshot, as far as a rollback reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub uri: String,
    pub resource: ResourceRef,
    pub action: String,
    /// The change made (`plan.change`), and the values it replaced and set (`plan.before`,
    /// `plan.after`).
    pub change: Value,
    pub before: Value,
    pub after: Value,
    /// The describe output before it (`describe`).
    pub describe: Value,
}

/// What restoring a snapshot takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undo {
    /// UpdateTable back to these capacities (the table's, and each GSI's the change raised).
    Table {
        table: Option<Capacity>,
        indexes: BTreeMap<String, Capacity>,
    },
    /// RegisterScalableTarget back to these auto-scaling bounds.
    Floors(Vec<FloorChange>),
    /// UpdateTable back to these on-demand maximums.
    OnDemandMax(OnDemandMax),
    /// UpdateTable back to provisioned, at these capacities (the table's and every GSI's).
    Provisioned {
        table: Capacity,
        indexes: BTreeMap<String, Capacity>,
    },
    /// UpdateShardCount back to this many open shards.
    Stream { shards: u32 },
    /// ResetServiceSetting: back to AWS's default.
    Setting { id: String },
}

/// `s3://bucket/key`.
pub fn parse_uri(uri: &str) -> Result<(&str, &str), Failure> {
    uri.strip_prefix("s3://")
        .and_then(|rest| rest.split_once('/'))
        .filter(|(bucket, key)| !bucket.is_empty() && !key.is_empty())
        .ok_or_else(|| {
            Failure::Snapshot(format!(
                "{uri} is not an s3://BUCKET/KEY location: use the snapshot column of `unthrottle history`"
            ))
        })
}

/// Reads a snapshot document; anything else (another tool's JSON, a truncated file) is
/// refused with what is wrong.
pub fn recorded(document: &Value, uri: &str) -> Result<Recorded, Failure> {
    let corrupt = |what: &str| Failure::Snapshot(format!("{uri} is not an unthrottle snapshot: {what}"));
    if document.get("schema").and_then(Value::as_str) != Some(SCHEMA) {
        return Err(corrupt(&format!("its schema is not {SCHEMA}")));
    }
    let text = |field: &str| {
        document
            .get(field)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| corrupt(&format!("no {field}")))
    };
    let service = text("service")?;
    let service = service_named(&service).ok_or_else(|| corrupt(&format!("unknown service {service}")))?;
    let plan = document.get("plan").ok_or_else(|| corrupt("no plan"))?;
    Ok(Recorded {
        uri: uri.to_owned(),
        resource: ResourceRef {
            service,
            account: text("account")?,
            region: text("region")?,
            name: text("name")?,
        },
        action: plan
            .get("action")
            .and_then(Value::as_str)
            .ok_or_else(|| corrupt("no plan.action"))?
            .to_owned(),
        change: plan.get("change").cloned().unwrap_or(Value::Null),
        before: plan.get("before").cloned().unwrap_or(Value::Null),
        after: plan.get("after").cloned().unwrap_or(Value::Null),
        describe: document.get("describe").cloned().unwrap_or(Value::Null),
    })
}

/// A capacity as a change records it: `{"read": 5, "write": 10}`.
fn set_capacity(change: &Value) -> Option<Capacity> {
    Some(Capacity {
        read: change.get("read")?.as_u64()?,
        write: change.get("write")?.as_u64()?,
    })
}

/// A capacity as DescribeTable reports it.
fn capacity(throughput: &Value) -> Option<Capacity> {
    Some(Capacity {
        read: throughput.get("ReadCapacityUnits")?.as_u64()?,
        write: throughput.get("WriteCapacityUnits")?.as_u64()?,
    })
}

/// What restores `recorded`, from the state its describe holds. A change unthrottle cannot
/// undo is refused with the way to do it by hand.
pub fn undo(recorded: &Recorded) -> Result<Undo, Failure> {
    let missing = |what: &str| {
        Failure::Snapshot(format!(
            "{} records no {what}: nothing to restore from",
            recorded.uri
        ))
    };
    match (recorded.resource.service.key, recorded.action.as_str()) {
        (service, action) if service == DynamoDb::ID.key && action == SCALE_CAPACITY.name() => {
            let scale = &recorded.change["scale"];
            if scale["floors"]
                .as_array()
                .is_some_and(|floors| !floors.is_empty())
            {
                return floors_before(recorded)
                    .map(Undo::Floors)
                    .ok_or_else(|| missing("auto-scaling bounds"));
            }
            let table = &recorded.describe["Table"];
            let before = match scale.get("table") {
                Some(_) => {
                    Some(capacity(&table["ProvisionedThroughput"]).ok_or_else(|| missing("table capacity"))?)
                }
                None => None,
            };
            let mut indexes = BTreeMap::new();
            for name in scale["indexes"]
                .as_object()
                .into_iter()
                .flat_map(|raised| raised.keys())
            {
                let index = table["GlobalSecondaryIndexes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|index| index["IndexName"].as_str() == Some(name))
                    .and_then(|index| capacity(&index["ProvisionedThroughput"]))
                    .ok_or_else(|| missing(&format!("capacity of index {name}")))?;
                indexes.insert(name.clone(), index);
            }
            Ok(Undo::Table {
                table: before,
                indexes,
            })
        }
        (service, action) if service == DynamoDb::ID.key && action == RAISE_ON_DEMAND_MAX.name() => {
            let side = |name: &str| match &recorded.before["onDemandMax"][name] {
                Value::Null => Some(None),
                value => value.as_u64().map(Some),
            };
            match (side("read"), side("write")) {
                (Some(read), Some(write)) if recorded.before.get("onDemandMax").is_some() => {
                    Ok(Undo::OnDemandMax(OnDemandMax { read, write }))
                }
                _ => Err(missing("on-demand maximums")),
            }
        }
        (service, action) if service == DynamoDb::ID.key && action == Action::SWITCH_TO_ON_DEMAND.name() => {
            let table = &recorded.describe["Table"];
            let capacity_of =
                |part: &Value| capacity(&part["ProvisionedThroughput"]).filter(|c| c.read > 0 && c.write > 0);
            let mut indexes = BTreeMap::new();
            for index in table["GlobalSecondaryIndexes"].as_array().into_iter().flatten() {
                let name = index["IndexName"].as_str().ok_or_else(|| missing("index name"))?;
                let before =
                    capacity_of(index).ok_or_else(|| missing(&format!("capacity of index {name}")))?;
                indexes.insert(name.to_owned(), before);
            }
            Ok(Undo::Provisioned {
                table: capacity_of(table).ok_or_else(|| missing("table capacity"))?,
                indexes,
            })
        }
        (service, action)
            if service == Kinesis::ID.key
                && (action == UPDATE_SHARD_COUNT.name() || action == SPLIT_SHARD.name()) =>
        {
            let shards =
                recorded.describe["DescribeStreamSummary"]["StreamDescriptionSummary"]["OpenShardCount"]
                    .as_u64()
                    .and_then(|shards| u32::try_from(shards).ok())
                    .ok_or_else(|| missing("open shard count"))?;
            Ok(Undo::Stream { shards })
        }
        (service, action)
            if service == Api::ID.key && action == crate::api::UPDATE_SERVICE_SETTING.name() =>
        {
            Ok(Undo::Setting {
                id: recorded.change["enableHighThroughput"]["settingId"]
                    .as_str()
                    .ok_or_else(|| missing("setting id"))?
                    .to_owned(),
            })
        }
        (service, action)
            if service == Api::ID.key && action == crate::api::REQUEST_QUOTA_INCREASE.name() =>
        {
            Err(Failure::CannotUndo(
                "a quota increase cannot be undone: Service Quotas has no decrease API; open a Support case"
                    .into(),
            ))
        }
        (_, action) if action == crate::restore::RESTORE.name() => Err(Failure::CannotUndo(
            "a restore step is not rolled back: it stepped toward the values before an incident, and the next \
             incident raises again; its snapshot's plan.before holds the values before the step"
                .into(),
        )),
        (_, action) => Err(Failure::CannotUndo(format!(
            "rolling back {action} is not built yet; docs/operations.md says how to undo it by hand"
        ))),
    }
}

/// The auto-scaling bounds a floor raise replaced: `plan.before.autoScaling`, for each side
/// the change touched.
fn floors_before(recorded: &Recorded) -> Option<Vec<FloorChange>> {
    let before = recorded.before["autoScaling"].as_array()?;
    recorded.change["scale"]["floors"]
        .as_array()?
        .iter()
        .map(|floor| {
            let was = before
                .iter()
                .find(|was| was["index"] == floor["index"] && was["side"] == floor["side"])?;
            Some(FloorChange {
                index: was["index"].as_str().map(str::to_owned),
                side: match was["side"].as_str()? {
                    "read" => Side::Read,
                    "write" => Side::Write,
                    _ => return None,
                },
                min: was["min"].as_u64()?,
                max: was["max"].as_u64()?,
            })
        })
        .collect()
}

/// The next shard count on the way from `now` to `target`: UpdateShardCount at most halves
/// or doubles a stream in one call.
pub fn next_shard_count(now: u32, target: u32) -> u32 {
    if target < now {
        target.max(now.div_ceil(2))
    } else {
        target.min(now.saturating_mul(2))
    }
}

/// How many UpdateShardCount calls remain from `now` to `target`.
pub fn shard_steps(mut now: u32, target: u32) -> u32 {
    let mut steps = 0;
    while now != target && steps < 64 {
        now = next_shard_count(now, target);
        steps += 1;
    }
    steps
}

/// What a rollback did.
#[derive(Debug, Clone, PartialEq)]
pub struct RolledBack {
    pub resource: ResourceRef,
    pub before: Value,
    pub after: Value,
    /// The snapshot of the state it replaced.
    pub snapshot: Option<String>,
    /// Calls still needed (AWS's limits): run again, or `--follow`. In a dry run, the calls
    /// it would take.
    pub remaining: u32,
    /// Why it stopped with calls left: an AWS limit that holds the next one, and until when.
    pub held: Option<String>,
    pub dry_run: bool,
}

/// How a rollback runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Change nothing, take no claim.
    pub dry_run: bool,
    /// Keep taking steps while AWS's limits allow.
    pub follow: bool,
    /// Restore even if the resource changed since unthrottle's change.
    pub force: bool,
    /// How often `--follow` looks whether the stream takes its next step (`None`: every 2 s).
    pub poll: Option<std::time::Duration>,
}

/// How long `--follow` waits for a stream to take its next step.
const FOLLOW_DEADLINE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Restores `uri` in `home`, reading and writing only the deployment's bucket.
pub async fn rollback(
    uri: &str,
    home: &Home,
    core: &CoreSettings,
    sdk: &SdkConfig,
    options: Options,
) -> Result<RolledBack, Failure> {
    let streams = SdkStreams::from_sdk(sdk);
    let settings = SdkSettings::new(aws_sdk_ssm::Client::new(sdk));
    rollback_through(
        uri,
        home,
        core,
        sdk,
        options,
        &SdkTables::from_sdk(sdk),
        &streams,
        &settings,
    )
    .await
}

/// [`rollback`] through these tables, streams and settings (the ledger and the bucket from
/// `sdk`): tests hand it adapters over mocked clients for what no emulator serves.
#[allow(clippy::too_many_arguments)]
pub async fn rollback_through<T, K, G>(
    uri: &str,
    home: &Home,
    core: &CoreSettings,
    sdk: &SdkConfig,
    options: Options,
    tables: &T,
    streams: &K,
    settings: &G,
) -> Result<RolledBack, Failure>
where
    T: Describe<DynamoDb> + Apply<DynamoDb>,
    K: Describe<Kinesis> + Apply<Kinesis>,
    G: Settings,
{
    let (bucket, key) = parse_uri(uri)?;
    if bucket != core.snapshot_bucket {
        return Err(Failure::Snapshot(format!(
            "{uri} is not in the deployment's bucket {} (SNAPSHOT_BUCKET): only its own snapshots are restored",
            core.snapshot_bucket
        )));
    }
    let s3 = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(core.s3_force_path_style)
        .build();
    let archive = S3Snapshots::new(aws_sdk_s3::Client::from_conf(s3), bucket);
    let body = archive.get(key).await.map_err(|e| match e.kind {
        ErrorKind::NotFound => Failure::Snapshot(format!(
            "no snapshot at {uri}: use a location `unthrottle history` lists"
        )),
        _ => Failure::Aws(e),
    })?;
    let document: Value = serde_json::from_slice(&body)
        .map_err(|e| Failure::Snapshot(format!("{uri} is not an unthrottle snapshot: not JSON ({e})")))?;
    let recorded = recorded(&document, uri)?;
    let r = &recorded.resource;
    let folder = folder(r);
    if !key.starts_with(&folder) {
        return Err(Failure::Snapshot(format!(
            "{uri} is not where a snapshot of {} would be ({folder}): refused",
            r.name
        )));
    }
    if r.account != home.scope.account || r.region != home.scope.region {
        return Err(Failure::Snapshot(format!(
            "{uri} is of {} in {}/{}, and these credentials act in {}/{}",
            r.name, r.account, r.region, home.scope.account, home.scope.region
        )));
    }
    let ledger = DynamoDbLedger::new(aws_sdk_dynamodb::Client::new(sdk), &core.ledger_table);
    let ports = Ports {
        tables,
        streams,
        settings,
        ledger: &ledger,
        archive: &archive,
    };
    restore(&recorded, key, core.run.cooldown, options, ports).await
}

/// Where a rollback reads and writes.
pub struct Ports<'a, T, K, G, L, A> {
    pub tables: &'a T,
    pub streams: &'a K,
    pub settings: &'a G,
    pub ledger: &'a L,
    /// The snapshot bucket, where the replaced state is kept.
    pub archive: &'a A,
}

/// Restores what `recorded` (the snapshot at `key`, read and checked) recorded, through
/// `ports`.
pub async fn restore<T, K, G, L, A>(
    recorded: &Recorded,
    key: &str,
    cooldown: chrono::Duration,
    options: Options,
    ports: Ports<'_, T, K, G, L, A>,
) -> Result<RolledBack, Failure>
where
    T: Describe<DynamoDb> + Apply<DynamoDb>,
    K: Describe<Kinesis> + Apply<Kinesis>,
    G: Settings,
    L: Ledger,
    A: Snapshots,
{
    let undo = undo(recorded)?;
    let run = Run {
        archive: ports.archive,
        ledger: ports.ledger,
        recorded,
        key,
        now: Utc::now(),
        cooldown,
        options,
    };
    match undo {
        Undo::Table { table, indexes } => run.table(ports.tables, table, indexes).await,
        Undo::Floors(floors) => run.floors(ports.tables, floors).await,
        Undo::OnDemandMax(max) => run.on_demand_max(ports.tables, max).await,
        Undo::Provisioned { table, indexes } => run.provisioned(ports.tables, table, indexes).await,
        Undo::Stream { shards } => run.stream(ports.streams, shards).await,
        Undo::Setting { id } => run.setting(ports.settings, &id).await,
    }
}

/// One rollback under way.
struct Run<'a, L, A> {
    archive: &'a A,
    ledger: &'a L,
    recorded: &'a Recorded,
    key: &'a str,
    now: DateTime<Utc>,
    cooldown: chrono::Duration,
    options: Options,
}

impl<L: Ledger, A: Snapshots> Run<'_, L, A> {
    fn resource(&self) -> &ResourceRef {
        &self.recorded.resource
    }

    fn id(&self) -> String {
        HistoryEntry::rollback_id(self.key)
    }

    /// The resource's claim, as a remediation takes it, under an id that is the same for
    /// every run of this rollback (so a run again re-takes its own claim): refused while an
    /// incident holds it. A dry run only looks.
    async fn claim(&self) -> Result<(), Failure> {
        let held = |claim: crate::core::ledger::Claim| Failure::Claimed {
            holder: claim.holder,
            until: claim.until,
        };
        if self.options.dry_run {
            let view = self
                .ledger
                .view(self.resource(), self.now)
                .await
                .map_err(Failure::Aws)?;
            return match view
                .claim
                .into_iter()
                .chain(view.lease)
                .find(|claim| claim.until > self.now && claim.holder != self.id())
            {
                Some(claim) => Err(held(claim)),
                None => Ok(()),
            };
        }
        let ticket = Ticket {
            resource: self.resource().clone(),
            event_id: self.id(),
            invocation: self.id(),
            now: Utc::now(),
            // Held for the cooldown, as a change's claim is: a throttle right after a
            // rollback is the old capacity's, not a new incident.
            lease: self.cooldown,
            cooldown: self.cooldown,
        };
        match self.ledger.claim(&ticket).await.map_err(Failure::Aws)? {
            Admission::Granted(_) => Ok(()),
            Admission::Held(view) => Err(view
                .lease
                .into_iter()
                .chain(view.claim)
                .find(|claim| claim.until > ticket.now)
                .map_or_else(
                    // Nothing holds it any more: refused a moment ago; a run again takes it.
                    || Failure::Claimed {
                        holder: "another writer".to_owned(),
                        until: ticket.now,
                    },
                    held,
                )),
        }
    }

    /// Each call made is remembered under its real action, so the functions' rolling-day
    /// guards count it (a stream's 10 reshards a day), and as a rollback, so a throttle
    /// after it is not taken for a fix that did not hold.
    async fn record(&self, action: Action) {
        let entry = HistoryEntry {
            at: Utc::now(),
            action,
            event_id: self.id(),
            subject: None,
        };
        if let Err(e) = self.ledger.record(self.resource(), &entry).await {
            tracing::warn!(error = %e, "a rollback step was made but not recorded in the ledger");
        }
    }

    /// The state being replaced, kept like any change's: no snapshot, no rollback.
    async fn snapshot(&self, raw: &Value, before: &Value, after: &Value) -> Result<Option<String>, Failure> {
        if self.options.dry_run {
            return Ok(None);
        }
        let r = self.resource();
        let key = snapshot_key(r, self.now, "rollback");
        let document = json!({
            "schema": SCHEMA,
            "service": r.service,
            "account": r.account,
            "region": r.region,
            "name": r.name,
            "takenAt": self.now,
            "rollbackOf": self.recorded.uri,
            "plan": {
                "action": ROLLBACK,
                "before": before,
                "after": after,
                "why": format!("unthrottle rollback {}", self.recorded.uri),
            },
            "describe": raw,
        });
        let body = serialised(&document, r).map_err(Failure::Aws)?;
        self.archive.put(&key, body).await.map(Some).map_err(Failure::Aws)
    }

    fn done(&self, before: Value, after: Value, snapshot: Option<String>, remaining: u32) -> RolledBack {
        RolledBack {
            resource: self.resource().clone(),
            before,
            after,
            snapshot,
            remaining,
            held: None,
            dry_run: self.options.dry_run,
        }
    }

    /// The next UpdateShardCount, if AWS's 10 a day (the ledger's count: the functions',
    /// earlier rollbacks' and this one's) allow it now; else why not, and when.
    async fn reshard_held(&self) -> Result<Option<String>, Failure> {
        let now = Utc::now();
        let view = self
            .ledger
            .view(self.resource(), now)
            .await
            .map_err(Failure::Aws)?;
        let mut made: Vec<DateTime<Utc>> = view
            .history
            .iter()
            .filter(|entry| {
                entry.action == UPDATE_SHARD_COUNT && now - entry.at < chrono::Duration::hours(24)
            })
            .map(|entry| entry.at)
            .collect();
        if made.len() < SHARD_UPDATES_PER_DAY as usize {
            return Ok(None);
        }
        made.sort();
        Ok(Some(format!(
            "{} shard-count updates in the last 24 h, AWS's most: the next after {}",
            made.len(),
            (made[made.len() - SHARD_UPDATES_PER_DAY as usize] + chrono::Duration::hours(24)).to_rfc3339()
        )))
    }

    fn held(
        &self,
        before: Value,
        after: Value,
        snapshot: Option<String>,
        remaining: u32,
        why: String,
    ) -> RolledBack {
        RolledBack {
            held: Some(why),
            ..self.done(before, after, snapshot, remaining)
        }
    }

    /// Changed since unthrottle's change (by a person, another tool, the functions): a
    /// rollback would undo that too, so it is refused unless forced.
    fn drifted(&self, what: String) -> Result<(), Failure> {
        if self.options.force {
            tracing::warn!(what, "restoring over a change made since (--force)");
            return Ok(());
        }
        Err(Failure::Drifted(format!(
            "{what} since {}: restoring would undo that too; check `unthrottle history`, or pass --force",
            self.recorded.uri
        )))
    }

    /// The resource as it is now.
    async fn now_of<S: crate::core::service::Service, R: Describe<S>>(
        &self,
        resources: &R,
    ) -> Result<crate::core::ports::Described<S::State>, Failure> {
        resources.describe(self.resource()).await.map_err(Failure::Aws)
    }

    /// A change whose answer was lost: made if the resource now shows it.
    async fn applied<S: crate::core::service::Service, R: Describe<S> + Apply<S>>(
        &self,
        resources: &R,
        state: &S::State,
        change: &S::Change,
    ) -> Result<(), Failure> {
        match resources.apply(state, change).await {
            Ok(()) => Ok(()),
            Err(e) if e.outcome_unknown => match resources.describe(self.resource()).await {
                Ok(after) if S::applied(&after.state, change) => Ok(()),
                _ => Err(Failure::Aws(e)),
            },
            Err(e) => Err(Failure::Aws(e)),
        }
    }

    async fn table<T: Describe<DynamoDb> + Apply<DynamoDb>>(
        &self,
        tables: &T,
        table: Option<Capacity>,
        indexes: BTreeMap<String, Capacity>,
    ) -> Result<RolledBack, Failure> {
        let current = self.now_of::<DynamoDb, _>(tables).await?;
        let state = &current.state;
        let index_now = |name: &str| {
            state
                .indexes
                .iter()
                .find(|index| index.name == name)
                .map(|index| index.capacity)
        };
        let before = json!({
            "table": state.capacity,
            "indexes": indexes.keys().map(|name| (name.clone(), json!(index_now(name)))).collect::<serde_json::Map<_, _>>(),
        });
        // Only what differs is sent: UpdateTable refuses a capacity equal to the current one.
        let table = table.filter(|capacity| *capacity != state.capacity);
        let indexes: BTreeMap<String, Capacity> = indexes
            .into_iter()
            .filter(|(name, capacity)| index_now(name).is_some_and(|now| now != *capacity))
            .collect();
        if table.is_none() && indexes.is_empty() {
            return Ok(self.done(before.clone(), before, None, 0));
        }
        // Already as the snapshot recorded: nothing to do, whatever changed in between.
        if state.billing != BillingMode::Provisioned {
            self.drifted(format!("{} is on-demand now", state.name))?;
        }
        let made = &self.recorded.change["scale"];
        if let Some(set) = made.get("table").and_then(set_capacity)
            && set != state.capacity
        {
            self.drifted(format!(
                "{}'s capacity changed from {set:?} to {:?}",
                state.name, state.capacity
            ))?;
        }
        for (name, set) in made["indexes"].as_object().into_iter().flatten() {
            let set = set_capacity(set);
            if set.is_some() && set != index_now(name) {
                self.drifted(format!(
                    "index {name}'s capacity changed to {:?}",
                    index_now(name)
                ))?;
            }
        }
        let after = json!({ "table": table.unwrap_or(state.capacity), "indexes": &indexes });
        // A decrease of any part counts against that part's daily decreases: one UpdateTable
        // fails whole if one of them is over.
        let lower = |now: Capacity, to: Capacity| to.read < now.read || to.write < now.write;
        let mut held = Vec::new();
        if let Some(to) = table
            && lower(state.capacity, to)
            && let Err(why) = next_decrease(state.decreases.today, state.decreases.last, self.now)
        {
            held.push(format!("table: {why}"));
        }
        for index in &state.indexes {
            if let Some(to) = indexes.get(&index.name)
                && lower(index.capacity, *to)
                && let Err(why) = next_decrease(index.decreases.today, index.decreases.last, self.now)
            {
                held.push(format!("index {}: {why}", index.name));
            }
        }
        if !held.is_empty() {
            return Ok(self.held(before, after, None, 1, held.join("; ")));
        }
        let change = TableChange::Scale {
            table,
            indexes,
            floors: Vec::new(),
        };
        self.commit(tables, &current, change, SCALE_CAPACITY, before, after)
            .await
    }

    /// The claim, the replaced state's snapshot, then one change through `tables`, recorded
    /// under `action`: what every table rollback ends with once it knows what to send.
    async fn commit<T: Describe<DynamoDb> + Apply<DynamoDb>>(
        &self,
        tables: &T,
        current: &crate::core::ports::Described<crate::dynamodb::TableState>,
        change: TableChange,
        action: Action,
        before: Value,
        after: Value,
    ) -> Result<RolledBack, Failure> {
        self.claim().await?;
        let snapshot = self.snapshot(&current.raw, &before, &after).await?;
        if self.options.dry_run {
            return Ok(self.done(before, after, None, 1));
        }
        if let Err(failure) = self.applied::<DynamoDb, _>(tables, &current.state, &change).await {
            self.release().await;
            return Err(failure);
        }
        self.record(action).await;
        Ok(self.done(before, after, snapshot, 0))
    }

    /// An auto-scaling floor (and ceiling) raise: the bounds it replaced, registered again.
    async fn floors<T: Describe<DynamoDb> + Apply<DynamoDb>>(
        &self,
        tables: &T,
        floors: Vec<FloorChange>,
    ) -> Result<RolledBack, Failure> {
        let current = self.now_of::<DynamoDb, _>(tables).await?;
        let state = &current.state;
        let now_of = |floor: &FloorChange| state.scalable(floor.index.as_deref(), floor.side);
        let before = json!(floors.iter().map(now_of).collect::<Vec<_>>());
        let moved: Vec<FloorChange> = floors
            .into_iter()
            .filter(|floor| now_of(floor).is_none_or(|now| (now.min, now.max) != (floor.min, floor.max)))
            .collect();
        if moved.is_empty() {
            return Ok(self.done(before.clone(), before, None, 0));
        }
        for set in self.recorded.change["scale"]["floors"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let now = state
                .auto_scaling
                .iter()
                .find(|now| json!(now.index) == set["index"] && json!(now.side) == set["side"]);
            match now {
                Some(now) if Some(now.min) == set["min"].as_u64() && Some(now.max) == set["max"].as_u64() => {
                }
                _ => self.drifted(format!(
                    "the auto-scaling bounds of {} are {now:?}, not the {set} unthrottle set",
                    state.name
                ))?,
            }
        }
        let after = json!(moved);
        let change = TableChange::Scale {
            table: None,
            indexes: BTreeMap::new(),
            floors: moved,
        };
        self.commit(tables, &current, change, SCALE_CAPACITY, before, after)
            .await
    }

    /// An on-demand maximum raise: the maximums it replaced (none on a side: no maximum).
    async fn on_demand_max<T: Describe<DynamoDb> + Apply<DynamoDb>>(
        &self,
        tables: &T,
        max: OnDemandMax,
    ) -> Result<RolledBack, Failure> {
        let current = self.now_of::<DynamoDb, _>(tables).await?;
        let state = &current.state;
        let before = json!({ "onDemandMax": state.on_demand_max });
        if state.on_demand_max == max {
            return Ok(self.done(before.clone(), before, None, 0));
        }
        if state.billing != BillingMode::OnDemand {
            self.drifted(format!("{} is provisioned now", state.name))?;
        }
        if json!(state.on_demand_max) != self.recorded.after["onDemandMax"] {
            self.drifted(format!(
                "{}'s on-demand maximums are {:?}, not the {} unthrottle set",
                state.name, state.on_demand_max, self.recorded.after["onDemandMax"]
            ))?;
        }
        let after = json!({ "onDemandMax": max });
        self.commit(
            tables,
            &current,
            TableChange::RaiseOnDemandMax(max),
            RAISE_ON_DEMAND_MAX,
            before,
            after,
        )
        .await
    }

    /// A switch to on-demand: back to provisioned at the capacities the snapshot held.
    async fn provisioned<T: Describe<DynamoDb> + Apply<DynamoDb>>(
        &self,
        tables: &T,
        table: Capacity,
        indexes: BTreeMap<String, Capacity>,
    ) -> Result<RolledBack, Failure> {
        let current = self.now_of::<DynamoDb, _>(tables).await?;
        let state = &current.state;
        let before = json!({ "billingMode": state.billing, "table": state.capacity });
        let after = json!({ "billingMode": BillingMode::Provisioned, "table": table, "indexes": indexes });
        // Provisioned again, whatever its capacity now: the switch is undone already.
        if state.billing == BillingMode::Provisioned {
            return Ok(self.done(before.clone(), before, None, 0));
        }
        // GSIs added since the switch have no capacity to go back to: DynamoDB needs one.
        if let Some(index) = state
            .indexes
            .iter()
            .find(|index| !indexes.contains_key(&index.name))
        {
            return Err(Failure::CannotUndo(format!(
                "index {} was added since the switch and the snapshot holds no capacity for it: switch back by hand \
                 with aws dynamodb update-table --billing-mode PROVISIONED",
                index.name
            )));
        }
        let indexes: BTreeMap<String, Capacity> = indexes
            .into_iter()
            .filter(|(name, _)| state.indexes.iter().any(|index| &index.name == name))
            .collect();
        self.commit(
            tables,
            &current,
            TableChange::SwitchToProvisioned { table, indexes },
            // Not a switch to on-demand, the one AWS counts per day: a capacity change.
            SCALE_CAPACITY,
            before,
            after,
        )
        .await
    }

    async fn release(&self) {
        let ticket = Ticket {
            resource: self.resource().clone(),
            event_id: self.id(),
            invocation: self.id(),
            now: self.now,
            lease: self.cooldown,
            cooldown: self.cooldown,
        };
        if let Err(e) = self.ledger.release(&ticket, Release::Lease, None).await {
            tracing::warn!(error = %e, "the rollback's claim was not released: it ends on its own");
        }
    }

    async fn stream<K: Describe<Kinesis> + Apply<Kinesis>>(
        &self,
        streams: &K,
        target: u32,
    ) -> Result<RolledBack, Failure> {
        let mut current = self.now_of::<Kinesis, _>(streams).await?;
        let first = current.state.open_shards;
        let before = json!({ "shards": first });
        if first == target {
            return Ok(self.done(before.clone(), before, None, 0));
        }
        if current.state.mode != StreamMode::Provisioned {
            self.drifted(format!("{} is on-demand now", current.state.name))?;
        }
        if let Some(set) = self.recorded.change["updateShardCount"]["target"]
            .as_u64()
            .or_else(|| self.recorded.after["openShards"].as_u64())
            && u64::from(first) != set
        {
            self.drifted(format!(
                "{} has {first} open shards, not the {set} it was set to",
                current.state.name
            ))?;
        }
        if let Some(why) = self.reshard_held().await? {
            return Ok(self.held(before.clone(), before, None, shard_steps(first, target), why));
        }
        self.claim().await?;
        let snapshot = self
            .snapshot(&current.raw, &before, &json!({ "shards": target }))
            .await?;
        if self.options.dry_run {
            return Ok(self.done(
                before,
                json!({ "shards": target }),
                None,
                shard_steps(first, target),
            ));
        }
        let deadline = tokio::time::Instant::now() + FOLLOW_DEADLINE;
        loop {
            if current.state.open_shards != first
                && let Some(why) = self.reshard_held().await?
            {
                let at = json!({ "shards": current.state.open_shards });
                let remaining = shard_steps(current.state.open_shards, target);
                return Ok(self.held(before, at, snapshot, remaining, why));
            }
            let next = next_shard_count(current.state.open_shards, target);
            let change = StreamChange::UpdateShardCount { target: next };
            if let Err(failure) = self.applied::<Kinesis, _>(streams, &current.state, &change).await {
                if current.state.open_shards == first {
                    self.release().await;
                }
                return Err(failure);
            }
            self.record(UPDATE_SHARD_COUNT).await;
            let remaining = shard_steps(next, target);
            if remaining == 0 || !self.options.follow {
                return Ok(self.done(before, json!({ "shards": next }), snapshot, remaining));
            }
            // The next call waits for this one: a stream takes no update while UPDATING.
            current = loop {
                if tokio::time::Instant::now() > deadline {
                    return Ok(self.done(before, json!({ "shards": next }), snapshot, remaining));
                }
                tokio::time::sleep(self.options.poll.unwrap_or(std::time::Duration::from_secs(2))).await;
                match streams.describe(self.resource()).await {
                    Ok(read) if read.state.status == Status::Active => break read,
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "waiting for the stream: describe failed, trying again")
                    }
                }
            };
            // Renewed for each step: a remediation must not raise it between two of them.
            self.claim().await?;
        }
    }

    async fn setting(&self, settings: &impl Settings, id: &str) -> Result<RolledBack, Failure> {
        let current = settings.reread(id).await.map_err(Failure::Aws)?;
        let before = json!({ "settingId": id, "value": current.value, "status": current.status });
        if current.status.eq_ignore_ascii_case("Default") {
            return Ok(self.done(before.clone(), before, None, 0));
        }
        if !current.is_on() {
            self.drifted(format!(
                "the setting was set to {} by {:?}",
                current.value, current.modified_by
            ))?;
        }
        let after = json!({ "settingId": id, "status": "Default" });
        self.claim().await?;
        let snapshot = self
            .snapshot(&json!({ "throughput": &current }), &before, &after)
            .await?;
        if self.options.dry_run {
            return Ok(self.done(before, after, None, 1));
        }
        if let Err(e) = settings.reset(id).await {
            self.release().await;
            return Err(Failure::Aws(e));
        }
        self.record(crate::api::UPDATE_SERVICE_SETTING).await;
        Ok(self.done(before, after, snapshot, 0))
    }
}

#[cfg(test)]
#[path = "rollback_tests.rs"]
mod tests;
