//! The shape every capacity service's trigger shares: an EventBridge event is either a
//! CloudTrail record of a throttled call from the service's event source, or a CloudWatch
//! alarm on the service's throttle metrics. The core does the dispatch, the source, code and
//! alarm-state checks, the merging and the "names nothing" cases; each service says only
//! which codes count, which resources a call names and what a metric means.

use std::fmt;

use tracing::warn;

use crate::core::envelope::{
    AlarmDetail, ApiCallDetail, Envelope, MetricId, Scope, Signal, Triage, TriggerError, it_can_act_on,
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

/// AWS's rule for a name: `min` to `max` characters of `a-z`, `A-Z`, `0-9`, `_`, `.` and `-`
/// (the alphabet AWS gives table and stream names). A name that breaks it never becomes a target:
/// AWS would refuse it, and these characters are all a name may bring into an S3 key segment
/// (`snapshots/{service}/{account}/{region}/{name}/...`), a ledger key or an API call.
/// `.` and `..`, which AWS's alphabet allows, are refused too: as a key segment, S3 tools
/// and S3-compatible stores read them as "this folder" and "the folder above".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameRule {
    /// What the name names, for messages: "table", "index", "stream".
    pub kind: &'static str,
    pub min: usize,
    pub max: usize,
}

impl NameRule {
    pub const fn new(kind: &'static str, min: usize, max: usize) -> Self {
        Self { kind, min, max }
    }

    pub fn admits(&self, name: &str) -> bool {
        (self.min..=self.max).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
            && name != "."
            && name != ".."
    }

    /// Why `name` is not a valid name of this kind, if it is not.
    pub fn check(&self, name: &str) -> Result<(), InvalidName> {
        if self.admits(name) {
            Ok(())
        } else {
            Err(InvalidName {
                name: quoted(name),
                rule: *self,
            })
        }
    }
}

/// A name that breaks its [`NameRule`]. The name is kept escaped and cut to
/// [`InvalidName::SHOWN`] characters: it came from the event and may be anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidName {
    name: String,
    rule: NameRule,
}

impl InvalidName {
    /// How many characters of a rejected name a message quotes.
    pub const SHOWN: usize = 64;
}

impl fmt::Display for InvalidName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let NameRule { kind, min, max } = self.rule;
        write!(
            f,
            "{} is not a valid {kind} name ({min}-{max} characters: letters, digits, `_`, `.` and `-`)",
            self.name
        )
    }
}

/// `name` in double quotes, escaped (control characters, quotes, backslashes) and cut to
/// [`InvalidName::SHOWN`] characters, with `...` when cut.
fn quoted(name: &str) -> String {
    let mut shown: String = name.chars().take(InvalidName::SHOWN).collect();
    let cut = shown.len() < name.len();
    shown = format!("{shown:?}");
    if cut {
        shown.push_str("...");
    }
    shown
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
    /// What throttled, as a short stable key (`w`, `by-customer/r`): throttle events are
    /// counted per resource and dimension for `MIN_THROTTLE_EVENTS`.
    fn dimension(&self) -> String {
        String::new()
    }
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

    /// AWS's naming rule for the resource: the core drops every reading whose
    /// [`Target::resource`] breaks it, before it becomes a target. The default, 1-255
    /// characters of AWS's common name alphabet, suits a service whose names AWS limits to
    /// it; a service with its own lengths declares them.
    const NAME_RULE: NameRule = NameRule::new(Self::SIGNALS.resource_kind, 1, 255);

    /// Checks the names a target carries besides its resource's (a table's GSIs); a
    /// reading with an invalid one is dropped like one with an invalid resource name.
    fn check_inner_names(target: &Self::Target) -> Result<(), InvalidName> {
        let _ = target;
        Ok(())
    }

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

/// The readings whose names all keep their rules, merged; and why the first one that did not
/// was dropped.
fn valid_targets<C: CapacitySignals>(
    readings: impl IntoIterator<Item = C::Target>,
) -> (Vec<C::Target>, Option<InvalidName>) {
    let mut targets = Vec::new();
    let mut invalid = None;
    for target in readings {
        let checked = C::NAME_RULE
            .check(target.resource())
            .and_then(|()| C::check_inner_names(&target));
        match checked {
            Ok(()) => merge(&mut targets, target),
            Err(why) => {
                invalid.get_or_insert(why);
            }
        }
    }
    if let Some(why) = &invalid
        && !targets.is_empty()
    {
        warn!(reason = %why, "a {} the event names is ignored", C::SIGNALS.resource_kind);
    }
    (targets, invalid)
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
    let (targets, invalid) = valid_targets::<C>(named);
    if targets.is_empty() {
        return Err(TriggerError::NoResource {
            event_id: event_id.to_owned(),
            operation: call.event_name.clone(),
            resource_kind: signals.resource_kind,
            invalid: invalid.map(|why| why.to_string()),
        });
    }
    Ok(Triage::Throttled {
        incident: envelope.api_call_incident(call, code),
        targets,
    })
}

fn from_alarm<C: CapacitySignals>(envelope: &Envelope, alarm: &AlarmDetail) -> Triage<C::Target> {
    let signals = C::SIGNALS;
    if let Some(skip) = envelope.unless_alarming(alarm) {
        return skip;
    }
    let (targets, invalid) = valid_targets::<C>(
        alarm
            .metrics_in(signals.metric_namespace)
            .filter_map(C::alarm_metric),
    );
    if targets.is_empty() {
        let because = it_can_act_on(invalid.map(|why| why.to_string()).as_deref());
        return Triage::ignored(
            &envelope.id,
            SkipReason::NotOurs,
            format!(
                "alarm {} watches no {} throttle metric with a {} dimension{because}",
                alarm.alarm_name, signals.metric_namespace, signals.resource_dimension
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
