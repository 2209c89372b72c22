//! What an event says was throttled, for api-throttle: a CloudTrail record of any service's
//! throttled call (except the capacity throttles dynamodb-throttle and kinesis-throttle heal),
//! an `AWS/Usage` alarm on KMS's request rate, or a `Quota Pressure` event another unthrottle
//! function announced.

use std::borrow::Cow;

use serde::Deserialize;

use super::limits::{
    RATE_LIMIT_EXCEEDED, RATE_LIMIT_EXCEEDED_CALLS, RATE_LIMIT_EXCEEDED_SOURCE, THROTTLE_CODES,
};
use super::model::{ApiSignal, ApiTarget};
use crate::core::envelope::{AlarmDetail, ApiCallDetail, Envelope, Signal, Triage, TriggerError};
use crate::core::plan::{QUOTA_PRESSURE, SkipReason};
use crate::core::trigger::NameRule;

/// The source of the events unthrottle's functions announce.
pub const ANNOUNCER: &str = "unthrottle";
/// The metric an `AWS/Usage` alarm watches for an API's calls.
const USAGE_NAMESPACE: &str = "AWS/Usage";
/// Service and API names: AWS's alphabet, as for resources.
const NAME: NameRule = NameRule::new("API", 1, 128);
/// What a result may quote of a caller, user agent or event id, in bytes.
const SHOWN: usize = 256;

pub fn triage(envelope: &Envelope) -> Result<Triage<ApiTarget>, TriggerError> {
    if envelope.source == ANNOUNCER && envelope.detail_type == QUOTA_PRESSURE {
        return quota_pressure(envelope);
    }
    match envelope.signal()? {
        Signal::ApiCall(call) => Ok(api_call(envelope, &call)),
        Signal::Alarm(alarm) => Ok(usage_alarm(envelope, &alarm)),
        Signal::Other => Ok(envelope.not_a_throttle_signal()),
    }
}

fn api_call(envelope: &Envelope, call: &ApiCallDetail) -> Triage<ApiTarget> {
    let event_id = call.event_id.as_deref().unwrap_or(&envelope.id);
    // Only AWS's own events: anyone allowed to put events on a bus could forge another.
    if !envelope.source.starts_with("aws.") {
        return Triage::ignored(
            event_id,
            SkipReason::NotOurs,
            format!("source {:?} is not an AWS service", shown(&envelope.source, 64)),
        );
    }
    let service = call
        .event_source
        .strip_suffix(".amazonaws.com")
        .unwrap_or(&call.event_source);
    // Whatever its outcome, a call that uses table or shard capacity is never this
    // function's: its throttle is a capacity throttle the other two heal.
    if let Some(owner) = capacity_owner(service, &call.event_name) {
        return Triage::ignored(
            event_id,
            SkipReason::NotOurs,
            format!("{service} {} uses capacity: {owner} reads it", call.event_name),
        );
    }
    let rate_limit = call.error_code.as_deref() == Some(RATE_LIMIT_EXCEEDED)
        && call.event_source == RATE_LIMIT_EXCEEDED_SOURCE
        && RATE_LIMIT_EXCEEDED_CALLS
            .iter()
            .any(|verb| call.event_name.starts_with(verb));
    let code = match call.throttle_code(THROTTLE_CODES) {
        Some(code) => code,
        None if rate_limit => RATE_LIMIT_EXCEEDED,
        None => return Triage::ignored(event_id, SkipReason::NotThrottle, call.not_throttle()),
    };
    if NAME
        .check(service)
        .and_then(|()| NAME.check(&call.event_name))
        .is_err()
    {
        return Triage::ignored(
            event_id,
            SkipReason::NotOurs,
            "the event names no valid service and API".to_owned(),
        );
    }
    let incident = envelope.api_call_incident(call, code);
    let additional = ApiCallDetail::part_as::<Additional>(call.additional_event_data.as_deref());
    let target = ApiTarget {
        name: format!("{service}.{}", call.event_name),
        service: service.to_owned(),
        api: call.event_name.clone(),
        caller: ApiCallDetail::part_as::<Identity>(call.user_identity.as_deref())
            .as_ref()
            .and_then(caller_of),
        sdk: call.user_agent.as_deref().and_then(sdk_of),
        host: ApiCallDetail::part_as::<Tls>(call.tls_details.as_deref())
            .and_then(|tls| tls.client_provided_host_header.get().map(|host| shown(host, 253))),
        sts_endpoint: additional
            .as_ref()
            .and_then(|data| data.request_details.as_ref())
            .and_then(|details| details.endpoint_type.get())
            .map(|kind| shown(kind, 16)),
        error_code: Some(code.to_owned()),
        other_key: other_kms_key(call, additional.as_ref()),
        signal: ApiSignal::CloudTrail,
        scope: incident.scope(),
        at: incident.time,
        event_id: shown(&incident.event_id, SHOWN),
    };
    Triage::Throttled {
        incident,
        targets: vec![target],
    }
}

