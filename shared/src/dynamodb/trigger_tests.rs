use super::*;
use crate::core::envelope::{Envelope, Triage, TriggerError};
use crate::core::service::Service;
use crate::testing::sample_home;
use serde_json::Value;

const EVENT_SOURCE: &str = <DynamoDb as CapacitySignals>::SIGNALS.event_source;
const METRIC_NAMESPACE: &str = <DynamoDb as CapacitySignals>::SIGNALS.metric_namespace;
const THROTTLE_CODES: &[&str] = <DynamoDb as CapacitySignals>::SIGNALS.throttle_codes;

fn triage(envelope: &Envelope) -> Result<Triage<<DynamoDb as Service>::Target>, TriggerError> {
    DynamoDb::triage(envelope)
}
use crate::core::envelope::{ALARM_DETAIL_TYPE, API_CALL_DETAIL_TYPE, Origin};
use serde_json::json;

fn envelope(detail_type: &str, detail: Value) -> Envelope {
    Envelope::parse(json!({
        "version": "0", "id": "env-1", "detail-type": detail_type,
        "source": "aws.dynamodb", "account": "123456789012",
        "time": "2026-11-20T10:15:00Z", "region": "us-east-1", "resources": [],
        "detail": detail
    }))
    .unwrap()
}

fn api_call(event_name: &str, code: Option<&str>, params: Value) -> Envelope {
    envelope(
        API_CALL_DETAIL_TYPE,
        json!({
            "eventSource": EVENT_SOURCE, "eventName": event_name, "errorCode": code,
            "eventID": "ct-1", "requestParameters": params
        }),
    )
}

fn targets(triage: Triage<TableTarget>) -> Vec<TableTarget> {
    match triage {
        Triage::Throttled { targets, .. } => targets,
        Triage::Ignored { detail, .. } => panic!("ignored: {detail}"),
    }
}

fn skipped(triage: Triage<TableTarget>) -> (SkipReason, String) {
    match triage {
        Triage::Ignored { reason, detail, .. } => (reason, detail),
        Triage::Throttled { targets, .. } => panic!("throttled: {targets:?}"),
    }
}

fn table(name: &str, on_table: Pressure) -> TableTarget {
    TableTarget {
        table: name.into(),
        on_table,
        on_indexes: BTreeMap::new(),
        scope: None,
        cause: None,
    }
}

const PTEE: Option<&str> = Some("ProvisionedThroughputExceededException");

#[test]
fn operation_decides_read_or_write() {
    let cases = [
        ("GetItem", Pressure::READ),
        ("Query", Pressure::READ),
        ("Scan", Pressure::READ),
        ("PutItem", Pressure::WRITE),
        ("UpdateItem", Pressure::WRITE),
        ("DeleteItem", Pressure::WRITE),
    ];
    for (operation, pressure) in cases {
        let found = targets(triage(&api_call(operation, PTEE, json!({"tableName": "orders"}))).unwrap());
        assert_eq!(found, vec![table("orders", pressure)], "{operation}");
    }
}

#[test]
fn every_throttle_code_counts_and_the_incident_keeps_it() {
    for code in THROTTLE_CODES {
        let triaged = triage(&api_call("PutItem", Some(code), json!({"tableName": "orders"}))).unwrap();
        let Triage::Throttled { incident, .. } = triaged else {
            panic!("{code} not treated as a throttle")
        };
        assert_eq!(incident.event_id, "ct-1");
        assert!(matches!(incident.origin, Origin::ApiCall { ref error_code, .. } if error_code == code));
    }
}

#[test]
fn table_arn_is_reduced_to_its_name() {
    let found = targets(
        triage(&api_call(
            "UpdateItem",
            PTEE,
            json!({"tableName": "arn:aws:dynamodb:us-east-1:123456789012:table/orders"}),
        ))
        .unwrap(),
    );
    assert_eq!(
        found,
        vec![TableTarget {
            scope: Some(sample_home()),
            ..table("orders", Pressure::WRITE)
        }],
        "the name, and the account and region the ARN names"
    );
}

