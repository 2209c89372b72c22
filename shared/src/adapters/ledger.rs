//! The ledger in a DynamoDB table (key `pk` string, sort key `sk` string, TTL attribute
//! `expires_at`):
//!
//! | record  | pk                         | sk                          | attributes              |
//! |---------|----------------------------|-----------------------------|-------------------------|
//! | claim   | `{service}#{acct}#{region}#{name}` | `claim`             | holder, until (epoch s) |
//! | history | same as claim              | `history#{rfc3339}#{event}` | action, at, event_id    |
//! | event   | `event#{event id}`         | resource key                | at                      |
//! | sighting | same as claim             | `sustain#{dimension}#{bucket epoch}` | events (a string set) |
//! | call count | `calls#` + claim's pk   | `{minute epoch, 12 digits}#{caller}` | caller, hits, events |
//!
//! Claims and history share a partition so one Query reads both.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use chrono::{DateTime, SecondsFormat, Utc};

use crate::adapters::errors::classify;
use crate::core::domain::{Action, HistoryEntry, ResourceRef};
use crate::core::error::{Error, Result};
use crate::core::guards::rolling_day;
use crate::core::ledger::{
    Admission, Claim, LedgerView, Refusal, Sighting, TalliedCall, Ticket, event_retention, history_retention,
    tally_partition,
};
use crate::core::ports::{Ledger, Tally};

