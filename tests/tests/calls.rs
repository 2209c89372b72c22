//! The AWS calls each kind of event costs, counted on the wire (tests/src/calls.rs) while the
//! functions' real adapters run against the emulators: what a remediation, a diagnosis, a
//! duplicate (api-throttle's redelivery too), an event in cooldown and a non-throttle event
//! send, and that the metrics lookup rides beside the describe. `make bench` reports the same figures in docs/benchmarks.md.

use chrono::Utc;
use integration_tests::calls::{Call, critical_path, operations, overlapped, sequential_round_trips};
use integration_tests::{World, expected_skips};
use serde_json::json;
use unthrottle::adapters::Deploy;
use unthrottle::api::Api;
use unthrottle::core::report::Outcome;
use unthrottle::dynamodb::DynamoDb;
use unthrottle::kinesis::Kinesis;

fn only<'a>(calls: &'a [Call], operation: &str) -> &'a Call {
    let found: Vec<&Call> = calls.iter().filter(|c| c.operation == operation).collect();
    assert_eq!(found.len(), 1, "one {operation}: {:?}", operations(calls));
    found[0]
}

/// The lookup beside the describe adds at most one sequential round trip: the critical path
/// with it is at most one longer than the same calls without it.
fn assert_lookup_rides_beside(calls: &[Call], describe: &str) {
    let lookup = only(calls, "GetMetricData");
    assert!(
        overlapped(lookup, only(calls, describe)),
        "GetMetricData in flight with {describe}: {:?}",
        operations(calls)
    );
    let without: Vec<Call> = calls
        .iter()
        .filter(|c| c.operation != "GetMetricData")
        .cloned()
        .collect();
    assert!(
        sequential_round_trips(calls) <= sequential_round_trips(&without) + 1,
        "{} round trips with the lookup, {} without",
        sequential_round_trips(calls),
        sequential_round_trips(&without)
    );
}

/// A remediation's calls, pinned (sorted), and its sequential round trips: the figures
/// docs/benchmarks.md reports, at issue 14's target (4 round trips: the claim, the describe
/// with its lookups, the commit beside the snapshot, the change; 2 ledger calls). A change
/// to them is deliberate.
fn assert_costs(calls: &[Call], expected: &[&str], round_trips: usize) {
    let mut sent = operations(calls);
    sent.sort_unstable();
    assert_eq!(sent, expected, "the calls of a remediation");
    assert_eq!(
        sequential_round_trips(calls),
        round_trips,
        "sequential round trips: {:?}",
        critical_path(calls)
    );
}

/// The refused claim against dynalite: it returns no item with a refused condition, so the
/// ledger reads the item with one GetItem more.
const REFUSED_CLAIM_ON_DYNALITE: [&str; 2] = ["UpdateItem", "GetItem"];

/// A duplicate and an event of the same incident in cooldown: the refused claim, no metrics
/// lookup, no describe, no tags. Where the ledger's DynamoDB returns the item with the
/// refusal (DynamoDB, moto) that is one call; on dynalite, `REFUSED_CLAIM_ON_DYNALITE`.
async fn assert_repeats_cost_one_refused_claim<S: Deploy>(
    world: &World<S>,
    event: serde_json::Value,
    refused_claim: &[&str],
) {
    let again = world.run(event.clone(), Utc::now()).await;
    assert_eq!(again.code, Some("duplicate"), "{again:?}");
    assert_eq!(operations(&world.aws.calls.take()), refused_claim, "a duplicate");

    let mut other = event;
    other["id"] = json!("another-event-of-the-incident");
    if other["detail"]["eventID"].is_string() {
        other["detail"]["eventID"] = json!("another-cloudtrail-record");
    }
    let cooling = world.run(other, Utc::now()).await;
    assert_eq!(cooling.code, Some("cooling-down"), "{cooling:?}");
    assert_eq!(operations(&world.aws.calls.take()), refused_claim, "in cooldown");
}

/// Remediates a fresh 5/5 table of `world` on the throttled-PutItem sample: the event, and
/// the calls the remediation made.
async fn remediate_a_table(world: &World<DynamoDb>) -> (serde_json::Value, Vec<Call>) {
    world.aws.create_table(&world.name, 5, 5, &[]).await;
    world.aws.calls.take();
    let event = world.event("cloudtrail-putitem-throttled.json");
    let report = world.run(event.clone(), Utc::now()).await;
    assert_eq!(report.outcome, Outcome::Remediated, "{report:?}");
    (event, world.aws.calls.take())
}

