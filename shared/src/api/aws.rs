//! api-throttle's adapters. An API's request rate is the account's, not a resource's: what
//! it reads is the ledger's count of who was throttled (the `Tally` port), for a quota
//! unthrottle knows, what Service Quotas says about it (the [`Quotas`] port), and for SSM
//! Parameter Store reads, the Region's higher-throughput setting (the [`Settings`] port).
//! The changes it may make are a quota increase request and turning that setting on.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration as Elapsed;

use aws_config::SdkConfig;
use aws_sdk_servicequotas::Client;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use chrono::{DateTime, Utc};
use serde_json::json;
use tracing::warn;

use super::model::{
    ApiChange, ApiState, ApiTarget, CallerCount, Callers, QuotaRequest, QuotaState, SettingState,
};
use super::planner;
use super::settings::Api;
use crate::adapters::Deploy;
use crate::adapters::errors::classify;
use crate::adapters::kept::Kept;
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

/// The window a result names the top callers of, unless `THROTTLE_WINDOW_MINUTES` says.
pub const DEFAULT_WINDOW_MINUTES: u32 = 15;

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

/// SSM's service settings, in api-throttle's terms.
pub trait Settings: Send + Sync {
    /// The setting, as read at most minutes ago.
    fn setting(&self, id: &str) -> impl Future<Output = Result<SettingState>> + Send;
    /// The setting as it is now: what a change decides on last.
    fn reread(&self, id: &str) -> impl Future<Output = Result<SettingState>> + Send;
    /// Sets it to `value`.
    fn update(&self, id: &str, value: &str) -> impl Future<Output = Result<()>> + Send;
    /// Back to AWS's default: how turning a setting on is undone.
    fn reset(&self, id: &str) -> impl Future<Output = Result<SettingState>> + Send;
}

/// Where a line goes for each new (service, API, caller) incident: the stack's alarm topic.
pub trait Digest: Send + Sync {
    fn send(&self, line: &str) -> impl Future<Output = Result<()>> + Send;
    /// Whether a line goes anywhere: with no digest, no incident is claimed for one.
    fn sends(&self) -> bool {
        true
    }
}

/// No digest (`DIGEST_TOPIC_ARN` empty).
pub struct NoDigest;

impl Digest for NoDigest {
    async fn send(&self, line: &str) -> Result<()> {
        let _ = line;
        Ok(())
    }

    fn sends(&self) -> bool {
        false
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

    fn sends(&self) -> bool {
        match self {
            ConfiguredDigest::Sns(digest) => digest.sends(),
            ConfiguredDigest::Off(digest) => digest.sends(),
        }
    }
}

/// A quota as a change names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaCode {
    pub service_code: String,
    pub quota_code: String,
}

/// The throttled APIs: their callers counted in the ledger, their quotas in Service Quotas,
/// SSM's throughput setting.
pub struct Apis<T, Q, S, D = NoDigest> {
    tally: T,
    quotas: Q,
    settings: S,
    digest: D,
    /// `THROTTLE_WINDOW_MINUTES`.
    window_minutes: u32,
    /// `DRY_RUN`: read the counts, write and send nothing.
    dry_run: bool,
}

impl<T: Tally, Q: Quotas, S: Settings> Apis<T, Q, S, NoDigest> {
    pub fn new(tally: T, quotas: Q, settings: S) -> Self {
        Self {
            tally,
            quotas,
            settings,
            digest: NoDigest,
            window_minutes: DEFAULT_WINDOW_MINUTES,
            dry_run: false,
        }
    }
}

impl<T: Tally, Q: Quotas, S: Settings, D: Digest> Apis<T, Q, S, D> {
    /// The same, sending each new incident's line to `digest`.
    pub fn digest<E: Digest>(self, digest: E) -> Apis<T, Q, S, E> {
        Apis {
            tally: self.tally,
            quotas: self.quotas,
            settings: self.settings,
            digest,
            window_minutes: self.window_minutes,
            dry_run: self.dry_run,
        }
    }

    /// The same, counting and sending nothing (`DRY_RUN`).
    pub fn dry_run(self, dry_run: bool) -> Self {
        Self { dry_run, ..self }
    }

