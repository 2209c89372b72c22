//! What a planner decides: change something, or hold and say why.

use serde::Serialize;
use serde_json::Value;
use strum::{Display, IntoStaticStr};

use crate::core::domain::Action;

/// A planner's answer: change something, or hold with a reason.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision<C> {
    Act(Proposal<C>),
    Hold(Hold),
}

impl<C> Decision<C> {
    pub fn hold(reason: SkipReason, detail: impl Into<String>) -> Self {
        Decision::Hold(Hold::new(reason, detail))
    }
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Display, IntoStaticStr)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
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
    /// The resource is in another account or region than the function.
    Foreign,
    /// The event is older than `MAX_EVENT_AGE_SECONDS`.
    TooOld,
    /// The event describes the resource before a change made since: acting would re-apply it.
    Stale,
    AlreadyOnDemand,
    UpdateInProgress,
    AtCap,
    /// An AWS rolling-24-hour limit would refuse the change.
    DailyLimit,
    /// This event was handled before (at-least-once delivery).
    Duplicate,
    /// Another event of the same incident already changed, or is changing, the resource.
    CoolingDown,
    /// AWS refused the last change for a reason that persists; the next try waits.
    BackingOff,
}

impl SkipReason {
    pub fn code(self) -> &'static str {
        self.into()
    }
}
