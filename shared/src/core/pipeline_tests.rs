use chrono::TimeZone;
use serde_json::{Value, json};

use super::*;
use crate::core::config::{AllowList, Env};
use crate::core::domain::OnDemandPolicy;
use crate::core::domain::{Action, Status};
use crate::core::guards::Growth;
use crate::core::report::Outcome;
use crate::dynamodb::{Capacity, DynamoDb, TableChange};
use crate::testing::table_policy as policy;
use crate::testing::*;
use chrono::Duration;

type Fixture = InMemory<DynamoDb, FakeTables>;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 10, 15, 5).unwrap()
}

fn allow(pattern: &str) -> AllowList {
    let pattern = pattern.to_owned();
    AllowList::from_env(
        &Env::from_fn(move |_| Some(pattern.clone())),
        &crate::dynamodb::settings::TABLE_ALLOW,
    )
    .unwrap()
}

fn fixture(tables: FakeTables) -> Fixture {
    let service = DynamoDb {
        policy: policy(OnDemandPolicy::Allow),
        allow: allow("*"),
    };
    in_memory(service, tables)
}

fn orders() -> ResourceRef {
    ResourceRef {
        service: <DynamoDb as Service>::ID,
        account: "123456789012".into(),
        region: "us-east-1".into(),
        name: "orders".into(),
    }
}

fn put_item(event_id: &str) -> Value {
    dynamodb_throttle_event(event_id, "PutItem", json!({"tableName": "orders"}))
}

async fn one(pipeline: &Fixture, event: Value, at: DateTime<Utc>) -> Report {
    let mut reports = pipeline.handle(event, at).await.expect("event is readable");
    assert_eq!(reports.len(), 1, "{reports:?}");
    reports.remove(0)
}

#[tokio::test]
async fn a_write_throttle_is_snapshotted_then_healed_and_reported() {
    let pipeline = fixture(FakeTables::with(provisioned_table(
        "orders",
        5,
        5,
        &[("by-customer", 5, 5)],
    )));
    let report = one(&pipeline, put_item("evt-1"), now()).await;

    assert_eq!(report.outcome, Outcome::Remediated, "{report:?}");
    assert_eq!(report.action, Some(crate::dynamodb::SCALE_CAPACITY));
    assert_eq!(report.before, Some(json!({"table": {"read": 5, "write": 5}})));
    assert_eq!(report.after, Some(json!({"table": {"read": 5, "write": 10}})));
    assert_eq!(
        pipeline.resources.state("orders").unwrap().capacity,
        Capacity { read: 5, write: 10 }
    );

    let snapshots = pipeline.snapshots.objects();
    assert_eq!(snapshots.len(), 1);
    let (key, body) = &snapshots[0];
    assert_eq!(
        key,
        "snapshots/dynamodb/123456789012/us-east-1/orders/20261120T101505.000Z-evt-1.json"
    );
    assert_eq!(
        report.snapshot.as_deref(),
        Some(format!("s3://memory/{key}").as_str())
    );
    assert_eq!(
        body["describe"]["Table"]["capacity"],
        json!({"read": 5, "write": 5}),
        "pre-change state"
    );
    assert_eq!(
        body["plan"]["change"],
        json!({"scale": {"table": {"read": 5, "write": 10}}})
    );
    assert_eq!(
        body["trigger"]["incident"]["origin"]["errorCode"],
        "ProvisionedThroughputExceededException"
    );
    assert_eq!(body["schema"], "unthrottle.snapshot/v1");

    let history = pipeline.ledger.history(&orders());
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].action.clone(), history[0].event_id.as_str()),
        (crate::dynamodb::SCALE_CAPACITY, "evt-1")
    );
    let claim = pipeline.ledger.claim_of(&orders()).expect("claimed");
    assert_eq!(
        (claim.holder.as_str(), claim.until),
        ("evt-1", now() + Duration::seconds(300))
    );
    assert_eq!(pipeline.metrics.published(), vec![report]);
}