    /// The same, counting callers over `minutes` (`THROTTLE_WINDOW_MINUTES`).
    pub fn window(self, minutes: u32) -> Self {
        Self {
            window_minutes: minutes.max(1),
            ..self
        }
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

    pub fn settings(&self) -> &S {
        &self.settings
    }

    /// `THROTTLE_WINDOW_MINUTES`, as wired.
    pub fn window_minutes(&self) -> u32 {
        self.window_minutes
    }
}

impl Deploy for Api {
    type Resources = Apis<DynamoDbLedger, SdkQuotas, SdkSettings, ConfiguredDigest>;
    fn resources(&self, sdk: &SdkConfig, core: &CoreSettings) -> Self::Resources {
        let digest = match &self.digest_topic {
            Some(topic) => ConfiguredDigest::Sns(SnsDigest::new(aws_sdk_sns::Client::new(sdk), topic)),
            None => ConfiguredDigest::Off(NoDigest),
        };
        Apis::new(
            DynamoDbLedger::new(aws_sdk_dynamodb::Client::new(sdk), &core.ledger_table),
            SdkQuotas::new(Client::new(sdk)),
            SdkSettings::new(aws_sdk_ssm::Client::new(sdk)),
        )
        .digest(digest)
        .window(self.window_minutes)
        .dry_run(core.run.dry_run)
    }
}

impl<T: Tally, Q: Quotas, S: Settings, D: Digest> Describe<Api> for Apis<T, Q, S, D> {
    /// The quota `name` (`kms.Decrypt`) is counted against, when unthrottle knows one, and
    /// the SSM setting that raises its throughput, when one does, read at once. A failure
    /// leaves either unknown (the finding says so) rather than fail the event.
    async fn describe(&self, resource: &ResourceRef) -> Result<Described<ApiState>> {
        let name = resource.name.as_str();
        let (service, api) = name.split_once('.').unwrap_or((name, ""));
        let quota = async {
            let quota = planner::quota_named(service, api)?;
            self.quotas
                .state(quota)
                .await
                .inspect_err(|e| warn!(error = %e, quota = quota.quota_code, "the quota could not be read"))
                .ok()
        };
        let throughput = async {
            let id = planner::setting_named(service, api)?;
            self.settings
                .setting(id)
                .await
                .inspect_err(|e| warn!(error = %e, setting = id, "the setting could not be read"))
                .ok()
        };
        let (quota, throughput) = tokio::join!(quota, throughput);
        let state = ApiState { quota, throughput };
        let raw = json!(&state);
        Ok(Described {
            state,
            tags: HashMap::new(),
            raw,
        })
    }
}

impl<T: Tally, Q: Quotas, S: Settings, D: Digest> Diagnose<Api> for Apis<T, Q, S, D> {
    /// Counts this call, then reads who was throttled on the API in the window up to
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
        let rows = match self.tally.callers(&resource, at, self.window_minutes).await {
            Ok(rows) => rows,
            Err(e) => return Diagnosis::Unavailable(e.to_string()),
        };
        // A caller's first throttled calls on this API in the window are a new incident: the
        // first of them to claim it sends one digest line (a redelivery, or the incident's
        // later calls, send none; racing first calls, one). Only the first few calls try,
        // and none without a digest to send to.
        let caller = target.caller.as_deref().unwrap_or("unknown");
        let early = rows
            .iter()
            .any(|(who, events)| who == caller && *events <= DIGEST_CLAIMS);
        if counted_now && early && self.digest.sends() {
            match self
                .tally
                .first_in_window(&resource, caller, at, self.window_minutes)
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
        Diagnosis::Measured(counted(rows, self.window_minutes))
    }
}

impl<T: Tally, Q: Quotas, S: Settings, D: Digest> Apply<Api> for Apis<T, Q, S, D> {
    async fn apply(&self, state: &ApiState, change: &ApiChange) -> Result<()> {
        let _ = state;
        match change {
            ApiChange::RequestQuotaIncrease {
                service_code,
                quota_code,
                desired,
            } => {
                let code = QuotaCode {
                    service_code: service_code.clone(),
                    quota_code: quota_code.clone(),
                };
                self.quotas.request(&code, *desired).await
            }
            ApiChange::EnableHighThroughput { setting_id } => {
                // What was read may be minutes old, and another container (another API of
                // the same bucket) or a person may have changed it since: read it again,
                // uncached, and decide again right before changing it.
                let now = self.settings.reread(setting_id).await?;
                planner::may_turn_on(&now, Utc::now())
                    .map_err(|why| Error::new(ErrorKind::Refused, "UpdateServiceSetting", setting_id, why))?;
                self.settings.update(setting_id, "true").await
            }
        }
    }
}

/// The callers since the window's start, as counts.
fn counted(rows: Vec<(String, u32)>, minutes: u32) -> Callers {
    planner::callers(
        rows.into_iter()
            .map(|(caller, events)| CallerCount { caller, events })
            .collect(),
        minutes,
    )
}

/// How long one reading of a quota is used: Service Quotas' own request rates are low,
/// and a storm of throttles would otherwise spend them on the same answer.
const QUOTA_STATE_TTL: Elapsed = Elapsed::from_secs(300);

/// Service Quotas through aws-sdk-servicequotas, each quota's state kept per container for
/// [`QUOTA_STATE_TTL`] (and forgotten once an increase is requested).
pub struct SdkQuotas {
    client: Client,
    read: Kept<String, QuotaState>,
}

impl SdkQuotas {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            read: Kept::new(QUOTA_STATE_TTL),
        }
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
        if let Some(state) = self.read.get(&quota.quota_code.to_owned()) {
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
        self.read.keep(state.quota_code.clone(), state.clone());
        Ok(state)
    }

