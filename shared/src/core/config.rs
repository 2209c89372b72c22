//! Configuration from the environment: read once at start-up, every value checked, and
//! an error that names the variable, what it holds and what it should hold.
//!
//! Every variable is declared once, as a [`Variable`] (name, default, what it takes, what it
//! is for). The reader takes the default from that declaration, and the README table,
//! template.yaml and scripts/invoke.sh are checked against the same declarations
//! (tests/tests/variables.rs). The core declares its own and the ones every capacity
//! service shares; each service declares the rest in its `settings.rs`.

use std::fmt::Display;
use std::str::FromStr;

use chrono::Duration;
use thiserror::Error;

use crate::core::domain::OnDemandPolicy;
use crate::core::guards::Growth;
use crate::core::metrics::MetricsMode;

/// One environment variable a function reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variable {
    pub name: &'static str,
    /// The value taken when it is unset or empty; `None` when it must be set.
    pub default: Option<&'static str>,
    /// The values it takes, as an error message says them.
    pub expected: &'static str,
    /// What it is for, in a few words.
    pub meaning: &'static str,
}

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
pub struct Env<'a>(Box<Lookup<'a>>);

type Lookup<'a> = dyn Fn(&str) -> Option<String> + 'a;

impl Env<'static> {
    pub fn process() -> Self {
        Env(Box::new(|key| std::env::var(key).ok()))
    }
}

impl<'a> Env<'a> {
    pub fn from_fn(lookup: impl Fn(&str) -> Option<String> + 'a) -> Self {
        Env(Box::new(lookup))
    }