#[test]
fn query_on_an_index_presses_the_index() {
    let found = targets(
        triage(&api_call(
            "Query",
            PTEE,
            json!({"tableName": "orders", "indexName": "by-customer"}),
        ))
        .unwrap(),
    );
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].on_table, Pressure::default());
    assert_eq!(found[0].on_indexes.get("by-customer"), Some(&Pressure::READ));
}

#[test]
fn batch_calls_name_every_table() {
    let found = targets(
        triage(&api_call(
            "BatchWriteItem",
            PTEE,
            json!({"requestItems": {"orders": [{}], "arn:aws:dynamodb:us-east-1:123456789012:table/customers": [{}]}}),
        ))
        .unwrap(),
    );
    let mut names: Vec<_> = found.iter().map(|t| t.table.as_str()).collect();
    names.sort();
    assert_eq!(names, ["customers", "orders"]);
    assert!(found.iter().all(|t| t.on_table == Pressure::WRITE));

    let reads = targets(
        triage(&api_call(
            "BatchGetItem",
            PTEE,
            json!({"requestItems": {"orders": {"keys": []}}}),
        ))
        .unwrap(),
    );
    assert_eq!(reads, vec![table("orders", Pressure::READ)]);
}

#[test]
fn transactions_name_tables_inside_their_items_once_each() {
    let found = targets(
        triage(&api_call(
            "TransactWriteItems",
            Some("ThrottlingException"),
            json!({"transactItems": [
                {"put": {"tableName": "orders"}},
                {"update": {"tableName": "customers"}},
                {"conditionCheck": {"tableName": "orders"}}
            ]}),
        ))
        .unwrap(),
    );
    assert_eq!(
        found,
        vec![
            table("orders", Pressure::WRITE),
            table("customers", Pressure::WRITE)
        ]
    );
}

#[test]
fn transactions_logged_as_a_request_item_list_name_their_tables() {
    let found = targets(
        triage(&api_call(
            "TransactWriteItems",
            PTEE,
            json!({"requestItems": [
                {"operation": "Put", "tableName": "orders"},
                {"operation": "Update", "tableName": "arn:aws:dynamodb:us-east-1:123456789012:table/customers"}
            ]}),
        ))
        .unwrap(),
    );
    assert_eq!(
        found,
        vec![
            table("orders", Pressure::WRITE),
            TableTarget {
                scope: Some(sample_home()),
                ..table("customers", Pressure::WRITE)
            }
        ]
    );
}

#[test]
fn transaction_items_may_spell_the_key_table_name() {
    let found = targets(
        triage(&api_call(
            "TransactWriteItems",
            PTEE,
            json!({"requestItems": [{"operation": "Delete", "TableName": "orders"}]}),
        ))
        .unwrap(),
    );
    assert_eq!(found, vec![table("orders", Pressure::WRITE)]);
}

#[test]
fn a_transaction_cancelled_by_throttling_is_a_throttle_and_other_cancellations_are_not() {
    let cancelled = |message: &str| {
        envelope(
            API_CALL_DETAIL_TYPE,
            json!({
                "eventSource": EVENT_SOURCE, "eventName": "TransactWriteItems",
                "errorCode": "TransactionCanceledException", "errorMessage": message,
                "eventID": "ct-9",
                "requestParameters": {"requestItems": [{"operation": "Put", "tableName": "orders"}]}
            }),
        )
    };
    let throttled = cancelled(
        "Transaction cancelled, please refer cancellation reasons for specific reasons [ThrottlingError, None]",
    );
    assert_eq!(
        targets(triage(&throttled).unwrap()),
        vec![table("orders", Pressure::WRITE)]
    );
    let conflict = cancelled(
        "Transaction cancelled, please refer cancellation reasons for specific reasons [ConditionalCheckFailed]",
    );
    assert_eq!(skipped(triage(&conflict).unwrap()).0, SkipReason::NotThrottle);
}

