//! The ledger in a DynamoDB table (key `pk` string, sort key `sk` string, TTL attribute
//! `expires_at`):
//!
//! | record     | pk                                 | sk                                   | attributes |
//! |------------|------------------------------------|--------------------------------------|------------|
//! | resource   | `{service}#{acct}#{region}#{name}` | `claim`                              | the lease, the claim, the refusal, the events diagnosed last, one `change#{rfc3339 ms}#{event}` map per change |
//! | sighting   | same as the resource               | `sustain#{dimension}#{bucket epoch}` | events (a string set) |
//! | call count | `calls#` + the resource's pk       | `{minute epoch, 12 digits}#{caller}` | caller, hits, events |
//!
//! Everything a remediation decides on is one item, so one conditional `UpdateItem` claims
//! the resource and returns what it held (docs/ledger.md, "The protocol"). Records of the
//! earlier layout (`history#…` and `refusal` items) are still read by `view` until their TTL
//! ends; the claim's condition does not see them.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use chrono::{DateTime, SecondsFormat, Utc};

use crate::adapters::errors::classify;
use crate::core::domain::{Action, HistoryEntry, ResourceRef};
use crate::core::error::{Error, ErrorKind, Result};
use crate::core::guards::rolling_day;
use crate::core::ledger::{
    Admission, Claim, LedgerView, Refusal, Release, Sighting, TalliedCall, Ticket, history_retention,
    tally_partition,
};
use crate::core::ports::{Ledger, Tally};

const RESOURCE_SK: &str = "claim";
const LEGACY_REFUSAL_SK: &str = "refusal";
const LEGACY_HISTORY_PREFIX: &str = "history#";
const CHANGE_PREFIX: &str = "change#";

/// The events diagnosed last (a list of strings, `DIAGNOSES_REMEMBERED` at most).
const DIAGNOSED: &str = "diagnosed";

/// The claim's condition: the ticket's own lease again (the SDK retrying a write whose answer
/// was lost), or a resource no lease, cooldown or refusal holds that this event has not
/// changed or been diagnosed on already (`diagnosed` only as the list it is written as: on
/// a string, `contains` would match a part of an id).
const CLAIM_CONDITION: &str = "lease_invocation = :me OR (\
    (attribute_not_exists(lease_until) OR lease_until <= :now) \
    AND (attribute_not_exists(#until) OR #until <= :now) \
    AND (attribute_not_exists(holder) OR holder <> :event) \
    AND (NOT attribute_type(diagnosed, :list) OR NOT contains(diagnosed, :event)) \
    AND (attribute_not_exists(refused_until) OR refused_until <= :now))";

pub struct DynamoDbLedger {
    client: Client,
    table: String,
}

type Item = HashMap<String, AttributeValue>;

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn epoch(at: DateTime<Utc>) -> AttributeValue {
    AttributeValue::N(at.timestamp().to_string())
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)?.as_s().ok().map(String::as_str)
}

fn time_from_epoch(item: &Item, name: &str) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(item.get(name)?.as_n().ok()?.parse().ok()?, 0)
}

