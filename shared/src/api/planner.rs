//! The api-throttle planner: a pure function from the throttled call and its callers to a
//! finding a human can act on in one read. Each case, its advice and its AWS source are in
//! docs/api-throttles.md.
//!
//! 1. Which case: the service and the API decide, with STS's endpoint type (a caller already
//!    on a regional endpoint is never told to switch to one).
//! 2. Who: the ledger's counts of the last minutes name the top callers and whether one
//!    caller bursts (a retry storm) or many fan out.
//! 3. What to do: the case's advice, and the quota that applies when one does.
//! 4. With `QUOTA_INCREASE=request` only: ask for more of a known, adjustable quota when the
//!    throttling is sustained, no request for it is open or younger than 24 h, and the new
//!    value stays within `QUOTA_MAX_FACTOR` times AWS's default. With
//!    `SSM_HIGH_THROUGHPUT=enable` only: turn on Parameter Store's higher throughput under
//!    the same guards (sustained, nothing pending, untouched for 24 h). Any guard that
//!    refuses is named in the finding; nothing is changed.

use super::limits::{
    KMS_KEY_STATE_CHANGES, KMS_OTHER_CRYPTOGRAPHIC_OPERATIONS, KMS_SYMMETRIC_OPERATIONS, KMS_SYMMETRIC_QUOTA,
    SSM_PARAMETER_READS, family_quota, known_quota,
};
use chrono::{DateTime, Utc};
use serde_json::json;

use super::model::{
    ApiChange, ApiSignal, ApiState, ApiTarget, CallerCount, Callers, HIGH_THROUGHPUT_SETTING, Pattern,
    QuotaState, REQUEST_QUOTA_INCREASE, SettingState, UPDATE_SERVICE_SETTING,
};
use crate::core::diagnosis::Diagnosis;
use crate::core::domain::HistoryEntry;
use crate::core::guards::rolling_day;
use crate::core::plan::{Decision, Finding, FindingCode, Proposal, Quota};

/// The team's rules for raising an account's API limits: quota increases (off unless
/// `QUOTA_INCREASE=request`) and SSM's higher throughput (off unless
/// `SSM_HIGH_THROUGHPUT=enable`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RaisePolicy {
    /// `QUOTA_INCREASE=request`.
    pub request: bool,
    /// `SSM_HIGH_THROUGHPUT=enable`.
    pub high_throughput: bool,
    /// `QUOTA_FACTOR`: the desired value is the current one times this.
    pub factor: f64,
    /// `QUOTA_MAX_FACTOR`: never above AWS's default times this, so increases cannot
    /// compound day after day.
    pub max_factor: f64,
    /// `QUOTA_MIN_EVENTS`: throttled calls counted in the callers' window
    /// (`THROTTLE_WINDOW_MINUTES`) before a CloudTrail throttle is sustained enough (an
    /// alarm or an announcement is already).
    pub min_events: u32,
}

/// A caller with at least this share of the throttled calls is "one caller".
const ONE_CALLER_SHARE: f64 = 0.8;

/// Which case an event is.
pub fn case_of(target: &ApiTarget) -> FindingCode {
    if matches!(target.signal, ApiSignal::QuotaPressure { .. }) {
        return FindingCode::AccountQuota;
    }
    let api = target.api.as_str();
    match target.service.as_str() {
        "sts" if on_sts_global_endpoint(target) => FindingCode::StsGlobalEndpoint,
        "sts" => FindingCode::StsRateLimit,
        "iam" => FindingCode::IamRateLimit,
        "kms" if matches!(target.signal, ApiSignal::UsageAlarm) => FindingCode::KmsRequestQuota,
        "kms" if KMS_KEY_STATE_CHANGES.contains(&api) => FindingCode::KmsKeyStateBurst,
        "kms"
            if KMS_SYMMETRIC_OPERATIONS.contains(&api)
                || KMS_OTHER_CRYPTOGRAPHIC_OPERATIONS.contains(&api) =>
        {
            FindingCode::KmsRequestQuota
        }
        "ssm" if SSM_PARAMETER_READS.contains(&api) => FindingCode::SsmParameterThroughput,
        "ec2" => FindingCode::Ec2RequestLimit,
        // Only their control plane reaches this function: the data plane is capacity.
        "dynamodb" | "kinesis" => FindingCode::ControlPlanePolling,
        _ => FindingCode::ApiRateLimit,
    }
}

