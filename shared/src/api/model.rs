//! api-throttle's domain: which API throttled which caller, and who else the ledger saw.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::core::domain::Action;
use crate::core::envelope::Scope;
use crate::core::trigger::Target;

/// One throttled API as an event names it. Its resource is `{service}.{api}` (`kms.Decrypt`):
/// what the allow-list matches, the ledger counts under and the result names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiTarget {
    pub name: String,
    /// CloudTrail's event source without `.amazonaws.com` (`kms`), or the quota's service.
    pub service: String,
    /// The operation (`Decrypt`); for a usage alarm, the operation family it watches.
    pub api: String,
    /// Who was throttled: the role a session was issued by, not the session; the user's ARN
    /// for IAM users; the service for AWS services.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller: Option<String>,
    /// The caller's SDK or tool and its version, from the user agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sdk: Option<String>,
    /// The endpoint host the caller used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// STS only: `global` or `regional`, as CloudTrail's `RequestDetails.endpointType` says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sts_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// KMS only, where the record says: the key is not a symmetric one
    /// (`encryptionAlgorithm` other than `SYMMETRIC_DEFAULT`), or lives in a custom key
    /// store (`customKeyStoreId`). Either way its quota is not the symmetric family's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_key: Option<String>,
    pub signal: ApiSignal,
    /// The account and region the call was made in: its counts are kept per both.
    #[serde(skip)]
    pub scope: Scope,
    /// When the call was made: the minute it is counted in.
    #[serde(skip)]
    pub at: DateTime<Utc>,
    /// The incident's event id: a redelivered event is counted once.
    #[serde(skip)]
    pub event_id: String,
}

/// What raised the incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ApiSignal {
    /// A CloudTrail record of a throttled call.
    CloudTrail,
    /// An `AWS/Usage` `CallCount` alarm near the family's quota.
    UsageAlarm,
    /// Another unthrottle function found a resource held back by a quota.
    #[serde(rename_all = "camelCase")]
    QuotaPressure {
        /// The resource the announcing function diagnosed (`orders`).
        resource: String,
        quota_code: String,
        quota_name: String,
        reason: String,
    },
}

impl Target for ApiTarget {
    fn resource(&self) -> &str {
        &self.name
    }

    fn scope(&self) -> Option<&Scope> {
        Some(&self.scope)
    }

    /// One event names one API.
    fn absorb(&mut self, other: Self) {
        let _ = other;
    }

    fn dimension(&self) -> String {
        self.caller.clone().unwrap_or_default()
    }
}

/// What Service Quotas says about the quota a throttle's API counts against, when unthrottle
/// knows one, and for Parameter Store reads, SSM's throughput setting: read for every
/// result, which names them. Otherwise there is nothing to describe (an API's request rate
/// is the account's, not a resource's).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiState {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<QuotaState>,
    /// SSM Parameter Store reads only: the Region's higher-throughput setting
    /// (`GetServiceSetting`), as it was before a change: the snapshot's record of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throughput: Option<SettingState>,
}

/// Parameter Store's higher throughput: a paid per-Region setting, not a quota.
pub const HIGH_THROUGHPUT_SETTING: &str = "/ssm/parameter-store/high-throughput-enabled";

/// One SSM service setting as `GetServiceSetting` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingState {
    /// `/ssm/parameter-store/high-throughput-enabled`.
    pub id: String,
    /// `true` or `false`, as SSM spells it.
    pub value: String,
    /// `Default`, `Customized` or `PendingUpdate`.
    pub status: String,
    /// When, and by whom, it was last changed (a reset counts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified_by: Option<String>,
}

impl SettingState {
    pub fn is_on(&self) -> bool {
        self.value.eq_ignore_ascii_case("true")
    }

    /// SSM is still applying a change: another would race it.
    pub fn is_pending(&self) -> bool {
        self.status.eq_ignore_ascii_case("PendingUpdate")
    }

    /// Someone set it (AWS's default reads `Default`).
    pub fn is_customized(&self) -> bool {
        self.status.eq_ignore_ascii_case("Customized")
    }
}

/// One quota as Service Quotas reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotaState {
    pub service_code: String,
    pub quota_code: String,
    /// The applied value (`GetServiceQuota`).
    pub value: f64,
    pub adjustable: bool,
    /// AWS's default (`GetAWSDefaultServiceQuota`), which caps every increase; `None` when
    /// it could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_default: Option<f64>,
    /// The increases requested for it (`ListRequestedServiceQuotaChangeHistoryByQuota`).
    pub requests: Vec<QuotaRequest>,
}

/// One requested increase of a quota.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotaRequest {
    /// `PENDING`, `CASE_OPENED`, `APPROVED`, `DENIED`, `CASE_CLOSED`, ...
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desired: Option<f64>,
}

impl QuotaRequest {
    /// Still waiting for AWS (or a Support case): another request would be refused.
    pub fn is_open(&self) -> bool {
        matches!(self.status.as_str(), "PENDING" | "CASE_OPENED")
    }
}

/// The changes api-throttle makes, each only when the team opted in.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ApiChange {
    /// `QUOTA_INCREASE=request`: ask Service Quotas for more (with
    /// `SupportCaseAllowed=false`). There is no decrease API: a granted increase cannot be
    /// undone by unthrottle.
    #[serde(rename_all = "camelCase")]
    RequestQuotaIncrease {
        service_code: String,
        quota_code: String,
        desired: f64,
    },
    /// `SSM_HIGH_THROUGHPUT=enable`: turn on Parameter Store's higher throughput in the
    /// Region (`UpdateServiceSetting` to `true`); undone by `ResetServiceSetting`.
    #[serde(rename_all = "camelCase")]
    EnableHighThroughput { setting_id: String },
}

/// `RequestServiceQuotaIncrease`.
pub const REQUEST_QUOTA_INCREASE: Action = Action::named("RequestServiceQuotaIncrease");
/// `UpdateServiceSetting`.
pub const UPDATE_SERVICE_SETTING: Action = Action::named("UpdateServiceSetting");

/// Who was throttled on this API recently, as the ledger counted them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Callers {
    /// The window counted, in minutes.
    pub minutes: u32,
    /// Throttled calls counted in it, this one included.
    pub total: u32,
    /// The callers, most throttled first (at most [`Callers::SHOWN`]).
    pub top: Vec<CallerCount>,
    pub pattern: Pattern,
}

impl Callers {
    /// How many callers a result names.
    pub const SHOWN: usize = 5;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallerCount {
    pub caller: String,
    pub events: u32,
}

/// One caller, or many.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pattern {
    /// One caller has most of the throttled calls: a burst or a retry storm (same caller,
    /// same API). Fix that caller.
    OneCaller,
    /// Throttled calls spread over several callers: together they exceed the account's rate.
    FanOut,
}
