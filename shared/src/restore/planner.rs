//! The restore planner: pure. What unthrottle raised (its snapshots, read as an
//! [`Episode`]), the resource now, the quiet hours' metrics and AWS's limits in; one step
//! back down, or why not, out.
//!
//! A resource is lowered only when all of these hold:
//! 1. not opted out, not updating;
//! 2. the metrics for the whole quiet window were read (a failed or partial lookup proves
//!    nothing);
//! 3. nothing raised it (unthrottle or AWS's own last increase) within the window, and it
//!    did not throttle within it;
//! 4. every number unthrottle set is still what it set (a person's change since is theirs);
//! 5. the target, `max(pre-incident, ceil(peak per second x HEADROOM))`, is below now:
//!    never below the pre-incident value, never a raise;
//! 6. AWS's limit on the dial allows a decrease now (DynamoDB's decreases per day, a
//!    stream's halving and 10 reshards per 24 h): a limited dial takes what one call can.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::core::diagnosis::with_headroom;
use crate::core::plan::SkipReason;

/// How restore runs (`RESTORE_AFTER_QUIET_HOURS`, `HEADROOM`, `RESTORE_BILLING_MODE`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// How long a resource must be quiet (no throttle, no raise) before it is lowered.
    pub quiet: Duration,
    /// Capacity kept per unit of the quiet window's peak demand.
    pub headroom: f64,
    /// Whether a table unthrottle switched to on-demand may be switched back.
    pub switch_back: bool,
}

/// What unthrottle raised on one resource since it was last back where it started: read
/// from its snapshots, newest first, by [`episode`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Episode {
    /// Each dial's value before the first raise of the episode: the floor restore never
    /// goes below.
    pub baseline: BTreeMap<String, u64>,
    /// Each dial's value as unthrottle last set it (a raise's, or a restore step's).
    pub set: BTreeMap<String, u64>,
    /// The newest raise.
    pub raised_at: DateTime<Utc>,
    /// The episode switched the resource to on-demand.
    pub switched: bool,
    /// The snapshot of the first raise: the pre-incident state.
    pub origin: String,
    /// restore's last step down, if any: one step an hour at most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stepped_at: Option<DateTime<Utc>>,
    /// Each dial's value before the newest change (a raise, or a restore step). Its snapshot
    /// was stored before the call; a resource still at these values is one whose call never
    /// landed (refused, timed out), not one a person changed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub previous: BTreeMap<String, u64>,
    /// The last step switched the table back to provisioned: still on-demand means it did
    /// not land (and is tried again); provisioned, that it did.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub switching_back: bool,
}

/// How long a restore step is checked for having landed: a finished one is still looked at
/// (and a resource at the values before it taken as the step not landing) for this long, so
/// the hourly runs in between retry a step that did not land even when one of them is held
/// back; after it, a resource at those values is a person's.
pub const CONFIRM_HOURS: i64 = 6;

/// How soon after one step restore takes the next: an hourly schedule's run, give or take
/// the schedule's jitter. A retried or repeated run within it takes none.
pub const STEP_SPACING_MINUTES: i64 = 50;

/// One snapshot, as restore reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum Kept {
    /// A change that raised dials: `(dial, before, after)`; `switched` for a switch to
    /// on-demand, whose dials are the capacity it left.
    Raise {
        uri: String,
        at: DateTime<Utc>,
        dials: Vec<(String, u64, u64)>,
        switched: bool,
    },
    /// A restore step: the episode it continues, as it stood after the step; `done` once
    /// every dial was back at its baseline.
    Restore {
        at: DateTime<Utc>,
        episode: Episode,
        done: bool,
    },
    /// A rollback, or anything else that ends what came before it.
    Boundary,
}

