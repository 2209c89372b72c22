use super::*;
use crate::core::envelope::{Envelope, Triage, TriggerError};
use crate::core::service::Service;

const EVENT_SOURCE: &str = <Kinesis as CapacitySignals>::SIGNALS.event_source;
const METRIC_NAMESPACE: &str = <Kinesis as CapacitySignals>::SIGNALS.metric_namespace;

fn triage(envelope: &Envelope) -> Result<Triage<<Kinesis as Service>::Target>, TriggerError> {
    Kinesis::triage(envelope)
}
use crate::core::envelope::{ALARM_DETAIL_TYPE, API_CALL_DETAIL_TYPE};
use serde_json::{Value, json};

fn envelope(detail_type: &str, detail: Value) -> Envelope {
    Envelope::parse(json!({
        "version": "0", "id": "env-1", "detail-type": detail_type, "source": "aws.kinesis",
        "account": "123456789012", "time": "2026-11-20T10:15:00Z", "region": "us-east-1",
        "resources": [], "detail": detail
    }))
    .unwrap()
}

fn call(event_name: &str, code: Option<&str>, params: Value) -> Envelope {
    envelope(
        API_CALL_DETAIL_TYPE,
        json!({"eventSource": EVENT_SOURCE, "eventName": event_name, "errorCode": code,
               "eventID": "ct-1", "requestParameters": params}),
    )
}

fn summary(envelope: &Envelope) -> String {
    match triage(envelope) {
        Ok(Triage::Throttled { targets, .. }) => targets
            .iter()
            .map(|t| {
                format!(
                    "{}:{}{}",
                    t.stream,
                    if t.pressure.read { "r" } else { "" },
                    if t.pressure.write { "w" } else { "" }
                )
            })
            .collect::<Vec<_>>()
            .join(" "),
        Ok(Triage::Ignored { reason, .. }) => format!("skip:{reason}"),
        Err(error) => format!("error:{error}"),
    }
}

const PTEE: Option<&str> = Some("ProvisionedThroughputExceededException");
const ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/clickstream";

#[test]
fn api_calls_name_the_stream_and_the_side() {
    let cases = [
        (
            call("PutRecord", PTEE, json!({"streamName": "clickstream"})),
            "clickstream:w",
        ),
        (
            call("PutRecords", PTEE, json!({"streamARN": ARN})),
            "clickstream:w",
        ),
        (
            call(
                "PutRecords",
                Some("LimitExceededException"),
                json!({"streamName": "clickstream"}),
            ),
            "clickstream:w",
        ),
        (
            call(
                "GetRecords",
                Some("ThrottlingException"),
                json!({"streamARN": ARN, "shardIterator": "AAA"}),
            ),
            "clickstream:r",
        ),
        (
            call(
                "SubscribeToShard",
                PTEE,
                json!({"consumerARN": "x", "streamName": "clickstream"}),
            ),
            "clickstream:r",
        ),
    ];
    for (event, expected) in cases {
        assert_eq!(summary(&event), expected);
    }
}

#[test]
fn get_records_without_a_stream_parameter_uses_cloudtrail_resources() {
    let event = envelope(
        API_CALL_DETAIL_TYPE,
        json!({"eventSource": EVENT_SOURCE, "eventName": "GetRecords", "errorCode": "ProvisionedThroughputExceededException",
               "requestParameters": {"shardIterator": "AAA"},
               "resources": [{"accountId": "123456789012", "type": "AWS::Kinesis::Stream", "ARN": ARN}]}),
    );
    assert_eq!(summary(&event), "clickstream:r");
    let nothing = call("GetRecords", PTEE, json!({"shardIterator": "AAA"}));
    assert!(
        summary(&nothing).contains("names no stream"),
        "{}",
        summary(&nothing)
    );
}

#[test]
fn control_plane_and_non_throttles_are_skipped() {
    for operation in [
        "DescribeStream",
        "ListShards",
        "DescribeStreamSummary",
        "UpdateShardCount",
    ] {
        let event = call(
            operation,
            Some("LimitExceededException"),
            json!({"streamName": "clickstream"}),
        );
        assert_eq!(summary(&event), "skip:control-plane", "{operation}");
    }
    assert_eq!(
        summary(&call("PutRecord", None, json!({"streamName": "s"}))),
        "skip:not-throttle"
    );
    assert_eq!(
        summary(&call(
            "PutRecord",
            Some("ResourceNotFoundException"),
            json!({"streamName": "s"})
        )),
        "skip:not-throttle"
    );
    let dynamodb = envelope(
        API_CALL_DETAIL_TYPE,
        json!({"eventSource": "dynamodb.amazonaws.com", "eventName": "PutItem", "errorCode": "ThrottlingException"}),
    );
    assert_eq!(summary(&dynamodb), "skip:not-ours");
}

