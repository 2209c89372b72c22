//! The DynamoDB planner: a pure function from what is known to what to do.
//!
//! Rules, in order (docs/remediations.md gives each its AWS source):
//! 1. Diagnose each throttled side of the table and of each GSI: the cause the trigger names
//!    (an alarm on a cause metric), else the cause with the most throttle events in the
//!    metrics; none, or a tie, is "unknown". A GSI whose own metrics show
//!    provisioned-throughput throttles is throttled too, whatever the event named.
//! 2. An on-demand table: its configured maximum, its account quota or a hot key is a
//!    finding (nothing changed); anything else is held (hot keys or per-partition limits).
//! 3. A table or GSI that is not ACTIVE cannot take an update.
//! 4. Only sides whose cause capacity can fix (provisioned throughput, or unknown) are
//!    raised. With none left, the finding is the answer: an account quota before an
//!    on-demand maximum before a hot key. Hot keys and quotas never switch to on-demand.
//! 5. With `ON_DEMAND=prefer`, switch at once if the on-demand guard allows.
//! 6. Raise each side to `ceil(peak demand per second x HEADROOM)`, at least current +
//!    `MIN_STEP`, at most the `SCALE_FACTOR` step ([`Growth::raise`]) and `MAX_*`; without
//!    consumption figures, the `SCALE_FACTOR` step. A GSI whose write capacity is below the
//!    table's while the table's writes throttle is raised to at least the table's new write
//!    capacity: a GSI that cannot keep up throttles writes to its base table.
//!    A side Application Auto Scaling manages is never set by UpdateTable (auto scaling would
//!    take it back): its floor (`MinCapacity`, and `MaxCapacity` if below) is raised to the
//!    new figure instead, and auto scaling moves the capacity.
//! 7. Nothing left to raise (at the cap): switch to on-demand if `ON_DEMAND` allows it and
//!    the guard agrees, else hold "at cap".
//!
//! The guard allows at most `max_switches_per_day` switches per rolling 24 h, counting our
//! own history and the last switch DynamoDB reports.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::limits::{TABLE_READ_QUOTA, TABLE_WRITE_QUOTA};
use super::model::{
    BillingMode, Capacity, Cause, ENABLE_CONTRIBUTOR_INSIGHTS, FloorChange, INSIGHTS_TAG, InsightsState,
    PartMetrics, RAISE_ON_DEMAND_MAX, SCALE_CAPACITY, ScalableTarget, Side, SideMetrics, TableChange,
    TableMetrics, TableState, TableTarget,
};
use crate::core::diagnosis::{Diagnosis, with_headroom};
use crate::core::domain::{Action, HistoryEntry, OnDemandPolicy, Pressure, Status};
use crate::core::guards::{Growth, ModeSwitchGuard, RollingWindow};
use crate::core::plan::{Decision, Finding, FindingCode, Proposal, SkipReason};

/// The team's limits for DynamoDB tables.
#[derive(Debug, Clone, PartialEq)]
pub struct TablePolicy {
    pub growth: Growth,
    /// Capacity to provision per unit of measured peak demand (`HEADROOM`).
    pub headroom: f64,
    pub max_read: u64,
    pub max_write: u64,
    pub on_demand: OnDemandPolicy,
    /// On-demand switches allowed per table per rolling 24 h (AWS allows at most 4).
    pub max_switches_per_day: u32,
    /// `RAISE_ON_DEMAND_MAX`: raise an on-demand table's configured maximum when it is what
    /// throttles (off by default: the maximum may be a deliberate cost cap).
    pub raise_on_demand_max: bool,
    /// The most request units a raised on-demand maximum may reach.
    pub max_on_demand: Capacity,
}

pub fn plan(
    table: &TableState,
    target: &TableTarget,
    diagnosis: &Diagnosis<TableMetrics>,
    policy: &TablePolicy,
    history: &[HistoryEntry],
    now: DateTime<Utc>,
) -> Decision<TableChange> {
    let causes = Causes::find(table, target, diagnosis);
    decide(table, &causes, diagnosis, policy, history, now).with_cause(causes.named())
}

