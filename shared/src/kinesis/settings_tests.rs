use super::*;
use crate::core::config::tests::{REQUIRED, assert_refused, env, with};
use crate::core::domain::OnDemandPolicy;
use crate::core::guards::Growth;

#[test]
fn kinesis_reads_its_own_variables_and_the_shared_ones() {
    let defaults = Kinesis::settings(&env(&REQUIRED)).unwrap();
    assert_eq!(defaults.policy.max_shards, 64);
    assert_eq!(
        defaults.policy.growth,
        Growth {
            factor: 2.0,
            min_step: 1
        }
    );
    assert_eq!(defaults.policy.on_demand, OnDemandPolicy::Never);

    let config = Kinesis::settings(&env(&with(&[
        ("MAX_SHARDS", "12"),
        ("STREAM_ALLOW", "click*"),
        ("SCALE_FACTOR", "1.5"),
        ("MIN_STEP", "10"),
        ("ON_DEMAND", "allow"),
        ("MAX_ON_DEMAND_SWITCHES_PER_DAY", "1"),
    ])))
    .unwrap();
    assert_eq!(config.policy.max_shards, 12);
    assert_eq!(
        config.policy.growth,
        Growth {
            factor: 1.5,
            min_step: 1
        },
        "shards grow by at least one"
    );
    assert_eq!(
        (config.policy.on_demand, config.policy.max_switches_per_day),
        (OnDemandPolicy::Allow, 1)
    );
    assert!(config.allow.admits("clickstream").is_ok());
    assert!(
        config
            .allow
            .admits("orders")
            .unwrap_err()
            .contains("STREAM_ALLOW=click*")
    );

    assert_refused(
        Kinesis::settings,
        &[
            ("MAX_SHARDS", "0"),
            ("MAX_SHARDS", "10001"),
            ("STREAM_ALLOW", "["),
            ("MAX_ON_DEMAND_SWITCHES_PER_DAY", "2"),
        ],
    );
}

#[test]
fn the_shard_cap_is_awss_per_stream_limit() {
    let limit = super::super::limits::SHARDS_PER_STREAM.to_string();
    assert_eq!(MAX_SHARDS.max, Some(limit.as_str()));
}