#[tokio::test]
async fn no_snapshot_no_change_and_the_claim_is_released_for_a_retry() {
    let mut pipeline = fixture(FakeTables::with(provisioned_table("orders", 5, 5, &[])));
    pipeline.snapshots = MemorySnapshots::refusing();
    let report = one(&pipeline, put_item("evt-1"), now()).await;

    assert_eq!(
        (report.outcome, report.code),
        (Outcome::Failed, Some("snapshot")),
        "{report:?}"
    );
    assert!(report.reason.contains("PutObject"), "{}", report.reason);
    assert!(
        pipeline.resources.updates().is_empty(),
        "no UpdateTable without a snapshot"
    );
    assert_eq!(
        pipeline.resources.state("orders").unwrap().capacity,
        Capacity { read: 5, write: 5 }
    );
    assert_eq!(pipeline.ledger.claim_of(&orders()), None, "claim released");

    // The retry of the same event acts once the bucket is back.
    pipeline.snapshots = MemorySnapshots::default();
    let retry = one(&pipeline, put_item("evt-1"), now()).await;
    assert_eq!(retry.outcome, Outcome::Remediated, "{retry:?}");
}

#[tokio::test]
async fn a_failed_update_keeps_its_snapshot_and_releases_the_claim() {
    let tables = FakeTables::with(provisioned_table("orders", 5, 5, &[])).failing_updates(Error::new(
        ErrorKind::Refused,
        "UpdateTable",
        "table orders",
        "LimitExceededException",
    ));
    let pipeline = fixture(tables);
    let report = one(&pipeline, put_item("evt-1"), now()).await;

    assert_eq!((report.outcome, report.code), (Outcome::Failed, Some("apply")));
    assert_eq!(
        report.cause,
        Some("unknown"),
        "a failed change still names its cause"
    );
    assert_eq!(
        (report.error_kind, report.retryable),
        (Some(ErrorKind::Refused), Some(false)),
        "the adapter's error kind reaches the result"
    );
    assert!(
        report.reason.contains("LimitExceededException"),
        "{}",
        report.reason
    );
    assert_eq!(pipeline.snapshots.objects().len(), 1);
    assert_eq!(pipeline.ledger.claim_of(&orders()), None);
    assert!(pipeline.ledger.history(&orders()).is_empty());
    assert_eq!(pipeline.metrics.published()[0].code, Some("apply"));
}

#[tokio::test]
async fn dry_run_plans_and_writes_nothing() {
    let mut pipeline = fixture(FakeTables::with(provisioned_table("orders", 5, 5, &[])));
    pipeline.options.dry_run = true;
    let report = one(&pipeline, put_item("evt-1"), now()).await;

    assert_eq!(report.outcome, Outcome::Planned);
    assert_eq!(report.after, Some(json!({"table": {"read": 5, "write": 10}})));
    assert!(report.reason.starts_with("DRY_RUN"), "{}", report.reason);
    assert!(pipeline.resources.updates().is_empty());
    assert!(pipeline.snapshots.objects().is_empty());
    assert_eq!(pipeline.ledger.writes(), 0);
    assert!(pipeline.metrics.published().is_empty());
}

#[tokio::test]
async fn the_same_event_twice_changes_the_table_once() {
    let pipeline = fixture(FakeTables::with(provisioned_table("orders", 5, 5, &[])));
    let first = one(&pipeline, put_item("evt-1"), now()).await;
    assert_eq!(first.outcome, Outcome::Remediated);

    // Re-delivered during the cooldown: the claim it holds says so.
    let during = one(&pipeline, put_item("evt-1"), now() + Duration::minutes(1)).await;
    // Re-delivered after the cooldown: the claim still names the event that changed it.
    let after = one(&pipeline, put_item("evt-1"), now() + Duration::hours(2)).await;
    // Re-delivered days later, when the history has aged out of the ledger (and no age
    // limit is set): the claim is kept until the next change, so it still says so.
    let days = one(&pipeline, put_item("evt-1"), now() + Duration::days(3)).await;

    let codes = [during.code, after.code, days.code];
    assert_eq!(
        codes,
        [Some("duplicate"), Some("duplicate"), Some("duplicate")],
        "{days:?}"
    );
    assert_eq!(
        pipeline.ledger.lease_of(&orders()),
        None,
        "each gave its lease back"
    );
    assert_eq!(pipeline.resources.updates().len(), 1);
    assert_eq!(pipeline.resources.state("orders").unwrap().capacity.write, 10);
}

