//! Faults, through the real SDK adapter (aws-smithy-mocks, and a hung endpoint on
//! 127.0.0.1): each AWS error UpdateTable can answer ends in its documented outcome (see
//! docs/reliability.md), a change whose answer is lost is recorded as made, and a hung
//! endpoint fails within the clients' timeouts as a retryable error. Never a change without
//! its snapshot, never a change made twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration as StdDuration, Instant};

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_runtime_api::http::Response;
use chrono::Utc;
use integration_tests::mocks::{described_table, dynamodb_error, http};
use serde_json::json;
use unthrottle::core::domain::ResourceRef;
use unthrottle::core::error::ErrorKind;
use unthrottle::core::pipeline::{InvocationError, verdict};
use unthrottle::core::report::Outcome;
use unthrottle::dynamodb::{DynamoDb, SdkTables};
use unthrottle::testing::InMemory;
use unthrottle::testing::{default_dynamodb, dynamodb_throttle_event, in_memory, sample_table};

fn described(write: i64) -> Response {
    described_table(write)
}

fn aws_error(status: u16, code: &str) -> Response {
    dynamodb_error(status, code, &format!("{code} from the mock"))
}

fn pipeline(tables: SdkTables) -> InMemory<DynamoDb, SdkTables> {
    in_memory(default_dynamodb().expect("default settings"), tables)
}

fn orders() -> ResourceRef {
    sample_table()
}

fn put_item() -> serde_json::Value {
    dynamodb_throttle_event("evt-1", "PutItem", json!({"tableName": "orders"}))
}

#[tokio::test]
async fn each_error_updatetable_can_answer_ends_in_its_documented_outcome() {
    // (AWS error code, HTTP status, kind kept, Lambda retries the invocation)
    let cases = [
        ("LimitExceededException", 400, ErrorKind::Refused, false),
        ("ValidationException", 400, ErrorKind::Invalid, false),
        ("AccessDeniedException", 400, ErrorKind::AccessDenied, false),
        ("ResourceNotFoundException", 400, ErrorKind::NotFound, false),
        ("ResourceInUseException", 400, ErrorKind::Transient, true),
        ("ThrottlingException", 400, ErrorKind::Throttled, true),
        ("InternalServerError", 500, ErrorKind::Transient, true),
    ];
    let mut figures = Vec::new();
    for (code, status, kind, retried) in cases {
        let describe = mock!(aws_sdk_dynamodb::Client::describe_table).then_http_response(|| described(5));
        let tags = mock!(aws_sdk_dynamodb::Client::list_tags_of_resource)
            .then_http_response(|| http(200, json!({"Tags": []})));
        let update =
            mock!(aws_sdk_dynamodb::Client::update_table).then_http_response(move || aws_error(status, code));
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&describe, &tags, &update]);
        let pipeline = pipeline(integration_tests::mocks::tables(client));

        let reports = pipeline.handle(put_item(), Utc::now()).await.expect("readable");
        let report = reports[0].clone();
        assert_eq!(
            (report.outcome, report.code, report.error_kind, report.retryable),
            (Outcome::Failed, Some("apply"), Some(kind), Some(retried)),
            "{code}: {report:?}"
        );
        assert_eq!(
            pipeline.snapshots.objects().len(),
            1,
            "{code}: the snapshot came first"
        );
        assert_eq!(
            pipeline.ledger.claim_of(&orders()),
            None,
            "{code}: claim released"
        );
        assert_eq!(
            pipeline.ledger.refusal(&orders()).is_some(),
            kind == ErrorKind::Refused,
            "{code}: a refusal is backed off from, nothing else"
        );
        let invocation_error = matches!(verdict(reports), Err(InvocationError::Retryable(_)));
        assert_eq!(invocation_error, retried, "{code}");
        figures.push(format!(
            "{code}: {kind}, {} UpdateTable attempt(s), {} snapshot(s), invocation error: {invocation_error}",
            update.num_calls(),
            pipeline.snapshots.objects().len()
        ));
    }
    println!("{}", figures.join("\n"));
}

#[tokio::test]
async fn an_update_whose_answer_is_lost_is_recorded_as_made_once() {
    // DynamoDB made the change, but every answer was lost (the SDK retried into 5xx); a
    // describe afterwards shows the new capacity.
    let describes = Arc::new(AtomicUsize::new(0));
    let seen = describes.clone();
    let describe = mock!(aws_sdk_dynamodb::Client::describe_table).then_http_response(move || {
        let after_the_change = seen.fetch_add(1, Ordering::SeqCst) > 0;
        described(if after_the_change { 10 } else { 5 })
    });
    let tags = mock!(aws_sdk_dynamodb::Client::list_tags_of_resource)
        .then_http_response(|| http(200, json!({"Tags": []})));
    let update = mock!(aws_sdk_dynamodb::Client::update_table)
        .then_http_response(|| aws_error(500, "InternalServerError"));
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&describe, &tags, &update]);
    let pipeline = pipeline(integration_tests::mocks::tables(client));

    let report = pipeline
        .handle(put_item(), Utc::now())
        .await
        .expect("readable")
        .remove(0);
    assert_eq!(report.outcome, Outcome::Remediated, "{report:?}");
    assert_eq!(
        describes.load(Ordering::SeqCst),
        2,
        "described again after the error"
    );
    assert_eq!(pipeline.ledger.history(&orders()).len(), 1);
    assert!(
        pipeline.ledger.claim_of(&orders()).is_some(),
        "claim kept: no retry acts again"
    );

    // Lambda's retry of the event finds its claim: no second UpdateTable.
    let attempts = update.num_calls();
    let retry = pipeline
        .handle(put_item(), Utc::now())
        .await
        .expect("readable")
        .remove(0);
    assert_eq!(retry.code, Some("duplicate"), "{retry:?}");
    assert_eq!(update.num_calls(), attempts);
    println!(
        "lost answer: {} snapshot(s), {} UpdateTable attempt(s), retry {:?}",
        pipeline.snapshots.objects().len(),
        attempts,
        retry.code
    );
}

