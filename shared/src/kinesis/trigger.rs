//! Which stream an event says was throttled.

use serde::Serialize;

use crate::domain::Pressure;
use crate::event::{
    name_from_arn_or_name, AlarmDetail, ApiCallDetail, Envelope, Signal, Triage, TriggerError,
};
use crate::plan::SkipReason;

pub const EVENT_SOURCE: &str = "kinesis.amazonaws.com";
pub const METRIC_NAMESPACE: &str = "AWS/Kinesis";
pub const THROTTLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "LimitExceededException",
    "ThrottlingException",
];
const STREAM_RESOURCE_TYPE: &str = "AWS::Kinesis::Stream";

/// One throttled stream and the side that throttled (shards serve both sides, so the side
/// only explains the change).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamTarget {
    pub stream: String,
    pub pressure: Pressure,
}

/// Reads an event for the Kinesis function.
pub fn triage(envelope: &Envelope) -> Result<Triage<StreamTarget>, TriggerError> {
    match envelope.signal()? {
        Signal::ApiCall(call) => from_api_call(envelope, &call),
        Signal::Alarm(alarm) => Ok(from_alarm(envelope, &alarm)),
        Signal::Other => Ok(envelope.not_a_throttle_signal()),
    }
}

/// The capacity side a Kinesis data-plane call uses; `None` for control-plane calls.
fn data_plane(event_name: &str) -> Option<Pressure> {
    match event_name {
        "PutRecord" | "PutRecords" => Some(Pressure::WRITE),
        "GetRecords" | "SubscribeToShard" => Some(Pressure::READ),
        _ => None,
    }
}

fn from_api_call(envelope: &Envelope, call: &ApiCallDetail) -> Result<Triage<StreamTarget>, TriggerError> {
    let event_id = call.event_id.as_deref().unwrap_or(&envelope.id);
    if call.event_source != EVENT_SOURCE {
        return Ok(Triage::ignored(
            event_id,
            SkipReason::NotOurs,
            format!(
                "{} call from {} is not a Kinesis call",
                call.event_name, call.event_source
            ),
        ));
    }
    let Some(code) = call.throttle_code(THROTTLE_CODES) else {
        return Ok(Triage::ignored(
            event_id,
            SkipReason::NotThrottle,
            call.not_throttle(),
        ));
    };
    let Some(pressure) = data_plane(&call.event_name) else {
        return Ok(Triage::ignored(
            event_id,
            SkipReason::ControlPlane,
            format!(
                "{code} on {} is a control-plane rate limit, not a capacity problem; more shards cannot help: \
                 slow the caller (or use DescribeStreamSummary and ListShards with backoff)",
                call.event_name
            ),
        ));
    };
    // GetRecords names no stream, only an opaque shard iterator; CloudTrail's resource
    // list still carries the stream ARN.
    let stream = call
        .parameter("streamName")
        .or_else(|| call.parameter("streamARN"))
        .and_then(|value| name_from_arn_or_name(value, "stream"))
        .or_else(|| {
            call.resource_arns(STREAM_RESOURCE_TYPE)
                .find_map(|arn| name_from_arn_or_name(arn, "stream"))
        })
        .ok_or_else(|| TriggerError::NoResource {
            event_id: event_id.to_owned(),
            operation: call.event_name.clone(),
            resource_kind: "stream",
        })?;
    Ok(Triage::Throttled {
        incident: envelope.api_call_incident(call, code),
        targets: vec![StreamTarget {
            stream: stream.to_owned(),
            pressure,
        }],
    })
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

fn from_alarm(envelope: &Envelope, alarm: &AlarmDetail) -> Triage<StreamTarget> {
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
    let mut targets: Vec<StreamTarget> = Vec::new();
    for metric in alarm.metrics_in(METRIC_NAMESPACE) {
        let (Some(pressure), Some(stream)) =
            (metric_pressure(&metric.name), metric.dimensions.get("StreamName"))
        else {
            continue;
        };
        match targets.iter_mut().find(|target| &target.stream == stream) {
            Some(target) => target.pressure.merge(pressure),
            None => targets.push(StreamTarget {
                stream: stream.clone(),
                pressure,
            }),
        }
    }
    if targets.is_empty() {
        return Triage::ignored(
            &envelope.id,
            SkipReason::NotOurs,
            format!(
                "alarm {} watches no {METRIC_NAMESPACE} throttle metric with a StreamName dimension",
                alarm.alarm_name
            ),
        );
    }
    Triage::Throttled {
        incident: envelope.alarm_incident(alarm),
        targets,
    }
}

#[cfg(test)]
#[path = "trigger_tests.rs"]
mod tests;
