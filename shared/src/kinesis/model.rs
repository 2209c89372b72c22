//! What unthrottle knows about a stream and the changes it can make, in our own types.

use serde::Serialize;

use crate::core::domain::Status;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum StreamMode {
    Provisioned,
    OnDemand,
}

/// The parts of DescribeStreamSummary the planner reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamState {
    pub name: String,
    pub arn: String,
    pub status: Status,
    pub mode: StreamMode,
    pub open_shards: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum StreamChange {
    /// UpdateShardCount with UNIFORM_SCALING to this many open shards.
    UpdateShardCount { target: u32 },
    /// UpdateStreamMode to ON_DEMAND.
    SwitchToOnDemand,
}
