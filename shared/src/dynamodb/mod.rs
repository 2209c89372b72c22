//! DynamoDB: which tables an event names, the pure capacity planner, the table port and
//! its SDK adapter, and the glue that plugs them into the shared pipeline.

pub mod catalog;
pub mod planner;
pub mod remediator;
pub mod sdk;
pub mod trigger;

pub use crate::domain::Pressure;
pub use catalog::{BillingMode, Capacity, IndexState, TableCatalog, TableChange, TableState};
pub use planner::{plan, TablePolicy};
pub use remediator::{function, DynamoDb, DynamoDbFunction};
pub use trigger::{triage, TableTarget};
