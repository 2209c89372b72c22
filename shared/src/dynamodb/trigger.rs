//! Which tables (and GSIs) an event says were throttled, and on which side.

use std::collections::BTreeMap;

use serde_json::Value;

use super::model::{Cause, TableTarget};
use super::settings::DynamoDb;
use crate::core::domain::Pressure;
use crate::core::envelope::{ApiCallDetail, MetricId, name_from_arn_or_name, scope_of_arn};
use crate::core::plan::SkipReason;
use crate::core::trigger::{CallReading, CapacitySignals, InvalidName, NameRule, Signals};

/// Table names: 3-255 characters of `a-z`, `A-Z`, `0-9`, `_`, `.`, `-` (Developer Guide,
/// "Supported data types and naming rules in Amazon DynamoDB": tables and indexes).
pub const TABLE_NAME: NameRule = NameRule::new("table", 3, 255);
/// Global secondary index names: the same rule as tables'.
pub const INDEX_NAME: NameRule = NameRule::new("index", 3, 255);

impl CapacitySignals for DynamoDb {
    type Target = TableTarget;
    const SIGNALS: Signals = Signals {
        label: "DynamoDB",
        event_source: "dynamodb.amazonaws.com",
        throttle_codes: &[
            "ProvisionedThroughputExceededException",
            "ThrottlingException",
            "RequestLimitExceeded",
        ],
        metric_namespace: "AWS/DynamoDB",
        resource_dimension: "TableName",
        resource_kind: "table",
    };
    const NAME_RULE: NameRule = TABLE_NAME;

    fn check_inner_names(target: &TableTarget) -> Result<(), InvalidName> {
        target
            .on_indexes
            .keys()
            .try_for_each(|index| INDEX_NAME.check(index))
    }

    fn throttle_code(call: &ApiCallDetail) -> Option<&str> {
        call.throttle_code(Self::SIGNALS.throttle_codes)
            .or_else(|| cancelled_by_throttling(call))
    }

    fn throttled_call(call: &ApiCallDetail, code: &str) -> CallReading<TableTarget> {
        let pressure = match classify(&call.event_name) {
            Operation::Read => Pressure::READ,
            Operation::Write => Pressure::WRITE,
            Operation::PartiQl => {
                return CallReading::Ignored(
                    SkipReason::NotThrottle,
                    format!(
                        "{} names its tables inside the PartiQL statement, which CloudTrail does not record; \
                         alarm on the table's ThrottleEvents metrics to heal it",
                        call.event_name
                    ),
                );
            }
            Operation::ControlPlane => {
                return CallReading::Ignored(
                    SkipReason::ControlPlane,
                    format!(
                        "{code} on {} is a control-plane rate limit; more table capacity cannot help: \
                         slow the caller or ask AWS for a higher API rate",
                        call.event_name
                    ),
                );
            }
        };
        let mut targets = Vec::new();
        if let Some(named) = call.parameter("tableName")
            && let Some(table) = name_from_arn_or_name(named, "table")
        {
            targets.push(TableTarget {
                scope: scope_of_arn(named),
                ..TableTarget::new(table, call.parameter("indexName"), pressure)
            });
        }
        let params = call.request_parameters.as_ref();
        for items in ["requestItems", "transactItems"]
            .iter()
            .filter_map(|key| params?.get(*key))
        {
            targets.extend(tables_in_items(items).into_iter().filter_map(|named| {
                Some(TableTarget {
                    scope: scope_of_arn(named),
                    ..TableTarget::new(name_from_arn_or_name(named, "table")?, None, pressure)
                })
            }));
        }
        CallReading::Throttled(targets)
    }

    fn alarm_metric(metric: &MetricId) -> Option<TableTarget> {
        let pressure = metric_pressure(&metric.name, &metric.dimensions)?;
        let table = metric.dimensions.get(Self::SIGNALS.resource_dimension)?;
        let index = metric.dimensions.get("GlobalSecondaryIndexName");
        Some(TableTarget {
            cause: Cause::of_metric(&metric.name).map(|(_, cause)| cause),
            ..TableTarget::new(table, index.map(String::as_str), pressure)
        })
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

/// The DynamoDB calls that use table capacity: their throttles are this function's; every
/// other call's are API rate limits, api-throttle's. template.yaml lists the same names in
/// both functions' rules (the rule proof holds them together).
pub const DATA_PLANE: [&str; 13] = [
    "GetItem",
    "BatchGetItem",
    "Query",
    "Scan",
    "TransactGetItems",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
    "ExecuteStatement",
    "BatchExecuteStatement",
    "ExecuteTransaction",
];

pub fn is_data_plane(event_name: &str) -> bool {
    DATA_PLANE.contains(&event_name)
}

fn classify(event_name: &str) -> Operation {
    match event_name {
        "GetItem" | "BatchGetItem" | "Query" | "Scan" | "TransactGetItems" => Operation::Read,
        "PutItem" | "UpdateItem" | "DeleteItem" | "BatchWriteItem" | "TransactWriteItems" => Operation::Write,
        "ExecuteStatement" | "BatchExecuteStatement" | "ExecuteTransaction" => Operation::PartiQl,
        _ => Operation::ControlPlane,
    }
}

/// Table names in a batch or transaction's item list. CloudTrail writes these in more
/// than one shape, so all are read:
/// - an object keyed by table name or ARN (BatchWriteItem / BatchGetItem `requestItems`);
/// - an array of items that carry `tableName` (transactions logged as `requestItems`);
/// - an array of one-key objects such as `{"put": {"tableName": ...}}` (`transactItems`).
///
/// Each is a table name or ARN, as logged.
fn tables_in_items(items: &Value) -> Vec<&str> {
    match items {
        Value::Object(by_table) => by_table.keys().map(String::as_str).collect(),
        Value::Array(list) => list
            .iter()
            .filter_map(|item| {
                table_name_of(item).or_else(|| item.as_object()?.values().find_map(table_name_of))
            })
            .collect(),
        _ => Vec::new(),
    }
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

#[cfg(test)]
#[path = "trigger_tests.rs"]
mod tests;
