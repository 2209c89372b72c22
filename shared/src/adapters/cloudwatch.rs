//! `METRICS_MODE=put-metric-data`: the same counts through CloudWatch PutMetricData.

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};

use crate::adapters::errors::classify;
use crate::core::error::Result;
use crate::core::metrics::data_for;
use crate::core::ports::Metrics;
use crate::core::report::Report;

pub struct PutMetricDataSink {
    client: Client,
    namespace: String,
}

impl PutMetricDataSink {
    pub fn new(client: Client, namespace: impl Into<String>) -> Self {
        Self {
            client,
            namespace: namespace.into(),
        }
    }
}

impl Metrics for PutMetricDataSink {
    async fn publish(&self, reports: &[Report]) -> Result<()> {
        // One event names a handful of resources, far below PutMetricData's 1,000 per call.
        let data: Vec<MetricDatum> = data_for(reports)
            .into_iter()
            .map(|datum| {
                let dimensions = datum
                    .dimensions
                    .into_iter()
                    .map(|(name, value)| Dimension::builder().name(name).value(value).build())
                    .collect();
                MetricDatum::builder()
                    .metric_name(datum.name)
                    .set_dimensions(Some(dimensions))
                    .value(1.0)
                    .unit(StandardUnit::Count)
                    .build()
            })
            .collect();
        if data.is_empty() {
            return Ok(());
        }
        self.client
            .put_metric_data()
            .namespace(&self.namespace)
            .set_metric_data(Some(data))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("PutMetricData", &self.namespace, &e))
    }
}