/// A string field of a record part, read leniently: borrowed from the event's text where it
/// has no escapes, and absent when missing, `null` or of another JSON type, so one odd field
/// costs only itself. (serde borrows into a `Cow` only where the field's type is the `Cow`
/// itself, not an `Option` of one: hence a type of its own.)
#[derive(Default)]
struct Text<'a>(Option<Cow<'a, str>>);

impl Text<'_> {
    /// The text, when it is a non-empty string.
    fn get(&self) -> Option<&str> {
        self.0.as_deref().filter(|text| !text.is_empty())
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> serde::de::Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Text(Some(Cow::Borrowed(text))))
    }

    fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Text(Some(Cow::Owned(text.to_owned()))))
    }

    fn visit_string<E>(self, text: String) -> Result<Self::Value, E> {
        Ok(Text(Some(Cow::Owned(text))))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Text(None))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Text(None))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Text(None))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Text(None))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Text(None))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut items: A) -> Result<Self::Value, A::Error> {
        while items.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(Text(None))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut entries: A) -> Result<Self::Value, A::Error> {
        while entries
            .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
            .is_some()
        {}
        Ok(Text(None))
    }
}

/// The parts of a record's `userIdentity` that name its principal, the rest skipped (it is
/// the largest part of a record).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Identity<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Text<'a>,
    #[serde(borrow, default)]
    arn: Text<'a>,
    #[serde(borrow, default)]
    invoked_by: Text<'a>,
    #[serde(borrow, default)]
    identity_provider: Text<'a>,
    #[serde(borrow, default)]
    account_id: Text<'a>,
    #[serde(borrow, default)]
    principal_id: Text<'a>,
    #[serde(borrow, default)]
    session_context: Option<SessionContext<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionContext<'a> {
    #[serde(borrow, default)]
    session_issuer: Option<Issuer<'a>>,
}

#[derive(Deserialize)]
struct Issuer<'a> {
    #[serde(borrow, default)]
    arn: Text<'a>,
}

/// `tlsDetails`: the endpoint the caller named.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Tls<'a> {
    #[serde(borrow, default)]
    client_provided_host_header: Text<'a>,
}

/// `additionalEventData`: STS's endpoint type and a KMS key's custom key store.
#[derive(Deserialize)]
struct Additional<'a> {
    #[serde(rename = "RequestDetails", borrow, default)]
    request_details: Option<RequestDetails<'a>>,
    #[serde(rename = "customKeyStoreId", borrow, default)]
    custom_key_store_id: Text<'a>,
}

#[derive(Deserialize)]
struct RequestDetails<'a> {
    #[serde(rename = "endpointType", borrow, default)]
    endpoint_type: Text<'a>,
}

/// A KMS call on a key whose quota is not the symmetric family's, as the record says: why.
fn other_kms_key(call: &ApiCallDetail, additional: Option<&Additional>) -> Option<String> {
    if call.event_source != "kms.amazonaws.com" {
        return None;
    }
    if let Some(store) = additional.and_then(|data| data.custom_key_store_id.get()) {
        return Some(format!("a key in custom key store {}", shown(store, 64)));
    }
    call.parameter("encryptionAlgorithm")
        .filter(|algorithm| *algorithm != "SYMMETRIC_DEFAULT")
        .map(|algorithm| format!("an asymmetric key ({})", shown(algorithm, 64)))
}

/// The function that owns a capacity throttle of this call, if it is one.
fn capacity_owner(service: &str, api: &str) -> Option<&'static str> {
    let data_plane = match service {
        "dynamodb" => crate::dynamodb::trigger::is_data_plane(api),
        "kinesis" => crate::kinesis::trigger::is_data_plane(api),
        _ => false,
    };
    data_plane.then_some(match service {
        "dynamodb" => "dynamodb-throttle",
        _ => "kinesis-throttle",
    })
}

/// The caller CloudTrail names, one per principal however many sessions it runs: the role a
/// session was issued by, the user's ARN, the AWS service that called on the account's
/// behalf, the identity provider of a web-identity or SAML user, the other account of a
/// cross-account call. Never a session name: each session would count as a caller of its own.
fn caller_of(identity: &Identity) -> Option<String> {
    let text = Text::get;
    let issuer = || {
        identity
            .session_context
            .as_ref()
            .and_then(|context| context.session_issuer.as_ref())
            .and_then(|issuer| text(&issuer.arn))
    };
    let caller = match text(&identity.kind) {
        Some("AssumedRole" | "FederatedUser") => issuer(),
        Some("IAMUser" | "Root") => text(&identity.arn),
        Some("AWSService") => text(&identity.invoked_by),
        Some("WebIdentityUser" | "SAMLUser") => text(&identity.identity_provider),
        Some("AWSAccount") => text(&identity.account_id),
        // Another type: its principal without a session part.
        _ => text(&identity.arn).or_else(|| text(&identity.principal_id).and_then(|id| id.split(':').next())),
    }?;
    Some(shown(caller, SHOWN))
}

