use chrono::{Duration, TimeZone, Utc};
use serde_json::json;

use super::*;
use crate::core::domain::{Action, HistoryEntry};
use crate::core::envelope::Scope;
use crate::core::ledger::{Claim, Refusal};
use crate::core::service::Service;
use crate::dynamodb::DynamoDb;

fn home() -> Home {
    Home {
        scope: Scope {
            account: "123456789012".into(),
            region: "us-east-1".into(),
        },
    }
}

fn keys() -> Vec<String> {
    [
        "snapshots/dynamodb/123456789012/us-east-1/orders/20261120T101500.000Z-a.json",
        "snapshots/dynamodb/123456789012/us-east-1/orders/20261121T090000.000Z-b.json",
        "snapshots/kinesis/123456789012/us-east-1/clickstream/20261120T120000.000Z-c.json",
        // Another account's and another region's, and what is not a snapshot key.
        "snapshots/dynamodb/999999999999/us-east-1/orders/20261122T000000.000Z-d.json",
        "snapshots/dynamodb/123456789012/eu-west-1/orders/20261122T000000.000Z-e.json",
        "snapshots/dynamodb/123456789012/us-east-1/orders/extra/20261122T000000.000Z-f.json",
        "README",
    ]
    .map(str::to_owned)
    .to_vec()
}

#[test]
fn history_selects_this_home_newest_first_by_resource_and_service() {
    let all = Filter {
        limit: 10,
        ..Filter::default()
    };
    let keys = keys();
    assert_eq!(
        select(&keys, &home(), &all),
        [
            "snapshots/dynamodb/123456789012/us-east-1/orders/20261121T090000.000Z-b.json",
            "snapshots/kinesis/123456789012/us-east-1/clickstream/20261120T120000.000Z-c.json",
            "snapshots/dynamodb/123456789012/us-east-1/orders/20261120T101500.000Z-a.json",
        ]
    );
    let orders = Filter {
        resource: Some("orders".into()),
        limit: 1,
        ..Filter::default()
    };
    assert_eq!(
        select(&keys, &home(), &orders),
        ["snapshots/dynamodb/123456789012/us-east-1/orders/20261121T090000.000Z-b.json"],
        "the newest of the resource's, at most the limit"
    );
    let streams = Filter {
        service: Some("kinesis".into()),
        limit: 10,
        ..Filter::default()
    };
    assert_eq!(select(&keys, &home(), &streams).len(), 1);
}

#[test]
fn a_snapshot_document_is_a_change_row_and_anything_else_is_not() {
    let document = json!({
        "schema": "unthrottle.snapshot/v1",
        "service": "dynamodb", "account": "123456789012", "region": "us-east-1", "name": "orders",
        "takenAt": "2026-11-20T10:15:00.123Z",
        "plan": {"action": "ScaleCapacity", "change": {}, "before": {"write": 5}, "after": {"write": 10}, "why": "throttled"}
    });
    let row = change_row(&document, "s3://b/k".into()).expect("a change");
    assert_eq!(row.kind, Kind::Change);
    assert_eq!(row.resource, "dynamodb/orders");
    assert_eq!(row.action.as_deref(), Some("ScaleCapacity"));
    assert_eq!(row.after, Some(json!({"write": 10})));
    assert_eq!(row.snapshot.as_deref(), Some("s3://b/k"));
    assert_eq!(
        row.at,
        Utc.with_ymd_and_hms(2026, 11, 20, 10, 15, 0).unwrap() + Duration::milliseconds(123)
    );
    for not_one in [
        json!({}),
        json!({"plan": {}}),
        json!([1]),
        json!({"plan": {}, "takenAt": "yesterday"}),
    ] {
        assert_eq!(change_row(&not_one, "s3://b/k".into()), None, "{not_one}");
    }
}

#[test]
fn the_ledger_adds_live_claims_refusals_and_changes_made_elsewhere_only() {
    let now = Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap();
    let resource = ResourceRef {
        service: DynamoDb::ID,
        account: "123456789012".into(),
        region: "us-east-1".into(),
        name: "orders".into(),
    };
    let view = LedgerView {
        claim: Some(Claim {
            holder: "evt-1".into(),
            until: now + Duration::minutes(3),
            invocation: None,
        }),
        history: vec![
            HistoryEntry {
                at: now - Duration::hours(1),
                action: Action::named("ScaleCapacity"),
                event_id: "evt-0".into(),
                subject: None,
            },
            HistoryEntry::reported(now - Duration::hours(2), Action::named("UpdateTable")),
        ],
        refusal: Some(Refusal {
            until: now + Duration::minutes(15),
            strikes: 1,
            reason: "LimitExceededException".into(),
        }),
        ..LedgerView::default()
    };
    let rows = ledger_rows(&resource, &view, now);
    let kinds: Vec<Kind> = rows.iter().map(|row| row.kind).collect();
    assert_eq!(
        kinds,
        [Kind::Claimed, Kind::Refused, Kind::ChangedElsewhere],
        "ours has its snapshot row"
    );
    assert!(rows[0].detail.contains("evt-1"), "{}", rows[0].detail);

    let expired = LedgerView {
        claim: Some(Claim {
            holder: "evt-1".into(),
            until: now - Duration::seconds(1),
            invocation: None,
        }),
        history: Vec::new(),
        refusal: None,
        ..LedgerView::default()
    };
    assert!(
        ledger_rows(&resource, &expired, now).is_empty(),
        "an ended claim is history already"
    );
}
