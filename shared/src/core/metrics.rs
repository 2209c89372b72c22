//! What is counted. Every report becomes one count: `AutoFix` (dimensions `Service`,
//! `Action`) for a change made, `AutoRestore` (the same) for a step restore took back down, `Skipped` / `Failed` (dimensions `Service`, `Reason`),
//! and for a cause no change fixes the finding's own metric (`HotPartition`,
//! `OnDemandMaximum`, `AccountQuota`, `ReadFanOut`, `OnDemandStreamLimit`, `HotPartitionKey`; dimension
//! `Service`), or for api-throttle's cases `ThrottleEventsObserved` (dimensions `Service`,
//! `Api`, `Case`). A throttle that came back after
//! unthrottle's change settled also counts `FixIneffective` (dimensions `Service`, `Cause`),
//! and a quota increase requested `QuotaIncreaseRequested` (dimensions `Service`: the quota's
//! service code, `QuotaCode`).
//! Dry runs publish nothing. The port is `core::ports::Metrics`.

use std::str::FromStr;

use strum::EnumString;

use crate::core::plan::FindingCode;

use crate::core::report::{Outcome, Report};

pub const AUTO_FIX: &str = "AutoFix";
pub const AUTO_RESTORE: &str = "AutoRestore";
pub const SKIPPED: &str = "Skipped";
pub const FAILED: &str = "Failed";

/// One count of 1 with its dimensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datum {
    pub name: &'static str,
    pub dimensions: Vec<(&'static str, String)>,
}

/// Counted beside a quota increase requested (dimensions `Service`, the quota's service code,
/// and `QuotaCode`).
pub const QUOTA_INCREASE_REQUESTED: &str = "QuotaIncreaseRequested";

/// Counted beside a result whose throttle came back after unthrottle's last change
/// settled (dimensions `Service`, `Cause`).
pub const FIX_INEFFECTIVE: &str = "FixIneffective";

pub fn data_for(reports: &[Report]) -> Vec<Datum> {
    let outcomes = reports.iter().filter_map(|report| {
        let service = ("Service", report.service.metric_name.to_owned());
        let (name, second) = match report.outcome {
            Outcome::Remediated => (AUTO_FIX, ("Action", report.action.as_ref()?.name().to_owned())),
            Outcome::Restored => (
                AUTO_RESTORE,
                ("Action", report.action.as_ref()?.name().to_owned()),
            ),
            Outcome::Skipped => (SKIPPED, ("Reason", report.code?.to_owned())),
            Outcome::Failed => (FAILED, ("Reason", report.code?.to_owned())),
            Outcome::Diagnosed => {
                let finding = FindingCode::from_str(report.code?).ok()?;
                let mut dimensions = vec![service];
                if finding.is_api_case() {
                    // The API (`kms.Decrypt`) and the case: bounded; the caller is not.
                    dimensions.push(("Api", report.resource.clone()?));
                    dimensions.push(("Case", finding.code().to_owned()));
                }
                return Some(Datum {
                    name: finding.metric_name(),
                    dimensions,
                });
            }
            Outcome::Planned => return None,
        };
        Some(Datum {
            name,
            dimensions: vec![service, second],
        })
    });
    let ineffective = reports
        .iter()
        .filter(|report| report.fix_did_not_hold.is_some() && report.outcome != Outcome::Planned)
        .map(|report| Datum {
            name: FIX_INEFFECTIVE,
            dimensions: vec![
                ("Service", report.service.metric_name.to_owned()),
                ("Cause", report.cause.unwrap_or("unknown").to_owned()),
            ],
        });
    let quota_requests = reports
        .iter()
        .filter(|report| report.outcome == Outcome::Remediated)
        .filter_map(|report| {
            Some(Datum {
                name: QUOTA_INCREASE_REQUESTED,
                // The quota's service (`kms`), not the function's.
                dimensions: vec![
                    ("Service", report.quota?.service_code.to_owned()),
                    ("QuotaCode", report.quota?.quota_code.to_owned()),
                ],
            })
        });
    outcomes.chain(ineffective).chain(quota_requests).collect()
}

/// How metrics leave the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, EnumString)]
#[strum(serialize_all = "kebab-case", ascii_case_insensitive)]
pub enum MetricsMode {
    /// CloudWatch Embedded Metric Format lines on stdout: no API call, no permission.
    #[default]
    Emf,
    /// CloudWatch PutMetricData.
    PutMetricData,
}
