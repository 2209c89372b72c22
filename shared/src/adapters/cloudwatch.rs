//! CloudWatch: the counts through PutMetricData (`METRICS_MODE=put-metric-data`), and the
//! GetMetricData reads every service's diagnosis shares.

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::types::{
    Dimension, Metric, MetricDataQuery, MetricDataResult, MetricDatum, MetricStat, ScanBy, StandardUnit,
    StatusCode,
};
use chrono::{DateTime, Duration, DurationRound, Utc};

use crate::adapters::errors::classify;
use crate::core::diagnosis::{Diagnosis, MINUTES, PERIOD_SECONDS};
use crate::core::error::{Error, ErrorKind, Result};
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

const GET_METRIC_DATA: &str = "GetMetricData";
/// Pages one lookup reads at most.
const PAGES: usize = 10;

/// A query for the one-minute Sums of one metric of one resource.
pub fn sum_query(id: &str, namespace: &str, metric: &str, dimension: (&str, &str)) -> MetricDataQuery {
    let metric = Metric::builder()
        .namespace(namespace)
        .metric_name(metric)
        .dimensions(Dimension::builder().name(dimension.0).value(dimension.1).build())
        .build();
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(PERIOD_SECONDS)
                .stat("Sum")
                .build(),
        )
        .return_data(true)
        .build()
}

/// The diagnosis window: the last `MINUTES` whole minutes before `now`.
pub fn window(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let end = now.duration_trunc(Duration::minutes(1)).unwrap_or(now);
    (end - Duration::minutes(MINUTES), end)
}

/// Every result of `queries` over the diagnosis window before `now`, pages joined.
pub async fn get_metric_data(
    client: &Client,
    queries: Vec<MetricDataQuery>,
    now: DateTime<Utc>,
    resource: &str,
) -> Result<Vec<MetricDataResult>> {
    get_metric_data_over(client, queries, window(now), resource).await
}

/// Every result of `queries` from `start` to `end`, pages joined. A series CloudWatch could
/// not read whole (an internal error, a forbidden metric) fails the lookup: a reader that
/// decides on the absence of data (restore's quiet hours) must not take a gap for quiet.
pub async fn get_complete_metric_data(
    client: &Client,
    queries: Vec<MetricDataQuery>,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
    resource: &str,
) -> Result<Vec<MetricDataResult>> {
    let results = get_metric_data_over(client, queries, (start, end), resource).await?;
    match results.iter().find(|result| {
        matches!(
            result.status_code(),
            Some(StatusCode::InternalError | StatusCode::Forbidden)
        )
    }) {
        Some(partial) => Err(Error::new(
            ErrorKind::Transient,
            GET_METRIC_DATA,
            resource,
            format!(
                "series {} came back {:?}: {:?}",
                partial.id().unwrap_or("-"),
                partial.status_code(),
                partial.messages()
            ),
        )),
        None => Ok(results),
    }
}

async fn get_metric_data_over(
    client: &Client,
    queries: Vec<MetricDataQuery>,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
    resource: &str,
) -> Result<Vec<MetricDataResult>> {
    let seconds = |time: DateTime<Utc>| aws_smithy_types::DateTime::from_secs(time.timestamp());
    let mut results = Vec::new();
    let mut next_token = None;
    // A page holds 100,800 points: a day of one-minute points for 70 series.
    for _ in 0..PAGES {
        let page = client
            .get_metric_data()
            .set_metric_data_queries(Some(queries.clone()))
            .start_time(seconds(start))
            .end_time(seconds(end))
            .scan_by(ScanBy::TimestampAscending)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| classify(GET_METRIC_DATA, resource, &e))?;
        results.extend(page.metric_data_results().iter().cloned());
        next_token = page.next_token().map(str::to_owned);
        if next_token.is_none() {
            return Ok(results);
        }
    }
    Err(Error::new(
        ErrorKind::Invalid,
        GET_METRIC_DATA,
        resource,
        format!("more than {PAGES} pages of metrics for one resource"),
    ))
}

/// A lookup's answer as a diagnosis: a failure is `Unavailable`, never an error (metrics
/// advise the fix; losing them must not stop it).
pub fn diagnosis<E>(read: Result<E>) -> Diagnosis<E> {
    match read {
        Ok(evidence) => Diagnosis::Measured(evidence),
        Err(error) => {
            tracing::warn!(error = %error, "metrics unavailable: sizing by SCALE_FACTOR");
            Diagnosis::Unavailable(error.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_the_last_five_whole_minutes() {
        let now = DateTime::parse_from_rfc3339("2026-12-02T10:17:42Z")
            .unwrap()
            .with_timezone(&Utc);
        let (start, end) = window(now);
        assert_eq!(end.to_rfc3339(), "2026-12-02T10:17:00+00:00");
        assert_eq!(start.to_rfc3339(), "2026-12-02T10:12:00+00:00");
    }
}
