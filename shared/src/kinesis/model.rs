//! What unthrottle knows about a stream and the changes it can make, in our own types.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::core::diagnosis::Sums;
use crate::core::domain::{Action, Pressure, Status};
use crate::core::envelope::Scope;
use crate::core::trigger::Target;

/// A stream's capacity mode, serialised as Kinesis names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
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
    /// The open shards as ListShards lists them (empty where not read).
    pub shards: Vec<Shard>,
    /// The account's shard quota in this region and its open shards, when DescribeLimits
    /// answered (`None`: plan without it; AWS refuses a reshard past the quota).
    pub account: Option<AccountShards>,
}

/// Shards per Region (`L-0918CF54`) and how many of them are open, per DescribeLimits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountShards {
    pub quota: u32,
    pub open: u32,
}

impl AccountShards {
    /// Shards the account may still open.
    pub fn room(self) -> u32 {
        self.quota.saturating_sub(self.open)
    }
}

/// One open shard: its id, the shard it was split or merged from, its hash-key range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Shard {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Hash keys are 128-bit: kept as numbers, written as AWS writes them (decimal).
    #[serde(serialize_with = "decimal")]
    pub start: u128,
    #[serde(serialize_with = "decimal")]
    pub end: u128,
}

fn decimal<S: serde::Serializer>(value: &u128, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&value.to_string())
}

impl Shard {
    /// The hash key that splits it in two halves, or `None` for a shard of one key.
    pub fn midpoint(&self) -> Option<u128> {
        (self.end > self.start).then(|| self.start + (self.end - self.start) / 2 + 1)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum StreamChange {
    /// UpdateShardCount with UNIFORM_SCALING to this many open shards.
    UpdateShardCount { target: u32 },
    /// UpdateStreamMode to ON_DEMAND.
    SwitchToOnDemand,
    /// SplitShard of one hot shard at this hash key (decimal).
    SplitShard { shard: String, at: String },
}

/// What CloudWatch says about a stream over the last minutes (`Service::Evidence`): one-minute
/// Sums of the stream-level metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamMetrics {
    /// `IncomingBytes`: bytes written.
    pub incoming_bytes: Sums,
    /// `IncomingRecords`: records written.
    pub incoming_records: Sums,
    /// `GetRecords.Bytes`: bytes read by polling consumers (enhanced fan-out not included).
    pub read_bytes: Sums,
    /// `WriteProvisionedThroughputExceeded` per shard (shard-level metrics; empty when the
    /// stream does not publish them).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub throttled_by_shard: BTreeMap<String, Sums>,
    /// The stream-level `WriteProvisionedThroughputExceeded` and
    /// `ReadProvisionedThroughputExceeded` (basic monitoring, always published): read by
    /// restore's quiet window only.
    #[serde(skip_serializing_if = "Sums::is_empty")]
    pub throttled_writes: Sums,
    #[serde(skip_serializing_if = "Sums::is_empty")]
    pub throttled_reads: Sums,
}

/// Split the one shard that carries most of the throttled traffic (SplitShard).
pub const SPLIT_SHARD: Action = Action::named("SplitShard");

/// Change a stream's open shard count (UpdateShardCount).
pub const UPDATE_SHARD_COUNT: Action = Action::named("UpdateShardCount");

/// One throttled stream and the side that throttled (shards serve both sides, so the side
/// only explains the change).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamTarget {
    pub stream: String,
    pub pressure: Pressure,
    /// The stream's account and region when the event names it by ARN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
}

impl Target for StreamTarget {
    fn resource(&self) -> &str {
        &self.stream
    }

    fn scope(&self) -> Option<&Scope> {
        self.scope.as_ref()
    }

    fn absorb(&mut self, other: Self) {
        self.pressure.merge(other.pressure);
    }

    fn dimension(&self) -> String {
        self.pressure.short().to_owned()
    }
}
