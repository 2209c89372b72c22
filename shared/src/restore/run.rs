//! The sweep: every resource unthrottle raised in this account and region, by its
//! snapshots, one step each at most, generic over the ports; and the Lambda wiring.

use std::collections::BTreeMap;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::{Value, json};
use tracing::{info, warn};

use super::model::{RESTORE, Restores, policy, step_id};
use super::planner::{self, Episode, Kept, Policy, Subject, Verdict};
use crate::adapters::clients::OnFirstUse;
use crate::core::config::{AllowList, ConfigError, CoreSettings, Env, fatal};
use crate::core::domain::{HistoryEntry, ResourceRef};
use crate::core::envelope::{Scope, scope_of_arn};
use crate::core::error::{Error, ErrorKind};
use crate::core::ledger::{Admission, Release, Ticket};
use crate::core::pipeline::verdict;
use crate::core::plan::{Proposal, SkipReason};
use crate::core::ports::{Apply, Describe, Ledger, Measure, Metrics, SnapshotArchive, Snapshots};
use crate::core::report::{Failure, Outcome, Report};
use crate::core::snapshot::{SCHEMA, key as snapshot_key, key_segment, region_folder, serialised};
use crate::dynamodb::settings::TABLE_ALLOW;
use crate::dynamodb::{DynamoDb, SdkTables};
use crate::kinesis::settings::STREAM_ALLOW;
use crate::kinesis::{Kinesis, SdkStreams};

/// Snapshots read per resource at most, newest first, to find where its episode began.
const READ_PER_RESOURCE: usize = 50;
/// AWS calls one resource's step takes at most: the ledger's view, the snapshots read,
/// describe, metrics, claim, snapshot, change, a describe again, record, release.
const CALLS_PER_RESOURCE: u32 = 12;
/// How long a step holds the resource's claim at most, should its release be lost.
const STEP_CLAIM_MINUTES: i64 = 3;

/// The restore function: the services' resources and settings, and the shared stores.
pub struct Restorer<T, K, L, A, M> {
    pub tables: T,
    pub streams: K,
    /// `TABLE_ALLOW` and `STREAM_ALLOW`: the same fences as the functions'.
    pub tables_allowed: AllowList,
    pub streams_allowed: AllowList,
    pub ledger: L,
    /// Where the snapshots are read from and written to.
    pub archive: A,
    pub metrics: M,
    pub policy: Policy,
    pub dry_run: bool,
    pub cooldown: chrono::Duration,
    /// The longest one AWS call may take: no resource is started without time for its calls.
    pub step_budget: std::time::Duration,
}

