use super::*;
use chrono::TimeZone;

fn at(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, hour, minute, 0).unwrap()
}

fn entry(when: DateTime<Utc>, action: Action) -> HistoryEntry {
    HistoryEntry {
        at: when,
        action,
        event_id: "e".into(),
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
fn on_demand_policy_parses_case_insensitively_and_rejects_others() {
    assert_eq!("ALLOW".parse(), Ok(OnDemandPolicy::Allow));
    assert_eq!(" prefer ".parse(), Ok(OnDemandPolicy::Prefer));
    assert_eq!("never".parse(), Ok(OnDemandPolicy::Never));
    assert!("sometimes".parse::<OnDemandPolicy>().is_err());
}

#[test]
fn changes_in_last_day_counts_ours_and_aws_without_double_counting() {
    let now = at(12, 0);
    let switch = Action::SwitchToOnDemand;
    let ours_recent = entry(at(9, 0), switch);
    let ours_old = entry(at(9, 0) - Duration::days(1), switch);
    let other_action = entry(at(10, 0), Action::ScaleCapacity);

    assert_eq!(changes_in_last_day(&[], switch, None, now), 0);
    assert_eq!(
        changes_in_last_day(&[ours_old.clone(), other_action.clone()], switch, None, now),
        0,
        "old entries and other actions do not count"
    );
    assert_eq!(
        changes_in_last_day(std::slice::from_ref(&ours_recent), switch, None, now),
        1
    );
    assert_eq!(
        changes_in_last_day(
            std::slice::from_ref(&ours_recent),
            switch,
            Some(at(9, 0) + Duration::seconds(30)),
            now
        ),
        1,
        "AWS's timestamp of our own switch is the same switch"
    );
    assert_eq!(
        changes_in_last_day(&[ours_recent], switch, Some(at(11, 0)), now),
        2,
        "a switch made by someone else counts too"
    );
    assert_eq!(
        changes_in_last_day(&[], switch, Some(at(11, 0) - Duration::days(1)), now),
        0,
        "an AWS switch older than 24 h does not count"
    );
}
