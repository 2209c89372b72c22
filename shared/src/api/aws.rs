//! api-throttle's adapters. An API's request rate is the account's, not a resource's: what
//! it reads is the ledger's count of who was throttled (the `Tally` port) and, for a quota
//! unthrottle knows, what Service Quotas says about it (the [`Quotas`] port); the one change
//! it may make is a quota increase request.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration as Elapsed, Instant};

use aws_config::SdkConfig;
use aws_sdk_servicequotas::Client;
use chrono::{DateTime, Utc};
use serde_json::json;
use tracing::warn;

use super::model::{ApiChange, ApiState, ApiTarget, CallerCount, Callers, QuotaRequest, QuotaState};
use super::planner;
use super::settings::Api;
use crate::adapters::Deploy;
use crate::adapters::errors::classify;
use crate::adapters::ledger::DynamoDbLedger;
use crate::core::config::CoreSettings;
use crate::core::diagnosis::Diagnosis;
use crate::core::domain::ResourceRef;
use crate::core::error::{Error, ErrorKind, Result};
use crate::core::guards::rolling_day;
use crate::core::ledger::TalliedCall;
use crate::core::plan::Quota;
use crate::core::ports::{Apply, Describe, Described, Diagnose, Tally};
use crate::core::service::Service;
use crate::core::trigger::Target;

/// The window a result names the top callers of.
pub const CALLER_WINDOW_MINUTES: u32 = 15;

/// The calls of an incident that try to claim its digest line: enough for the first calls
/// of a burst that race, few enough that a storm's later calls write nothing more.
const DIGEST_CLAIMS: u32 = 5;

/// Service Quotas, in api-throttle's terms.
pub trait Quotas: Send + Sync {
    /// The quota's value, whether it is adjustable, AWS's default and the increases asked.
    fn state(&self, quota: Quota) -> impl Future<Output = Result<QuotaState>> + Send;
    /// Asks for `desired`, never opening a Support case.
    fn request(&self, quota: &QuotaCode, desired: f64) -> impl Future<Output = Result<()>> + Send;
}

/// Where a line goes for each new (service, API, caller) incident: the stack's alarm topic.
pub trait Digest: Send + Sync {
    fn send(&self, line: &str) -> impl Future<Output = Result<()>> + Send;
}

/// No digest (`DIGEST_TOPIC_ARN` empty).
pub struct NoDigest;

impl Digest for NoDigest {
    async fn send(&self, line: &str) -> Result<()> {
        let _ = line;
        Ok(())
    }
}

/// The digest as SNS Publish to one topic.
pub struct SnsDigest {
    client: aws_sdk_sns::Client,
    topic: String,
}

impl SnsDigest {
    pub fn new(client: aws_sdk_sns::Client, topic: impl Into<String>) -> Self {
        Self {
            client,
            topic: topic.into(),
        }
    }
}

impl Digest for SnsDigest {
    async fn send(&self, line: &str) -> Result<()> {
        self.client
            .publish()
            .topic_arn(&self.topic)
            .subject("unthrottle: a new API throttle")
            .message(line)
            .send()
            .await
            .map_err(|e| classify("Publish", &self.topic, &e))?;
        Ok(())
    }
}

/// The digest a deployment sends: SNS when a topic is configured.
pub enum ConfiguredDigest {
    Sns(SnsDigest),
    Off(NoDigest),
}

impl Digest for ConfiguredDigest {
    async fn send(&self, line: &str) -> Result<()> {
        match self {
            ConfiguredDigest::Sns(digest) => digest.send(line).await,
            ConfiguredDigest::Off(digest) => digest.send(line).await,
        }
    }
}

/// A quota as a change names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaCode {
    pub service_code: String,
    pub quota_code: String,
}

/// The throttled APIs: their callers counted in the ledger, their quotas in Service Quotas.
pub struct Apis<T, Q, D = NoDigest> {
    tally: T,
    quotas: Q,
    digest: D,
    /// `DRY_RUN`: read the counts, write and send nothing.
    dry_run: bool,
}

impl<T: Tally, Q: Quotas> Apis<T, Q, NoDigest> {
    pub fn new(tally: T, quotas: Q) -> Self {
        Self {
            tally,
            quotas,
            digest: NoDigest,
            dry_run: false,
        }
    }
}

impl<T: Tally, Q: Quotas, D: Digest> Apis<T, Q, D> {
    /// The same, sending each new incident's line to `digest`.
    pub fn digest<E: Digest>(self, digest: E) -> Apis<T, Q, E> {
        Apis {
            tally: self.tally,
            quotas: self.quotas,
            digest,
            dry_run: self.dry_run,
        }
    }

    /// The same, counting and sending nothing (`DRY_RUN`).
    pub fn dry_run(self, dry_run: bool) -> Self {
        Self { dry_run, ..self }
    }