/// The SDK or tool and its version: the user agent's first product token.
fn sdk_of(user_agent: &str) -> Option<String> {
    let first = user_agent
        .trim_start_matches('[')
        .split_whitespace()
        .next()?
        .trim_end_matches(']');
    (!first.is_empty()).then(|| shown(first, 64))
}

/// `text` cut to `max` bytes (on a character boundary), without control characters: it came
/// from the event, and a caller goes into a ledger sort key (at most 1,024 bytes).
fn shown(text: &str, max: usize) -> String {
    let mut kept = String::new();
    for c in text.chars().filter(|c| !c.is_control()) {
        if kept.len() + c.len_utf8() > max {
            break;
        }
        kept.push(c);
    }
    kept
}

/// An `AWS/Usage` `CallCount` alarm on one of KMS's operation families.
fn usage_alarm(envelope: &Envelope, alarm: &AlarmDetail) -> Triage<ApiTarget> {
    if envelope.source != "aws.cloudwatch" {
        return Triage::ignored(
            &envelope.id,
            SkipReason::NotOurs,
            format!("source {:?} is not CloudWatch", shown(&envelope.source, 64)),
        );
    }
    if let Some(skip) = envelope.unless_alarming(alarm) {
        return skip;
    }
    let usage = alarm.metrics_in(USAGE_NAMESPACE).find_map(|metric| {
        let dimension = |name: &str| metric.dimensions.get(name).map(String::as_str);
        (metric.name == "CallCount" && dimension("Type") == Some("API"))
            .then(|| {
                Some((
                    dimension("Service")?.to_ascii_lowercase(),
                    dimension("Resource")?.to_owned(),
                ))
            })
            .flatten()
    });
    let Some((service, family)) =
        usage.filter(|(service, family)| NAME.admits(service) && NAME.admits(family))
    else {
        return Triage::ignored(
            &envelope.id,
            SkipReason::NotOurs,
            format!(
                "alarm {} watches no AWS/Usage CallCount of an API (Type API, Service, Resource)",
                alarm.alarm_name
            ),
        );
    };
    let incident = envelope.alarm_incident(alarm);
    Triage::Throttled {
        targets: vec![ApiTarget {
            name: format!("{service}.{family}"),
            service,
            api: family,
            caller: None,
            sdk: None,
            host: None,
            sts_endpoint: None,
            error_code: None,
            other_key: None,
            signal: ApiSignal::UsageAlarm,
            scope: incident.scope(),
            at: incident.time,
            event_id: shown(&incident.event_id, SHOWN),
        }],
        incident,
    }
}

/// The detail of a `Quota Pressure` event (core::pipeline writes it).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct QuotaPressureDetail {
    service: String,
    resource: String,
    quota: AnnouncedQuota,
    #[serde(default)]
    reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AnnouncedQuota {
    service_code: String,
    quota_code: String,
    quota_name: String,
}

fn quota_pressure(envelope: &Envelope) -> Result<Triage<ApiTarget>, TriggerError> {
    let detail: QuotaPressureDetail = envelope.detail_as()?;
    let quota = &detail.quota;
    if !(NAME.admits(&quota.service_code) && NAME.admits(&quota.quota_code) && NAME.admits(&detail.service)) {
        return Ok(Triage::ignored(
            &envelope.id,
            SkipReason::NotOurs,
            "the Quota Pressure event names no valid service and quota",
        ));
    }
    let incident = envelope.announcement_incident();
    Ok(Triage::Throttled {
        targets: vec![ApiTarget {
            name: format!("{}.{}", quota.service_code, quota.quota_code),
            service: quota.service_code.clone(),
            api: quota.quota_code.clone(),
            caller: None,
            sdk: None,
            host: None,
            sts_endpoint: None,
            error_code: None,
            other_key: None,
            signal: ApiSignal::QuotaPressure {
                resource: shown(&detail.resource, SHOWN),
                quota_code: quota.quota_code.clone(),
                quota_name: shown(&quota.quota_name, SHOWN),
                reason: shown(&detail.reason, 1024),
            },
            scope: incident.scope(),
            at: incident.time,
            event_id: shown(&incident.event_id, SHOWN),
        }],
        incident,
    })
}

#[cfg(test)]
#[path = "trigger_tests.rs"]
mod tests;
