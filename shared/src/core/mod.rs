//! Service-neutral: the domain, the ports, the guards, the pipeline. Nothing here names an
//! AWS service or imports an SDK; services and adapters depend on this, never the reverse.

pub mod config;
pub mod diagnosis;
pub mod domain;
pub mod envelope;
pub mod error;
pub mod guards;
pub mod ledger;
pub mod metrics;
pub mod pipeline;
pub mod plan;
pub mod ports;
pub mod report;
pub mod service;
pub mod snapshot;
pub mod trigger;
