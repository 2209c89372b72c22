//! What a planner decides, and the rules every service's planner shares: how far to
//! raise a number, and how often the switch to on-demand is allowed.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::domain::{Action, HistoryEntry};

/// A planner's answer: change something, or hold with a reason.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision<C> {
    Act(Proposal<C>),
    Hold(Hold),
}

/// A change a planner wants made, with the before/after a human will read.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal<C> {
    pub action: Action,
    pub change: C,
    pub before: Value,
    pub after: Value,
    /// One sentence saying why, e.g. "write throttled: table WCU 5 -> 10".
    pub why: String,
}

/// Why nothing is changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub reason: SkipReason,
    pub detail: String,
}

impl Hold {
    pub fn new(reason: SkipReason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }
}

/// Why an event led to no change. Its code is the `Reason` metric dimension, so the set
/// is small and closed; the human detail travels beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SkipReason {
    /// The event is not a throttle (no error, another error, an alarm leaving ALARM).
    NotThrottle,
    /// The event is from a service or source this function does not handle.
    NotOurs,
    /// A control-plane rate limit: more capacity cannot help.
    ControlPlane,
    /// The resource does not match the allow-list.
    NotAllowed,
    /// The resource carries the opt-out tag.
    OptedOut,
    /// The resource no longer exists.
    NotFound,
    AlreadyOnDemand,
    UpdateInProgress,
    AtCap,
    /// An AWS rolling-24-hour limit would refuse the change.
    DailyLimit,
    /// This event was handled before (at-least-once delivery).
    Duplicate,
    /// Another event of the same incident already changed, or is changing, the resource.
    CoolingDown,
}

impl SkipReason {
    pub fn code(self) -> &'static str {
        match self {
            SkipReason::NotThrottle => "not-throttle",
            SkipReason::NotOurs => "not-ours",
            SkipReason::ControlPlane => "control-plane",
            SkipReason::NotAllowed => "not-allowed",
            SkipReason::OptedOut => "opted-out",
            SkipReason::NotFound => "not-found",
            SkipReason::AlreadyOnDemand => "already-on-demand",
            SkipReason::UpdateInProgress => "update-in-progress",
            SkipReason::AtCap => "at-cap",
            SkipReason::DailyLimit => "daily-limit",
            SkipReason::Duplicate => "duplicate",
            SkipReason::CoolingDown => "cooling-down",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

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
        // Values are capacity units or shard counts, far below f64's exact-integer range.
        // Rounding to 1e-6 first drops float noise: 100 * 1.1 is 110.00000000000001,
        // whose ceiling would be 111.
        let product = current as f64 * self.factor;
        let scaled = ((product * 1e6).round() / 1e6).ceil() as u64;
        Some(scaled.max(current.saturating_add(self.min_step)).min(cap))
    }
}

/// Whether a resource may be switched to on-demand capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnDemandPolicy {
    /// Only ever scale provisioned capacity, up to the cap.
    #[default]
    Never,
    /// Switch when provisioned capacity is at the cap.
    Allow,
    /// Switch on the first throttle.
    Prefer,
}

impl FromStr for OnDemandPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "never" => Ok(Self::Never),
            "allow" => Ok(Self::Allow),
            "prefer" => Ok(Self::Prefer),
            _ => Err("one of never, allow, prefer".into()),
        }
    }
}

/// The rolling window AWS uses for its per-day limits.
pub fn rolling_day() -> Duration {
    Duration::hours(24)
}

/// Changes of one kind in the rolling 24 h before `now`. AWS itself may also report the
/// last such change (e.g. DynamoDB's `LastUpdateToPayPerRequestDateTime`); it counts as
/// one more unless our own history already holds an entry within two minutes of it,
/// which is the same change seen from both sides.
pub fn changes_in_last_day(
    history: &[HistoryEntry],
    action: Action,
    reported_by_aws: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> u32 {
    let since = now - rolling_day();
    let ours: Vec<DateTime<Utc>> = history
        .iter()
        .filter(|entry| entry.action == action && entry.at > since && entry.at <= now)
        .map(|entry| entry.at)
        .collect();
    let same_change = Duration::minutes(2);
    let unseen_by_us = reported_by_aws
        .filter(|at| *at > since && !ours.iter().any(|mine| (*mine - *at).abs() <= same_change));
    ours.len() as u32 + u32::from(unseen_by_us.is_some())
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
