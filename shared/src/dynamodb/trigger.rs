//! Which tables (and GSIs) an event says were throttled, and on which side.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::domain::Pressure;
use crate::event::{
    name_from_arn_or_name, AlarmDetail, ApiCallDetail, Envelope, Signal, Triage, TriggerError,
};
use crate::plan::SkipReason;

pub const EVENT_SOURCE: &str = "dynamodb.amazonaws.com";
pub const METRIC_NAMESPACE: &str = "AWS/DynamoDB";
pub const THROTTLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
];

/// One throttled table: the pressure on the table itself and on each named GSI.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TableTarget {
    pub table: String,
    pub on_table: Pressure,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub on_indexes: BTreeMap<String, Pressure>,
}

/// Collects targets in the order the event names them, merging repeats of one table.
#[derive(Default)]
struct Targets(Vec<TableTarget>);

impl Targets {
    fn entry(&mut self, table: &str) -> &mut TableTarget {
        let position = match self.0.iter().position(|t| t.table == table) {
            Some(position) => position,
            None => {
                self.0.push(TableTarget {
                    table: table.to_owned(),
                    ..TableTarget::default()
                });
                self.0.len() - 1
            }
        };
        &mut self.0[position]
    }

    fn add(&mut self, table: &str, index: Option<&str>, pressure: Pressure) {
        let target = self.entry(table);
        match index {
            Some(index) => target
                .on_indexes
                .entry(index.to_owned())
                .or_default()
                .merge(pressure),
            None => target.on_table.merge(pressure),
        }
    }
}

/// Reads an event for the DynamoDB function.
pub fn triage(envelope: &Envelope) -> Result<Triage<TableTarget>, TriggerError> {
    match envelope.signal()? {
        Signal::ApiCall(call) => from_api_call(envelope, &call),
        Signal::Alarm(alarm) => Ok(from_alarm(envelope, &alarm)),
        Signal::Other => Ok(envelope.not_a_throttle_signal()),
    }
}

/// A transaction cancelled because one of its items was throttled: the cancellation
/// reasons in the message include `ThrottlingError`.
fn cancelled_by_throttling(call: &ApiCallDetail) -> Option<&str> {
    let code = call
        .error_code
        .as_deref()
        .filter(|code| *code == "TransactionCanceledException")?;
    call.error_message
        .as_deref()
        .is_some_and(|message| message.contains("ThrottlingError"))
        .then_some(code)
}

/// How a DynamoDB operation uses capacity.
enum Operation {
    Read,
    Write,
    /// PartiQL names its tables inside the statement, which CloudTrail does not keep.
    PartiQl,
    /// Table management and metadata calls: their limits are API rate limits.
    ControlPlane,
}

fn classify(event_name: &str) -> Operation {
    match event_name {
        "GetItem" | "BatchGetItem" | "Query" | "Scan" | "TransactGetItems" => Operation::Read,
        "PutItem" | "UpdateItem" | "DeleteItem" | "BatchWriteItem" | "TransactWriteItems" => Operation::Write,
        "ExecuteStatement" | "BatchExecuteStatement" | "ExecuteTransaction" => Operation::PartiQl,
        _ => Operation::ControlPlane,
    }
}

fn from_api_call(envelope: &Envelope, call: &ApiCallDetail) -> Result<Triage<TableTarget>, TriggerError> {
    let event_id = call.event_id.as_deref().unwrap_or(&envelope.id);
    if call.event_source != EVENT_SOURCE {
        return Ok(Triage::ignored(
            event_id,
            SkipReason::NotOurs,
            format!(
                "{} call from {} is not a DynamoDB call",
                call.event_name, call.event_source
            ),
        ));
    }
    let Some(code) = call
        .throttle_code(THROTTLE_CODES)
        .or_else(|| cancelled_by_throttling(call))
    else {
        return Ok(Triage::ignored(
            event_id,
            SkipReason::NotThrottle,
            call.not_throttle(),
        ));
    };
    let pressure = match classify(&call.event_name) {
        Operation::Read => Pressure::READ,
        Operation::Write => Pressure::WRITE,
        Operation::PartiQl => {
            return Ok(Triage::ignored(
                event_id,
                SkipReason::NotThrottle,
                format!(
                    "{} names its tables inside the PartiQL statement, which CloudTrail does not record; \
                     alarm on the table's ThrottleEvents metrics to heal it",
                    call.event_name
                ),
            ))
        }
        Operation::ControlPlane => {
            return Ok(Triage::ignored(
                event_id,
                SkipReason::ControlPlane,
                format!(
                    "{code} on {} is a control-plane rate limit; more table capacity cannot help: \
                     slow the caller or ask AWS for a higher API rate",
                    call.event_name
                ),
            ))
        }
    };

    let mut targets = Targets::default();
    let params = call.request_parameters.as_ref();
    let index = call.parameter("indexName");
    if let Some(table) = call
        .parameter("tableName")
        .and_then(|t| name_from_arn_or_name(t, "table"))
    {
        targets.add(table, index, pressure);
    }
    for items in ["requestItems", "transactItems"]
        .iter()
        .filter_map(|key| params?.get(*key))
    {
        for table in tables_in_items(items) {
            targets.add(table, None, pressure);
        }
    }

    if targets.0.is_empty() {
        return Err(TriggerError::NoResource {
            event_id: event_id.to_owned(),
            operation: call.event_name.clone(),
            resource_kind: "table",
        });
    }
    Ok(Triage::Throttled {
        incident: envelope.api_call_incident(call, code),
        targets: targets.0,
    })
}

