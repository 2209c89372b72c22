//! Configuration from the environment: read once at start-up, every value checked, and
//! an error that names the variable, what it holds and what it should hold.

use std::fmt::Display;
use std::str::FromStr;

use chrono::Duration;
use thiserror::Error;

use crate::dynamodb::TablePolicy;
use crate::kinesis::StreamPolicy;
use crate::metrics::MetricsMode;
use crate::pipeline::RunOptions;
use crate::plan::{Growth, OnDemandPolicy};

#[derive(Debug, Error, PartialEq)]
pub enum ConfigError {
    #[error("{key} is not set: {purpose}")]
    Missing {
        key: &'static str,
        purpose: &'static str,
    },
    #[error("{key}={value:?} is invalid: expected {expected}")]
    Invalid {
        key: &'static str,
        value: String,
        expected: String,
    },
}

/// Where settings come from: the process environment, or a map in tests.
pub struct Env<F>(F);

impl Env<fn(&str) -> Option<String>> {
    pub fn process() -> Self {
        Env(|key| std::env::var(key).ok())
    }
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    pub fn from_fn(lookup: F) -> Self {
        Env(lookup)
    }

    fn get(&self, key: &str) -> Option<String> {
        (self.0)(key)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn required(&self, key: &'static str, purpose: &'static str) -> Result<String, ConfigError> {
        self.get(key).ok_or(ConfigError::Missing { key, purpose })
    }

    /// Parses `key` (or takes `default`) and checks it with `valid`.
    fn parsed<T>(
        &self,
        key: &'static str,
        default: T,
        expected: &str,
        valid: impl Fn(&T) -> bool,
    ) -> Result<T, ConfigError>
    where
        T: FromStr,
    {
        let Some(raw) = self.get(key) else {
            return Ok(default);
        };
        let invalid = || ConfigError::Invalid {
            key,
            value: raw.clone(),
            expected: expected.to_owned(),
        };
        let value = raw.parse::<T>().map_err(|_| invalid())?;
        if valid(&value) {
            Ok(value)
        } else {
            Err(invalid())
        }
    }

    fn flag(&self, key: &'static str, default: bool) -> Result<bool, ConfigError> {
        self.parsed(key, Flag(default), "true or false", |_| true)
            .map(|flag| flag.0)
    }
}

/// A boolean that also accepts the spellings people put in environment files.
struct Flag(bool);

impl FromStr for Flag {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Flag(true)),
            "false" | "0" | "no" | "off" => Ok(Flag(false)),
            _ => Err(()),
        }
    }
}

/// Settings every function shares.
#[derive(Debug, Clone, PartialEq)]
pub struct CoreConfig {
    pub snapshot_bucket: String,
    pub ledger_table: String,
    pub metric_namespace: String,
    pub metrics_mode: MetricsMode,
    pub run: RunOptions,
    /// Path-style S3 addressing, for S3 emulators on 127.0.0.1.
    pub s3_force_path_style: bool,
}

impl CoreConfig {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        Ok(Self {
            snapshot_bucket: env.required(
                "SNAPSHOT_BUCKET",
                "the S3 bucket that receives pre-change snapshots",
            )?,
            ledger_table: env.required("LEDGER_TABLE", "the DynamoDB table that holds claims and history")?,
            metric_namespace: env.parsed(
                "METRIC_NAMESPACE",
                "Unthrottle".to_owned(),
                "a CloudWatch namespace (1-255 characters, not starting with AWS/)",
                |ns: &String| ns.len() <= 255 && !ns.starts_with("AWS/"),
            )?,
            metrics_mode: env.parsed("METRICS_MODE", MetricsMode::Emf, "emf or put-metric-data", |_| {
                true
            })?,
            run: RunOptions {
                dry_run: env.flag("DRY_RUN", false)?,
                cooldown: Duration::seconds(env.parsed(
                    "COOLDOWN_SECONDS",
                    300,
                    "whole seconds from 0 to 86400",
                    |s: &i64| (0..=86_400).contains(s),
                )?),
            },
            s3_force_path_style: env.flag("S3_FORCE_PATH_STYLE", false)?,
        })
    }
}

/// Names a function may touch: a glob over the resource name (`*` = all).
#[derive(Debug, Clone, PartialEq)]
pub struct AllowList {
    variable: &'static str,
    pattern: glob::Pattern,
}

