//! What the ledger keeps: per-resource claims, change history and refusals, and what makes
//! a re-delivered event a duplicate.
//!
//! One DynamoDB table (`LEDGER_TABLE`, key `pk`/`sk`, TTL on `expires_at`); see
//! `docs/ledger.md`; the port is `core::ports::Ledger`. Everything a remediation decides on
//! lives in one item per resource, so that one conditional write both claims the resource
//! and returns what the ledger knew (docs/ledger.md, "The protocol"):
//! - a lease, held by one invocation while it decides and changes;
//! - the claim an event holds for the cooldown after its change: one change per incident,
//!   and the event that made it is a duplicate from then on;
//! - the changes of the last two days: what the daily-limit guards count;
//! - a refusal the resource is backing off from;
//! - the events diagnosed last, each a duplicate from then on.
//!
//! Beside it: sightings per resource, dimension and `SUSTAIN_SECONDS` bucket (the distinct
//! throttle events seen, only with `MIN_THROTTLE_EVENTS` above 1) and api-throttle's counts.

use chrono::{DateTime, Duration, Utc};

use crate::core::domain::{HistoryEntry, ResourceRef};
use crate::core::guards::rolling_day;

/// The events diagnosed on a resource that are remembered, so that each one's redelivery is
/// a duplicate: a diagnosis changes nothing and takes no claim, and without them a
/// redelivered event would be diagnosed again (its calls repeated). The most recent are
/// kept; an older event delivered again is diagnosed again, which changes nothing and
/// counts nothing twice (its call count and digest line are kept once per event). At about
/// 40 bytes an id, 20 add at most 800 bytes to the item every claim writes (a write costs a
/// unit per KB of it).
pub const DIAGNOSES_REMEMBERED: usize = 20;

/// Who holds a resource, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub holder: String,
    pub until: DateTime<Utc>,
    /// The invocation that took it; absent on records written before it was kept.
    pub invocation: Option<String>,
}

/// AWS refused a change to a resource for a reason that persists (a limit, a quota): no
/// snapshot and no update is tried again until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub until: DateTime<Utc>,
    /// Refusals in a row: each doubles the wait.
    pub strikes: u32,
    pub reason: String,
}

impl Refusal {
    /// The refusal after `previous` (if any) at `now`: 15 minutes, doubling per strike, at most
    /// 24 hours.
    pub fn after(previous: Option<&Refusal>, now: DateTime<Utc>, reason: String) -> Self {
        let strikes = previous.map_or(1, |refusal| refusal.strikes.saturating_add(1));
        let doublings = strikes.saturating_sub(1).min(7);
        let wait = (Duration::minutes(15) * 2_i32.pow(doublings)).min(Duration::hours(24));
        Refusal {
            until: now + wait,
            strikes,
            reason,
        }
    }
}

/// What the ledger knows about one resource: the claim of the event that changed it last,
/// a lease an invocation holds on it now, its last day of changes, and a refusal it is
/// backing off from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerView {
    /// The event that changed the resource last, and until when its cooldown holds; kept
    /// after the cooldown, so that event stays a duplicate.
    pub claim: Option<Claim>,
    /// An invocation deciding on the resource, and until when (its deadline) at most.
    pub lease: Option<Claim>,
    pub history: Vec<HistoryEntry>,
    pub refusal: Option<Refusal>,
    /// Stored changes past their retention: the next commit removes them, so the item a
    /// resource's record lives in stays small however long it lives.
    pub expired: Vec<HistoryEntry>,
    /// The events diagnosed last, oldest first (at most [`DIAGNOSES_REMEMBERED`]).
    pub diagnosed: Vec<String>,
}

/// Why the ledger holds a resource back from an event, when it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    /// This event changed the resource already, or another invocation is handling it.
    Duplicate { detail: String },
    /// Another event's change is cooling down.
    CoolingDown { detail: String },
    /// Another event is being handled by another invocation (its lease holds).
    InFlight { detail: String },
    /// AWS refused a change, and the back-off has not ended.
    BackingOff(Refusal),
}

impl LedgerView {
    /// Whether (and why) `event_id`, asked by `invocation`, may not take the resource at
    /// `now`: the rule the claim's condition enforces, read back from what the ledger holds
    /// (the condition cannot see which changes an event made; this can).
    pub fn holds_back(&self, event_id: &str, invocation: &str, now: DateTime<Utc>) -> Option<Held> {
        let changed = self.claim.as_ref().is_some_and(|claim| claim.holder == event_id)
            || self.history.iter().any(|entry| entry.event_id == event_id);
        if changed {
            return Some(Held::Duplicate {
                detail: format!("event {event_id} already changed it"),
            });
        }
        if self.diagnosed.iter().any(|diagnosed| diagnosed == event_id) {
            return Some(Held::Duplicate {
                detail: format!("event {event_id} was diagnosed already"),
            });
        }
        if let Some(lease) = self
            .lease
            .as_ref()
            .filter(|lease| lease.until > now && lease.invocation.as_deref() != Some(invocation))
        {
            let detail = format!(
                "event {} is being handled by another invocation (until {} at most)",
                lease.holder,
                lease.until.to_rfc3339()
            );
            return Some(if lease.holder == event_id {
                Held::Duplicate { detail }
            } else {
                Held::InFlight { detail }
            });
        }
        if let Some(claim) = self.claim.as_ref().filter(|claim| claim.until > now) {
            return Some(Held::CoolingDown {
                detail: format!(
                    "it was changed for event {} and is cooling down until {}; this event is part of that incident",
                    claim.holder,
                    claim.until.to_rfc3339()
                ),
            });
        }
        self.refusal
            .as_ref()
            .filter(|refusal| refusal.until > now)
            .map(|refusal| Held::BackingOff(refusal.clone()))
    }

