//! The dynamodb-throttle pipeline with its real SDK adapters against dynalite (DynamoDB)
//! and moto (S3). Each test owns its tables and bucket, so tests run in parallel.

use aws_sdk_dynamodb::types::BillingMode as AwsBillingMode;
use chrono::{Duration, Utc};
use futures::future::join_all;
use integration_tests::{expected_skips, sample_event, throughput};
use serde_json::{Value, json};
use unthrottle::core::report::Outcome;
use unthrottle::dynamodb::DynamoDb;

type World = integration_tests::World<DynamoDb>;

/// `settings` are environment variables on top of the required ones.
async fn world(settings: &[(&str, &str)]) -> World {
    World::new(("dynamodb", "orders"), settings).await
}

/// What these tests read back from DynamoDB.
trait TableWorld {
    async fn capacity(&self) -> (i64, i64);
    async fn gsi_capacity(&self, gsi: &str) -> (i64, i64);
}

impl TableWorld for World {
    /// The table's capacity once any update has finished (DynamoDB reports the new
    /// values when the table is ACTIVE again).
    async fn capacity(&self) -> (i64, i64) {
        let description = self.aws.wait_active(&self.name).await;
        let throughput = description.provisioned_throughput().expect("throughput");
        (
            throughput.read_capacity_units().unwrap_or_default(),
            throughput.write_capacity_units().unwrap_or_default(),
        )
    }

    async fn gsi_capacity(&self, gsi: &str) -> (i64, i64) {
        let description = self.aws.wait_active(&self.name).await;
        let index = description
            .global_secondary_indexes()
            .iter()
            .find(|index| index.index_name() == Some(gsi))
            .expect("GSI exists");
        let throughput = index.provisioned_throughput().expect("throughput");
        (
            throughput.read_capacity_units().unwrap_or_default(),
            throughput.write_capacity_units().unwrap_or_default(),
        )
    }
}

#[tokio::test]
async fn write_throttle_raises_table_wcu_only_after_a_snapshot_of_the_old_capacity() {
    let world = world(&[]).await;
    world
        .aws
        .create_table(&world.name, 5, 5, &[("by-customer", 5, 5)])
        .await;

    let report = world
        .run(world.event("cloudtrail-putitem-throttled.json"), Utc::now())
        .await;

    assert_eq!(report.outcome, Outcome::Remediated, "{report:?}");
    assert_eq!(world.capacity().await, (5, 10));
    assert_eq!(
        world.gsi_capacity("by-customer").await,
        (5, 5),
        "GSI at the table's WCU is left alone"
    );

    let keys = world.aws.object_keys(&world.stores.bucket).await;
    assert_eq!(keys.len(), 1);
    assert!(
        keys[0].starts_with(&format!(
            "snapshots/dynamodb/123456789012/us-east-1/{}/",
            world.name
        )),
        "{}",
        keys[0]
    );
    assert_eq!(
        report.snapshot,
        Some(format!("s3://{}/{}", world.stores.bucket, keys[0]))
    );
    let snapshot = world.aws.object_json(&world.stores.bucket, &keys[0]).await;
    let described = &snapshot["describe"]["Table"];
    assert_eq!(
        described["ProvisionedThroughput"]["WriteCapacityUnits"],
        json!(5),
        "pre-change capacity"
    );
    assert_eq!(described["TableName"], json!(world.name));
    assert!(
        described["KeySchema"].is_array(),
        "the raw DescribeTable output, every field"
    );
    assert_eq!(
        snapshot["plan"]["after"],
        json!({"table": {"read": 5, "write": 10}})
    );

    // One item per resource: the claim of this event, the change it made, no lease left.
    let ledger = world.aws.items(&world.stores.ledger).await;
    assert_eq!(ledger.len(), 1, "{ledger:?}");
    let item = &ledger[0];
    assert_eq!(item["holder"].as_s().ok(), report.event_id.as_ref());
    let changes: Vec<&String> = item.keys().filter(|name| name.starts_with("change#")).collect();
    assert_eq!(changes.len(), 1, "{item:?}");
    assert!(
        !item.contains_key("lease_holder"),
        "the lease became the claim: {item:?}"
    );
    assert_eq!(world.pipeline.metrics.published(), vec![report]);
}