/// Table names in a batch or transaction's item list. CloudTrail writes these in more
/// than one shape, so all are read:
/// - an object keyed by table name or ARN (BatchWriteItem / BatchGetItem `requestItems`);
/// - an array of items that carry `tableName` (transactions logged as `requestItems`);
/// - an array of one-key objects such as `{"put": {"tableName": ...}}` (`transactItems`).
fn tables_in_items(items: &Value) -> Vec<&str> {
    let names: Vec<&str> = match items {
        Value::Object(by_table) => by_table.keys().map(String::as_str).collect(),
        Value::Array(list) => list
            .iter()
            .filter_map(|item| {
                table_name_of(item).or_else(|| item.as_object()?.values().find_map(table_name_of))
            })
            .collect(),
        _ => Vec::new(),
    };
    names
        .into_iter()
        .filter_map(|name| name_from_arn_or_name(name, "table"))
        .collect()
}

/// AWS's own examples spell the key both `tableName` and `TableName`.
fn table_name_of(item: &Value) -> Option<&str> {
    item.get("tableName").or_else(|| item.get("TableName"))?.as_str()
}

/// The side a DynamoDB throttle metric speaks of, or `None` for other metrics.
fn metric_pressure(name: &str, dimensions: &BTreeMap<String, String>) -> Option<Pressure> {
    if name == "ThrottledRequests" {
        // ThrottledRequests is published per Operation; without it both sides are suspect.
        return Some(match dimensions.get("Operation").map(|op| classify(op)) {
            Some(Operation::Read) => Pressure::READ,
            Some(Operation::Write) => Pressure::WRITE,
            _ => Pressure::BOTH,
        });
    }
    let family = name.strip_suffix("ThrottleEvents")?;
    if family.starts_with("Read") {
        Some(Pressure::READ)
    } else if family.starts_with("Write") || family.starts_with("OnlineIndex") {
        // OnlineIndexThrottleEvents are write throttles while a new GSI backfills.
        Some(Pressure::WRITE)
    } else {
        None
    }
}

fn from_alarm(envelope: &Envelope, alarm: &AlarmDetail) -> Triage<TableTarget> {
    if !alarm.is_alarming() {
        return Triage::ignored(
            &envelope.id,
            SkipReason::NotThrottle,
            format!(
                "alarm {} went to {}; only a change to ALARM needs healing",
                alarm.alarm_name, alarm.state.value
            ),
        );
    }
    let mut targets = Targets::default();
    for metric in alarm.metrics_in(METRIC_NAMESPACE) {
        let (Some(pressure), Some(table)) = (
            metric_pressure(&metric.name, &metric.dimensions),
            metric.dimensions.get("TableName"),
        ) else {
            continue;
        };
        let index = metric.dimensions.get("GlobalSecondaryIndexName");
        targets.add(table, index.map(String::as_str), pressure);
    }
    if targets.0.is_empty() {
        return Triage::ignored(
            &envelope.id,
            SkipReason::NotOurs,
            format!(
                "alarm {} watches no {METRIC_NAMESPACE} throttle metric with a TableName dimension",
                alarm.alarm_name
            ),
        );
    }
    Triage::Throttled {
        incident: envelope.alarm_incident(alarm),
        targets: targets.0,
    }
}

#[cfg(test)]
#[path = "trigger_tests.rs"]
mod tests;
