use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::api::model::{
    ApiSignal, ApiState, ApiTarget, CallerCount, HIGH_THROUGHPUT_SETTING, Pattern, QuotaRequest, QuotaState,
    SettingState,
};
use crate::core::domain::HistoryEntry;
use crate::core::envelope::Scope;

/// QUOTA_INCREASE=off, the default.
const OFF: RaisePolicy = RaisePolicy {
    request: false,
    high_throughput: false,
    factor: 1.5,
    max_factor: 2.0,
    min_events: 10,
};

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
        other_key: None,
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
    let cases: [(&str, ApiTarget, FindingCode, &str, Option<&str>); 15] = [
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
            "STS without endpointType, a regionalised global host",
            sts(None, Some("sts-global.eu-west-1.amazonaws.com")),
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
        let Decision::Diagnosed(finding) = plan(
            &target,
            &ApiState::default(),
            &Diagnosis::NotNeeded,
            &[],
            &OFF,
            at(),
        ) else {
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
    let Decision::Diagnosed(finding) = plan(
        &alarm,
        &ApiState::default(),
        &Diagnosis::NotNeeded,
        &[],
        &OFF,
        at(),
    ) else {
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
    let Decision::Diagnosed(finding) = plan(
        &pressure,
        &ApiState::default(),
        &Diagnosis::NotNeeded,
        &[],
        &OFF,
        at(),
    ) else {
        panic!("diagnosed")
    };
    assert_eq!(finding.code, FindingCode::AccountQuota);
    assert_eq!(finding.advice, Some("request-quota-increase"));
    assert_eq!(finding.quota.map(|q| q.quota_code), Some("L-AB614373"));
    assert!(!finding.announce, "an announcement is never announced again");
    assert!(
        !finding.hold_back,
        "api-throttle holds nothing back: its role relies on it"
    );

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
    let Decision::Diagnosed(finding) = plan(
        &unknown,
        &ApiState::default(),
        &Diagnosis::NotNeeded,
        &[],
        &OFF,
        at(),
    ) else {
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
        &ApiState::default(),
        &Diagnosis::Measured(callers(counts(&[("a", 9), ("b", 1)]), 15)),
        &[],
        &OFF,
        at(),
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

use crate::testing::kms_quota;

fn sustained(events: u32) -> Diagnosis<Callers> {
    Diagnosis::Measured(callers(
        counts(&[("arn:aws:iam::123456789012:role/app", events)]),
        15,
    ))
}

/// Every guard on a quota increase, each case differing from the one that requests in one
/// input only: removing any guard makes its case request, and the test fails.
#[test]
fn a_quota_increase_is_requested_only_through_every_guard() {
    let on = RaisePolicy { request: true, ..OFF };
    let decrypt = call("kms", "Decrypt");
    let with = |quota: QuotaState| ApiState {
        quota: Some(quota),
        throughput: None,
    };
    let open = |status: &str, hours_ago: i64| QuotaRequest {
        status: status.into(),
        created: Some(at() - chrono::Duration::hours(hours_ago)),
        desired: Some(15_000.0),
    };
    struct Case {
        name: &'static str,
        target: ApiTarget,
        state: ApiState,
        diagnosis: Diagnosis<Callers>,
        history: Vec<HistoryEntry>,
        policy: RaisePolicy,
        /// The desired value requested, or words of the refusal.
        expect: Result<f64, &'static str>,
    }
    let case = |name, state, diagnosis, policy, expect| Case {
        name,
        target: decrypt.clone(),
        state,
        diagnosis,
        history: Vec::new(),
        policy,
        expect,
    };
    let cases = [
        case(
            "every guard passes: 10,000 x 1.5",
            with(kms_quota()),
            sustained(10),
            on,
            Ok(15_000.0),
        ),
        case("off by default", with(kms_quota()), sustained(10), OFF, Err("")),
        case(
            "not adjustable",
            with(QuotaState {
                adjustable: false,
                ..kms_quota()
            }),
            sustained(10),
            on,
            Err("not adjustable"),
        ),
        case(
            "not sustained",
            with(kms_quota()),
            sustained(9),
            on,
            Err("QUOTA_MIN_EVENTS is 10"),
        ),
        case(
            "callers not counted",
            with(kms_quota()),
            Diagnosis::Unavailable("ledger".into()),
            on,
            Err("not known to be sustained"),
        ),
        case(
            "a request is open",
            with(QuotaState {
                requests: vec![open("CASE_OPENED", 72)],
                ..kms_quota()
            }),
            sustained(10),
            on,
            Err("is open (CASE_OPENED)"),
        ),
        case(
            "one was requested within 24 h",
            with(QuotaState {
                requests: vec![open("APPROVED", 23)],
                ..kms_quota()
            }),
            sustained(10),
            on,
            Err("at most one per quota per 24 h"),
        ),
        case(
            "one was requested 25 h ago: allowed again",
            with(QuotaState {
                requests: vec![open("DENIED", 25)],
                ..kms_quota()
            }),
            sustained(10),
            on,
            Ok(15_000.0),
        ),
        case(
            "AWS's default unknown: the cap cannot be checked",
            with(QuotaState {
                aws_default: None,
                ..kms_quota()
            }),
            sustained(10),
            on,
            Err("could not be read"),
        ),
        case(
            "capped at QUOTA_MAX_FACTOR x the default",
            with(QuotaState {
                value: 18_000.0,
                ..kms_quota()
            }),
            sustained(10),
            on,
            Ok(20_000.0),
        ),
        case(
            "at the cap: nothing to ask",
            with(QuotaState {
                value: 20_000.0,
                ..kms_quota()
            }),
            sustained(10),
            on,
            Err("at the cap"),
        ),
        case(
            "the quota could not be read",
            ApiState::default(),
            sustained(10),
            on,
            Err("did not say"),
        ),
        Case {
            name: "a usage alarm is sustained already",
            target: ApiTarget {
                signal: ApiSignal::UsageAlarm,
                caller: None,
                ..call("kms", "CryptographicOperationsSymmetric")
            },
            ..case("", with(kms_quota()), Diagnosis::NotNeeded, on, Ok(15_000.0))
        },
        Case {
            name: "a Quota Pressure event alone never asks",
            target: ApiTarget {
                signal: ApiSignal::QuotaPressure {
                    resource: "x".into(),
                    quota_code: "L-6E3AF000".into(),
                    quota_name: "Cryptographic operations (symmetric) request rate".into(),
                    reason: String::new(),
                },
                ..call("kms", "L-6E3AF000")
            },
            ..case("", with(kms_quota()), sustained(10), on, Err("never asks"))
        },
        Case {
            name: "an asymmetric key's Decrypt names and raises no symmetric quota",
            target: ApiTarget {
                other_key: Some("an asymmetric key (RSAES_OAEP_SHA_256)".into()),
                ..decrypt.clone()
            },
            ..case(
                "",
                with(kms_quota()),
                sustained(10),
                on,
                Err("not the symmetric family's"),
            )
        },
        Case {
            name: "an API without a known quota is never raised",
            target: call("iam", "GetRole"),
            ..case("", with(kms_quota()), sustained(10), on, Err("cache IAM reads"))
        },
        Case {
            name: "a known quota outside the allow-list (RSA: code unconfirmed) is never raised, even by its alarm",
            target: ApiTarget {
                signal: ApiSignal::UsageAlarm,
                caller: None,
                ..call("kms", "CryptographicOperationsRsa")
            },
            ..case(
                "",
                with(QuotaState {
                    quota_code: "L-2AC98190".into(),
                    ..kms_quota()
                }),
                Diagnosis::NotNeeded,
                on,
                Err("never raised by unthrottle"),
            )
        },
        Case {
            name: "QUOTA_FACTOR and QUOTA_MAX_FACTOR as configured: 10,000 x 1.2, under 3 x the default",
            policy: RaisePolicy {
                factor: 1.2,
                max_factor: 3.0,
                ..on
            },
            ..case("", with(kms_quota()), sustained(10), on, Ok(12_000.0))
        },
        Case {
            name: "QUOTA_MAX_FACTOR as configured caps it: 25,000 x 1.5 held to 3 x 10,000",
            policy: RaisePolicy {
                max_factor: 3.0,
                ..on
            },
            ..case(
                "",
                with(QuotaState {
                    value: 25_000.0,
                    ..kms_quota()
                }),
                sustained(10),
                on,
                Ok(30_000.0),
            )
        },
    ];
    for case in cases {
        let decision = plan(
            &case.target,
            &case.state,
            &case.diagnosis,
            &case.history,
            &case.policy,
            at(),
        );
        match (case.expect, decision) {
            (Ok(desired), Decision::Act(proposal)) => {
                assert_eq!(
                    proposal.change,
                    ApiChange::RequestQuotaIncrease {
                        service_code: "kms".into(),
                        quota_code: "L-6E3AF000".into(),
                        desired,
                    },
                    "{}",
                    case.name
                );
                assert_eq!(proposal.action, REQUEST_QUOTA_INCREASE, "{}", case.name);
                assert!(
                    proposal.why.contains("no Support case"),
                    "{}: {}",
                    case.name,
                    proposal.why
                );
            }
            (Err(words), Decision::Diagnosed(finding)) => {
                assert!(
                    finding.detail.contains(words),
                    "{}: {}",
                    case.name,
                    finding.detail
                );
                // A refused guard says so; without a quota named there was nothing to ask.
                if case.policy.request && !words.is_empty() && finding.quota.is_some() {
                    assert!(
                        finding.detail.contains("No increase was requested"),
                        "{}",
                        case.name
                    );
                }
            }
            (expect, other) => panic!("{}: expected {expect:?}, got {other:?}", case.name),
        }
    }
}

/// The finding names the quota's current value and whether it is adjustable when Service
/// Quotas said so, with QUOTA_INCREASE off too.
#[test]
fn the_finding_names_the_quotas_value_and_whether_it_is_adjustable() {
    let state = ApiState {
        quota: Some(kms_quota()),
        throughput: None,
    };
    let Decision::Diagnosed(finding) = plan(
        &call("kms", "Decrypt"),
        &state,
        &Diagnosis::NotNeeded,
        &[],
        &OFF,
        at(),
    ) else {
        panic!("diagnosed")
    };
    assert!(
        finding
            .detail
            .contains("L-6E3AF000), service kms: 10000 now, adjustable in Service Quotas"),
        "{}",
        finding.detail
    );
}

/// Parameter Store's throughput setting as GetServiceSetting reports it at AWS's default.
fn throughput_off() -> SettingState {
    SettingState {
        id: HIGH_THROUGHPUT_SETTING.into(),
        value: "false".into(),
        status: "Default".into(),
        modified: Some(at() - chrono::Duration::days(90)),
        modified_by: Some("System".into()),
    }
}

/// Every guard on turning on SSM's higher throughput, each case differing from the one
/// that turns it on in one input only: removing any guard makes its case act, and the test
/// fails.
#[test]
fn higher_throughput_is_turned_on_only_through_every_guard() {
    let on = RaisePolicy {
        high_throughput: true,
        ..OFF
    };
    let read = call("ssm", "GetParameter");
    let with = |setting: SettingState| ApiState {
        quota: None,
        throughput: Some(setting),
    };
    let changed = |value: &str, hours_ago: i64| SettingState {
        value: value.into(),
        status: "Customized".into(),
        modified: Some(at() - chrono::Duration::hours(hours_ago)),
        modified_by: Some("arn:aws:iam::123456789012:user/ops".into()),
        ..throughput_off()
    };
    struct Case {
        name: &'static str,
        target: ApiTarget,
        state: ApiState,
        diagnosis: Diagnosis<Callers>,
        history: Vec<HistoryEntry>,
        policy: RaisePolicy,
        /// `None`: turned on; otherwise words of the refusal.
        refused: Option<&'static str>,
    }
    let case = |name, state, diagnosis, policy, refused| Case {
        name,
        target: read.clone(),
        state,
        diagnosis,
        history: Vec::new(),
        policy,
        refused,
    };
    let cases = [
        case(
            "every guard passes",
            with(throughput_off()),
            sustained(10),
            on,
            None,
        ),
        case(
            "off by default",
            with(throughput_off()),
            sustained(10),
            OFF,
            Some("turn on Parameter Store's higher throughput"),
        ),
        case(
            "QUOTA_INCREASE=request alone never turns it on",
            with(throughput_off()),
            sustained(10),
            RaisePolicy { request: true, ..OFF },
            Some("turn on Parameter Store's higher throughput"),
        ),
        case(
            "not sustained",
            with(throughput_off()),
            sustained(9),
            on,
            Some("QUOTA_MIN_EVENTS is 10: not sustained"),
        ),
        case(
            "callers not counted",
            with(throughput_off()),
            Diagnosis::Unavailable("ledger".into()),
            on,
            Some("not known to be sustained"),
        ),
        case(
            "on already",
            with(changed("true", 72)),
            sustained(10),
            on,
            Some("it is on already"),
        ),
        case(
            "an update is pending",
            with(SettingState {
                status: "PendingUpdate".into(),
                ..throughput_off()
            }),
            sustained(10),
            on,
            Some("PendingUpdate"),
        ),
        case(
            "a person set it to false, long ago: their choice stands",
            with(changed("false", 2_000)),
            sustained(10),
            on,
            Some("user/ops set it to false: their choice stands"),
        ),
        case(
            "reset to AWS's default 3 h ago",
            with(SettingState {
                modified: Some(at() - chrono::Duration::hours(3)),
                ..throughput_off()
            }),
            sustained(10),
            on,
            Some("at most one change per 24 h"),
        ),
        case(
            "reset 25 h ago: allowed again",
            with(SettingState {
                modified: Some(at() - chrono::Duration::hours(25)),
                ..throughput_off()
            }),
            sustained(10),
            on,
            None,
        ),
        Case {
            name: "unthrottle turned it on within 24 h (SSM gave no date)",
            history: vec![HistoryEntry {
                at: at() - chrono::Duration::hours(5),
                action: UPDATE_SERVICE_SETTING,
                event_id: "earlier".into(),
                subject: None,
            }],
            ..case(
                "",
                with(SettingState {
                    modified: None,
                    ..throughput_off()
                }),
                sustained(10),
                on,
                Some("unthrottle turned it on at"),
            )
        },
        Case {
            name: "a usage alarm never turns on a paid setting",
            target: ApiTarget {
                signal: ApiSignal::UsageAlarm,
                caller: None,
                ..call("ssm", "GetParameter")
            },
            ..case(
                "",
                with(throughput_off()),
                Diagnosis::NotNeeded,
                on,
                Some("only counted CloudTrail throttles"),
            )
        },
        case(
            "the setting could not be read",
            ApiState::default(),
            sustained(10),
            on,
            Some("SSM did not say"),
        ),
        Case {
            name: "a read that is not a parameter read is not this case",
            target: call("ssm", "DescribeParameters"),
            ..case(
                "",
                with(throughput_off()),
                sustained(10),
                on,
                Some("adaptive retry"),
            )
        },
    ];
    for case in cases {
        let decision = plan(
            &case.target,
            &case.state,
            &case.diagnosis,
            &case.history,
            &case.policy,
            at(),
        );
        match (case.refused, decision) {
            (None, Decision::Act(proposal)) => {
                assert_eq!(
                    proposal.change,
                    ApiChange::EnableHighThroughput {
                        setting_id: HIGH_THROUGHPUT_SETTING.into()
                    },
                    "{}",
                    case.name
                );
                assert_eq!(proposal.action, UPDATE_SERVICE_SETTING, "{}", case.name);
                assert_eq!(proposal.before["value"], "false", "{}", case.name);
                assert_eq!(proposal.after["value"], "true", "{}", case.name);
                assert!(
                    proposal.why.contains("undo: ResetServiceSetting"),
                    "{}: {}",
                    case.name,
                    proposal.why
                );
                assert_eq!(proposal.cause, Some("ssm-parameter-throughput"), "{}", case.name);
            }
            (Some(words), Decision::Diagnosed(finding)) => {
                assert!(
                    finding.detail.contains(words),
                    "{}: {}",
                    case.name,
                    finding.detail
                );
                if case.policy.high_throughput && finding.code == FindingCode::SsmParameterThroughput {
                    assert!(
                        finding.detail.contains("Higher throughput was not turned on"),
                        "{}",
                        case.name
                    );
                }
            }
            (expect, other) => panic!("{}: expected {expect:?}, got {other:?}", case.name),
        }
    }
}

/// A caller throttled with higher throughput on already is not told to turn it on.
#[test]
fn with_higher_throughput_on_the_advice_is_to_cache() {
    let state = ApiState {
        quota: None,
        throughput: Some(SettingState {
            value: "true".into(),
            status: "Customized".into(),
            ..throughput_off()
        }),
    };
    let Decision::Diagnosed(finding) = plan(
        &call("ssm", "GetParameter"),
        &state,
        &Diagnosis::NotNeeded,
        &[],
        &OFF,
        at(),
    ) else {
        panic!("diagnosed")
    };
    assert_eq!(finding.advice, Some("ssm-cache-parameters"));
    assert!(
        finding.detail.contains("Higher throughput is on in us-east-1"),
        "{}",
        finding.detail
    );
    assert!(
        !finding.detail.contains("UpdateServiceSetting"),
        "{}",
        finding.detail
    );
    let off = ApiState {
        quota: None,
        throughput: Some(throughput_off()),
    };
    let Decision::Diagnosed(finding) = plan(
        &call("ssm", "GetParameter"),
        &off,
        &Diagnosis::NotNeeded,
        &[],
        &OFF,
        at(),
    ) else {
        panic!("diagnosed")
    };
    assert_eq!(finding.advice, Some("ssm-higher-throughput"));
    assert!(
        finding.detail.contains("Higher throughput is off"),
        "{}",
        finding.detail
    );
}