impl<T, K, L, A, M> Restorer<T, K, L, A, M>
where
    T: Describe<DynamoDb> + Apply<DynamoDb> + Measure<DynamoDb>,
    K: Describe<Kinesis> + Apply<Kinesis> + Measure<Kinesis>,
    L: Ledger,
    A: SnapshotArchive + Snapshots,
    M: Metrics,
{
    /// One run: a report per resource with an open episode, in `home` only.
    pub async fn sweep(
        &self,
        home: &Scope,
        now: DateTime<Utc>,
        deadline: Option<tokio::time::Instant>,
    ) -> Vec<Report> {
        let mut reports = self
            .service::<DynamoDb, T>(&self.tables, &self.tables_allowed, home, now, deadline)
            .await;
        reports.extend(
            self.service::<Kinesis, K>(&self.streams, &self.streams_allowed, home, now, deadline)
                .await,
        );
        for report in &reports {
            info!(
                outcome = ?report.outcome, service = %report.service,
                resource = report.resource.as_deref().unwrap_or("-"),
                code = report.code.unwrap_or("-"), reason = %report.reason, "restore"
            );
        }
        if !self.dry_run
            && let Err(e) = self.metrics.publish(&reports).await
        {
            warn!(error = %e, "metrics not published");
        }
        reports
    }

    async fn service<S: Restores, R: Describe<S> + Apply<S> + Measure<S>>(
        &self,
        resources: &R,
        allowed: &AllowList,
        home: &Scope,
        now: DateTime<Utc>,
        deadline: Option<tokio::time::Instant>,
    ) -> Vec<Report> {
        let prefix = region_folder(S::ID.key, &home.account, &home.region);
        let keys = match self.archive.list(&prefix).await {
            Ok(keys) => keys,
            Err(e) => return vec![Report::failed_with(S::ID, None, None, Failure::Snapshot, &e)],
        };
        // One folder per resource; a key's text sorts as its time does.
        let mut folders: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for key in &keys {
            if let Some((folder, _)) = key[prefix.len()..].split_once('/') {
                folders.entry(folder).or_default().push(key);
            }
        }
        // Each hour starts at another folder, so one run cut short by its deadline does not
        // leave the same resources last every time.
        let mut folders: Vec<(&str, Vec<&str>)> = folders.into_iter().collect();
        if !folders.is_empty() {
            let start = usize::try_from(now.timestamp() / 3600).unwrap_or(0) % folders.len();
            folders.rotate_left(start);
        }
        let mut reports = Vec::new();
        for (folder, mut keys) in folders {
            if let Some(late) = self.out_of_time(deadline, folder) {
                // The next hourly run goes on: not an invocation error (a retry would sweep
                // again from the start), but seen in the results and the Failed count.
                reports.push(Report::failed(
                    S::ID,
                    Some(folder),
                    None,
                    Failure::Deadline,
                    late.to_string(),
                ));
                break;
            }
            keys.sort_unstable_by(|a, b| b.cmp(a));
            if let Some(report) = self
                .resource::<S, R>(resources, allowed, home, folder, &keys, now, deadline)
                .await
            {
                reports.push(report);
            }
        }
        reports
    }

    fn out_of_time(&self, deadline: Option<tokio::time::Instant>, name: &str) -> Option<Error> {
        let left = deadline?.saturating_duration_since(tokio::time::Instant::now());
        let needed = self.step_budget.saturating_mul(CALLS_PER_RESOURCE);
        (left < needed).then(|| {
            Error::new(
                ErrorKind::Transient,
                "restore",
                name,
                format!(
                    "{} ms of the invocation left and one resource may take {} ms: the rest waits for the next run",
                    left.as_millis(),
                    needed.as_millis()
                ),
            )
        })
    }

    /// What the snapshots of one resource say, newest first, down to where its episode began.
    async fn kept<S: Restores>(
        &self,
        folder: &str,
        keys: &[&str],
        home: &Scope,
    ) -> Result<(Option<String>, Vec<Kept>), Error> {
        let mut name = None;
        let mut kept = Vec::new();
        for key in keys.iter().take(READ_PER_RESOURCE) {
            let body = self.archive.get(key).await?;
            let uri = self.archive.location(key);
            let Ok(document) = serde_json::from_slice::<Value>(&body) else {
                warn!(snapshot = %uri, "not JSON: passed over");
                continue;
            };
            if document["schema"] != SCHEMA
                || document["account"] != home.account.as_str()
                || document["region"] != home.region.as_str()
            {
                warn!(snapshot = %uri, "not a snapshot of this account and region: passed over");
                continue;
            }
            // A document under another resource's folder is not this one's history.
            match document["name"].as_str() {
                Some(named) if key_segment(named) == folder => {
                    name.get_or_insert_with(|| named.to_owned());
                }
                _ => {
                    warn!(snapshot = %uri, "names another resource than its folder: passed over");
                    continue;
                }
            }
            let Some(one) = kept_of::<S>(&document, uri) else {
                continue;
            };
            let ends = !matches!(one, Kept::Raise { .. });
            kept.push(one);
            if ends {
                break;
            }
        }
        Ok((name, kept))
    }

    #[allow(clippy::too_many_arguments)]
    async fn resource<S: Restores, R: Describe<S> + Apply<S> + Measure<S>>(
        &self,
        resources: &R,
        allowed: &AllowList,
        home: &Scope,
        folder: &str,
        keys: &[&str],
        now: DateTime<Utc>,
        deadline: Option<tokio::time::Instant>,
    ) -> Option<Report> {
        let (name, kept) = match self.kept::<S>(folder, keys, home).await {
            Ok(read) => read,
            Err(e) => return Some(Report::failed_with(S::ID, None, None, Failure::Snapshot, &e)),
        };
        let episode = planner::episode(&kept, now)?;
        let name = name?;
        let skipped = |reason, detail: String| Report::skipped(S::ID, Some(&name), None, reason, detail);
        let failed = |failure, error: &Error| Report::failed_with(S::ID, Some(&name), None, failure, error);
        if let Err(why) = allowed.admits(&name) {
            return Some(skipped(SkipReason::NotAllowed, why));
        }
        let resource = ResourceRef {
            service: S::ID,
            account: home.account.clone(),
            region: home.region.clone(),
            name: name.clone(),
        };
        let view = match self.ledger.view(&resource, now).await {
            Ok(view) => view,
            Err(e) => return Some(failed(Failure::Ledger, &e)),
        };
        if let Some(claim) = view
            .claim
            .into_iter()
            .chain(view.lease)
            .find(|claim| claim.until > now)
        {
            return Some(skipped(
                SkipReason::CoolingDown,
                format!(
                    "{name} is claimed by {} until {}: an incident is under way",
                    claim.holder,
                    claim.until.to_rfc3339()
                ),
            ));
        }
        let (described, measured) = tokio::join!(
            resources.describe(&resource),
            resources.measure(&name, now - self.policy.quiet, now)
        );
        let described = match described {
            Ok(described) => described,
            Err(e) if e.kind == ErrorKind::NotFound => {
                return Some(skipped(
                    SkipReason::NotFound,
                    format!("{name} does not exist any more: nothing to restore"),
                ));
            }
            Err(e) => return Some(failed(Failure::Describe, &e)),
        };
        let state = &described.state;
        let subject = Subject {
            name: name.clone(),
            opted_out: described.opted_out(),
            busy: S::busy(state),
            on_demand: S::on_demand(state),
            now: S::dials(state),
            raised_at: S::raised_at(state),
            switched_at: S::switched_at(state),
            usage: measured
                .map(|evidence| S::usage(&evidence))
                .map_err(|e| e.to_string()),
            limits: S::limits(state, &view.history, now),
        };
        let (to, from, switch_back, why) = match planner::plan(&episode, &subject, &self.policy, now) {
            Verdict::Closed => return None,
            Verdict::Keep { reason, why } => return Some(skipped(reason, why)),
            Verdict::Step {
                to,
                from,
                switch_back,
                why,
            } => (to, from, switch_back, why),
        };
        let call = match S::change(state, &to, switch_back) {
            Ok(call) => call,
            Err(why) => return Some(skipped(SkipReason::SwitchBackOff, why)),
        };
        // The snapshot, the report and the next run go by what the call sets, not by what
        // the plan wanted: one call may set only part of it.
        let (after, done) = planner::stepped(&episode, &from, &call.applied, switch_back, now);
        let before: BTreeMap<&String, u64> = call
            .applied
            .keys()
            .map(|dial| (dial, subject.now.get(dial).copied().unwrap_or(0)))
            .collect();
        let proposal = Proposal {
            action: RESTORE,
            change: call.change,
            before: json!(before),
            after: json!(call.applied),
            why,
            cause: None,
            finding: None,
            quota: None,
        };
        if self.dry_run {
            return Some(Report::planned(S::ID, &name, None, &proposal));
        }
        if let Some(late) = self.out_of_time(deadline, &name) {
            return Some(Report::failed(
                S::ID,
                Some(&name),
                None,
                Failure::Deadline,
                late.to_string(),
            ));
        }
        let id = step_id(&name, now);
        // Held only while the step runs: released right after, and short if the release is
        // lost, so a throttle after a step is healed at once, not after a cooldown.
        let ticket = Ticket {
            resource: resource.clone(),
            event_id: id.clone(),
            invocation: id.clone(),
            // From when it is taken, not from the sweep's start.
            now: Utc::now(),
            lease: self.cooldown.min(chrono::Duration::minutes(STEP_CLAIM_MINUTES)),
            cooldown: self.cooldown.min(chrono::Duration::minutes(STEP_CLAIM_MINUTES)),
        };
        match self.ledger.claim(&ticket).await {
            Ok(Admission::Granted(_)) => {}
            Ok(Admission::Held(_)) => {
                return Some(skipped(
                    SkipReason::CoolingDown,
                    format!("{name} was claimed by another run or an incident just now"),
                ));
            }
            Err(e) => return Some(failed(Failure::Ledger, &e)),
        }
        let outcome = self
            .step::<S, R>(resources, &resource, &described, &proposal, &after, done, now)
            .await;
        if outcome.is_ok() {
            // Before the claim goes: a remediation that starts next counts this call against
            // the daily limits.
            let entry = HistoryEntry {
                at: now,
                action: call.action,
                event_id: id,
                subject: None,
            };
            if let Err(e) = self.ledger.record(&resource, &entry).await {
                warn!(error = %e, resource = %resource, "restore step made but not recorded in the ledger");
            }
        }
        if let Err(e) = self.ledger.release(&ticket, Release::Lease, None).await {
            warn!(error = %e, resource = %resource, "restore's claim not released: it ends by itself shortly");
        }
        Some(match outcome {
            Ok(snapshot) => {
                let mut report = Report::remediated(S::ID, &name, None, &proposal, snapshot);
                report.outcome = Outcome::Restored;
                report
            }
            Err((failure, e)) => failed(failure, &e),
        })
    }

    /// Snapshot, then change, as every change is made.
    #[allow(clippy::too_many_arguments)]
    async fn step<S: Restores, R: Describe<S> + Apply<S>>(
        &self,
        resources: &R,
        resource: &ResourceRef,
        described: &crate::core::ports::Described<S::State>,
        proposal: &Proposal<S::Change>,
        after: &Episode,
        done: bool,
        now: DateTime<Utc>,
    ) -> Result<String, (Failure, Error)> {
        let document = json!({
            "schema": SCHEMA,
            "service": resource.service,
            "account": resource.account,
            "region": resource.region,
            "name": resource.name,
            "takenAt": now,
            "plan": {
                "action": proposal.action,
                "change": proposal.change,
                "before": proposal.before,
                "after": proposal.after,
                "why": proposal.why,
            },
            "restore": { "episode": after, "done": done },
            "tags": described.tags,
            "describe": described.raw,
        });
        let body = serialised(&document, resource).map_err(|e| (Failure::Snapshot, e))?;
        let key = snapshot_key(resource, now, "restore");
        let location = self
            .archive
            .put(&key, body)
            .await
            .map_err(|e| (Failure::Snapshot, e))?;
        if let Err(e) = resources.apply(&described.state, &proposal.change).await {
            if !e.outcome_unknown {
                return Err((Failure::Apply, e));
            }
            match resources.describe(resource).await {
                Ok(now) if S::applied(&now.state, &proposal.change) => {
                    warn!(error = %e, resource = %resource, "the step failed to answer but is visible: recorded as made");
                }
                _ => return Err((Failure::Apply, e)),
            }
        }
        Ok(location)
    }
}