#[test]
fn non_throttles_and_other_sources_are_ignored() {
    let (reason, detail) =
        skipped(triage(&api_call("PutItem", None, json!({"tableName": "orders"}))).unwrap());
    assert_eq!(reason, SkipReason::NotThrottle);
    assert!(detail.contains("succeeded"), "{detail}");

    let (reason, detail) = skipped(
        triage(&api_call(
            "PutItem",
            Some("ConditionalCheckFailedException"),
            json!({"tableName": "orders"}),
        ))
        .unwrap(),
    );
    assert_eq!(reason, SkipReason::NotThrottle);
    assert!(detail.contains("ConditionalCheckFailedException"), "{detail}");

    let kms = envelope(
        API_CALL_DETAIL_TYPE,
        json!({"eventSource": "kms.amazonaws.com", "eventName": "Decrypt", "errorCode": "ThrottlingException"}),
    );
    assert_eq!(skipped(triage(&kms).unwrap()).0, SkipReason::NotOurs);

    let other = envelope(
        "EC2 Instance State-change Notification",
        json!({"state": "running"}),
    );
    assert_eq!(skipped(triage(&other).unwrap()).0, SkipReason::NotOurs);
}

#[test]
fn control_plane_and_partiql_throttles_are_ignored_with_advice() {
    let (reason, detail) = skipped(
        triage(&api_call(
            "DescribeTable",
            Some("ThrottlingException"),
            json!({"tableName": "orders"}),
        ))
        .unwrap(),
    );
    assert_eq!(reason, SkipReason::ControlPlane);
    assert!(detail.contains("rate limit"), "{detail}");

    let (_, detail) = skipped(
        triage(&api_call(
            "ExecuteStatement",
            PTEE,
            json!({"statement": "HIDDEN"}),
        ))
        .unwrap(),
    );
    assert!(detail.contains("PartiQL"), "{detail}");
}

#[test]
fn a_throttle_naming_no_table_is_an_error() {
    for params in [
        json!({}),
        json!(null),
        json!({"tableName": ""}),
        json!({"requestItems": []}),
    ] {
        let err = triage(&api_call("PutItem", PTEE, params.clone())).unwrap_err();
        assert!(matches!(err, TriggerError::NoResource { .. }), "{params}: {err}");
        assert!(err.to_string().contains("PutItem"), "{err}");
    }
}

fn alarm(state: &str, metrics: Value) -> Envelope {
    envelope(
        ALARM_DETAIL_TYPE,
        json!({
            "alarmName": "orders-throttles", "state": {"value": state},
            "previousState": {"value": "OK"}, "configuration": {"metrics": metrics}
        }),
    )
}

fn metric(name: &str, dimensions: Value) -> Value {
    json!({"id": "m1", "metricStat": {"metric": {"namespace": METRIC_NAMESPACE, "name": name, "dimensions": dimensions}, "period": 60, "stat": "Sum"}, "returnData": true})
}

