//! The Kinesis port: what unthrottle needs to know about a stream and the changes it can
//! make, in our own types. `sdk.rs` adapts it to aws-sdk-kinesis.

use std::future::Future;

use serde::Serialize;

use crate::domain::Status;
use crate::pipeline::{Described, PortError};

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

/// Kinesis Data Streams as unthrottle sees it.
pub trait StreamCatalog: Send + Sync {
    /// Describes a stream (summary, open shards, tags). `PortError::NotFound` if absent.
    fn describe(
        &self,
        stream: &str,
    ) -> impl Future<Output = Result<Described<StreamState>, PortError>> + Send;
    fn update(
        &self,
        stream: &StreamState,
        change: StreamChange,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}