fn decide(
    table: &TableState,
    causes: &Causes,
    diagnosis: &Diagnosis<TableMetrics>,
    policy: &TablePolicy,
    history: &[HistoryEntry],
    now: DateTime<Utc>,
) -> Decision<TableChange> {
    if table.billing == BillingMode::OnDemand {
        return match causes.finding(table) {
            Some(finding) => answer(finding, table, causes, policy),
            None => Decision::hold(
                SkipReason::AlreadyOnDemand,
                format!(
                    "{} is already on-demand; throttling there means hot keys or per-partition limits \
                     (3,000 RCU / 1,000 WCU per partition), which no capacity setting fixes: spread the keys",
                    table.name
                ),
            ),
        };
    }
    if let Some(busy) = busy(table) {
        return Decision::hold(SkipReason::UpdateInProgress, busy);
    }
    let Some(pressed) = causes.fixable_by_capacity() else {
        return match causes.finding(table) {
            Some(finding) => answer(finding, table, causes, policy),
            None => Decision::hold(
                SkipReason::NotThrottle,
                format!("nothing of {} is throttled", table.name),
            ),
        };
    };

    let switches = RollingWindow {
        action: Action::SWITCH_TO_ON_DEMAND,
        limit: policy.max_switches_per_day,
    };
    let guard = ModeSwitchGuard::new(
        policy.on_demand,
        &switches,
        history,
        table.last_switch_to_on_demand,
        now,
    );
    let cause = Some(causes.capacity_cause());
    if guard.switch_first() {
        return switch_to_on_demand(table, "ON_DEMAND=prefer switches on the first throttle", cause);
    }

    let metrics = diagnosis.measured();
    let scaling = Scaling::plan(table, &pressed, metrics, policy);
    if scaling.steps.is_empty() && !scaling.pending.is_empty() {
        return Decision::hold(
            SkipReason::UpdateInProgress,
            format!(
                "auto scaling is raising {}: {}",
                table.name,
                scaling.pending.join("; ")
            ),
        );
    }
    if !scaling.steps.is_empty() {
        let mut why = scaling.steps.join("; ");
        why.extend(guard.preferred_but_refused());
        why.extend(scaling.deferred.clone());
        why.extend(causes.not_fixed_by_capacity());
        return Decision::Act(scaling.into_proposal(table, why, cause));
    }

    let at_cap = format!("{} is at the cap: {}", table.name, scaling.capped.join(", "));
    guard.at_cap(&at_cap, |why| switch_to_on_demand(table, why, cause))
}

/// A throttled side of the table (`index: None`) or of one GSI, and its cause if known.
#[derive(Debug, Clone, PartialEq)]
struct Throttled {
    index: Option<String>,
    side: Side,
    cause: Option<Cause>,
}

impl Throttled {
    fn part(&self, table: &str) -> String {
        match &self.index {
            Some(index) => format!("GSI {index} of {table}"),
            None => format!("table {table}"),
        }
    }

    /// More capacity fixes it: provisioned throughput, or a cause nobody could tell.
    fn capacity_fixes(&self) -> bool {
        matches!(self.cause, None | Some(Cause::ProvisionedThroughput))
    }
}

/// Every throttled side and why.
struct Causes(Vec<Throttled>);

impl Causes {
    fn find(table: &TableState, target: &TableTarget, diagnosis: &Diagnosis<TableMetrics>) -> Self {
        let metrics = diagnosis.measured();
        // Pressure on an index that is not a GSI (an LSI) is pressure on the table's capacity.
        let mut on_table = target.on_table;
        for (index, pressure) in &target.on_indexes {
            if !table.indexes.iter().any(|gsi| &gsi.name == index) {
                on_table.merge(*pressure);
            }
        }
        // An on-demand maximum on a provisioned table cannot be: read it as unknown.
        let possible =
            |cause: Cause| cause != Cause::MaxOnDemandThroughput || table.billing == BillingMode::OnDemand;
        let cause = |part: Option<&PartMetrics>, side: Side| {
            target
                .cause
                .or_else(|| part.and_then(|part| part.side(side).dominant_cause()))
                .filter(|cause| possible(*cause))
        };
        let mut throttled = Vec::new();
        for side in [Side::Read, Side::Write] {
            if side.pressed(on_table) {
                throttled.push(Throttled {
                    index: None,
                    side,
                    cause: cause(metrics.map(|m| &m.table), side),
                });
            }
        }
        for gsi in &table.indexes {
            let named = target.on_indexes.get(&gsi.name).copied().unwrap_or_default();
            let measured = metrics.and_then(|m| m.indexes.get(&gsi.name));
            for side in [Side::Read, Side::Write] {
                let own_throttles = measured.is_some_and(|part| {
                    part.side(side).dominant_cause() == Some(Cause::ProvisionedThroughput)
                });
                if side.pressed(named) || own_throttles {
                    throttled.push(Throttled {
                        index: Some(gsi.name.clone()),
                        side,
                        cause: if side.pressed(named) {
                            cause(measured, side)
                        } else {
                            Some(Cause::ProvisionedThroughput)
                        },
                    });
                }
            }
        }
        Causes(throttled)
    }

