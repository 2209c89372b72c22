//! Which stream an event says was throttled.

use super::model::StreamTarget;
use super::settings::Kinesis;
use crate::core::domain::Pressure;
use crate::core::envelope::{ApiCallDetail, MetricId, name_from_arn_or_name, scope_of_arn};
use crate::core::plan::SkipReason;
use crate::core::trigger::{CallReading, CapacitySignals, NameRule, Signals};

const STREAM_RESOURCE_TYPE: &str = "AWS::Kinesis::Stream";

/// Stream names: 1-128 characters of `a-z`, `A-Z`, `0-9`, `_`, `.`, `-` (Kinesis API
/// reference, CreateStream: `StreamName`).
pub const STREAM_NAME: NameRule = NameRule::new("stream", 1, 128);

impl CapacitySignals for Kinesis {
    type Target = StreamTarget;
    const SIGNALS: Signals = Signals {
        label: "Kinesis",
        event_source: "kinesis.amazonaws.com",
        throttle_codes: &[
            "ProvisionedThroughputExceededException",
            "LimitExceededException",
            "ThrottlingException",
        ],
        metric_namespace: "AWS/Kinesis",
        resource_dimension: "StreamName",
        resource_kind: "stream",
    };
    const NAME_RULE: NameRule = STREAM_NAME;

    fn throttled_call(call: &ApiCallDetail, code: &str) -> CallReading<StreamTarget> {
        let Some(pressure) = data_plane(&call.event_name) else {
            return CallReading::Ignored(
                SkipReason::ControlPlane,
                format!(
                    "{code} on {} is a control-plane rate limit, not a capacity problem; more shards cannot help: \
                     slow the caller (or use DescribeStreamSummary and ListShards with backoff)",
                    call.event_name
                ),
            );
        };
        // GetRecords names no stream, only an opaque shard iterator; CloudTrail's resource
        // list still carries the stream ARN.
        let named = call
            .parameter("streamName")
            .or_else(|| call.parameter("streamARN"))
            .filter(|value| name_from_arn_or_name(value, "stream").is_some())
            .or_else(|| {
                call.resource_arns(STREAM_RESOURCE_TYPE)
                    .find(|arn| name_from_arn_or_name(arn, "stream").is_some())
            });
        CallReading::Throttled(
            named
                .and_then(|named| {
                    Some(StreamTarget {
                        stream: name_from_arn_or_name(named, "stream")?.to_owned(),
                        pressure,
                        scope: scope_of_arn(named),
                    })
                })
                .into_iter()
                .collect(),
        )
    }

    fn alarm_metric(metric: &MetricId) -> Option<StreamTarget> {
        Some(StreamTarget {
            pressure: metric_pressure(&metric.name)?,
            stream: metric.dimensions.get(Self::SIGNALS.resource_dimension)?.clone(),
            scope: None,
        })
    }
}

/// The Kinesis calls that use shard capacity: their throttles are this function's; every
/// other call's are API rate limits, api-throttle's. template.yaml lists the same names in
/// both functions' rules (the rule proof holds them together).
pub const DATA_PLANE: [&str; 4] = ["PutRecord", "PutRecords", "GetRecords", "SubscribeToShard"];

pub fn is_data_plane(event_name: &str) -> bool {
    DATA_PLANE.contains(&event_name)
}

/// The capacity side a Kinesis data-plane call uses; `None` for control-plane calls.
fn data_plane(event_name: &str) -> Option<Pressure> {
    match event_name {
        "PutRecord" | "PutRecords" => Some(Pressure::WRITE),
        "GetRecords" | "SubscribeToShard" => Some(Pressure::READ),
        _ => None,
    }
}

/// The side a Kinesis throttle metric speaks of, or `None` for other metrics.
fn metric_pressure(name: &str) -> Option<Pressure> {
    match name {
        "WriteProvisionedThroughputExceeded" => Some(Pressure::WRITE),
        "ReadProvisionedThroughputExceeded" => Some(Pressure::READ),
        _ if name.starts_with("PutRecord") && name.ends_with(".ThrottledRecords") => Some(Pressure::WRITE),
        _ => None,
    }
}

#[cfg(test)]
#[path = "trigger_tests.rs"]
mod tests;
