//! What unthrottle knows about a table and the changes it can make, in our own types.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::core::domain::{Action, Pressure, Status};
use crate::core::envelope::Scope;
use crate::core::trigger::Target;

/// Read and write capacity units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Capacity {
    pub read: u64,
    pub write: u64,
}

/// A table's capacity mode, serialised as DynamoDB names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum BillingMode {
    #[serde(rename = "PROVISIONED")]
    Provisioned,
    #[serde(rename = "PAY_PER_REQUEST")]
    OnDemand,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexState {
    pub name: String,
    pub status: Status,
    pub capacity: Capacity,
    /// The GSI's last capacity increase or decrease, as DynamoDB reports it.
    pub last_change: Option<DateTime<Utc>>,
}

/// The parts of DescribeTable the planner reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableState {
    pub name: String,
    pub status: Status,
    pub billing: BillingMode,
    pub capacity: Capacity,
    /// The table's last capacity increase or decrease, as DynamoDB reports it.
    pub last_change: Option<DateTime<Utc>>,
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

/// Raise provisioned read/write capacity of a table and/or its GSIs.
pub const SCALE_CAPACITY: Action = Action::named("ScaleCapacity");

/// One throttled table: the pressure on the table itself and on each named GSI.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TableTarget {
    pub table: String,
    pub on_table: Pressure,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub on_indexes: BTreeMap<String, Pressure>,
    /// The table's account and region when the event names it by ARN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
}

impl TableTarget {
    pub fn new(table: &str, index: Option<&str>, pressure: Pressure) -> Self {
        let mut target = TableTarget {
            table: table.to_owned(),
            ..TableTarget::default()
        };
        match index {
            Some(index) => {
                target.on_indexes.insert(index.to_owned(), pressure);
            }
            None => target.on_table = pressure,
        }
        target
    }
}

impl Target for TableTarget {
    fn resource(&self) -> &str {
        &self.table
    }

    fn scope(&self) -> Option<&Scope> {
        self.scope.as_ref()
    }

    fn absorb(&mut self, other: Self) {
        self.on_table.merge(other.on_table);
        for (index, pressure) in other.on_indexes {
            self.on_indexes.entry(index).or_default().merge(pressure);
        }
    }
}
