use super::*;
use crate::core::config::tests::{REQUIRED, assert_refused, env, with};
use crate::core::domain::OnDemandPolicy;
use crate::core::guards::Growth;

#[test]
fn defaults_are_safe_and_documented() {
    let config = DynamoDb::settings(&env(&REQUIRED)).unwrap();
    assert_eq!(
        config.policy.growth,
        Growth {
            factor: 2.0,
            min_step: 1
        }
    );
    assert_eq!((config.policy.max_read, config.policy.max_write), (1000, 1000));
    assert_eq!(config.policy.on_demand, OnDemandPolicy::Never);
    assert_eq!(config.policy.max_switches_per_day, 1);
    assert!(config.allow.admits("anything").is_ok());
}

#[test]
fn every_variable_is_read() {
    let config = DynamoDb::settings(&env(&with(&[
        ("SCALE_FACTOR", "1.5"),
        ("MIN_STEP", "10"),
        ("MAX_READ_CAPACITY", "400"),
        ("MAX_WRITE_CAPACITY", "200"),
        ("ON_DEMAND", "allow"),
        ("MAX_ON_DEMAND_SWITCHES_PER_DAY", "4"),
        ("TABLE_ALLOW", "orders-*"),
    ])))
    .unwrap();
    assert_eq!(
        config.policy.growth,
        Growth {
            factor: 1.5,
            min_step: 10
        }
    );
    assert_eq!((config.policy.max_read, config.policy.max_write), (400, 200));
    assert_eq!(config.policy.on_demand, OnDemandPolicy::Allow);
    assert_eq!(config.policy.max_switches_per_day, 4);
    assert!(config.allow.admits("orders-eu").is_ok());
    let refused = config.allow.admits("payments").unwrap_err();
    assert!(refused.contains("TABLE_ALLOW=orders-*"), "{refused}");
}

#[test]
fn invalid_values_say_what_is_expected() {
    assert_refused(
        DynamoDb::settings,
        &[
            ("SCALE_FACTOR", "abc"),
            ("SCALE_FACTOR", "1.0"),
            ("SCALE_FACTOR", "NaN"),
            ("SCALE_FACTOR", "11"),
            ("MIN_STEP", "0"),
            ("MIN_STEP", "-1"),
            ("MAX_READ_CAPACITY", "0"),
            ("MAX_WRITE_CAPACITY", "lots"),
            ("ON_DEMAND", "sometimes"),
            ("MAX_ON_DEMAND_SWITCHES_PER_DAY", "5"),
            ("TABLE_ALLOW", "orders-[a"),
        ],
    );
}