#[tokio::test]
async fn a_storm_of_events_for_one_incident_makes_one_change() {
    let pipeline = fixture(FakeTables::with(provisioned_table("orders", 5, 5, &[])));
    let mut outcomes = Vec::new();
    for n in 0..1000 {
        let at = now() + Duration::milliseconds(n * 100);
        outcomes.push(one(&pipeline, put_item(&format!("evt-{n}")), at).await);
    }
    let remediated = outcomes
        .iter()
        .filter(|r| r.outcome == Outcome::Remediated)
        .count();
    let cooling = outcomes.iter().filter(|r| r.code == Some("cooling-down")).count();
    assert_eq!((remediated, cooling), (1, 999));
    assert_eq!(pipeline.resources.updates().len(), 1);
    assert_eq!(
        pipeline.resources.describe_calls(),
        1,
        "events in the cooldown do not even describe"
    );

    // After the cooldown, an event of that incident delivered late describes the capacity
    // before the change: acting on it would double again.
    let late = one(&pipeline, put_item("evt-late"), now() + Duration::seconds(400)).await;
    assert_eq!(
        (late.outcome, late.code),
        (Outcome::Skipped, Some("stale")),
        "{late:?}"
    );
    assert_eq!(late.cause, Some("unknown"), "a stale event names the cause too");
    assert_eq!(pipeline.resources.state("orders").unwrap().capacity.write, 10);

    // A throttle that happened after the change had settled is a new incident.
    let after = now() + Duration::seconds(400);
    let fresh = one(&pipeline, happened_at(put_item("evt-new"), after), after).await;
    assert_eq!(fresh.outcome, Outcome::Remediated, "{fresh:?}");
    assert_eq!(pipeline.resources.state("orders").unwrap().capacity.write, 20);
}

#[tokio::test]
async fn an_event_from_before_a_change_aws_reports_is_stale() {
    // Someone raised the table by hand at 10:15:30; the throttle is from 10:15:00.
    let mut table = provisioned_table("orders", 5, 5, &[]);
    table.last_change = Some(Utc.with_ymd_and_hms(2026, 11, 20, 10, 15, 30).unwrap());
    let pipeline = fixture(FakeTables::with(table));
    let report = one(&pipeline, put_item("evt-1"), now() + Duration::minutes(5)).await;
    assert_eq!(
        (report.outcome, report.code),
        (Outcome::Skipped, Some("stale")),
        "{report:?}"
    );
    assert!(report.reason.contains("10:15:30"), "{}", report.reason);
    assert!(pipeline.resources.updates().is_empty());
    nothing_held_or_recorded(&pipeline.ledger);

    // Within the settle margin of that change it is still stale; after it, it is acted on.
    let settling = Utc.with_ymd_and_hms(2026, 11, 20, 10, 16, 20).unwrap();
    let report = one(&pipeline, happened_at(put_item("evt-2"), settling), settling).await;
    assert_eq!(report.code, Some("stale"), "{report:?}");
    let settled = Utc.with_ymd_and_hms(2026, 11, 20, 10, 16, 40).unwrap();
    let report = one(&pipeline, happened_at(put_item("evt-3"), settled), settled).await;
    assert_eq!(report.outcome, Outcome::Remediated, "{report:?}");
}

#[tokio::test]
async fn an_event_older_than_the_limit_is_skipped_before_any_call() {
    let mut pipeline = fixture(FakeTables::with(provisioned_table("orders", 5, 5, &[])));
    pipeline.options.max_event_age = Some(Duration::hours(1));
    let report = one(&pipeline, put_item("evt-1"), now() + Duration::minutes(61)).await;
    assert_eq!(
        (report.outcome, report.code),
        (Outcome::Skipped, Some("too-old")),
        "{report:?}"
    );
    assert_eq!(pipeline.resources.describe_calls(), 0);
    assert_eq!(pipeline.ledger.writes(), 0);

    let report = one(&pipeline, put_item("evt-2"), now() + Duration::minutes(59)).await;
    assert_eq!(report.outcome, Outcome::Remediated, "{report:?}");
}

