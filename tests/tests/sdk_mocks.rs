//! SDK paths the emulators cannot produce, with aws-smithy-mocks: AWS refusing an
//! UpdateTable (dynalite enforces no switch or decrease limits), DescribeTable throttled
//! itself, and PutMetricData and GetMetricData (whose CBOR protocol moto cannot decode).

use aws_sdk_cloudwatch::operation::put_metric_data::PutMetricDataOutput;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use chrono::Utc;
use integration_tests::mocks::{described_table, dynamodb_error, http};
use serde_json::json;
use unthrottle::adapters::cloudwatch::PutMetricDataSink;
use unthrottle::core::domain::{Action, ResourceRef};
use unthrottle::core::error::ErrorKind;
use unthrottle::core::plan::SkipReason;
use unthrottle::core::ports::Metrics;
use unthrottle::core::report::{Outcome, Report};
use unthrottle::core::service::Service;
use unthrottle::dynamodb::{DynamoDb, SCALE_CAPACITY, SdkTables};
use unthrottle::testing::InMemory;
use unthrottle::testing::{
    default_dynamodb, dynamodb_throttle_event, in_memory, metric_report, sample_table,
};

fn describe_table_response() -> Response {
    described_table(5)
}

fn aws_error(code: &str, message: &str) -> Response {
    dynamodb_error(400, code, message)
}

fn pipeline(tables: SdkTables) -> InMemory<DynamoDb, SdkTables> {
    in_memory(default_dynamodb().expect("default settings"), tables)
}

fn orders() -> ResourceRef {
    sample_table()
}

#[tokio::test]
async fn update_table_refused_by_aws_fails_keeps_the_snapshot_and_frees_the_table() {
    let describe =
        mock!(aws_sdk_dynamodb::Client::describe_table).then_http_response(describe_table_response);
    let tags = mock!(aws_sdk_dynamodb::Client::list_tags_of_resource)
        .then_http_response(|| http(200, json!({"Tags": []})));
    let update = mock!(aws_sdk_dynamodb::Client::update_table)
        .match_requests(|request| {
            request.provisioned_throughput().map(|t| t.write_capacity_units()) == Some(10)
                && request.provisioned_throughput().map(|t| t.read_capacity_units()) == Some(5)
        })
        .then_http_response(|| {
            aws_error(
                "LimitExceededException",
                "Subscriber limit exceeded: Provisioned throughput decreases are limited",
            )
        });
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&describe, &tags, &update]);
    let pipeline = pipeline(integration_tests::mocks::tables(client));

    let reports = pipeline
        .handle(
            dynamodb_throttle_event("evt-1", "PutItem", json!({"tableName": "orders"})),
            Utc::now(),
        )
        .await
        .expect("readable");

    assert_eq!(reports.len(), 1);
    let report = &reports[0];
    assert_eq!(
        (report.outcome, report.code),
        (Outcome::Failed, Some("apply")),
        "{report:?}"
    );
    assert!(
        report.reason.contains("LimitExceededException"),
        "{}",
        report.reason
    );
    // The SDK counts LimitExceededException as throttling and retries it: 3 attempts in
    // all (standard retry mode, the bound load_sdk_config also sets), each raising only
    // the write side.
    assert_eq!(
        update.num_calls(),
        3,
        "UpdateTable attempts are bounded by the SDK retry policy"
    );
    let snapshots = pipeline.snapshots.objects();
    assert_eq!(snapshots.len(), 1);
    assert_eq!(
        snapshots[0].1["describe"]["Table"]["ProvisionedThroughput"]["NumberOfDecreasesToday"],
        json!(0),
        "the snapshot holds DescribeTable's response as sent, fields our types ignore included"
    );
    assert_eq!(
        pipeline.ledger.claim_of(&orders()),
        None,
        "claim released so a retry can act"
    );
}