#[tokio::test]
async fn read_throttle_raises_table_rcu_only() {
    let world = world(&[]).await;
    world.aws.create_table(&world.name, 5, 5, &[]).await;
    let report = world
        .run(world.event("cloudtrail-getitem-throttled.json"), Utc::now())
        .await;
    assert_eq!(report.outcome, Outcome::Remediated, "{report:?}");
    assert_eq!(world.capacity().await, (10, 5));
}

#[tokio::test]
async fn gsi_throttle_raises_that_gsi_only() {
    let world = world(&[]).await;
    world
        .aws
        .create_table(&world.name, 5, 5, &[("by-customer", 5, 5), ("by-date", 5, 5)])
        .await;
    let report = world
        .run(world.event("cloudtrail-query-gsi-throttled.json"), Utc::now())
        .await;
    assert_eq!(report.outcome, Outcome::Remediated, "{report:?}");
    assert_eq!(world.gsi_capacity("by-customer").await, (10, 5));
    assert_eq!(world.gsi_capacity("by-date").await, (5, 5));
    assert_eq!(world.capacity().await, (5, 5));
}

#[tokio::test]
async fn alarm_on_a_gsi_raises_that_gsi() {
    let world = world(&[]).await;
    world
        .aws
        .create_table(&world.name, 5, 5, &[("by-customer", 5, 5)])
        .await;
    let report = world
        .run(world.event("alarm-read-throttle-gsi.json"), Utc::now())
        .await;
    assert_eq!(report.outcome, Outcome::Remediated, "{report:?}");
    assert_eq!(world.gsi_capacity("by-customer").await, (10, 5));
}

#[tokio::test]
async fn at_the_cap_the_table_switches_to_on_demand_once_per_day() {
    let world = world(&[("ON_DEMAND", "allow"), ("MAX_WRITE_CAPACITY", "5")]).await;
    world.aws.create_table(&world.name, 5, 5, &[]).await;
    let start = Utc::now();

    let first = world
        .run(world.event("cloudtrail-putitem-throttled.json"), start)
        .await;
    assert_eq!(first.outcome, Outcome::Remediated, "{first:?}");
    assert_eq!(first.action.as_ref().map(|a| a.name()), Some("SwitchToOnDemand"));
    let switched = world.aws.wait_active(&world.name).await;
    let summary = switched.billing_mode_summary().expect("billing summary");
    assert_eq!(summary.billing_mode(), Some(&AwsBillingMode::PayPerRequest));

    // An operator switches it back to provisioned; a new incident the same day.
    world
        .aws
        .dynamodb
        .update_table()
        .table_name(&world.name)
        .billing_mode(AwsBillingMode::Provisioned)
        .provisioned_throughput(throughput(5, 5))
        .send()
        .await
        .expect("switch back");
    world.aws.wait_active(&world.name).await;
    let second = world
        .run(
            world.event_at("alarm-write-throttle-events.json", start + Duration::hours(1)),
            start + Duration::hours(1),
        )
        .await;

    assert_eq!(
        (second.outcome, second.code),
        (Outcome::Skipped, Some("at-cap")),
        "{second:?}"
    );
    assert!(
        second.reason.contains("on-demand guard refused"),
        "{}",
        second.reason
    );
    let after = world.aws.describe(&world.name).await;
    assert_ne!(
        after.billing_mode_summary().and_then(|s| s.billing_mode()),
        Some(&AwsBillingMode::PayPerRequest),
        "not switched again"
    );
    assert_eq!(
        world.aws.object_keys(&world.stores.bucket).await.len(),
        1,
        "one snapshot: the first switch"
    );
}

#[tokio::test]
async fn an_on_demand_table_is_skipped_without_any_write() {
    let world = world(&[("ON_DEMAND", "allow")]).await;
    world.aws.create_on_demand_table(&world.name).await;
    let report = world
        .run(world.event("cloudtrail-putitem-throttled.json"), Utc::now())
        .await;
    assert_eq!(
        (report.outcome, report.code),
        (Outcome::Skipped, Some("already-on-demand")),
        "{report:?}"
    );
    assert!(report.reason.contains("hot keys"), "{}", report.reason);
    assert_eq!(
        report.cause,
        Some("unknown"),
        "a hold names the cause too: no metrics here"
    );
    world.assert_nothing_written().await;
}