#[tokio::test]
async fn a_hung_endpoint_fails_within_the_timeouts_as_a_retryable_error() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    // The clients as the function builds them, pointed at the hung endpoint.
    let sdk = unthrottle::adapters::clients::load_sdk_config().await;
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "faults"))
        .endpoint_url(format!("http://{address}"))
        .build();
    let pipeline = pipeline(integration_tests::mocks::tables(
        aws_sdk_dynamodb::Client::from_conf(config),
    ));

    let started = Instant::now();
    let reports = pipeline.handle(put_item(), Utc::now()).await.expect("readable");
    let took = started.elapsed();
    held.abort();

    let report = &reports[0];
    assert_eq!(
        (report.outcome, report.code, report.error_kind),
        (Outcome::Failed, Some("describe"), Some(ErrorKind::Transient)),
        "{report:?}"
    );
    let bound = unthrottle::adapters::clients::OPERATION_TIMEOUT + StdDuration::from_secs(2);
    assert!(took <= bound, "took {took:?}, more than the operation timeout");
    assert!(matches!(verdict(reports), Err(InvocationError::Retryable(_))));
    assert!(pipeline.snapshots.objects().is_empty());
    println!(
        "hung endpoint: failed after {took:?}, {} snapshot(s)",
        pipeline.snapshots.objects().len()
    );
}

#[tokio::test]
async fn the_clients_retry_adaptively_within_bounded_timeouts() {
    use aws_sdk_dynamodb::config::retry::RetryMode;
    let sdk = unthrottle::adapters::clients::load_sdk_config().await;
    let retry = sdk.retry_config().expect("a retry config");
    assert_eq!((retry.mode(), retry.max_attempts()), (RetryMode::Adaptive, 3));
    let timeouts = sdk.timeout_config().expect("a timeout config");
    for (name, timeout) in [
        ("connect", timeouts.connect_timeout()),
        ("read", timeouts.read_timeout()),
        ("attempt", timeouts.operation_attempt_timeout()),
        ("operation", timeouts.operation_timeout()),
    ] {
        assert!(timeout.is_some(), "no {name} timeout");
    }
    assert_eq!(
        timeouts.operation_timeout(),
        Some(unthrottle::adapters::clients::OPERATION_TIMEOUT)
    );
}

#[tokio::test]
async fn a_stream_is_described_with_its_open_shards_only() {
    use aws_sdk_kinesis::types::ShardFilterType;
    use unthrottle::core::ports::Describe;
    use unthrottle::kinesis::{Kinesis, SdkStreams};

    let summary = mock!(aws_sdk_kinesis::Client::describe_stream_summary).then_http_response(|| {
        http(
            200,
            json!({"StreamDescriptionSummary": {
                "StreamName": "clickstream",
                "StreamARN": "arn:aws:kinesis:us-east-1:123456789012:stream/clickstream",
                "StreamStatus": "ACTIVE", "StreamModeDetails": {"StreamMode": "PROVISIONED"},
                "RetentionPeriodHours": 24, "StreamCreationTimestamp": 1.7e9,
                "EnhancedMonitoring": [], "OpenShardCount": 2
            }}),
        )
    });
    // Only a request that asks for the shards open now (AT_LATEST) is answered.
    let shards = mock!(aws_sdk_kinesis::Client::list_shards)
        .match_requests(|request| {
            request.shard_filter().map(|filter| filter.r#type()) == Some(&ShardFilterType::AtLatest)
        })
        .then_http_response(|| http(200, json!({"Shards": []})));
    let tags = mock!(aws_sdk_kinesis::Client::list_tags_for_stream)
        .then_http_response(|| http(200, json!({"Tags": [], "HasMoreTags": false})));
    // DescribeLimits allows one request per second per account: refused, the describe goes on
    // without the account's shard quota.
    let limits = mock!(aws_sdk_kinesis::Client::describe_limits).then_http_response(|| {
        http(
            400,
            json!({"__type": "LimitExceededException", "message": "Rate exceeded"}),
        )
    });
    let client = mock_client!(
        aws_sdk_kinesis,
        RuleMode::MatchAny,
        [&summary, &shards, &tags, &limits]
    );
    let described = Describe::<Kinesis>::describe(
        &SdkStreams::new(client, integration_tests::mocks::cloudwatch_without_data()),
        &ResourceRef {
            service: <Kinesis as unthrottle::core::service::Service>::ID,
            name: "clickstream".into(),
            ..orders()
        },
    )
    .await
    .expect("described");
    assert_eq!(described.state.open_shards, 2);
    assert_eq!(described.state.account, None, "planned without the quota");
    assert!(limits.num_calls() >= 1, "DescribeLimits was asked");
    assert_eq!(
        shards.num_calls(),
        1,
        "ListShards asked with the open-shards filter"
    );
}