    pub fn sent(&self) -> &D {
        &self.digest
    }

    pub fn tally(&self) -> &T {
        &self.tally
    }

    pub fn quotas(&self) -> &Q {
        &self.quotas
    }
}

impl Deploy for Api {
    type Resources = Apis<DynamoDbLedger, SdkQuotas, ConfiguredDigest>;
    fn resources(&self, sdk: &SdkConfig, core: &CoreSettings) -> Self::Resources {
        let digest = match &self.digest_topic {
            Some(topic) => ConfiguredDigest::Sns(SnsDigest::new(aws_sdk_sns::Client::new(sdk), topic)),
            None => ConfiguredDigest::Off(NoDigest),
        };
        Apis::new(
            DynamoDbLedger::new(aws_sdk_dynamodb::Client::new(sdk), &core.ledger_table),
            SdkQuotas::new(Client::new(sdk)),
        )
        .digest(digest)
        .dry_run(core.run.dry_run)
    }
}

impl<T: Tally, Q: Quotas, D: Digest> Describe<Api> for Apis<T, Q, D> {
    /// The quota `name` (`kms.Decrypt`) is counted against, when unthrottle knows one; a
    /// Service Quotas failure leaves it unknown (the finding says so) rather than fail the
    /// event.
    async fn describe(&self, name: &str) -> Result<Described<ApiState>> {
        let quota = name
            .split_once('.')
            .and_then(|(service, api)| planner::quota_named(service, api));
        let state = match quota {
            Some(quota) => match self.quotas.state(quota).await {
                Ok(state) => Some(state),
                Err(e) => {
                    warn!(error = %e, quota = quota.quota_code, "the quota could not be read");
                    None
                }
            },
            None => None,
        };
        let raw = json!({ "quota": &state });
        Ok(Described {
            state: ApiState { quota: state },
            tags: HashMap::new(),
            raw,
        })
    }
}

impl<T: Tally, Q: Quotas, D: Digest> Diagnose<Api> for Apis<T, Q, D> {
    /// Counts this call, then reads who was throttled on the API in the 15 minutes up to
    /// it: two ledger calls, beside the describe. A dry run counts nothing (it writes
    /// nothing) and reads what was counted. A failure leaves the finding without its
    /// callers, never without its advice.
    async fn diagnose(&self, target: &ApiTarget, now: DateTime<Utc>) -> Diagnosis<Callers> {
        let Some(scope) = target.scope() else {
            return Diagnosis::Unavailable("the event names no account and region".into());
        };
        let resource = ResourceRef {
            service: Api::ID,
            account: scope.account.clone(),
            region: scope.region.clone(),
            name: target.name.clone(),
        };
        // An event from the future is counted as now.
        let at = target.at.min(now);
        let mut counted_now = false;
        if !self.dry_run {
            let call = TalliedCall::new(target.caller.as_deref(), &target.event_id, at);
            match self.tally.tally(&resource, &call).await {
                Ok(new) => counted_now = new,
                Err(e) => return Diagnosis::Unavailable(e.to_string()),
            }
        }
        let rows = match self.tally.callers(&resource, at, CALLER_WINDOW_MINUTES).await {
            Ok(rows) => rows,
            Err(e) => return Diagnosis::Unavailable(e.to_string()),
        };
        // A caller's first throttled calls on this API in the window are a new incident: the
        // first of them to claim it sends one digest line (a redelivery, or the incident's
        // later calls, send none; racing first calls, one). Only the first few calls try.
        let caller = target.caller.as_deref().unwrap_or("unknown");
        let early = rows
            .iter()
            .any(|(who, events)| who == caller && *events <= DIGEST_CLAIMS);
        if counted_now && early {
            match self
                .tally
                .first_in_window(&resource, caller, at, CALLER_WINDOW_MINUTES)
                .await
            {
                Ok(true) => {
                    let line = planner::digest_line(target, caller);
                    if let Err(e) = self.digest.send(&line).await {
                        warn!(error = %e, "the digest line was not sent");
                    }
                }
                Ok(false) => {}
                Err(e) => warn!(error = %e, "the digest claim was not made; no line sent"),
            }
        }
        Diagnosis::Measured(counted(rows))
    }
}

impl<T: Tally, Q: Quotas, D: Digest> Apply<Api> for Apis<T, Q, D> {
    async fn apply(&self, state: &ApiState, change: &ApiChange) -> Result<()> {
        let _ = state;
        let ApiChange::RequestQuotaIncrease {
            service_code,
            quota_code,
            desired,
        } = change;
        let code = QuotaCode {
            service_code: service_code.clone(),
            quota_code: quota_code.clone(),
        };
        self.quotas.request(&code, *desired).await
    }
}

