//! What unthrottle knows about a table and the changes it can make, in our own types.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use strum::{EnumIter, IntoEnumIterator, IntoStaticStr};

use crate::core::diagnosis::Sums;
use crate::core::domain::{Action, Pressure, Status};
use crate::core::envelope::Scope;
use crate::core::trigger::Target;

/// Read and write capacity units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Capacity {
    pub read: u64,
    pub write: u64,
}

impl Capacity {
    pub fn side(self, side: Side) -> u64 {
        match side {
            Side::Read => self.read,
            Side::Write => self.write,
        }
    }

    pub fn set(&mut self, side: Side, units: u64) {
        match side {
            Side::Read => self.read = units,
            Side::Write => self.write = units,
        }
    }
}

/// A table's capacity mode, serialised as DynamoDB names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum BillingMode {
    #[serde(rename = "PROVISIONED")]
    Provisioned,
    #[serde(rename = "PAY_PER_REQUEST")]
    OnDemand,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexState {
    pub name: String,
    pub status: Status,
    pub capacity: Capacity,
    /// The GSI's last capacity increase or decrease, as DynamoDB reports it.
    pub last_change: Option<DateTime<Utc>>,
    pub decreases: Decreases,
}

/// A table's or GSI's capacity decreases, as DynamoDB counts them against its daily limit
/// (`NumberOfDecreasesToday`, `LastDecreaseDateTime`), and its last increase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decreases {
    pub today: u32,
    pub last: Option<DateTime<Utc>>,
    pub last_increase: Option<DateTime<Utc>>,
}

/// The parts of DescribeTable the planner reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableState {
    pub name: String,
    pub status: Status,
    pub billing: BillingMode,
    pub capacity: Capacity,
    /// The table's last capacity increase or decrease, as DynamoDB reports it.
    pub last_change: Option<DateTime<Utc>>,
    pub decreases: Decreases,
    pub indexes: Vec<IndexState>,
    /// `BillingModeSummary.LastUpdateToPayPerRequestDateTime`; absent if never switched.
    pub last_switch_to_on_demand: Option<DateTime<Utc>>,
    /// The sides Application Auto Scaling manages (provisioned tables only). UpdateTable on
    /// one of them is undone by auto scaling: its floor is raised instead.
    pub auto_scaling: Vec<ScalableTarget>,
    /// An on-demand table's configured maximum request units (`OnDemandThroughput`); `None`
    /// on a side without one.
    pub on_demand_max: OnDemandMax,
    /// The table is tagged `unthrottle:contributor-insights=true`: a hot key on it or its
    /// GSIs may turn CloudWatch Contributor Insights on (it shows key values in plain text
    /// and is billed, so it is off unless asked for).
    pub insights_opt_in: bool,
    /// Contributor Insights as DescribeContributorInsights reports it for the table
    /// (`index: None`) and each GSI; read only for a table that opted in.
    pub insights: Vec<InsightsState>,
}

/// Contributor Insights on the table or one GSI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InsightsState {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    /// `ENABLED`, `ENABLING`, `DISABLED`, ...
    pub status: String,
    /// `THROTTLED_KEYS` or `ACCESSED_AND_THROTTLED_KEYS`, when reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

impl InsightsState {
    /// On, or turning on, in whatever mode: never touched again.
    pub fn on(&self) -> bool {
        matches!(self.status.as_str(), "ENABLED" | "ENABLING")
    }
}

/// The tag that lets unthrottle turn Contributor Insights on for a hot key.
pub const INSIGHTS_TAG: (&str, &str) = ("unthrottle:contributor-insights", "true");

/// Maximum read and write request units of an on-demand table; `None`: no maximum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OnDemandMax {
    pub read: Option<u64>,
    pub write: Option<u64>,
}

impl OnDemandMax {
    pub fn side(self, side: Side) -> Option<u64> {
        match side {
            Side::Read => self.read,
            Side::Write => self.write,
        }
    }

    pub fn set(&mut self, side: Side, units: Option<u64>) {
        match side {
            Side::Read => self.read = units,
            Side::Write => self.write = units,
        }
    }
}

/// One Application Auto Scaling target of the table or a GSI: a side whose capacity auto
/// scaling keeps between `min` and `max`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScalableTarget {
    /// `None` for the table itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    pub side: Side,
    pub min: u64,
    pub max: u64,
}

