//! Kinesis Data Streams' own limits that the planner and settings respect, with their
//! sources (Kinesis API reference, UpdateShardCount and UpdateStreamMode).

use crate::core::plan::Quota;

/// UpdateShardCount calls AWS allows per stream per rolling 24 h.
pub const SHARD_UPDATES_PER_DAY: u32 = 10;
/// UpdateStreamMode calls AWS allows per stream per rolling 24 h, either way and by anyone.
pub const MODE_SWITCHES_PER_DAY: u32 = 2;
/// Switches to on-demand unthrottle may make per stream per rolling 24 h: a second one would
/// need a switch back in between, the third mode change, which AWS refuses. (Switches made
/// entirely by hand are not reported by DescribeStreamSummary, so the guard cannot see them;
/// AWS's refusal then backs the stream off.)
pub const SWITCHES_TO_ON_DEMAND_PER_DAY: u32 = MODE_SWITCHES_PER_DAY / 2;
/// Shards one stream may have.
pub const SHARDS_PER_STREAM: u32 = 10_000;
/// UpdateShardCount may at most double the open shards in one call.
pub const GROWTH_PER_CALL: u32 = 2;

/// What one shard takes in: 1 MiB and 1,000 records per second, and serves out: 2 MiB per
/// second to polling consumers, shared by all of them, in at most 5 GetRecords calls per
/// second. Kinesis Data Streams developer guide, "Quotas and limits".
pub const SHARD_WRITE_BYTES_PER_SECOND: f64 = 1_048_576.0;
pub const SHARD_WRITE_RECORDS_PER_SECOND: f64 = 1_000.0;
pub const SHARD_READ_BYTES_PER_SECOND: f64 = 2_097_152.0;

/// The account's shards in one region (Service Quotas, service `kinesis`; DescribeLimits
/// reports it as `ShardLimit`). Kinesis developer guide, "Quotas and limits".
pub const SHARD_QUOTA: Quota = Quota {
    service_code: "kinesis",
    quota_code: "L-0918CF54",
    quota_name: "Shards per Region",
};