/// STS's own word (`endpointType`) decides; without it, only the global host name does.
/// Global calls may show a regionalised `sts-global.<region>` host, so the host alone never
/// says "regional".
fn on_sts_global_endpoint(target: &ApiTarget) -> bool {
    match target.sts_endpoint.as_deref() {
        Some(kind) => kind.eq_ignore_ascii_case("global"),
        None => target
            .host
            .as_deref()
            .is_some_and(|host| host == "sts.amazonaws.com" || host.starts_with("sts-global.")),
    }
}

/// The quota an API's calls count against, from its `service.API` name alone (so the
/// describe can read it): a known quota's code (what a `Quota Pressure` event names), a
/// usage alarm's operation family, or a KMS symmetric cryptographic operation.
pub fn quota_named(service: &str, api: &str) -> Option<Quota> {
    let known = known_quota(api)
        .or_else(|| family_quota(api))
        .map(|known| known.quota)
        .filter(|quota| quota.service_code == service);
    known.or_else(|| {
        (service == "kms" && KMS_SYMMETRIC_OPERATIONS.contains(&api)).then_some(KMS_SYMMETRIC_QUOTA)
    })
}

/// The SSM service setting that raises an API's throughput, from its `service.API` name
/// alone (so the describe can read it).
pub fn setting_named(service: &str, api: &str) -> Option<&'static str> {
    (service == "ssm" && SSM_PARAMETER_READS.contains(&api)).then_some(HIGH_THROUGHPUT_SETTING)
}

/// The stable id of what to do, and the sentence that says it.
pub fn advice(target: &ApiTarget, case: FindingCode) -> (&'static str, String) {
    match case {
        FindingCode::StsGlobalEndpoint => (
            "use-regional-sts-endpoints",
            "use STS's regional endpoints (AWS_STS_REGIONAL_ENDPOINTS=regional, or sts_regional_endpoints in the \
             shared config; current SDKs default to regional) and cache credentials for their lifetime; the global \
             endpoint's quota is shared and not adjustable"
                .into(),
        ),
        FindingCode::StsRateLimit => (
            "cache-sts-credentials",
            "cache the credentials for their lifetime instead of calling STS per request, and retry with backoff \
             and jitter; STS quotas are not adjustable"
                .into(),
        ),
        FindingCode::IamRateLimit => (
            "cache-iam-reads",
            "cache IAM reads and move lookups out of hot paths; IAM is global, its request rates are not adjustable"
                .into(),
        ),
        FindingCode::KmsRequestQuota => (
            "cache-kms-data-keys",
            format!(
                "cut calls to KMS: cache data keys (the AWS Encryption SDK's caching), use S3 Bucket Keys for SSE-KMS, \
                 and batch where the API allows; the quota is per account and region and shared by every key of the \
                 family{}, so spreading keys does not help. Keys in a custom key store have their own quota, raised by \
                 a Support case",
                if family_quota(&target.api).is_some() || KMS_SYMMETRIC_OPERATIONS.contains(&target.api.as_str()) {
                    ""
                } else {
                    " (for Sign, Verify and key pairs the family is the key's type: RSA, ECC or SM2)"
                }
            ),
        ),
        FindingCode::KmsKeyStateBurst => (
            "consolidate-kms-key-changes",
            "consolidate the key state changes (enable, disable, deletion and rotation calls) that burst on the \
             same keys: make them once at deploy time, not per request"
                .into(),
        ),
        FindingCode::SsmParameterThroughput => (
            "ssm-higher-throughput",
            "cache parameters in the caller (the Parameters and Secrets Lambda extension does), or turn on Parameter \
             Store's higher throughput, a paid per-Region setting (UpdateServiceSetting \
             /ssm/parameter-store/high-throughput-enabled; undone by ResetServiceSetting)"
                .into(),
        ),
        FindingCode::Ec2RequestLimit => (
            "ec2-paginate-and-filter",
            "paginate and filter Describe calls (unfiltered, unpaginated ones draw on a smaller bucket) and use the \
             SDK's adaptive retry mode; EC2's API rates are raised through a Support case, not Service Quotas"
                .into(),
        ),
        FindingCode::ControlPlanePolling => (
            "cache-describe-results",
            format!(
                "a caller polls {} {} in a hot path: cache the result for minutes and back off with jitter; more \
                 capacity does not raise a control-plane rate, and it is not a Service Quotas quota",
                target.service, target.api
            ),
        ),
        FindingCode::AccountQuota => (
            "request-quota-increase",
            "request an increase of the quota in Service Quotas; until it is granted the resource stays held back"
                .into(),
        ),
        _ => (
            "adaptive-retry",
            "use the SDK's adaptive retry mode (with jitter), cache and batch what the caller reads; if the API's \
             quota is adjustable in Service Quotas, request more"
                .into(),
        ),
    }
}

