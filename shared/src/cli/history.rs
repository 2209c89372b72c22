//! `unthrottle history`: what unthrottle did, newest first. Every change it made has a
//! snapshot in the bucket (kept for good: the record of changes); the ledger adds what only
//! it knows now (a claim held, a refusal backing a resource off, a change AWS reports that
//! unthrottle did not make), for the 24 hours it keeps them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::{Failure, Home, SERVICES, service_named};
use crate::core::domain::ResourceRef;
use crate::core::ledger::LedgerView;
use crate::core::ports::{Ledger, SnapshotArchive};
use crate::core::snapshot::{key_segment, region_folder};

/// What a row of history records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::Display)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Kind {
    /// A change unthrottle made, with its snapshot.
    Change,
    /// A resource claimed by an incident: no other change until the claim ends.
    Claimed,
    /// AWS refused a change: the resource is left alone until the refusal ends.
    Refused,
    /// A change AWS reports that unthrottle did not make (by hand, or another tool).
    ChangedElsewhere,
}

/// One row of history.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub at: DateTime<Utc>,
    pub kind: Kind,
    /// `dynamodb/orders`.
    pub resource: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    pub detail: String,
    /// `s3://bucket/key`: what `unthrottle rollback` restores from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
}

/// What to show.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// A resource's name (`orders`, `clickstream`, `kms.Decrypt`); `None`: every resource.
    pub resource: Option<String>,
    /// `dynamodb`, `kinesis` or `api`; `None`: all three.
    pub service: Option<String>,
    /// At most this many changes, the newest.
    pub limit: usize,
}

/// A snapshot key's parts: `snapshots/{service}/{account}/{region}/{name}/{time}-{event}.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key<'a> {
    service: &'a str,
    account: &'a str,
    region: &'a str,
    name: &'a str,
    /// The time segment: its text sorts as the time does.
    stamp: &'a str,
}

fn parse_key(key: &str) -> Option<Key<'_>> {
    let mut parts = key.strip_prefix("snapshots/")?.split('/');
    let (service, account, region, name, file) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if parts.next().is_some() {
        return None;
    }
    Some(Key {
        service,
        account,
        region,
        name,
        stamp: file.split('-').next()?,
    })
}

/// The snapshot keys `filter` selects in `home`, newest first, at most `filter.limit`.
pub fn select<'a>(keys: &'a [String], home: &Home, filter: &Filter) -> Vec<&'a str> {
    let mut chosen: Vec<(&str, &str)> = keys
        .iter()
        .filter_map(|key| parse_key(key).map(|parts| (key.as_str(), parts)))
        .filter(|(_, parts)| parts.account == home.scope.account && parts.region == home.scope.region)
        .filter(|(_, parts)| {
            filter
                .service
                .as_deref()
                .is_none_or(|service| parts.service == service)
        })
        .filter(|(_, parts)| {
            filter
                .resource
                .as_deref()
                .is_none_or(|name| parts.name == key_segment(name))
        })
        .map(|(key, parts)| (key, parts.stamp))
        .collect();
    chosen.sort_by(|a, b| b.1.cmp(a.1).then_with(|| b.0.cmp(a.0)));
    chosen.truncate(filter.limit);
    chosen.into_iter().map(|(key, _)| key).collect()
}

/// A snapshot document as a row of history; `None` for a document that is not one.
pub fn change_row(document: &Value, location: String) -> Option<Row> {
    let plan = document.get("plan")?;
    Some(Row {
        at: document
            .get("takenAt")
            .and_then(Value::as_str)
            .and_then(|at| DateTime::parse_from_rfc3339(at).ok())?
            .with_timezone(&Utc),
        kind: Kind::Change,
        resource: format!(
            "{}/{}",
            document.get("service")?.as_str()?,
            document.get("name")?.as_str()?
        ),
        action: plan.get("action").and_then(Value::as_str).map(str::to_owned),
        before: plan.get("before").cloned(),
        after: plan.get("after").cloned(),
        detail: plan
            .get("why")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        snapshot: Some(location),
    })
}

