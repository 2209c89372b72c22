//! EventBridge events in, service-neutral incidents out.
//!
//! The envelope's fields are read in the one pass Lambda's runtime makes over the payload
//! ([`EventJson`]), and the detail is kept as text until its detail-type is known, then read
//! straight into our own types (the CloudTrail record, the alarm), with no `Value` tree built
//! and copied between (docs/performance.md, "Handler overhead"). aws_lambda_events'
//! `CloudWatchEvent` is not used for the envelope: read as the payload it would make a
//! malformed envelope the runtime's error, before any report, and read afterwards it would
//! cost a second pass over the text. A record that names a field twice is refused (serde's
//! derive); the envelope keeps a repeated field's last value. Each service module reads the
//! details and names the resources involved.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use thiserror::Error;

use crate::core::plan::SkipReason;

pub const API_CALL_DETAIL_TYPE: &str = "AWS API Call via CloudTrail";
pub const ALARM_DETAIL_TYPE: &str = "CloudWatch Alarm State Change";

/// An event that cannot be read. Retrying will not help; the message says what is wrong
/// so the event can be fixed or the rule narrowed.
#[derive(Debug, Error, PartialEq)]
pub enum TriggerError {
    #[error(
        "not an EventBridge event ({0}); unthrottle expects the events its EventBridge rules deliver, see events/ for samples"
    )]
    NotAnEvent(String),
    #[error("event {event_id} ({detail_type}) has no usable `detail`: {problem}")]
    BadDetail {
        event_id: String,
        detail_type: String,
        problem: String,
    },
    #[error(
        "event {event_id}: {operation} was throttled but the request names no {resource_kind}{}; nothing to heal",
        it_can_act_on(.invalid.as_deref())
    )]
    NoResource {
        event_id: String,
        operation: String,
        resource_kind: &'static str,
        /// Why the first name the request gives was refused, when it gives one: e.g.
        /// `"a/b" is not a valid table name (...)`, the name escaped and cut short.
        invalid: Option<String>,
    },
}

/// The end of a "names no table" message (or an alarm's "no ... dimension") when the event
/// named one that is not valid: ` it can act on: "a/b" is not a valid table name (...)`.
pub(crate) fn it_can_act_on(invalid: Option<&str>) -> String {
    invalid
        .map(|why| format!(" it can act on: {why}"))
        .unwrap_or_default()
}

/// What the event says happened, whichever service it concerns.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Incident {
    /// The id used for idempotency: CloudTrail's `eventID` (stable even if CloudTrail
    /// delivers a call twice), else the EventBridge envelope id (stable across retries).
    pub event_id: String,
    /// Where the resources named live, unless a target's own ARN says otherwise: CloudTrail's
    /// `recipientAccountId` / `awsRegion`, else the envelope's.
    pub account: String,
    pub region: String,
    /// When the throttle happened: CloudTrail's `eventTime`, else the alarm's state-change
    /// time, else the envelope's `time`.
    pub time: DateTime<Utc>,
    pub origin: Origin,
}

impl Incident {
    /// The account and region the incident happened in.
    pub fn scope(&self) -> Scope {
        Scope {
            account: self.account.clone(),
            region: self.region.clone(),
        }
    }
}

/// Which kind of signal raised the incident.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Origin {
    #[serde(rename_all = "camelCase")]
    ApiCall {
        event_source: String,
        event_name: String,
        error_code: String,
    },
    #[serde(rename_all = "camelCase")]
    Alarm { alarm_name: String },
    /// An event another unthrottle function put on the bus (`source: unthrottle`).
    #[serde(rename_all = "camelCase")]
    Announcement { detail_type: String },
}

/// A service's reading of an event: heal these resources, or leave it and say why.
#[derive(Debug, Clone, PartialEq)]
pub enum Triage<T> {
    Throttled {
        incident: Incident,
        targets: Vec<T>,
    },
    Ignored {
        event_id: Option<String>,
        reason: SkipReason,
        detail: String,
    },
}