#[tokio::test]
async fn describe_table_throttled_itself_fails_without_any_write() {
    let describe = mock!(aws_sdk_dynamodb::Client::describe_table)
        .then_http_response(|| aws_error("ThrottlingException", "Rate exceeded"));
    let update = mock!(aws_sdk_dynamodb::Client::update_table).then_http_response(|| http(200, json!({})));
    // Asked for beside DescribeTable, and answered: the describe's own error is what counts.
    let tags = mock!(aws_sdk_dynamodb::Client::list_tags_of_resource)
        .then_http_response(|| http(200, json!({"Tags": []})));
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&describe, &update, &tags]);
    let pipeline = pipeline(integration_tests::mocks::tables(client));

    let reports = pipeline
        .handle(
            dynamodb_throttle_event("evt-2", "PutItem", json!({"tableName": "orders"})),
            Utc::now(),
        )
        .await
        .expect("readable");

    assert_eq!(
        (reports[0].outcome, reports[0].code),
        (Outcome::Failed, Some("describe")),
        "{reports:?}"
    );
    assert_eq!(
        (reports[0].error_kind, reports[0].retryable),
        (Some(ErrorKind::Throttled), Some(true)),
        "DescribeTable's ThrottlingException keeps its kind from the SDK adapter to the result"
    );
    assert!(
        reports[0].reason.contains("DescribeTable on orders failed"),
        "{}",
        reports[0].reason
    );
    assert_eq!(update.num_calls(), 0);
    assert!(pipeline.snapshots.objects().is_empty());
    let orders = unthrottle::testing::sample_table();
    assert_eq!(
        pipeline.ledger.lease_of(&orders),
        None,
        "the lease was given back"
    );
    assert_eq!(pipeline.ledger.claim_of(&orders), None, "nothing claimed");
    assert!(pipeline.ledger.history(&orders).is_empty(), "nothing recorded");
}

#[tokio::test]
async fn describe_table_of_a_deleted_table_is_skipped_as_not_found() {
    let describe = mock!(aws_sdk_dynamodb::Client::describe_table).then_http_response(|| {
        aws_error(
            "ResourceNotFoundException",
            "Requested resource not found: Table: orders not found",
        )
    });
    let tags = mock!(aws_sdk_dynamodb::Client::list_tags_of_resource)
        .then_http_response(|| aws_error("ResourceNotFoundException", "Requested resource not found"));
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&describe, &tags]);
    let reports = pipeline(integration_tests::mocks::tables(client))
        .handle(
            dynamodb_throttle_event("evt-3", "PutItem", json!({"tableName": "orders"})),
            Utc::now(),
        )
        .await
        .expect("readable");
    assert_eq!(
        (reports[0].outcome, reports[0].code),
        (Outcome::Skipped, Some("not-found")),
        "{reports:?}"
    );
}

fn report(outcome: Outcome, action: Option<Action>, code: Option<&'static str>) -> Report {
    metric_report(DynamoDb::ID, "orders", outcome, action, code)
}

