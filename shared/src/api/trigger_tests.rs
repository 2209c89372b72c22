use serde_json::{Value, json};

use super::*;
use crate::core::envelope::Envelope;

fn cloudtrail(source: &str, name: &str, code: Option<&str>, detail: Value) -> Value {
    let mut record = json!({
        "eventSource": source,
        "eventName": name,
        "eventID": "e-1",
        "eventTime": "2026-11-20T10:16:05Z",
        "awsRegion": "us-east-1",
        "recipientAccountId": "123456789012",
    });
    if let Some(code) = code {
        record["errorCode"] = json!(code);
    }
    if let (Value::Object(record), Value::Object(extra)) = (&mut record, detail) {
        record.extend(extra);
    }
    json!({
        "version": "0", "id": "env-1", "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.x", "account": "123456789012", "time": "2026-11-20T10:16:06Z",
        "region": "us-east-1", "resources": [], "detail": record
    })
}

fn read(event: Value) -> Triage<ApiTarget> {
    triage(&Envelope::parse(event).unwrap()).unwrap()
}

fn target(event: Value) -> ApiTarget {
    match read(event) {
        Triage::Throttled { mut targets, .. } => targets.remove(0),
        other => panic!("not read as a throttle: {other:?}"),
    }
}

fn skipped(event: Value) -> SkipReason {
    match read(event) {
        Triage::Ignored { reason, .. } => reason,
        other => panic!("read as a throttle: {other:?}"),
    }
}

/// Who the caller is: the role a session came from, the user, or the AWS service.
#[test]
fn the_caller_is_the_role_the_user_or_the_service() {
    let identities = [
        (
            json!({"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/app/s-1",
                   "sessionContext": {"sessionIssuer": {"arn": "arn:aws:iam::1:role/app"}}}),
            Some("arn:aws:iam::1:role/app"),
        ),
        (
            json!({"type": "IAMUser", "arn": "arn:aws:iam::1:user/bot"}),
            Some("arn:aws:iam::1:user/bot"),
        ),
        (
            json!({"type": "AWSService", "invokedBy": "lambda.amazonaws.com"}),
            Some("lambda.amazonaws.com"),
        ),
        (
            json!({"type": "Root", "arn": "arn:aws:iam::1:root"}),
            Some("arn:aws:iam::1:root"),
        ),
        (
            json!({"type": "WebIdentityUser", "identityProvider": "cognito-identity.amazonaws.com"}),
            Some("cognito-identity.amazonaws.com"),
        ),
        (
            json!({"type": "AWSAccount", "accountId": "210987654321"}),
            Some("210987654321"),
        ),
        // Another type: its principal without the session part.
        (
            json!({"type": "Unknown", "principalId": "AROAEXAMPLE:session-7"}),
            Some("AROAEXAMPLE"),
        ),
        // An escaped character (the event's text has `\"`) is read as the character; a
        // field not read may be anything.
        (
            json!({"type": "IAMUser", "arn": "arn:aws:iam::1:user/b\"ot", "userName": 5,
                   "sessionContext": {"attributes": {"mfaAuthenticated": false}}}),
            Some("arn:aws:iam::1:user/b\"ot"),
        ),
        (json!({"type": "IAMUser", "arn": 7}), None),
        // A field of another type costs only itself: the rest of the identity is read.
        (
            json!({"type": "AssumedRole", "arn": 7, "principalId": ["x"],
                   "sessionContext": {"sessionIssuer": {"arn": "arn:aws:iam::1:role/app"}}}),
            Some("arn:aws:iam::1:role/app"),
        ),
        (
            json!({"type": 5, "arn": "arn:aws:iam::1:user/odd"}),
            Some("arn:aws:iam::1:user/odd"),
        ),
        (json!({"type": "AssumedRole"}), None),
        (json!("not an object"), None),
    ];
    for (identity, caller) in identities {
        let event = cloudtrail(
            "kms.amazonaws.com",
            "Decrypt",
            Some("ThrottlingException"),
            json!({"userIdentity": identity}),
        );
        assert_eq!(target(event).caller.as_deref(), caller, "{identity}");
    }
}

#[test]
fn the_sdk_the_host_and_the_sts_endpoint_type_are_read() {
    let event = cloudtrail(
        "sts.amazonaws.com",
        "AssumeRole",
        Some("Throttling"),
        json!({
            "userAgent": "aws-cli/1.29.62 md/Botocore#1.31.62 ua/2.0",
            "tlsDetails": {"clientProvidedHostHeader": "sts.amazonaws.com"},
            "additionalEventData": {"RequestDetails": {"endpointType": "global", "awsServingRegion": "us-east-1"}}
        }),
    );
    let read = target(event);
    assert_eq!(read.name, "sts.AssumeRole");
    assert_eq!(read.sdk.as_deref(), Some("aws-cli/1.29.62"));
    assert_eq!(read.host.as_deref(), Some("sts.amazonaws.com"));
    assert_eq!(read.sts_endpoint.as_deref(), Some("global"));
    assert_eq!(read.error_code.as_deref(), Some("Throttling"));

    // A field of another type beside them costs only itself.
    let odd = cloudtrail(
        "sts.amazonaws.com",
        "AssumeRole",
        Some("Throttling"),
        json!({
            "tlsDetails": {"clientProvidedHostHeader": {"not": "a string"}, "tlsVersion": 1.3},
            "additionalEventData": {"RequestDetails": {"endpointType": "regional"}, "customKeyStoreId": 5}
        }),
    );
    let read = target(odd);
    assert_eq!(read.host, None);
    assert_eq!(read.sts_endpoint.as_deref(), Some("regional"));
}

