//! The snapshot document: the pre-change describe output, the
//! trigger and the plan, stored before any change so a human can see and undo it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::core::domain::{Action, ResourceRef};
use crate::core::envelope::Incident;
use crate::core::error::{Error, ErrorKind};
use crate::core::plan::Proposal;
use crate::core::ports::Described;

pub const SCHEMA: &str = "unthrottle.snapshot/v1";

/// The time in a snapshot's key: its text sorts as the time does.
pub const KEY_TIME: &str = "%Y%m%dT%H%M%S%.3fZ";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot<'a, T: Serialize, C: Serialize> {
    schema: &'static str,
    #[serde(flatten)]
    resource: &'a ResourceRef,
    taken_at: DateTime<Utc>,
    trigger: Trigger<'a, T>,
    plan: PlanRecord<'a, C>,
    tags: &'a HashMap<String, String>,
    /// The describe call's response exactly as AWS returned it.
    describe: &'a Value,
}

#[derive(Serialize)]
struct Trigger<'a, T> {
    incident: &'a Incident,
    target: &'a T,
}

#[derive(Serialize)]
struct PlanRecord<'a, C> {
    action: &'a Action,
    change: &'a C,
    before: &'a Value,
    after: &'a Value,
    why: &'a str,
}

impl<'a, T: Serialize, C: Serialize> Snapshot<'a, T, C> {
    pub fn new<S>(
        resource: &'a ResourceRef,
        incident: &'a Incident,
        target: &'a T,
        proposal: &'a Proposal<C>,
        described: &'a Described<S>,
        taken_at: DateTime<Utc>,
    ) -> Self {
        Self {
            schema: SCHEMA,
            resource,
            taken_at,
            trigger: Trigger { incident, target },
            plan: PlanRecord {
                action: &proposal.action,
                change: &proposal.change,
                before: &proposal.before,
                after: &proposal.after,
                why: &proposal.why,
            },
            tags: &described.tags,
            describe: &described.raw,
        }
    }

    /// `snapshots/{service}/{account}/{region}/{name}/{utc-timestamp}-{event-id}.json`:
    /// one folder per resource, sorted by time.
    pub fn key(&self) -> String {
        key(self.resource, self.taken_at, &self.trigger.incident.event_id)
    }
}

/// A snapshot document as stored: pretty JSON, so a person can read it in the console.
pub fn serialised(document: &impl Serialize, resource: &ResourceRef) -> Result<Vec<u8>, Error> {
    serde_json::to_vec_pretty(document).map_err(|e| {
        Error::new(
            ErrorKind::Invalid,
            "serialise snapshot",
            resource.to_string(),
            e.to_string(),
        )
    })
}

/// `snapshots/{service}/{account}/{region}/`: the snapshots of one service in one account
/// and region.
pub fn region_folder(service: &str, account: &str, region: &str) -> String {
    format!(
        "snapshots/{service}/{}/{}/",
        key_segment(account),
        key_segment(region)
    )
}

/// `snapshots/{service}/{account}/{region}/{name}/`: one folder per resource.
pub fn folder(resource: &ResourceRef) -> String {
    format!(
        "{}{}/",
        region_folder(resource.service.key, &resource.account, &resource.region),
        key_segment(&resource.name)
    )
}

/// The key of a snapshot of `resource` taken at `taken_at` for `id` (an event's, or what a
/// rollback names itself): its text sorts as the time does.
pub fn key(resource: &ResourceRef, taken_at: DateTime<Utc>, id: &str) -> String {
    format!(
        "{}{}-{}.json",
        folder(resource),
        taken_at.format(KEY_TIME),
        key_segment(id)
    )
}

/// Keeps a key segment to characters that need no escaping and cannot add a folder level.
/// An empty, `.` or `..` segment would drop or climb a folder level: it becomes `_`s.
/// `unthrottle history` finds a resource's folder by it.
pub fn key_segment(segment: &str) -> String {
    if matches!(segment, "" | "." | "..") {
        return "_".repeat(segment.len().max(1));
    }
    segment
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::key_segment;

    #[test]
    fn no_segment_can_drop_or_climb_a_folder_level() {
        for (segment, kept) in [
            ("orders", "orders"),
            ("", "_"),
            (".", "_"),
            ("..", "__"),
            ("a/../b", "a_.._b"),
        ] {
            assert_eq!(key_segment(segment), kept, "{segment:?}");
        }
    }
}