/// The episode the snapshots (newest first) leave open at `now`, if any: the raises since
/// the last boundary (a rollback, a restore step that finished more than [`CONFIRM_HOURS`]
/// ago), on top of a restore step's episode.
pub fn episode(newest_first: &[Kept], now: DateTime<Utc>) -> Option<Episode> {
    let mut raises = Vec::new();
    let mut carried = None;
    for kept in newest_first {
        match kept {
            Kept::Raise { .. } => raises.push(kept),
            Kept::Restore { at, episode, done } => {
                if !done || now - *at < Duration::hours(CONFIRM_HOURS) {
                    carried = Some(episode.clone());
                }
                break;
            }
            Kept::Boundary => break,
        }
    }
    let mut episode = carried;
    for raise in raises.into_iter().rev() {
        let Kept::Raise {
            uri,
            at,
            dials,
            switched,
        } = raise
        else {
            continue;
        };
        let open = episode.get_or_insert_with(|| Episode {
            baseline: BTreeMap::new(),
            set: BTreeMap::new(),
            raised_at: *at,
            switched: false,
            origin: uri.clone(),
            stepped_at: None,
            previous: BTreeMap::new(),
            switching_back: false,
        });
        let was = std::mem::take(&mut open.previous);
        // A raise starts a new quiet wait; the steps before it are not what is checked.
        open.stepped_at = None;
        for (dial, before, after) in dials {
            match open.set.get(dial) {
                // Not what the episode left it at, nor what it was before the last call (one
                // that never landed): a person set it in between; from here, that value is
                // the one not to go below.
                Some(set) if set != before && was.get(dial) != Some(before) => {
                    open.baseline.insert(dial.clone(), *before);
                }
                _ => {
                    open.baseline.entry(dial.clone()).or_insert(*before);
                }
            }
            open.set.insert(dial.clone(), *after);
            open.previous.insert(dial.clone(), *before);
        }
        open.raised_at = open.raised_at.max(*at);
        open.switched |= *switched;
    }
    episode.filter(|episode| !episode.set.is_empty() || episode.switched)
}

/// The episode after a step that set `applied`, from `from` (each dial's value before it):
/// what its snapshot records, and whether every dial is back at its baseline.
pub fn stepped(
    episode: &Episode,
    from: &BTreeMap<String, u64>,
    applied: &BTreeMap<String, u64>,
    switch_back: bool,
    now: DateTime<Utc>,
) -> (Episode, bool) {
    let mut after = episode.clone();
    after.switching_back = switch_back;
    if switch_back {
        // Provisioned again: what the switch left is what is set now, nothing else.
        after.set.clone_from(applied);
        after.switched = false;
    } else {
        after.set.clone_from(from);
        after
            .set
            .extend(applied.iter().map(|(dial, value)| (dial.clone(), *value)));
    }
    after.previous.clone_from(from);
    after.stepped_at = Some(now);
    let done = after.set.iter().all(|(dial, value)| {
        episode
            .baseline
            .get(dial)
            .is_none_or(|baseline| value <= baseline)
    });
    (after, done)
}

/// How far AWS lets one dial go down now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Limit {
    /// Any decrease, in one call.
    Free,
    /// No lower than this in one call (a stream halves at most).
    Down(u64),
    /// Not now, and why.
    Blocked(String),
}

/// The resource now, and what its metrics said over the quiet window.
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    pub name: String,
    pub opted_out: bool,
    /// Not `ACTIVE`: an update is under way.
    pub busy: bool,
    /// On-demand now (a table's billing mode, a stream's mode).
    pub on_demand: bool,
    /// Each dial's value now; a dial the resource no longer has is absent.
    pub now: BTreeMap<String, u64>,
    /// AWS's own last increase (a person's raise counts as a raise).
    pub raised_at: Option<DateTime<Utc>>,
    /// AWS's record of the last switch to on-demand (a table's), whoever made it.
    pub switched_at: Option<DateTime<Utc>>,
    /// The quiet window's metrics, or why they cannot be trusted.
    pub usage: Result<Usage, String>,
    pub limits: BTreeMap<String, Limit>,
}

/// The quiet window's metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// Throttle events over the window.
    pub throttles: f64,
    /// Each dial's peak demand per second, in the dial's units (none: no traffic).
    pub peak: BTreeMap<String, f64>,
}

/// What restore does with one resource.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// One step down: the dials it lowers, and the episode as it stands after it.
    Step {
        to: BTreeMap<String, u64>,
        /// Each dial's value before the step (what the resource shows now).
        from: BTreeMap<String, u64>,
        /// Switch a table back to provisioned, at `to`.
        switch_back: bool,
        why: String,
    },
    Keep {
        reason: SkipReason,
        why: String,
    },
    /// Back where it started: nothing open, nothing to report.
    Closed,
}