/// The digest line of a new (service, API, caller) incident.
pub fn digest_line(target: &ApiTarget, caller: &str) -> String {
    let case = case_of(target);
    let (advice_id, _) = advice(target, case);
    format!(
        "unthrottle: {} {} throttled for {caller} in {} {}: {} ({advice_id})",
        target.service,
        target.api,
        target.scope.account,
        target.scope.region,
        case.code()
    )
}

/// The callers the ledger counted, most throttled first, and their pattern.
pub fn callers(mut counts: Vec<CallerCount>, minutes: u32) -> Callers {
    counts.sort_by(|a, b| b.events.cmp(&a.events).then_with(|| a.caller.cmp(&b.caller)));
    let total = counts.iter().map(|count| count.events).sum::<u32>();
    let first = counts.first().map_or(0, |count| count.events);
    let pattern = if counts.len() <= 1 || f64::from(first) >= ONE_CALLER_SHARE * f64::from(total) {
        Pattern::OneCaller
    } else {
        Pattern::FanOut
    };
    counts.truncate(Callers::SHOWN);
    Callers {
        minutes,
        total,
        top: counts,
        pattern,
    }
}

/// What to tell a human about this throttle, and, where the policy and every guard allow,
/// the quota increase to request or SSM's higher throughput to turn on.
pub fn plan(
    target: &ApiTarget,
    state: &ApiState,
    diagnosis: &Diagnosis<Callers>,
    history: &[HistoryEntry],
    policy: &RaisePolicy,
    now: DateTime<Utc>,
) -> Decision<ApiChange> {
    let mut finding = finding(target, state, diagnosis);
    let raise = if finding.code == FindingCode::SsmParameterThroughput && policy.high_throughput {
        Some(
            higher_throughput(target, state, diagnosis, history, policy, now)
                .map_err(|why| format!("Higher throughput was not turned on: {why}")),
        )
    } else {
        finding.quota.filter(|_| policy.request).map(|quota| {
            state
                .quota
                .as_ref()
                .ok_or_else(|| "Service Quotas did not say what the quota is".to_owned())
                .and_then(|current| increase(target, quota, current, diagnosis, policy, now))
                .map_err(|why| format!("No increase was requested: {why}"))
        })
    };
    match raise {
        Some(Ok(proposal)) => Decision::Act(proposal),
        Some(Err(why)) => {
            finding.detail.push_str(&format!(". {why}"));
            Decision::Diagnosed(finding)
        }
        None => Decision::Diagnosed(finding),
    }
}