    async fn request(&self, quota: &QuotaCode, desired: f64) -> Result<()> {
        self.read.forget(&quota.quota_code);
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

/// SSM's service settings through aws-sdk-ssm, each kept per container for
/// [`SETTING_TTL`] (and forgotten when one is changed): a storm of GetParameter throttles
/// would otherwise spend SSM's own rate on the same answer.
pub struct SdkSettings {
    client: aws_sdk_ssm::Client,
    read: Kept<String, SettingState>,
}

/// How long one reading of a setting is used.
const SETTING_TTL: Elapsed = Elapsed::from_secs(300);

impl SdkSettings {
    pub fn new(client: aws_sdk_ssm::Client) -> Self {
        Self {
            client,
            read: Kept::new(SETTING_TTL),
        }
    }
}

/// A setting as SSM reports it; `id` is what was asked for, which SSM may answer with the
/// setting's ARN.
fn setting_state(
    id: &str,
    operation: &str,
    setting: Option<&aws_sdk_ssm::types::ServiceSetting>,
) -> Result<SettingState> {
    let setting = setting.ok_or_else(|| Error::missing(operation, id, "ServiceSetting"))?;
    Ok(SettingState {
        id: id.to_owned(),
        value: setting
            .setting_value()
            .ok_or_else(|| Error::missing(operation, id, "ServiceSetting.SettingValue"))?
            .to_owned(),
        status: setting.status().unwrap_or("Unknown").to_owned(),
        modified: setting
            .last_modified_date()
            .and_then(|at| DateTime::from_timestamp(at.secs(), at.subsec_nanos())),
        modified_by: setting.last_modified_user().map(str::to_owned),
    })
}

impl Settings for SdkSettings {
    async fn setting(&self, id: &str) -> Result<SettingState> {
        if let Some(state) = self.read.get(&id.to_owned()) {
            return Ok(state);
        }
        let read = self
            .client
            .get_service_setting()
            .setting_id(id)
            .send()
            .await
            .map_err(|e| classify("GetServiceSetting", id, &e))?;
        let state = setting_state(id, "GetServiceSetting", read.service_setting())?;
        self.read.keep(id.to_owned(), state.clone());
        Ok(state)
    }

    async fn reread(&self, id: &str) -> Result<SettingState> {
        self.read.forget(&id.to_owned());
        self.setting(id).await
    }

    async fn update(&self, id: &str, value: &str) -> Result<()> {
        self.read.forget(&id.to_owned());
        self.client
            .update_service_setting()
            .setting_id(id)
            .setting_value(value)
            .send()
            .await
            .map_err(|e| {
                let error = classify("UpdateServiceSetting", id, &e);
                // Another update under way may be this one, made by an attempt whose answer
                // was lost and then retried: look before calling it a failure.
                if e.code() == Some("TooManyUpdates") {
                    error.with_unknown_outcome()
                } else {
                    error
                }
            })?;
        Ok(())
    }

    async fn reset(&self, id: &str) -> Result<SettingState> {
        self.read.forget(&id.to_owned());
        let reset = self
            .client
            .reset_service_setting()
            .setting_id(id)
            .send()
            .await
            .map_err(|e| classify("ResetServiceSetting", id, &e))?;
        setting_state(id, "ResetServiceSetting", reset.service_setting())
    }
}