fn alarm(state: &str, metrics: Value) -> Envelope {
    envelope(
        ALARM_DETAIL_TYPE,
        json!({"alarmName": "a", "state": {"value": state}, "configuration": {"metrics": metrics}}),
    )
}

fn metric(name: &str, stream: &str) -> Value {
    json!({"id": "m", "metricStat": {"metric": {"namespace": METRIC_NAMESPACE, "name": name, "dimensions": {"StreamName": stream}}}})
}

#[test]
fn alarm_metrics_name_the_stream_and_the_side() {
    let cases = [
        ("WriteProvisionedThroughputExceeded", "clickstream:w"),
        ("ReadProvisionedThroughputExceeded", "clickstream:r"),
        ("PutRecords.ThrottledRecords", "clickstream:w"),
        ("PutRecord.ThrottledRecords", "clickstream:w"),
        ("IncomingBytes", "skip:not-ours"),
    ];
    for (name, expected) in cases {
        assert_eq!(
            summary(&alarm("ALARM", json!([metric(name, "clickstream")]))),
            expected,
            "{name}"
        );
    }
    let both = json!([
        {"id": "e1", "expression": "m1+m2"},
        metric("WriteProvisionedThroughputExceeded", "clickstream"),
        metric("ReadProvisionedThroughputExceeded", "clickstream")
    ]);
    assert_eq!(summary(&alarm("ALARM", both)), "clickstream:rw");
    assert_eq!(
        summary(&alarm(
            "OK",
            json!([metric("WriteProvisionedThroughputExceeded", "clickstream")])
        )),
        "skip:not-throttle"
    );
}

#[test]
fn stream_names_follow_kinesis_rules() {
    assert_eq!(<Kinesis as CapacitySignals>::NAME_RULE, STREAM_NAME);
    for good in ["a", "clickstream", "a.b-c_D9", &"s".repeat(128)] {
        assert!(STREAM_NAME.admits(good), "{good}");
    }
    for bad in ["", ".", "..", &"s".repeat(129), "a/b", "a b", "a#b", "strëam"] {
        assert!(!STREAM_NAME.admits(bad), "{bad}");
    }
}

#[test]
fn a_call_naming_an_invalid_stream_names_nothing_and_says_why() {
    for (event, quoted) in [
        (
            call("PutRecord", PTEE, json!({"streamName": "../clickstream"})),
            r#""../clickstream""#,
        ),
        (
            call(
                "PutRecords",
                PTEE,
                json!({"streamARN": "arn:aws:kinesis:us-east-1:123456789012:stream/.."}),
            ),
            r#""..""#,
        ),
        (
            call("PutRecord", PTEE, json!({"streamName": "s".repeat(129)})),
            &format!("\"{}\"...", "s".repeat(64)),
        ),
        (
            envelope(
                API_CALL_DETAIL_TYPE,
                json!({"eventSource": EVENT_SOURCE, "eventName": "GetRecords", "errorCode": "ThrottlingException",
                       "resources": [{"type": "AWS::Kinesis::Stream", "ARN": "arn:aws:kinesis:us-east-1:1:stream/a#b"}]}),
            ),
            r#""a#b""#,
        ),
    ] {
        let err = triage(&event).unwrap_err();
        assert!(
            matches!(err, TriggerError::NoResource { invalid: Some(_), .. }),
            "{err}"
        );
        assert!(
            err.to_string().contains(&format!(
                "names no stream it can act on: {quoted} is not a valid stream name (1-128 characters"
            )),
            "{err}"
        );
    }
}

#[test]
fn an_alarm_on_an_invalid_stream_is_not_ours_and_says_why() {
    let event = alarm(
        "ALARM",
        json!([metric("WriteProvisionedThroughputExceeded", "click stream")]),
    );
    assert_eq!(summary(&event), "skip:not-ours");
    let Ok(Triage::Ignored { detail, .. }) = triage(&event) else {
        panic!("not skipped")
    };
    assert!(
        detail.contains(r#"it can act on: "click stream" is not a valid stream name"#),
        "{detail}"
    );
    let mixed = alarm(
        "ALARM",
        json!([
            metric("WriteProvisionedThroughputExceeded", "a/b"),
            metric("ReadProvisionedThroughputExceeded", "clickstream")
        ]),
    );
    assert_eq!(summary(&mixed), "clickstream:r");
}

/// The data-plane list (which template.yaml's rules repeat) is exactly the calls that press
/// a side of the stream.
#[test]
fn the_data_plane_list_is_what_the_trigger_reads_as_capacity() {
    for name in DATA_PLANE {
        assert!(data_plane(name).is_some(), "{name}");
    }
    for name in [
        "DescribeStream",
        "ListShards",
        "UpdateShardCount",
        "DescribeLimits",
    ] {
        assert!(data_plane(name).is_none() && !is_data_plane(name), "{name}");
    }
}
