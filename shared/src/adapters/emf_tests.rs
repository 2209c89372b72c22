use serde_json::{Value, json};

use super::*;
use crate::core::domain::Action;
use crate::core::report::Outcome;

fn report(outcome: Outcome, action: Option<Action>, code: Option<&'static str>) -> Report {
    let kinesis = <crate::kinesis::Kinesis as crate::core::service::Service>::ID;
    crate::testing::metric_report(kinesis, "clickstream", outcome, action, code)
}

#[tokio::test]
async fn each_report_is_one_embedded_metric_format_line() {
    let sink = EmfSink::new("Unthrottle", Vec::new());
    sink.publish(&[
        report(
            Outcome::Remediated,
            Some(crate::kinesis::UPDATE_SHARD_COUNT),
            None,
        ),
        report(Outcome::Skipped, None, Some("daily-limit")),
        report(Outcome::Planned, Some(crate::kinesis::UPDATE_SHARD_COUNT), None),
    ])
    .await
    .expect("written");

    let text = String::from_utf8(sink.into_inner()).expect("UTF-8");
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 2, "planned reports publish nothing: {text}");

    let auto_fix = &lines[0];
    assert!(auto_fix["_aws"]["Timestamp"].as_i64().is_some_and(|ms| ms > 0));
    assert_eq!(
        auto_fix["_aws"]["CloudWatchMetrics"],
        json!([{"Namespace": "Unthrottle", "Dimensions": [["Service", "Action"]], "Metrics": [{"Name": "AutoFix", "Unit": "Count"}]}])
    );
    assert_eq!(
        (&auto_fix["Service"], &auto_fix["Action"], &auto_fix["AutoFix"]),
        (&json!("Kinesis"), &json!("UpdateShardCount"), &json!(1))
    );

    let skipped = &lines[1];
    assert_eq!(
        skipped["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["Service", "Reason"]])
    );
    assert_eq!(
        (&skipped["Reason"], &skipped["Skipped"]),
        (&json!("daily-limit"), &json!(1))
    );
}