impl<T> Triage<T> {
    pub fn ignored(event_id: &str, reason: SkipReason, detail: impl Into<String>) -> Self {
        Triage::Ignored {
            event_id: Some(event_id.to_owned()),
            reason,
            detail: detail.into(),
        }
    }
}

/// An event as Lambda hands it over, read in one pass over its text: the envelope's fields
/// kept as their JSON text, everything else skipped. Lambda's runtime reads the payload into
/// this, and any JSON reads: whether it is an EventBridge event is [`Envelope::parse`]'s to
/// say, so an event that is not one gets a report and a metric, not only a runtime error.
#[derive(Debug, Clone, Default)]
pub struct EventJson {
    /// What the event is instead, when it is not a JSON object (`"an array"`).
    not_an_object: Option<&'static str>,
    id: Option<Box<RawValue>>,
    detail_type: Option<Box<RawValue>>,
    source: Option<Box<RawValue>>,
    account: Option<Box<RawValue>>,
    region: Option<Box<RawValue>>,
    time: Option<Box<RawValue>>,
    detail: Option<Box<RawValue>>,
}

impl EventJson {
    fn not_an_object(what: &'static str) -> Self {
        Self {
            not_an_object: Some(what),
            ..Self::default()
        }
    }
}

/// The envelope's fields, by their names in EventBridge's JSON.
#[derive(Deserialize)]
#[serde(field_identifier)]
enum EnvelopeField {
    #[serde(rename = "id")]
    Id,
    #[serde(rename = "detail-type")]
    DetailType,
    #[serde(rename = "source")]
    Source,
    #[serde(rename = "account")]
    Account,
    #[serde(rename = "region")]
    Region,
    #[serde(rename = "time")]
    Time,
    #[serde(rename = "detail")]
    Detail,
    #[serde(other)]
    Other,
}

impl<'de> Deserialize<'de> for EventJson {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(EventVisitor)
    }
}

struct EventVisitor;

impl<'de> Visitor<'de> for EventVisitor {
    type Value = EventJson;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EventJson, A::Error> {
        let mut event = EventJson::default();
        while let Some(field) = map.next_key()? {
            let slot = match field {
                EnvelopeField::Id => &mut event.id,
                EnvelopeField::DetailType => &mut event.detail_type,
                EnvelopeField::Source => &mut event.source,
                EnvelopeField::Account => &mut event.account,
                EnvelopeField::Region => &mut event.region,
                EnvelopeField::Time => &mut event.time,
                EnvelopeField::Detail => &mut event.detail,
                EnvelopeField::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *slot = Some(map.next_value()?);
        }
        Ok(event)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<EventJson, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(EventJson::not_an_object("an array"))
    }

    fn visit_str<E>(self, _: &str) -> Result<EventJson, E> {
        Ok(EventJson::not_an_object("a string"))
    }

    fn visit_bool<E>(self, _: bool) -> Result<EventJson, E> {
        Ok(EventJson::not_an_object("a boolean"))
    }

    fn visit_i64<E>(self, _: i64) -> Result<EventJson, E> {
        Ok(EventJson::not_an_object("a number"))
    }

    fn visit_u64<E>(self, _: u64) -> Result<EventJson, E> {
        Ok(EventJson::not_an_object("a number"))
    }

    fn visit_f64<E>(self, _: f64) -> Result<EventJson, E> {
        Ok(EventJson::not_an_object("a number"))
    }

    fn visit_unit<E>(self) -> Result<EventJson, E> {
        Ok(EventJson::not_an_object("null"))
    }
}

/// For callers that hold the event as a `Value` (tests, the CLI's files): read from its text.
impl From<Value> for EventJson {
    fn from(event: Value) -> Self {
        Self::from(&event)
    }
}

impl From<&Value> for EventJson {
    fn from(event: &Value) -> Self {
        // Any `Value`'s text is JSON, so this reads.
        serde_json::from_str(&event.to_string()).unwrap_or_default()
    }
}

/// A parsed EventBridge event, with the fields every trigger needs checked present.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub id: String,
    pub detail_type: String,
    pub source: String,
    pub account: String,
    pub region: String,
    pub time: DateTime<Utc>,
    /// The detail's text, read by [`Envelope::detail_as`] into the type its detail-type needs.
    detail: Option<Box<RawValue>>,
}

