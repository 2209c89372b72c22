//! `restore`: capacity raised for a spike comes back down. An hourly schedule walks the
//! snapshots unthrottle kept in its own account and region; for each resource it raised
//! and that has been quiet since (`RESTORE_AFTER_QUIET_HOURS`), it takes one step back
//! toward the pre-incident state, to `max(pre-incident, ceil(peak x HEADROOM))`, within
//! AWS's limits. Each step is a change like any other: claim, snapshot, change, ledger,
//! metric (`AutoRestore`), result.
//!
//! - [`planner`]: pure: the episode a resource's snapshots leave open, and the step.
//! - [`model`]: its settings, and [`Restores`]: what a service adds (its dials, limits and change), in `dynamodb.rs`
//!   and `kinesis.rs`.
//! - [`run`]: the sweep, generic over the ports.

mod dynamodb;
mod kinesis;
pub mod model;
pub mod planner;
pub mod run;

pub use model::{
    Call, RESTORE, RESTORE_AFTER_QUIET_HOURS, RESTORE_BILLING_MODE, Raised, Restores, VARIABLES, policy,
    step_id,
};
pub use planner::{Episode, Kept, Limit, Policy, Subject, Usage, Verdict};
pub use run::{Restorer, run};