/// One snapshot as restore reads it; `None` for one it has nothing to do with.
pub fn kept_of<S: Restores>(document: &Value, uri: String) -> Option<Kept> {
    let plan = &document["plan"];
    let action = plan["action"].as_str()?;
    let at = document["takenAt"]
        .as_str()
        .and_then(|at| DateTime::parse_from_rfc3339(at).ok())?
        .with_timezone(&Utc);
    if action == RESTORE.name() {
        let episode = serde_json::from_value(document["restore"]["episode"].clone()).ok()?;
        let done = document["restore"]["done"].as_bool().unwrap_or(false);
        return Some(Kept::Restore { at, episode, done });
    }
    if action == crate::core::domain::Action::named("Rollback").name() {
        return Some(Kept::Boundary);
    }
    let raised = S::raised(action, &plan["before"], &plan["after"], &document["describe"])?;
    Some(Kept::Raise {
        uri,
        at,
        dials: raised.dials,
        switched: raised.switched,
    })
}

/// The restore function as deployed.
pub type Deployed = Restorer<
    OnFirstUse<SdkTables>,
    OnFirstUse<SdkStreams>,
    crate::adapters::ledger::DynamoDbLedger,
    crate::adapters::snapshots::S3Snapshots,
    crate::adapters::ConfiguredMetrics,