#[tokio::test]
async fn an_updating_table_is_skipped_without_any_write() {
    let world = world(&[]).await;
    world.aws.create_table(&world.name, 5, 5, &[]).await;
    world
        .aws
        .dynamodb
        .update_table()
        .table_name(&world.name)
        .provisioned_throughput(throughput(6, 6))
        .send()
        .await
        .expect("UpdateTable by hand");

    let report = world
        .run(world.event("cloudtrail-putitem-throttled.json"), Utc::now())
        .await;
    assert_eq!(
        (report.outcome, report.code),
        (Outcome::Skipped, Some("update-in-progress")),
        "{report:?}"
    );
    world.assert_nothing_written().await;
    world.aws.wait_active(&world.name).await;
    assert_eq!(
        world.capacity().await,
        (6, 6),
        "only the hand-made update happened"
    );
}

#[tokio::test]
async fn an_opted_out_table_is_skipped_without_any_write() {
    let world = world(&[]).await;
    world.aws.create_table(&world.name, 5, 5, &[]).await;
    world.aws.tag(&world.name, "unthrottle:disabled", "true").await;
    let report = world
        .run(world.event("cloudtrail-putitem-throttled.json"), Utc::now())
        .await;
    assert_eq!(
        (report.outcome, report.code),
        (Outcome::Skipped, Some("opted-out")),
        "{report:?}"
    );
    world.assert_nothing_written().await;
    assert_eq!(world.capacity().await, (5, 5));
}

#[tokio::test]
async fn non_throttle_events_are_skipped_without_any_write() {
    let world = world(&[]).await;
    world.aws.create_table(&world.name, 5, 5, &[]).await;
    // What each is skipped as is written once, in events/expected.json.
    let skips = expected_skips("dynamodb", "dynamodb-throttle");
    assert!(skips.len() >= 5, "{skips:?}");
    for (sample, code) in &skips {
        let report = world.run(world.event(sample), Utc::now()).await;
        assert_eq!(
            (report.outcome, report.code),
            (Outcome::Skipped, Some(code.as_str())),
            "{sample}: {report:?}"
        );
    }
    world.assert_nothing_written().await;
    assert_eq!(world.capacity().await, (5, 5));
}

#[tokio::test]
async fn the_same_event_delivered_twice_changes_the_table_once() {
    let world = world(&[]).await;
    world.aws.create_table(&world.name, 5, 5, &[]).await;
    let event = world.event("cloudtrail-putitem-throttled.json");
    let start = Utc::now();

    let first = world.run(event.clone(), start).await;
    world.aws.wait_active(&world.name).await;
    // Re-delivered during the cooldown: the claim is this event's.
    let during = world.run(event.clone(), start + Duration::minutes(1)).await;
    // Re-delivered after the cooldown: the claim still names the event that changed it.
    let after = world.run(event, start + Duration::minutes(30)).await;

    assert_eq!(first.outcome, Outcome::Remediated, "{first:?}");
    assert_eq!(
        (during.code, after.code),
        (Some("duplicate"), Some("duplicate")),
        "{during:?} {after:?}"
    );
    assert_eq!(world.capacity().await, (5, 10));
    assert_eq!(world.aws.object_keys(&world.stores.bucket).await.len(), 1);
}

#[tokio::test]
async fn concurrent_invocations_for_one_table_change_it_once() {
    let world = world(&[]).await;
    world.aws.create_table(&world.name, 5, 5, &[]).await;
    let events: Vec<Value> = (0..8)
        .map(|n| {
            let mut event = world.event("cloudtrail-putitem-throttled.json");
            event["detail"]["eventID"] = json!(format!("storm-{n}"));
            event
        })
        .collect();
    let now = Utc::now();
    // Polled together on one task: each awaits I/O, so the conditional writes race for real.
    let reports = join_all(events.into_iter().map(|event| world.run(event, now))).await;

    let remediated = reports
        .iter()
        .filter(|r| r.outcome == Outcome::Remediated)
        .count();
    assert_eq!(remediated, 1, "{reports:#?}");
    assert!(
        reports
            .iter()
            .filter(|r| r.outcome != Outcome::Remediated)
            .all(|r| r.code == Some("cooling-down"))
    );
    world.aws.wait_active(&world.name).await;
    assert_eq!(world.capacity().await, (5, 10));
}

