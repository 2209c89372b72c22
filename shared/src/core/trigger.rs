//! The shape every capacity service's trigger shares: an EventBridge event is either a
//! CloudTrail record of a throttled call from the service's event source, or a CloudWatch
//! alarm on the service's throttle metrics. The core does the dispatch, the source, code and
//! alarm-state checks, the merging and the "names nothing" cases; each service says only
//! which codes count, which resources a call names and what a metric means.

use crate::core::envelope::{
    AlarmDetail, ApiCallDetail, Envelope, MetricId, Scope, Signal, Triage, TriggerError,
};
use crate::core::plan::SkipReason;

/// The signals a capacity service owns.
#[derive(Debug, Clone, Copy)]
pub struct Signals {
    /// For messages: "DynamoDB", "Kinesis".
    pub label: &'static str,
    /// CloudTrail `eventSource`, e.g. `dynamodb.amazonaws.com`.
    pub event_source: &'static str,
    /// CloudTrail `errorCode`s that mean the call was throttled.
    pub throttle_codes: &'static [&'static str],
    /// The alarm metrics' namespace, e.g. `AWS/DynamoDB`.
    pub metric_namespace: &'static str,
    /// The metric dimension that names the resource, e.g. `TableName`.
    pub resource_dimension: &'static str,
    /// What a resource is called in messages: "table", "stream".
    pub resource_kind: &'static str,
}

/// One throttled resource as an event names it. Events can name a resource twice (a
/// batch, a metric-math alarm over both sides): the two readings are merged into one.
pub trait Target {
    fn resource(&self) -> &str;
    /// The account and region of the resource when the event names it by ARN; otherwise it
    /// is the incident's.
    fn scope(&self) -> Option<&Scope> {
        None
    }
    fn absorb(&mut self, other: Self);
}

/// What a throttled call from the service's own event source means.
pub enum CallReading<T> {
    /// These resources were throttled (in the order the call names them).
    Throttled(Vec<T>),
    /// The call was throttled but is not this function's to heal, and why.
    Ignored(SkipReason, String),
}

/// A service's reading of its own signals.
pub trait CapacitySignals {
    type Target: Target;
    const SIGNALS: Signals;

    /// The error code of a call from the service's event source when it is a throttle.
    fn throttle_code(call: &ApiCallDetail) -> Option<&str> {
        call.throttle_code(Self::SIGNALS.throttle_codes)
    }

    /// What a throttled call names.
    fn throttled_call(call: &ApiCallDetail, code: &str) -> CallReading<Self::Target>;

    /// What one metric of an alarm in the service's namespace names, if it is a throttle
    /// metric with the resource dimension.
    fn alarm_metric(metric: &MetricId) -> Option<Self::Target>;
}

/// Reads an event for a capacity service.
pub fn triage<C: CapacitySignals>(envelope: &Envelope) -> Result<Triage<C::Target>, TriggerError> {
    match envelope.signal()? {
        Signal::ApiCall(call) => from_api_call::<C>(envelope, &call),
        Signal::Alarm(alarm) => Ok(from_alarm::<C>(envelope, &alarm)),
        Signal::Other => Ok(envelope.not_a_throttle_signal()),
    }
}

/// Adds `target`, merging it into an earlier reading of the same resource.
pub fn merge<T: Target>(targets: &mut Vec<T>, target: T) {
    match targets
        .iter_mut()
        .find(|known| known.resource() == target.resource())
    {
        Some(known) => known.absorb(target),
        None => targets.push(target),
    }
}

fn from_api_call<C: CapacitySignals>(
    envelope: &Envelope,
    call: &ApiCallDetail,
) -> Result<Triage<C::Target>, TriggerError> {
    let signals = C::SIGNALS;
    let event_id = call.event_id.as_deref().unwrap_or(&envelope.id);
    if call.event_source != signals.event_source {
        return Ok(Triage::ignored(
            event_id,
            SkipReason::NotOurs,
            format!(
                "{} call from {} is not a {} call",
                call.event_name, call.event_source, signals.label
            ),
        ));
    }
    let Some(code) = C::throttle_code(call) else {
        return Ok(Triage::ignored(
            event_id,
            SkipReason::NotThrottle,
            call.not_throttle(),
        ));
    };
    let named = match C::throttled_call(call, code) {
        CallReading::Throttled(named) => named,
        CallReading::Ignored(reason, detail) => return Ok(Triage::ignored(event_id, reason, detail)),
    };
    let mut targets = Vec::with_capacity(named.len());
    for target in named {
        merge(&mut targets, target);
    }
    if targets.is_empty() {
        return Err(TriggerError::NoResource {
            event_id: event_id.to_owned(),
            operation: call.event_name.clone(),
            resource_kind: signals.resource_kind,
        });
    }
    Ok(Triage::Throttled {
        incident: envelope.api_call_incident(call, code),
        targets,
    })
}

fn from_alarm<C: CapacitySignals>(envelope: &Envelope, alarm: &AlarmDetail) -> Triage<C::Target> {
    let signals = C::SIGNALS;
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
    let mut targets = Vec::new();
    for target in alarm
        .metrics_in(signals.metric_namespace)
        .filter_map(C::alarm_metric)
    {
        merge(&mut targets, target);
    }
    if targets.is_empty() {
        return Triage::ignored(
            &envelope.id,
            SkipReason::NotOurs,
            format!(
                "alarm {} watches no {} throttle metric with a {} dimension",
                alarm.alarm_name, signals.metric_namespace, signals.resource_dimension
            ),
        );
    }
    Triage::Throttled {
        incident: envelope.alarm_incident(alarm),
        targets,
    }
}
