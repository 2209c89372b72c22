//! api-throttle end to end: its callers counted in the ledger (in memory, and against
//! dynalite with the real adapter), a redelivered event counted once, and the pattern the
//! counts make (one caller bursting, or fan-out) in the result. Nothing is ever changed.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use unthrottle::api::{Api, Apis};
use unthrottle::core::report::{Outcome, Report};
use unthrottle::core::service::Service;
use unthrottle::testing::{FakeQuotas, FakeSettings, MemoryLedger, happened_at, in_memory, memory_apis};

fn kms_throttle(event_id: &str, role: &str, at: DateTime<Utc>) -> Value {
    let mut event = happened_at(
        integration_tests::sample("api/cloudtrail-kms-decrypt-throttled.json"),
        at,
    );
    event["id"] = json!(format!("envelope-{event_id}"));
    event["detail"]["eventID"] = json!(event_id);
    event["detail"]["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] =
        json!(format!("arn:aws:iam::123456789012:role/{role}"));
    event
}

fn top(report: &Report) -> Vec<(String, u64)> {
    report
        .evidence
        .as_ref()
        .and_then(|evidence| evidence.pointer("/evidence/top"))
        .and_then(Value::as_array)
        .map(|top| {
            top.iter()
                .map(|count| {
                    (
                        count["caller"].as_str().unwrap_or_default().to_owned(),
                        count["events"].as_u64().unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn pattern(report: &Report) -> Option<String> {
    report
        .evidence
        .as_ref()
        .and_then(|evidence| evidence.pointer("/evidence/pattern"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Callers are counted per event and ranked in the result; the first event delivered again
/// is a duplicate at the claim (its diagnosis is remembered) and counts nothing.
#[tokio::test]
async fn callers_are_counted_once_per_event_and_ranked_in_the_result() {
    let service = Api::from_env(&unthrottle::core::config::Env::from_fn(|_| None)).unwrap();
    let pipeline = in_memory(service, memory_apis());
    let now = Utc::now();
    let first = now - Duration::seconds(20);
    let mut reports = Vec::new();
    for (n, role) in ["app", "app", "app", "batch", "app"].iter().enumerate() {
        let at = first + Duration::seconds(i64::try_from(n).unwrap());
        let handled = pipeline
            .handle(kms_throttle(&format!("e{n}"), role, at), now)
            .await
            .unwrap();
        reports.push(handled[0].clone());
    }
    let again = pipeline
        .handle(kms_throttle("e0", "app", first), now)
        .await
        .unwrap();
    assert_eq!(again[0].code, Some("duplicate"), "{again:?}");
    assert!(
        again[0].reason.contains("diagnosed already"),
        "{}",
        again[0].reason
    );

    let report = reports.last().unwrap();
    assert_eq!(report.outcome, Outcome::Diagnosed, "{report:?}");
    assert_eq!(report.code, Some("kms-request-quota"));
    assert_eq!(
        top(report),
        [
            ("arn:aws:iam::123456789012:role/app".to_owned(), 4),
            ("arn:aws:iam::123456789012:role/batch".to_owned(), 1)
        ]
    );
    assert_eq!(
        pattern(report).as_deref(),
        Some("one-caller"),
        "4 of 5 is one caller"
    );
    assert!(report.reason.contains("5 throttled call(s)"), "{}", report.reason);
    assert_eq!(top(&reports[0]).len(), 1, "the first event saw one caller");
    assert!(pipeline.snapshots.objects().is_empty(), "nothing changed");
}

/// An event that arrives while another invocation holds the API is counted then (a burst is
/// counted whole) and not diagnosed; delivered again once the API is free, it is diagnosed,
/// and its call is not counted a second time.
#[tokio::test]
async fn an_event_counted_in_flight_and_delivered_again_is_counted_once() {
    use unthrottle::core::domain::ResourceRef;
    use unthrottle::core::ledger::{Admission, Release, Ticket};
    use unthrottle::core::ports::{Ledger, Tally};

    let service = Api::from_env(&unthrottle::core::config::Env::from_fn(|_| None)).unwrap();
    let pipeline = in_memory(service, memory_apis());
    let now = Utc::now();
    let holding = Ticket {
        resource: ResourceRef {
            service: Api::ID,
            account: "123456789012".into(),
            region: "us-east-1".into(),
            name: "kms.Decrypt".into(),
        },
        event_id: "another-event".into(),
        invocation: "another-invocation".into(),
        now,
        lease: Duration::seconds(60),
        cooldown: Duration::seconds(300),
    };
    let ledger = &pipeline.ledger;
    assert!(matches!(
        ledger.claim(&holding).await.unwrap(),
        Admission::Granted(_)
    ));
    let event = || kms_throttle("f1", "app", now - Duration::seconds(20));

    let in_flight = pipeline.handle(event(), now).await.unwrap().remove(0);
    assert_eq!(in_flight.code, Some("cooling-down"), "{in_flight:?}");
    assert!(
        in_flight.reason.contains("another invocation"),
        "{}",
        in_flight.reason
    );
    let window = pipeline
        .resources
        .tally()
        .callers(&holding.resource, now, 15)
        .await
        .unwrap();
    assert_eq!(
        window,
        [("arn:aws:iam::123456789012:role/app".to_owned(), 1)],
        "counted while in flight"
    );

    ledger.release(&holding, Release::Lease, None).await.unwrap();
    let again = pipeline.handle(event(), now).await.unwrap().remove(0);
    assert_eq!(again.outcome, Outcome::Diagnosed, "{again:?}");
    assert_eq!(
        top(&again),
        [("arn:aws:iam::123456789012:role/app".to_owned(), 1)],
        "counted once"
    );
}

/// The same counting through the real ledger adapter on dynalite: one conditional
/// UpdateItem per event, one Query for the window; a redelivery is refused at the claim and
/// adds nothing.
#[tokio::test]
async fn the_ledger_on_dynalite_counts_callers_and_ignores_a_redelivery() {
    let world: integration_tests::World<Api> = integration_tests::World::new(("api", "orders"), &[]).await;
    let now = Utc::now();
    let run = |id: &str, role: &str| {
        let event = kms_throttle(id, role, now - Duration::seconds(20));
        let pipeline = &world.pipeline;
        async move { pipeline.handle(event, now).await.unwrap().remove(0) }
    };
    run("d1", "fan-a").await;
    run("d2", "fan-b").await;
    run("d3", "fan-c").await;
    let again = run("d1", "fan-a").await;
    assert_eq!(again.code, Some("duplicate"), "{again:?}");
    let report = run("d4", "fan-a").await;

    assert_eq!(report.outcome, Outcome::Diagnosed, "{report:?}");
    let counted = top(&report);
    assert_eq!(counted[0], ("arn:aws:iam::123456789012:role/fan-a".to_owned(), 2));
    assert_eq!(counted.iter().map(|(_, n)| n).sum::<u64>(), 4, "{counted:?}");
    assert_eq!(pattern(&report).as_deref(), Some("fan-out"));
    assert!(
        world.aws.object_keys(&world.stores.bucket).await.is_empty(),
        "no snapshot: nothing changed"
    );
}

use unthrottle::testing::kms_quota;

fn with_quota_increase(
    settings: &[(&str, &str)],
) -> unthrottle::testing::InMemory<Api, Apis<MemoryLedger, FakeQuotas, FakeSettings>> {
    let vars: std::collections::HashMap<String, String> = settings
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let service = Api::from_env(&unthrottle::core::config::Env::from_fn(|key| {
        vars.get(key).cloned()
    }))
    .unwrap();
    in_memory(
        service,
        Apis::new(
            MemoryLedger::default(),
            FakeQuotas::with(kms_quota()),
            FakeSettings::default(),
        ),
    )
}

/// With QUOTA_INCREASE=request and the throttling sustained, one increase is asked for,
/// after a snapshot of the quota's state, with its metric; the next event of the incident
/// cools down, and one after the cooldown finds the request open and asks nothing more.
#[tokio::test]
async fn a_sustained_kms_throttle_asks_for_one_quota_increase_through_the_pipeline() {
    let pipeline = with_quota_increase(&[("QUOTA_INCREASE", "request"), ("QUOTA_MIN_EVENTS", "2")]);
    let now = Utc::now();
    let first = pipeline
        .handle(kms_throttle("q1", "app", now - Duration::seconds(20)), now)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        first.outcome,
        Outcome::Diagnosed,
        "one event is not sustained: {first:?}"
    );
    assert!(first.reason.contains("QUOTA_MIN_EVENTS is 2"), "{}", first.reason);

    let second = pipeline
        .handle(kms_throttle("q2", "app", now - Duration::seconds(10)), now)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(second.outcome, Outcome::Remediated, "{second:?}");
    assert_eq!(
        second.action.as_ref().map(|a| a.name()),
        Some("RequestServiceQuotaIncrease")
    );
    let asked = pipeline.resources.quotas().requested();
    assert_eq!(asked.len(), 1);
    assert_eq!(
        (asked[0].0.quota_code.as_str(), asked[0].1),
        ("L-6E3AF000", 15_000.0)
    );
    let snapshots = pipeline.snapshots.objects();
    assert_eq!(snapshots.len(), 1, "no snapshot, no change");
    assert_eq!(snapshots[0].1["describe"]["quota"]["value"], 10_000.0);
    let counted = unthrottle::core::metrics::data_for(&pipeline.metrics.published());
    let requested: Vec<_> = counted
        .iter()
        .filter(|datum| datum.name == "QuotaIncreaseRequested")
        .map(|datum| datum.dimensions.clone())
        .collect();
    assert_eq!(
        requested,
        [vec![
            ("Service", "kms".to_owned()),
            ("QuotaCode", "L-6E3AF000".to_owned())
        ]],
        "{counted:?}"
    );
    // The first, diagnosed event counted ThrottleEventsObserved by API and case, no caller.
    assert!(
        counted.iter().any(|datum| datum.name == "ThrottleEventsObserved"
            && datum.dimensions
                == [
                    ("Service", "API".to_owned()),
                    ("Api", "kms.Decrypt".to_owned()),
                    ("Case", "kms-request-quota".to_owned())
                ]),
        "{counted:?}"
    );

    let cooling = pipeline
        .handle(kms_throttle("q3", "app", now - Duration::seconds(5)), now)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(cooling.code, Some("cooling-down"), "{cooling:?}");

    let later = now + Duration::minutes(10);
    let after_cooldown = pipeline
        .handle(kms_throttle("q4", "app", later - Duration::seconds(5)), later)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(after_cooldown.outcome, Outcome::Diagnosed, "{after_cooldown:?}");
    assert!(
        after_cooldown.reason.contains("is open (PENDING)"),
        "{}",
        after_cooldown.reason
    );
    assert_eq!(pipeline.resources.quotas().requested().len(), 1, "asked once");
}

/// Off by default, and a dry run plans the request without making it.
#[tokio::test]
async fn quota_increases_are_off_by_default_and_a_dry_run_asks_nothing() {
    let now = Utc::now();
    let off = with_quota_increase(&[("QUOTA_MIN_EVENTS", "1")]);
    let report = off
        .handle(kms_throttle("o1", "app", now - Duration::seconds(5)), now)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(report.outcome, Outcome::Diagnosed, "{report:?}");
    assert!(off.resources.quotas().requested().is_empty());

    // Wired as a deployment with DRY_RUN is: the pipeline and the adapter both dry.
    let settings = [("QUOTA_INCREASE", "request"), ("QUOTA_MIN_EVENTS", "1")];
    let vars: std::collections::HashMap<String, String> = settings
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let service = Api::from_env(&unthrottle::core::config::Env::from_fn(|key| {
        vars.get(key).cloned()
    }))
    .unwrap();
    let mut dry = in_memory(
        service,
        Apis::new(
            MemoryLedger::default(),
            FakeQuotas::with(kms_quota()),
            FakeSettings::default(),
        )
        .dry_run(true),
    );
    dry.options.dry_run = true;
    // A CloudTrail throttle: a dry run counts nothing, so nothing is sustained yet.
    let counted_nothing = dry
        .handle(kms_throttle("d1", "app", now - Duration::seconds(5)), now)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(counted_nothing.outcome, Outcome::Diagnosed, "{counted_nothing:?}");
    assert!(
        counted_nothing.reason.contains("No throttled call counted"),
        "{}",
        counted_nothing.reason
    );
    // The usage alarm is sustained already: the increase is planned, not asked.
    let alarm = happened_at(
        integration_tests::sample("api/alarm-kms-usage-symmetric.json"),
        now,
    );
    let planned = dry.handle(alarm, now).await.unwrap().remove(0);
    assert_eq!(planned.outcome, Outcome::Planned, "{planned:?}");
    assert!(planned.reason.contains("10000 -> 15000"), "{}", planned.reason);
    assert!(
        dry.resources.quotas().requested().is_empty(),
        "a dry run asks nothing"
    );
    assert!(dry.snapshots.objects().is_empty());
    assert_eq!(dry.ledger.writes(), 0, "and writes nothing");
}

/// Service Quotas through the SDK adapter (aws-smithy-mocks: moto answers only
/// GetServiceQuota, and only for vpc): the three reads go at once and are kept for minutes,
/// an increase never opens a Support case and forgets what was read, and AWS's refusal keeps
/// its kind.
#[tokio::test]
async fn service_quotas_are_read_at_once_and_an_increase_never_opens_a_support_case() {
    use aws_sdk_servicequotas::operation::get_aws_default_service_quota::GetAwsDefaultServiceQuotaOutput;
    use aws_sdk_servicequotas::operation::get_service_quota::GetServiceQuotaOutput;
    use aws_sdk_servicequotas::operation::list_requested_service_quota_change_history_by_quota::ListRequestedServiceQuotaChangeHistoryByQuotaOutput;
    use aws_sdk_servicequotas::operation::request_service_quota_increase::RequestServiceQuotaIncreaseOutput;
    use aws_sdk_servicequotas::types::{RequestStatus, RequestedServiceQuotaChange, ServiceQuota};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use integration_tests::mocks::http;
    use unthrottle::api::aws::{QuotaCode, Quotas};
    use unthrottle::api::limits::KMS_SYMMETRIC_QUOTA;
    use unthrottle::core::error::ErrorKind;

    let kms = |request_code: Option<&str>, service: Option<&str>| {
        request_code == Some("L-6E3AF000") && service == Some("kms")
    };
    let applied = mock!(aws_sdk_servicequotas::Client::get_service_quota)
        .match_requests(move |r| kms(r.quota_code(), r.service_code()))
        .then_output(|| {
            GetServiceQuotaOutput::builder()
                .quota(
                    ServiceQuota::builder()
                        .quota_code("L-6E3AF000")
                        .value(10_000.0)
                        .adjustable(true)
                        .build(),
                )
                .build()
        });
    let default = mock!(aws_sdk_servicequotas::Client::get_aws_default_service_quota)
        .match_requests(move |r| kms(r.quota_code(), r.service_code()))
        .then_output(|| {
            GetAwsDefaultServiceQuotaOutput::builder()
                .quota(ServiceQuota::builder().value(10_000.0).build())
                .build()
        });
    let history = mock!(aws_sdk_servicequotas::Client::list_requested_service_quota_change_history_by_quota)
        .match_requests(move |r| kms(r.quota_code(), r.service_code()))
        .then_output(|| {
            ListRequestedServiceQuotaChangeHistoryByQuotaOutput::builder()
                .requested_quotas(
                    RequestedServiceQuotaChange::builder()
                        .status(RequestStatus::Denied)
                        .desired_value(12_000.0)
                        .created(aws_smithy_types::DateTime::from_secs(1_700_000_000))
                        .build(),
                )
                .build()
        });
    let increase = mock!(aws_sdk_servicequotas::Client::request_service_quota_increase)
        .match_requests(|r| {
            r.support_case_allowed() == Some(false)
                && r.desired_value() == Some(15_000.0)
                && r.quota_code() == Some("L-6E3AF000")
        })
        .then_output(|| RequestServiceQuotaIncreaseOutput::builder().build());
    let client = mock_client!(
        aws_sdk_servicequotas,
        RuleMode::MatchAny,
        [&applied, &default, &history, &increase]
    );
    let quotas = unthrottle::api::SdkQuotas::new(client);

    let state = quotas.state(KMS_SYMMETRIC_QUOTA).await.expect("read");
    assert_eq!(
        (state.value, state.adjustable, state.aws_default),
        (10_000.0, true, Some(10_000.0))
    );
    assert_eq!(state.requests.len(), 1);
    assert_eq!(state.requests[0].status, "DENIED");
    assert!(!state.requests[0].is_open());
    quotas.state(KMS_SYMMETRIC_QUOTA).await.expect("read again");
    assert_eq!(
        applied.num_calls(),
        1,
        "kept for minutes: Service Quotas' rates are low"
    );

    let code = QuotaCode {
        service_code: "kms".into(),
        quota_code: "L-6E3AF000".into(),
    };
    quotas.request(&code, 15_000.0).await.expect("asked");
    assert_eq!(
        increase.num_calls(),
        1,
        "asked without a Support case, for 15,000"
    );
    quotas
        .state(KMS_SYMMETRIC_QUOTA)
        .await
        .expect("read after asking");
    assert_eq!(applied.num_calls(), 2, "an increase forgets what was read");

    // AWS's refusal (too many open requests) keeps its kind: the quota backs off.
    let none_asked = || {
        mock!(aws_sdk_servicequotas::Client::list_requested_service_quota_change_history_by_quota)
            .then_output(|| ListRequestedServiceQuotaChangeHistoryByQuotaOutput::builder().build())
    };
    let empty = none_asked();
    let refused =
        mock!(aws_sdk_servicequotas::Client::request_service_quota_increase).then_http_response(|| {
            http(
                400,
                serde_json::json!({"__type": "QuotaExceededException", "Message": "too many open requests"}),
            )
        });
    let quotas = unthrottle::api::SdkQuotas::new(mock_client!(
        aws_sdk_servicequotas,
        RuleMode::MatchAny,
        [&empty, &refused]
    ));
    let error = quotas.request(&code, 15_000.0).await.expect_err("refused");
    assert_eq!(error.kind, ErrorKind::Refused, "{error}");

    // Another container asked a minute ago: the history read right before asking shows it
    // open, and nothing is sent.
    let open = mock!(aws_sdk_servicequotas::Client::list_requested_service_quota_change_history_by_quota)
        .then_output(|| {
            ListRequestedServiceQuotaChangeHistoryByQuotaOutput::builder()
                .requested_quotas(
                    RequestedServiceQuotaChange::builder()
                        .status(RequestStatus::Pending)
                        .desired_value(15_000.0)
                        .created(aws_smithy_types::DateTime::from_secs(
                            chrono::Utc::now().timestamp() - 60,
                        ))
                        .build(),
                )
                .build()
        });
    let never = mock!(aws_sdk_servicequotas::Client::request_service_quota_increase)
        .then_output(|| RequestServiceQuotaIncreaseOutput::builder().build());
    let quotas = unthrottle::api::SdkQuotas::new(mock_client!(
        aws_sdk_servicequotas,
        RuleMode::MatchAny,
        [&open, &never]
    ));
    let error = quotas
        .request(&code, 15_000.0)
        .await
        .expect_err("an open request");
    assert_eq!(error.kind, ErrorKind::Refused, "{error}");
    assert_eq!(never.num_calls(), 0, "nothing asked");
}

/// A fresh ledger table on dynalite, and api-throttle's resource for `api` in the samples'
/// account and region.
async fn ledger_on_dynalite(
    api: &str,
) -> (
    unthrottle::adapters::ledger::DynamoDbLedger,
    unthrottle::core::domain::ResourceRef,
) {
    let aws = integration_tests::Emulators::connect()
        .await
        .expect("emulators running");
    let stores = aws.stores().await;
    let resource = unthrottle::core::domain::ResourceRef {
        service: <Api as Service>::ID,
        account: "123456789012".into(),
        region: "us-east-1".into(),
        name: api.into(),
    };
    (aws.ledger(&stores.ledger), resource)
}

/// Past the ids a minute remembers, events are still counted (the record stays small); a
/// redelivery of a remembered one is not. Against dynalite, through the ledger adapter.
#[tokio::test]
async fn a_storm_past_the_remembered_ids_is_still_counted_on_dynalite() {
    use unthrottle::core::ledger::TalliedCall;
    use unthrottle::core::ports::Tally;

    let (ledger, resource) = ledger_on_dynalite("kms.Decrypt").await;
    let at = Utc::now();
    let most = TalliedCall::REMEMBERED_PER_MINUTE;
    for n in 0..most + 5 {
        let call = TalliedCall::new(Some("role/app"), &format!("storm-{n}"), at);
        ledger.tally(&resource, &call).await.expect("counted");
    }
    // A redelivery of a remembered event adds nothing.
    let again = TalliedCall::new(Some("role/app"), "storm-0", at);
    ledger
        .tally(&resource, &again)
        .await
        .expect("a redelivery is no error");

    let counted = ledger.callers(&resource, at, 15).await.expect("read");
    assert_eq!(counted, [("role/app".to_owned(), most + 5)]);
    // The window ends with the throttle's minute: a call a minute later is not in it.
    let later = TalliedCall::new(Some("role/other"), "later", at + Duration::minutes(1));
    ledger.tally(&resource, &later).await.expect("counted");
    assert_eq!(
        ledger.callers(&resource, at, 15).await.expect("read").len(),
        1,
        "the next minute is outside the window"
    );
}

/// The role may ask to raise exactly the quotas the code may raise (`may_raise` in
/// api::limits::KNOWN_QUOTAS), no other: template.yaml's RequestServiceQuotaIncrease
/// resources, name for name.
#[test]
fn the_role_may_raise_exactly_the_known_quotas() {
    let template =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml"))
            .expect("template.yaml");
    let mut granted: Vec<String> = template
        .lines()
        .filter_map(|line| line.split_once(":servicequotas:").map(|(_, arn)| arn))
        .filter_map(|arn| arn.rsplit(':').next())
        .map(str::to_owned)
        .collect();
    granted.sort();
    let mut known: Vec<String> = unthrottle::api::limits::KNOWN_QUOTAS
        .iter()
        .filter(|known| known.may_raise)
        .map(|known| format!("{}/{}", known.quota.service_code, known.quota.quota_code))
        .collect();
    known.sort();
    assert_eq!(granted, known);
}

/// One digest line per new (service, API, caller) incident: the first call of each caller,
/// not its next ones, not a redelivery, and nothing in a dry run.
#[tokio::test]
async fn a_digest_line_is_sent_for_each_new_caller_incident_only() {
    use unthrottle::testing::RecordedDigest;
    let service = Api::from_env(&unthrottle::core::config::Env::from_fn(|_| None)).unwrap();
    let pipeline = in_memory(service, memory_apis().digest(RecordedDigest::default()));
    let now = Utc::now();
    for (id, role) in [("g1", "app"), ("g2", "app"), ("g3", "batch"), ("g1", "app")] {
        pipeline
            .handle(kms_throttle(id, role, now - Duration::seconds(5)), now)
            .await
            .unwrap();
    }
    let lines = pipeline.resources.sent().lines();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[0].contains("kms Decrypt throttled for arn:aws:iam::123456789012:role/app")
            && lines[0].contains("kms-request-quota (cache-kms-data-keys)"),
        "{}",
        lines[0]
    );
    assert!(lines[1].contains("role/batch"), "{}", lines[1]);

    let service = Api::from_env(&unthrottle::core::config::Env::from_fn(|_| None)).unwrap();
    let dry = in_memory(
        service,
        memory_apis().digest(RecordedDigest::default()).dry_run(true),
    );
    dry.handle(kms_throttle("dry", "app", now - Duration::seconds(5)), now)
        .await
        .unwrap();
    assert!(dry.resources.sent().lines().is_empty(), "a dry run sends nothing");
}

/// The SNS adapter publishes the line to the configured topic (aws-smithy-mocks).
#[tokio::test]
async fn the_digest_is_published_to_the_topic() {
    use aws_sdk_sns::operation::publish::PublishOutput;
    use aws_smithy_mocks::{mock, mock_client};
    use unthrottle::api::aws::{Digest, SnsDigest};

    let topic = "arn:aws:sns:us-east-1:123456789012:unthrottle-alarms";
    let publish = mock!(aws_sdk_sns::Client::publish)
        .match_requests(move |r| r.topic_arn() == Some(topic) && r.message() == Some("a line"))
        .then_output(|| PublishOutput::builder().message_id("m-1").build());
    let digest = SnsDigest::new(mock_client!(aws_sdk_sns, [&publish]), topic);
    digest.send("a line").await.expect("published");
    assert_eq!(publish.num_calls(), 1);
}

/// Racing first calls of one caller's incident claim its digest line once (one conditional
/// write on dynalite); after the window, a new incident claims it again.
#[tokio::test]
async fn racing_first_calls_claim_one_digest_line_on_dynalite() {
    use unthrottle::core::ports::Tally;

    let (ledger, resource) = ledger_on_dynalite("sts.AssumeRole").await;
    let at = Utc::now();
    let claims =
        futures::future::join_all((0..5).map(|_| ledger.first_in_window(&resource, "role/ci", at, 15))).await;
    let won: Vec<bool> = claims.into_iter().map(|claim| claim.expect("claimed")).collect();
    assert_eq!(won.iter().filter(|won| **won).count(), 1, "{won:?}");
    assert!(
        !ledger
            .first_in_window(&resource, "role/ci", at + Duration::minutes(14), 15)
            .await
            .unwrap(),
        "the same incident"
    );
    assert!(
        ledger
            .first_in_window(&resource, "role/other", at, 15)
            .await
            .unwrap(),
        "another caller's incident"
    );
    assert!(
        ledger
            .first_in_window(&resource, "role/ci", at + Duration::minutes(16), 15)
            .await
            .unwrap(),
        "a new incident after the window"
    );
}

fn ssm_throttle(event_id: &str, at: DateTime<Utc>) -> Value {
    let mut event = happened_at(
        integration_tests::sample("api/cloudtrail-ssm-getparameter-throttled.json"),
        at,
    );
    event["id"] = json!(format!("envelope-{event_id}"));
    event["detail"]["eventID"] = json!(event_id);
    event
}

fn configured(settings: &[(&str, &str)]) -> Api {
    let vars: std::collections::HashMap<String, String> = settings
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Api::from_env(&unthrottle::core::config::Env::from_fn(|key| {
        vars.get(key).cloned()
    }))
    .unwrap()
}

/// With SSM_HIGH_THROUGHPUT=enable and the throttling sustained, Parameter Store's higher
/// throughput is turned on once, after a snapshot of the setting as it was (what
/// ResetServiceSetting undoes it to); the next throttles are told to cache, and nothing
/// more is changed.
#[tokio::test]
async fn a_sustained_parameter_store_throttle_turns_on_higher_throughput_once() {
    use unthrottle::api::HIGH_THROUGHPUT_SETTING;
    let pipeline = in_memory(
        configured(&[("SSM_HIGH_THROUGHPUT", "enable"), ("QUOTA_MIN_EVENTS", "2")]),
        memory_apis(),
    );
    let now = Utc::now();
    let first = pipeline
        .handle(ssm_throttle("s1", now - Duration::seconds(20)), now)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(first.outcome, Outcome::Diagnosed, "{first:?}");
    assert!(
        first.reason.contains("Higher throughput was not turned on")
            && first.reason.contains("QUOTA_MIN_EVENTS is 2"),
        "{}",
        first.reason
    );
    assert!(pipeline.resources.settings().updates().is_empty());

    let second = pipeline
        .handle(ssm_throttle("s2", now - Duration::seconds(10)), now)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(second.outcome, Outcome::Remediated, "{second:?}");
    assert_eq!(
        second.action.as_ref().map(|a| a.name()),
        Some("UpdateServiceSetting")
    );
    assert_eq!(
        pipeline.resources.settings().updates(),
        [(HIGH_THROUGHPUT_SETTING.to_owned(), "true".to_owned())]
    );
    let snapshots = pipeline.snapshots.objects();
    assert_eq!(snapshots.len(), 1, "no snapshot, no change");
    assert_eq!(snapshots[0].1["describe"]["throughput"]["value"], "false");
    assert_eq!(snapshots[0].1["describe"]["throughput"]["status"], "Default");
    let counted = unthrottle::core::metrics::data_for(&pipeline.metrics.published());
    assert!(
        counted.iter().any(|datum| datum.name == "AutoFix"
            && datum
                .dimensions
                .contains(&("Action", "UpdateServiceSetting".to_owned()))),
        "{counted:?}"
    );

    // After the cooldown the setting reads as on: the advice is to cache, nothing changes.
    let later = now + Duration::minutes(10);
    let after = pipeline
        .handle(ssm_throttle("s3", later - Duration::seconds(5)), later)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(after.outcome, Outcome::Diagnosed, "{after:?}");
    assert_eq!(after.advice, Some("ssm-cache-parameters"), "{after:?}");
    assert!(after.reason.contains("it is on already"), "{}", after.reason);
    assert_eq!(pipeline.resources.settings().updates().len(), 1, "turned on once");
}

/// Off by default (QUOTA_INCREASE=request does not turn it on), and a dry run plans it
/// without changing anything.
#[tokio::test]
async fn higher_throughput_is_off_by_default_and_a_dry_run_changes_nothing() {
    let now = Utc::now();
    for settings in [
        vec![("QUOTA_MIN_EVENTS", "1")],
        vec![("QUOTA_MIN_EVENTS", "1"), ("QUOTA_INCREASE", "request")],
    ] {
        let off = in_memory(configured(&settings), memory_apis());
        let report = off
            .handle(ssm_throttle("o1", now - Duration::seconds(5)), now)
            .await
            .unwrap()
            .remove(0);
        assert_eq!(report.outcome, Outcome::Diagnosed, "{settings:?}: {report:?}");
        assert_eq!(report.advice, Some("ssm-higher-throughput"));
        assert!(off.resources.settings().updates().is_empty(), "{settings:?}");
        assert!(off.snapshots.objects().is_empty());
    }

    // Wired as a deployment with DRY_RUN is. A dry run counts nothing itself: two calls a
    // live deployment sharing the ledger counted make the throttle sustained.
    let mut dry = in_memory(
        configured(&[("SSM_HIGH_THROUGHPUT", "enable"), ("QUOTA_MIN_EVENTS", "2")]),
        memory_apis().dry_run(true),
    );
    dry.options.dry_run = true;
    let resource = unthrottle::core::domain::ResourceRef {
        service: Api::ID,
        account: "123456789012".into(),
        region: "us-east-1".into(),
        name: "ssm.GetParameter".into(),
    };
    let caller = "arn:aws:iam::123456789012:role/checkout-service-task";
    for (n, ago) in [(1, 40), (2, 30)] {
        let call = unthrottle::core::ledger::TalliedCall::new(
            Some(caller),
            &format!("live-{n}"),
            now - Duration::seconds(ago),
        );
        use unthrottle::core::ports::Tally;
        assert!(dry.resources.tally().tally(&resource, &call).await.unwrap());
    }
    let report = dry
        .handle(ssm_throttle("d1", now - Duration::seconds(5)), now)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(report.outcome, Outcome::Planned, "{report:?}");
    assert_eq!(
        report.action.as_ref().map(|a| a.name()),
        Some("UpdateServiceSetting")
    );
    assert!(
        dry.resources.settings().updates().is_empty(),
        "a dry run changes nothing"
    );
    assert!(dry.snapshots.objects().is_empty());
    assert_eq!(dry.ledger.writes(), 0);
}

/// The answer of UpdateServiceSetting lost after SSM made the change: the setting, read
/// again, shows it on, so the change is recorded as made (once), not failed and retried.
#[tokio::test]
async fn a_lost_answer_after_turning_it_on_is_recorded_as_made() {
    let pipeline = in_memory(
        configured(&[("SSM_HIGH_THROUGHPUT", "enable"), ("QUOTA_MIN_EVENTS", "1")]),
        Apis::new(
            MemoryLedger::default(),
            FakeQuotas::default(),
            FakeSettings::default().losing_answers(),
        ),
    );
    let now = Utc::now();
    let report = pipeline
        .handle(ssm_throttle("l1", now - Duration::seconds(5)), now)
        .await
        .expect("not an invocation error: the change was made")
        .remove(0);
    assert_eq!(report.outcome, Outcome::Remediated, "{report:?}");
    assert_eq!(pipeline.resources.settings().updates().len(), 1);
    let later = now + Duration::minutes(10);
    let after = pipeline
        .handle(ssm_throttle("l2", later - Duration::seconds(5)), later)
        .await
        .unwrap()
        .remove(0);
    assert!(after.reason.contains("it is on already"), "{}", after.reason);
    assert_eq!(pipeline.resources.settings().updates().len(), 1, "made once");
}

/// THROTTLE_WINDOW_MINUTES decides how far back callers count, for the result and for
/// QUOTA_MIN_EVENTS alike.
#[tokio::test]
async fn the_window_callers_are_counted_in_is_configurable() {
    let now = Utc::now();
    let settings = [("SSM_HIGH_THROUGHPUT", "enable"), ("QUOTA_MIN_EVENTS", "2")];
    let run = |minutes: u32| async move {
        let service = configured(&settings);
        let pipeline = in_memory(service, memory_apis().window(minutes));
        // One throttle 8 minutes ago, one now: sustained in 15 minutes, not in 5.
        pipeline
            .handle(
                ssm_throttle("w1", now - Duration::minutes(8)),
                now - Duration::minutes(8),
            )
            .await
            .unwrap();
        let report = pipeline
            .handle(ssm_throttle("w2", now - Duration::seconds(1)), now)
            .await
            .unwrap()
            .remove(0);
        (report, pipeline.resources.settings().updates().len())
    };
    let (wide, changed) = run(15).await;
    assert_eq!((wide.outcome, changed), (Outcome::Remediated, 1), "{wide:?}");
    let (narrow, changed) = run(5).await;
    assert_eq!((narrow.outcome, changed), (Outcome::Diagnosed, 0), "{narrow:?}");
    assert!(
        narrow
            .reason
            .contains("1 throttled call(s) in the last 5 minutes"),
        "{}",
        narrow.reason
    );
    // The deployed wiring reads it from the environment and hands it to the adapter.
    let deployed = configured(&[("THROTTLE_WINDOW_MINUTES", "5")]);
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .build();
    let core =
        unthrottle::core::config::CoreSettings::from_env(&unthrottle::core::config::Env::from_fn(|key| {
            match key {
                "SNAPSHOT_BUCKET" => Some("b".to_owned()),
                "LEDGER_TABLE" => Some("t".to_owned()),
                _ => None,
            }
        }))
        .unwrap();
    use unthrottle::adapters::Deploy;
    assert_eq!(deployed.resources(&sdk, &core).window_minutes(), 5);
    assert!(
        Api::from_env(&unthrottle::core::config::Env::from_fn(|key| {
            (key == "THROTTLE_WINDOW_MINUTES").then(|| "61".to_owned())
        }))
        .is_err(),
        "at most an hour: one Query reads the window"
    );
}

/// SSM's service settings through the SDK adapter (aws-smithy-mocks: moto does not serve
/// them): a reading is kept for minutes, a change forgets it, a reset reads back AWS's
/// default, and AWS's refusal keeps its kind.
#[tokio::test]
async fn the_ssm_setting_is_read_once_turned_on_and_reset_through_the_sdk() {
    use aws_sdk_ssm::operation::get_service_setting::GetServiceSettingOutput;
    use aws_sdk_ssm::operation::reset_service_setting::ResetServiceSettingOutput;
    use aws_sdk_ssm::operation::update_service_setting::UpdateServiceSettingOutput;
    use aws_sdk_ssm::types::ServiceSetting;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use integration_tests::mocks::http;
    use unthrottle::api::{HIGH_THROUGHPUT_SETTING, SdkSettings, Settings};
    use unthrottle::core::error::ErrorKind;

    let setting = |value: &str, status: &str| {
        ServiceSetting::builder()
            .setting_id(HIGH_THROUGHPUT_SETTING)
            .setting_value(value)
            .status(status)
            .last_modified_user("System")
            .last_modified_date(aws_smithy_types::DateTime::from_secs(1_700_000_000))
            .build()
    };
    let read = mock!(aws_sdk_ssm::Client::get_service_setting)
        .match_requests(|r| r.setting_id() == Some(HIGH_THROUGHPUT_SETTING))
        .then_output(move || {
            GetServiceSettingOutput::builder()
                .service_setting(setting("false", "Default"))
                .build()
        });
    let update = mock!(aws_sdk_ssm::Client::update_service_setting)
        .match_requests(|r| {
            r.setting_id() == Some(HIGH_THROUGHPUT_SETTING) && r.setting_value() == Some("true")
        })
        .then_output(|| UpdateServiceSettingOutput::builder().build());
    let reset = mock!(aws_sdk_ssm::Client::reset_service_setting)
        .match_requests(|r| r.setting_id() == Some(HIGH_THROUGHPUT_SETTING))
        .then_output(move || {
            ResetServiceSettingOutput::builder()
                .service_setting(setting("false", "Default"))
                .build()
        });
    let settings = SdkSettings::new(mock_client!(
        aws_sdk_ssm,
        RuleMode::MatchAny,
        [&read, &update, &reset]
    ));

    let state = settings.setting(HIGH_THROUGHPUT_SETTING).await.expect("read");
    assert_eq!(
        (state.value.as_str(), state.status.as_str(), state.is_on()),
        ("false", "Default", false)
    );
    assert_eq!(state.modified_by.as_deref(), Some("System"));
    assert_eq!(state.modified.map(|at| at.timestamp()), Some(1_700_000_000));
    settings.setting(HIGH_THROUGHPUT_SETTING).await.expect("again");
    assert_eq!(read.num_calls(), 1, "kept for minutes");

    settings
        .update(HIGH_THROUGHPUT_SETTING, "true")
        .await
        .expect("turned on");
    assert_eq!(update.num_calls(), 1);
    settings
        .setting(HIGH_THROUGHPUT_SETTING)
        .await
        .expect("read after");
    assert_eq!(read.num_calls(), 2, "a change forgets what was read");

    let undone = settings.reset(HIGH_THROUGHPUT_SETTING).await.expect("reset");
    assert_eq!((undone.value.as_str(), reset.num_calls()), ("false", 1));

    let denied = mock!(aws_sdk_ssm::Client::update_service_setting).then_http_response(|| {
        http(
            400,
            json!({"__type": "AccessDeniedException", "message": "not authorized to perform: ssm:UpdateServiceSetting"}),
        )
    });
    let settings = SdkSettings::new(mock_client!(aws_sdk_ssm, RuleMode::MatchAny, [&denied]));
    let error = settings
        .update(HIGH_THROUGHPUT_SETTING, "true")
        .await
        .expect_err("denied");
    assert_eq!(error.kind, ErrorKind::AccessDenied, "{error}");
    assert!(error.to_string().contains("UpdateServiceSetting"), "{error}");

    // Another update under way may be this one's own, retried after its answer was lost:
    // the pipeline must look before calling it failed.
    let busy = mock!(aws_sdk_ssm::Client::update_service_setting).then_http_response(|| {
        http(
            400,
            json!({"__type": "TooManyUpdates", "message": "There are concurrent updates for a resource"}),
        )
    });
    let settings = SdkSettings::new(mock_client!(aws_sdk_ssm, RuleMode::MatchAny, [&busy]));
    let error = settings
        .update(HIGH_THROUGHPUT_SETTING, "true")
        .await
        .expect_err("busy");
    assert!(error.outcome_unknown, "{error}");
}

/// What was planned on may be minutes old: right before the change the setting is read
/// again, uncached, and a person's change since refuses it, with nothing updated.
#[tokio::test]
async fn the_setting_is_read_again_right_before_it_is_turned_on() {
    use aws_sdk_ssm::operation::get_service_setting::GetServiceSettingOutput;
    use aws_sdk_ssm::operation::update_service_setting::UpdateServiceSettingOutput;
    use aws_sdk_ssm::types::ServiceSetting;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use unthrottle::api::{ApiChange, HIGH_THROUGHPUT_SETTING, SdkSettings, Settings};
    use unthrottle::core::error::ErrorKind;
    use unthrottle::core::ports::Apply;

    let reading = |value: &'static str, status: &'static str, seconds_ago: i64| {
        move || {
            GetServiceSettingOutput::builder()
                .service_setting(
                    ServiceSetting::builder()
                        .setting_id(HIGH_THROUGHPUT_SETTING)
                        .setting_value(value)
                        .status(status)
                        .last_modified_user("arn:aws:iam::123456789012:user/ops")
                        .last_modified_date(aws_smithy_types::DateTime::from_secs(
                            Utc::now().timestamp() - seconds_ago,
                        ))
                        .build(),
                )
                .build()
        }
    };
    let planned_on =
        mock!(aws_sdk_ssm::Client::get_service_setting).then_output(reading("false", "Default", 90 * 86_400));
    let changed_since =
        mock!(aws_sdk_ssm::Client::get_service_setting).then_output(reading("false", "Customized", 60));
    let update = mock!(aws_sdk_ssm::Client::update_service_setting)
        .then_output(|| UpdateServiceSettingOutput::builder().build());
    let settings = SdkSettings::new(mock_client!(
        aws_sdk_ssm,
        RuleMode::Sequential,
        [&planned_on, &changed_since, &update]
    ));
    let planned = settings.setting(HIGH_THROUGHPUT_SETTING).await.unwrap();
    assert!(!planned.is_customized(), "the plan saw AWS's default");
    let apis = Apis::new(MemoryLedger::default(), FakeQuotas::default(), settings);
    let state = unthrottle::api::ApiState {
        quota: None,
        throughput: Some(planned),
    };
    let error = apis
        .apply(
            &state,
            &ApiChange::EnableHighThroughput {
                setting_id: HIGH_THROUGHPUT_SETTING.into(),
            },
        )
        .await
        .expect_err("a person's change since refuses it");
    assert_eq!(error.kind, ErrorKind::Refused, "{error}");
    assert!(error.to_string().contains("their choice stands"), "{error}");
    assert_eq!(changed_since.num_calls(), 1, "read again, uncached");
    assert_eq!(update.num_calls(), 0, "nothing changed");
}

/// Each raise setting reaches the policy the planner decides on, not only its default.
#[test]
fn the_raise_settings_are_read_from_the_environment() {
    use unthrottle::api::planner::RaisePolicy;
    let api = configured(&[
        ("QUOTA_INCREASE", "request"),
        ("SSM_HIGH_THROUGHPUT", "enable"),
        ("QUOTA_FACTOR", "1.2"),
        ("QUOTA_MAX_FACTOR", "3"),
        ("QUOTA_MIN_EVENTS", "7"),
    ]);
    assert_eq!(
        api.raises,
        RaisePolicy {
            request: true,
            high_throughput: true,
            factor: 1.2,
            max_factor: 3.0,
            min_events: 7,
        }
    );
    let defaults = configured(&[]);
    assert!(
        !defaults.raises.request && !defaults.raises.high_throughput,
        "both off by default"
    );
}