#[tokio::test]
async fn put_metric_data_sends_one_count_per_report_with_its_dimensions() {
    let put = mock!(aws_sdk_cloudwatch::Client::put_metric_data)
        .match_requests(|request| {
            // Each datum as "Name Dim=Value ... value": easy to read when it fails.
            let sent: Vec<String> = request
                .metric_data()
                .iter()
                .map(|datum| {
                    let dimensions: Vec<String> = datum
                        .dimensions()
                        .iter()
                        .map(|d| {
                            format!(
                                "{}={}",
                                d.name().unwrap_or_default(),
                                d.value().unwrap_or_default()
                            )
                        })
                        .collect();
                    format!(
                        "{} {} {:?}",
                        datum.metric_name().unwrap_or_default(),
                        dimensions.join(" "),
                        datum.value()
                    )
                })
                .collect();
            request.namespace() == Some("Team/Unthrottle")
                && sent
                    == [
                        "AutoFix Service=DynamoDB Action=ScaleCapacity Some(1.0)",
                        "Skipped Service=DynamoDB Reason=at-cap Some(1.0)",
                        "Failed Service=DynamoDB Reason=snapshot Some(1.0)",
                    ]
        })
        .then_output(|| PutMetricDataOutput::builder().build());
    let client = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&put]);
    let sink = PutMetricDataSink::new(client, "Team/Unthrottle");

    sink.publish(&[
        report(Outcome::Remediated, Some(SCALE_CAPACITY), None),
        report(Outcome::Skipped, None, Some(SkipReason::AtCap.code())),
        report(Outcome::Failed, None, Some("snapshot")),
        report(Outcome::Planned, Some(SCALE_CAPACITY), None),
    ])
    .await
    .expect("published");
    assert_eq!(
        put.num_calls(),
        1,
        "one call, matching namespace and data (planned reports publish nothing)"
    );

    sink.publish(&[report(Outcome::Planned, Some(SCALE_CAPACITY), None)])
        .await
        .expect("nothing to send");
    assert_eq!(put.num_calls(), 1, "no call when there is nothing to count");
}

#[tokio::test]
async fn put_metric_data_failure_is_reported_as_an_error() {
    let put = mock!(aws_sdk_cloudwatch::Client::put_metric_data).then_http_response(|| {
        Response::new(
            StatusCode::try_from(403).expect("status"),
            SdkBody::from("denied"),
        )
    });
    let client = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&put]);
    let error = PutMetricDataSink::new(client, "Unthrottle")
        .publish(&[report(Outcome::Remediated, Some(SCALE_CAPACITY), None)])
        .await
        .expect_err("403 is an error");
    assert!(
        error.to_string().contains("PutMetricData on Unthrottle failed"),
        "{error}"
    );
}

/// The diagnosis asks CloudWatch for the table's metrics by name (namespace, TableName,
/// one-minute Sums over the last five minutes) and its GSIs' through one SEARCH, and files
/// the answer, gaps and all.
#[tokio::test]
async fn get_metric_data_asks_for_the_table_and_its_gsis_and_reads_gaps() {
    use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
    use aws_sdk_cloudwatch::types::MetricDataResult;
    use unthrottle::core::diagnosis::{Diagnosis, Sums};
    use unthrottle::dynamodb::{Cause, TableTarget, metrics};

    let now = chrono::DateTime::parse_from_rfc3339("2026-11-20T10:15:42Z")
        .expect("time")
        .with_timezone(&Utc);
    let get = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .match_requests(move |request| {
            let queries = request.metric_data_queries();
            let by_name = queries.iter().filter_map(|q| q.metric_stat()).all(|stat| {
                let metric = stat.metric().expect("a metric");
                let dimensions = metric.dimensions();
                metric.namespace() == Some("AWS/DynamoDB")
                    && dimensions.len() == 1
                    && dimensions[0].name() == Some("TableName")
                    && dimensions[0].value() == Some("orders")
                    && stat.period() == Some(60)
                    && stat.stat() == Some("Sum")
            });
            let searches: Vec<&str> = queries.iter().filter_map(|q| q.expression()).collect();
            by_name
                && queries.len() == 7
                && searches.len() == 1
                && searches[0]
                    .contains("{AWS/DynamoDB,GlobalSecondaryIndexName,TableName} TableName=\"orders\"")
                && request.start_time().map(|t| t.secs()) == Some(now.timestamp() - 42 - 300)
                && request.end_time().map(|t| t.secs()) == Some(now.timestamp() - 42)
        })
        .then_output(|| {
            let result = |id: &str, label: &str, values: &[f64]| {
                MetricDataResult::builder()
                    .id(id)
                    .label(label)
                    .set_values(Some(values.to_vec()))
                    .build()
            };
            GetMetricDataOutput::builder()
                // Consumed writes with two minutes missing; KeyRange throttles in one minute.
                .metric_data_results(result("t0", "ConsumedWriteCapacityUnits", &[600.0, 900.0, 300.0]))
                .metric_data_results(result("t3", "WriteKeyRangeThroughputThrottleEvents", &[12.0]))
                .metric_data_results(result("t2", "WriteProvisionedThroughputThrottleEvents", &[]))
                .metric_data_results(result(
                    "gsis",
                    "orders by-customer WriteProvisionedThroughputThrottleEvents",
                    &[3.0, 4.0],
                ))
                .build()
        });
    let client = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&get]);
    let target = TableTarget::new("orders", None, unthrottle::core::domain::Pressure::WRITE);

    let Diagnosis::Measured(found) = metrics::diagnose(&client, &target, now).await else {
        panic!("the request did not match what the diagnosis must ask for");
    };
    assert_eq!(get.num_calls(), 1);
    assert_eq!(found.table.write.consumed, Sums(vec![600.0, 900.0, 300.0]));
    assert_eq!(found.table.write.consumed.peak_per_second(), Some(15.0));
    assert_eq!(
        found.table.write.dominant_cause(),
        Some(Cause::KeyRangeThroughput)
    );
    assert_eq!(
        found.indexes["by-customer"].write.by_cause[&Cause::ProvisionedThroughput],
        Sums(vec![3.0, 4.0])
    );
}

