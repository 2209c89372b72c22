//! Serving a pipeline on the Lambda Runtime API.

use chrono::Utc;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

use crate::ledger::Ledger;
use crate::metrics::MetricSink;
use crate::pipeline::{Pipeline, Remediation};
use crate::snapshot::SnapshotStore;

/// Runs until the execution environment is shut down. An event that cannot be read is
/// returned as an error, so Lambda's retries and on-failure destination keep it for a human;
/// everything else returns the reports.
pub async fn serve<R, L, S, M>(pipeline: Pipeline<R, L, S, M>) -> Result<(), lambda_runtime::Error>
where
    R: Remediation,
    L: Ledger,
    S: SnapshotStore,
    M: MetricSink,
{
    let pipeline = &pipeline;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        pipeline
            .handle(event.payload, Utc::now())
            .await
            .map_err(lambda_runtime::Error::from)
    }))
    .await
}