/// What the ledger holds now for `resource` that no snapshot says.
pub fn ledger_rows(resource: &ResourceRef, view: &LedgerView, now: DateTime<Utc>) -> Vec<Row> {
    let name = format!("{}/{}", resource.service, resource.name);
    let row = |at, kind, action: Option<String>, detail: String| Row {
        at,
        kind,
        resource: name.clone(),
        action,
        before: None,
        after: None,
        detail,
        snapshot: None,
    };
    let mut rows = Vec::new();
    // A lease held to its end (a rollback's, or an invocation at work) holds like a claim.
    let held = [&view.claim, &view.lease]
        .into_iter()
        .flatten()
        .filter(|claim| claim.until > now)
        .max_by_key(|claim| claim.until);
    if let Some(claim) = held {
        rows.push(row(
            now,
            Kind::Claimed,
            None,
            format!(
                "held by event {} until {}: no other change (and no rollback) before then",
                claim.holder,
                claim.until.to_rfc3339()
            ),
        ));
    }
    if let Some(refusal) = view.refusal.as_ref().filter(|refusal| refusal.until > now) {
        rows.push(row(
            now,
            Kind::Refused,
            None,
            format!(
                "AWS refused a change ({} in a row); left alone until {}: {}",
                refusal.strikes,
                refusal.until.to_rfc3339(),
                refusal.reason
            ),
        ));
    }
    rows.extend(view.history.iter().filter(|entry| !entry.is_ours()).map(|entry| {
        row(
            entry.at,
            Kind::ChangedElsewhere,
            Some(entry.action.to_string()),
            "a change AWS reports that unthrottle did not make (by hand, or another tool)".into(),
        )
    }));
    rows
}

/// History in `home`: the selected changes from the snapshots, and what the ledger holds
/// now for the resources they name (and the one asked for), newest first.
pub async fn history(
    archive: &impl SnapshotArchive,
    ledger: &impl Ledger,
    home: &Home,
    filter: &Filter,
    now: DateTime<Utc>,
) -> Result<Vec<Row>, Failure> {
    // Only the folders asked for: the bucket keeps every snapshot for good.
    let services: Vec<&str> = match &filter.service {
        Some(service) => vec![service.as_str()],
        None => SERVICES.iter().map(|service| service.key).collect(),
    };
    let mut keys = Vec::new();
    for service in services {
        let mut prefix = region_folder(service, &home.scope.account, &home.scope.region);
        if let Some(name) = &filter.resource {
            prefix.push_str(&format!("{}/", key_segment(name)));
        }
        keys.extend(archive.list(&prefix).await.map_err(Failure::Aws)?);
    }
    let mut rows = Vec::new();
    let mut resources: Vec<ResourceRef> = Vec::new();
    for key in select(&keys, home, filter) {
        let body = archive.get(key).await.map_err(Failure::Aws)?;
        let Some(row) = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|document| change_row(&document, archive.location(key)))
        else {
            tracing::warn!(key, "not a snapshot document: left out");
            continue;
        };
        rows.push(row);
    }
    for row in &rows {
        if let Some(resource) = resource_of(&row.resource, home)
            && !resources.contains(&resource)
        {
            resources.push(resource);
        }
    }
    if let Some(name) = &filter.resource {
        for service in SERVICES {
            if filter.service.as_deref().is_none_or(|key| key == service.key) {
                let resource = ResourceRef {
                    service,
                    account: home.scope.account.clone(),
                    region: home.scope.region.clone(),
                    name: name.clone(),
                };
                if !resources.contains(&resource) {
                    resources.push(resource);
                }
            }
        }
    }
    for resource in &resources {
        let view = ledger.view(resource, now).await.map_err(Failure::Aws)?;
        rows.extend(ledger_rows(resource, &view, now));
    }
    rows.sort_by_key(|row| std::cmp::Reverse(row.at));
    Ok(rows)
}

fn resource_of(row_resource: &str, home: &Home) -> Option<ResourceRef> {
    let (service, name) = row_resource.split_once('/')?;
    Some(ResourceRef {
        service: service_named(service)?,
        account: home.scope.account.clone(),
        region: home.scope.region.clone(),
        name: name.to_owned(),
    })
}

#[cfg(test)]
#[path = "history_tests.rs"]
mod tests;
