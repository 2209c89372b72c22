//! The rules every planner shares, parameterised by each service's limits: how far a
//! number may grow under a cap, how many changes of a kind AWS allows per rolling day, and
//! whether a switch to on-demand is allowed now.

use chrono::{DateTime, Duration, Utc};

use crate::core::domain::{Action, HistoryEntry, OnDemandPolicy};
use crate::core::plan::{Decision, SkipReason};

/// How a number (capacity units, shards) grows when its dimension throttles.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Growth {
    /// Multiply the current value by this (> 1).
    pub factor: f64,
    /// But grow by at least this much (>= 1), so small values move meaningfully.
    pub min_step: u64,
}

impl Growth {
    /// `min(cap, max(ceil(current * factor), current + min_step))`, or `None` when the
    /// value is already at (or, set by hand, above) the cap.
    pub fn raise(&self, current: u64, cap: u64) -> Option<u64> {
        if current >= cap {
            return None;
        }
        // In whole millionths the product is exact: 100 * 1.1 is 110, not the float
        // 110.00000000000001 whose ceiling would be 111. A product beyond u64, or a factor
        // that is not a finite number, is simply above any cap.
        let scaled = whole_units((self.factor * 1e6).round())
            .and_then(|millionths| current.checked_mul(millionths))
            .map_or(u64::MAX, |product| product.div_ceil(1_000_000));
        Some(scaled.max(current.saturating_add(self.min_step)).min(cap))
    }
}

/// A non-negative whole float as an integer, or `None` when it is not one that fits exactly.
pub(crate) fn whole_units(value: f64) -> Option<u64> {
    // 2^53: beyond it f64 no longer holds every integer.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if !(0.0..=EXACT).contains(&value) || value.fract() != 0.0 {
        return None;
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "checked above: a whole number in 0..=2^53"
    )]
    Some(value as u64)
}

/// The rolling window AWS uses for its per-day limits.
pub fn rolling_day() -> Duration {
    Duration::hours(24)
}

/// An AWS limit of the form "at most `limit` changes of one kind per resource per rolling
/// 24 h", e.g. 10 UpdateShardCount calls per stream, 4 switches to on-demand per table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollingWindow {
    pub action: Action,
    pub limit: u32,
}

impl RollingWindow {
    /// Changes of this kind in the rolling 24 h before `now`. AWS itself may also report the
    /// last such change (e.g. DynamoDB's `LastUpdateToPayPerRequestDateTime`); it counts as
    /// one more unless our own history already holds an entry within two minutes of it,
    /// which is the same change seen from both sides.
    pub fn count(
        &self,
        history: &[HistoryEntry],
        reported_by_aws: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> u32 {
        let since = now - rolling_day();
        let ours: Vec<DateTime<Utc>> = history
            .iter()
            .filter(|entry| entry.action == self.action && entry.at > since && entry.at <= now)
            .map(|entry| entry.at)
            .collect();
        let unseen_by_us =
            reported_by_aws.filter(|at| *at > since && !ours.iter().any(|mine| same_change(*mine, *at)));
        u32::try_from(ours.len())
            .unwrap_or(u32::MAX)
            .saturating_add(u32::from(unseen_by_us.is_some()))
    }

    /// `Err(count)` when another change would go over the limit.
    pub fn check(
        &self,
        history: &[HistoryEntry],
        reported_by_aws: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<u32, u32> {
        let count = self.count(history, reported_by_aws, now);
        if count >= self.limit {
            Err(count)
        } else {
            Ok(count)
        }
    }
}

/// Two records of one change: ours and the time AWS reports for it, within two minutes.
pub fn same_change(a: DateTime<Utc>, b: DateTime<Utc>) -> bool {
    (a - b).abs() <= Duration::minutes(2)
}

/// Whether this resource may be switched to on-demand now: the team's `ON_DEMAND` policy and
/// the service's rolling-day limit on switches, decided once per plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeSwitchGuard {
    policy: OnDemandPolicy,
    refusal: Option<String>,
}

impl ModeSwitchGuard {
    pub fn new(
        policy: OnDemandPolicy,
        window: &RollingWindow,
        history: &[HistoryEntry],
        reported_by_aws: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Self {
        let refusal = if policy == OnDemandPolicy::Never {
            Some("ON_DEMAND=never".to_owned())
        } else {
            window.check(history, reported_by_aws, now).err().map(|switches| {
                format!(
                    "the on-demand guard refused: {switches} switch(es) in the last 24 h, limit {}",
                    window.limit
                )
            })
        };
        Self { policy, refusal }
    }

    /// `ON_DEMAND=prefer` and the guard allows it: switch on the first throttle.
    pub fn switch_first(&self) -> bool {
        self.policy == OnDemandPolicy::Prefer && self.refusal.is_none()
    }

    /// Why a preferred switch was not made, to append to the scaling step's reason.
    pub fn preferred_but_refused(&self) -> Option<String> {
        (self.policy == OnDemandPolicy::Prefer)
            .then_some(self.refusal.as_ref())
            .flatten()
            .map(|refused| format!(" (instead of switching to on-demand: {refused})"))
    }

    /// Nothing is left to raise: switch (`switch` builds that decision from the reason) if
    /// allowed, else hold "at cap" saying why.
    pub fn at_cap<C>(&self, at_cap: &str, switch: impl FnOnce(&str) -> Decision<C>) -> Decision<C> {
        match &self.refusal {
            None => switch(&format!("{at_cap}; switching to on-demand")),
            Some(refused) => Decision::hold(SkipReason::AtCap, format!("{at_cap}; {refused}")),
        }
    }
}

#[cfg(test)]
#[path = "guards_tests.rs"]
mod tests;
