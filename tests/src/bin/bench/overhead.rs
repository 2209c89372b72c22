//! The handler's own overhead with in-memory fakes: the figures of the criterion bench
//! (tests/handler-bench), read from its JSON estimates. scripts/bench.sh runs that bench
//! first, with `CRITERION_HOME` pointing where it keeps them.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The kinds of event the bench times for a function that changes its resource, as criterion
/// names their directories (`handler/<function>/<kind>`), with the name each gets in
/// benchmarks.md.
const REMEDIATOR: &[(&str, &str)] = &[
    ("remediation", "remediation"),
    ("duplicate", "duplicate delivery"),
    ("cooldown", "same incident, in cooldown"),
    ("nothing-to-heal", "nothing to heal"),
    ("malformed", "malformed event"),
];

/// The same for api-throttle, which diagnoses (no cooldown follows a diagnosis).
const DIAGNOSER: &[(&str, &str)] = &[
    ("diagnosis", "diagnosis"),
    ("duplicate", "duplicate delivery"),
    ("nothing-to-heal", "nothing to heal"),
    ("malformed", "malformed event"),
];

/// restore's one case: its hourly sweep over tests/handler-bench's `RAISED` tables.
const SWEEPER: &[(&str, &str)] = &[("sweep", SWEEP)];

/// restore's case as benchmarks.md names it: a sweep, not an event.
pub const SWEEP: &str = "hourly sweep, 10 raised tables, none due yet";

/// Each function the bench times, with its kinds of event (tests/handler-bench's `kinds`).
pub const FUNCTIONS: [(&str, &[(&str, &str)]); 4] = [
    ("dynamodb-throttle", REMEDIATOR),
    ("kinesis-throttle", REMEDIATOR),
    ("api-throttle", DIAGNOSER),
    ("restore", SWEEPER),
];

/// Issue 14's target for the handler's own work per event.
pub const TARGET_NS: f64 = 20_000.0;

/// One benchmark's estimates, in nanoseconds per event.
pub struct Row {
    pub function: &'static str,
    pub event: &'static str,
    pub median_ns: f64,
    pub median_low_ns: f64,
    pub median_high_ns: f64,
}

impl Row {
    /// Events a second one core handles at the median.
    pub fn per_second(&self) -> f64 {
        1e9 / self.median_ns
    }
}

/// Where criterion keeps its results: `CRITERION_HOME`, as criterion reads it, else its
/// default under the workspace's target directory.
pub fn home() -> PathBuf {
    std::env::var_os("CRITERION_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/criterion"))
}

fn estimate(estimates: &Value, statistic: &str, field: &[&str]) -> Option<f64> {
    field
        .iter()
        .try_fold(&estimates[statistic], |value, key| value.get(key))
        .and_then(Value::as_f64)
}

/// Every function and kind of event, or why one is missing: a bench that did not run, or
/// one that stopped because a case did not end as its name says.
pub fn read(home: &Path) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for (function, kinds) in FUNCTIONS {
        for &(id, event) in kinds {
            let path = home
                .join("handler")
                .join(function)
                .join(id)
                .join("new/estimates.json");
            let text = std::fs::read_to_string(&path).map_err(|e| {
                format!(
                    "{}: {e} (the handler bench did not run, or stopped: cargo bench -p handler-bench)",
                    path.display()
                )
            })?;
            let estimates: Value =
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            let figure = |field: &[&str]| {
                estimate(&estimates, "median", field)
                    .ok_or_else(|| format!("{}: no median {}", path.display(), field.join(".")))
            };
            rows.push(Row {
                function,
                event,
                median_ns: figure(&["point_estimate"])?,
                median_low_ns: figure(&["confidence_interval", "lower_bound"])?,
                median_high_ns: figure(&["confidence_interval", "upper_bound"])?,
            });
        }
    }
    Ok(rows)
}

/// A time in microseconds, or nanoseconds below one.
pub fn micros(ns: f64) -> String {
    if ns < 1_000.0 {
        format!("{ns:.0} ns")
    } else {
        format!("{:.1} µs", ns / 1_000.0)
    }
}