    /// The pressure more capacity may relieve, or `None` when no side's cause is one.
    fn fixable_by_capacity(&self) -> Option<TableTarget> {
        let mut pressed = TableTarget::default();
        for throttled in self.0.iter().filter(|t| t.capacity_fixes()) {
            let side = throttled.side.pressure();
            match &throttled.index {
                Some(index) => pressed.on_indexes.entry(index.clone()).or_default().merge(side),
                None => pressed.on_table.merge(side),
            }
        }
        (pressed.on_table.any() || !pressed.on_indexes.is_empty()).then_some(pressed)
    }

    /// The cause a capacity change answers: known when any raised side's metrics said so.
    fn capacity_cause(&self) -> &'static str {
        if self
            .0
            .iter()
            .any(|t| t.cause == Some(Cause::ProvisionedThroughput))
        {
            Cause::ProvisionedThroughput.code()
        } else {
            "unknown"
        }
    }

    /// The cause a result names: the one capacity answers when any side's is, else the
    /// first side's known cause, else `unknown`.
    fn named(&self) -> &'static str {
        if self.fixable_by_capacity().is_some() {
            return self.capacity_cause();
        }
        self.0.iter().find_map(|t| t.cause).map_or("unknown", Cause::code)
    }

    /// Sides a capacity change leaves alone, for the result's sentence.
    fn not_fixed_by_capacity(&self) -> Option<String> {
        let others: Vec<String> = self
            .0
            .iter()
            .filter_map(|t| {
                let cause = t.cause.filter(|_| !t.capacity_fixes())?;
                Some(format!(
                    "{} {}s: {} (no capacity change)",
                    t.index.as_deref().unwrap_or("table"),
                    t.side.prefix().to_lowercase(),
                    cause.code()
                ))
            })
            .collect();
        (!others.is_empty()).then(|| format!("; not raised: {}", others.join(", ")))
    }

    /// The finding for the causes no capacity change fixes: an account quota first (it
    /// holds every side back), then an on-demand maximum, then a hot key.
    fn finding(&self, table: &TableState) -> Option<Finding> {
        let first = |cause: Cause| self.0.iter().find(|t| t.cause == Some(cause));
        if let Some(t) = first(Cause::AccountLimit) {
            let quota = match t.side {
                Side::Read => TABLE_READ_QUOTA,
                Side::Write => TABLE_WRITE_QUOTA,
            };
            return Some(Finding {
                code: FindingCode::AccountQuota,
                detail: format!(
                    "{} {}s are throttled at the per-table account quota (AccountLimitExceeded): no table \
                     setting raises it. Request an increase of Service Quotas {} ({}), service {}. \
                     Nothing was changed; later events for this table are held back (15 minutes, \
                     doubling up to a day) rather than diagnosed again",
                    t.part(&table.name),
                    t.side.prefix().to_lowercase(),
                    quota.quota_code,
                    quota.quota_name,
                    quota.service_code
                ),
                hold_back: true,
                quota: Some(quota),
                announce: true,
                advice: None,
            });
        }
        if table.billing == BillingMode::OnDemand
            && let Some(t) = first(Cause::MaxOnDemandThroughput)
        {
            return Some(Finding {
                code: FindingCode::OnDemandMax,
                detail: format!(
                    "{} {}s are throttled at the table's configured on-demand maximum \
                     (MaxOnDemandThroughputExceeded). It may be a deliberate cost cap, so it is left alone: \
                     raise OnDemandThroughput Max{}RequestUnits if the traffic is expected",
                    t.part(&table.name),
                    t.side.prefix().to_lowercase(),
                    t.side.prefix()
                ),
                hold_back: false,
                quota: None,
                announce: false,
                advice: None,
            });
        }
        first(Cause::KeyRangeThroughput).map(|t| Finding {
            code: FindingCode::HotPartition,
            detail: format!(
                "{} {}s are throttled on one partition's ceiling (KeyRangeThroughputExceeded; a partition \
                 serves at most 3,000 RCU / 1,000 WCU): a hot key, which no capacity change fixes. Find it \
                 with CloudWatch Contributor Insights (throttled keys) and spread the traffic over more keys",
                t.part(&table.name),
                t.side.prefix().to_lowercase()
            ),
            hold_back: false,
            quota: None,
            announce: false,
            advice: None,
        })
    }
}

