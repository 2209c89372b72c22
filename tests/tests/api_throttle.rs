//! api-throttle end to end: its callers counted in the ledger (in memory, and against
//! dynalite with the real adapter), a redelivered event counted once, and the pattern the
//! counts make (one caller bursting, or fan-out) in the result. Nothing is ever changed.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use unthrottle::api::{Api, Apis};
use unthrottle::core::report::{Outcome, Report};
use unthrottle::core::service::Service;
use unthrottle::testing::{MemoryLedger, happened_at, in_memory};

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

#[tokio::test]
async fn callers_are_counted_once_per_event_and_ranked_in_the_result() {
    let service = Api::from_env(&unthrottle::core::config::Env::from_fn(|_| None)).unwrap();
    let pipeline = in_memory(service, Apis::new(MemoryLedger::default()));
    let now = Utc::now();
    let mut last = None;
    for (n, role) in ["app", "app", "app", "batch", "app"].iter().enumerate() {
        let at = now - Duration::seconds(30) + Duration::seconds(i64::try_from(n).unwrap());
        let reports = pipeline
            .handle(kms_throttle(&format!("e{n}"), role, at), now)
            .await
            .unwrap();
        last = Some(reports[0].clone());
    }
    // The first event delivered again: counted once.
    let again = pipeline
        .handle(kms_throttle("e0", "app", now - Duration::seconds(30)), now)
        .await
        .unwrap();
    let report = &again[0];

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
    assert_eq!(top(&last.unwrap()).len(), 2);
    assert!(pipeline.snapshots.objects().is_empty(), "nothing changed");
}

/// The same counting through the real ledger adapter on dynalite: one conditional
/// UpdateItem per event (a redelivery adds nothing), one Query for the window.
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
    run("d1", "fan-a").await;
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