/// Whether Parameter Store's higher throughput may be turned on, as the setting reads now:
/// not on already, no change pending, not set to `false` by someone (their choice stands
/// until the setting is reset to AWS's default), and not changed by anyone in 24 h. The
/// planner decides on it, and the change reads the setting again, uncached, and decides
/// again right before it is made.
pub fn may_turn_on(setting: &SettingState, now: DateTime<Utc>) -> Result<(), String> {
    if setting.is_on() {
        return Err(format!(
            "it is on already ({}): cache parameters in the caller",
            setting.status
        ));
    }
    if setting.is_pending() {
        return Err("SSM is still applying a change to it (PendingUpdate)".into());
    }
    let by = setting.modified_by.as_deref().unwrap_or("an unnamed user");
    if setting.is_customized() {
        return Err(format!(
            "{by} set it to {}: their choice stands until the setting is reset to AWS's default",
            setting.value
        ));
    }
    if let Some(changed) = setting.modified.filter(|changed| now - *changed < rolling_day()) {
        return Err(format!(
            "it was changed at {} by {by}: at most one change per 24 h",
            changed.to_rfc3339()
        ));
    }
    Ok(())
}

/// A CloudTrail throttle is sustained once `QUOTA_MIN_EVENTS` calls are counted in the
/// window; an alarm or an announcement already is.
fn sustained(target: &ApiTarget, diagnosis: &Diagnosis<Callers>, policy: &RaisePolicy) -> Result<(), String> {
    if !matches!(target.signal, ApiSignal::CloudTrail) {
        return Ok(());
    }
    let Diagnosis::Measured(callers) = diagnosis else {
        return Err("the throttled calls could not be counted, so it is not known to be sustained".into());
    };
    if callers.total < policy.min_events {
        return Err(format!(
            "{} throttled call(s) counted in the last {} minutes, and QUOTA_MIN_EVENTS is {}: not sustained",
            callers.total, callers.minutes, policy.min_events
        ));
    }
    Ok(())
}

/// Turning on Parameter Store's higher throughput, when every guard allows, or the first
/// guard that refuses, in words. It is a paid setting of the whole Region, so it is turned
/// on only for a sustained throttle and never against a recent decision: a setting changed
/// (or reset) in the last 24 h, by anyone, stays as it is.
fn higher_throughput(
    target: &ApiTarget,
    state: &ApiState,
    diagnosis: &Diagnosis<Callers>,
    history: &[HistoryEntry],
    policy: &RaisePolicy,
    now: DateTime<Utc>,
) -> Result<Proposal<ApiChange>, String> {
    let Some(setting) = &state.throughput else {
        return Err("SSM did not say what the setting is".into());
    };
    may_turn_on(setting, now)?;
    // A paid setting of the whole Region: only throttles counted here turn it on, never
    // an alarm or an event someone else sent.
    if !matches!(target.signal, ApiSignal::CloudTrail) {
        return Err("only counted CloudTrail throttles turn it on".into());
    }
    sustained(target, diagnosis, policy)?;
    if let Some(made) = history
        .iter()
        .find(|entry| entry.action == UPDATE_SERVICE_SETTING && now - entry.at < rolling_day())
    {
        return Err(format!(
            "unthrottle turned it on at {}: at most one change per 24 h",
            made.at.to_rfc3339()
        ));
    }
    let case = case_of(target);
    Ok(Proposal {
        action: UPDATE_SERVICE_SETTING,
        change: ApiChange::EnableHighThroughput {
            setting_id: setting.id.clone(),
        },
        before: json!({ "settingId": setting.id, "value": setting.value, "status": setting.status }),
        after: json!({ "settingId": setting.id, "value": "true" }),
        why: format!(
            "{} {} throttled ({}): turned on Parameter Store's higher throughput in {} (a paid per-Region setting; \
             undo: ResetServiceSetting {})",
            target.service,
            target.api,
            case.code(),
            target.scope.region,
            setting.id
        ),
        cause: Some(case.code()),
        finding: None,
        quota: None,
    })
}