#[tokio::test]
async fn a_missing_snapshot_bucket_fails_and_leaves_the_table_unchanged() {
    let mut world = world(&[]).await;
    world.aws.create_table(&world.name, 5, 5, &[]).await;
    world.pipeline.snapshots = world.aws.snapshots("no-such-bucket-unthrottle");

    let report = world
        .run(world.event("cloudtrail-putitem-throttled.json"), Utc::now())
        .await;

    assert_eq!(
        (report.outcome, report.code),
        (Outcome::Failed, Some("snapshot")),
        "{report:?}"
    );
    assert!(
        report.reason.contains("no-such-bucket-unthrottle"),
        "{}",
        report.reason
    );
    assert_eq!(
        world.capacity().await,
        (5, 5),
        "no UpdateTable without a snapshot"
    );
    // The commit beside the snapshot was undone, and the lease given back for a retry.
    world.assert_nothing_recorded().await;
}

#[tokio::test]
async fn malformed_events_get_clear_errors_and_write_nothing() {
    let world = world(&[]).await;
    for (sample, words) in [
        (
            "malformed/not-an-eventbridge-event.json",
            "not an EventBridge event",
        ),
        (
            "malformed/cloudtrail-missing-detail.json",
            "has no usable `detail`",
        ),
        ("malformed/cloudtrail-throttled-no-table.json", "names no table"),
    ] {
        let event = sample_event(sample, "orders", &world.name);
        let error = world.pipeline.handle(event, Utc::now()).await.expect_err(sample);
        assert!(error.to_string().contains(words), "{sample}: {error}");
    }
    world.assert_nothing_written().await;
}

#[tokio::test]
async fn a_malformed_ledger_record_fails_the_event_instead_of_being_ignored() {
    use aws_sdk_dynamodb::types::AttributeValue::S;
    use unthrottle::core::error::ErrorKind;

    let world = world(&[]).await;
    world.aws.create_table(&world.name, 5, 5, &[]).await;
    // A change without its time: read as absent, it would let a daily-limit guard pass.
    world
        .aws
        .dynamodb
        .put_item()
        .table_name(&world.stores.ledger)
        .item("pk", S(format!("dynamodb#123456789012#us-east-1#{}", world.name)))
        .item("sk", S("claim".to_owned()))
        .item(
            "change#broken",
            aws_sdk_dynamodb::types::AttributeValue::M(
                [("action".to_owned(), S("ScaleCapacity".to_owned()))].into(),
            ),
        )
        .send()
        .await
        .expect("PutItem");

    let report = world
        .run(world.event("cloudtrail-putitem-throttled.json"), Utc::now())
        .await;
    assert_eq!(
        (report.outcome, report.code, report.error_kind, report.retryable),
        (
            Outcome::Failed,
            Some("ledger"),
            Some(ErrorKind::Invalid),
            Some(false)
        ),
        "{report:?}"
    );
    assert!(report.reason.contains("change#broken"), "{}", report.reason);
    assert_eq!(world.capacity().await, (5, 5), "nothing changed");
    assert!(
        world.aws.object_keys(&world.stores.bucket).await.is_empty(),
        "no snapshot"
    );
}