/// What a finding leads to: a report alone, or the one change it allows. With
/// `RAISE_ON_DEMAND_MAX=on` an on-demand maximum is raised (a remediation, by the
/// `SCALE_FACTOR` step up to `MAX_ON_DEMAND_*_UNITS`); a hot key on a table tagged
/// `unthrottle:contributor-insights=true` turns Contributor Insights on (still `diagnosed`).
fn answer(
    finding: Finding,
    table: &TableState,
    causes: &Causes,
    policy: &TablePolicy,
) -> Decision<TableChange> {
    let followed = match finding.code {
        FindingCode::OnDemandMax if policy.raise_on_demand_max => raise_on_demand_max(table, causes, policy),
        FindingCode::HotPartition if table.insights_opt_in => {
            enable_insights(table, causes, &finding.detail).map(Decision::Act)
        }
        _ => None,
    };
    match (followed, busy(table)) {
        // Contributor Insights waits for a busy table; the finding is the answer meanwhile.
        (Some(Decision::Act(proposal)), Some(_)) if proposal.finding.is_some() => {
            Decision::Diagnosed(finding)
        }
        (Some(Decision::Act(_)), Some(busy)) => Decision::hold(SkipReason::UpdateInProgress, busy),
        (Some(decision), _) => decision,
        (None, _) => Decision::Diagnosed(finding),
    }
}

/// The table's throttled sides at their on-demand maximum, each raised by the step; a
/// hold at `MAX_ON_DEMAND_*_UNITS`. `None` when no table side has a maximum to raise (a
/// GSI's maximum is left to a human).
fn raise_on_demand_max(
    table: &TableState,
    causes: &Causes,
    policy: &TablePolicy,
) -> Option<Decision<TableChange>> {
    let mut after = table.on_demand_max;
    let mut steps = Vec::new();
    let mut capped = Vec::new();
    let at_maximum = causes
        .0
        .iter()
        .filter(|t| t.index.is_none() && t.cause == Some(Cause::MaxOnDemandThroughput));
    for throttled in at_maximum {
        let side = throttled.side;
        let Some(current) = table.on_demand_max.side(side) else {
            continue;
        };
        let (cap, variable) = match side {
            Side::Read => (policy.max_on_demand.read, "MAX_ON_DEMAND_READ_UNITS"),
            Side::Write => (policy.max_on_demand.write, "MAX_ON_DEMAND_WRITE_UNITS"),
        };
        match policy.growth.raise(current, cap) {
            Some(raised) => {
                steps.push(format!(
                    "{} throttled at the on-demand maximum: table {} Max{}RequestUnits {current} -> {raised}",
                    side.prefix().to_lowercase(),
                    table.name,
                    side.prefix()
                ));
                after.set(side, Some(raised));
            }
            None => capped.push(format!(
                "Max{}RequestUnits {current} of {variable} {cap}",
                side.prefix()
            )),
        }
    }
    if steps.is_empty() {
        return (!capped.is_empty()).then(|| {
            Decision::hold(
                SkipReason::AtCap,
                format!("{} is at the cap: {}", table.name, capped.join(", ")),
            )
        });
    }
    Some(Decision::Act(Proposal {
        action: RAISE_ON_DEMAND_MAX,
        change: TableChange::RaiseOnDemandMax(after),
        before: json!({ "onDemandMax": table.on_demand_max }),
        after: json!({ "onDemandMax": after }),
        why: steps.join("; "),
        cause: Some(Cause::MaxOnDemandThroughput.code()),
        finding: None,
        quota: None,
    }))
}