#[tokio::test]
async fn resources_of_another_account_or_region_are_never_touched() {
    let pipeline = fixture(FakeTables::with(provisioned_table("orders", 5, 5, &[])));
    let other_account = dynamodb_throttle_event(
        "evt-arn",
        "PutItem",
        json!({"tableName": "arn:aws:dynamodb:us-east-1:999999999999:table/orders"}),
    );
    let mut other_region = put_item("evt-region");
    other_region["detail"]["awsRegion"] = json!("eu-west-1");
    let mut other_recipient = put_item("evt-recipient");
    other_recipient["detail"]["recipientAccountId"] = json!("999999999999");
    let mut envelope_only = put_item("evt-envelope");
    envelope_only["account"] = json!("999999999999");
    envelope_only["detail"]
        .as_object_mut()
        .unwrap()
        .remove("recipientAccountId");
    for event in [other_account, other_region, other_recipient, envelope_only] {
        let report = one(&pipeline, event, now()).await;
        assert_eq!(
            (report.outcome, report.code),
            (Outcome::Skipped, Some("foreign")),
            "{report:?}"
        );
    }
    assert_eq!(pipeline.resources.describe_calls(), 0, "no describe");
    assert_eq!(pipeline.ledger.writes(), 0, "no write");

    // The same table named by an ARN of the function's own account and region is ours.
    let own = dynamodb_throttle_event(
        "evt-own",
        "PutItem",
        json!({"tableName": "arn:aws:dynamodb:us-east-1:123456789012:table/orders"}),
    );
    assert_eq!(one(&pipeline, own, now()).await.outcome, Outcome::Remediated);
}

#[tokio::test]
async fn opted_out_not_allowed_missing_and_non_throttle_tables_are_skipped_with_nothing_recorded() {
    let tables = FakeTables::default()
        .and(
            provisioned_table("orders", 5, 5, &[]),
            &[("unthrottle:disabled", "TRUE")],
        )
        .and(provisioned_table("payments", 5, 5, &[]), &[]);
    let mut pipeline = fixture(tables);
    pipeline.service.allow = allow("orders*");

    let opted_out = one(&pipeline, put_item("e1"), now()).await;
    assert_eq!(
        (opted_out.outcome, opted_out.code),
        (Outcome::Skipped, Some("opted-out"))
    );
    assert!(
        opted_out.reason.contains("unthrottle:disabled=true"),
        "{}",
        opted_out.reason
    );

    let payments = dynamodb_throttle_event("e2", "PutItem", json!({"tableName": "payments"}));
    let not_allowed = one(&pipeline, payments, now()).await;
    assert_eq!(not_allowed.code, Some("not-allowed"));
    assert_eq!(
        pipeline.resources.describe_calls(),
        1,
        "the allow-list is checked before DescribeTable"
    );

    let missing = dynamodb_throttle_event("e3", "PutItem", json!({"tableName": "orders-gone"}));
    assert_eq!(one(&pipeline, missing, now()).await.code, Some("not-found"));

    let mut success = put_item("e4");
    success["detail"].as_object_mut().unwrap().remove("errorCode");
    let not_throttle = one(&pipeline, success, now()).await;
    assert_eq!(
        (not_throttle.code, not_throttle.resource),
        (Some("not-throttle"), None)
    );

    assert!(pipeline.resources.updates().is_empty());
    assert!(pipeline.snapshots.objects().is_empty());
    nothing_held_or_recorded(&pipeline.ledger);
    let codes: Vec<_> = pipeline.metrics.published().iter().map(|r| r.code).collect();
    assert_eq!(
        codes,
        [
            Some("opted-out"),
            Some("not-allowed"),
            Some("not-found"),
            Some("not-throttle")
        ]
    );
}

#[tokio::test]
async fn one_event_naming_two_tables_reports_each() {
    let tables = FakeTables::with(provisioned_table("orders", 5, 5, &[]))
        .and(provisioned_table("customers", 8, 8, &[]), &[]);
    let pipeline = fixture(tables);
    let event = dynamodb_throttle_event(
        "evt-b",
        "BatchWriteItem",
        json!({"requestItems": {"orders": [], "customers": []}}),
    );
    let reports = pipeline.handle(event, now()).await.unwrap();

    // Batch tables come in the order serde_json keeps object keys, which depends on features.
    let mut summary: Vec<_> = reports
        .iter()
        .map(|r| (r.resource.as_deref(), r.outcome))
        .collect();
    summary.sort();
    assert_eq!(
        summary,
        [
            (Some("customers"), Outcome::Remediated),
            (Some("orders"), Outcome::Remediated)
        ]
    );
    assert_eq!(pipeline.resources.state("customers").unwrap().capacity.write, 16);
    assert_eq!(pipeline.snapshots.objects().len(), 2);
}

