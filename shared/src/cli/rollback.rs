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

use super::{Failure, Home};
use crate::adapters::Deploy;
use crate::adapters::ledger::DynamoDbLedger;
use crate::adapters::snapshots::S3Snapshots;
use crate::api::{Api, SdkSettings, Settings};
use crate::core::config::CoreSettings;
use crate::core::domain::{Action, HistoryEntry, ResourceRef, Status};
use crate::core::error::ErrorKind;
use crate::core::ledger::{Admission, Ticket};
use crate::core::ports::{Apply, Describe, Ledger, SnapshotArchive, Snapshots};
use crate::core::service::Service;
use crate::core::snapshot::{SCHEMA, key_segment};
use crate::dynamodb::{Capacity, DynamoDb, TableChange};
use crate::kinesis::{Kinesis, StreamChange};

/// What the ledger's history records a rollback as.
pub const ROLLBACK: Action = Action::named("Rollback");

/// A snapshot, as far as a rollback reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub uri: String,
    pub resource: ResourceRef,
    pub action: String,
    /// The change made (`plan.change`).
    pub change: Value,
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
    let service = [DynamoDb::ID, Kinesis::ID, Api::ID]
        .into_iter()
        .find(|known| known.key == service)
        .ok_or_else(|| corrupt(&format!("unknown service {service}")))?;
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
        describe: document.get("describe").cloned().unwrap_or(Value::Null),
    })
}

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
        ("dynamodb", "ScaleCapacity") => {
            let scale = &recorded.change["scale"];
            if scale["floors"]
                .as_array()
                .is_some_and(|floors| !floors.is_empty())
            {
                return Err(Failure::CannotUndo(
                    "an auto-scaling floor raise: rolling it back is not built yet; by hand: aws \
                     application-autoscaling register-scalable-target with the snapshot's MinCapacity"
                        .into(),
                ));
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
        ("kinesis", "UpdateShardCount") => {
            let shards =
                recorded.describe["DescribeStreamSummary"]["StreamDescriptionSummary"]["OpenShardCount"]
                    .as_u64()
                    .and_then(|shards| u32::try_from(shards).ok())
                    .ok_or_else(|| missing("open shard count"))?;
            Ok(Undo::Stream { shards })
        }
        ("api", "UpdateServiceSetting") => Ok(Undo::Setting {
            id: recorded.change["enableHighThroughput"]["settingId"]
                .as_str()
                .ok_or_else(|| missing("setting id"))?
                .to_owned(),
        }),
        ("api", "RequestServiceQuotaIncrease") => Err(Failure::CannotUndo(
            "a quota increase cannot be undone: Service Quotas has no decrease API; open a Support case"
                .into(),
        )),
        (_, action) => Err(Failure::CannotUndo(format!(
            "rolling back {action} is not built yet; docs/operations.md says how to undo it by hand"
        ))),
    }
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
    /// Calls still needed (AWS's limits): `--follow` makes them.
    pub remaining: u32,
    pub dry_run: bool,
}

