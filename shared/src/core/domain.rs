//! Vocabulary shared by every service: which resource, what was done to it, and when.
//! Nothing here names an AWS service: each service brings its own id and actions.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use strum::{Display, EnumString, IntoStaticStr};

/// A service unthrottle heals, as results, keys and metrics name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServiceId {
    /// Lower case: results, S3 keys and ledger keys (`dynamodb`).
    pub key: &'static str,
    /// The `Service` metric dimension (`DynamoDB`).
    pub metric_name: &'static str,
}

impl Serialize for ServiceId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.key)
    }
}

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key)
    }
}

/// One resource in one account and region: the unit of claims, history and snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ResourceRef {
    pub service: ServiceId,
    pub account: String,
    pub region: String,
    pub name: String,
}

impl ResourceRef {
    /// A stable key, unique across services, accounts and regions.
    pub fn key(&self) -> String {
        format!("{}#{}#{}#{}", self.service, self.account, self.region, self.name)
    }
}

impl fmt::Display for ResourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} ({}/{})",
            self.service, self.name, self.account, self.region
        )
    }
}

/// A kind of change unthrottle makes, e.g. `ScaleCapacity`. Its name is the `Action` metric
/// dimension and what the ledger's history records; each service defines its own.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Action(Cow<'static, str>);

impl Action {
    /// Switch a resource to on-demand capacity: a change several services share, counted
    /// by the mode-switch guard.
    pub const SWITCH_TO_ON_DEMAND: Action = Action::named("SwitchToOnDemand");

    pub const fn named(name: &'static str) -> Self {
        Action(Cow::Borrowed(name))
    }

    /// An action read back from storage.
    pub fn from_stored(name: impl Into<String>) -> Self {
        Action(Cow::Owned(name.into()))
    }

    pub fn name(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A change unthrottle made earlier, as the ledger remembers it. Planners count these to
/// respect AWS's rolling-24-hour limits before AWS would refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub at: DateTime<Utc>,
    pub action: Action,
    pub event_id: String,
    /// The part of the resource changed, where the action names one (the shard a
    /// `SplitShard` split); `None` for the whole resource, or a record older than this field.
    pub subject: Option<String>,
}

impl HistoryEntry {
    /// What a change AWS reports, and the ledger did not hold, is recorded under.
    pub const REPORTED_BY_AWS: &'static str = "reported by AWS";

    /// A change AWS reports on the resource (made by hand, or by another tool).
    pub fn reported(at: DateTime<Utc>, action: Action) -> Self {
        Self {
            at,
            action,
            event_id: Self::REPORTED_BY_AWS.to_owned(),
            subject: None,
        }
    }

    /// Whether unthrottle made it (for an event), rather than AWS reporting it.
    pub fn is_ours(&self) -> bool {
        self.event_id != Self::REPORTED_BY_AWS
    }

    /// The id `unthrottle rollback` records its changes under: `rollback:{snapshot key}`.
    pub fn rollback_id(snapshot_key: &str) -> String {
        format!("{}{snapshot_key}", Self::ROLLBACK_PREFIX)
    }

    const ROLLBACK_PREFIX: &'static str = "rollback:";
    /// What the ids of `restore`'s steps start with (`restore::step_id`).
    pub const RESTORE_PREFIX: &'static str = "restore:";

    /// An operator's rollback or a restore step, not a fix: a throttle after it does not
    /// mean a fix failed.
    pub fn is_undo(&self) -> bool {
        self.event_id.starts_with(Self::ROLLBACK_PREFIX) || self.event_id.starts_with(Self::RESTORE_PREFIX)
    }
}

/// Which side of capacity throttled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Pressure {
    pub read: bool,
    pub write: bool,
}

impl Pressure {
    pub const READ: Pressure = Pressure {
        read: true,
        write: false,
    };
    pub const WRITE: Pressure = Pressure {
        read: false,
        write: true,
    };
    pub const BOTH: Pressure = Pressure {
        read: true,
        write: true,
    };

    pub fn any(self) -> bool {
        self.read || self.write
    }

    pub fn merge(&mut self, other: Pressure) {
        self.read |= other.read;
        self.write |= other.write;
    }

    /// `r`, `w` or `rw`, for a key.
    pub fn short(self) -> &'static str {
        match (self.read, self.write) {
            (true, true) => "rw",
            (true, false) => "r",
            _ => "w",
        }
    }

    /// "reads", "writes" or "reads and writes", for a human.
    pub fn sides(self) -> &'static str {
        match (self.read, self.write) {
            (true, true) => "reads and writes",
            (true, false) => "reads",
            _ => "writes",
        }
    }
}

/// Whether a resource can take an update now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Active,
    /// Anything else (UPDATING, CREATING, DELETING, ...).
    Busy(String),
}

impl Status {
    pub fn from_aws(status: &str) -> Self {
        if status == "ACTIVE" {
            Status::Active
        } else {
            Status::Busy(status.to_owned())
        }
    }
}

/// Whether a resource may be switched to on-demand capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, EnumString, IntoStaticStr, Display)]
#[strum(serialize_all = "lowercase", ascii_case_insensitive)]
pub enum OnDemandPolicy {
    /// Only ever scale provisioned capacity, up to the cap.
    #[default]
    Never,
    /// Switch when provisioned capacity is at the cap.
    Allow,
    /// Switch on the first throttle.
    Prefer,
}