#[tokio::test]
async fn a_table_remediation_is_four_round_trips_and_a_repeat_one_refused_claim() {
    let world: World<DynamoDb> = World::new(("dynamodb", "orders"), &[]).await;
    let (event, calls) = remediate_a_table(&world).await;
    assert!(
        only(&calls, "UpdateTable").started > only(&calls, "PutObject").ended,
        "the snapshot before the change"
    );
    assert_lookup_rides_beside(&calls, "DescribeTable");
    assert_costs(
        &calls,
        &[
            "DescribeScalableTargets",
            "DescribeTable",
            "GetMetricData",
            "ListTagsOfResource",
            "PutObject",
            "UpdateItem",
            "UpdateItem",
            "UpdateTable",
        ],
        4,
    );

    assert_repeats_cost_one_refused_claim(&world, event, &REFUSED_CLAIM_ON_DYNALITE).await;
}

/// With the ledger on an emulator that returns the item with a refused condition, as DynamoDB
/// does (moto; the table stays on dynalite), a duplicate and a cooldown are one call each:
/// the refused claim, which says why.
#[tokio::test]
async fn a_repeat_is_one_call_where_the_refused_claim_returns_the_item() {
    let mut world: World<DynamoDb> = World::new(("dynamodb", "orders"), &[]).await;
    world.pipeline.ledger = world
        .aws
        .ledger_on_moto(&world.stores.ledger)
        .await
        .expect("ledger on moto");
    let (event, calls) = remediate_a_table(&world).await;
    assert_eq!(
        calls.iter().filter(|call| call.operation == "UpdateItem").count(),
        2,
        "the claim and the commit: {:?}",
        operations(&calls)
    );
    let raised = world.aws.wait_active(&world.name).await;
    assert_eq!(
        raised
            .provisioned_throughput()
            .and_then(|t| t.write_capacity_units()),
        Some(10),
        "the table raised on dynalite"
    );
    world.aws.calls.take();

    assert_repeats_cost_one_refused_claim(&world, event, &["UpdateItem"]).await;
    assert!(
        world.aws.items(&world.stores.ledger).await.is_empty(),
        "the ledger table on dynalite was never written: every claim went to moto"
    );
}

/// A new event of the same incident at `at`, past the cooldown: its own ids, so the claim
/// sees a new event.
fn next_incident<S: Deploy>(world: &World<S>, sample: &str, at: chrono::DateTime<Utc>) -> serde_json::Value {
    let mut event = world.event_at(sample, at);
    event["id"] = json!("the-next-incident");
    event["detail"]["eventID"] = json!("the-next-incident-record");
    event
}

/// The next incident on a resource within `TAGS_TTL` is described again, without reading its
/// tags: they are kept per container (the tag APIs allow 5 to 10 requests per second per
/// account, and an opt-out tag set by hand is honoured within the minute).
#[tokio::test]
async fn tags_are_kept_per_container_for_the_next_incident() {
    let past_the_cooldown = Utc::now() + chrono::Duration::minutes(10);

    let tables: World<DynamoDb> = World::new(("dynamodb", "orders"), &[]).await;
    let (_, first) = remediate_a_table(&tables).await;
    only(&first, "ListTagsOfResource");
    tables.aws.wait_active(&tables.name).await;
    tables.aws.calls.take();
    let event = next_incident(&tables, "cloudtrail-putitem-throttled.json", past_the_cooldown);
    tables.run(event, past_the_cooldown).await;
    let calls = tables.aws.calls.take();
    let again = operations(&calls);
    assert!(again.contains(&"DescribeTable"), "described again: {again:?}");
    assert!(!again.contains(&"ListTagsOfResource"), "tags kept: {again:?}");

    let streams: World<Kinesis> = World::new(("kinesis", "clickstream"), &[]).await;
    streams.aws.create_stream(&streams.name, 2).await;
    streams.aws.calls.take();
    let report = streams
        .run(streams.event("cloudtrail-putrecord-throttled.json"), Utc::now())
        .await;
    assert_eq!(report.outcome, Outcome::Remediated, "{report:?}");
    only(&streams.aws.calls.take(), "ListTagsForStream");
    streams.aws.wait_stream_active(&streams.name).await;
    streams.aws.calls.take();
    let event = next_incident(&streams, "cloudtrail-putrecord-throttled.json", past_the_cooldown);
    streams.run(event, past_the_cooldown).await;
    let calls = streams.aws.calls.take();
    let again = operations(&calls);
    assert!(
        again.contains(&"DescribeStreamSummary"),
        "described again: {again:?}"
    );
    assert!(!again.contains(&"ListTagsForStream"), "tags kept: {again:?}");
}

