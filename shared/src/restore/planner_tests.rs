use super::*;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

fn policy() -> Policy {
    Policy {
        quiet: Duration::hours(24),
        headroom: 1.25,
        switch_back: false,
    }
}

fn raise(uri: &str, when: &str, dials: &[(&str, u64, u64)]) -> Kept {
    Kept::Raise {
        uri: uri.to_owned(),
        at: at(when),
        dials: dials
            .iter()
            .map(|(dial, before, after)| ((*dial).to_owned(), *before, *after))
            .collect(),
        switched: false,
    }
}

fn dials(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs
        .iter()
        .map(|(dial, value)| ((*dial).to_owned(), *value))
        .collect()
}

/// `orders`, raised at 2026-12-01T10:00 from 5/5 to 40 writes, quiet since.
fn raised_orders() -> Episode {
    episode(
        &[raise(
            "s3://b/1",
            "2026-12-01T10:00:00Z",
            &[("table.write", 5, 40)],
        )],
        at(NOW),
    )
    .unwrap()
}

fn subject(now: &[(&str, u64)], usage: Result<Usage, String>) -> Subject {
    Subject {
        name: "orders".to_owned(),
        opted_out: false,
        busy: false,
        on_demand: false,
        now: dials(now),
        raised_at: None,
        switched_at: None,
        usage,
        limits: BTreeMap::new(),
    }
}

fn quiet(peak: &[(&str, f64)]) -> Result<Usage, String> {
    Ok(Usage {
        throttles: 0.0,
        peak: peak
            .iter()
            .map(|(dial, rate)| ((*dial).to_owned(), *rate))
            .collect(),
    })
}

const NOW: &str = "2026-12-02T11:00:00Z";