/// The callers since the window's start, as counts.
fn counted(rows: Vec<(String, u32)>) -> Callers {
    planner::callers(
        rows.into_iter()
            .map(|(caller, events)| CallerCount { caller, events })
            .collect(),
        CALLER_WINDOW_MINUTES,
    )
}

/// How long one reading of a quota is used: Service Quotas' own request rates are low,
/// and a storm of throttles would otherwise spend them on the same answer.
const QUOTA_STATE_TTL: Elapsed = Elapsed::from_secs(300);

/// Service Quotas through aws-sdk-servicequotas, each quota's state kept per container for
/// [`QUOTA_STATE_TTL`] (and forgotten once an increase is requested).
pub struct SdkQuotas {
    client: Client,
    read: Mutex<HashMap<String, (Instant, QuotaState)>>,
}

impl SdkQuotas {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            read: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, code: &str) -> Option<QuotaState> {
        let read = self.read.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        read.get(code)
            .filter(|(at, _)| at.elapsed() < QUOTA_STATE_TTL)
            .map(|(_, state)| state.clone())
    }

    fn remember(&self, state: &QuotaState) {
        self.read
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(state.quota_code.clone(), (Instant::now(), state.clone()));
    }

    fn forget(&self, code: &str) {
        self.read
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(code);
    }

    async fn requests(&self, service_code: &str, quota_code: &str) -> Result<Vec<QuotaRequest>> {
        let mut requests = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = self
                .client
                .list_requested_service_quota_change_history_by_quota()
                .service_code(service_code)
                .quota_code(quota_code)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| classify("ListRequestedServiceQuotaChangeHistoryByQuota", quota_code, &e))?;
            requests.extend(page.requested_quotas().iter().map(|asked| {
                QuotaRequest {
                    status: asked
                        .status()
                        .map_or("UNKNOWN", |status| status.as_str())
                        .to_owned(),
                    created: asked
                        .created()
                        .and_then(|at| DateTime::from_timestamp(at.secs(), at.subsec_nanos())),
                    desired: asked.desired_value(),
                }
            }));
            match page.next_token() {
                Some(token) if !token.is_empty() => next = Some(token.to_owned()),
                _ => return Ok(requests),
            }
        }
    }
}

impl Quotas for SdkQuotas {
    /// GetServiceQuota, GetAWSDefaultServiceQuota and the request history, all at once.
    async fn state(&self, quota: Quota) -> Result<QuotaState> {
        if let Some(state) = self.cached(quota.quota_code) {
            return Ok(state);
        }
        let applied = self
            .client
            .get_service_quota()
            .service_code(quota.service_code)
            .quota_code(quota.quota_code)
            .send();
        let default = self
            .client
            .get_aws_default_service_quota()
            .service_code(quota.service_code)
            .quota_code(quota.quota_code)
            .send();
        let (applied, default, requests) = tokio::join!(
            applied,
            default,
            self.requests(quota.service_code, quota.quota_code)
        );
        let applied = applied.map_err(|e| classify("GetServiceQuota", quota.quota_code, &e))?;
        let applied = applied.quota();
        let state = QuotaState {
            service_code: quota.service_code.to_owned(),
            quota_code: quota.quota_code.to_owned(),
            value: applied
                .and_then(|q| q.value())
                .ok_or_else(|| Error::missing("GetServiceQuota", quota.quota_code, "Quota.Value"))?,
            adjustable: applied.is_some_and(|q| q.adjustable()),
            aws_default: default.ok().and_then(|d| d.quota().and_then(|q| q.value())),
            requests: requests?,
        };
        self.remember(&state);
        Ok(state)
    }

    async fn request(&self, quota: &QuotaCode, desired: f64) -> Result<()> {
        self.forget(&quota.quota_code);
        // What was read may be minutes old, and another container or API may have asked
        // since: the history again, uncached, right before asking.
        let now = Utc::now();
        let asked = self.requests(&quota.service_code, &quota.quota_code).await?;
        if let Some(recent) = asked.iter().find(|request| {
            request.is_open()
                || request
                    .created
                    .is_some_and(|created| now - created < rolling_day())
        }) {
            return Err(Error::new(
                ErrorKind::Refused,
                "RequestServiceQuotaIncrease",
                &quota.quota_code,
                format!(
                    "a request for it is {} since {}: at most one open, and one per 24 h",
                    recent.status,
                    recent
                        .created
                        .map_or("an unknown time".to_owned(), |at| at.to_rfc3339())
                ),
            ));
        }
        self.client
            .request_service_quota_increase()
            .service_code(&quota.service_code)
            .quota_code(&quota.quota_code)
            .desired_value(desired)
            .support_case_allowed(false)
            .send()
            .await
            .map_err(|e| classify("RequestServiceQuotaIncrease", &quota.quota_code, &e))?;
        Ok(())
    }
}