fn keep(reason: SkipReason, why: String) -> Verdict {
    Verdict::Keep { reason, why }
}

/// `max(baseline, ceil(peak x headroom))`: the lowest a dial goes for the demand seen.
pub fn target(baseline: u64, peak: Option<f64>, headroom: f64) -> u64 {
    peak.and_then(|peak| with_headroom(peak, headroom))
        .unwrap_or(0)
        .max(baseline)
}

/// The pure restore planner.
pub fn plan(episode: &Episode, subject: &Subject, policy: &Policy, now: DateTime<Utc>) -> Verdict {
    let name = &subject.name;
    if subject.opted_out {
        return keep(
            SkipReason::OptedOut,
            format!("{name} is tagged unthrottle:disabled=true"),
        );
    }
    if subject.busy {
        return keep(
            SkipReason::UpdateInProgress,
            format!("{name} is updating; the next run looks again"),
        );
    }
    // A switch to on-demand: still on-demand (never switched back, or a switch back that did
    // not land) is the switch-back path; provisioned after a switch back that landed, the
    // episode goes on as a provisioned one; provisioned otherwise, someone else switched.
    // Switched to on-demand after restore switched it back: a person's switch.
    let switched_since = episode.switching_back
        && subject
            .switched_at
            .zip(episode.stepped_at)
            .is_some_and(|(switched, stepped)| switched > stepped);
    if (episode.switched || (episode.switching_back && !switched_since)) && subject.on_demand {
        return match quiet(episode, subject, policy, now) {
            Err(kept) => kept,
            Ok(usage) => switch_back(episode, subject, usage, policy),
        };
    }
    if episode.switched {
        return keep(
            SkipReason::ChangedSince,
            format!("{name} is provisioned again: switched back since, it is someone else's now"),
        );
    }
    // Each dial as unthrottle left it, or as it was before the last call if that call never
    // landed (a restore step's, only while it is checked); anything else is a person's.
    let unlanded = episode
        .stepped_at
        .is_none_or(|stepped| now - stepped < Duration::hours(CONFIRM_HOURS));
    let mut from = BTreeMap::new();
    for (dial, set) in &episode.set {
        match subject.now.get(dial) {
            Some(value) if value == set || (unlanded && episode.previous.get(dial) == Some(value)) => {
                from.insert(dial.clone(), *value);
            }
            value => {
                return keep(
                    SkipReason::ChangedSince,
                    format!(
                        "{name}'s {dial} is {}, and unthrottle set it to {set}: changed since, it is someone else's now",
                        value.map_or("gone".to_owned(), |value| value.to_string())
                    ),
                );
            }
        }
    }
    let baseline_of = |dial: &str, set: u64| episode.baseline.get(dial).copied().unwrap_or(set);
    if from
        .iter()
        .all(|(dial, value)| *value <= baseline_of(dial, *value))
    {
        return Verdict::Closed;
    }
    let usage = match quiet(episode, subject, policy, now) {
        Ok(usage) => usage,
        Err(kept) => return kept,
    };

    let hours = policy.quiet.num_hours();
    let mut to = BTreeMap::new();
    let mut held = Vec::new();
    let mut why = Vec::new();
    for (dial, set) in &from {
        let baseline = baseline_of(dial, *set);
        let peak = usage.peak.get(dial).copied();
        let wanted = target(baseline, peak, policy.headroom).min(*set);
        if wanted >= *set {
            continue;
        }
        let next = match subject.limits.get(dial).unwrap_or(&Limit::Free) {
            Limit::Free => wanted,
            Limit::Down(lowest) => wanted.max(*lowest),
            Limit::Blocked(reason) => {
                held.push(format!("{dial}: {reason}"));
                continue;
            }
        };
        if next >= *set {
            continue;
        }
        why.push(format!(
            "{dial} {set} -> {next} (pre-incident {baseline}, peak {}/s x HEADROOM {}{})",
            peak.map_or("0".to_owned(), |peak| format!("{peak:.1}")),
            policy.headroom,
            if next > wanted {
                format!(", {wanted} in more steps")
            } else {
                String::new()
            }
        ));
        to.insert(dial.clone(), next);
    }
    if to.is_empty() {
        return if held.is_empty() {
            keep(
                SkipReason::Settled,
                format!("{name} is where its last {hours} h of demand want it: nothing to lower"),
            )
        } else {
            keep(
                SkipReason::DailyLimit,
                format!("AWS's limits hold {name} for now: {}", held.join("; ")),
            )
        };
    }
    Verdict::Step {
        to,
        from,
        switch_back: false,
        why: format!(
            "quiet for {hours} h: {}{}",
            why.join(", "),
            if held.is_empty() {
                String::new()
            } else {
                format!("; held by AWS's limits: {}", held.join("; "))
            }
        ),
    }
}