>;

/// The restore function's ports, each client built at most once for the life of the
/// execution environment; `None` when restore is off (`RESTORE_AFTER_QUIET_HOURS=0`). The
/// ledger's, the archive's and the metrics' serve every sweep and are built here; the
/// tables' and the streams' on their first use, by a sweep that finds one of their episodes
/// due.
pub fn deployed(env: &Env, sdk: &aws_config::SdkConfig) -> Result<Option<Deployed>, ConfigError> {
    let core = CoreSettings::from_env(env)?;
    let Some(policy) = policy(env)? else {
        return Ok(None);
    };
    Ok(Some(Restorer {
        tables: OnFirstUse::from_sdk(sdk, SdkTables::from_sdk),
        streams: OnFirstUse::from_sdk(sdk, SdkStreams::from_sdk),
        tables_allowed: AllowList::from_env(env, &TABLE_ALLOW)?,
        streams_allowed: AllowList::from_env(env, &STREAM_ALLOW)?,
        ledger: crate::run::ledger(&core, sdk),
        archive: crate::run::snapshots(&core, sdk),
        metrics: crate::run::metrics(&core, sdk),
        policy,
        dry_run: core.run.dry_run,
        cooldown: core.run.cooldown,
        step_budget: crate::adapters::clients::OPERATION_TIMEOUT,
    }))
}