/// What `plan` decides, and for a step, the episode a call that sets all of `to` leaves and
/// whether it is done.
fn stepping(
    episode: &Episode,
    subject: &Subject,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<(BTreeMap<String, u64>, Episode, bool), Verdict> {
    match plan(episode, subject, policy, now) {
        Verdict::Step {
            to,
            from,
            switch_back,
            ..
        } => {
            let (after, done) = stepped(episode, &from, &to, switch_back, now);
            Ok((to, after, done))
        }
        other => Err(other),
    }
}

#[test]
fn an_episode_runs_from_its_first_raise_to_the_newest_and_ends_at_a_boundary() {
    // Newest first: two raises of one incident, on top of a finished restore.
    let finished = Kept::Restore {
        at: at("2026-12-01T08:00:00Z"),
        episode: raised_orders(),
        done: true,
    };
    let kept = [
        raise(
            "s3://b/3",
            "2026-12-02T09:00:00Z",
            &[("table.write", 10, 40), ("table.read", 5, 8)],
        ),
        raise("s3://b/2", "2026-12-02T08:00:00Z", &[("table.write", 5, 10)]),
        finished.clone(),
        raise("s3://b/0", "2026-11-01T08:00:00Z", &[("table.write", 1, 5)]),
    ];
    let open = episode(&kept, at(NOW)).unwrap();
    assert_eq!(open.baseline, dials(&[("table.write", 5), ("table.read", 5)]));
    assert_eq!(open.set, dials(&[("table.write", 40), ("table.read", 8)]));
    assert_eq!(open.raised_at, at("2026-12-02T09:00:00Z"));
    assert_eq!(open.origin, "s3://b/2");
    // Nothing after a finished restore or a rollback: nothing open.
    assert_eq!(episode(std::slice::from_ref(&finished), at(NOW)), None);
    assert_eq!(episode(&[Kept::Boundary, kept[3].clone()], at(NOW)), None);
    assert_eq!(episode(&[], at(NOW)), None);
    // A finished step is looked at for two hours: long enough for a run to see it landed.
    assert!(episode(&[finished], at("2026-12-01T09:00:00Z")).is_some());
    // An unfinished restore carries its baseline into a raise made after it.
    let mut halfway = raised_orders();
    halfway.set = dials(&[("table.write", 20)]);
    let kept = [
        raise("s3://b/9", "2026-12-02T09:00:00Z", &[("table.write", 20, 30)]),
        Kept::Restore {
            at: at("2026-12-02T08:00:00Z"),
            episode: halfway,
            done: false,
        },
    ];
    let open = episode(&kept, at(NOW)).unwrap();
    assert_eq!(open.baseline, dials(&[("table.write", 5)]));
    assert_eq!(open.set, dials(&[("table.write", 30)]));
    assert_eq!(open.origin, "s3://b/1");
}

#[test]
fn each_rule_keeps_or_steps_as_the_table_says() {
    let episode = raised_orders();
    let now = at(NOW);
    let step = |to: &[(&str, u64)], done: bool| (Some(dials(to)), done, None);
    let kept = |reason: SkipReason| (None, false, Some(reason));
    type Case = (
        &'static str,
        Subject,
        (Option<BTreeMap<String, u64>>, bool, Option<SkipReason>),
    );
    let cases: Vec<Case> = vec![
        (
            "quiet, no traffic: back to the pre-incident value",
            subject(&[("table.write", 40)], quiet(&[])),
            step(&[("table.write", 5)], true),
        ),
        (
            "quiet, a peak of 12/s: ceil(12 x 1.25) = 15, above pre-incident",
            subject(&[("table.write", 40)], quiet(&[("table.write", 12.0)])),
            step(&[("table.write", 15)], false),
        ),
        (
            "a small peak never takes it below pre-incident",
            subject(&[("table.write", 40)], quiet(&[("table.write", 1.0)])),
            step(&[("table.write", 5)], true),
        ),
        (
            "a peak above what is set: nothing to lower, and never a raise",
            subject(&[("table.write", 40)], quiet(&[("table.write", 100.0)])),
            kept(SkipReason::Settled),
        ),
        (
            "throttled within the window: not quiet",
            subject(
                &[("table.write", 40)],
                Ok(Usage {
                    throttles: 3.0,
                    peak: BTreeMap::new(),
                }),
            ),
            kept(SkipReason::NotQuiet),
        ),
        (
            "partial metrics prove nothing",
            subject(
                &[("table.write", 40)],
                Err("series t1 came back InternalError".into()),
            ),
            kept(SkipReason::MetricsPartial),
        ),
        (
            "a person raised it since (AWS's last increase): not quiet",
            Subject {
                raised_at: Some(at("2026-12-02T08:00:00Z")),
                ..subject(&[("table.write", 40)], quiet(&[]))
            },
            kept(SkipReason::NotQuiet),
        ),
        (
            "a person changed what unthrottle set: theirs now",
            subject(&[("table.write", 25)], quiet(&[])),
            kept(SkipReason::ChangedSince),
        ),
        (
            "switched to on-demand since, by someone else: theirs now",
            Subject {
                on_demand: true,
                ..subject(&[], quiet(&[]))
            },
            kept(SkipReason::ChangedSince),
        ),
        (
            "opted out",
            Subject {
                opted_out: true,
                ..subject(&[("table.write", 40)], quiet(&[]))
            },
            kept(SkipReason::OptedOut),
        ),
        (
            "updating",
            Subject {
                busy: true,
                ..subject(&[("table.write", 40)], quiet(&[]))
            },
            kept(SkipReason::UpdateInProgress),
        ),
        (
            "AWS's daily decreases used up",
            Subject {
                limits: BTreeMap::from([(
                    "table.write".to_owned(),
                    Limit::Blocked("27 decreases today".into()),
                )]),
                ..subject(&[("table.write", 40)], quiet(&[]))
            },
            kept(SkipReason::DailyLimit),
        ),
        (
            "a stream halves at most: 40 -> 20 now, the rest in later steps",
            Subject {
                limits: BTreeMap::from([("table.write".to_owned(), Limit::Down(20))]),
                ..subject(&[("table.write", 40)], quiet(&[]))
            },
            step(&[("table.write", 20)], false),
        ),
    ];
    for (case, subject, (to, done, reason)) in cases {
        match stepping(&episode, &subject, &policy(), now) {
            Ok((stepped, after, finished)) => {
                assert_eq!(Some(&stepped), to.as_ref(), "{case}");
                assert_eq!(finished, done, "{case}");
                assert_eq!(after.stepped_at, Some(now), "{case}");
                assert_eq!(
                    after.baseline, episode.baseline,
                    "{case}: the baseline never moves"
                );
            }
            Err(Verdict::Keep { reason: kept, why }) => {
                assert_eq!(Some(kept), reason, "{case}: {why}");
            }
            Err(other) => panic!("{case}: {other:?}"),
        }
    }
}

#[test]
fn nothing_is_lowered_before_the_quiet_hours_have_passed() {
    let episode = raised_orders();
    let subject = subject(&[("table.write", 40)], quiet(&[]));
    for (hours_after, acts) in [(1, false), (23, false), (24, true), (200, true)] {
        let now = episode.raised_at + Duration::hours(hours_after);
        let stepped = matches!(plan(&episode, &subject, &policy(), now), Verdict::Step { .. });
        assert_eq!(stepped, acts, "{hours_after} h after the raise");
    }
    let shorter = Policy {
        quiet: Duration::hours(1),
        ..policy()
    };
    let now = episode.raised_at + Duration::hours(2);
    assert!(matches!(
        plan(&episode, &subject, &shorter, now),
        Verdict::Step { .. }
    ));
}

#[test]
fn one_step_an_hour_so_a_retried_run_takes_none() {
    let mut episode = raised_orders();
    episode.stepped_at = Some(at("2026-12-02T10:30:00Z"));
    let subject = subject(&[("table.write", 40)], quiet(&[]));
    assert!(matches!(
        plan(&episode, &subject, &policy(), at(NOW)),
        Verdict::Keep {
            reason: SkipReason::CoolingDown,
            ..
        }
    ));
    assert!(matches!(
        plan(&episode, &subject, &policy(), at("2026-12-02T11:30:00Z")),
        Verdict::Step { .. }
    ));
}

#[test]
fn a_switch_to_on_demand_goes_back_only_when_opted_in() {
    let switched = episode(
        &[Kept::Raise {
            uri: "s3://b/switch".into(),
            at: at("2026-12-01T10:00:00Z"),
            dials: vec![("table.read".into(), 5, 0), ("table.write".into(), 10, 0)],
            switched: true,
        }],
        at(NOW),
    )
    .unwrap();
    let on_demand = Subject {
        on_demand: true,
        ..subject(&[], quiet(&[("table.write", 20.0)]))
    };
    match plan(&switched, &on_demand, &policy(), at(NOW)) {
        Verdict::Keep { reason, why } => {
            assert_eq!(reason, SkipReason::SwitchBackOff);
            assert!(why.contains("s3://b/switch"), "{why}");
        }
        other => panic!("switched back without the opt-in: {other:?}"),
    }
    let opted_in = Policy {
        switch_back: true,
        ..policy()
    };
    let (to, after, done) = stepping(&switched, &on_demand, &opted_in, at(NOW)).expect("a step");
    // Reads at the pre-incident 5; writes at ceil(20 x 1.25) = 25 for the peak.
    assert_eq!(to, dials(&[("table.read", 5), ("table.write", 25)]));
    assert!(!done);
    // The switch back landed: a provisioned episode from here, lowered as demand allows.
    let landed = subject(&[("table.read", 5), ("table.write", 25)], quiet(&[]));
    let later = at(NOW) + Duration::hours(1);
    let (to, _, done) = stepping(&after, &landed, &opted_in, later).expect("the rest");
    assert_eq!(to, dials(&[("table.write", 10)]));
    assert!(done);
    // It did not land (still on-demand): the switch back is tried again, not taken for a
    // person's change.
    assert!(stepping(&after, &on_demand, &opted_in, later).is_ok());
    // It landed, and a person switched to on-demand after it (AWS records when): theirs.
    let theirs = Subject {
        switched_at: Some(later),
        ..on_demand.clone()
    };
    assert!(matches!(
        plan(&after, &theirs, &opted_in, later + Duration::hours(1)),
        Verdict::Keep {
            reason: SkipReason::ChangedSince,
            ..
        }
    ));
    // Provisioned again by someone else: theirs.
    let provisioned = subject(&[("table.read", 5), ("table.write", 5)], quiet(&[]));
    assert!(matches!(
        plan(&switched, &provisioned, &opted_in, at(NOW)),
        Verdict::Keep {
            reason: SkipReason::ChangedSince,
            ..
        }
    ));
}

/// A table raised from 5 to 400 writes and a stream from 2 to 4096 shards, then a week of
/// hourly runs against AWS's rules as DynamoDB and Kinesis count them: decreases per UTC
/// day (4 at any time, then one an hour, 27 in all, some spent by others), a stream
/// at most halved per call and 10 calls per rolling 24 h. Demand falls over the week.
#[test]
fn a_simulated_week_steps_down_within_the_decrease_limits_and_never_below_pre_incident() {
    let start = at("2026-12-01T00:00:00Z");
    // Peak writes per second by day: busy for two days, then 6/s, then none.
    let peak_on = |day: i64| match day {
        0 | 1 => 300.0,
        2 | 3 => 6.0,
        _ => 0.0,
    };
    let mut table = raised_orders();
    table.baseline = dials(&[("table.write", 5)]);
    table.set = dials(&[("table.write", 400)]);
    table.raised_at = start;
    let mut capacity = 400_u64;
    let mut decreases: Vec<DateTime<Utc>> = Vec::new();

    let mut stream = episode(
        &[raise("s3://b/s", "2026-12-01T00:00:00Z", &[("shards", 2, 4096)])],
        start,
    )
    .unwrap();
    let mut shards = 4096_u64;
    let mut reshards: Vec<DateTime<Utc>> = Vec::new();

    let mut done_at = None;
    for hour in 1..=(7 * 24) {
        let now = start + Duration::hours(hour);
        let day = hour / 24;
        // Someone else's decreases of the table count against the same limit: one at
        // 03:00 every day, and all 27 of day four's before its first run.
        let spent = decreases
            .iter()
            .filter(|at| at.date_naive() == now.date_naive())
            .count();
        if now.format("%H").to_string() == "03" && spent < 27 {
            decreases.push(now);
        }
        if hour == 4 * 24 {
            decreases.extend(std::iter::repeat_n(now, 27 - spent));
        }
        let today: Vec<&DateTime<Utc>> = decreases
            .iter()
            .filter(|at| at.date_naive() == now.date_naive())
            .collect();
        let last = today.last().copied();
        let limit = if today.len() >= 27
            || (today.len() >= 4 && last.is_some_and(|last| now - *last < Duration::hours(1)))
        {
            Limit::Blocked("decreases".into())
        } else {
            Limit::Free
        };
        let table_subject = Subject {
            limits: BTreeMap::from([("table.write".to_owned(), limit)]),
            ..subject(
                &[("table.write", capacity)],
                quiet(&[("table.write", peak_on(day))]),
            )
        };
        if let Ok((to, episode, done)) = stepping(&table, &table_subject, &policy(), now) {
            let next = to["table.write"];
            assert!(next < capacity, "hour {hour}: a step only lowers");
            assert!(next >= 5, "hour {hour}: never below pre-incident");
            // The demand at the time, with headroom, is always kept.
            assert!(next as f64 >= (peak_on(day) * 1.25).ceil(), "hour {hour}");
            capacity = next;
            decreases.push(now);
            table = episode;
            if done && done_at.is_none() {
                done_at = Some(hour);
            }
        }

        let in_day = reshards
            .iter()
            .filter(|at| now - **at < Duration::hours(24))
            .count();
        let stream_limit = if in_day >= 10 {
            Limit::Blocked("10 reshards".into())
        } else {
            Limit::Down(shards.div_ceil(2))
        };
        let stream_subject = Subject {
            name: "clicks".into(),
            limits: BTreeMap::from([("shards".to_owned(), stream_limit)]),
            ..subject(&[("shards", shards)], quiet(&[("shards", 0.1)]))
        };
        if let Ok((to, episode, _)) = stepping(&stream, &stream_subject, &policy(), now) {
            let next = to["shards"];
            assert!(next >= shards.div_ceil(2), "hour {hour}: at most halved");
            assert!(next >= 2, "hour {hour}: never below pre-incident");
            shards = next;
            reshards.push(now);
            stream = episode;
        }
    }
    // DynamoDB's rules held every day.
    for day in 0..7 {
        let date = (start + Duration::days(day)).date_naive();
        let that_day: Vec<&DateTime<Utc>> = decreases.iter().filter(|at| at.date_naive() == date).collect();
        assert!(that_day.len() <= 27, "day {day}: {} decreases", that_day.len());
    }
    // Busy days keep the peak's capacity: ceil(300 x 1.25) = 375, then ceil(6 x 1.25) = 8.
    assert_eq!(table.set["table.write"], 5);
    assert_eq!(capacity, 5);
    let done_at = done_at.expect("the table got back to its pre-incident capacity");
    // Demand fell to nothing on day four, whose decreases were all spent: day five.
    assert_eq!(done_at, 5 * 24, "hour {done_at}");
    // 4096 -> 2 is eleven halvings, an hour apart after the quiet day: ten, then the
    // eleventh waits for the first to leave the rolling day.
    assert_eq!(shards, 2);
    assert_eq!(reshards.len(), 11);
    assert!(reshards[0] >= start + Duration::hours(24));
    for (n, at) in reshards.iter().enumerate() {
        let in_day = reshards
            .iter()
            .filter(|other| **other <= *at && *at - **other < Duration::hours(24))
            .count();
        assert!(in_day <= 10, "reshard {n} at {at}: {in_day} in 24 h");
    }
    assert_eq!(
        reshards[10] - reshards[0],
        Duration::hours(24),
        "held until the first left the day"
    );
}

#[test]
fn an_on_demand_maximum_comes_back_down_like_capacity() {
    let raised = episode(
        &[raise(
            "s3://b/max",
            "2026-12-01T10:00:00Z",
            &[("onDemandMax.write", 200, 400)],
        )],
        at(NOW),
    )
    .unwrap();
    let on_demand = Subject {
        on_demand: true,
        ..subject(
            &[("onDemandMax.write", 400)],
            quiet(&[("onDemandMax.write", 240.0)]),
        )
    };
    let (to, _, done) = stepping(&raised, &on_demand, &policy(), at(NOW)).expect("a step");
    // ceil(240 x 1.25) = 300: above the 200 before, below the 400 set.
    assert_eq!(to, dials(&[("onDemandMax.write", 300)]));
    assert!(!done);
}

#[test]
fn a_call_that_never_landed_is_not_taken_for_a_persons_change() {
    // A raise AWS refused after its snapshot was stored: the table is still at 5, which is
    // where it started: nothing open.
    let refused = raised_orders();
    let untouched = subject(&[("table.write", 5)], quiet(&[]));
    assert_eq!(plan(&refused, &untouched, &policy(), at(NOW)), Verdict::Closed);
    // A restore step 40 -> 5 that did not land: the next run steps again.
    let (_, after, done) = stepping(
        &refused,
        &subject(&[("table.write", 40)], quiet(&[])),
        &policy(),
        at(NOW),
    )
    .unwrap();
    assert!(done);
    let still = subject(&[("table.write", 40)], quiet(&[]));
    let retry = stepping(&after, &still, &policy(), at(NOW) + Duration::hours(1)).expect("stepped again");
    assert_eq!(retry.0, dials(&[("table.write", 5)]));
    // Neither value: a person's.
    let theirs = subject(&[("table.write", 17)], quiet(&[]));
    assert!(matches!(
        plan(&after, &theirs, &policy(), at(NOW) + Duration::hours(1)),
        Verdict::Keep {
            reason: SkipReason::ChangedSince,
            ..
        }
    ));
}

#[test]
fn a_persons_value_between_two_raises_is_the_new_floor() {
    // Raised 5 -> 20; a person set 10; raised 10 -> 30: never below the person's 10.
    let kept = [
        raise("s3://b/2", "2026-12-01T10:00:00Z", &[("table.write", 10, 30)]),
        raise("s3://b/1", "2026-12-01T08:00:00Z", &[("table.write", 5, 20)]),
    ];
    let open = episode(&kept, at(NOW)).unwrap();
    assert_eq!(open.baseline, dials(&[("table.write", 10)]));
    let (to, _, done) = stepping(
        &open,
        &subject(&[("table.write", 30)], quiet(&[])),
        &policy(),
        at(NOW),
    )
    .unwrap();
    assert_eq!(to, dials(&[("table.write", 10)]));
    assert!(done);
}

#[test]
fn a_step_that_did_not_land_is_no_new_floor_and_is_checked_only_for_a_while() {
    // A step 20 -> 15 (stored, then refused), then a new raise from the 20 it left: the
    // floor is still the first incident's 5.
    let mut halfway = raised_orders();
    halfway.set = dials(&[("table.write", 15)]);
    halfway.previous = dials(&[("table.write", 20)]);
    halfway.stepped_at = Some(at("2026-12-02T08:00:00Z"));
    let kept = [
        raise("s3://b/3", "2026-12-02T09:00:00Z", &[("table.write", 20, 40)]),
        Kept::Restore {
            at: at("2026-12-02T08:00:00Z"),
            episode: halfway.clone(),
            done: false,
        },
    ];
    let open = episode(&kept, at(NOW)).unwrap();
    assert_eq!(open.baseline, dials(&[("table.write", 5)]));

    // Long after the step, a resource at the value before it is a person's.
    let back_at_twenty = subject(&[("table.write", 20)], quiet(&[]));
    let soon = at("2026-12-02T10:30:00Z");
    assert!(matches!(
        plan(&halfway, &back_at_twenty, &policy(), soon),
        Verdict::Step { .. }
    ));
    let late = at("2026-12-02T08:00:00Z") + Duration::hours(CONFIRM_HOURS);
    assert!(matches!(
        plan(&halfway, &back_at_twenty, &policy(), late),
        Verdict::Keep {
            reason: SkipReason::ChangedSince,
            ..
        }
    ));
}
