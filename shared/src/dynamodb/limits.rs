//! DynamoDB's own limits that the planner and settings respect, with their sources.

use crate::core::plan::Quota;

/// Switches from provisioned to on-demand allowed per table per rolling 24 h.
/// Developer Guide, "Considerations when switching capacity modes" (up to 4 per 24 h).
pub const SWITCHES_TO_ON_DEMAND_PER_DAY: u32 = 4;

/// The per-table account quotas on on-demand throughput (Service Quotas, service
/// `dynamodb`; 40,000 units by default). DynamoDB Developer Guide, "Service, account, and
/// table quotas"; codes from Service Quotas' own listing.
pub const TABLE_READ_QUOTA: Quota = Quota {
    service_code: "dynamodb",
    quota_code: "L-CF0CBE56",
    quota_name: "Table-level read throughput limit",
};
pub const TABLE_WRITE_QUOTA: Quota = Quota {
    service_code: "dynamodb",
    quota_code: "L-AB614373",
    quota_name: "Table-level write throughput limit",
};