/// The increase every guard allows, or the first guard that refuses, in words.
fn increase(
    target: &ApiTarget,
    quota: Quota,
    current: &QuotaState,
    diagnosis: &Diagnosis<Callers>,
    policy: &RaisePolicy,
    now: DateTime<Utc>,
) -> Result<Proposal<ApiChange>, String> {
    let name = format!("{} ({})", quota.quota_name, quota.quota_code);
    if !known_quota(quota.quota_code).is_some_and(|known| known.may_raise) {
        return Err(format!(
            "{name} is named, never raised by unthrottle (only confirmed quotas an AWS-sourced signal names)"
        ));
    }
    if !current.adjustable {
        return Err(format!(
            "Service Quotas says {name} is not adjustable: a Support case is the way"
        ));
    }
    if matches!(target.signal, ApiSignal::QuotaPressure { .. }) {
        return Err(
            "a Quota Pressure event alone never asks: anyone allowed to put events on the bus \
                    could send one; a sustained CloudTrail throttle or the usage alarm does"
                .into(),
        );
    }
    sustained(target, diagnosis, policy)?;
    if let Some(open) = current.requests.iter().find(|request| request.is_open()) {
        return Err(format!("a request for {name} is open ({})", open.status));
    }
    if let Some(recent) = current
        .requests
        .iter()
        .filter_map(|request| request.created)
        .find(|created| now - *created < rolling_day())
    {
        return Err(format!(
            "one was requested at {}: at most one per quota per 24 h",
            recent.to_rfc3339()
        ));
    }
    let Some(aws_default) = current
        .aws_default
        .filter(|value| value.is_finite() && *value > 0.0)
    else {
        return Err("AWS's default for it could not be read, so QUOTA_MAX_FACTOR cannot be checked".into());
    };
    if !current.value.is_finite() {
        return Err(format!("Service Quotas gave {name} no usable value"));
    }
    let cap = (aws_default * policy.max_factor).floor();
    let wanted = (current.value * policy.factor).ceil();
    let desired = wanted.min(cap);
    if desired <= current.value {
        return Err(format!(
            "it is at the cap: {} now, and QUOTA_MAX_FACTOR {} times AWS's default {} is {cap}",
            current.value, policy.max_factor, aws_default
        ));
    }
    let case = case_of(target);
    Ok(Proposal {
        action: REQUEST_QUOTA_INCREASE,
        change: ApiChange::RequestQuotaIncrease {
            service_code: quota.service_code.to_owned(),
            quota_code: quota.quota_code.to_owned(),
            desired,
        },
        before: json!({ "quotaCode": quota.quota_code, "value": current.value }),
        after: json!({ "quotaCode": quota.quota_code, "desiredValue": desired }),
        why: format!(
            "{} {} throttled ({}): requested {name} {} -> {desired} (QUOTA_FACTOR {}, at most QUOTA_MAX_FACTOR {} \
             times AWS's default {aws_default}); Service Quotas decides, and no Support case is opened",
            target.service,
            target.api,
            case.code(),
            current.value,
            policy.factor,
            policy.max_factor
        ),
        cause: Some(case.code()),
        finding: None,
        quota: Some(quota),
    })
}

