//! The seam a service plugs into: what it reads from an event, what it plans, and its own
//! settings. Everything else (claims, snapshots, reports, metrics) is the pipeline's.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::core::config::{AllowList, ConfigError, Env, Variable};
use crate::core::diagnosis::Diagnosis;
use crate::core::domain::{HistoryEntry, ServiceId};
use crate::core::envelope::{Envelope, Triage, TriggerError};
use crate::core::plan::Decision;
use crate::core::trigger::Target;

/// A service unthrottle heals, as configured: a value of this type is the service's own
/// settings (its limits and allow-list), read by [`Service::from_env`].
pub trait Service: Send + Sync + Sized + 'static {
    const ID: ServiceId;
    /// The variables [`Service::from_env`] reads, besides the core's.
    const VARIABLES: &'static [&'static Variable];

    /// One throttled resource, as an event names it.
    type Target: Target + Serialize + Send + Sync;
    /// What the planner reads about the resource.
    type State: Send + Sync;
    /// What the service's update call applies.
    type Change: Serialize + Send + Sync;
    /// What its metrics say about an incident (`ports::Diagnose`); `()` for a service that
    /// reads none.
    type Evidence: Serialize + Send + Sync;

    fn from_env(env: &Env) -> Result<Self, ConfigError>;

    /// Which resources this function may touch, checked before any call to AWS.
    fn allow_list(&self) -> &AllowList;

    /// What an event says was throttled.
    fn triage(envelope: &Envelope) -> Result<Triage<Self::Target>, TriggerError>;

    /// When the part of the resource `target` names last changed, as AWS reports it (ours
    /// and others' changes alike); `None` when the service does not say. An event from before
    /// it describes the old capacity.
    fn last_change(state: &Self::State, target: &Self::Target) -> Option<DateTime<Utc>> {
        let _ = (state, target);
        None
    }

    /// The part of the resource `change` changes, when it names one (a shard): kept in the
    /// history, so a planner can tell which part a past change touched.
    fn subject(change: &Self::Change) -> Option<String> {
        let _ = change;
        None
    }

    /// Changes AWS reports on the resource that count against its rolling-day limits, e.g.
    /// DynamoDB's last switch to on-demand. One the ledger does not hold yet (made by hand) is
    /// recorded there, so it keeps counting after AWS reports a later one.
    fn reported_changes(state: &Self::State) -> Vec<HistoryEntry> {
        let _ = state;
        Vec::new()
    }

    /// Whether `change` shows in `state`, described after an apply whose outcome is unknown
    /// (no answer, or a 5xx): made, or under way (the resource is updating, most likely with
    /// it). Then it is recorded as made rather than released for a retry that would make it
    /// twice. An apply AWS answered with an error is never asked about: nothing was changed.
    fn applied(state: &Self::State, change: &Self::Change) -> bool;

    /// Whether the metrics lookup (`ports::Diagnose`) has anything to add for `target`: not
    /// when the trigger already names the cause, nor for a service that reads no metrics.
    fn needs_diagnosis(target: &Self::Target) -> bool {
        let _ = target;
        true
    }

    /// Whether every throttle event is counted by the lookup (`ports::Diagnose`), even one
    /// held back while another invocation decides on the resource: api-throttle's callers.
    fn counts_every_event() -> bool {
        false
    }

    /// Whether `MIN_THROTTLE_EVENTS` holds CloudTrail throttles back before the describe.
    /// A service that counts its events itself, and decides on the counts (api-throttle),
    /// says no: the gate would stop the counting it decides on.
    fn sustained_by_sightings() -> bool {
        true
    }

    /// The pure planner: plain data in, a decision out.
    fn plan(
        &self,
        target: &Self::Target,
        state: &Self::State,
        diagnosis: &Diagnosis<Self::Evidence>,
        history: &[HistoryEntry],
        now: DateTime<Utc>,
    ) -> Decision<Self::Change>;
}