/// A part's strings are borrowed from the event's text unless they hold an escape.
#[test]
fn a_string_field_borrows_from_the_text_and_reads_any_other_value_as_absent() {
    let read = |text: &'static str| serde_json::from_str::<Text>(text).map(|text| text.0);
    assert!(matches!(read("\"plain\""), Ok(Some(Cow::Borrowed("plain")))));
    assert!(matches!(read("\"a \\\"quote\""), Ok(Some(Cow::Owned(text))) if text == "a \"quote"));
    for other in ["7", "true", "null", "[1, [2]]", "{\"a\": {\"b\": 1}}"] {
        assert!(matches!(read(other), Ok(None)), "{other}");
    }
    assert_eq!(Text(Some(Cow::Borrowed(""))).get(), None, "empty is absent");
}

/// What the trigger made of an event, for the tables below.
#[derive(Debug, PartialEq)]
enum Read {
    Throttle,
    Skip(SkipReason),
}

fn reading(event: Value) -> Read {
    match read(event) {
        Triage::Throttled { .. } => Read::Throttle,
        Triage::Ignored { reason, .. } => Read::Skip(reason),
    }
}

/// Capacity throttles stay with their functions; control-plane rates come here; a
/// LimitExceededException counts only where it means a rate.
#[test]
fn capacity_throttles_are_not_ours_and_control_plane_rates_are() {
    use Read::{Skip, Throttle};
    let cases = [
        (
            "dynamodb.amazonaws.com",
            "PutItem",
            "ProvisionedThroughputExceededException",
            Skip(SkipReason::NotOurs),
        ),
        (
            "dynamodb.amazonaws.com",
            "PutItem",
            "ThrottlingException",
            Skip(SkipReason::NotOurs),
        ),
        (
            "dynamodb.amazonaws.com",
            "Query",
            "RequestLimitExceeded",
            Skip(SkipReason::NotOurs),
        ),
        (
            "dynamodb.amazonaws.com",
            "DescribeTable",
            "ThrottlingException",
            Throttle,
        ),
        (
            "kinesis.amazonaws.com",
            "PutRecords",
            "ThrottlingException",
            Skip(SkipReason::NotOurs),
        ),
        (
            "kinesis.amazonaws.com",
            "DescribeStream",
            "LimitExceededException",
            Throttle,
        ),
        (
            "lambda.amazonaws.com",
            "CreateFunction",
            "LimitExceededException",
            Skip(SkipReason::NotThrottle),
        ),
        (
            "kms.amazonaws.com",
            "Decrypt",
            "AccessDeniedException",
            Skip(SkipReason::NotThrottle),
        ),
        ("s3.amazonaws.com", "PutObject", "SlowDown", Throttle),
    ];
    for (source, name, code, want) in cases {
        let event = cloudtrail(source, name, Some(code), json!({}));
        assert_eq!(reading(event), want, "{source} {name} {code}");
    }
    assert_eq!(
        skipped(cloudtrail("kms.amazonaws.com", "Decrypt", None, json!({}))),
        SkipReason::NotThrottle
    );
}

#[test]
fn names_outside_aws_alphabet_are_never_targets() {
    let event = cloudtrail(
        "kms.amazonaws.com",
        "De crypt/../x",
        Some("ThrottlingException"),
        json!({}),
    );
    assert_eq!(skipped(event), SkipReason::NotOurs);
    let event = cloudtrail(
        "kms.amazonaws.com",
        "Decrypt",
        Some("ThrottlingException"),
        json!({
            "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::1:user/{}\u{7}", "x".repeat(400))}
        }),
    );
    let caller = target(event).caller.unwrap();
    assert!(caller.chars().count() <= 256 && !caller.contains('\u{7}'));
}

/// Only AWS's own events: a CloudTrail-shaped event from another source is not read, so
/// nobody who may put events on a bus can forge a throttle.
#[test]
fn an_event_from_another_source_is_not_read() {
    let mut event = cloudtrail(
        "kms.amazonaws.com",
        "Decrypt",
        Some("ThrottlingException"),
        json!({}),
    );
    event["source"] = json!("my.app");
    assert_eq!(skipped(event), SkipReason::NotOurs);
}

/// A KMS call on an asymmetric key, or on a key in a custom key store, says so: its quota is
/// not the symmetric family's.
#[test]
fn a_kms_call_on_another_kind_of_key_says_so() {
    let kinds = [
        (json!({}), None),
        (
            json!({"requestParameters": {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"}}),
            None,
        ),
        (
            json!({"requestParameters": {"encryptionAlgorithm": "RSAES_OAEP_SHA_256"}}),
            Some("an asymmetric key (RSAES_OAEP_SHA_256)"),
        ),
        (
            json!({"additionalEventData": {"customKeyStoreId": "cks-1234567890abcdef0"}}),
            Some("a key in custom key store cks-1234567890abcdef0"),
        ),
    ];
    for (detail, other) in kinds {
        let event = cloudtrail(
            "kms.amazonaws.com",
            "Decrypt",
            Some("ThrottlingException"),
            detail.clone(),
        );
        assert_eq!(target(event).other_key.as_deref(), other, "{detail}");
    }
}
