//! The ports: one small trait per concern, speaking domain types only. Each has one AWS SDK
//! adapter (`adapters/`, or the service's `aws.rs`) and one in-memory fake (`testing`).

use std::collections::HashMap;
use std::future::Future;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::core::diagnosis::Diagnosis;
use crate::core::domain::{HistoryEntry, ResourceRef};
use crate::core::error::Result;
use crate::core::ledger::{Admission, LedgerView, Refusal, Release, Sighting, TalliedCall, Ticket};
use crate::core::report::Report;
use crate::core::service::Service;

/// The tag that opts a resource out of unthrottle.
pub const OPT_OUT_TAG: (&str, &str) = ("unthrottle:disabled", "true");

/// A resource as described: what the planner reads, its tags, and the describe output
/// exactly as AWS returned it, for the snapshot.
#[derive(Debug, Clone)]
pub struct Described<S> {
    pub state: S,
    pub tags: HashMap<String, String>,
    pub raw: Value,
}

impl<S> Described<S> {
    pub fn opted_out(&self) -> bool {
        self.tags
            .get(OPT_OUT_TAG.0)
            .is_some_and(|value| value.trim().eq_ignore_ascii_case(OPT_OUT_TAG.1))
    }
}

/// Reads a resource of service `S`. A resource that does not exist is an error of kind
/// `NotFound`. The account and region let an adapter name the resource's ARN before AWS
/// has answered, and so ask for its tags beside the describe.
pub trait Describe<S: Service>: Send + Sync {
    fn describe(&self, resource: &ResourceRef) -> impl Future<Output = Result<Described<S::State>>> + Send;
}

/// Reads why a resource of service `S` throttled (its metrics), beside the describe. Never
/// fails: a lookup that fails is `Diagnosis::Unavailable`, and the plan goes on without it.
pub trait Diagnose<S: Service>: Send + Sync {
    fn diagnose(
        &self,
        target: &S::Target,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Diagnosis<S::Evidence>> + Send;
}

/// Reads a resource's metrics over a window of hours (restore's quiet hours). Unlike
/// [`Diagnose`], a lookup that failed or came back partial is an error: a reader that decides
/// on the absence of throttles must not take a gap for quiet.
pub trait Measure<S: Service>: Send + Sync {
    fn measure(
        &self,
        name: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<S::Evidence>> + Send;
}

/// Makes a planned change to a resource of service `S`: one update call (DynamoDB: one
/// UpdateTable, or one RegisterScalableTarget per auto-scaled side).
pub trait Apply<S: Service>: Send + Sync {
    fn apply(&self, state: &S::State, change: &S::Change) -> impl Future<Output = Result<()>> + Send;
}

/// Per-resource leases, claims, change history and refusals (see `core::ledger` and
/// docs/ledger.md, "The protocol").
pub trait Ledger: Send + Sync {
    /// What the ledger holds for the resource, with its history since `now - 24 h`. Read-only.
    fn view(
        &self,
        resource: &ResourceRef,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<LedgerView>> + Send;
    /// Leases the resource to the ticket, in one conditional write that returns what the
    /// ledger held: refused while another invocation's lease or a cooldown holds, a refusal
    /// backs it off, or the ticket's event changed it already.
    fn claim(&self, ticket: &Ticket) -> impl Future<Output = Result<Admission>> + Send;
    /// Records `changes` (the one about to be made, and any AWS reports that the ledger
    /// missed), turns the lease into the cooldown claim, clears a refusal (`forgive`) and
    /// drops `expired` records, in one write; refused (`ErrorKind::Transient`) unless the
    /// ticket still holds the lease. Made before the change, beside its snapshot: a change
    /// is never made unrecorded.
    fn commit(
        &self,
        ticket: &Ticket,
        changes: &[HistoryEntry],
        expired: &[HistoryEntry],
        forgive: bool,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Gives the resource back after the ticket decided on no change, or a change failed:
    /// drops the lease (remembering the diagnosed events, for a diagnosis), or the ticket's
    /// claim and the changes its commit recorded; records `refusal` if one is given. Nothing
    /// happens unless the ticket holds the resource.
    fn release(
        &self,
        ticket: &Ticket,
        release: Release<'_>,
        refusal: Option<&Refusal>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Remembers a change made outside a commit (a restore step, a rollback).
    fn record(&self, resource: &ResourceRef, entry: &HistoryEntry)
    -> impl Future<Output = Result<()>> + Send;
    /// Counts a throttle event on a dimension of a resource: returns how many distinct events
    /// its bucket holds, this one included (a redelivered event counts once).
    fn sight(&self, resource: &ResourceRef, sighting: &Sighting) -> impl Future<Output = Result<u32>> + Send;
}

/// Throttled calls counted per caller and minute, in the ledger table (api-throttle: who
/// is throttled on an API, and whether it is one caller or many).
pub trait Tally: Send + Sync {
    /// Counts one call; a redelivered event counts once (while the minute remembers its id:
    /// [`TalliedCall::REMEMBERED_PER_MINUTE`]).
    /// `true` when the call was counted now, `false` for a redelivery.
    fn tally(&self, resource: &ResourceRef, call: &TalliedCall) -> impl Future<Output = Result<bool>> + Send;
    /// Claims the incident of `caller` on `resource` from `at` for `minutes`: `true` for the
    /// first claim of the window (one conditional write), so one line is sent per incident
    /// even when its first calls race.
    fn first_in_window(
        &self,
        resource: &ResourceRef,
        caller: &str,
        at: DateTime<Utc>,
        minutes: u32,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Calls counted per caller in the `minutes` one-minute buckets up to the one `at`
    /// falls in, in no order; read consistently, so the call just counted is in it.
    fn callers(
        &self,
        resource: &ResourceRef,
        at: DateTime<Utc>,
        minutes: u32,
    ) -> impl Future<Output = Result<Vec<(String, u32)>>> + Send;
}

/// Where unthrottle tells other functions (and people) what no change of its own fixes: an
/// EventBridge event on the account's default bus (`source: unthrottle`).
pub trait Announce: Send + Sync {
    fn announce(&self, detail_type: &str, detail: &Value) -> impl Future<Output = Result<()>> + Send;
}

/// Where pre-change snapshots are kept.
pub trait Snapshots: Send + Sync {
    /// Stores `body` (JSON) under `key`; returns its `s3://bucket/key` location.
    fn put(&self, key: &str, body: Vec<u8>) -> impl Future<Output = Result<String>> + Send;
}

/// The snapshots kept, read back: what `unthrottle history` lists.
pub trait SnapshotArchive: Send + Sync {
    /// The keys under `prefix`, in no order.
    fn list(&self, prefix: &str) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// The document stored under `key`.
    fn get(&self, key: &str) -> impl Future<Output = Result<Vec<u8>>> + Send;
    /// `s3://bucket/key`, as a report names it.
    fn location(&self, key: &str) -> String;
}

/// Where the counts of what happened go (see `core::metrics`).
pub trait Metrics: Send + Sync {
    fn publish(&self, reports: &[Report]) -> impl Future<Output = Result<()>> + Send;
}
