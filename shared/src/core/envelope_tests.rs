use super::*;
use serde_json::json;

fn api_call_event(detail: Value) -> Value {
    json!({
        "version": "0", "id": "env-1", "detail-type": API_CALL_DETAIL_TYPE,
        "source": "aws.dynamodb", "account": "123456789012",
        "time": "2026-11-20T10:15:00Z", "region": "us-east-1", "resources": [],
        "detail": detail
    })
}

#[test]
fn envelope_rejects_what_is_not_an_event() {
    for bad in [
        json!({"hello": "world"}),
        json!([1, 2]),
        json!("text"),
        json!({"id": "x", "detail-type": "y", "source": "z", "account": "1", "region": "r", "resources": []}),
    ] {
        assert!(
            matches!(Envelope::parse(bad.clone()), Err(TriggerError::NotAnEvent(_))),
            "{bad}"
        );
    }
    let mut no_account = api_call_event(json!({}));
    no_account["account"] = json!("");
    let err = Envelope::parse(no_account).unwrap_err();
    assert!(err.to_string().contains("missing `account`"), "{err}");
}

#[test]
fn api_call_detail_needs_source_and_name() {
    let envelope = Envelope::parse(api_call_event(json!({"errorCode": "X"}))).unwrap();
    let err = envelope.signal().unwrap_err();
    assert!(matches!(err, TriggerError::BadDetail { .. }), "{err}");
    assert!(err.to_string().contains("env-1"), "{err}");

    let mut no_detail = api_call_event(Value::Null);
    no_detail.as_object_mut().unwrap().remove("detail");
    let err = Envelope::parse(no_detail).unwrap().signal().unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
}

#[test]
fn incident_prefers_the_cloudtrail_event_id() {
    let envelope = Envelope::parse(api_call_event(json!({
        "eventSource": "dynamodb.amazonaws.com", "eventName": "PutItem",
        "errorCode": "ThrottlingException", "eventID": "ct-1"
    })))
    .unwrap();
    let Signal::ApiCall(call) = envelope.signal().unwrap() else {
        panic!("expected an API call")
    };
    assert_eq!(
        envelope.api_call_incident(&call, "ThrottlingException").event_id,
        "ct-1"
    );
    let without_id = ApiCallDetail {
        event_id: None,
        ..*call
    };
    assert_eq!(
        envelope
            .api_call_incident(&without_id, "ThrottlingException")
            .event_id,
        "env-1"
    );
}

#[test]
fn names_come_from_arns_or_plain_names() {
    let cases = [
        ("orders", "table", Some("orders")),
        (
            "arn:aws:dynamodb:us-east-1:123456789012:table/orders",
            "table",
            Some("orders"),
        ),
        (
            "arn:aws:dynamodb:us-east-1:123456789012:table/orders/index/by-customer",
            "table",
            Some("orders"),
        ),
        (
            "arn:aws:kinesis:us-east-1:123456789012:stream/clicks",
            "stream",
            Some("clicks"),
        ),
        (
            "arn:aws:kinesis:us-east-1:123456789012:stream/clicks",
            "table",
            None,
        ),
        ("arn:aws:dynamodb:us-east-1:123456789012:table/", "table", None),
        ("arn:broken", "table", None),
        ("", "table", None),
    ];
    for (value, kind, expected) in cases {
        assert_eq!(name_from_arn_or_name(value, kind), expected, "{value}");
    }
}

#[test]
fn empty_cloudtrail_ids_accounts_and_regions_count_as_absent() {
    let envelope = Envelope::parse(api_call_event(json!({
        "eventSource": "dynamodb.amazonaws.com", "eventName": "PutItem",
        "errorCode": "ThrottlingException", "eventID": "",
        "recipientAccountId": "", "awsRegion": ""
    })))
    .unwrap();
    let Signal::ApiCall(call) = envelope.signal().unwrap() else {
        panic!("expected an API call")
    };
    let incident = envelope.api_call_incident(&call, "ThrottlingException");
    assert_eq!(
        (
            incident.event_id.as_str(),
            incident.account.as_str(),
            incident.region.as_str()
        ),
        ("env-1", "123456789012", "us-east-1"),
        "the envelope's, never an empty one"
    );
}