/// A failed lookup never fails the remediation: it says why and the fixed step applies.
#[tokio::test]
async fn get_metric_data_refused_is_unavailable_not_an_error() {
    use unthrottle::core::diagnosis::Diagnosis;
    use unthrottle::dynamodb::{TableTarget, metrics};

    let denied = mock!(aws_sdk_cloudwatch::Client::get_metric_data).then_http_response(|| {
        Response::new(
            StatusCode::try_from(403).expect("status"),
            SdkBody::from("denied"),
        )
    });
    let client = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&denied]);
    let target = TableTarget::new("orders", None, unthrottle::core::domain::Pressure::READ);

    match metrics::diagnose(&client, &target, Utc::now()).await {
        Diagnosis::Unavailable(why) => assert!(why.contains("GetMetricData on orders"), "{why}"),
        other => panic!("{other:?}"),
    }

    assert_eq!(denied.num_calls(), 1);
}

/// A Quota Pressure event goes to the default bus with source `unthrottle`; an entry
/// EventBridge refuses (it answers 200 and says so in the entry) is an error.
#[tokio::test]
async fn put_events_sends_the_announcement_and_reads_refused_entries() {
    use aws_sdk_eventbridge::operation::put_events::PutEventsOutput;
    use aws_sdk_eventbridge::types::PutEventsResultEntry;
    use unthrottle::adapters::events::EventBridgeBus;
    use unthrottle::core::ports::Announce;

    let accepted = mock!(aws_sdk_eventbridge::Client::put_events)
        .match_requests(|request| {
            let entries = request.entries();
            entries.len() == 1
                && entries[0].source() == Some("unthrottle")
                && entries[0].detail_type() == Some("Quota Pressure")
                && entries[0].event_bus_name().is_none()
                && entries[0]
                    .detail()
                    .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
                    == Some(json!({"resource": "customers"}))
        })
        .then_output(|| {
            PutEventsOutput::builder()
                .failed_entry_count(0)
                .entries(PutEventsResultEntry::builder().event_id("e-1").build())
                .build()
        });
    let client = mock_client!(aws_sdk_eventbridge, RuleMode::MatchAny, [&accepted]);
    EventBridgeBus::new(client)
        .announce("Quota Pressure", &json!({"resource": "customers"}))
        .await
        .expect("put");
    assert_eq!(accepted.num_calls(), 1);

    let refused = mock!(aws_sdk_eventbridge::Client::put_events).then_output(|| {
        PutEventsOutput::builder()
            .failed_entry_count(1)
            .entries(
                PutEventsResultEntry::builder()
                    .error_code("InternalFailure")
                    .error_message("try again")
                    .build(),
            )
            .build()
    });
    let client = mock_client!(aws_sdk_eventbridge, RuleMode::MatchAny, [&refused]);
    let error = EventBridgeBus::new(client)
        .announce("Quota Pressure", &json!({}))
        .await
        .expect_err("a refused entry");
    assert!(error.retryable(), "{error}");
    assert!(error.to_string().contains("InternalFailure"), "{error}");
}

