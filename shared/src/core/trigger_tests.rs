use super::*;
use crate::core::envelope::{ALARM_DETAIL_TYPE, API_CALL_DETAIL_TYPE};
use serde_json::{Value, json};

const RULE: NameRule = NameRule::new("thing", 3, 8);

#[test]
fn a_name_rule_admits_its_lengths_of_the_aws_alphabet_only() {
    for good in ["abc", "a-b_c.D9", "12345678", "...", "a.."] {
        assert!(RULE.admits(good), "{good:?}");
        assert_eq!(RULE.check(good), Ok(()), "{good:?}");
    }
    for bad in [
        "",
        "ab",
        "123456789",
        "a/b",
        "../x",
        "a#b",
        "a b",
        "a\nb",
        "a\0b",
        "abc%2f",
        "ördér",
        "ＡＢＣ",
        "a:b",
        "a\u{202e}bc",
    ] {
        assert!(!RULE.admits(bad), "{bad:?}");
        assert!(RULE.check(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn dot_segments_are_never_names() {
    let one = NameRule::new("stream", 1, 128);
    assert!(one.admits("a"));
    assert!(one.admits("..."));
    assert!(!one.admits("."), "`.` would be `snapshots/..././...`");
    assert!(!one.admits(".."), "`..` would be `snapshots/.../../...`");
}

#[test]
fn a_refused_name_is_quoted_escaped_and_cut_short() {
    let err = RULE.check("a/\"b\"\n").unwrap_err().to_string();
    assert_eq!(
        err,
        r#""a/\"b\"\n" is not a valid thing name (3-8 characters: letters, digits, `_`, `.` and `-`)"#
    );

    let long = format!("{}{}", "é".repeat(InvalidName::SHOWN), "TAIL");
    let err = RULE.check(&long).unwrap_err().to_string();
    assert!(!err.contains("TAIL"), "{err}");
    assert!(
        err.starts_with(&format!("\"{}\"...", "é".repeat(InvalidName::SHOWN))),
        "{err}"
    );
    let huge = "x".repeat(10_000);
    let err = RULE.check(&huge).unwrap_err().to_string();
    assert!(err.len() < 200, "{err}");
    // Escaping keeps a message on one line, whatever the name holds.
    let err = RULE.check("\u{0}\r\n\u{1b}[31m").unwrap_err().to_string();
    assert!(!err.contains(['\0', '\r', '\n', '\u{1b}']), "{err:?}");
}

/// A toy service that keeps the default rule and checks an inner name of its own.
#[derive(Debug, Clone, PartialEq)]
struct Thing {
    name: String,
    part: Option<String>,
}

impl Target for Thing {
    fn resource(&self) -> &str {
        &self.name
    }
    fn absorb(&mut self, _other: Self) {}
}

const PART: NameRule = NameRule::new("part", 2, 4);

struct Things;

impl CapacitySignals for Things {
    type Target = Thing;
    const SIGNALS: Signals = Signals {
        label: "Things",
        event_source: "things.amazonaws.com",
        throttle_codes: &["ThrottlingException"],
        metric_namespace: "AWS/Things",
        resource_dimension: "ThingName",
        resource_kind: "thing",
    };

    fn check_inner_names(target: &Thing) -> Result<(), InvalidName> {
        target.part.as_deref().map_or(Ok(()), |part| PART.check(part))
    }

    fn throttled_call(call: &ApiCallDetail, _code: &str) -> CallReading<Thing> {
        let names = call
            .request_parameters
            .as_ref()
            .and_then(|p| p.get("things"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str);
        CallReading::Throttled(
            names
                .map(|name| Thing {
                    name: name.to_owned(),
                    part: call.parameter("part").map(str::to_owned),
                })
                .collect(),
        )
    }

    fn alarm_metric(metric: &MetricId) -> Option<Thing> {
        Some(Thing {
            name: metric.dimensions.get("ThingName")?.clone(),
            part: metric.dimensions.get("Part").cloned(),
        })
    }
}

fn event(detail_type: &str, detail: Value) -> Envelope {
    Envelope::parse(json!({
        "version": "0", "id": "env-1", "detail-type": detail_type, "source": "aws.things",
        "account": "123456789012", "time": "2026-11-20T10:15:00Z", "region": "us-east-1",
        "resources": [], "detail": detail
    }))
    .unwrap()
}

fn call(things: Value, part: Option<&str>) -> Envelope {
    event(
        API_CALL_DETAIL_TYPE,
        json!({"eventSource": "things.amazonaws.com", "eventName": "PutThing",
               "errorCode": "ThrottlingException", "eventID": "ct-1",
               "requestParameters": {"things": things, "part": part}}),
    )
}

fn names(triaged: Triage<Thing>) -> Vec<String> {
    match triaged {
        Triage::Throttled { targets, .. } => targets.into_iter().map(|t| t.name).collect(),
        Triage::Ignored { detail, .. } => panic!("ignored: {detail}"),
    }
}

#[test]
fn the_default_rule_is_one_to_255_characters_of_the_aws_alphabet() {
    assert_eq!(Things::NAME_RULE, NameRule::new("thing", 1, 255));
}

#[test]
fn invalid_names_are_dropped_and_valid_ones_kept() {
    let found = triage::<Things>(&call(json!(["a", "../etc", "b", "a", "x".repeat(256)]), None)).unwrap();
    assert_eq!(names(found), ["a", "b"]);
}

#[test]
fn a_call_naming_only_invalid_names_names_nothing_and_says_why() {
    let err = triage::<Things>(&call(json!(["a/b", "c#d"]), None)).unwrap_err();
    assert!(
        matches!(&err, TriggerError::NoResource { invalid: Some(_), .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "event ct-1: PutThing was throttled but the request names no thing it can act on: \
         \"a/b\" is not a valid thing name (1-255 characters: letters, digits, `_`, `.` and `-`); \
         nothing to heal"
    );

    let err = triage::<Things>(&call(json!(["good"]), Some("p/q"))).unwrap_err();
    assert!(
        err.to_string()
            .contains("\"p/q\" is not a valid part name (2-4 characters"),
        "{err}"
    );

    let err = triage::<Things>(&call(json!([]), None)).unwrap_err();
    assert_eq!(
        err,
        TriggerError::NoResource {
            event_id: "ct-1".into(),
            operation: "PutThing".into(),
            resource_kind: "thing",
            invalid: None,
        }
    );
    assert!(
        err.to_string().contains("names no thing; nothing to heal"),
        "{err}"
    );
}

fn alarm(dimensions: &[Value]) -> Envelope {
    let metrics: Vec<Value> = dimensions
        .iter()
        .map(|d| json!({"metricStat": {"metric": {"namespace": "AWS/Things", "name": "Throttles", "dimensions": d}}}))
        .collect();
    event(
        ALARM_DETAIL_TYPE,
        json!({"alarmName": "a", "state": {"value": "ALARM"}, "configuration": {"metrics": metrics}}),
    )
}

#[test]
fn an_alarm_naming_only_invalid_names_is_not_ours_and_says_why() {
    let (reason, detail) = match triage::<Things>(&alarm(&[json!({"ThingName": "x y"})])).unwrap() {
        Triage::Ignored { reason, detail, .. } => (reason, detail),
        Triage::Throttled { targets, .. } => panic!("throttled: {targets:?}"),
    };
    assert_eq!(reason, SkipReason::NotOurs);
    assert_eq!(
        detail,
        "alarm a watches no AWS/Things throttle metric with a ThingName dimension it can act on: \
         \"x y\" is not a valid thing name (1-255 characters: letters, digits, `_`, `.` and `-`)"
    );

    let found = triage::<Things>(&alarm(&[
        json!({"ThingName": "ok", "Part": "too-long"}),
        json!({"ThingName": "fine"}),
    ]))
    .unwrap();
    assert_eq!(names(found), ["fine"]);
}