/// The event's detail, read according to its detail-type.
#[derive(Debug, Clone)]
pub enum Signal {
    // Boxed: a CloudTrail record is far larger than an alarm.
    ApiCall(Box<ApiCallDetail>),
    Alarm(AlarmDetail),
    Other,
}

impl Envelope {
    pub fn parse(event: impl Into<EventJson>) -> Result<Self, TriggerError> {
        let event = event.into();
        if let Some(what) = event.not_an_object {
            return Err(TriggerError::NotAnEvent(format!(
                "the event is {what}, not a JSON object"
            )));
        }
        let read = |raw: &Option<Box<RawValue>>, name: &str| -> Result<String, TriggerError> {
            let missing = || TriggerError::NotAnEvent(format!("missing `{name}`"));
            let raw = raw.as_deref().ok_or_else(missing)?;
            let text: Option<String> = serde_json::from_str(raw.get())
                .map_err(|e| TriggerError::NotAnEvent(format!("`{name}`: {}", without_position(&e))))?;
            text.filter(|text| !text.is_empty()).ok_or_else(missing)
        };
        let time = event
            .time
            .as_deref()
            .ok_or_else(|| TriggerError::NotAnEvent("missing `time`".to_owned()))?;
        Ok(Self {
            id: read(&event.id, "id")?,
            detail_type: read(&event.detail_type, "detail-type")?,
            source: read(&event.source, "source")?,
            account: read(&event.account, "account")?,
            region: read(&event.region, "region")?,
            time: serde_json::from_str(time.get())
                .map_err(|e| TriggerError::NotAnEvent(format!("`time`: {}", without_position(&e))))?,
            detail: event.detail.filter(|detail| detail.get() != "null"),
        })
    }

    /// Reads the detail for the two detail-types unthrottle handles.
    pub fn signal(&self) -> Result<Signal, TriggerError> {
        match self.detail_type.as_str() {
            API_CALL_DETAIL_TYPE => self.detail_as().map(|call| Signal::ApiCall(Box::new(call))),
            ALARM_DETAIL_TYPE => self.detail_as().map(Signal::Alarm),
            _ => Ok(Signal::Other),
        }
    }

    /// The detail read as `D`: for the detail-types a service reads beyond the two above.
    pub fn detail_as<D: for<'de> Deserialize<'de>>(&self) -> Result<D, TriggerError> {
        let bad = |problem: String| TriggerError::BadDetail {
            event_id: self.id.clone(),
            detail_type: self.detail_type.clone(),
            problem,
        };
        let detail = self.detail.as_deref().ok_or_else(|| bad("missing".into()))?;
        serde_json::from_str(detail.get()).map_err(|e| bad(without_position(&e)))
    }

    /// How every function answers an event that is neither an API call nor an alarm.
    pub fn not_a_throttle_signal<T>(&self) -> Triage<T> {
        Triage::ignored(
            &self.id,
            SkipReason::NotOurs,
            format!(
                "`{}` events are not throttle signals; unthrottle reads CloudTrail API calls and alarm state changes",
                self.detail_type
            ),
        )
    }

    /// The incident for an API call: CloudTrail's own event id when it has one.
    pub fn api_call_incident(&self, call: &ApiCallDetail, error_code: &str) -> Incident {
        Incident {
            event_id: call.event_id.clone().unwrap_or_else(|| self.id.clone()),
            account: call
                .recipient_account_id
                .clone()
                .unwrap_or_else(|| self.account.clone()),
            region: call.aws_region.clone().unwrap_or_else(|| self.region.clone()),
            time: call.event_time.unwrap_or(self.time),
            origin: Origin::ApiCall {
                event_source: call.event_source.clone(),
                event_name: call.event_name.clone(),
                error_code: error_code.to_owned(),
            },
        }
    }