/// The claim protocol against dynalite, step by step: what each write leaves in the item
/// and what the next claim is told.
#[tokio::test]
async fn the_ledger_leases_commits_and_releases_as_the_protocol_says() {
    use unthrottle::core::domain::{Action, HistoryEntry, ResourceRef};
    use unthrottle::core::ledger::{Admission, Held, Refusal, Release, Ticket};
    use unthrottle::core::ports::Ledger;
    use unthrottle::core::service::Service;

    let world = world(&[]).await;
    let ledger = world.aws.ledger(&world.stores.ledger);
    // Whole seconds, which every time the ledger keeps survives unrounded.
    let now = chrono::SubsecRound::trunc_subsecs(Utc::now(), 0);
    let ticket = Ticket {
        resource: ResourceRef {
            service: DynamoDb::ID,
            account: "123456789012".into(),
            region: "us-east-1".into(),
            name: world.name.clone(),
        },
        event_id: "evt-1".into(),
        invocation: "request-1".into(),
        now,
        lease: Duration::seconds(60),
        cooldown: Duration::seconds(300),
    };
    let held = |admission: Admission, ticket: &Ticket| match admission {
        Admission::Held(view) => view.holds_back(&ticket.event_id, &ticket.invocation, ticket.now),
        Admission::Granted(view) => panic!("granted over {view:?}"),
    };

    // The SDK retrying the claim after its answer was lost is granted again.
    assert!(matches!(
        ledger.claim(&ticket).await.unwrap(),
        Admission::Granted(_)
    ));
    assert!(matches!(
        ledger.claim(&ticket).await.unwrap(),
        Admission::Granted(_)
    ));
    // While the lease holds: the same event from another invocation is a duplicate,
    // another event is held back; each learns it from the one refused write.
    let redelivery = Ticket {
        invocation: "request-2".into(),
        ..ticket.clone()
    };
    assert!(matches!(
        held(ledger.claim(&redelivery).await.unwrap(), &redelivery),
        Some(Held::Duplicate { .. })
    ));
    let other = Ticket {
        event_id: "evt-2".into(),
        invocation: "request-3".into(),
        ..ticket.clone()
    };
    assert!(matches!(
        held(ledger.claim(&other).await.unwrap(), &other),
        Some(Held::InFlight { .. })
    ));

    // The commit records the change and turns the lease into the cooldown claim.
    let made = HistoryEntry {
        at: now,
        action: Action::named("ScaleCapacity"),
        event_id: "evt-1".into(),
        subject: None,
    };
    let forgotten = HistoryEntry {
        at: now - Duration::hours(49),
        ..made.clone()
    };
    ledger.record(&ticket.resource, &forgotten).await.unwrap();
    ledger
        .commit(
            &ticket,
            std::slice::from_ref(&made),
            std::slice::from_ref(&forgotten),
            false,
        )
        .await
        .unwrap();
    // The SDK resending the commit after its answer was lost: the same run, granted again,
    // not taken for a lease lost (which would leave a change recorded and never made).
    ledger
        .commit(&ticket, std::slice::from_ref(&made), &[], false)
        .await
        .expect("a repeated commit of the same run");
    let view = ledger.view(&ticket.resource, now).await.unwrap();
    assert_eq!(view.history, vec![made.clone()], "the old record was pruned");
    assert!(view.expired.is_empty());
    assert_eq!(view.lease, None);
    assert_eq!(
        view.claim.as_ref().map(|claim| claim.holder.as_str()),
        Some("evt-1")
    );
    // A commit without the lease is refused: nothing can be changed unrecorded. So is one of
    // another run of the same event under the same request id (Lambda may deliver an
    // asynchronous event twice under one id).
    let late = ledger.commit(&other, &[], &[], false).await.unwrap_err();
    assert_eq!(late.kind, unthrottle::core::error::ErrorKind::Transient, "{late}");
    let twin = Ticket {
        invocation: "request-1#another-run".into(),
        ..ticket.clone()
    };
    assert!(ledger.commit(&twin, &[], &[], false).await.is_err());

    // After the cooldown, the event that made the change is still a duplicate, and a new
    // event is granted, with the history in what the claim returns.
    let after = |event: &str, invocation: &str| Ticket {
        event_id: event.into(),
        invocation: invocation.into(),
        now: now + Duration::seconds(301),
        ..ticket.clone()
    };
    let again = after("evt-1", "request-4");
    assert!(matches!(
        held(ledger.claim(&again).await.unwrap(), &again),
        Some(Held::Duplicate { .. })
    ));
    let next = after("evt-3", "request-5");
    let Admission::Granted(view) = ledger.claim(&next).await.unwrap() else {
        panic!("a new incident after the cooldown was refused");
    };
    assert_eq!(view.history, vec![made.clone()]);

    // A failed change is undone, and the refusal it met backs later events off.
    let attempted = HistoryEntry {
        at: next.now,
        event_id: "evt-3".into(),
        ..made.clone()
    };
    ledger
        .commit(&next, std::slice::from_ref(&attempted), &[], false)
        .await
        .unwrap();
    let refusal = Refusal {
        until: next.now + Duration::minutes(15),
        strikes: 1,
        reason: "LimitExceededException".into(),
    };
    ledger
        .release(
            &next,
            Release::Commit(std::slice::from_ref(&attempted)),
            Some(&refusal),
        )
        .await
        .unwrap();
    let view = ledger.view(&ticket.resource, next.now).await.unwrap();
    assert_eq!(
        view.history,
        vec![made],
        "the undone change is gone, the made one stays"
    );
    assert_eq!(view.claim, None);
    assert_eq!(view.refusal, Some(refusal.clone()));
    let backed_off = after("evt-4", "request-6");
    assert!(matches!(
        held(ledger.claim(&backed_off).await.unwrap(), &backed_off),
        Some(Held::BackingOff(r)) if r == refusal
    ));

    // A lease whose invocation timed out is free once it ends: Lambda's retry takes it.
    let stuck = Ticket {
        now: refusal.until + Duration::seconds(1),
        ..after("evt-5", "request-7")
    };
    assert!(matches!(
        ledger.claim(&stuck).await.unwrap(),
        Admission::Granted(_)
    ));
    let retry = Ticket {
        invocation: "request-8".into(),
        now: stuck.now + Duration::seconds(61),
        ..stuck.clone()
    };
    let Admission::Granted(view) = ledger.claim(&retry).await.unwrap() else {
        panic!("the retry after a timeout was refused");
    };
    assert_eq!(view.lease.map(|lease| lease.holder), Some("evt-5".to_owned()));
}

