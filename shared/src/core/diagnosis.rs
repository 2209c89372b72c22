//! Why a resource throttled, as its metrics say, read beside the describe. What a planner
//! makes of a cause no change fixes is a `plan::Finding`.
//!
//! Service-neutral: each service names its own evidence type (`Service::Evidence`) and
//! reads it with its own adapter (`ports::Diagnose`).

use serde::Serialize;

use crate::core::guards::whole_units;

/// How long the metrics are read back, in one-minute periods.
pub const MINUTES: i64 = 5;
/// The period CloudWatch aggregates over: consumed units and counts are one-minute Sums.
pub const PERIOD_SECONDS: i32 = 60;

/// What the metrics lookup beside the describe found.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "source", content = "evidence", rename_all = "kebab-case")]
pub enum Diagnosis<E> {
    /// No lookup was made: the trigger already names the cause (an alarm on a cause metric).
    NotNeeded,
    /// What CloudWatch returned, gaps and all.
    Measured(E),
    /// The lookup failed; the planner falls back to the fixed `SCALE_FACTOR` step. Metrics
    /// advise the fix: losing them must not stop it.
    Unavailable(String),
}

impl<E> Diagnosis<E> {
    pub fn measured(&self) -> Option<&E> {
        match self {
            Diagnosis::Measured(evidence) => Some(evidence),
            _ => None,
        }
    }
}

/// One-minute Sums of a metric, oldest first, minutes without data left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Sums(pub Vec<f64>);

impl Sums {
    /// The busiest minute's rate per second: a one-minute Sum of units is 60 seconds of
    /// them. `None` without data.
    pub fn peak_per_second(&self) -> Option<f64> {
        self.0
            .iter()
            .copied()
            .filter(|sum| sum.is_finite() && *sum >= 0.0)
            .reduce(f64::max)
            .map(|peak| peak / f64::from(PERIOD_SECONDS))
    }

    /// All of it: for counts (throttle events), how many over the window.
    pub fn total(&self) -> f64 {
        self.0
            .iter()
            .copied()
            .filter(|sum| sum.is_finite() && *sum > 0.0)
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `ceil(rate x headroom)` as whole units, `None` when it is not a finite number or does
/// not fit (the caller's cap applies then).
pub fn with_headroom(rate: f64, headroom: f64) -> Option<u64> {
    whole_units((rate * headroom).ceil())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_minute_sum_is_sixty_seconds_of_units() {
        let sums = Sums(vec![600.0, 1_200.0, 300.0]);
        assert_eq!(sums.peak_per_second(), Some(20.0));
        assert_eq!(sums.total(), 2_100.0);
    }

    #[test]
    fn no_data_is_no_rate_and_nothing_counted() {
        assert_eq!(Sums::default().peak_per_second(), None);
        assert_eq!(Sums::default().total(), 0.0);
        // CloudWatch never answers NaN or a negative Sum; if it did, it is not data.
        let odd = Sums(vec![f64::NAN, -5.0]);
        assert_eq!(odd.peak_per_second(), None);
        assert_eq!(odd.total(), 0.0);
    }

    #[test]
    fn headroom_rounds_up_to_whole_units() {
        assert_eq!(with_headroom(20.0, 1.25), Some(25));
        assert_eq!(with_headroom(20.1, 1.25), Some(26));
        assert_eq!(with_headroom(0.0, 1.25), Some(0));
        assert_eq!(with_headroom(f64::INFINITY, 1.25), None);
        assert_eq!(with_headroom(1e300, 1.25), None);
    }
}
