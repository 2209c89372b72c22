//! What unthrottle knows about a table and the changes it can make, in our own types.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::core::domain::Status;

/// Read and write capacity units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Capacity {
    pub read: u64,
    pub write: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum BillingMode {
    Provisioned,
    OnDemand,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexState {
    pub name: String,
    pub status: Status,
    pub capacity: Capacity,
}

/// The parts of DescribeTable the planner reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableState {
    pub name: String,
    pub status: Status,
    pub billing: BillingMode,
    pub capacity: Capacity,
    pub indexes: Vec<IndexState>,
    /// `BillingModeSummary.LastUpdateToPayPerRequestDateTime`; absent if never switched.
    pub last_switch_to_on_demand: Option<DateTime<Utc>>,
}

/// What an UpdateTable call changes: only what differs from now is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum TableChange {
    Scale {
        #[serde(skip_serializing_if = "Option::is_none")]
        table: Option<Capacity>,
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        indexes: BTreeMap<String, Capacity>,
    },
    SwitchToOnDemand,
}
