//! Vocabulary shared by every service: which resource, what was done to it, and when.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An AWS service unthrottle can heal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    DynamoDb,
    Kinesis,
}

impl Service {
    /// The value of the `Service` metric dimension.
    pub fn metric_name(self) -> &'static str {
        match self {
            Service::DynamoDb => "DynamoDB",
            Service::Kinesis => "Kinesis",
        }
    }

    /// The lower-case key used in results, S3 keys and ledger keys.
    pub fn key(self) -> &'static str {
        match self {
            Service::DynamoDb => "dynamodb",
            Service::Kinesis => "kinesis",
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// One resource in one account and region: the unit of claims, history and snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ResourceRef {
    pub service: Service,
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

/// A change unthrottle makes. Its name is the `Action` metric dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    /// Raise provisioned read/write capacity of a table and/or its GSIs.
    ScaleCapacity,
    /// Switch a table or stream to on-demand capacity.
    SwitchToOnDemand,
    /// Change a Kinesis stream's shard count.
    UpdateShardCount,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::ScaleCapacity => "ScaleCapacity",
            Action::SwitchToOnDemand => "SwitchToOnDemand",
            Action::UpdateShardCount => "UpdateShardCount",
        }
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