    /// An alarm that did not go to ALARM is no throttle: its skip, for every trigger.
    pub fn unless_alarming<T>(&self, alarm: &AlarmDetail) -> Option<Triage<T>> {
        (!alarm.is_alarming()).then(|| {
            Triage::ignored(
                &self.id,
                SkipReason::NotThrottle,
                format!(
                    "alarm {} went to {}; only a change to ALARM is a throttle",
                    alarm.alarm_name, alarm.state.value
                ),
            )
        })
    }

    /// The incident for an event another unthrottle function announced.
    pub fn announcement_incident(&self) -> Incident {
        Incident {
            event_id: self.id.clone(),
            account: self.account.clone(),
            region: self.region.clone(),
            time: self.time,
            origin: Origin::Announcement {
                detail_type: self.detail_type.clone(),
            },
        }
    }

    pub fn alarm_incident(&self, alarm: &AlarmDetail) -> Incident {
        Incident {
            event_id: self.id.clone(),
            account: self.account.clone(),
            region: self.region.clone(),
            time: alarm.state.changed_at().unwrap_or(self.time),
            origin: Origin::Alarm {
                alarm_name: alarm.alarm_name.clone(),
            },
        }
    }
}

/// What serde_json says is wrong, without its " at line L column C": the position is in the
/// text as the runtime passed it on, not in any file the reader has.
fn without_position(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    match message.strip_suffix(&position) {
        Some(problem) => problem.to_owned(),
        None => message,
    }
}

/// The CloudTrail record inside an "AWS API Call via CloudTrail" event.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiCallDetail {
    pub event_source: String,
    pub event_name: String,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub error_message: Option<String>,
    /// Empty counts as absent here and in the two fields below: an empty id would make every
    /// such event one event, and an empty account or region a key with an empty segment.
    #[serde(default, rename = "eventID", deserialize_with = "non_empty")]
    pub event_id: Option<String>,
    #[serde(default)]
    pub request_parameters: Option<Value>,
    /// When the call was made: the time the throttle describes.
    #[serde(default)]
    pub event_time: Option<DateTime<Utc>>,
    /// The account the call was made in (CloudTrail's recipient).
    #[serde(default, deserialize_with = "non_empty")]
    pub recipient_account_id: Option<String>,
    #[serde(default, deserialize_with = "non_empty")]
    pub aws_region: Option<String>,
    /// The resources CloudTrail says the call touched.
    #[serde(default)]
    pub resources: Vec<TrailResource>,
    /// Who made the call (read by api-throttle to name the caller). This and the two parts
    /// below stay text until read ([`ApiCallDetail::part_as`]): only api-throttle reads them,
    /// and the identity is the largest part of a record.
    #[serde(default)]
    pub user_identity: Option<Box<RawValue>>,
    /// The caller's SDK or tool, as it announced itself.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// `clientProvidedHostHeader`: the endpoint the caller used.
    #[serde(default)]
    pub tls_details: Option<Box<RawValue>>,
    /// Service-specific extras, e.g. STS's `RequestDetails.endpointType`.
    #[serde(default)]
    pub additional_event_data: Option<Box<RawValue>>,
}

/// An optional string that is absent when empty.
fn non_empty<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let value = Option::<String>::deserialize(deserializer)?;
    Ok(value.filter(|v| !v.is_empty()))
}

#[derive(Debug, Clone, Deserialize)]
pub struct TrailResource {
    #[serde(default, rename = "ARN")]
    pub arn: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

impl ApiCallDetail {
    /// The error code when it is one of `throttle_codes`.
    pub fn throttle_code(&self, throttle_codes: &[&str]) -> Option<&str> {
        self.error_code
            .as_deref()
            .filter(|code| throttle_codes.contains(code))
    }

    /// One of the parts kept as text (`user_identity`, `tls_details`, `additional_event_data`),
    /// read into `T` (which may borrow from the text; only the fields `T` names are kept);
    /// `None` when absent, `null`, or not a `T`.
    pub fn part_as<'a, T: Deserialize<'a>>(raw: Option<&'a RawValue>) -> Option<T> {
        serde_json::from_str::<Option<T>>(raw?.get()).ok().flatten()
    }

    /// A request parameter that is a non-empty string.
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.request_parameters
            .as_ref()?
            .get(name)?
            .as_str()
            .filter(|s| !s.is_empty())
    }

