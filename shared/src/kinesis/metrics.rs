//! Why a stream throttled, from CloudWatch: one `GetMetricData` call, made beside the
//! describe, over the last five one-minute periods of the stream-level demand metrics.

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::types::{MetricDataQuery, MetricDataResult};
use chrono::{DateTime, Utc};

use super::model::{StreamMetrics, StreamTarget};
use crate::adapters::cloudwatch::{self, get_metric_data, sum_query};
use crate::core::diagnosis::{Diagnosis, PERIOD_SECONDS, Sums};

const NAMESPACE: &str = "AWS/Kinesis";

/// Each metric read, by its query id.
/// (The throttle counts are not read: the trigger already says which side throttled, and
/// counts do not size anything.)
const METRICS: [(&str, &str); 3] = [
    ("incoming_bytes", "IncomingBytes"),
    ("incoming_records", "IncomingRecords"),
    ("read_bytes", "GetRecords.Bytes"),
];

/// The id of the Metrics Insights query of throttled records per shard (one query is all
/// GetMetricData allows); each series it returns is labelled with its shard id.
const BY_SHARD: &str = "by_shard";
/// The stream-level throttle counts restore's quiet window reads.
const WRITE_THROTTLES: &str = "write_throttles";
const READ_THROTTLES: &str = "read_throttles";

pub fn queries(stream: &str) -> Vec<MetricDataQuery> {
    let mut queries: Vec<MetricDataQuery> = METRICS
        .iter()
        .map(|(id, metric)| sum_query(id, NAMESPACE, metric, ("StreamName", stream)))
        .collect();
    // Stream names are letters, digits, `_`, `.` and `-` (checked by the trigger): nothing in
    // one can end the quoted string.
    queries.push(
        MetricDataQuery::builder()
            .id(BY_SHARD)
            .expression(format!(
                "SELECT SUM(WriteProvisionedThroughputExceeded) FROM SCHEMA(\"{NAMESPACE}\", ShardId, StreamName) \
                 WHERE StreamName = '{stream}' GROUP BY ShardId"
            ))
            .period(PERIOD_SECONDS)
            .return_data(true)
            .build(),
    );
    queries
}

/// Files each returned series by its query id; a later page extends a series.
pub fn read_results(results: &[MetricDataResult]) -> StreamMetrics {
    let mut metrics = StreamMetrics::default();
    for result in results {
        if result.id() == Some(BY_SHARD) {
            if let Some(shard) = result.label().filter(|label| !label.is_empty()) {
                metrics
                    .throttled_by_shard
                    .entry(shard.to_owned())
                    .or_default()
                    .0
                    .extend(result.values());
            }
            continue;
        }
        let series: &mut Sums = match result.id() {
            Some(WRITE_THROTTLES) => &mut metrics.throttled_writes,
            Some(READ_THROTTLES) => &mut metrics.throttled_reads,
            Some("incoming_bytes") => &mut metrics.incoming_bytes,
            Some("incoming_records") => &mut metrics.incoming_records,
            Some("read_bytes") => &mut metrics.read_bytes,
            _ => continue,
        };
        series.0.extend(result.values());
    }
    metrics
}

/// Reads the stream's metrics, or says why not.
pub async fn diagnose(
    client: &Client,
    target: &StreamTarget,
    now: DateTime<Utc>,
) -> Diagnosis<StreamMetrics> {
    let stream = target.stream.as_str();
    let read = get_metric_data(client, queries(stream), now, stream).await;
    cloudwatch::diagnosis(read.map(|results| read_results(&results)))
}

/// A stream's metrics from `since` to `until` (restore's quiet window). A partial read is
/// an error.
pub async fn measure(
    client: &Client,
    stream: &str,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> crate::core::error::Result<StreamMetrics> {
    let mut queries = queries(stream);
    for (id, metric) in [
        (WRITE_THROTTLES, "WriteProvisionedThroughputExceeded"),
        (READ_THROTTLES, "ReadProvisionedThroughputExceeded"),
    ] {
        queries.push(sum_query(id, NAMESPACE, metric, ("StreamName", stream)));
    }
    let results = cloudwatch::get_complete_metric_data(client, queries, (since, until), stream).await?;
    Ok(read_results(&results))
}