#[tokio::test]
async fn a_stream_remediation_is_four_round_trips_and_a_repeat_one_refused_claim() {
    let world: World<Kinesis> = World::new(("kinesis", "clickstream"), &[]).await;
    world.aws.create_stream(&world.name, 2).await;
    world.aws.calls.take();

    let event = world.event("cloudtrail-putrecord-throttled.json");
    let report = world.run(event.clone(), Utc::now()).await;
    assert_eq!(report.outcome, Outcome::Remediated, "{report:?}");
    let calls = world.aws.calls.take();
    assert_lookup_rides_beside(&calls, "DescribeStreamSummary");
    for beside in ["ListShards", "ListTagsForStream", "DescribeLimits"] {
        assert!(
            overlapped(only(&calls, beside), only(&calls, "DescribeStreamSummary")),
            "{beside} beside the summary: {:?}",
            operations(&calls)
        );
    }
    assert_costs(
        &calls,
        &[
            "DescribeLimits",
            "DescribeStreamSummary",
            "GetMetricData",
            "ListShards",
            "ListTagsForStream",
            "PutObject",
            "UpdateItem",
            "UpdateItem",
            "UpdateShardCount",
        ],
        4,
    );

    assert_repeats_cost_one_refused_claim(&world, event, &REFUSED_CLAIM_ON_DYNALITE).await;
}

/// The KMS throttle sample in `world`, as its own event `id` with its own CloudTrail record.
fn kms_throttle(world: &World<Api>, id: &str) -> serde_json::Value {
    let mut event = world.event("cloudtrail-kms-decrypt-throttled.json");
    event["id"] = json!(id);
    event["detail"]["eventID"] = json!(format!("{id}-record"));
    event
}

/// The callers api-throttle counted, summed over the top the report shows.
fn counted(report: &unthrottle::core::report::Report) -> u64 {
    report
        .evidence
        .as_ref()
        .and_then(|evidence| evidence.pointer("/evidence/top"))
        .and_then(serde_json::Value::as_array)
        .map(|top| top.iter().filter_map(|count| count["events"].as_u64()).sum())
        .unwrap_or_default()
}

/// api-throttle in `world`, its Service Quotas reads answered by `stub` (moto fails two of
/// the three, and the SDK's retries would make the count moto's), everything else on the
/// emulators and recorded; no digest topic, as the template's default leaves none.
fn quotas_on(world: &mut World<Api>, stub: &integration_tests::servers::Stub) {
    use unthrottle::api::aws::{ConfiguredDigest, NoDigest};
    use unthrottle::api::{Apis, SdkQuotas, SdkSettings};
    let sdk = &world.aws.sdk;
    let quotas = aws_sdk_servicequotas::config::Builder::from(sdk)
        .endpoint_url(&stub.endpoint)
        .build();
    world.pipeline.resources = Apis::new(
        world.aws.ledger(&world.stores.ledger),
        SdkQuotas::new(aws_sdk_servicequotas::Client::from_conf(quotas)),
        SdkSettings::new(aws_sdk_ssm::Client::new(sdk)),
    )
    .digest(ConfiguredDigest::Off(NoDigest));
}