#[tokio::test]
async fn the_on_demand_guard_counts_the_ledger_across_incidents() {
    let pipeline = fixture(FakeTables::with(provisioned_table("orders", 5, 100, &[])));
    let first = one(&pipeline, put_item("evt-1"), now()).await;
    assert_eq!(first.action, Some(Action::SWITCH_TO_ON_DEMAND), "{first:?}");
    assert_eq!(
        pipeline.resources.updates(),
        vec![("orders".to_owned(), TableChange::SwitchToOnDemand)]
    );

    // Someone switches the table back to provisioned; a second incident the same day.
    let back = provisioned_table("orders", 5, 100, &[]);
    let pipeline = Pipeline {
        resources: FakeTables::with(back),
        ..pipeline
    };
    let later = now() + Duration::hours(3);
    let second = one(&pipeline, happened_at(put_item("evt-2"), later), later).await;
    assert_eq!(
        (second.outcome, second.code),
        (Outcome::Skipped, Some("at-cap")),
        "{second:?}"
    );
    assert!(
        second
            .reason
            .contains("on-demand guard refused: 1 switch(es) in the last 24 h"),
        "{}",
        second.reason
    );
    assert!(pipeline.resources.updates().is_empty());
}

#[tokio::test]
async fn unreadable_events_are_errors_and_counted_as_failures() {
    let pipeline = fixture(FakeTables::default());
    for event in [
        json!({"hello": "world"}),
        json!(null),
        put_item("x")["detail"].clone(),
    ] {
        let err = pipeline.handle(event.clone(), now()).await.unwrap_err();
        assert!(
            err.to_string().contains("not an EventBridge event"),
            "{event}: {err}"
        );
    }
    let no_table = dynamodb_throttle_event("evt-n", "PutItem", json!({}));
    let err = pipeline.handle(no_table, now()).await.unwrap_err();
    assert!(err.to_string().contains("names no table"), "{err}");

    let published = pipeline.metrics.published();
    assert_eq!(published.len(), 4);
    assert!(published.iter().all(|r| r.code == Some("malformed-event")));
    assert_eq!(pipeline.ledger.writes(), 0);
}

#[tokio::test]
async fn a_throttled_stream_is_snapshotted_then_resharded_through_the_same_pipeline() {
    use crate::kinesis::{Kinesis, StreamChange, StreamPolicy};
    let service = Kinesis {
        policy: StreamPolicy {
            growth: Growth {
                factor: 2.0,
                min_step: 1,
            },
            headroom: 1.25,
            max_shards: 64,
            on_demand: OnDemandPolicy::Never,
            max_switches_per_day: 1,
        },
        allow: allow("*"),
    };
    let pipeline = in_memory(service, FakeStreams::with(provisioned_stream("clickstream", 2)));
    let event = kinesis_throttle_event("evt-k", "PutRecords", json!({"streamName": "clickstream"}));
    let reports = pipeline.handle(event.clone(), now()).await.unwrap();

    assert_eq!(reports.len(), 1);
    let report = &reports[0];
    assert_eq!(
        (report.outcome, report.service, report.action.clone()),
        (
            Outcome::Remediated,
            <crate::kinesis::Kinesis as Service>::ID,
            Some(crate::kinesis::UPDATE_SHARD_COUNT)
        )
    );
    assert_eq!(report.after, Some(json!({"openShards": 4})));
    assert_eq!(
        pipeline.resources.updates(),
        vec![(
            "clickstream".to_owned(),
            StreamChange::UpdateShardCount { target: 4 }
        )]
    );
    let (key, body) = &pipeline.snapshots.objects()[0];
    assert!(
        key.starts_with("snapshots/kinesis/123456789012/us-east-1/clickstream/"),
        "{key}"
    );
    assert_eq!(
        body["describe"]["DescribeStreamSummary"]["StreamDescriptionSummary"]["openShards"],
        json!(2)
    );

    // Re-delivered after the cooldown: the claim still names the event that changed it.
    let again = pipeline.handle(event, now() + Duration::hours(1)).await.unwrap();
    assert_eq!(again[0].code, Some("duplicate"));
    assert_eq!(pipeline.resources.state("clickstream").unwrap().open_shards, 4);
}

