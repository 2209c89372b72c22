use super::*;
use crate::core::domain::Action;
use crate::core::domain::HistoryEntry;
use chrono::TimeZone;

fn at(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, hour, minute, 0).unwrap()
}

fn window(action: Action) -> RollingWindow {
    RollingWindow { action, limit: 4 }
}

fn entry(when: DateTime<Utc>, action: Action) -> HistoryEntry {
    HistoryEntry {
        at: when,
        action,
        event_id: "e".into(),
        subject: None,
    }
}

#[test]
fn raise_follows_the_documented_formula() {
    let doubling = Growth {
        factor: 2.0,
        min_step: 1,
    };
    let gentle = Growth {
        factor: 1.1,
        min_step: 5,
    };
    let cases = [
        // (growth, current, cap, expected)
        (doubling, 5, 1000, Some(10)),
        (doubling, 1, 1000, Some(2)),
        (doubling, 0, 1000, Some(1)),
        (doubling, 600, 1000, Some(1000)),
        (doubling, 999, 1000, Some(1000)),
        (doubling, 1000, 1000, None),
        (doubling, 1200, 1000, None),
        (gentle, 5, 1000, Some(10)),
        (gentle, 100, 1000, Some(110)),
        (gentle, 101, 1000, Some(112)),
    ];
    for (growth, current, cap, expected) in cases {
        assert_eq!(
            growth.raise(current, cap),
            expected,
            "{growth:?} from {current} under cap {cap}"
        );
    }
}

#[test]
fn changes_in_last_day_counts_ours_and_aws_without_double_counting() {
    let now = at(12, 0);
    let switch = Action::SWITCH_TO_ON_DEMAND;
    let ours_recent = entry(at(9, 0), switch.clone());
    let ours_old = entry(at(9, 0) - Duration::days(1), switch.clone());
    let other_action = entry(at(10, 0), Action::named("ScaleCapacity"));

    assert_eq!(window(switch.clone()).count(&[], None, now), 0);
    assert_eq!(
        window(switch.clone()).count(&[ours_old.clone(), other_action.clone()], None, now),
        0,
        "old entries and other actions do not count"
    );
    assert_eq!(
        window(switch.clone()).count(std::slice::from_ref(&ours_recent), None, now),
        1
    );
    assert_eq!(
        window(switch.clone()).count(
            std::slice::from_ref(&ours_recent),
            Some(at(9, 0) + Duration::seconds(30)),
            now
        ),
        1,
        "AWS's timestamp of our own switch is the same switch"
    );
    assert_eq!(
        window(switch.clone()).count(&[ours_recent], Some(at(11, 0)), now),
        2,
        "a switch made by someone else counts too"
    );
    assert_eq!(
        window(switch.clone()).count(&[], Some(at(11, 0) - Duration::days(1)), now),
        0,
        "an AWS switch older than 24 h does not count"
    );
}
