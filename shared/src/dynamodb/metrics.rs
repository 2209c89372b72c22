//! Why a table throttled, from CloudWatch: one `GetMetricData` call, made beside the
//! describe, over the last five one-minute periods. The table's own metrics are asked for
//! by name; its GSIs' through one SEARCH expression, because the GSIs are not known before
//! DescribeTable answers. A dynamic label names each series the search returns.

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::types::{MetricDataQuery, MetricDataResult};
use chrono::{DateTime, Utc};
use strum::IntoEnumIterator;

use super::model::{Cause, PartMetrics, Side, TableMetrics, TableTarget};
use crate::adapters::cloudwatch::{self, get_metric_data, sum_query};
use crate::core::diagnosis::{Diagnosis, PERIOD_SECONDS, Sums};

const NAMESPACE: &str = "AWS/DynamoDB";
/// The id of the SEARCH over the table's GSIs; the table's own queries are `t0`, `t1`, ...
const GSI_SEARCH: &str = "gsis";
/// What each series of the GSI search is labelled with: table, GSI and metric, which
/// contain no spaces (DynamoDB and CloudWatch naming rules).
const GSI_LABEL: &str =
    "${PROP('Dim.TableName')} ${PROP('Dim.GlobalSecondaryIndexName')} ${PROP('MetricName')}";

/// One metric the diagnosis reads, for one side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    Consumed(Side),
    Throttles(Side),
    ByCause(Side, Cause),
}

impl Measure {
    /// Every metric read for the sides the event pressed.
    pub fn for_sides(sides: &[Side]) -> Vec<Measure> {
        sides
            .iter()
            .flat_map(|side| {
                [Measure::Consumed(*side), Measure::Throttles(*side)]
                    .into_iter()
                    .chain(Cause::iter().map(|cause| Measure::ByCause(*side, cause)))
            })
            .collect()
    }

    pub fn metric_name(self) -> String {
        match self {
            Measure::Consumed(side) => format!("Consumed{}CapacityUnits", side.prefix()),
            Measure::Throttles(side) => format!("{}ThrottleEvents", side.prefix()),
            Measure::ByCause(side, cause) => cause.metric(side),
        }
    }

    pub fn of_metric_name(name: &str) -> Option<Measure> {
        if let Some((side, cause)) = Cause::of_metric(name) {
            return Some(Measure::ByCause(side, cause));
        }
        Side::iter().find_map(|side| {
            if name == Measure::Consumed(side).metric_name() {
                Some(Measure::Consumed(side))
            } else if name == Measure::Throttles(side).metric_name() {
                Some(Measure::Throttles(side))
            } else {
                None
            }
        })
    }

    fn record(self, part: &mut PartMetrics, sums: Sums) {
        let series = match self {
            Measure::Consumed(side) => &mut part.side_mut(side).consumed,
            Measure::Throttles(side) => &mut part.side_mut(side).throttle_events,
            Measure::ByCause(side, cause) => part.side_mut(side).by_cause.entry(cause).or_default(),
        };
        // A later page continues a series the first one began.
        series.0.extend(sums.0);
    }
}

/// The sides the event pressed, on the table or any index.
pub fn sides(target: &TableTarget) -> Vec<Side> {
    let mut pressure = target.on_table;
    for index in target.on_indexes.values() {
        pressure.merge(*index);
    }
    Side::iter().filter(|side| side.pressed(pressure)).collect()
}

/// The queries of one diagnosis: the table's measures by name, its GSIs' by one search.
pub fn queries(table: &str, measures: &[Measure]) -> Vec<MetricDataQuery> {
    let mut queries: Vec<MetricDataQuery> = measures
        .iter()
        .enumerate()
        .map(|(n, measure)| {
            sum_query(
                &format!("t{n}"),
                NAMESPACE,
                &measure.metric_name(),
                ("TableName", table),
            )
        })
        .collect();
    let names: Vec<String> = measures
        .iter()
        .map(|measure| format!("MetricName=\"{}\"", measure.metric_name()))
        .collect();
    // Table names are letters, digits, `_`, `.` and `-` only (checked by the trigger):
    // nothing in one can end the quoted term.
    queries.push(
        MetricDataQuery::builder()
            .id(GSI_SEARCH)
            .expression(format!(
                "SEARCH('{{{NAMESPACE},GlobalSecondaryIndexName,TableName}} TableName=\"{table}\" ({})', 'Sum', {PERIOD_SECONDS})",
                names.join(" OR ")
            ))
            .label(GSI_LABEL)
            .return_data(true)
            .build(),
    );
    queries
}

/// Files each returned series under the table or its GSI. Series of another table (the
/// search matches words, not whole names) and of metrics not asked for are left out.
pub fn read_results(table: &str, measures: &[Measure], results: &[MetricDataResult]) -> TableMetrics {
    let mut metrics = TableMetrics::default();
    for result in results {
        let sums = Sums(result.values().to_vec());
        match result.id() {
            Some(GSI_SEARCH) => {
                let label = result.label().unwrap_or_default();
                let mut words = label.split(' ');
                let (Some(of_table), Some(index), Some(name), None) =
                    (words.next(), words.next(), words.next(), words.next())
                else {
                    continue;
                };
                if of_table != table {
                    continue;
                }
                if let Some(measure) = Measure::of_metric_name(name).filter(|m| measures.contains(m)) {
                    measure.record(metrics.indexes.entry(index.to_owned()).or_default(), sums);
                }
            }
            Some(id) => {
                let measure = id
                    .strip_prefix('t')
                    .and_then(|n| n.parse::<usize>().ok())
                    .and_then(|n| measures.get(n));
                if let Some(measure) = measure {
                    measure.record(&mut metrics.table, sums);
                }
            }
            None => {}
        }
    }
    metrics
}

/// Reads the table's metrics, or says why not. (Whether a lookup is needed at all is the
/// service's call: `Service::needs_diagnosis`.)
pub async fn diagnose(client: &Client, target: &TableTarget, now: DateTime<Utc>) -> Diagnosis<TableMetrics> {
    let table = target.table.as_str();
    let measures = Measure::for_sides(&sides(target));
    let read = get_metric_data(client, queries(table, &measures), now, table).await;
    cloudwatch::diagnosis(read.map(|results| read_results(table, &measures, &results)))
}

/// Consumed capacity and throttle events of the table and every GSI, both sides, from
/// `since` to `until` (restore's quiet window). A partial read is an error.
pub async fn measure(
    client: &Client,
    table: &str,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> crate::core::error::Result<TableMetrics> {
    let measures: Vec<Measure> = Side::iter()
        .flat_map(|side| [Measure::Consumed(side), Measure::Throttles(side)])
        .collect();
    let results =
        cloudwatch::get_complete_metric_data(client, queries(table, &measures), (since, until), table)
            .await?;
    Ok(read_results(table, &measures, &results))
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