#[tokio::test]
async fn a_failure_a_retry_may_fix_makes_the_invocation_an_error_and_others_do_not() {
    let cases = [
        (ErrorKind::Throttled, true),
        (ErrorKind::Transient, true),
        (ErrorKind::Refused, false),
        (ErrorKind::AccessDenied, false),
        (ErrorKind::Invalid, false),
    ];
    for (kind, retried) in cases {
        let tables = FakeTables::with(provisioned_table("orders", 5, 5, &[])).failing_updates(Error::new(
            kind,
            "UpdateTable",
            "orders",
            "AWS said no",
        ));
        let pipeline = fixture(tables);
        let reports = pipeline.handle(put_item("evt-1"), now()).await.unwrap();
        assert_eq!(reports[0].outcome, Outcome::Failed);
        match verdict(reports) {
            Err(InvocationError::Retryable(message)) => {
                assert!(retried, "{kind}: {message}");
                assert!(message.contains("dynamodb orders"), "{message}");
            }
            Ok(reports) => assert!(!retried, "{kind} must be retried: {reports:?}"),
            Err(other) => panic!("{kind}: {other}"),
        }
        // Either way the claim is released, so the retry (or the next event) can act.
        assert_eq!(pipeline.ledger.claim_of(&orders()), None, "{kind}");
    }
}

#[tokio::test]
async fn skips_and_changes_are_never_invocation_errors() {
    let pipeline = fixture(FakeTables::with(provisioned_table("orders", 5, 5, &[])));
    let first = pipeline.handle(put_item("evt-1"), now()).await.unwrap();
    let again = pipeline.handle(put_item("evt-2"), now()).await.unwrap();
    assert_eq!(first[0].outcome, Outcome::Remediated);
    assert_eq!(again[0].code, Some("cooling-down"));
    assert!(verdict(first).is_ok());
    assert!(verdict(again).is_ok());
}

#[tokio::test]
async fn a_change_whose_answer_is_lost_is_recorded_as_made_not_retried() {
    let lost =
        Error::new(ErrorKind::Transient, "UpdateTable", "orders", "connection reset").with_unknown_outcome();
    let tables = FakeTables::with(provisioned_table("orders", 5, 5, &[])).losing_responses(lost);
    let pipeline = fixture(tables);

    let report = one(&pipeline, put_item("evt-1"), now()).await;
    assert_eq!(report.outcome, Outcome::Remediated, "{report:?}");
    assert_eq!(
        pipeline.resources.describe_calls(),
        2,
        "described again after the error"
    );
    assert_eq!(pipeline.ledger.history(&orders()).len(), 1, "the change counts");
    assert!(pipeline.ledger.claim_of(&orders()).is_some(), "the claim is kept");

    // Lambda's retry of the same event (or another of the incident) changes nothing more.
    let retry = one(&pipeline, put_item("evt-1"), now() + Duration::seconds(70)).await;
    assert_eq!(retry.code, Some("duplicate"));
    assert_eq!(pipeline.resources.updates().len(), 1);
    assert_eq!(pipeline.resources.state("orders").unwrap().capacity.write, 10);
}

#[tokio::test]
async fn a_repeated_claim_of_the_same_invocation_is_granted_again() {
    let ledger = MemoryLedger::default();
    let ticket = Ticket {
        resource: orders(),
        event_id: "evt-1".into(),
        invocation: "request-1".into(),
        now: now(),
        lease: Duration::seconds(60),
        cooldown: Duration::seconds(300),
    };
    let granted = |admission: Admission| matches!(admission, Admission::Granted(_));
    // The SDK retries a write whose first answer was lost: it finds its own lease.
    assert!(granted(ledger.claim(&ticket).await.unwrap()));
    assert!(granted(ledger.claim(&ticket).await.unwrap()));
    // Another invocation of the same event is a duplicate while the lease holds, and of
    // another event is held back.
    let redelivery = Ticket {
        invocation: "request-2".into(),
        ..ticket.clone()
    };
    let Admission::Held(view) = ledger.claim(&redelivery).await.unwrap() else {
        panic!("a second invocation took a held lease");
    };
    assert!(matches!(
        view.holds_back("evt-1", "request-2", now()),
        Some(Held::Duplicate { .. })
    ));
    let other = Ticket {
        event_id: "evt-2".into(),
        invocation: "request-3".into(),
        ..ticket.clone()
    };
    let Admission::Held(view) = ledger.claim(&other).await.unwrap() else {
        panic!("another event took a held lease");
    };
    assert!(matches!(
        view.holds_back("evt-2", "request-3", now()),
        Some(Held::InFlight { .. })
    ));

    // Committed, the event that changed it stays a duplicate after its cooldown, and a
    // lease past its end (the invocation timed out) is free for Lambda's retry.
    ledger.commit(&ticket, &[], &[], false).await.unwrap();
    let later = Ticket {
        invocation: "request-4".into(),
        now: now() + Duration::hours(1),
        ..ticket.clone()
    };
    assert!(matches!(ledger.claim(&later).await.unwrap(), Admission::Held(_)));
    let timed_out = Ticket {
        event_id: "evt-5".into(),
        invocation: "request-5".into(),
        ..later.clone()
    };
    assert!(granted(ledger.claim(&timed_out).await.unwrap()));
    let retry = Ticket {
        invocation: "request-6".into(),
        now: later.now + Duration::seconds(61),
        ..timed_out
    };
    assert!(granted(ledger.claim(&retry).await.unwrap()));
}