    /// The events to remember once `event_id` is diagnosed: it last, the oldest dropped past
    /// [`DIAGNOSES_REMEMBERED`].
    pub fn diagnosed_with(&self, event_id: &str) -> Vec<String> {
        let kept = self
            .diagnosed
            .iter()
            .filter(|diagnosed| *diagnosed != event_id)
            .cloned()
            .chain(std::iter::once(event_id.to_owned()))
            .collect::<Vec<_>>();
        let dropped = kept.len().saturating_sub(DIAGNOSES_REMEMBERED);
        kept[dropped..].to_vec()
    }
}

/// What a ticket gives back without a change standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release<'a> {
    /// The lease, leaving nothing behind: the event may be handled again.
    Lease,
    /// The lease, remembering these events (the ticket's among them) as diagnosed.
    Diagnosed(&'a [String]),
    /// The ticket's commit, its change failed: the claim and these records of it.
    Commit(&'a [HistoryEntry]),
}

/// A request to change a resource for an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub resource: ResourceRef,
    pub event_id: String,
    /// The run asking (Lambda's request id and a value of this run alone): a write it
    /// repeats (the SDK retrying after a lost response) finds its own lease, or its own
    /// commit, and is granted again; another run of the same request id is not.
    pub invocation: String,
    pub now: DateTime<Utc>,
    /// How long the lease may be held: to the invocation's deadline, so a retry after a
    /// timeout finds it ended.
    pub lease: Duration,
    /// How long the claim holds after the change is committed.
    pub cooldown: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// The resource is leased to the ticket; the view is what the ledger held before.
    Granted(LedgerView),
    /// The resource is held back; the view says by what (`LedgerView::holds_back`).
    Held(LedgerView),
}

/// How long history entries are kept: the rolling day the guards count, plus a margin.
pub fn history_retention() -> Duration {
    Duration::hours(48)
}

/// One throttled call counted per caller and minute (api-throttle's top callers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TalliedCall {
    /// Who made the call (`unknown` when the event does not say).
    pub caller: String,
    pub event_id: String,
    /// The minute it was made in.
    pub minute: DateTime<Utc>,
    /// When the count may go (TTL): two days after the minute.
    pub expires: DateTime<Utc>,
}

impl TalliedCall {
    /// How long a count is kept.
    pub fn retention() -> Duration {
        Duration::hours(48)
    }

    /// The event ids remembered per caller and minute, to count a redelivery once: beyond
    /// them every event is still counted, and the record stays small (about 4 KB), so
    /// writes to it stay cheap in a storm.
    pub const REMEMBERED_PER_MINUTE: u32 = 100;

    /// A call at `at` (clamped by the caller to no later than now: an event from the future
    /// is counted as now).
    pub fn new(caller: Option<&str>, event_id: &str, at: DateTime<Utc>) -> Self {
        let minute = Self::minute_of(at);
        Self {
            caller: caller.unwrap_or("unknown").to_owned(),
            event_id: event_id.to_owned(),
            minute,
            expires: minute.checked_add_signed(Self::retention()).unwrap_or(minute),
        }
    }

    /// The start of the minute `at` falls in.
    pub fn minute_of(at: DateTime<Utc>) -> DateTime<Utc> {
        DateTime::from_timestamp(at.timestamp().div_euclid(60) * 60, 0).unwrap_or(at)
    }

    /// The count's sort key: by minute (zero-padded epoch seconds, so text order is time
    /// order), then caller.
    pub fn key(&self) -> String {
        format!("{}{}", Self::minute_key(self.minute), self.caller)
    }

    fn minute_key(minute: DateTime<Utc>) -> String {
        format!("{:012}#", minute.timestamp().max(0))
    }

    /// The sort keys a Query reads for the `minutes` one-minute buckets that end with the
    /// one `at` falls in: from the first bucket's key to the next minute's (which sorts
    /// before any caller of that minute).
    pub fn window(at: DateTime<Utc>, minutes: u32) -> (String, String) {
        let last = Self::minute_of(at);
        let first = last
            .checked_sub_signed(Duration::minutes(i64::from(minutes.max(1)) - 1))
            .unwrap_or(last);
        let after = last.checked_add_signed(Duration::minutes(1)).unwrap_or(last);
        (Self::minute_key(first), Self::minute_key(after))
    }
}

/// The partition the counts of `resource` live in, apart from its claim and history so the
/// ledger view stays one small read.
pub fn tally_partition(resource: &ResourceRef) -> String {
    format!("calls#{}", resource.key())
}

/// One throttle event seen on one dimension of a resource, counted in the `SUSTAIN_SECONDS`
/// bucket that holds its time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    /// e.g. `w`, or `by-customer/r`: what throttled (see `Target::dimension`).
    pub dimension: String,
    pub event_id: String,
    /// The bucket's start.
    pub bucket: DateTime<Utc>,
    /// When the record may go (TTL): a day after the bucket.
    pub expires: DateTime<Utc>,
}

impl Sighting {
    pub fn new(dimension: String, event_id: &str, at: DateTime<Utc>, window: Duration) -> Self {
        let seconds = window.num_seconds().max(1);
        let start = at.timestamp().div_euclid(seconds) * seconds;
        let bucket = DateTime::from_timestamp(start, 0).unwrap_or(at);
        Self {
            dimension,
            event_id: event_id.to_owned(),
            bucket,
            expires: bucket + window + rolling_day(),
        }
    }

    /// The record's sort key: one per dimension and bucket.
    pub fn key(&self) -> String {
        format!("sustain#{}#{}", self.dimension, self.bucket.timestamp())
    }
}
