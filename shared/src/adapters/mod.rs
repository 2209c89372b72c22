//! The AWS SDK behind the ports every service shares, and what each service's own SDK
//! adapter builds on: one `SdkConfig`, one error classification.

pub mod archive;
pub mod clients;
pub mod cloudwatch;
pub mod emf;
pub mod errors;
pub mod events;
pub mod kept;
pub mod ledger;
pub mod snapshots;

use aws_config::SdkConfig;

use crate::core::config::CoreSettings;
use crate::core::error::Result;
use crate::core::ports::{Apply, Describe, Diagnose, Metrics};
use crate::core::report::Report;
use crate::core::service::Service;

/// A service as deployed: how its SDK adapter is built from the one `SdkConfig` (and the
/// core settings, for an adapter that keeps its own records in the ledger table).
pub trait Deploy: Service {
    type Resources: Describe<Self> + Diagnose<Self> + Apply<Self>;
    fn resources(&self, sdk: &SdkConfig, core: &CoreSettings) -> Self::Resources;
}

/// The metrics adapter `METRICS_MODE` chose: one type, so the pipeline's type is fixed.
pub enum ConfiguredMetrics {
    Emf(emf::EmfSink<std::io::Stdout>),
    PutMetricData(cloudwatch::PutMetricDataSink),
}

impl Metrics for ConfiguredMetrics {
    async fn publish(&self, reports: &[Report]) -> Result<()> {
        match self {
            ConfiguredMetrics::Emf(sink) => sink.publish(reports).await,
            ConfiguredMetrics::PutMetricData(sink) => sink.publish(reports).await,
        }
    }
}