/// Contributor Insights (throttled keys) for the table or GSI whose hot key throttles,
/// unless it is on already, in whatever mode (an ACCESSED_AND_THROTTLED_KEYS set by hand is
/// never narrowed).
fn enable_insights(table: &TableState, causes: &Causes, detail: &str) -> Option<Proposal<TableChange>> {
    let hot = causes
        .0
        .iter()
        .find(|t| t.cause == Some(Cause::KeyRangeThroughput))?;
    let now = table.insights.iter().find(|state| state.index == hot.index);
    if now.is_some_and(InsightsState::on) {
        return None;
    }
    Some(Proposal {
        action: ENABLE_CONTRIBUTOR_INSIGHTS,
        change: TableChange::EnableContributorInsights {
            index: hot.index.clone(),
        },
        before: json!({ "contributorInsights": now }),
        after: json!({ "contributorInsights": { "index": hot.index, "status": "ENABLED", "mode": "THROTTLED_KEYS" } }),
        why: format!(
            "{detail}. {} is tagged {}={}: Contributor Insights turned on for {} (throttled keys)",
            table.name,
            INSIGHTS_TAG.0,
            INSIGHTS_TAG.1,
            hot.part(&table.name)
        ),
        cause: Some(FindingCode::HotPartition.code()),
        finding: Some(FindingCode::HotPartition),
        quota: None,
    })
}

fn busy(table: &TableState) -> Option<String> {
    if let Status::Busy(status) = &table.status {
        return Some(format!("{} is {status}; an update is in progress", table.name));
    }
    table.indexes.iter().find_map(|index| match &index.status {
        Status::Busy(status) => Some(format!(
            "GSI {} of {} is {status}; an update is in progress",
            index.name, table.name
        )),
        Status::Active => None,
    })
}

fn switch_to_on_demand(table: &TableState, why: &str, cause: Option<&'static str>) -> Decision<TableChange> {
    Decision::Act(Proposal {
        action: Action::SWITCH_TO_ON_DEMAND,
        change: TableChange::SwitchToOnDemand,
        before: json!({
            "billingMode": BillingMode::Provisioned,
            "table": table.capacity,
        }),
        after: json!({ "billingMode": BillingMode::OnDemand }),
        why: why.to_owned(),
        cause,
        finding: None,
        quota: None,
    })
}

/// The capacity raises one throttle calls for, and what could not be raised.
#[derive(Default)]
struct Scaling {
    table: Option<Capacity>,
    indexes: BTreeMap<String, Capacity>,
    floors: Vec<FloorChange>,
    /// What this change does, in words.
    steps: Vec<String>,
    /// UpdateTable steps and floor steps, before one of them is chosen.
    update_steps: Vec<String>,
    floor_steps: Vec<String>,
    /// Raises left for the next throttle, and why.
    deferred: Option<String>,
    capped: Vec<String>,
    /// Auto-scaled sides whose floor is already at or above the new figure.
    pending: Vec<String>,
}

