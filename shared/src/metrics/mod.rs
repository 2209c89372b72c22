//! The metrics port. Every report becomes one count: `AutoFix` (dimensions `Service`,
//! `Action`) for a change made, `Skipped` / `Failed` (dimensions `Service`, `Reason`)
//! otherwise. Dry runs publish nothing.

pub mod cloudwatch;
pub mod emf;

use std::future::Future;
use std::str::FromStr;

use crate::pipeline::PortError;
use crate::report::{Outcome, Report};

pub const AUTO_FIX: &str = "AutoFix";
pub const SKIPPED: &str = "Skipped";
pub const FAILED: &str = "Failed";

/// One count of 1 with its dimensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datum {
    pub name: &'static str,
    pub dimensions: Vec<(&'static str, String)>,
}

pub fn data_for(reports: &[Report]) -> Vec<Datum> {
    reports
        .iter()
        .filter_map(|report| {
            let service = ("Service", report.service.metric_name().to_owned());
            let (name, second) = match report.outcome {
                Outcome::Remediated => (AUTO_FIX, ("Action", report.action?.name().to_owned())),
                Outcome::Skipped => (SKIPPED, ("Reason", report.code?.to_owned())),
                Outcome::Failed => (FAILED, ("Reason", report.code?.to_owned())),
                Outcome::Planned => return None,
            };
            Some(Datum {
                name,
                dimensions: vec![service, second],
            })
        })
        .collect()
}

pub trait MetricSink: Send + Sync {
    fn publish(&self, reports: &[Report]) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// How metrics leave the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetricsMode {
    /// CloudWatch Embedded Metric Format lines on stdout: no API call, no permission.
    #[default]
    Emf,
    /// CloudWatch PutMetricData.
    PutMetricData,
}

impl FromStr for MetricsMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "emf" => Ok(Self::Emf),
            "put-metric-data" => Ok(Self::PutMetricData),
            _ => Err("emf or put-metric-data".into()),
        }
    }
}

/// The sink main builds from `METRICS_MODE`: one type, so the pipeline's type is fixed.
pub enum ConfiguredSink {
    Emf(emf::EmfSink<std::io::Stdout>),
    PutMetricData(cloudwatch::PutMetricDataSink),
}

impl MetricSink for ConfiguredSink {
    async fn publish(&self, reports: &[Report]) -> Result<(), PortError> {
        match self {
            ConfiguredSink::Emf(sink) => sink.publish(reports).await,
            ConfiguredSink::PutMetricData(sink) => sink.publish(reports).await,
        }
    }
}
