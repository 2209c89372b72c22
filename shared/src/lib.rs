//! unthrottle's core crate: everything the Lambda functions share.
//!
//! Dependencies point one way (see docs/architecture.md):
//! `functions/* -> run -> adapters, services -> core`.
//! - [`core`]: service-neutral domain, ports (one trait per concern), guards and the
//!   pipeline, generic over the ports and tested with the fakes in `testing`;
//! - [`adapters`]: the AWS SDK behind the shared ports (ledger, snapshots, metrics), client
//!   construction and error classification;
//! - one folder per service ([`dynamodb`], [`kinesis`], [`api`]): its trigger, pure planner, limits,
//!   settings and SDK adapter;
//! - [`restore`]: the scheduled function that steps raised capacity back down;
//! - [`run`]: the wiring a function's `main` calls, and [`logging`], its log subscriber;
//! - `cli` (feature `cli`): the `unthrottle` command, on the same pipeline and adapters.

pub mod adapters;
pub mod api;
#[cfg(feature = "cli")]
pub mod cli;
pub mod core;
pub mod dynamodb;
pub mod kinesis;
pub mod logging;
pub mod restore;
pub mod run;

pub use run::run;

#[cfg(any(test, feature = "testing"))]
pub mod testing;
