//! The api-throttle planner: a pure function from the throttled call and its callers to a
//! finding a human can act on in one read. Each case, its advice and its AWS source are in
//! docs/api-throttles.md.
//!
//! 1. Which case: the service and the API decide, with STS's endpoint type (a caller already
//!    on a regional endpoint is never told to switch to one).
//! 2. Who: the ledger's counts of the last minutes name the top callers and whether one
//!    caller bursts (a retry storm) or many fan out.
//! 3. What to do: the case's advice, and the quota that applies when one does.

use super::limits::{
    KMS_KEY_STATE_CHANGES, KMS_OTHER_CRYPTOGRAPHIC_OPERATIONS, KMS_SYMMETRIC_OPERATIONS, KMS_SYMMETRIC_QUOTA,
    SSM_PARAMETER_READS, family_quota, known_quota,
};
use super::model::{ApiChange, ApiSignal, ApiTarget, CallerCount, Callers, Pattern};
use crate::core::diagnosis::Diagnosis;
use crate::core::plan::{Decision, Finding, FindingCode, Quota};

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

/// The quota that applies to the case, when one does.
pub fn quota_of(target: &ApiTarget, case: FindingCode) -> Option<Quota> {
    match (&target.signal, case) {
        (ApiSignal::QuotaPressure { quota_code, .. }, _) => known_quota(quota_code).map(|known| known.quota),
        (ApiSignal::UsageAlarm, _) => family_quota(&target.api).map(|known| known.quota),
        (_, FindingCode::KmsRequestQuota) if KMS_SYMMETRIC_OPERATIONS.contains(&target.api.as_str()) => {
            Some(KMS_SYMMETRIC_QUOTA)
        }
        _ => None,
    }
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
                    " (for Sign, Verify and key pairs the family is the key's type: RSA, ECC or HMAC)"
                }
            ),
        ),
        FindingCode::KmsKeyStateBurst => (
            "consolidate-kms-key-changes",
            "consolidate the key management calls (enable, disable, policy, alias, grant and tag changes) that \
             burst on the same keys: make them once at deploy time, not per request"
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

/// What to tell a human about this throttle. Nothing is changed.
pub fn plan(target: &ApiTarget, diagnosis: &Diagnosis<Callers>) -> Decision<ApiChange> {
    let case = case_of(target);
    let quota = quota_of(target, case);
    let (advice_id, advice_text) = advice(target, case);
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
    }
    detail.push_str(&format!(". What to do: {advice_text}"));
    Decision::Diagnosed(Finding {
        code: case,
        detail,
        hold_back: false,
        quota,
        // api-throttle is where quota pressure is announced to: it never announces.
        announce: false,
        advice: Some(advice_id),
    })
}

fn who(callers: &Callers) -> String {
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
