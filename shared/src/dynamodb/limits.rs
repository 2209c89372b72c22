//! DynamoDB's own limits that the planner and settings respect, with their sources.

use chrono::{DateTime, Duration, Utc};

use crate::core::plan::Quota;

/// Capacity decreases DynamoDB allows a table (and each GSI, counted apart) at any time of a
/// UTC day; after them, one more per hour without a decrease, up to [`DECREASES_PER_DAY`].
/// DynamoDB Service Quotas page (../shared/aws-facts.md).
pub const DECREASES_ANY_TIME: u32 = 4;
pub const DECREASES_PER_DAY: u32 = 27;

/// Whether DynamoDB takes one more decrease at `now` of a part that reports `today`
/// decreases (`NumberOfDecreasesToday`), the last at `last`; or why not, and when it will.
pub fn next_decrease(today: u32, last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Result<(), String> {
    // The count is of the UTC day of the last decrease: a new day starts from none.
    let used = match last {
        Some(last) if last.date_naive() == now.date_naive() => today,
        _ => 0,
    };
    if used >= DECREASES_PER_DAY {
        return Err(format!(
            "{used} decreases today, DynamoDB's most per UTC day: the next after midnight UTC"
        ));
    }
    if used >= DECREASES_ANY_TIME
        && let Some(last) = last
        && now - last < Duration::hours(1)
    {
        return Err(format!(
            "{used} decreases today and one at {}: DynamoDB allows the next at {}",
            last.to_rfc3339(),
            (last + Duration::hours(1)).to_rfc3339()
        ));
    }
    Ok(())
}

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