/// True when a write was refused by its condition expression.
fn condition_failed<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> bool {
    error
        .as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

/// The attribute a change is stored under: sorted by time, unique per event.
fn change_name(entry: &HistoryEntry) -> String {
    format!(
        "{CHANGE_PREFIX}{}#{}",
        entry.at.to_rfc3339_opts(SecondsFormat::Millis, true),
        entry.event_id
    )
}

fn change_value(entry: &HistoryEntry) -> AttributeValue {
    let mut fields = HashMap::from([
        ("action".to_owned(), s(entry.action.name())),
        (
            "at".to_owned(),
            s(entry.at.to_rfc3339_opts(SecondsFormat::Millis, true)),
        ),
        ("event_id".to_owned(), s(&entry.event_id)),
    ]);
    if let Some(subject) = &entry.subject {
        fields.insert("subject".to_owned(), s(subject));
    }
    AttributeValue::M(fields)
}

/// An update expression under construction, its names and values numbered as they come.
#[derive(Default)]
struct Update {
    set: Vec<String>,
    remove: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Update {
    fn name(&mut self, attribute: &str) -> String {
        let placeholder = format!("#a{}", self.names.len());
        self.names.insert(placeholder.clone(), attribute.to_owned());
        placeholder
    }

    fn set(&mut self, attribute: &str, value: AttributeValue) -> &mut Self {
        let name = self.name(attribute);
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        self.set.push(format!("{name} = {placeholder}"));
        self
    }

    fn remove(&mut self, attribute: &str) -> &mut Self {
        let name = self.name(attribute);
        self.remove.push(name);
        self
    }

    fn expression(&self) -> String {
        let mut parts = Vec::new();
        if !self.set.is_empty() {
            parts.push(format!("SET {}", self.set.join(", ")));
        }
        if !self.remove.is_empty() {
            parts.push(format!("REMOVE {}", self.remove.join(", ")));
        }
        parts.join(" ")
    }
}

const LEASE: [&str; 3] = ["lease_holder", "lease_until", "lease_invocation"];
const CLAIM: [&str; 3] = ["holder", "until", "invocation"];
const REFUSAL: [&str; 3] = ["refused_until", "strikes", "refusal_reason"];

impl DynamoDbLedger {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn failed<E>(&self, operation: &str, error: &SdkError<E, HttpResponse>) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        classify(operation, &format!("ledger table {}", self.table), error)
            .advise("check that LEDGER_TABLE exists with key pk/sk and the function may use it")
    }

    /// A ledger item without a field it must have is an error: a claim or history entry
    /// read as absent would let the cooldown or a daily-limit guard pass when it must not.
    fn malformed(&self, item: &Item, field: &str) -> Error {
        // A change's map has no key of its own: it lives in the resource's item.
        let sk = text(item, "sk").unwrap_or(RESOURCE_SK);
        Error::missing("Query", &format!("ledger table {} item {sk}", self.table), field)
    }

    /// The claim or lease kept under `names` (holder, until, invocation), if the item has one.
    fn claim_from(&self, item: &Item, [holder, until, invocation]: [&str; 3]) -> Result<Option<Claim>> {
        let Some(holder) = item.get(holder) else {
            return Ok(None);
        };
        Ok(Some(Claim {
            holder: holder
                .as_s()
                .map_err(|_| self.malformed(item, "holder"))?
                .to_owned(),
            until: time_from_epoch(item, until).ok_or_else(|| self.malformed(item, until))?,
            invocation: text(item, invocation).map(str::to_owned),
        }))
    }

    fn refusal_from(&self, item: &Item, [until, strikes, reason]: [&str; 3]) -> Result<Option<Refusal>> {
        if !item.contains_key(until) {
            return Ok(None);
        }
        Ok(Some(Refusal {
            until: time_from_epoch(item, until).ok_or_else(|| self.malformed(item, until))?,
            strikes: item
                .get(strikes)
                .and_then(|n| n.as_n().ok())
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| self.malformed(item, strikes))?,
            reason: text(item, reason).unwrap_or_default().to_owned(),
        }))
    }

    fn history_from(&self, item: &Item, field: &str) -> Result<HistoryEntry> {
        let bad = |what: &str| self.malformed(item, &format!("{field}{what}"));
        let at = text(item, "at")
            .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
            .ok_or_else(|| bad("at (an RFC 3339 time)"))?;
        Ok(HistoryEntry {
            at: at.with_timezone(&Utc),
            action: Action::from_stored(text(item, "action").ok_or_else(|| bad("action"))?),
            event_id: text(item, "event_id").ok_or_else(|| bad("event_id"))?.to_owned(),
            subject: text(item, "subject").map(str::to_owned),
        })
    }

    /// What the resource's item holds: its claim, lease, refusal, the events diagnosed last
    /// and its changes (those of the last day in `history`, those past retention in `expired`).
    fn view_from(&self, item: &Item, now: DateTime<Utc>, view: &mut LedgerView) -> Result<()> {
        view.claim = self.claim_from(item, CLAIM)?;
        view.lease = self.claim_from(item, LEASE)?;
        if let Some(refusal) = self.refusal_from(item, REFUSAL)? {
            view.refusal = Some(refusal);
        }
        // Read as absent when it is not a list of ids, unlike the rest: the worst it lets
        // through is one event diagnosed again, and failing would hold every event back.
        match item.get(DIAGNOSED).map(AttributeValue::as_l) {
            None => {}
            Some(Ok(ids)) => {
                view.diagnosed = ids.iter().filter_map(|id| id.as_s().ok().cloned()).collect();
            }
            Some(Err(_)) => tracing::warn!(
                table = %self.table,
                attribute = DIAGNOSED,
                "not a list of event ids: read as none; the next diagnosis replaces it"
            ),
        }
        for (name, value) in item.iter().filter(|(name, _)| name.starts_with(CHANGE_PREFIX)) {
            let fields = value
                .as_m()
                .map_err(|_| self.malformed(item, &format!("{name} (a map)")))?;
            let entry = self.history_from(fields, &format!("{name}."))?;
            self.keep(entry, now, view);
        }
        Ok(())
    }

    fn keep(&self, entry: HistoryEntry, now: DateTime<Utc>, view: &mut LedgerView) {
        if entry.at <= now - history_retention() {
            view.expired.push(entry);
        } else if entry.at > now - rolling_day() {
            view.history.push(entry);
        }
    }

    /// The resource's item after a refused claim: returned with the refusal where DynamoDB
    /// supports it, read again where it does not (dynalite).
    async fn held(
        &self,
        ticket: &Ticket,
        error: SdkError<UpdateItemError, HttpResponse>,
    ) -> Result<LedgerView> {
        let returned = match error.into_service_error() {
            UpdateItemError::ConditionalCheckFailedException(refused) => refused.item,
            _ => None,
        };
        let item = match returned {
            Some(item) => Some(item),
            None => {
                self.client
                    .get_item()
                    .table_name(&self.table)
                    .key("pk", s(ticket.resource.key()))
                    .key("sk", s(RESOURCE_SK))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(|e| self.failed("GetItem (claim)", &e))?
                    .item
            }
        };
        let mut view = LedgerView::default();
        if let Some(item) = item {
            self.view_from(&item, ticket.now, &mut view)?;
        }
        Ok(view)
    }

    fn update(
        &self,
        resource: &ResourceRef,
        update: Update,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(resource.key()))
            .key("sk", s(RESOURCE_SK))
            .update_expression(update.expression())
            .set_expression_attribute_names(Some(update.names))
            .set_expression_attribute_values(Some(update.values))
    }
}