/// Runs restore as a Lambda function until the execution environment shuts down: each
/// invocation (the hourly schedule's, or one by hand) is one sweep.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    crate::logging::init();
    let env = Env::process();
    let sdk = crate::adapters::clients::load_sdk_config().await;
    let restorer = deployed(&env, &sdk).map_err(fatal)?;
    let local_home = crate::run::local_home();
    let restorer = &restorer;
    let local_home = &local_home;
    Box::pin(lambda_runtime::run(service_fn(
        move |event: LambdaEvent<Value>| async move {
            let Some(restorer) = restorer else {
                info!("RESTORE_AFTER_QUIET_HOURS=0: restore is off");
                return Ok(Vec::new());
            };
            let home = scope_of_arn(&event.context.invoked_function_arn)
                .or_else(|| local_home.clone())
                .ok_or_else(|| Diagnostic {
                    error_type: "UnknownHome".to_owned(),
                    error_message:
                        "cannot tell this function's account and region: set UNTHROTTLE_HOME_ACCOUNT and \
                                AWS_REGION to run it outside Lambda"
                            .to_owned(),
                })?;
            let left = event.context.deadline().duration_since(SystemTime::now()).ok();
            let deadline = left.map(|left| tokio::time::Instant::now() + left);
            let reports = restorer.sweep(&home, Utc::now(), deadline).await;
            verdict(reports).map_err(|error| Diagnostic {
                error_type: error.kind().to_owned(),
                error_message: error.to_string(),
            })
        },
    )))
    .await
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
