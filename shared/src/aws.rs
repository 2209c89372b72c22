//! Building the SDK once per process, and what every adapter shares.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::AfterDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde_json::Value;

use crate::config::CoreConfig;
use crate::ledger::dynamodb::DynamoDbLedger;
use crate::metrics::cloudwatch::PutMetricDataSink;
use crate::metrics::emf::EmfSink;
use crate::metrics::{ConfiguredSink, MetricsMode};
use crate::pipeline::Pipeline;
use crate::snapshot::s3::S3Snapshots;

/// Loads region, credentials and endpoints (including `AWS_ENDPOINT_URL_<SERVICE>`) the
/// SDK's usual way, with bounded retries and timeouts so a call can never outlive the
/// function: at most 3 attempts of 5 s each within 20 s.
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(20))
                .build(),
        )
        .load()
        .await
}

/// The error and its chain of causes, e.g. "service error: LimitExceededException: ...".
/// (The SDK's DisplayErrorContext also appends the Debug form, raw response included,
/// which buries the message a human needs.)
pub fn describe_error<E: std::error::Error>(error: &E) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A function as deployed: the SDK adapters behind every shared port.
pub type DeployedPipeline<R> = Pipeline<R, DynamoDbLedger, S3Snapshots, ConfiguredSink>;

/// The adapters every function uses besides its own service's, built once.
pub struct SharedAdapters {
    pub ledger: DynamoDbLedger,
    pub snapshots: S3Snapshots,
    pub metrics: ConfiguredSink,
}

impl SharedAdapters {
    /// The deployed pipeline for one service's remediation, every client built once.
    pub fn pipeline<R>(config: &CoreConfig, sdk: &SdkConfig, remediation: R) -> DeployedPipeline<R> {
        let shared = Self::new(config, sdk);
        Pipeline {
            remediation,
            ledger: shared.ledger,
            snapshots: shared.snapshots,
            metrics: shared.metrics,
            options: config.run,
        }
    }

    pub fn new(config: &CoreConfig, sdk: &SdkConfig) -> Self {
        let s3 = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(config.s3_force_path_style)
            .build();
        let metrics = match config.metrics_mode {
            MetricsMode::Emf => {
                ConfiguredSink::Emf(EmfSink::new(&config.metric_namespace, std::io::stdout()))
            }
            MetricsMode::PutMetricData => ConfiguredSink::PutMetricData(PutMetricDataSink::new(
                aws_sdk_cloudwatch::Client::new(sdk),
                &config.metric_namespace,
            )),
        };
        Self {
            ledger: DynamoDbLedger::new(aws_sdk_dynamodb::Client::new(sdk), &config.ledger_table),
            snapshots: S3Snapshots::new(aws_sdk_s3::Client::from_conf(s3), &config.snapshot_bucket),
            metrics,
        }
    }
}

/// Keeps the body of the response an operation received, so a snapshot holds exactly what
/// AWS returned, every field included, rather than what our types know about.
/// Attach one per call with `.customize().interceptor(capture.clone())`.
#[derive(Debug, Clone, Default)]
pub struct CaptureResponse(Arc<Mutex<Option<Vec<u8>>>>);

impl CaptureResponse {
    /// The captured body as JSON (DynamoDB and Kinesis speak JSON protocols).
    pub fn json(&self) -> Option<Value> {
        let body = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        serde_json::from_slice(body.as_deref()?).ok()
    }
}

impl Intercept for CaptureResponse {
    fn name(&self) -> &'static str {
        "CaptureResponse"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(bytes) = context.response().body().bytes() {
            *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(bytes.to_vec());
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "aws_tests.rs"]
mod tests;