#[tokio::test(start_paused = true)]
async fn no_step_starts_that_the_deadline_would_cut_short() {
    let slow = std::time::Duration::from_secs(20);
    let pipeline = fixture(FakeTables::with(provisioned_table("orders", 5, 5, &[])).slow_describes(slow));
    let at = |seconds_left: u64| Invocation {
        deadline: Some(tokio::time::Instant::now() + std::time::Duration::from_secs(seconds_left)),
        ..Invocation::from(now())
    };

    // 5 s left: not even the ledger is read.
    let report = pipeline.handle(put_item("evt-1"), at(5)).await.unwrap().remove(0);
    assert_eq!(
        (report.outcome, report.code),
        (Outcome::Failed, Some("deadline")),
        "{report:?}"
    );
    assert_eq!(
        (pipeline.resources.describe_calls(), pipeline.ledger.writes()),
        (0, 0)
    );
    // The describe (20 s) leaves 60 - 20 = 40 s, less than the 45 s that commit, snapshot
    // and change may take: nothing is recorded, snapshotted or changed, the lease is given
    // back, and Lambda retries.
    let reports = pipeline.handle(put_item("evt-1"), at(60)).await.unwrap();
    assert_eq!(reports[0].code, Some("deadline"), "{reports:?}");
    assert_eq!(reports[0].retryable, Some(true));
    assert!(matches!(verdict(reports), Err(InvocationError::Retryable(_))));
    nothing_held_or_recorded(&pipeline.ledger);
    assert!(pipeline.snapshots.objects().is_empty(), "no snapshot");
    assert!(pipeline.resources.updates().is_empty(), "no change");
    // With the time it needs, the retry heals.
    let report = pipeline
        .handle(put_item("evt-1"), at(140))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(report.outcome, Outcome::Remediated, "{report:?}");
}

#[tokio::test]
async fn a_refused_change_backs_off_for_a_growing_while() {
    let refused = Error::new(
        ErrorKind::Refused,
        "UpdateTable",
        "orders",
        "LimitExceededException",
    );
    let pipeline = fixture(FakeTables::with(provisioned_table("orders", 5, 5, &[])).failing_updates(refused));
    let first = one(&pipeline, put_item("evt-1"), now()).await;
    assert_eq!(
        (first.outcome, first.error_kind),
        (Outcome::Failed, Some(ErrorKind::Refused))
    );
    let refusal = pipeline.ledger.refusal(&orders()).expect("recorded");
    assert_eq!(
        (refusal.strikes, refusal.until),
        (1, now() + Duration::minutes(15))
    );

    // Within the 15 minutes: no describe, no snapshot, no update call.
    let describes = pipeline.resources.describe_calls();
    let at = now() + Duration::minutes(10);
    let waiting = one(&pipeline, happened_at(put_item("evt-2"), at), at).await;
    assert_eq!(waiting.code, Some("backing-off"), "{waiting:?}");
    assert!(
        waiting.reason.contains("LimitExceededException"),
        "{}",
        waiting.reason
    );
    assert_eq!(pipeline.resources.describe_calls(), describes);
    assert_eq!(
        pipeline.snapshots.objects().len(),
        1,
        "only the first try's snapshot"
    );

    // After it, one more try; refused again, the wait doubles.
    let at = now() + Duration::minutes(16);
    let again = one(&pipeline, happened_at(put_item("evt-3"), at), at).await;
    assert_eq!(again.outcome, Outcome::Failed);
    let refusal = pipeline.ledger.refusal(&orders()).expect("recorded");
    assert_eq!((refusal.strikes, refusal.until), (2, at + Duration::minutes(30)));
}

