//! DynamoDB's own limits that the planner and settings respect, with their sources.

/// Switches from provisioned to on-demand allowed per table per rolling 24 h.
/// Developer Guide, "Considerations when switching capacity modes" (up to 4 per 24 h).
pub const SWITCHES_TO_ON_DEMAND_PER_DAY: u32 = 4;