#[test]
fn alarm_metrics_decide_table_index_and_side() {
    let cases = [
        (
            "WriteThrottleEvents",
            json!({"TableName": "orders"}),
            table("orders", Pressure::WRITE),
        ),
        (
            "ReadThrottleEvents",
            json!({"TableName": "orders"}),
            table("orders", Pressure::READ),
        ),
        // A cause metric names the cause too: no metrics lookup is needed.
        (
            "ReadKeyRangeThroughputThrottleEvents",
            json!({"TableName": "orders"}),
            TableTarget {
                cause: Some(Cause::KeyRangeThroughput),
                ..table("orders", Pressure::READ)
            },
        ),
        (
            "WriteProvisionedThroughputThrottleEvents",
            json!({"TableName": "orders"}),
            TableTarget {
                cause: Some(Cause::ProvisionedThroughput),
                ..table("orders", Pressure::WRITE)
            },
        ),
        (
            "WriteAccountLimitThrottleEvents",
            json!({"TableName": "orders"}),
            TableTarget {
                cause: Some(Cause::AccountLimit),
                ..table("orders", Pressure::WRITE)
            },
        ),
        (
            "ReadMaxOnDemandThroughputThrottleEvents",
            json!({"TableName": "orders"}),
            TableTarget {
                cause: Some(Cause::MaxOnDemandThroughput),
                ..table("orders", Pressure::READ)
            },
        ),
        (
            "ThrottledRequests",
            json!({"TableName": "orders", "Operation": "Query"}),
            table("orders", Pressure::READ),
        ),
        (
            "ThrottledRequests",
            json!({"TableName": "orders", "Operation": "BatchWriteItem"}),
            table("orders", Pressure::WRITE),
        ),
        (
            "ThrottledRequests",
            json!({"TableName": "orders"}),
            table("orders", Pressure::BOTH),
        ),
    ];
    for (name, dimensions, expected) in cases {
        let found = targets(triage(&alarm("ALARM", json!([metric(name, dimensions.clone())]))).unwrap());
        assert_eq!(found, vec![expected], "{name} {dimensions}");
    }

    let gsi = targets(
        triage(&alarm(
            "ALARM",
            json!([metric(
                "ReadThrottleEvents",
                json!({"TableName": "orders", "GlobalSecondaryIndexName": "by-customer"})
            )]),
        ))
        .unwrap(),
    );
    assert_eq!(gsi[0].on_table, Pressure::default());
    assert_eq!(gsi[0].on_indexes.get("by-customer"), Some(&Pressure::READ));
}

#[test]
fn metric_math_alarms_use_the_metrics_they_combine() {
    let math = json!([
        {"id": "e1", "expression": "m1+m2", "label": "throttles", "returnData": true},
        metric("WriteThrottleEvents", json!({"TableName": "orders"})),
        metric("ReadThrottleEvents", json!({"TableName": "orders"})),
    ]);
    let found = targets(triage(&alarm("ALARM", math)).unwrap());
    assert_eq!(found, vec![table("orders", Pressure::BOTH)]);
}

#[test]
fn alarms_not_in_alarm_or_not_on_throttles_are_ignored() {
    let ok = triage(&alarm(
        "OK",
        json!([metric("WriteThrottleEvents", json!({"TableName": "orders"}))]),
    ))
    .unwrap();
    let (reason, detail) = skipped(ok);
    assert_eq!(reason, SkipReason::NotThrottle);
    assert!(detail.contains("OK"), "{detail}");

    let cpu = json!([{"metricStat": {"metric": {"namespace": "AWS/EC2", "name": "CPUUtilization", "dimensions": {"InstanceId": "i-1"}}}}]);
    assert_eq!(
        skipped(triage(&alarm("ALARM", cpu)).unwrap()).0,
        SkipReason::NotOurs
    );

    let no_table = json!([metric("WriteThrottleEvents", json!({}))]);
    assert_eq!(
        skipped(triage(&alarm("ALARM", no_table)).unwrap()).0,
        SkipReason::NotOurs
    );

    let latency = json!([metric("SuccessfulRequestLatency", json!({"TableName": "orders"}))]);
    assert_eq!(
        skipped(triage(&alarm("ALARM", latency)).unwrap()).0,
        SkipReason::NotOurs
    );

    let composite = envelope(
        ALARM_DETAIL_TYPE,
        json!({"alarmName": "c", "state": {"value": "ALARM"}, "configuration": {"alarmRule": "ALARM(x)"}}),
    );
    assert_eq!(skipped(triage(&composite).unwrap()).0, SkipReason::NotOurs);
}

#[test]
fn table_and_index_names_follow_dynamodbs_rules() {
    assert_eq!(<DynamoDb as CapacitySignals>::NAME_RULE, TABLE_NAME);
    for good in ["abc", "orders", "a.b-c_D9", &"t".repeat(255)] {
        assert!(TABLE_NAME.admits(good) && INDEX_NAME.admits(good), "{good}");
    }
    for bad in [
        "",
        "ab",
        &"t".repeat(256),
        "a/b",
        "../orders",
        "or ders",
        "orders#1",
        "ördérs",
    ] {
        assert!(!TABLE_NAME.admits(bad) && !INDEX_NAME.admits(bad), "{bad}");
    }
}

