//! Kinesis Data Streams: which stream an event names, the pure shard planner, the stream
//! port and its SDK adapter, and the glue that plugs them into the shared pipeline.

pub mod catalog;
pub mod planner;
pub mod remediator;
pub mod sdk;
pub mod trigger;

pub use catalog::{StreamCatalog, StreamChange, StreamMode, StreamState};
pub use planner::{plan, StreamPolicy};
pub use remediator::{function, Kinesis, KinesisFunction};
pub use trigger::{triage, StreamTarget};