impl Scaling {
    /// `pressed` names only the table and GSIs (LSI pressure is the table's already).
    fn plan(
        table: &TableState,
        pressed: &TableTarget,
        metrics: Option<&TableMetrics>,
        policy: &TablePolicy,
    ) -> Self {
        let mut scaling = Scaling::default();
        let on_table = pressed.on_table;
        let table_wanted = scaling.raise(
            policy,
            table,
            None,
            table.capacity,
            on_table,
            metrics.map(|m| &m.table),
            None,
        );
        let table_after = by_update_table(table, None, table.capacity, table_wanted);
        if table_after != table.capacity {
            scaling.table = Some(table_after);
        }

        for gsi in &table.indexes {
            let pressure = pressed.on_indexes.get(&gsi.name).copied().unwrap_or_default();
            let back_pressure = on_table.write && gsi.capacity.write < table.capacity.write;
            let write_floor = back_pressure.then_some(table_wanted.write);
            let pressure = Pressure {
                read: pressure.read,
                write: pressure.write || back_pressure,
            };
            let wanted = scaling.raise(
                policy,
                table,
                Some(&gsi.name),
                gsi.capacity,
                pressure,
                metrics.and_then(|m| m.indexes.get(&gsi.name)),
                write_floor,
            );
            let after = by_update_table(table, Some(&gsi.name), gsi.capacity, wanted);
            if after != gsi.capacity {
                scaling.indexes.insert(gsi.name.clone(), after);
            }
        }
        scaling.choose_one_call_kind();
        scaling
    }

    /// Floors, or UpdateTable, never both: a raised floor makes auto scaling update the table
    /// itself at once, and an UpdateTable beside it would fail on the busy table or, landing
    /// later, set the managed side back. Floors go first; the rest waits for the next
    /// throttle after the cooldown.
    fn choose_one_call_kind(&mut self) {
        let updates = std::mem::take(&mut self.update_steps);
        if self.floors.is_empty() {
            self.steps = updates;
            return;
        }
        self.steps = std::mem::take(&mut self.floor_steps);
        if !updates.is_empty() {
            self.table = None;
            self.indexes.clear();
            self.deferred = Some(format!(
                "; not raised in this step: {} (an UpdateTable now would race the update auto scaling \
                 makes for its new floor; the next throttle after the cooldown raises it)",
                updates.join("; ")
            ));
        }
    }

    /// The capacity the pressed sides of the table (`index: None`) or a GSI should have,
    /// noting each step, floor or cap hit.
    #[expect(
        clippy::too_many_arguments,
        reason = "one side's whole context, named at the call"
    )]
    fn raise(
        &mut self,
        policy: &TablePolicy,
        table: &TableState,
        index: Option<&str>,
        capacity: Capacity,
        pressure: Pressure,
        metrics: Option<&PartMetrics>,
        write_floor: Option<u64>,
    ) -> Capacity {
        let what = match index {
            Some(index) => format!("GSI {index}"),
            None => format!("table {}", table.name),
        };
        let mut wanted = capacity;
        for side in [Side::Read, Side::Write] {
            if !side.pressed(pressure) {
                continue;
            }
            let current = capacity.side(side);
            let (max, variable) = match side {
                Side::Read => (policy.max_read, "MAX_READ_CAPACITY"),
                Side::Write => (policy.max_write, "MAX_WRITE_CAPACITY"),
            };
            let floor = match side {
                Side::Write => write_floor.map(|floor| floor.min(max)),
                Side::Read => None,
            };
            let Some(sized) = size(policy, current, max, metrics.map(|m| m.side(side))) else {
                self.capped
                    .push(format!("{what} {} {current} of {variable} {max}", side.units()));
                continue;
            };
            let value = floor.map_or(sized.value, |floor| sized.value.max(floor));
            let back_pressure = if floor.is_some() {
                " (GSI back-pressure)"
            } else {
                ""
            };
            let step = format!(
                "{} throttled: {what} {} {current} -> {value}{back_pressure}{}",
                side.prefix().to_lowercase(),
                side.units(),
                sized.basis
            );
            match table.scalable(index, side) {
                // Auto scaling would take an UpdateTable back: raise its floor instead.
                Some(managed) if managed.min >= value => self.pending.push(format!(
                    "{what} {}: the auto scaling floor is already {}",
                    side.units(),
                    managed.min
                )),
                Some(managed) => {
                    self.floors.push(FloorChange {
                        index: index.map(str::to_owned),
                        side,
                        min: value,
                        max: managed.max.max(value),
                    });
                    self.floor_steps.push(format!(
                        "{step}, by raising its auto scaling floor {} -> {value}",
                        managed.min
                    ));
                }
                None => self.update_steps.push(step),
            }
            wanted.set(side, value);
        }
        wanted
    }

    fn into_proposal(
        self,
        table: &TableState,
        why: String,
        cause: Option<&'static str>,
    ) -> Proposal<TableChange> {
        let mut before = serde_json::Map::new();
        let mut after = serde_json::Map::new();
        if !self.floors.is_empty() {
            let floors_before: Vec<&ScalableTarget> = self
                .floors
                .iter()
                .filter_map(|floor| table.scalable(floor.index.as_deref(), floor.side))
                .collect();
            before.insert("autoScaling".into(), json!(floors_before));
            after.insert("autoScaling".into(), json!(self.floors));
        }
        if let Some(capacity) = self.table {
            before.insert("table".into(), json!(table.capacity));
            after.insert("table".into(), json!(capacity));
        }
        if !self.indexes.is_empty() {
            let indexes_before: BTreeMap<&str, Capacity> = table
                .indexes
                .iter()
                .filter(|gsi| self.indexes.contains_key(&gsi.name))
                .map(|gsi| (gsi.name.as_str(), gsi.capacity))
                .collect();
            before.insert("indexes".into(), json!(indexes_before));
            after.insert("indexes".into(), json!(self.indexes));
        }
        Proposal {
            action: SCALE_CAPACITY,
            change: TableChange::Scale {
                table: self.table,
                indexes: self.indexes,
                floors: self.floors,
            },
            before: Value::Object(before),
            after: Value::Object(after),
            why,
            cause,
            finding: None,
            quota: None,
        }
    }
}