#[test]
fn a_call_naming_an_invalid_table_names_nothing_and_says_why() {
    for (params, quoted) in [
        (json!({"tableName": "../orders"}), r#""../orders""#),
        (json!({"tableName": "ab"}), r#""ab""#),
        (
            json!({"tableName": "arn:aws:dynamodb:us-east-1:123456789012:table/a#b"}),
            r#""a#b""#,
        ),
        (json!({"requestItems": {"x/y": [{}]}}), r#""x/y""#),
        (
            json!({"transactItems": [{"put": {"tableName": "new\nline"}}]}),
            r#""new\nline""#,
        ),
    ] {
        let err = triage(&api_call("PutItem", PTEE, params.clone())).unwrap_err();
        assert!(
            matches!(err, TriggerError::NoResource { invalid: Some(_), .. }),
            "{params}: {err}"
        );
        let message = err.to_string();
        assert!(
            message.contains(&format!(
                "names no table it can act on: {quoted} is not a valid table name (3-255 characters"
            )),
            "{params}: {message}"
        );
    }
}

#[test]
fn a_long_invalid_name_is_quoted_cut_short() {
    let name = format!("{}/", "t".repeat(300));
    let err = triage(&api_call("PutItem", PTEE, json!({"tableName": name}))).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains(&format!("\"{}\"... is not a valid table name", "t".repeat(64))),
        "{message}"
    );
    assert!(message.len() < 400, "{message}");
}

#[test]
fn an_invalid_index_drops_its_reading_only() {
    let err = triage(&api_call(
        "Query",
        PTEE,
        json!({"tableName": "orders", "indexName": "by/customer"}),
    ))
    .unwrap_err();
    assert!(
        err.to_string()
            .contains(r#""by/customer" is not a valid index name"#),
        "{err}"
    );

    let gsi = |table: &str, index: &str| {
        metric(
            "ReadThrottleEvents",
            json!({"TableName": table, "GlobalSecondaryIndexName": index}),
        )
    };
    let found = targets(
        triage(&alarm(
            "ALARM",
            json!([
                gsi("orders", "x"),
                metric("WriteThrottleEvents", json!({"TableName": "orders"}))
            ]),
        ))
        .unwrap(),
    );
    assert_eq!(found, vec![table("orders", Pressure::WRITE)]);
}

#[test]
fn a_batch_keeps_its_valid_tables_and_drops_the_others() {
    let found = targets(
        triage(&api_call(
            "BatchWriteItem",
            PTEE,
            json!({"requestItems": {"orders": [{}], "../../etc": [{}], "": [{}], "customers": [{}]}}),
        ))
        .unwrap(),
    );
    let mut names: Vec<_> = found.iter().map(|t| t.table.as_str()).collect();
    names.sort();
    assert_eq!(names, ["customers", "orders"]);
}

#[test]
fn an_alarm_on_an_invalid_table_is_not_ours_and_says_why() {
    let (reason, detail) = skipped(
        triage(&alarm(
            "ALARM",
            json!([metric("WriteThrottleEvents", json!({"TableName": "a/../b"}))]),
        ))
        .unwrap(),
    );
    assert_eq!(reason, SkipReason::NotOurs);
    assert!(
        detail.contains(r#"with a TableName dimension it can act on: "a/../b" is not a valid table name"#),
        "{detail}"
    );
}

/// The data-plane list (which template.yaml's rules repeat) is exactly the calls the
/// trigger reads as using capacity.
#[test]
fn the_data_plane_list_is_what_the_trigger_reads_as_capacity() {
    for name in DATA_PLANE {
        assert!(!matches!(classify(name), Operation::ControlPlane), "{name}");
    }
    for name in [
        "DescribeTable",
        "UpdateTable",
        "ListTables",
        "CreateBackup",
        "ListTagsOfResource",
    ] {
        assert!(matches!(classify(name), Operation::ControlPlane), "{name}");
        assert!(!is_data_plane(name), "{name}");
    }
}
