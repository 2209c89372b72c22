use super::*;
use std::collections::HashMap;

fn env(pairs: &[(&str, &str)]) -> Env<impl Fn(&str) -> Option<String>> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Env::from_fn(move |key| map.get(key).cloned())
}

const REQUIRED: [(&str, &str); 2] = [("SNAPSHOT_BUCKET", "snaps"), ("LEDGER_TABLE", "ledger")];

fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    REQUIRED.iter().chain(extra).copied().collect()
}

#[test]
fn defaults_are_safe_and_documented() {
    let config = DynamoDbConfig::from_env(&env(&REQUIRED)).unwrap();
    assert_eq!(config.core.metric_namespace, "Unthrottle");
    assert_eq!(config.core.metrics_mode, MetricsMode::Emf);
    assert!(!config.core.run.dry_run);
    assert_eq!(config.core.run.cooldown, Duration::seconds(300));
    assert!(!config.core.s3_force_path_style);
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
    let config = DynamoDbConfig::from_env(&env(&with(&[
        ("METRIC_NAMESPACE", "Team/Unthrottle"),
        ("METRICS_MODE", "put-metric-data"),
        ("DRY_RUN", "yes"),
        ("COOLDOWN_SECONDS", "60"),
        ("S3_FORCE_PATH_STYLE", "true"),
        ("SCALE_FACTOR", "1.5"),
        ("MIN_STEP", "10"),
        ("MAX_READ_CAPACITY", "400"),
        ("MAX_WRITE_CAPACITY", "200"),
        ("ON_DEMAND", "allow"),
        ("MAX_ON_DEMAND_SWITCHES_PER_DAY", "4"),
        ("TABLE_ALLOW", "orders-*"),
    ])))
    .unwrap();
    assert_eq!(config.core.metric_namespace, "Team/Unthrottle");
    assert_eq!(config.core.metrics_mode, MetricsMode::PutMetricData);
    assert!(config.core.run.dry_run);
    assert_eq!(config.core.run.cooldown, Duration::seconds(60));
    assert!(config.core.s3_force_path_style);
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
fn kinesis_reads_its_own_variables_and_the_shared_ones() {
    let defaults = KinesisConfig::from_env(&env(&REQUIRED)).unwrap();
    assert_eq!(defaults.policy.max_shards, 64);
    assert_eq!(
        defaults.policy.growth,
        Growth {
            factor: 2.0,
            min_step: 1
        }
    );
    assert_eq!(defaults.policy.on_demand, OnDemandPolicy::Never);

    let config = KinesisConfig::from_env(&env(&with(&[
        ("MAX_SHARDS", "12"),
        ("STREAM_ALLOW", "click*"),
        ("SCALE_FACTOR", "1.5"),
        ("MIN_STEP", "10"),
        ("ON_DEMAND", "allow"),
        ("MAX_ON_DEMAND_SWITCHES_PER_DAY", "2"),
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
        (OnDemandPolicy::Allow, 2)
    );
    assert!(config.allow.admits("clickstream").is_ok());
    assert!(config
        .allow
        .admits("orders")
        .unwrap_err()
        .contains("STREAM_ALLOW=click*"));

    for (key, value) in [
        ("MAX_SHARDS", "0"),
        ("MAX_SHARDS", "10001"),
        ("STREAM_ALLOW", "["),
    ] {
        let err = KinesisConfig::from_env(&env(&with(&[(key, value)]))).unwrap_err();
        assert!(
            matches!(err, ConfigError::Invalid { key: k, .. } if k == key),
            "{key}={value}: {err}"
        );
    }
    assert!(matches!(
        KinesisConfig::from_env(&env(&[("SNAPSHOT_BUCKET", "b")])),
        Err(ConfigError::Missing {
            key: "LEDGER_TABLE",
            ..
        })
    ));
}

#[test]
fn missing_required_settings_are_named() {
    let err = DynamoDbConfig::from_env(&env(&[("LEDGER_TABLE", "l")])).unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::Missing {
                key: "SNAPSHOT_BUCKET",
                ..
            }
        ),
        "{err}"
    );
    let err =
        DynamoDbConfig::from_env(&env(&[("SNAPSHOT_BUCKET", "b"), ("LEDGER_TABLE", "  ")])).unwrap_err();
    assert!(err.to_string().starts_with("LEDGER_TABLE is not set"), "{err}");
}

#[test]
fn invalid_values_say_what_is_expected() {
    let cases = [
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
        ("COOLDOWN_SECONDS", "-5"),
        ("COOLDOWN_SECONDS", "90000"),
        ("DRY_RUN", "maybe"),
        ("METRICS_MODE", "statsd"),
        ("METRIC_NAMESPACE", "AWS/DynamoDB"),
        ("TABLE_ALLOW", "orders-[a"),
    ];
    for (key, value) in cases {
        let err = DynamoDbConfig::from_env(&env(&with(&[(key, value)]))).unwrap_err();
        match &err {
            ConfigError::Invalid {
                key: found, value: v, ..
            } => {
                assert_eq!((*found, v.as_str()), (key, value));
            }
            other => panic!("{key}={value}: {other}"),
        }
        assert!(err.to_string().contains("expected"), "{err}");
    }
}