    /// The variable's value, trimmed; `None` when unset or blank.
    pub fn get(&self, variable: &Variable) -> Option<String> {
        (self.0)(variable.name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// A variable that must be set.
    pub fn required(&self, variable: &Variable) -> Result<String, ConfigError> {
        self.get(variable).ok_or(ConfigError::Missing {
            key: variable.name,
            purpose: variable.meaning,
        })
    }

    /// Parses the variable (or its default) and checks it with `valid`.
    pub fn parsed<T: FromStr>(
        &self,
        variable: &Variable,
        valid: impl Fn(&T) -> bool,
    ) -> Result<T, ConfigError> {
        let raw = match (self.get(variable), variable.default) {
            (Some(raw), _) => raw,
            (None, Some(default)) => default.to_owned(),
            (None, None) => {
                return Err(ConfigError::Missing {
                    key: variable.name,
                    purpose: variable.meaning,
                });
            }
        };
        let invalid = || ConfigError::Invalid {
            key: variable.name,
            value: raw.clone(),
            expected: variable.expected.to_owned(),
        };
        let value = raw.parse::<T>().map_err(|_| invalid())?;
        if valid(&value) { Ok(value) } else { Err(invalid()) }
    }

    pub fn flag(&self, variable: &Variable) -> Result<bool, ConfigError> {
        self.parsed(variable, |_: &Flag| true).map(|flag| flag.0)
    }
}

/// A boolean that also accepts the spellings people put in environment files.
pub struct Flag(bool);

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

fn anything<T>(_: &T) -> bool {
    true
}

/// At least 1.
pub fn positive<T: PartialOrd + From<u8>>(value: &T) -> bool {
    *value >= T::from(1)
}

pub const SNAPSHOT_BUCKET: Variable = Variable {
    name: "SNAPSHOT_BUCKET",
    default: None,
    expected: "an S3 bucket name",
    meaning: "the S3 bucket that receives pre-change snapshots",
};
pub const LEDGER_TABLE: Variable = Variable {
    name: "LEDGER_TABLE",
    default: None,
    expected: "a DynamoDB table name",
    meaning: "the DynamoDB table that holds claims and history",
};
pub const METRIC_NAMESPACE: Variable = Variable {
    name: "METRIC_NAMESPACE",
    default: Some("Unthrottle"),
    expected: "a CloudWatch namespace (1-255 characters, not starting with AWS/)",
    meaning: "the CloudWatch namespace of the AutoFix, Skipped and Failed metrics",
};
pub const METRICS_MODE: Variable = Variable {
    name: "METRICS_MODE",
    default: Some("emf"),
    expected: "emf or put-metric-data",
    meaning: "how metrics leave the function: EMF log lines, or PutMetricData calls",
};
pub const DRY_RUN: Variable = Variable {
    name: "DRY_RUN",
    default: Some("false"),
    expected: "true or false",
    meaning: "plan and report, change and write nothing",
};
pub const COOLDOWN_SECONDS: Variable = Variable {
    name: "COOLDOWN_SECONDS",
    default: Some("300"),
    expected: "whole seconds from 0 to 86400",
    meaning: "how long a resource stays claimed after a change: the length of one incident",
};
pub const S3_FORCE_PATH_STYLE: Variable = Variable {
    name: "S3_FORCE_PATH_STYLE",
    default: Some("false"),
    expected: "true or false",
    meaning: "path-style S3 addressing, for S3 emulators on 127.0.0.1",
};

/// The variables every function reads.
pub const CORE_VARIABLES: &[&Variable] = &[
    &SNAPSHOT_BUCKET,
    &LEDGER_TABLE,
    &METRIC_NAMESPACE,
    &METRICS_MODE,
    &DRY_RUN,
    &COOLDOWN_SECONDS,
    &S3_FORCE_PATH_STYLE,
];

pub const SCALE_FACTOR: Variable = Variable {
    name: "SCALE_FACTOR",
    default: Some("2.0"),
    expected: "a number above 1 and at most 10, e.g. 2.0",
    meaning: "each step multiplies the throttled capacity by this",
};
pub const MIN_STEP: Variable = Variable {
    name: "MIN_STEP",
    default: Some("1"),
    expected: "a whole number of at least 1",
    meaning: "each step adds at least this many units",
};
pub const ON_DEMAND: Variable = Variable {
    name: "ON_DEMAND",
    default: Some("never"),
    expected: "never, allow or prefer",
    meaning: "switch to on-demand: never, at the cap (allow), or on the first throttle (prefer)",
};
pub const MAX_ON_DEMAND_SWITCHES_PER_DAY: Variable = Variable {
    name: "MAX_ON_DEMAND_SWITCHES_PER_DAY",
    default: Some("1"),
    expected: "0 to 4 for tables, 0 to 2 for streams (AWS allows 4 switches to on-demand per table per 24 h, 2 mode changes per stream)",
    meaning: "switches to on-demand allowed per resource per rolling 24 h",
};

/// `SCALE_FACTOR` and, when a service reads it, `MIN_STEP`.
pub fn growth(env: &Env, min_step: Option<&Variable>) -> Result<Growth, ConfigError> {
    Ok(Growth {
        factor: env.parsed(&SCALE_FACTOR, |f: &f64| f.is_finite() && *f > 1.0 && *f <= 10.0)?,
        min_step: match min_step {
            Some(variable) => env.parsed(variable, positive)?,
            None => 1,
        },
    })
}

pub fn on_demand(env: &Env) -> Result<OnDemandPolicy, ConfigError> {
    env.parsed(&ON_DEMAND, anything)
}

/// `MAX_ON_DEMAND_SWITCHES_PER_DAY`, at most what AWS allows the service.
pub fn max_switches_per_day(env: &Env, aws_limit: u32) -> Result<u32, ConfigError> {
    env.parsed(&MAX_ON_DEMAND_SWITCHES_PER_DAY, |n: &u32| *n <= aws_limit)
        .map_err(|error| match error {
            ConfigError::Invalid { key, value, .. } => ConfigError::Invalid {
                key,
                value,
                expected: format!(
                    "a whole number from 0 to {aws_limit}, what AWS allows this service per 24 h"
                ),
            },
            missing => missing,
        })
}

/// Settings that shape a run, whatever the service.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunOptions {
    /// Plan and report, write nothing.
    pub dry_run: bool,
    /// How long a resource stays claimed after a change: the length of one incident.
    pub cooldown: Duration,
}

/// Settings every function shares.
#[derive(Debug, Clone, PartialEq)]
pub struct CoreSettings {
    pub snapshot_bucket: String,
    pub ledger_table: String,
    pub metric_namespace: String,
    pub metrics_mode: MetricsMode,
    pub run: RunOptions,
    /// Path-style S3 addressing, for S3 emulators on 127.0.0.1.
    pub s3_force_path_style: bool,
}

impl CoreSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            snapshot_bucket: env.required(&SNAPSHOT_BUCKET)?,
            ledger_table: env.required(&LEDGER_TABLE)?,
            metric_namespace: env.parsed(&METRIC_NAMESPACE, |ns: &String| {
                ns.len() <= 255 && !ns.starts_with("AWS/")
            })?,
            metrics_mode: env.parsed(&METRICS_MODE, anything)?,
            run: RunOptions {
                dry_run: env.flag(&DRY_RUN)?,
                cooldown: Duration::seconds(
                    env.parsed(&COOLDOWN_SECONDS, |s: &i64| (0..=86_400).contains(s))?,
                ),
            },
            s3_force_path_style: env.flag(&S3_FORCE_PATH_STYLE)?,
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
    /// An allow-list variable: a glob whose default is `*`.
    pub const fn variable(name: &'static str, meaning: &'static str) -> Variable {
        Variable {
            name,
            default: Some("*"),
            expected: "a glob such as `orders-*`",
            meaning,
        }
    }

    pub fn from_env(env: &Env, variable: &Variable) -> Result<Self, ConfigError> {
        let pattern: glob::Pattern = env.parsed(variable, anything)?;
        Ok(Self {
            variable: variable.name,
            pattern,
        })
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

/// Turns a start-up error into the message the function dies with.
pub fn fatal(error: impl Display) -> String {
    format!("unthrottle cannot start: {error}")
}

#[cfg(test)]
#[path = "config_tests.rs"]
pub(crate) mod tests;
