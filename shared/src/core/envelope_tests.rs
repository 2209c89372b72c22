use super::*;
use chrono::TimeZone;
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

    let null_detail = api_call_event(Value::Null);
    let err = Envelope::parse(null_detail).unwrap().signal().unwrap_err();
    assert!(
        err.to_string().ends_with("has no usable `detail`: missing"),
        "{err}"
    );
}

/// The event is read from its text; serde's position in that text is not where the reader's
/// file has the problem, so messages name the problem alone.
#[test]
fn problems_are_named_without_a_position_in_the_text() {
    let envelope = Envelope::parse(api_call_event(json!({"eventSource": 7}))).unwrap();
    let err = envelope.signal().unwrap_err();
    assert_eq!(
        err.to_string(),
        "event env-1 (AWS API Call via CloudTrail) has no usable `detail`: \
         invalid type: integer `7`, expected a string"
    );
    let err = Envelope::parse(json!({"time": "2026-11-20T10:15:00Z", "id": 1})).unwrap_err();
    assert_eq!(
        err.to_string(),
        "not an EventBridge event (`id`: invalid type: integer `1`, expected a string); \
         unthrottle expects the events its EventBridge rules deliver, see events/ for samples"
    );
}

/// A record that names one of its fields twice is not trusted to say which it meant.
#[test]
fn a_detail_naming_a_field_twice_is_bad() {
    let text = api_call_event(json!({"eventSource": "dynamodb.amazonaws.com", "eventName": "PutItem"}))
        .to_string()
        .replace(
            r#""eventName":"PutItem""#,
            r#""eventName":"PutItem","eventName":"GetItem""#,
        );
    assert!(text.contains("GetItem"), "{text}");
    let event: EventJson = serde_json::from_str(&text).unwrap();
    let err = Envelope::parse(event).unwrap().signal().unwrap_err();
    assert!(err.to_string().ends_with("duplicate field `eventName`"), "{err}");
}

/// The text Lambda hands over is read as it is: the envelope's fields, and the detail from
/// its own text.
#[test]
fn an_event_is_read_from_its_text() {
    let text = r#"{"version": "0", "id": "env-1", "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.dynamodb", "account": "123456789012", "time": "2026-11-20T10:15:00Z",
        "region": "us-east-1", "resources": [], "detail": {"eventSource": "dynamodb.amazonaws.com",
        "eventName": "PutItem", "errorCode": "ThrottlingException", "eventID": "ct-1",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/a"}}}"#;
    let event: EventJson = serde_json::from_str(text).unwrap();
    let envelope = Envelope::parse(event).unwrap();
    assert_eq!(
        (
            envelope.id.as_str(),
            envelope.source.as_str(),
            envelope.account.as_str(),
            envelope.region.as_str()
        ),
        ("env-1", "aws.dynamodb", "123456789012", "us-east-1")
    );
    assert_eq!(
        envelope.time,
        Utc.with_ymd_and_hms(2026, 11, 20, 10, 15, 0).unwrap()
    );
    let Signal::ApiCall(call) = envelope.signal().unwrap() else {
        panic!("expected an API call")
    };
    assert_eq!(call.event_id.as_deref(), Some("ct-1"));
    assert_eq!(call.error_code.as_deref(), Some("ThrottlingException"));
    let identity: Value = ApiCallDetail::part_as(call.user_identity.as_deref()).unwrap();
    assert_eq!(identity["type"], "IAMUser");
    let not_json: Result<EventJson, _> = serde_json::from_str("{\"id\": ");
    assert!(not_json.is_err());
}

/// Any JSON reads as an `EventJson` (what Lambda's runtime does with the payload), and
/// `Envelope::parse` then says what is wrong, so the pipeline reports it.
#[test]
fn any_json_reads_and_the_envelope_says_what_is_wrong() {
    for (text, problem) in [
        ("[1, {\"id\": \"x\"}]", "the event is an array, not a JSON object"),
        ("\"text\"", "the event is a string, not a JSON object"),
        ("7", "the event is a number, not a JSON object"),
        ("-7.5", "the event is a number, not a JSON object"),
        ("true", "the event is a boolean, not a JSON object"),
        ("null", "the event is null, not a JSON object"),
        ("{}", "missing `time`"),
        (
            "{\"time\": \"2026-11-20T10:15:00Z\", \"id\": null}",
            "missing `id`",
        ),
        (
            "{\"time\": \"2026-11-20T10:15:00Z\", \"id\": 7}",
            "`id`: invalid type: integer `7`, expected a string",
        ),
        (
            "{\"time\": \"yesterday\", \"id\": \"x\", \"detail-type\": \"d\", \"source\": \"s\", \"account\": \"1\", \"region\": \"r\"}",
            "`time`: input contains invalid characters",
        ),
    ] {
        let event: EventJson = serde_json::from_str(text).unwrap();
        let err = Envelope::parse(event).unwrap_err();
        assert_eq!(err, TriggerError::NotAnEvent(problem.to_owned()), "{text}");
    }
    // Fields the envelope does not read, whatever they hold, are skipped; a `null` detail is none.
    let mut event = api_call_event(Value::Null);
    event["resources"] = json!({"not": ["a", "list"]});
    event["extra"] = json!([[{}], 1e300, "\u{e9}"]);
    let envelope = Envelope::parse(event).unwrap();
    assert_eq!(envelope.id, "env-1");
    assert!(matches!(envelope.signal(), Err(TriggerError::BadDetail { .. })));
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