/// A diagnosis: the claim; then beside each other the quota's three reads (kept per
/// container) and the caller's count followed by the window's `Query`; then the release,
/// which remembers the event. Three ledger writes and a read, four round trips, no change.
#[tokio::test]
async fn a_diagnosis_is_four_round_trips_and_changes_nothing() {
    let stub = integration_tests::servers::Stub::serve(
        std::net::TcpListener::bind("127.0.0.1:0").expect("a free port"),
    )
    .expect("the stub");
    let mut world: World<Api> = World::new(("api", "orders"), &[]).await;
    quotas_on(&mut world, &stub);
    world.aws.calls.take();
    let report = world.run(kms_throttle(&world, "diagnosed"), Utc::now()).await;
    assert_eq!(report.outcome, Outcome::Diagnosed, "{report:?}");
    assert_eq!(counted(&report), 1, "{report:?}");
    let calls = world.aws.calls.take();
    assert_costs(
        &calls,
        &[
            "GetAWSDefaultServiceQuota",
            "GetServiceQuota",
            "ListRequestedServiceQuotaChangeHistoryByQuota",
            "Query",
            "UpdateItem",
            "UpdateItem",
            "UpdateItem",
        ],
        4,
    );
    let ledger_only: Vec<Call> = calls
        .iter()
        .filter(|call| matches!(call.operation.as_str(), "UpdateItem" | "Query"))
        .cloned()
        .collect();
    assert_eq!(
        sequential_round_trips(&ledger_only),
        4,
        "the quota reads ride beside the count and the window: {:?}",
        critical_path(&calls)
    );
    assert!(
        world.aws.object_keys(&world.stores.bucket).await.is_empty(),
        "no snapshot: nothing changed"
    );

    // The next event of the incident: the quota is kept, so only the ledger's four calls.
    world.aws.calls.take();
    let next = world.run(kms_throttle(&world, "next"), Utc::now()).await;
    assert_eq!(next.outcome, Outcome::Diagnosed, "{next:?}");
    let mut sent = operations(&world.aws.calls.take())
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    sent.sort_unstable();
    assert_eq!(sent, ["Query", "UpdateItem", "UpdateItem", "UpdateItem"]);
}

/// api-throttle changes nothing and so commits no claim, but it remembers each diagnosed
/// event on the resource's item: the event delivered again is refused at the claim, one
/// call where the refused claim returns the item (moto, as DynamoDB), two on dynalite.
/// Another event of the incident is diagnosed, and counted, as before.
#[tokio::test]
async fn a_redelivered_diagnosis_is_one_refused_claim() {
    for on_moto in [true, false] {
        let mut world: World<Api> = World::new(("api", "orders"), &[]).await;
        if on_moto {
            world.pipeline.ledger = world
                .aws
                .ledger_on_moto(&world.stores.ledger)
                .await
                .expect("ledger on moto");
        }
        world.aws.calls.take();
        let first = world.run(kms_throttle(&world, "diagnosed"), Utc::now()).await;
        assert_eq!(first.outcome, Outcome::Diagnosed, "{first:?}");
        world.aws.calls.take();

        let again = world.run(kms_throttle(&world, "diagnosed"), Utc::now()).await;
        assert_eq!(again.code, Some("duplicate"), "{again:?}");
        let refused: &[&str] = if on_moto {
            &["UpdateItem"]
        } else {
            &REFUSED_CLAIM_ON_DYNALITE
        };
        assert_eq!(
            operations(&world.aws.calls.take()),
            refused,
            "a redelivery (ledger on moto: {on_moto})"
        );

        let next = world
            .run(kms_throttle(&world, "next-of-the-incident"), Utc::now())
            .await;
        assert_eq!(next.outcome, Outcome::Diagnosed, "{next:?}");
        assert_eq!(
            counted(&next),
            2,
            "both events counted, the redelivery not: {next:?}"
        );
    }
}

/// Events that are not throttles are answered from the event alone, by each function.
#[tokio::test]
async fn a_non_throttle_event_makes_no_call() {
    async fn answered_alone<S: Deploy>(samples: (&'static str, &'static str), function: &str) {
        let world: World<S> = World::new(samples, &[]).await;
        world.aws.calls.take();
        for (sample, code) in expected_skips(samples.0, function) {
            let report = world.run(world.event(&sample), Utc::now()).await;
            assert_eq!(report.code, Some(code.as_str()), "{sample}: {report:?}");
            assert!(
                world.aws.calls.take().is_empty(),
                "{function}: {sample} ({code}) made AWS calls"
            );
        }
    }
    answered_alone::<DynamoDb>(("dynamodb", "orders"), "dynamodb-throttle").await;
    answered_alone::<Kinesis>(("kinesis", "clickstream"), "kinesis-throttle").await;
    answered_alone::<Api>(("api", "orders"), "api-throttle").await;
}
