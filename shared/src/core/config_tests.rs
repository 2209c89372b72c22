use super::*;
use std::collections::HashMap;

/// An environment holding exactly these pairs.
pub(crate) fn env(pairs: &[(&str, &str)]) -> Env<'static> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Env::from_fn(move |key| map.get(key).cloned())
}

pub(crate) const REQUIRED: [(&str, &str); 2] = [("SNAPSHOT_BUCKET", "snaps"), ("LEDGER_TABLE", "ledger")];

pub(crate) fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    REQUIRED.iter().chain(extra).copied().collect()
}

#[test]
fn core_defaults_are_safe_and_documented() {
    let core = CoreSettings::from_env(&env(&REQUIRED)).unwrap();
    assert_eq!(core.metric_namespace, "Unthrottle");
    assert_eq!(core.metrics_mode, MetricsMode::Emf);
    assert!(!core.run.dry_run);
    assert_eq!(core.run.cooldown, Duration::seconds(300));
    assert!(!core.s3_force_path_style);
}

#[test]
fn every_core_variable_is_read() {
    let core = CoreSettings::from_env(&env(&with(&[
        ("METRIC_NAMESPACE", "Team/Unthrottle"),
        ("METRICS_MODE", "put-metric-data"),
        ("DRY_RUN", "yes"),
        ("COOLDOWN_SECONDS", "60"),
        ("S3_FORCE_PATH_STYLE", "true"),
    ])))
    .unwrap();
    assert_eq!(core.metric_namespace, "Team/Unthrottle");
    assert_eq!(core.metrics_mode, MetricsMode::PutMetricData);
    assert!(core.run.dry_run);
    assert_eq!(core.run.cooldown, Duration::seconds(60));
    assert!(core.s3_force_path_style);
}

#[test]
fn missing_required_settings_are_named() {
    let err = CoreSettings::from_env(&env(&[("LEDGER_TABLE", "l")])).unwrap_err();
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
    let err = CoreSettings::from_env(&env(&[("SNAPSHOT_BUCKET", "b"), ("LEDGER_TABLE", "  ")])).unwrap_err();
    assert!(err.to_string().starts_with("LEDGER_TABLE is not set"), "{err}");
    assert!(matches!(
        CoreSettings::from_env(&env(&[("SNAPSHOT_BUCKET", "b")])),
        Err(ConfigError::Missing {
            key: "LEDGER_TABLE",
            ..
        })
    ));
}

/// Each `(key, value)` is refused with an error that names the key, repeats the value and
/// says what is expected.
pub(crate) fn assert_refused<T: std::fmt::Debug>(
    read: impl Fn(&Env) -> Result<T, ConfigError>,
    cases: &[(&'static str, &'static str)],
) {
    for &(key, value) in cases {
        let err = read(&env(&with(&[(key, value)]))).unwrap_err();
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

#[test]
fn invalid_core_values_say_what_is_expected() {
    assert_refused(
        CoreSettings::from_env,
        &[
            ("COOLDOWN_SECONDS", "-5"),
            ("COOLDOWN_SECONDS", "0"),
            ("COOLDOWN_SECONDS", "59"),
            ("MAX_EVENT_AGE_SECONDS", "-1"),
            ("MAX_EVENT_AGE_SECONDS", "86401"),
            ("SETTLE_SECONDS", "3601"),
            ("COOLDOWN_SECONDS", "90000"),
            ("DRY_RUN", "maybe"),
            ("METRICS_MODE", "statsd"),
            ("METRIC_NAMESPACE", "AWS/DynamoDB"),
        ],
    );
}

#[test]
fn shared_policies_parse_case_insensitively_and_reject_others() {
    for (value, policy) in [
        ("ALLOW", OnDemandPolicy::Allow),
        (" prefer ", OnDemandPolicy::Prefer),
        ("never", OnDemandPolicy::Never),
    ] {
        assert_eq!(on_demand(&env(&[("ON_DEMAND", value)])), Ok(policy));
    }
    assert!(on_demand(&env(&[("ON_DEMAND", "sometimes")])).is_err());
    assert_eq!(
        env(&[("METRICS_MODE", "PUT-METRIC-DATA")]).parsed(&METRICS_MODE, anything),
        Ok(MetricsMode::PutMetricData)
    );
}

#[test]
fn every_declared_default_is_a_valid_value() {
    for variable in CORE_VARIABLES.iter().chain(
        [
            &SCALE_FACTOR,
            &MIN_STEP,
            &ON_DEMAND,
            &MAX_ON_DEMAND_SWITCHES_PER_DAY,
        ]
        .iter(),
    ) {
        if let Some(default) = variable.default {
            let explicit = env(&with(&[(variable.name, default)]));
            assert!(
                CoreSettings::from_env(&explicit).is_ok(),
                "{}={default}",
                variable.name
            );
        }
    }
}