/// The sample alarms, dated now so they are not too old.
fn alarm_sample(path: &str) -> serde_json::Value {
    unthrottle::testing::happened_at(integration_tests::sample(path), Utc::now())
}

/// `RAISE_ON_DEMAND_MAX=on`: the table's read maximum doubles in one UpdateTable that sends
/// both maximums (-1 is "no maximum"), after a snapshot. dynalite and moto lack
/// OnDemandThroughput, so the SDK is mocked.
#[tokio::test]
async fn raising_an_on_demand_maximum_sends_both_maximums_in_one_update_table() {
    let describe = mock!(aws_sdk_dynamodb::Client::describe_table).then_http_response(|| {
        http(
            200,
            json!({"Table": {
                "TableName": "sessions",
                "TableArn": "arn:aws:dynamodb:us-east-1:123456789012:table/sessions",
                "TableStatus": "ACTIVE",
                "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
                "ProvisionedThroughput": {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0, "NumberOfDecreasesToday": 0},
                "OnDemandThroughput": {"MaxReadRequestUnits": 400, "MaxWriteRequestUnits": -1}
            }}),
        )
    });
    let tags = mock!(aws_sdk_dynamodb::Client::list_tags_of_resource)
        .then_http_response(|| http(200, json!({"Tags": []})));
    let update = mock!(aws_sdk_dynamodb::Client::update_table)
        .match_requests(|request| {
            request.table_name() == Some("sessions")
                && request.provisioned_throughput().is_none()
                && request.billing_mode().is_none()
                && request
                    .on_demand_throughput()
                    .map(|t| (t.max_read_request_units(), t.max_write_request_units()))
                    == Some((Some(800), Some(-1)))
        })
        .then_http_response(|| http(200, json!({})));
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&describe, &tags, &update]);
    let mut service = default_dynamodb().expect("default settings");
    service.policy.raise_on_demand_max = true;
    let pipeline = in_memory(service, integration_tests::mocks::tables(client));

    let reports = pipeline
        .handle(
            alarm_sample("dynamodb/alarm-read-max-on-demand-throttle.json"),
            Utc::now(),
        )
        .await
        .expect("readable");

    let report = &reports[0];
    assert_eq!(report.outcome, Outcome::Remediated, "{report:?}");
    assert_eq!(
        report.action.as_ref().map(|a| a.name()),
        Some("RaiseOnDemandMaximum")
    );
    assert_eq!(report.cause, Some("on-demand-max"));
    assert_eq!(update.num_calls(), 1, "the request matched what must be sent");
    let snapshots = pipeline.snapshots.objects();
    assert_eq!(snapshots.len(), 1);
    assert_eq!(
        snapshots[0].1["describe"]["Table"]["OnDemandThroughput"]["MaxReadRequestUnits"],
        400
    );
}

