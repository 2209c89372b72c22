//! DynamoDB: which tables and GSIs an event names ([`trigger`]), the pure capacity planner
//! ([`planner`]), AWS's limits ([`limits`]), the function's settings ([`settings`]) and the
//! SDK adapter ([`aws`]).

pub mod aws;
pub mod limits;
pub mod model;
pub mod planner;
pub mod settings;
pub mod trigger;

pub use aws::SdkTables;
pub use model::{BillingMode, Capacity, IndexState, SCALE_CAPACITY, TableChange, TableState, TableTarget};
pub use planner::TablePolicy;
pub use settings::DynamoDb;