/// Restores `uri` in `home`.
pub async fn rollback(
    uri: &str,
    home: &Home,
    core: &CoreSettings,
    sdk: &SdkConfig,
    dry_run: bool,
    follow: bool,
) -> Result<RolledBack, Failure> {
    let (bucket, key) = parse_uri(uri)?;
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
    if recorded.resource.account != home.scope.account || recorded.resource.region != home.scope.region {
        return Err(Failure::Snapshot(format!(
            "{uri} is of {} in {}/{}; this command acts in {}/{}: pass --account and --region to match",
            recorded.resource.name,
            recorded.resource.account,
            recorded.resource.region,
            home.scope.account,
            home.scope.region
        )));
    }
    let undo = undo(&recorded)?;
    let resource = recorded.resource.clone();
    let ledger = DynamoDbLedger::new(aws_sdk_dynamodb::Client::new(sdk), &core.ledger_table);
    let now = Utc::now();
    if dry_run {
        if let Some(claim) = ledger
            .view(&resource, now)
            .await
            .map_err(Failure::Aws)?
            .claim
            .filter(|claim| claim.until > now)
        {
            return Err(Failure::Claimed {
                holder: claim.holder,
                until: claim.until,
            });
        }
    } else {
        claim(&ledger, &resource, key, now, core).await?;
    }
    let restore = Restore {
        archive: &archive,
        resource: &resource,
        uri,
        now,
        dry_run,
        follow,
    };
    let done = match undo {
        Undo::Table { table, indexes } => {
            let tables = DynamoDb::from_env(&crate::core::config::Env::from_fn(|_| None))
                .map_err(|e| Failure::Usage(e.to_string()))?
                .resources(sdk, core);
            restore.table(&tables, table, indexes).await
        }
        Undo::Stream { shards } => {
            let streams = Kinesis::from_env(&crate::core::config::Env::from_fn(|_| None))
                .map_err(|e| Failure::Usage(e.to_string()))?
                .resources(sdk, core);
            restore.stream(&streams, shards).await
        }
        Undo::Setting { id } => {
            restore
                .setting(&SdkSettings::new(aws_sdk_ssm::Client::new(sdk)), &id)
                .await
        }
    };
    if !dry_run {
        match &done {
            Ok(_) => {
                let entry = HistoryEntry {
                    at: now,
                    action: ROLLBACK,
                    event_id: rollback_id(key),
                    subject: None,
                };
                if let Err(e) = ledger.record(&resource, &entry).await {
                    tracing::warn!(error = %e, "the rollback was made but not recorded in the ledger");
                }
            }
            Err(_) => {
                let ticket = ticket(&resource, key, now, core);
                if let Err(e) = ledger.release(&ticket).await {
                    tracing::warn!(error = %e, "the rollback's claim was not released: it ends on its own");
                }
            }
        }
    }
    done
}

fn rollback_id(key: &str) -> String {
    format!("rollback:{key}")
}

fn ticket(resource: &ResourceRef, key: &str, now: DateTime<Utc>, core: &CoreSettings) -> Ticket {
    Ticket {
        resource: resource.clone(),
        event_id: rollback_id(key),
        invocation: format!("unthrottle-rollback-{}", std::process::id()),
        now,
        cooldown: core.run.cooldown,
    }
}

/// The resource's claim, as a remediation takes it: refused while an incident holds it.
async fn claim(
    ledger: &DynamoDbLedger,
    resource: &ResourceRef,
    key: &str,
    now: DateTime<Utc>,
    core: &CoreSettings,
) -> Result<(), Failure> {
    match ledger
        .admit(&ticket(resource, key, now, core))
        .await
        .map_err(Failure::Aws)?
    {
        Admission::Granted | Admission::Duplicate => Ok(()),
        Admission::CoolingDown(claim) => Err(Failure::Claimed {
            holder: claim.holder,
            until: claim.until,
        }),
    }
}

struct Restore<'a> {
    archive: &'a S3Snapshots,
    resource: &'a ResourceRef,
    uri: &'a str,
    now: DateTime<Utc>,
    dry_run: bool,
    follow: bool,
}