/// A hot key on a table tagged `unthrottle:contributor-insights=true`: Contributor Insights
/// turned on (throttled keys) for it, after a snapshot; the result is still the finding.
#[tokio::test]
async fn a_tagged_hot_key_turns_contributor_insights_on_and_stays_a_finding() {
    let describe =
        mock!(aws_sdk_dynamodb::Client::describe_table).then_http_response(describe_table_response);
    let tags = mock!(aws_sdk_dynamodb::Client::list_tags_of_resource).then_http_response(|| {
        http(
            200,
            json!({"Tags": [{"Key": "unthrottle:contributor-insights", "Value": "true"}]}),
        )
    });
    let status = mock!(aws_sdk_dynamodb::Client::describe_contributor_insights).then_http_response(|| {
        http(
            200,
            json!({"TableName": "orders", "ContributorInsightsStatus": "DISABLED"}),
        )
    });
    let insights = mock!(aws_sdk_dynamodb::Client::update_contributor_insights)
        .match_requests(|request| {
            request.table_name() == Some("orders")
                && request.index_name().is_none()
                && request.contributor_insights_action()
                    == Some(&aws_sdk_dynamodb::types::ContributorInsightsAction::Enable)
                && request.contributor_insights_mode()
                    == Some(&aws_sdk_dynamodb::types::ContributorInsightsMode::ThrottledKeys)
        })
        .then_http_response(|| {
            http(
                200,
                json!({"TableName": "orders", "ContributorInsightsStatus": "ENABLING"}),
            )
        });
    let update = mock!(aws_sdk_dynamodb::Client::update_table).then_http_response(|| http(200, json!({})));
    let client = mock_client!(
        aws_sdk_dynamodb,
        RuleMode::MatchAny,
        [&describe, &tags, &status, &insights, &update]
    );
    let pipeline = pipeline(integration_tests::mocks::tables(client));

    let reports = pipeline
        .handle(
            alarm_sample("dynamodb/alarm-write-key-range-throttle.json"),
            Utc::now(),
        )
        .await
        .expect("readable");

    let report = &reports[0];
    assert_eq!(report.outcome, Outcome::Diagnosed, "{report:?}");
    assert_eq!(report.code, Some("hot-partition"));
    assert_eq!(
        report.action.as_ref().map(|a| a.name()),
        Some("EnableContributorInsights")
    );
    assert!(report.snapshot.is_some());
    assert_eq!(insights.num_calls(), 1, "the request matched what must be sent");
    assert_eq!(status.num_calls(), 1, "what was on is read first");
    assert_eq!(update.num_calls(), 0, "no capacity change for a hot key");
    assert_eq!(
        report.before,
        Some(json!({"contributorInsights": {"status": "DISABLED"}}))
    );
    assert_eq!(
        pipeline.ledger.history(&orders()),
        Vec::new(),
        "no fix to count or verify"
    );
}

/// The stream's diagnosis asks for its five stream-level metrics as one-minute Sums and
/// files the answer by query id, gaps and all.
#[tokio::test]
async fn get_metric_data_for_a_stream_asks_for_its_metrics_and_reads_gaps() {
    use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
    use aws_sdk_cloudwatch::types::MetricDataResult;
    use unthrottle::core::diagnosis::{Diagnosis, Sums};
    use unthrottle::kinesis::{StreamTarget, metrics};

    let get = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .match_requests(|request| {
            let names: Vec<&str> = request
                .metric_data_queries()
                .iter()
                .filter_map(|q| {
                    let stat = q.metric_stat()?;
                    let metric = stat.metric()?;
                    let dimensions = metric.dimensions();
                    (metric.namespace() == Some("AWS/Kinesis")
                        && dimensions.len() == 1
                        && dimensions[0].name() == Some("StreamName")
                        && dimensions[0].value() == Some("clickstream")
                        && stat.period() == Some(60)
                        && stat.stat() == Some("Sum"))
                    .then_some(metric.metric_name()?)
                })
                .collect();
            let by_shard: Vec<&str> = request
                .metric_data_queries()
                .iter()
                .filter_map(|q| q.expression())
                .collect();
            names == ["IncomingBytes", "IncomingRecords", "GetRecords.Bytes"]
                && by_shard
                    == [
                        "SELECT SUM(WriteProvisionedThroughputExceeded) FROM SCHEMA(\"AWS/Kinesis\", ShardId, StreamName) \
                         WHERE StreamName = 'clickstream' GROUP BY ShardId",
                    ]
        })
        .then_output(|| {
            GetMetricDataOutput::builder()
                .metric_data_results(
                    MetricDataResult::builder()
                        .id("incoming_bytes")
                        .set_values(Some(vec![60.0, 120.0]))
                        .build(),
                )
                .metric_data_results(
                    MetricDataResult::builder()
                        .id("read_bytes")
                        .set_values(Some(vec![]))
                        .build(),
                )
                .metric_data_results(
                    MetricDataResult::builder()
                        .id("by_shard")
                        .label("shardId-000000000001")
                        .set_values(Some(vec![7.0, 3.0]))
                        .build(),
                )
                .build()
        });
    let client = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&get]);
    let target = StreamTarget {
        stream: "clickstream".into(),
        pressure: unthrottle::core::domain::Pressure::WRITE,
        scope: None,
    };

    let Diagnosis::Measured(found) = metrics::diagnose(&client, &target, Utc::now()).await else {
        panic!("the request did not match what the diagnosis must ask for");
    };
    assert_eq!(found.incoming_bytes, Sums(vec![60.0, 120.0]));
    assert_eq!(found.incoming_bytes.peak_per_second(), Some(2.0));
    assert!(found.read_bytes.is_empty() && found.incoming_records.is_empty());
    assert_eq!(
        found.throttled_by_shard["shardId-000000000001"],
        Sums(vec![7.0, 3.0])
    );
}