impl Ledger for DynamoDbLedger {
    async fn view(&self, resource: &ResourceRef, now: DateTime<Utc>) -> Result<LedgerView> {
        let items: Vec<Item> = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(resource.key()))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| self.failed("Query", &e))?;
        let mut view = LedgerView::default();
        for item in &items {
            match text(item, "sk") {
                Some(RESOURCE_SK) => self.view_from(item, now, &mut view)?,
                Some(LEGACY_REFUSAL_SK) if view.refusal.is_none() => {
                    view.refusal = self.refusal_from(item, ["until", "strikes", "reason"])?;
                }
                Some(sk) if sk.starts_with(LEGACY_HISTORY_PREFIX) => {
                    let entry = self.history_from(item, "")?;
                    if entry.at > now - rolling_day() {
                        view.history.push(entry);
                    }
                }
                _ => {}
            }
        }
        view.history.sort_by_key(|entry| entry.at);
        Ok(view)
    }

    async fn claim(&self, ticket: &Ticket) -> Result<Admission> {
        let mut update = Update::default();
        update
            .set("lease_holder", s(&ticket.event_id))
            .set("lease_invocation", s(&ticket.invocation))
            .set("lease_until", epoch(ticket.now + ticket.lease))
            .set("expires_at", epoch(ticket.now + history_retention()));
        // The condition's own names and values, beside the update's numbered ones.
        update.values.insert(":me".into(), s(&ticket.invocation));
        update.values.insert(":now".into(), epoch(ticket.now));
        update.values.insert(":event".into(), s(&ticket.event_id));
        update.values.insert(":list".into(), s("L"));
        update.names.insert("#until".into(), "until".into());
        let claimed = self
            .update(&ticket.resource, update)
            .condition_expression(CLAIM_CONDITION)
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match claimed {
            Ok(output) => {
                let mut view = LedgerView::default();
                if let Some(item) = output.attributes()
                    && let Err(malformed) = self.view_from(item, ticket.now, &mut view)
                {
                    // Not decided on, so not kept: the event's retry, once the item is
                    // repaired, must find the resource free.
                    if let Err(e) = self.release(ticket, Release::Lease, None).await {
                        tracing::warn!(error = %e, "lease not released; it ends at the invocation's deadline");
                    }
                    return Err(malformed);
                }
                view.history.sort_by_key(|entry| entry.at);
                Ok(Admission::Granted(view))
            }
            Err(e) if condition_failed(&e) => Ok(Admission::Held(self.held(ticket, e).await?)),
            Err(e) => Err(self.failed("UpdateItem (claim)", &e)),
        }
    }

    async fn commit(
        &self,
        ticket: &Ticket,
        changes: &[HistoryEntry],
        expired: &[HistoryEntry],
        forgive: bool,
    ) -> Result<()> {
        let mut update = Update::default();
        update
            .set("holder", s(&ticket.event_id))
            .set("invocation", s(&ticket.invocation))
            .set("until", epoch(ticket.now + ticket.cooldown))
            .set("expires_at", epoch(ticket.now + history_retention()));
        for change in changes {
            update.set(&change_name(change), change_value(change));
        }
        for name in LEASE {
            update.remove(name);
        }
        if forgive {
            for name in REFUSAL {
                update.remove(name);
            }
        }
        for old in expired {
            update.remove(&change_name(old));
        }
        update.names.insert("#lease".into(), "lease_invocation".into());
        update.names.insert("#claim".into(), "invocation".into());
        update.values.insert(":me".into(), s(&ticket.invocation));
        update.values.insert(":event".into(), s(&ticket.event_id));
        // Or already made by this run: the SDK resending a commit whose answer was lost.
        let committed = self
            .update(&ticket.resource, update)
            .condition_expression("#lease = :me OR (holder = :event AND #claim = :me)")
            .send()
            .await;
        match committed {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => Err(Error::new(
                ErrorKind::Transient,
                "UpdateItem (commit)",
                ticket.resource.to_string(),
                "the lease ended before the change was recorded (the invocation ran past its deadline?): \
                 nothing changed; a retry of the event claims it again",
            )),
            Err(e) => Err(self.failed("UpdateItem (commit)", &e)),
        }
    }

    async fn release(&self, ticket: &Ticket, release: Release<'_>, refusal: Option<&Refusal>) -> Result<()> {
        let mut update = Update::default();
        let condition = match release {
            // A lease given back: only if it is this run's (so the diagnosed events it
            // writes are the ones its claim returned, and this one).
            Release::Lease | Release::Diagnosed(_) => {
                for name in LEASE {
                    update.remove(name);
                }
                if let Release::Diagnosed(diagnosed) = release {
                    update.set(DIAGNOSED, AttributeValue::L(diagnosed.iter().map(s).collect()));
                }
                update.names.insert("#lease".into(), "lease_invocation".into());
                "#lease = :me"
            }
            // A commit undone: its claim and its record, only if the claim is this run's; a
            // lease (another run's, after the cooldown) is left alone.
            Release::Commit(undone) => {
                for name in CLAIM {
                    update.remove(name);
                }
                for change in undone {
                    update.remove(&change_name(change));
                }
                update.values.insert(":event".into(), s(&ticket.event_id));
                update.names.insert("#claim".into(), "invocation".into());
                "holder = :event AND #claim = :me"
            }
        };
        if let Some(refusal) = refusal {
            update
                .set("refused_until", epoch(refusal.until))
                .set("strikes", AttributeValue::N(refusal.strikes.to_string()))
                .set("refusal_reason", s(&refusal.reason))
                // Kept a day past its end, so a refusal soon after doubles the wait.
                .set(
                    "expires_at",
                    epoch(refusal.until.max(ticket.now + history_retention()) + rolling_day()),
                );
        }
        update.values.insert(":me".into(), s(&ticket.invocation));
        let released = self
            .update(&ticket.resource, update)
            .condition_expression(condition)
            .send()
            .await;
        match released {
            Ok(_) => Ok(()),
            // Not the ticket's any more (its lease ended and another took it): nothing to give back.
            Err(e) if condition_failed(&e) => Ok(()),
            Err(e) => Err(self.failed("UpdateItem (release)", &e)),
        }
    }

    async fn sight(&self, resource: &ResourceRef, sighting: &Sighting) -> Result<u32> {
        // One atomic ADD to a set of event ids: concurrent invocations each see the count
        // with their own event in it, and a redelivered event adds nothing.
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(resource.key()))
            .key("sk", s(sighting.key()))
            .update_expression("ADD events :event SET expires_at = :expires")
            .expression_attribute_values(":event", AttributeValue::Ss(vec![sighting.event_id.clone()]))
            .expression_attribute_values(":expires", epoch(sighting.expires))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| self.failed("UpdateItem (sighting)", &e))?;
        let seen = updated
            .attributes()
            .and_then(|item| item.get("events"))
            .and_then(|events| events.as_ss().ok())
            .map(Vec::len)
            .ok_or_else(|| {
                Error::missing(
                    "UpdateItem",
                    &format!("ledger table {} item {}", self.table, sighting.key()),
                    "events",
                )
            })?;
        Ok(u32::try_from(seen).unwrap_or(u32::MAX))
    }

    async fn record(&self, resource: &ResourceRef, entry: &HistoryEntry) -> Result<()> {
        let mut update = Update::default();
        update.set(&change_name(entry), change_value(entry)).set(
            "expires_at",
            epoch(entry.at.max(Utc::now()) + history_retention()),
        );
        self.update(resource, update)
            .send()
            .await
            .map_err(|e| self.failed("UpdateItem (history)", &e))?;
        Ok(())
    }
}

