//! unthrottle's core: everything the Lambda functions share.
//!
//! The shape follows a ports-and-adapters split:
//! - [`event`] turns an EventBridge event into a service-neutral [`event::Incident`];
//!   each service module says which resources it names and how hard they were throttled.
//! - each service's planner (for example [`dynamodb::planner`]) is a pure function from
//!   plain data to a [`plan::Decision`];
//! - [`ledger`], [`snapshot`], [`metrics`] and each service's catalogue are ports: small
//!   traits that speak our domain types, with one AWS SDK adapter each;
//! - [`pipeline`] runs trigger, plan, claim, snapshot, change, record and report, generic
//!   over those ports, so it is tested with in-memory fakes and run with the SDK.

pub mod aws;
pub mod config;
pub mod domain;
pub mod dynamodb;
pub mod event;
pub mod kinesis;
pub mod lambda;
pub mod ledger;
pub mod metrics;
pub mod pipeline;
pub mod plan;
pub mod report;
pub mod snapshot;
pub mod telemetry;

#[cfg(any(test, feature = "testing"))]
pub mod testing;
