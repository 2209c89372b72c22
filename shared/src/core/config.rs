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
    /// The least and the most a number may be, as written in template.yaml's `MinValue` and
    /// `MaxValue` (a test holds the two to the same bounds).
    pub min: Option<&'static str>,
    pub max: Option<&'static str>,
}

impl Variable {
    pub const fn new(
        name: &'static str,
        default: Option<&'static str>,
        expected: &'static str,
        meaning: &'static str,
    ) -> Self {
        Self {
            name,
            default,
            expected,
            meaning,
            min: None,
            max: None,
        }
    }

    /// A number of at least `min`.
    pub const fn at_least(mut self, min: &'static str) -> Self {
        self.min = Some(min);
        self
    }

    /// A number from `min` to `max`, both included.
    pub const fn between(mut self, min: &'static str, max: &'static str) -> Self {
        self.min = Some(min);
        self.max = Some(max);
        self
    }
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

    /// Whatever the environment holds under `key`, as it is.
    pub fn raw(&self, key: &str) -> Option<String> {
        (self.0)(key)
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

    /// A number within the variable's `min` and `max` (its default when unset).
    pub fn number<T: FromStr + PartialOrd>(&self, variable: &Variable) -> Result<T, ConfigError> {
        let bound = |text: Option<&str>| text.and_then(|text| text.parse::<T>().ok());
        let (min, max) = (bound(variable.min), bound(variable.max));
        // A bound that does not parse as T refuses every value: a declaration error that the
        // defaults test catches.
        self.parsed(variable, |value: &T| {
            variable
                .min
                .is_none_or(|_| min.as_ref().is_some_and(|min| value >= min))
                && variable
                    .max
                    .is_none_or(|_| max.as_ref().is_some_and(|max| value <= max))
        })
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

pub const SNAPSHOT_BUCKET: Variable = Variable::new(
    "SNAPSHOT_BUCKET",
    None,
    "an S3 bucket name",
    "the S3 bucket that receives pre-change snapshots",
);
pub const LEDGER_TABLE: Variable = Variable::new(
    "LEDGER_TABLE",
    None,
    "a DynamoDB table name",
    "the DynamoDB table that holds claims and history",
);
pub const METRIC_NAMESPACE: Variable = Variable::new(
    "METRIC_NAMESPACE",
    Some("Unthrottle"),
    "a CloudWatch namespace (1-255 characters, not starting with AWS/)",
    "the CloudWatch namespace of the AutoFix, Skipped and Failed metrics",
);
pub const METRICS_MODE: Variable = Variable::new(
    "METRICS_MODE",
    Some("emf"),
    "emf or put-metric-data",
    "how metrics leave the function: EMF log lines, or PutMetricData calls",
);
pub const DRY_RUN: Variable = Variable::new(
    "DRY_RUN",
    Some("false"),
    "true or false",
    "plan and report, change and write nothing",
);
pub const COOLDOWN_SECONDS: Variable = Variable::new(
    "COOLDOWN_SECONDS",
    Some("300"),
    "whole seconds from 60 to 86400",
    "how long a resource stays claimed after a change: the length of one incident",
)
.between("60", "86400");
pub const MAX_EVENT_AGE_SECONDS: Variable = Variable::new(
    "MAX_EVENT_AGE_SECONDS",
    Some("3600"),
    "whole seconds from 0 to 86400 (0: no limit)",
    "events older than this are skipped as too-old: late deliveries describe a past incident",
)
.between("0", "86400");
pub const SETTLE_SECONDS: Variable = Variable::new(
    "SETTLE_SECONDS",
    Some("60"),
    "whole seconds from 0 to 3600",
    "an event from before the resource's last change plus this margin is skipped as stale",
)
.between("0", "3600");
pub const VERIFY_WINDOW_SECONDS: Variable = Variable::new(
    "VERIFY_WINDOW_SECONDS",
    Some("1800"),
    "whole seconds from 0 to 86400 (0: off)",
    "a throttle this soon after unthrottle's last change (and after it settled) means the change did not hold: FixIneffective",
)
.between("0", "86400");
pub const MIN_THROTTLE_EVENTS: Variable = Variable::new(
    "MIN_THROTTLE_EVENTS",
    Some("1"),
    "a whole number from 1 to 1000",
    "act on a CloudTrail throttle only once this many distinct throttle events of the resource fall in one SUSTAIN_SECONDS window (1: the first)",
)
.between("1", "1000");
pub const SUSTAIN_SECONDS: Variable = Variable::new(
    "SUSTAIN_SECONDS",
    Some("60"),
    "whole seconds from 1 to 3600",
    "the window MIN_THROTTLE_EVENTS counts in",
)
.between("1", "3600");
pub const S3_FORCE_PATH_STYLE: Variable = Variable::new(
    "S3_FORCE_PATH_STYLE",
    Some("false"),
    "true or false",
    "path-style S3 addressing, for S3 emulators on 127.0.0.1",
);

/// The variables every function reads.
pub const CORE_VARIABLES: &[&Variable] = &[
    &SNAPSHOT_BUCKET,
    &LEDGER_TABLE,
    &METRIC_NAMESPACE,
    &METRICS_MODE,
    &DRY_RUN,
    &COOLDOWN_SECONDS,
    &MAX_EVENT_AGE_SECONDS,
    &SETTLE_SECONDS,
    &VERIFY_WINDOW_SECONDS,
    &MIN_THROTTLE_EVENTS,
    &SUSTAIN_SECONDS,
    &S3_FORCE_PATH_STYLE,
];

pub const SCALE_FACTOR: Variable = Variable::new(
    "SCALE_FACTOR",
    Some("2.0"),
    "a number from 1.01 to 10, e.g. 2.0",
    "each step multiplies the throttled capacity by this",
)
.between("1.01", "10");
pub const MIN_STEP: Variable = Variable::new(
    "MIN_STEP",
    Some("1"),
    "a whole number of at least 1",
    "each step adds at least this many units",
)
.at_least("1");
pub const HEADROOM: Variable = Variable::new(
    "HEADROOM",
    Some("1.25"),
    "a number from 1 to 10, e.g. 1.25",
    "capacity set per unit of measured peak demand, when metrics say what the demand was",
)
.between("1", "10");
pub const ON_DEMAND: Variable = Variable::new(
    "ON_DEMAND",
    Some("never"),
    "never, allow or prefer",
    "switch to on-demand: never, at the cap (allow), or on the first throttle (prefer)",
);
pub const MAX_ON_DEMAND_SWITCHES_PER_DAY: Variable = Variable::new(
    "MAX_ON_DEMAND_SWITCHES_PER_DAY",
    Some("1"),
    "0 to 4 for tables, 0 to 1 for streams (AWS allows 4 switches to on-demand per table per 24 h, and 2 mode changes per stream: one switch and its undoing)",
    "switches to on-demand allowed per resource per rolling 24 h",
);

/// `SCALE_FACTOR` and, when a service reads it, `MIN_STEP`.
pub fn growth(env: &Env, min_step: Option<&Variable>) -> Result<Growth, ConfigError> {
    Ok(Growth {
        factor: env.number(&SCALE_FACTOR)?,
        min_step: match min_step {
            Some(variable) => env.number(variable)?,
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
    /// Events older than this are skipped; `None`: no limit.
    pub max_event_age: Option<Duration>,
    /// An event from before the resource's last change plus this is stale.
    pub settle: Duration,
    /// A throttle within this of unthrottle's last change (after it settled) means that
    /// change did not hold; `None`: not checked.
    pub verify_window: Option<Duration>,
    /// CloudTrail throttles act only when sustained; `None`: on the first.
    pub sustain: Option<Sustain>,
    /// The longest one call to AWS may take (the SDK clients' operation timeout): no step is
    /// started with less of the invocation left than the steps it commits to.
    pub step_budget: std::time::Duration,
}

/// `MIN_THROTTLE_EVENTS` distinct throttle events within one `SUSTAIN_SECONDS` window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sustain {
    pub min_events: u32,
    pub window: Duration,
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
                cooldown: Duration::seconds(env.number(&COOLDOWN_SECONDS)?),
                max_event_age: Some(env.number::<i64>(&MAX_EVENT_AGE_SECONDS)?)
                    .filter(|seconds| *seconds > 0)
                    .map(Duration::seconds),
                settle: Duration::seconds(env.number(&SETTLE_SECONDS)?),
                verify_window: Some(env.number::<i64>(&VERIFY_WINDOW_SECONDS)?)
                    .filter(|seconds| *seconds > 0)
                    .map(Duration::seconds),
                sustain: Some(env.number::<u32>(&MIN_THROTTLE_EVENTS)?)
                    .filter(|events| *events > 1)
                    .map(|min_events| {
                        env.number::<i64>(&SUSTAIN_SECONDS).map(|seconds| Sustain {
                            min_events,
                            window: Duration::seconds(seconds),
                        })
                    })
                    .transpose()?,
                // The wiring sets it from the clients it builds.
                step_budget: std::time::Duration::ZERO,
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
        Variable::new(name, Some("*"), "a glob such as `orders-*`", meaning)
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