/// A diagnosis takes no claim: the lease is given back remembering the event, so its
/// redelivery is refused at the claim, while other events still take the resource; the
/// most recent `DIAGNOSES_REMEMBERED` are kept. The same steps on dynalite and on the
/// in-memory ledger the unit tests use, so the two agree.
#[tokio::test]
async fn a_diagnosed_event_is_remembered_and_its_redelivery_refused_at_the_claim() {
    let world = world(&[]).await;
    diagnoses_are_remembered(&world.aws.ledger(&world.stores.ledger), &world.name).await;
    diagnoses_are_remembered(&unthrottle::testing::MemoryLedger::default(), &world.name).await;

    use aws_sdk_dynamodb::types::AttributeValue;
    // Written by hand as a string, the attribute holds nothing back (on a string, `contains`
    // would match a part of an id): the claim is granted and reads no diagnosed event.
    use unthrottle::core::ledger::{Admission, Ticket};
    use unthrottle::core::ports::Ledger;
    let ledger = world.aws.ledger(&world.stores.ledger);
    let resource = world.resource();
    world
        .aws
        .dynamodb
        .update_item()
        .table_name(&world.stores.ledger)
        .key("pk", AttributeValue::S(resource.key()))
        .key("sk", AttributeValue::S("claim".into()))
        .update_expression("SET diagnosed = :text")
        .expression_attribute_values(":text", AttributeValue::S("evt-broken-by-hand".into()))
        .send()
        .await
        .expect("UpdateItem by hand");
    let claimed = ledger
        .claim(&Ticket {
            resource,
            event_id: "evt-broken".into(),
            invocation: "run-after-the-hand".into(),
            now: Utc::now(),
            lease: Duration::seconds(60),
            cooldown: Duration::seconds(300),
        })
        .await
        .unwrap();
    assert!(
        matches!(&claimed, Admission::Granted(view) if view.diagnosed.is_empty()),
        "{claimed:?}"
    );
}

