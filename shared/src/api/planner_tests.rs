use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::api::model::{ApiSignal, ApiTarget, CallerCount, Pattern};
use crate::core::envelope::Scope;

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 10, 16, 5).unwrap()
}

fn call(service: &str, api: &str) -> ApiTarget {
    ApiTarget {
        name: format!("{service}.{api}"),
        service: service.into(),
        api: api.into(),
        caller: Some("arn:aws:iam::123456789012:role/app".into()),
        sdk: Some("aws-sdk-java/2.29.15".into()),
        host: None,
        sts_endpoint: None,
        error_code: Some("ThrottlingException".into()),
        signal: ApiSignal::CloudTrail,
        scope: Scope {
            account: "123456789012".into(),
            region: "us-east-1".into(),
        },
        at: at(),
        event_id: "e1".into(),
    }
}

fn sts(endpoint: Option<&str>, host: Option<&str>) -> ApiTarget {
    ApiTarget {
        sts_endpoint: endpoint.map(str::to_owned),
        host: host.map(str::to_owned),
        ..call("sts", "AssumeRole")
    }
}

/// Each case from the service, the API and STS's endpoint type, with its advice and quota.
#[test]
fn each_throttle_is_the_case_its_service_and_api_make_it() {
    use FindingCode::*;
    let cases: [(&str, ApiTarget, FindingCode, &str, Option<&str>); 14] = [
        (
            "STS global endpoint, as CloudTrail says",
            sts(Some("global"), Some("sts.amazonaws.com")),
            StsGlobalEndpoint,
            "use-regional-sts-endpoints",
            None,
        ),
        (
            "STS global endpoint with a regionalised host",
            sts(Some("global"), Some("sts-global.eu-west-1.amazonaws.com")),
            StsGlobalEndpoint,
            "use-regional-sts-endpoints",
            None,
        ),
        (
            "STS regional: never told to switch to regional",
            sts(Some("regional"), Some("sts.us-east-1.amazonaws.com")),
            StsRateLimit,
            "cache-sts-credentials",
            None,
        ),
        (
            "STS without endpointType, the global host",
            sts(None, Some("sts.amazonaws.com")),
            StsGlobalEndpoint,
            "use-regional-sts-endpoints",
            None,
        ),
        (
            "STS without endpointType or a global host",
            sts(None, Some("sts.us-east-1.amazonaws.com")),
            StsRateLimit,
            "cache-sts-credentials",
            None,
        ),
        (
            "IAM",
            call("iam", "GetRole"),
            IamRateLimit,
            "cache-iam-reads",
            None,
        ),
        (
            "KMS Decrypt: the symmetric family's quota",
            call("kms", "Decrypt"),
            KmsRequestQuota,
            "cache-kms-data-keys",
            Some("L-6E3AF000"),
        ),
        (
            "KMS GenerateDataKey: the same family",
            call("kms", "GenerateDataKey"),
            KmsRequestQuota,
            "cache-kms-data-keys",
            Some("L-6E3AF000"),
        ),
        (
            "KMS Sign: the family is the key's, not named",
            call("kms", "Sign"),
            KmsRequestQuota,
            "cache-kms-data-keys",
            None,
        ),
        (
            "KMS key state changes",
            call("kms", "DisableKey"),
            KmsKeyStateBurst,
            "consolidate-kms-key-changes",
            None,
        ),
        (
            "SSM GetParameter",
            call("ssm", "GetParameter"),
            SsmParameterThroughput,
            "ssm-higher-throughput",
            None,
        ),
        (
            "EC2",
            call("ec2", "DescribeInstances"),
            Ec2RequestLimit,
            "ec2-paginate-and-filter",
            None,
        ),
        (
            "DynamoDB control plane",
            call("dynamodb", "DescribeTable"),
            ControlPlanePolling,
            "cache-describe-results",
            None,
        ),
        (
            "anything else",
            call("lambda", "GetFunction"),
            ApiRateLimit,
            "adaptive-retry",
            None,
        ),
    ];
    for (name, target, case, advice_id, quota) in cases {
        let Decision::Diagnosed(finding) = plan(&target, &Diagnosis::NotNeeded) else {
            panic!("{name}: api-throttle only diagnoses");
        };
        assert_eq!(finding.code, case, "{name}");
        assert_eq!(finding.advice, Some(advice_id), "{name}");
        assert_eq!(finding.quota.map(|q| q.quota_code), quota, "{name}");
        assert!(
            !finding.announce && !finding.hold_back,
            "{name}: never announces, never holds back"
        );
        assert!(!finding.detail.contains("  "), "{name}: {}", finding.detail);
    }
}