impl Tally for DynamoDbLedger {
    async fn tally(&self, resource: &ResourceRef, call: &TalliedCall) -> Result<bool> {
        let keyed = || {
            self.client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(tally_partition(resource)))
                .key("sk", s(call.key()))
                .expression_attribute_values(":id", s(&call.event_id))
                .expression_attribute_values(":one", AttributeValue::N("1".to_owned()))
                .expression_attribute_values(":caller", s(&call.caller))
                .expression_attribute_values(":expires", epoch(call.expires))
        };
        // One conditional write: the event's id joins the minute's set (a redelivery is
        // refused by the condition) and the count follows, while the set is small.
        let counted = keyed()
            .update_expression("ADD events :event, hits :one SET caller = :caller, expires_at = :expires")
            .condition_expression(
                "attribute_not_exists(events) OR (NOT contains(events, :id) AND size(events) < :most)",
            )
            .expression_attribute_values(":event", AttributeValue::Ss(vec![call.event_id.clone()]))
            .expression_attribute_values(
                ":most",
                AttributeValue::N(TalliedCall::REMEMBERED_PER_MINUTE.to_string()),
            )
            .send()
            .await;
        match counted {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => {
                // A redelivery, or a storm past the remembered ids: count it unless its id
                // is remembered (the set stays small, so every write stays cheap).
                let beyond = keyed()
                    .update_expression("ADD hits :one SET caller = :caller, expires_at = :expires")
                    .condition_expression("NOT contains(events, :id)")
                    .send()
                    .await;
                match beyond {
                    Ok(_) => Ok(true),
                    Err(e) if condition_failed(&e) => Ok(false),
                    Err(e) => Err(self.failed("UpdateItem (call count)", &e)),
                }
            }
            Err(e) => Err(self.failed("UpdateItem (call count)", &e)),
        }
    }

    async fn first_in_window(
        &self,
        resource: &ResourceRef,
        caller: &str,
        at: DateTime<Utc>,
        minutes: u32,
    ) -> Result<bool> {
        let until = at
            .checked_add_signed(chrono::Duration::minutes(i64::from(minutes)))
            .unwrap_or(at);
        let claimed = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(tally_partition(resource)))
            .item("sk", s(format!("digest#{caller}")))
            .item("until", epoch(until))
            .item("expires_at", epoch(until))
            .condition_expression("attribute_not_exists(pk) OR #until <= :at")
            .expression_attribute_names("#until", "until")
            .expression_attribute_values(":at", epoch(at))
            .send()
            .await;
        match claimed {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(self.failed("PutItem (digest)", &e)),
        }
    }

    async fn callers(
        &self,
        resource: &ResourceRef,
        at: DateTime<Utc>,
        minutes: u32,
    ) -> Result<Vec<(String, u32)>> {
        let (from, until) = TalliedCall::window(at, minutes);
        let mut by_caller: HashMap<String, u32> = HashMap::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :until")
                .expression_attribute_values(":pk", s(tally_partition(resource)))
                .expression_attribute_values(":from", s(from.clone()))
                .expression_attribute_values(":until", s(until.clone()))
                .projection_expression("caller, hits")
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| self.failed("Query (call counts)", &e))?;
            for item in page.items() {
                let caller = text(item, "caller").unwrap_or("unknown").to_owned();
                let hits = item
                    .get("hits")
                    .and_then(|hits| hits.as_n().ok())
                    .and_then(|hits| hits.parse::<u32>().ok())
                    .unwrap_or(0);
                let total = by_caller.entry(caller).or_default();
                *total = total.saturating_add(hits);
            }
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(by_caller.into_iter().collect()),
            }
        }
    }
}