async fn diagnoses_are_remembered(ledger: &impl unthrottle::core::ports::Ledger, name: &str) {
    use unthrottle::core::domain::ResourceRef;
    use unthrottle::core::ledger::{Admission, DIAGNOSES_REMEMBERED, Held, Release, Ticket};
    use unthrottle::core::service::Service;

    let now = chrono::SubsecRound::trunc_subsecs(Utc::now(), 0);
    let ticket = |event: &str, invocation: &str| Ticket {
        resource: ResourceRef {
            service: unthrottle::api::Api::ID,
            account: "123456789012".into(),
            region: "us-east-1".into(),
            name: name.to_owned(),
        },
        event_id: event.to_owned(),
        invocation: invocation.to_owned(),
        now,
        lease: Duration::seconds(60),
        cooldown: Duration::seconds(300),
    };
    let diagnose = |event: String| async move {
        let diagnosing = ticket(&event, &format!("{event}-run"));
        let Admission::Granted(view) = ledger.claim(&diagnosing).await.unwrap() else {
            panic!("{event} refused");
        };
        let remembered = view.diagnosed_with(&event);
        ledger
            .release(&diagnosing, Release::Diagnosed(&remembered), None)
            .await
            .unwrap();
        view
    };

    diagnose("evt-a".to_owned()).await;
    let redelivery = ticket("evt-a", "run-2");
    let Admission::Held(view) = ledger.claim(&redelivery).await.unwrap() else {
        panic!("a diagnosed event taken again");
    };
    assert!(matches!(
        view.holds_back("evt-a", "run-2", now),
        Some(Held::Duplicate { detail }) if detail.contains("diagnosed already")
    ));

    // An event given back undiagnosed (a failure) is not remembered: its retry acts.
    let failing = ticket("evt-b", "run-3");
    let Admission::Granted(view) = ledger.claim(&failing).await.unwrap() else {
        panic!("another event refused");
    };
    assert_eq!(view.diagnosed, ["evt-a"]);
    ledger.release(&failing, Release::Lease, None).await.unwrap();
    let retry = ticket("evt-b", "run-4");
    assert!(matches!(
        ledger.claim(&retry).await.unwrap(),
        Admission::Granted(_)
    ));
    ledger.release(&retry, Release::Lease, None).await.unwrap();

    // A run whose lease ended and was taken over remembers nothing: its release is refused,
    // and so is the same release sent again.
    let slow = ticket("evt-slow", "run-slow");
    assert!(matches!(
        ledger.claim(&slow).await.unwrap(),
        Admission::Granted(_)
    ));
    let later = Ticket {
        now: now + Duration::seconds(61),
        ..ticket("evt-later", "run-later")
    };
    assert!(matches!(
        ledger.claim(&later).await.unwrap(),
        Admission::Granted(_)
    ));
    let slow_ids = ["evt-a".to_owned(), "evt-slow".to_owned()];
    for _ in 0..2 {
        ledger
            .release(&slow, Release::Diagnosed(&slow_ids), None)
            .await
            .unwrap();
    }
    let view = ledger.view(&slow.resource, later.now).await.unwrap();
    assert_eq!(view.diagnosed, ["evt-a"], "the slow run's release wrote nothing");
    assert_eq!(view.lease.map(|lease| lease.holder).as_deref(), Some("evt-later"));
    ledger.release(&later, Release::Lease, None).await.unwrap();

    // The most recent are kept: the first is forgotten once as many more were diagnosed.
    for n in 0..DIAGNOSES_REMEMBERED {
        diagnose(format!("evt-{n}")).await;
    }
    let view = ledger.view(&redelivery.resource, now).await.unwrap();
    assert_eq!(view.diagnosed.len(), DIAGNOSES_REMEMBERED);
    assert_eq!(view.diagnosed.first().map(String::as_str), Some("evt-0"));
    assert_eq!(
        view.diagnosed.last().map(String::as_str),
        Some(format!("evt-{}", DIAGNOSES_REMEMBERED - 1).as_str())
    );
    let long_after = ticket("evt-a", "run-5");
    assert!(matches!(
        ledger.claim(&long_after).await.unwrap(),
        Admission::Granted(_)
    ));
}

/// A table whose writes Application Auto Scaling manages (on moto, which stores the bounds
/// and never moves the table): the floor is raised and UpdateTable is never called, so auto
/// scaling cannot take the raise back. The snapshot keeps the old floor.
#[tokio::test]
async fn an_auto_scaled_side_gets_a_higher_floor_and_the_table_is_not_updated() {
    let world = world(&[]).await;
    world.aws.create_table(&world.name, 5, 5, &[]).await;
    let resource_id = format!("table/{}", world.name);
    world.aws.auto_scale_writes(&world.name, 5, 50).await;

    // The sample's alarm on a cause metric: no metrics lookup, the SCALE_FACTOR step.
    let sample = integration_tests::sample_event(
        "dynamodb/alarm-write-provisioned-throttle-auto-scaled.json",
        "inventory",
        &world.name,
    );
    let report = world
        .run(unthrottle::testing::happened_at(sample, Utc::now()), Utc::now())
        .await;

    assert_eq!(report.outcome, Outcome::Remediated, "{report:?}");
    assert_eq!(report.cause, Some("provisioned-throughput"));
    assert!(
        report.reason.contains("auto scaling floor 5 -> 10"),
        "{}",
        report.reason
    );
    let bounds = world.aws.scaling_bounds(&world.name).await;
    assert_eq!(bounds, [(10, 50)], "the floor moved, the ceiling kept");
    assert_eq!(
        world.capacity().await,
        (5, 5),
        "no UpdateTable: auto scaling moves the table"
    );
    let description = world.aws.describe(&world.name).await;
    assert!(
        description
            .provisioned_throughput()
            .and_then(|t| t.last_increase_date_time())
            .is_none(),
        "the table was never updated"
    );

    let keys = world.aws.object_keys(&world.stores.bucket).await;
    assert_eq!(keys.len(), 1);
    let snapshot = world.aws.object_json(&world.stores.bucket, &keys[0]).await;
    assert_eq!(snapshot["describe"]["ScalableTargets"][0]["MinCapacity"], 5);
    assert_eq!(
        snapshot["describe"]["ScalableTargets"][0]["ResourceId"],
        json!(resource_id)
    );
}