#[test]
fn a_usage_alarm_and_a_quota_announcement_name_their_quota() {
    let alarm = ApiTarget {
        signal: ApiSignal::UsageAlarm,
        caller: None,
        ..call("kms", "CryptographicOperationsSymmetric")
    };
    let Decision::Diagnosed(finding) = plan(&alarm, &Diagnosis::NotNeeded) else {
        panic!("diagnosed")
    };
    assert_eq!(finding.code, FindingCode::KmsRequestQuota);
    assert_eq!(finding.quota.map(|q| q.quota_code), Some("L-6E3AF000"));

    let pressure = ApiTarget {
        signal: ApiSignal::QuotaPressure {
            resource: "customers".into(),
            quota_code: "L-AB614373".into(),
            quota_name: "Table-level write throughput limit".into(),
            reason: "at the per-table quota".into(),
        },
        ..call("dynamodb", "L-AB614373")
    };
    let Decision::Diagnosed(finding) = plan(&pressure, &Diagnosis::NotNeeded) else {
        panic!("diagnosed")
    };
    assert_eq!(finding.code, FindingCode::AccountQuota);
    assert_eq!(finding.advice, Some("request-quota-increase"));
    assert_eq!(finding.quota.map(|q| q.quota_code), Some("L-AB614373"));
    assert!(!finding.announce, "an announcement is never announced again");

    // A quota code unthrottle does not know is not named as one.
    let unknown = ApiTarget {
        signal: ApiSignal::QuotaPressure {
            resource: "x".into(),
            quota_code: "L-00000000".into(),
            quota_name: "?".into(),
            reason: String::new(),
        },
        ..call("dynamodb", "L-00000000")
    };
    let Decision::Diagnosed(finding) = plan(&unknown, &Diagnosis::NotNeeded) else {
        panic!("diagnosed")
    };
    assert_eq!(finding.quota, None);
}

fn counts(rows: &[(&str, u32)]) -> Vec<CallerCount> {
    rows.iter()
        .map(|(caller, events)| CallerCount {
            caller: (*caller).into(),
            events: *events,
        })
        .collect()
}

/// One caller with most of the calls is a burst; a spread is fan-out; the top is named first.
#[test]
fn callers_are_ranked_and_their_pattern_named() {
    let cases: [(&str, Vec<CallerCount>, Pattern, u32, &str); 5] = [
        ("one caller", counts(&[("a", 1)]), Pattern::OneCaller, 1, "a"),
        (
            "one caller with most",
            counts(&[("b", 2), ("a", 40)]),
            Pattern::OneCaller,
            42,
            "a",
        ),
        (
            "at the 80% line",
            counts(&[("a", 8), ("b", 2)]),
            Pattern::OneCaller,
            10,
            "a",
        ),
        (
            "below it: fan-out",
            counts(&[("a", 7), ("b", 2), ("c", 1)]),
            Pattern::FanOut,
            10,
            "a",
        ),
        (
            "ties by name",
            counts(&[("b", 5), ("a", 5)]),
            Pattern::FanOut,
            10,
            "a",
        ),
    ];
    for (name, rows, pattern, total, top) in cases {
        let ranked = callers(rows, 15);
        assert_eq!(ranked.pattern, pattern, "{name}");
        assert_eq!(ranked.total, total, "{name}");
        assert_eq!(ranked.top[0].caller, top, "{name}");
    }
    let many = callers(
        counts(&[
            ("a", 1),
            ("b", 1),
            ("c", 1),
            ("d", 1),
            ("e", 1),
            ("f", 1),
            ("g", 1),
        ]),
        15,
    );
    assert_eq!(many.top.len(), Callers::SHOWN);
    assert_eq!(many.total, 7, "the total counts the callers not shown");

    let finding = match plan(
        &call("iam", "GetRole"),
        &Diagnosis::Measured(callers(counts(&[("a", 9), ("b", 1)]), 15)),
    ) {
        Decision::Diagnosed(finding) => finding,
        other => panic!("{other:?}"),
    };
    assert!(
        finding
            .detail
            .contains("10 throttled call(s) in the last 15 minutes, by a (9), b (1)"),
        "{}",
        finding.detail
    );
    assert!(
        finding.detail.contains("one caller bursting"),
        "{}",
        finding.detail
    );
}