impl AllowList {
    pub fn from_env<F: Fn(&str) -> Option<String>>(
        env: &Env<F>,
        variable: &'static str,
    ) -> Result<Self, ConfigError> {
        let pattern = env.get(variable).unwrap_or_else(|| "*".to_owned());
        let pattern = glob::Pattern::new(&pattern).map_err(|e| ConfigError::Invalid {
            key: variable,
            value: pattern.clone(),
            expected: format!("a glob such as `orders-*` ({e})"),
        })?;
        Ok(Self { variable, pattern })
    }

    pub fn admits(&self, name: &str) -> Result<(), String> {
        if self.pattern.matches(name) {
            Ok(())
        } else {
            Err(format!(
                "{name} does not match {}={}",
                self.variable, self.pattern
            ))
        }
    }
}

fn positive<T: PartialOrd + From<u8>>(value: &T) -> bool {
    *value >= T::from(1)
}

fn growth<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Growth, ConfigError> {
    Ok(Growth {
        factor: env.parsed(
            "SCALE_FACTOR",
            2.0,
            "a number above 1 and at most 10, e.g. 2.0",
            |f: &f64| f.is_finite() && *f > 1.0 && *f <= 10.0,
        )?,
        min_step: env.parsed("MIN_STEP", 1, "a whole number of at least 1", positive)?,
    })
}

fn capacity_cap<F: Fn(&str) -> Option<String>>(env: &Env<F>, key: &'static str) -> Result<u64, ConfigError> {
    env.parsed(
        key,
        1000,
        "a whole number of capacity units of at least 1",
        positive,
    )
}

fn on_demand<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<OnDemandPolicy, ConfigError> {
    env.parsed(
        "ON_DEMAND",
        OnDemandPolicy::Never,
        "never, allow or prefer",
        |_| true,
    )
}

fn max_switches_per_day<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<u32, ConfigError> {
    env.parsed(
        "MAX_ON_DEMAND_SWITCHES_PER_DAY",
        1,
        "0 to 4 (AWS allows at most 4 switches to on-demand per table per 24 h, 2 mode changes per stream)",
        |n: &u32| *n <= 4,
    )
}

/// The `dynamodb-throttle` function's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct DynamoDbConfig {
    pub core: CoreConfig,
    pub policy: TablePolicy,
    pub allow: AllowList,
}

impl DynamoDbConfig {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        Ok(Self {
            core: CoreConfig::from_env(env)?,
            policy: TablePolicy {
                growth: growth(env)?,
                max_read: capacity_cap(env, "MAX_READ_CAPACITY")?,
                max_write: capacity_cap(env, "MAX_WRITE_CAPACITY")?,
                on_demand: env.parsed(
                    "ON_DEMAND",
                    OnDemandPolicy::Never,
                    "never, allow or prefer",
                    |_| true,
                )?,
                max_switches_per_day: env.parsed(
                    "MAX_ON_DEMAND_SWITCHES_PER_DAY",
                    1,
                    "0 to 4 (AWS allows at most 4 switches to on-demand per table per 24 h)",
                    |n: &u32| *n <= 4,
                )?,
            },
            allow: AllowList::from_env(env, "TABLE_ALLOW")?,
        })
    }
}

/// The `kinesis-throttle` function's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct KinesisConfig {
    pub core: CoreConfig,
    pub policy: StreamPolicy,
    pub allow: AllowList,
}

impl KinesisConfig {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        Ok(Self {
            core: CoreConfig::from_env(env)?,
            policy: StreamPolicy {
                // The shard formula's minimum step is one shard (open + 1).
                growth: Growth {
                    min_step: 1,
                    ..growth(env)?
                },
                max_shards: env.parsed(
                    "MAX_SHARDS",
                    64,
                    "a whole number of shards from 1 to 10000 (AWS's per-stream limit)",
                    |n: &u32| (1..=10_000).contains(n),
                )?,
                on_demand: on_demand(env)?,
                max_switches_per_day: max_switches_per_day(env)?,
            },
            allow: AllowList::from_env(env, "STREAM_ALLOW")?,
        })
    }
}

/// Turns a start-up error into the message the function dies with.
pub fn fatal(error: impl Display) -> String {
    format!("unthrottle cannot start: {error}")
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