/// What UpdateTable sets for the table (`index: None`) or a GSI: the wanted capacity on the
/// sides auto scaling does not manage, the current one on those it does.
fn by_update_table(table: &TableState, index: Option<&str>, current: Capacity, wanted: Capacity) -> Capacity {
    let mut sent = wanted;
    for side in [Side::Read, Side::Write] {
        if table.scalable(index, side).is_some() {
            sent.set(side, current.side(side));
        }
    }
    sent
}

/// A new capacity for one side and what it was sized from.
struct Sized {
    value: u64,
    /// e.g. " (peak 12.5/s x HEADROOM 1.25)", or why the fixed step was taken.
    basis: String,
}

/// Sizes one throttled side from demand, at most the `SCALE_FACTOR` step and the cap
/// (`None` at the cap). Consumed capacity is what was served, so it rarely shows more than
/// the provisioned figure, and a one-minute Sum / 60 is that minute's average, flatter than
/// the seconds that throttled:
/// - busiest minute above the current capacity (burst capacity served it): `ceil(rate x
///   HEADROOM)`, at least current + `MIN_STEP`;
/// - at or below it (the throttle came in bursts within the minute), or no figures: the
///   `SCALE_FACTOR` step, as the average cannot say how far short capacity fell.
fn size(policy: &TablePolicy, current: u64, max: u64, metrics: Option<&SideMetrics>) -> Option<Sized> {
    let step = policy.growth.raise(current, max)?;
    let step_because = |why: &str| Sized {
        value: step,
        basis: why.to_owned(),
    };
    let Some(rate) = metrics.and_then(|m| m.consumed.peak_per_second()) else {
        return Some(step_because(if metrics.is_some() {
            " (no consumption figures: SCALE_FACTOR step)"
        } else {
            ""
        }));
    };
    #[expect(clippy::cast_precision_loss, reason = "capacity units are far below 2^52")]
    if rate <= current as f64 {
        return Some(step_because(&format!(
            " (busiest minute averaged {rate:.1}/s, within capacity: the throttle came in bursts; SCALE_FACTOR step)"
        )));
    }
    let wanted = with_headroom(rate, policy.headroom).unwrap_or(step);
    let floor = current.saturating_add(policy.growth.min_step);
    let value = wanted.max(floor).min(step);
    let clamp = if value == step && wanted > step {
        ", at most the SCALE_FACTOR step"
    } else if value == floor && wanted < floor {
        ", at least current + MIN_STEP"
    } else {
        ""
    };
    Some(Sized {
        value,
        basis: format!(
            " (busiest minute averaged {rate:.1}/s x HEADROOM {} = {wanted}{clamp})",
            policy.headroom
        ),
    })
}

#[cfg(test)]
#[path = "planner_tests.rs"]
mod tests;