/// A table at its per-table account quota: nothing changes, the quota is announced on the
/// default bus (moto's EventBridge accepts it) and later events back off.
#[tokio::test]
async fn an_account_quota_is_announced_and_nothing_changes() {
    let world = world(&[]).await;
    world.aws.create_table(&world.name, 5, 5, &[]).await;
    let sample = integration_tests::sample_event(
        "dynamodb/alarm-write-account-limit-throttle.json",
        "customers",
        &world.name,
    );

    let report = world
        .run(
            unthrottle::testing::happened_at(sample.clone(), Utc::now()),
            Utc::now(),
        )
        .await;

    assert_eq!(report.outcome, Outcome::Diagnosed, "{report:?}");
    assert_eq!(report.code, Some("account-quota"));
    assert_eq!(world.capacity().await, (5, 5));
    assert!(
        world.aws.object_keys(&world.stores.bucket).await.is_empty(),
        "no snapshot"
    );

    let mut again = unthrottle::testing::happened_at(sample, Utc::now());
    again["id"] = json!("another-delivery-of-the-alarm");
    let later = world.run(again, Utc::now()).await;
    assert_eq!(later.code, Some("backing-off"), "{later:?}");
}

/// MIN_THROTTLE_EVENTS against the real ledger adapter on dynalite: two distinct CloudTrail
/// throttles in one window are not enough for 3, the third acts; the sighting is one item
/// per dimension and window, its events a set.
#[tokio::test]
async fn a_burst_below_min_throttle_events_is_not_sustained_and_the_third_event_acts() {
    let world = world(&[("MIN_THROTTLE_EVENTS", "3"), ("SUSTAIN_SECONDS", "3600")]).await;
    world.aws.create_table(&world.name, 5, 5, &[]).await;
    let now = Utc::now();
    let throttle = |id: &str| {
        let mut event = world.event_at("cloudtrail-putitem-throttled.json", now);
        event["detail"]["eventID"] = json!(id);
        event
    };

    for id in ["one", "one", "two"] {
        let report = world.run(throttle(id), now).await;
        assert_eq!(report.code, Some("not-sustained"), "{report:?}");
    }
    assert_eq!(
        world.capacity().await,
        (5, 5),
        "nothing changed before it is sustained"
    );

    let third = world.run(throttle("three"), now).await;
    assert_eq!(third.outcome, Outcome::Remediated, "{third:?}");
    assert_eq!(world.capacity().await, (5, 10));
}

/// A history record keeps the part it changed (the shard a split split) through dynalite,
/// and one written without it reads back without it.
#[tokio::test]
async fn the_ledger_keeps_the_subject_of_a_change() {
    use unthrottle::core::domain::{Action, HistoryEntry, ResourceRef};
    use unthrottle::core::ports::Ledger;
    use unthrottle::core::service::Service;

    let world = world(&[]).await;
    let ledger = world.aws.ledger(&world.stores.ledger);
    let resource = ResourceRef {
        service: DynamoDb::ID,
        account: "123456789012".into(),
        region: "us-east-1".into(),
        name: world.name.clone(),
    };
    let now = Utc::now();
    let split = HistoryEntry {
        at: now - Duration::minutes(2),
        action: Action::named("SplitShard"),
        event_id: "evt-split".into(),
        subject: Some("shardId-000000000001".into()),
    };
    let whole = HistoryEntry {
        at: now - Duration::minutes(1),
        action: Action::named("UpdateTable"),
        event_id: "evt-update".into(),
        subject: None,
    };
    ledger.record(&resource, &split).await.expect("record");
    ledger.record(&resource, &whole).await.expect("record");

    let history = ledger.view(&resource, now).await.expect("view").history;
    let subjects: Vec<(&str, Option<&str>)> = history
        .iter()
        .map(|entry| (entry.event_id.as_str(), entry.subject.as_deref()))
        .collect();
    assert_eq!(
        subjects,
        [("evt-split", Some("shardId-000000000001")), ("evt-update", None)]
    );
}