/// The quiet window's usage, if the resource has been quiet: metrics read whole, no raise
/// (unthrottle's or AWS's record of anyone's) within it, no throttle, no step within the
/// hour. Otherwise why not.
fn quiet<'a>(
    episode: &Episode,
    subject: &'a Subject,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<&'a Usage, Verdict> {
    let name = &subject.name;
    let usage = match &subject.usage {
        Ok(usage) => usage,
        Err(why) => {
            return Err(keep(
                SkipReason::MetricsPartial,
                format!(
                    "the quiet window's metrics of {name} cannot be trusted ({why}): nothing is lowered on a guess"
                ),
            ));
        }
    };
    let hours = policy.quiet.num_hours();
    let raised = subject
        .raised_at
        .map_or(episode.raised_at, |aws| aws.max(episode.raised_at));
    if now - raised < policy.quiet {
        return Err(keep(
            SkipReason::NotQuiet,
            format!(
                "{name} was raised at {}, less than RESTORE_AFTER_QUIET_HOURS={hours} ago",
                raised.to_rfc3339()
            ),
        ));
    }
    if let Some(stepped) = episode.stepped_at
        && now - stepped < Duration::minutes(STEP_SPACING_MINUTES)
    {
        return Err(keep(
            SkipReason::CoolingDown,
            format!(
                "restore stepped {name} down at {}: one step an hour, so each settles first",
                stepped.to_rfc3339()
            ),
        ));
    }
    if usage.throttles > 0.0 {
        return Err(keep(
            SkipReason::NotQuiet,
            format!(
                "{name} throttled {} time(s) in the last {hours} h: not quiet",
                usage.throttles
            ),
        ));
    }
    Ok(usage)
}

/// A table unthrottle switched to on-demand: back to provisioned only when opted in, at
/// `max(pre-incident, ceil(peak x HEADROOM))` per side.
fn switch_back(episode: &Episode, subject: &Subject, usage: &Usage, policy: &Policy) -> Verdict {
    let name = &subject.name;
    if !policy.switch_back {
        return keep(
            SkipReason::SwitchBackOff,
            format!(
                "{name} was switched to on-demand and stays there: RESTORE_BILLING_MODE=off (for a table, switch \
                 back with `unthrottle rollback {}`, or set RESTORE_BILLING_MODE=provisioned)",
                episode.origin
            ),
        );
    }
    if let Some((dial, Limit::Blocked(reason))) = subject
        .limits
        .iter()
        .find(|(_, limit)| matches!(limit, Limit::Blocked(_)))
    {
        return keep(SkipReason::DailyLimit, format!("{name}'s {dial}: {reason}"));
    }
    let to: BTreeMap<String, u64> = episode
        .baseline
        .iter()
        .map(|(dial, baseline)| {
            let peak = usage.peak.get(dial).copied();
            (dial.clone(), target(*baseline, peak, policy.headroom))
        })
        .collect();
    Verdict::Step {
        why: format!(
            "quiet for {} h: back to provisioned at {} (RESTORE_BILLING_MODE=provisioned)",
            policy.quiet.num_hours(),
            to.iter()
                .map(|(dial, value)| format!("{dial} {value}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        to,
        from: BTreeMap::new(),
        switch_back: true,
    }
}

#[cfg(test)]
#[path = "planner_tests.rs"]
mod tests;
