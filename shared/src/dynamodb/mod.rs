//! DynamoDB: which tables and GSIs an event names ([`trigger`]), the pure capacity planner
//! ([`planner`]), AWS's limits ([`limits`]), the function's settings ([`settings`]), the
//! SDK adapter ([`aws`]) and the CloudWatch diagnosis of why a table throttled ([`metrics`]).

pub mod aws;
pub mod limits;
pub mod metrics;
pub mod model;
pub mod planner;
pub mod settings;
pub mod trigger;

pub use aws::SdkTables;
pub use model::{
    BillingMode, Capacity, Cause, Decreases, ENABLE_CONTRIBUTOR_INSIGHTS, INSIGHTS_TAG, IndexState,
    InsightsState, OnDemandMax, PartMetrics, RAISE_ON_DEMAND_MAX, SCALE_CAPACITY, Side, SideMetrics,
    TableChange, TableMetrics, TableState, TableTarget,
};
pub use planner::TablePolicy;
pub use settings::DynamoDb;