/// The finding every throttle gets: the case, who, what to do and the quota.
fn finding(target: &ApiTarget, state: &ApiState, diagnosis: &Diagnosis<Callers>) -> Finding {
    let case = case_of(target);
    // A key outside the symmetric family (or in a custom key store) counts against another
    // quota, which no result names and no request raises.
    let quota = quota_named(&target.service, &target.api).filter(|_| target.other_key.is_none());
    let high_throughput = state
        .throughput
        .as_ref()
        .filter(|_| case == FindingCode::SsmParameterThroughput);
    let (advice_id, advice_text) = match high_throughput {
        Some(setting) if setting.is_on() => (
            "ssm-cache-parameters",
            "cache parameters in the caller (the Parameters and Secrets Lambda extension does) and read them in \
             batches with GetParameters: higher throughput is on already, and its own quota applies"
                .to_owned(),
        ),
        _ => advice(target, case),
    };
    let mut detail = match &target.signal {
        ApiSignal::QuotaPressure {
            resource,
            quota_code,
            quota_name,
            reason,
        } => format!(
            "{} {resource} is held back by the quota {quota_name} ({quota_code}): {reason}",
            target.service
        ),
        ApiSignal::UsageAlarm => format!(
            "{} {} requests are near their quota (the AWS/Usage CallCount alarm)",
            target.service, target.api
        ),
        ApiSignal::CloudTrail => format!(
            "{} {} was throttled ({}) for {}{}",
            target.service,
            target.api,
            target.error_code.as_deref().unwrap_or("throttled"),
            target.caller.as_deref().unwrap_or("an unnamed caller"),
            target
                .sdk
                .as_deref()
                .map(|sdk| format!(" using {sdk}"))
                .unwrap_or_default()
        ),
    };
    if let Some(key) = &target.other_key {
        detail.push_str(&format!(
            ". The call used {key}: its quota is not the symmetric family's (a custom key store's is \
             raised by a Support case)"
        ));
    }
    match diagnosis {
        Diagnosis::Measured(callers) => detail.push_str(&format!(". {}", who(callers))),
        Diagnosis::Unavailable(why) => detail.push_str(&format!(". The callers could not be counted: {why}")),
        Diagnosis::NotNeeded => {}
    }
    if let Some(quota) = quota {
        detail.push_str(&format!(
            ". Quota: {} ({}), service {}",
            quota.quota_name, quota.quota_code, quota.service_code
        ));
        if let Some(current) = state
            .quota
            .as_ref()
            .filter(|current| current.quota_code == quota.quota_code)
        {
            detail.push_str(&format!(
                ": {} now, {}",
                current.value,
                if current.adjustable {
                    "adjustable in Service Quotas"
                } else {
                    "not adjustable (a Support case)"
                }
            ));
        }
    }
    if case == FindingCode::SsmParameterThroughput && high_throughput.is_none() {
        detail.push_str(". Whether higher throughput is on could not be read (GetServiceSetting)");
    }
    if let Some(setting) = high_throughput {
        detail.push_str(&format!(
            ". Higher throughput is {} in {} ({})",
            if setting.is_on() { "on" } else { "off" },
            target.scope.region,
            setting.status
        ));
    }
    detail.push_str(&format!(". What to do: {advice_text}"));
    Finding {
        code: case,
        detail,
        hold_back: false,
        quota,
        // api-throttle is where quota pressure is announced to: it never announces.
        announce: false,
        advice: Some(advice_id),
    }
}

fn who(callers: &Callers) -> String {
    if callers.top.is_empty() {
        return format!(
            "No throttled call counted in the last {} minutes",
            callers.minutes
        );
    }
    let named: Vec<String> = callers
        .top
        .iter()
        .map(|count| format!("{} ({})", count.caller, count.events))
        .collect();
    let pattern = match callers.pattern {
        _ if callers.total <= 1 => "the first throttled call counted",
        Pattern::OneCaller => {
            "one caller bursting (a retry storm when it is the same API again and again): fix that caller"
        }
        Pattern::FanOut => "spread over several callers, which together exceed the account's rate",
    };
    format!(
        "{} throttled call(s) in the last {} minutes, by {}: {pattern}",
        callers.total,
        callers.minutes,
        named.join(", ")
    )
}

#[cfg(test)]
#[path = "planner_tests.rs"]
mod tests;
