//! Kinesis Data Streams: which stream an event names ([`trigger`]), the pure shard planner
//! ([`planner`]), AWS's limits ([`limits`]), the function's settings ([`settings`]) and the
//! SDK adapter ([`aws`]).

pub mod aws;
pub mod limits;
pub mod metrics;
pub mod model;
pub mod planner;
pub mod settings;
pub mod trigger;

pub use aws::SdkStreams;
pub use model::{
    SPLIT_SHARD, Shard, StreamChange, StreamMetrics, StreamMode, StreamState, StreamTarget,
    UPDATE_SHARD_COUNT,
};
pub use planner::StreamPolicy;
pub use settings::Kinesis;