#[test]
fn the_back_off_doubles_from_15_minutes_to_a_day() {
    let mut refusal: Option<Refusal> = None;
    let mut waits = Vec::new();
    for _ in 0..9 {
        let next = Refusal::after(refusal.as_ref(), now(), "refused".into());
        waits.push((next.until - now()).num_minutes());
        refusal = Some(next);
    }
    assert_eq!(waits, [15, 30, 60, 120, 240, 480, 960, 1440, 1440]);
}

#[tokio::test]
async fn a_change_aws_answered_with_an_error_is_never_taken_for_made() {
    // Someone else's update makes the table busy: AWS refuses ours (ResourceInUseException,
    // answered), and the table describes as UPDATING. That update is not ours.
    let in_use = Error::new(
        ErrorKind::Transient,
        "UpdateTable",
        "orders",
        "ResourceInUseException",
    );
    let mut busy = provisioned_table("orders", 5, 5, &[]);
    busy.status = Status::Busy("UPDATING".into());
    let tables = FakeTables::with(provisioned_table("orders", 5, 5, &[])).failing_updates(in_use);
    let pipeline = fixture(tables);
    let report = one(&pipeline, put_item("evt-1"), now()).await;
    assert_eq!(
        (report.outcome, report.code),
        (Outcome::Failed, Some("apply")),
        "{report:?}"
    );
    assert_eq!(
        pipeline.resources.describe_calls(),
        1,
        "no second look: AWS said no"
    );
    assert!(
        pipeline.ledger.history(&orders()).is_empty(),
        "nothing recorded as made"
    );
    assert_eq!(
        pipeline.ledger.claim_of(&orders()),
        None,
        "released for the retry"
    );
    assert!(
        <DynamoDb as Service>::applied(&busy, &TableChange::SwitchToOnDemand),
        "busy would have counted"
    );
}

/// No lease or claim held, no change recorded, no refusal: what an event that changed
/// nothing leaves in the ledger (its lease was taken and given back).
fn nothing_held_or_recorded(ledger: &MemoryLedger) {
    assert_eq!(ledger.lease_of(&orders()), None, "lease given back");
    assert_eq!(ledger.claim_of(&orders()), None, "nothing claimed");
    assert!(ledger.history(&orders()).is_empty(), "nothing recorded");
    assert_eq!(ledger.refusal(&orders()), None, "nothing refused");
}

#[tokio::test]
async fn two_runs_of_one_request_id_change_the_table_once() {
    // Lambda may deliver an asynchronous event twice, under the same request id: the two
    // runs must not share a lease.
    let pipeline = fixture(FakeTables::with(provisioned_table("orders", 5, 5, &[])));
    let invocation = Invocation::from(now());
    let (first, second) = tokio::join!(
        pipeline.handle(put_item("evt-1"), invocation.clone()),
        pipeline.handle(put_item("evt-1"), invocation)
    );
    let mut codes: Vec<Option<&str>> = [first.unwrap(), second.unwrap()]
        .iter()
        .map(|reports| reports[0].code)
        .collect();
    codes.sort();
    assert_eq!(codes, [None, Some("duplicate")]);
    assert_eq!(pipeline.resources.updates().len(), 1);
    assert_eq!(pipeline.ledger.lease_of(&orders()), None);
}

#[tokio::test]
async fn a_commit_repeated_by_its_own_run_is_granted_and_a_late_one_is_not() {
    let ledger = MemoryLedger::default();
    let ticket = Ticket {
        resource: orders(),
        event_id: "evt-1".into(),
        invocation: "request-1#run-1".into(),
        now: now(),
        lease: Duration::seconds(60),
        cooldown: Duration::seconds(300),
    };
    assert!(matches!(
        ledger.claim(&ticket).await.unwrap(),
        Admission::Granted(_)
    ));
    ledger.commit(&ticket, &[], &[], false).await.unwrap();
    ledger
        .commit(&ticket, &[], &[], false)
        .await
        .expect("the SDK's resend of a commit whose answer was lost");
    let twin = Ticket {
        invocation: "request-1#run-2".into(),
        ..ticket.clone()
    };
    assert!(ledger.commit(&twin, &[], &[], false).await.is_err());
    // An undo by another run leaves the claim alone; this run's removes it.
    ledger.release(&twin, Release::Commit(&[]), None).await.unwrap();
    assert!(ledger.claim_of(&orders()).is_some());
    ledger.release(&ticket, Release::Commit(&[]), None).await.unwrap();
    assert_eq!(ledger.claim_of(&orders()), None);
}