    /// ARNs of the touched resources of one CloudFormation-style type, e.g. `AWS::Kinesis::Stream`.
    pub fn resource_arns<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.resources
            .iter()
            .filter(move |resource| resource.kind.as_deref() == Some(kind))
            .filter_map(|resource| resource.arn.as_deref())
    }

    /// Explains why an API call that is not a throttle is ignored.
    pub fn not_throttle(&self) -> String {
        match &self.error_code {
            None => format!("{} succeeded; only throttled calls need healing", self.event_name),
            Some(code) => format!("{} failed with {code}, which is not a throttle", self.event_name),
        }
    }
}

/// The detail of a "CloudWatch Alarm State Change" event.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmDetail {
    pub alarm_name: String,
    pub state: AlarmState,
    #[serde(default)]
    pub configuration: AlarmConfiguration,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AlarmState {
    pub value: String,
    /// When the alarm changed state, as CloudWatch writes it (`2026-11-20T10:15:02.488+0000`).
    #[serde(default)]
    pub timestamp: Option<String>,
}

impl AlarmState {
    /// The state-change time, when it is readable.
    pub fn changed_at(&self) -> Option<DateTime<Utc>> {
        let text = self.timestamp.as_deref()?;
        DateTime::parse_from_rfc3339(text)
            .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
            .ok()
            .map(|at| at.with_timezone(&Utc))
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct AlarmConfiguration {
    /// Absent on composite alarms, which watch other alarms rather than metrics.
    #[serde(default)]
    pub metrics: Vec<AlarmMetric>,
}

/// One entry of an alarm's metrics: a metric, or a metric-math expression over others.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmMetric {
    #[serde(default)]
    pub metric_stat: Option<MetricStat>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MetricStat {
    pub metric: MetricId,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MetricId {
    pub namespace: String,
    pub name: String,
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
}

impl AlarmDetail {
    pub fn is_alarming(&self) -> bool {
        self.state.value == "ALARM"
    }

    /// Every metric the alarm watches in `namespace`, including those a metric-math
    /// expression combines.
    pub fn metrics_in<'a>(&'a self, namespace: &'a str) -> impl Iterator<Item = &'a MetricId> + 'a {
        self.configuration
            .metrics
            .iter()
            .filter_map(|m| m.metric_stat.as_ref())
            .map(|stat| &stat.metric)
            .filter(move |metric| metric.namespace == namespace)
    }
}

/// Where a resource lives, or where the function runs: an account and a region.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Scope {
    pub account: String,
    pub region: String,
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.account, self.region)
    }
}

/// The account and region an ARN names (`arn:aws:dynamodb:us-east-1:123456789012:table/t`);
/// `None` for a plain name or an ARN without both.
pub fn scope_of_arn(value: &str) -> Option<Scope> {
    let mut parts = value.strip_prefix("arn:")?.splitn(5, ':');
    let (_partition, _service) = (parts.next()?, parts.next()?);
    let region = parts.next().filter(|r| !r.is_empty())?;
    let account = parts.next().filter(|a| !a.is_empty())?;
    Some(Scope {
        account: account.to_owned(),
        region: region.to_owned(),
    })
}

/// The resource name in an ARN such as `arn:aws:dynamodb:us-east-1:123:table/orders`
/// (`kind` = "table") or `arn:aws:kinesis:...:stream/clickstream` (`kind` = "stream");
/// anything that is not an ARN is taken to be the name itself.
pub fn name_from_arn_or_name<'a>(value: &'a str, kind: &str) -> Option<&'a str> {
    if !value.starts_with("arn:") {
        return Some(value).filter(|v| !v.is_empty());
    }
    let resource = value.splitn(6, ':').nth(5)?;
    let (found_kind, rest) = resource.split_once('/')?;
    if found_kind != kind {
        return None;
    }
    // A table ARN may go on with /index/NAME or /stream/LABEL.
    rest.split('/').next().filter(|name| !name.is_empty())
}

#[cfg(test)]
#[path = "envelope_tests.rs"]
mod tests;