/// Where DynamoDB returns the item with a refused condition (`ReturnValuesOnConditionCheckFailure`,
/// which dynalite does not implement), a duplicate or an event in cooldown costs the one
/// refused claim: the item says why, and nothing is read again.
#[tokio::test]
async fn a_refused_claim_is_one_call_where_dynamodb_returns_the_item() {
    use unthrottle::adapters::ledger::DynamoDbLedger;
    use unthrottle::core::ledger::{Admission, Held, Ticket};
    use unthrottle::core::ports::Ledger;

    let now = Utc::now();
    let until = now + chrono::Duration::minutes(4);
    let refused = mock!(aws_sdk_dynamodb::Client::update_item)
        .match_requests(|request| {
            request
                .return_values_on_condition_check_failure()
                .map(|r| r.as_str())
                == Some("ALL_OLD")
        })
        .then_http_response(move || {
            http(
                400,
                json!({
                    "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
                    "message": "The conditional request failed",
                    "Item": {
                        "pk": {"S": "dynamodb#123456789012#us-east-1#orders"},
                        "sk": {"S": "claim"},
                        "holder": {"S": "evt-1"},
                        "invocation": {"S": "request-1"},
                        "until": {"N": until.timestamp().to_string()},
                    }
                }),
            )
        });
    let read = mock!(aws_sdk_dynamodb::Client::get_item).then_http_response(|| http(200, json!({})));
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&refused, &read]);
    let ledger = DynamoDbLedger::new(client, "ledger");

    for (event, held) in [("evt-1", "duplicate"), ("evt-2", "cooling-down")] {
        let ticket = Ticket {
            resource: orders(),
            event_id: event.into(),
            invocation: format!("request-of-{event}"),
            now,
            lease: chrono::Duration::minutes(4),
            cooldown: chrono::Duration::minutes(5),
        };
        let Admission::Held(view) = ledger.claim(&ticket).await.expect("an answer") else {
            panic!("granted over a claim");
        };
        let why = view.holds_back(event, &ticket.invocation, now);
        let code = match why {
            Some(Held::Duplicate { .. }) => "duplicate",
            Some(Held::CoolingDown { .. } | Held::InFlight { .. }) => "cooling-down",
            other => panic!("{other:?}"),
        };
        assert_eq!(code, held);
    }
    assert_eq!(refused.num_calls(), 2);
    assert_eq!(
        read.num_calls(),
        0,
        "the refusal carried the item: nothing read again"
    );
}