const CLAIM_SK: &str = "claim";
const REFUSAL_SK: &str = "refusal";
const HISTORY_PREFIX: &str = "history#";

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

    async fn current_claim(&self, resource: &ResourceRef) -> Result<Option<Claim>> {
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(resource.key()))
            .key("sk", s(CLAIM_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.failed("GetItem", &e))?;
        item.item().map(|item| self.claim_from(item)).transpose()
    }

    /// A ledger item without a field it must have is an error: a claim or history entry
    /// read as absent would let the cooldown or a daily-limit guard pass when it must not.
    fn malformed(&self, item: &Item, field: &str) -> Error {
        let sk = text(item, "sk").unwrap_or("?");
        Error::missing("Query", &format!("ledger table {} item {sk}", self.table), field)
    }

    fn claim_from(&self, item: &Item) -> Result<Claim> {
        Ok(Claim {
            holder: text(item, "holder")
                .ok_or_else(|| self.malformed(item, "holder"))?
                .to_owned(),
            until: time_from_epoch(item, "until").ok_or_else(|| self.malformed(item, "until"))?,
            invocation: text(item, "invocation").map(str::to_owned),
        })
    }

    fn refusal_from(&self, item: &Item) -> Result<Refusal> {
        Ok(Refusal {
            until: time_from_epoch(item, "until").ok_or_else(|| self.malformed(item, "until"))?,
            strikes: item
                .get("strikes")
                .and_then(|n| n.as_n().ok())
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| self.malformed(item, "strikes"))?,
            reason: text(item, "reason").unwrap_or_default().to_owned(),
        })
    }

    fn history_from(&self, item: &Item) -> Result<HistoryEntry> {
        let at = text(item, "at")
            .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
            .ok_or_else(|| self.malformed(item, "at (an RFC 3339 time)"))?;
        Ok(HistoryEntry {
            at: at.with_timezone(&Utc),
            action: Action::from_stored(text(item, "action").ok_or_else(|| self.malformed(item, "action"))?),
            event_id: text(item, "event_id")
                .ok_or_else(|| self.malformed(item, "event_id"))?
                .to_owned(),
            subject: text(item, "subject").map(str::to_owned),
        })
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
        let since = now - rolling_day();
        let mut view = LedgerView::default();
        for item in &items {
            match text(item, "sk") {
                Some(CLAIM_SK) => view.claim = Some(self.claim_from(item)?),
                Some(REFUSAL_SK) => view.refusal = Some(self.refusal_from(item)?),
                Some(sk) if sk.starts_with(HISTORY_PREFIX) => {
                    let entry = self.history_from(item)?;
                    if entry.at > since {
                        view.history.push(entry);
                    }
                }
                _ => {}
            }
        }
        Ok(view)
    }

    async fn admit(&self, ticket: &Ticket) -> Result<Admission> {
        let seen = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("event#{}", ticket.event_id)))
            .item("sk", s(ticket.resource.key()))
            .item("at", s(ticket.now.to_rfc3339_opts(SecondsFormat::Millis, true)))
            .item("expires_at", epoch(ticket.now + event_retention()))
            .item("invocation", s(&ticket.invocation))
            .condition_expression("attribute_not_exists(pk) OR invocation = :me")
            .expression_attribute_values(":me", s(&ticket.invocation))
            .send()
            .await;
        match seen {
            Ok(_) => {}
            Err(e) if condition_failed(&e) => return Ok(Admission::Duplicate),
            Err(e) => return Err(self.failed("PutItem (event record)", &e)),
        }

        let until = ticket.now + ticket.cooldown;
        let claimed = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(ticket.resource.key()))
            .item("sk", s(CLAIM_SK))
            .item("holder", s(&ticket.event_id))
            .item("until", epoch(until))
            .item("expires_at", epoch(until + rolling_day()))
            .item("invocation", s(&ticket.invocation))
            .condition_expression("attribute_not_exists(pk) OR #until <= :now OR invocation = :me")
            .expression_attribute_names("#until", "until")
            .expression_attribute_values(":now", epoch(ticket.now))
            .expression_attribute_values(":me", s(&ticket.invocation))
            .send()
            .await;
        match claimed {
            Ok(_) => Ok(Admission::Granted),
            Err(e) if condition_failed(&e) => {
                // The event stays recorded: it belongs to the incident that holds the claim.
                // A claim gone by the time it is read was released or expired in between:
                // cooling down is still the safe answer, and a retry will find it free.
                let claim = self.current_claim(&ticket.resource).await?.unwrap_or(Claim {
                    holder: "another event".into(),
                    until,
                    invocation: None,
                });
                Ok(Admission::CoolingDown(claim))
            }
            Err(e) => Err(self.failed("PutItem (claim)", &e)),
        }
    }

    async fn release(&self, ticket: &Ticket) -> Result<()> {
        let released = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(ticket.resource.key()))
            .key("sk", s(CLAIM_SK))
            .condition_expression("holder = :me")
            .expression_attribute_values(":me", s(&ticket.event_id))
            .send()
            .await;
        match released {
            Ok(_) => {}
            Err(e) if condition_failed(&e) => {}
            Err(e) => return Err(self.failed("DeleteItem (claim)", &e)),
        }
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(format!("event#{}", ticket.event_id)))
            .key("sk", s(ticket.resource.key()))
            .send()
            .await
            .map_err(|e| self.failed("DeleteItem (event record)", &e))?;
        Ok(())
    }

    async fn refuse(&self, resource: &ResourceRef, refusal: &Refusal) -> Result<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(resource.key()))
            .item("sk", s(REFUSAL_SK))
            .item("until", epoch(refusal.until))
            .item("strikes", AttributeValue::N(refusal.strikes.to_string()))
            .item("reason", s(&refusal.reason))
            // Kept a day past its end, so a refusal soon after doubles the wait.
            .item("expires_at", epoch(refusal.until + rolling_day()))
            .send()
            .await
            .map_err(|e| self.failed("PutItem (refusal)", &e))?;
        Ok(())
    }

    async fn forgive(&self, resource: &ResourceRef) -> Result<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(resource.key()))
            .key("sk", s(REFUSAL_SK))
            .send()
            .await
            .map_err(|e| self.failed("DeleteItem (refusal)", &e))?;
        Ok(())
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
        let at = entry.at.to_rfc3339_opts(SecondsFormat::Millis, true);
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(resource.key()))
            .item("sk", s(format!("{HISTORY_PREFIX}{at}#{}", entry.event_id)))
            .item("action", s(entry.action.name()))
            .item("at", s(at))
            .item("event_id", s(&entry.event_id))
            .item("expires_at", epoch(entry.at + history_retention()));
        if let Some(subject) = &entry.subject {
            put = put.item("subject", s(subject));
        }
        put.send()
            .await
            .map_err(|e| self.failed("PutItem (history)", &e))?;
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