impl Restore<'_> {
    /// The state being replaced, kept like any change's: no snapshot, no rollback.
    async fn snapshot(&self, raw: &Value, before: &Value, after: &Value) -> Result<Option<String>, Failure> {
        if self.dry_run {
            return Ok(None);
        }
        let r = self.resource;
        let key = format!(
            "snapshots/{}/{}/{}/{}/{}-rollback.json",
            r.service,
            key_segment(&r.account),
            key_segment(&r.region),
            key_segment(&r.name),
            self.now.format("%Y%m%dT%H%M%S%.3fZ"),
        );
        let document = json!({
            "schema": SCHEMA,
            "service": r.service,
            "account": r.account,
            "region": r.region,
            "name": r.name,
            "takenAt": self.now,
            "rollbackOf": self.uri,
            "plan": {
                "action": ROLLBACK,
                "before": before,
                "after": after,
                "why": format!("unthrottle rollback {}", self.uri),
            },
            "describe": raw,
        });
        let body = serde_json::to_vec_pretty(&document).unwrap_or_default();
        self.archive.put(&key, body).await.map(Some).map_err(Failure::Aws)
    }

    fn done(&self, before: Value, after: Value, snapshot: Option<String>, remaining: u32) -> RolledBack {
        RolledBack {
            resource: self.resource.clone(),
            before,
            after,
            snapshot,
            remaining,
            dry_run: self.dry_run,
        }
    }

    async fn table<T: Describe<DynamoDb> + Apply<DynamoDb>>(
        &self,
        tables: &T,
        table: Option<Capacity>,
        indexes: BTreeMap<String, Capacity>,
    ) -> Result<RolledBack, Failure> {
        let now = tables.describe(&self.resource.name).await.map_err(Failure::Aws)?;
        let current = json!({
            "table": now.state.capacity,
            "indexes": now.state.indexes.iter().filter(|index| indexes.contains_key(&index.name))
                .map(|index| (index.name.clone(), json!(index.capacity))).collect::<serde_json::Map<_, _>>(),
        });
        let target = json!({ "table": table.unwrap_or(now.state.capacity), "indexes": &indexes });
        // Only what differs is sent: UpdateTable refuses a capacity equal to the current one.
        let table = table.filter(|capacity| *capacity != now.state.capacity);
        let indexes: BTreeMap<String, Capacity> = indexes
            .into_iter()
            .filter(|(name, capacity)| {
                now.state
                    .indexes
                    .iter()
                    .any(|index| &index.name == name && index.capacity != *capacity)
            })
            .collect();
        if table.is_none() && indexes.is_empty() {
            return Ok(self.done(current.clone(), current, None, 0));
        }
        let snapshot = self.snapshot(&now.raw, &current, &target).await?;
        if !self.dry_run {
            tables
                .apply(
                    &now.state,
                    &TableChange::Scale {
                        table,
                        indexes,
                        floors: Vec::new(),
                    },
                )
                .await
                .map_err(Failure::Aws)?;
        }
        Ok(self.done(current, target, snapshot, 0))
    }

    async fn stream<K: Describe<Kinesis> + Apply<Kinesis>>(
        &self,
        streams: &K,
        target: u32,
    ) -> Result<RolledBack, Failure> {
        let mut now = streams
            .describe(&self.resource.name)
            .await
            .map_err(Failure::Aws)?;
        let first = now.state.open_shards;
        let before = json!({ "shards": first });
        if first == target {
            return Ok(self.done(before.clone(), before, None, 0));
        }
        let snapshot = self
            .snapshot(&now.raw, &before, &json!({ "shards": target }))
            .await?;
        if self.dry_run {
            return Ok(self.done(
                before,
                json!({ "shards": target }),
                None,
                shard_steps(first, target),
            ));
        }
        loop {
            let next = next_shard_count(now.state.open_shards, target);
            streams
                .apply(&now.state, &StreamChange::UpdateShardCount { target: next })
                .await
                .map_err(Failure::Aws)?;
            let remaining = shard_steps(next, target);
            if remaining == 0 || !self.follow {
                return Ok(self.done(before, json!({ "shards": next }), snapshot, remaining));
            }
            // The next call waits for this one: a stream takes no update while UPDATING.
            now = loop {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                let read = streams
                    .describe(&self.resource.name)
                    .await
                    .map_err(Failure::Aws)?;
                if read.state.status == Status::Active {
                    break read;
                }
            };
        }
    }

    async fn setting(&self, settings: &SdkSettings, id: &str) -> Result<RolledBack, Failure> {
        let now = settings.reread(id).await.map_err(Failure::Aws)?;
        let before = json!({ "settingId": id, "value": now.value, "status": now.status });
        if now.status.eq_ignore_ascii_case("Default") {
            return Ok(self.done(before.clone(), before, None, 0));
        }
        let after = json!({ "settingId": id, "status": "Default" });
        let snapshot = self
            .snapshot(&json!({ "throughput": &now }), &before, &after)
            .await?;
        if !self.dry_run {
            settings.reset(id).await.map_err(Failure::Aws)?;
        }
        Ok(self.done(before, after, snapshot, 0))
    }
}

#[cfg(test)]
#[path = "rollback_tests.rs"]
mod tests;