impl ScalableTarget {
    /// Application Auto Scaling's resource id: `table/NAME` or `table/NAME/index/INDEX`.
    pub fn resource_id(table: &str, index: Option<&str>) -> String {
        match index {
            Some(index) => format!("table/{table}/index/{index}"),
            None => format!("table/{table}"),
        }
    }

    /// Its scalable dimension, e.g. `dynamodb:index:WriteCapacityUnits`.
    pub fn dimension(index: Option<&str>, side: Side) -> String {
        let kind = if index.is_some() { "index" } else { "table" };
        format!("dynamodb:{kind}:{}CapacityUnits", side.prefix())
    }
}

/// Raise an auto-scaled side's floor (and its ceiling if below): auto scaling then moves
/// the capacity itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FloorChange {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    pub side: Side,
    pub min: u64,
    pub max: u64,
}

/// What an UpdateTable call changes: only what differs from now is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum TableChange {
    Scale {
        #[serde(skip_serializing_if = "Option::is_none")]
        table: Option<Capacity>,
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        indexes: BTreeMap<String, Capacity>,
        /// Sides managed by Application Auto Scaling: RegisterScalableTarget, no UpdateTable.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        floors: Vec<FloorChange>,
    },
    SwitchToOnDemand,
    /// Back to provisioned capacity (restore, `RESTORE_BILLING_MODE=provisioned`): the
    /// table's and every GSI's, which UpdateTable needs together.
    SwitchToProvisioned {
        table: Capacity,
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        indexes: BTreeMap<String, Capacity>,
    },
    /// `OnDemandThroughput` as it will be (both sides: UpdateTable takes them together).
    RaiseOnDemandMax(OnDemandMax),
    /// UpdateContributorInsights ENABLE, mode THROTTLED_KEYS, for the table or one GSI.
    EnableContributorInsights {
        index: Option<String>,
    },
}

/// Raise provisioned read/write capacity of a table and/or its GSIs.
pub const SCALE_CAPACITY: Action = Action::named("ScaleCapacity");
/// Raise an on-demand table's configured maximum throughput (`RAISE_ON_DEMAND_MAX=on`).
pub const RAISE_ON_DEMAND_MAX: Action = Action::named("RaiseOnDemandMaximum");
/// Turn Contributor Insights on for a hot key (tag opt-in).
pub const ENABLE_CONTRIBUTOR_INSIGHTS: Action = Action::named("EnableContributorInsights");

/// One throttled table: the pressure on the table itself and on each named GSI.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TableTarget {
    pub table: String,
    pub on_table: Pressure,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub on_indexes: BTreeMap<String, Pressure>,
    /// The table's account and region when the event names it by ARN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    /// The cause the trigger names: an alarm on a cause metric such as
    /// `WriteKeyRangeThroughputThrottleEvents`. Then no metrics are read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
}

/// Why DynamoDB throttled a table or GSI: the four `ThrottlingReasons` families, each with
/// its CloudWatch metric per side (`{Read,Write}<family>ThrottleEvents`). Its code is the
/// one vocabulary of results, reasons and the `FixIneffective` `Cause` dimension: a cause no
/// change fixes has its finding's code (`hot-partition`, `account-quota`, `on-demand-max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, EnumIter, IntoStaticStr)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Cause {
    /// Demand above the provisioned capacity: more capacity fixes it.
    ProvisionedThroughput,
    /// One partition's ceiling (3,000 RCU / 1,000 WCU): a hot key, which capacity cannot fix.
    #[serde(rename = "hot-partition")]
    #[strum(serialize = "hot-partition")]
    KeyRangeThroughput,
    /// The per-table account quota: only a quota increase fixes it.
    #[serde(rename = "account-quota")]
    #[strum(serialize = "account-quota")]
    AccountLimit,
    /// An on-demand table's configured maximum throughput.
    #[serde(rename = "on-demand-max")]
    #[strum(serialize = "on-demand-max")]
    MaxOnDemandThroughput,
}

impl Cause {
    pub fn code(self) -> &'static str {
        self.into()
    }

    /// The family in the metric and reason names, e.g. `KeyRangeThroughput`.
    pub fn family(self) -> &'static str {
        match self {
            Cause::ProvisionedThroughput => "ProvisionedThroughput",
            Cause::KeyRangeThroughput => "KeyRangeThroughput",
            Cause::AccountLimit => "AccountLimit",
            Cause::MaxOnDemandThroughput => "MaxOnDemandThroughput",
        }
    }

    /// Its CloudWatch metric for one side, e.g. `WriteKeyRangeThroughputThrottleEvents`.
    pub fn metric(self, side: Side) -> String {
        format!("{}{}ThrottleEvents", side.prefix(), self.family())
    }

    /// The side and cause a cause metric names; `None` for any other metric.
    pub fn of_metric(name: &str) -> Option<(Side, Cause)> {
        Side::iter().find_map(|side| {
            let family = name.strip_prefix(side.prefix())?.strip_suffix("ThrottleEvents")?;
            Cause::iter()
                .find(|cause| cause.family() == family)
                .map(|cause| (side, cause))
        })
    }
}

/// Reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, EnumIter)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Read,
    Write,
}

impl Side {
    pub fn prefix(self) -> &'static str {
        match self {
            Side::Read => "Read",
            Side::Write => "Write",
        }
    }

    pub fn pressed(self, pressure: Pressure) -> bool {
        match self {
            Side::Read => pressure.read,
            Side::Write => pressure.write,
        }
    }

    /// Pressure on this side only.
    pub fn pressure(self) -> Pressure {
        match self {
            Side::Read => Pressure::READ,
            Side::Write => Pressure::WRITE,
        }
    }

    /// "RCU" or "WCU".
    pub fn units(self) -> &'static str {
        match self {
            Side::Read => "RCU",
            Side::Write => "WCU",
        }
    }
}

/// What CloudWatch says about one side of a table or GSI over the last minutes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SideMetrics {
    /// `Consumed{Read,Write}CapacityUnits`: one-minute Sums of units.
    pub consumed: Sums,
    /// `{Read,Write}ThrottleEvents`: throttled requests (not units).
    pub throttle_events: Sums,
    /// Throttled requests per cause.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub by_cause: BTreeMap<Cause, Sums>,
}

impl SideMetrics {
    /// The cause with the most throttle events; `None` without any, or on a tie.
    pub fn dominant_cause(&self) -> Option<Cause> {
        let mut counts: Vec<(Cause, f64)> = self
            .by_cause
            .iter()
            .map(|(cause, sums)| (*cause, sums.total()))
            .filter(|(_, count)| *count > 0.0)
            .collect();
        counts.sort_by(|a, b| b.1.total_cmp(&a.1));
        match counts.as_slice() {
            [(cause, _)] => Some(*cause),
            [(cause, first), (_, second), ..] if first > second => Some(*cause),
            _ => None,
        }
    }
}

/// Both sides of a table or GSI.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PartMetrics {
    pub read: SideMetrics,
    pub write: SideMetrics,
}

impl PartMetrics {
    pub fn side(&self, side: Side) -> &SideMetrics {
        match side {
            Side::Read => &self.read,
            Side::Write => &self.write,
        }
    }

    pub fn side_mut(&mut self, side: Side) -> &mut SideMetrics {
        match side {
            Side::Read => &mut self.read,
            Side::Write => &mut self.write,
        }
    }
}

/// The metrics of a table and each of its GSIs over the last minutes (`Service::Evidence`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TableMetrics {
    pub table: PartMetrics,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub indexes: BTreeMap<String, PartMetrics>,
}

impl TableState {
    /// The auto scaling target of one side of the table (`index: None`) or a GSI, if any.
    pub fn scalable(&self, index: Option<&str>, side: Side) -> Option<&ScalableTarget> {
        self.auto_scaling
            .iter()
            .find(|target| target.index.as_deref() == index && target.side == side)
    }
}

impl TableTarget {
    pub fn new(table: &str, index: Option<&str>, pressure: Pressure) -> Self {
        let mut target = TableTarget {
            table: table.to_owned(),
            ..TableTarget::default()
        };
        match index {
            Some(index) => {
                target.on_indexes.insert(index.to_owned(), pressure);
            }
            None => target.on_table = pressure,
        }
        target
    }
}

impl Target for TableTarget {
    fn resource(&self) -> &str {
        &self.table
    }

    fn scope(&self) -> Option<&Scope> {
        self.scope.as_ref()
    }

    fn dimension(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if self.on_table.any() {
            parts.push(self.on_table.short().to_owned());
        }
        parts.extend(
            self.on_indexes
                .iter()
                .map(|(index, pressure)| format!("{index}/{}", pressure.short())),
        );
        parts.join(",")
    }

    fn absorb(&mut self, other: Self) {
        self.on_table.merge(other.on_table);
        // Two readings that do not name the same cause leave it to the metrics.
        if self.cause != other.cause {
            self.cause = None;
        }
        for (index, pressure) in other.on_indexes {
            self.on_indexes.entry(index).or_default().merge(pressure);
        }
    }
}
