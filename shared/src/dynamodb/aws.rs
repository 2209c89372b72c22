//! The DynamoDB adapter: DescribeTable, ListTagsOfResource and UpdateTable through
//! aws-sdk-dynamodb, the table's Application Auto Scaling targets (DescribeScalableTargets,
//! RegisterScalableTarget), and the CloudWatch diagnosis (`metrics`), in and out of our own types. Nothing is defaulted: a response that
//! lacks what the planner needs is an error.

use std::collections::HashMap;
use std::time::Duration;

use crate::core::config::CoreSettings;
use aws_config::SdkConfig;
use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    BillingMode as AwsBillingMode, ContributorInsightsAction, ContributorInsightsMode,
    GlobalSecondaryIndexUpdate, OnDemandThroughput, ProvisionedThroughput, ProvisionedThroughputDescription,
    TableDescription, UpdateGlobalSecondaryIndexAction,
};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::metrics;
use super::model::{
    BillingMode, Capacity, Decreases, FloorChange, INSIGHTS_TAG, IndexState, InsightsState, OnDemandMax,
    ScalableTarget, Side, TableChange, TableMetrics, TableState, TableTarget,
};
use super::settings::DynamoDb;
use crate::adapters::Deploy;
use crate::adapters::clients::CaptureResponse;
use crate::adapters::errors::classify;
use crate::adapters::kept::{Kept, TAGS_TTL};
use crate::core::diagnosis::Diagnosis;
use crate::core::domain::{ResourceRef, Status};
use crate::core::error::{Error, ErrorKind, Result};
use crate::core::ports::{Apply, Describe, Described, Diagnose};

const DESCRIBE: &str = "DescribeTable";
const UPDATE: &str = "UpdateTable";
const DESCRIBE_SCALING: &str = "DescribeScalableTargets";
const REGISTER_SCALING: &str = "RegisterScalableTarget";

/// One listed scalable target in our terms; `None` for one of another table or dimension.
fn scalable_target(
    table: &str,
    target: &aws_sdk_applicationautoscaling::types::ScalableTarget,
) -> Result<Option<ScalableTarget>> {
    let Some(rest) = target.resource_id().strip_prefix("table/") else {
        return Ok(None);
    };
    let index = match rest.split_once("/index/") {
        Some((name, index)) if name == table => Some(index),
        None if rest == table => None,
        _ => return Ok(None),
    };
    let dimension = target.scalable_dimension().as_str();
    let Some(side) = [Side::Read, Side::Write]
        .into_iter()
        .find(|side| ScalableTarget::dimension(index, *side) == dimension)
    else {
        return Ok(None);
    };
    let bound = |value: i32, field: &str| {
        u64::try_from(value).map_err(|_| {
            Error::new(
                ErrorKind::Invalid,
                DESCRIBE_SCALING,
                table,
                format!("{field} of {} is {value}", target.resource_id()),
            )
        })
    };
    Ok(Some(ScalableTarget {
        index: index.map(str::to_owned),
        side,
        min: bound(target.min_capacity(), "MinCapacity")?,
        max: bound(target.max_capacity(), "MaxCapacity")?,
    }))
}

pub struct SdkTables {
    client: Client,
    metrics: aws_sdk_cloudwatch::Client,
    scaling: aws_sdk_applicationautoscaling::Client,
    /// Tags per table ARN, read again after [`TAGS_TTL`]: a storm of incidents on one table
    /// (its GSIs, both sides) would otherwise spend ListTagsOfResource's rate on one answer.
    tags: Kept<String, HashMap<String, String>>,
    /// The GSIs each table had when last described: their auto-scaling targets are asked
    /// for beside DescribeTable, and any GSI found since is asked for after it.
    indexes: Kept<String, Vec<String>>,
}

/// The table's ARN, from its account and region: what ListTagsOfResource needs before
/// DescribeTable has answered. Checked against the ARN DescribeTable reports.
fn table_arn(table: &ResourceRef) -> String {
    let region = table.region.as_str();
    let partition = [
        ("cn-", "aws-cn"),
        ("us-gov-", "aws-us-gov"),
        ("us-isob-", "aws-iso-b"),
        ("us-iso-", "aws-iso"),
        ("eu-isoe-", "aws-iso-e"),
        ("us-isof-", "aws-iso-f"),
        ("eusc-", "aws-eusc"),
    ]
    .iter()
    .find(|(prefix, _)| region.starts_with(prefix))
    .map_or("aws", |(_, partition)| partition);
    format!(
        "arn:{partition}:dynamodb:{region}:{}:table/{}",
        table.account, table.name
    )
}

impl SdkTables {
    /// The tables' adapter on the clients `sdk` configures, as every deployed function and
    /// command builds it.
    pub fn from_sdk(sdk: &SdkConfig) -> Self {
        Self::new(
            Client::new(sdk),
            aws_sdk_cloudwatch::Client::new(sdk),
            aws_sdk_applicationautoscaling::Client::new(sdk),
        )
    }

    pub fn new(
        client: Client,
        metrics: aws_sdk_cloudwatch::Client,
        scaling: aws_sdk_applicationautoscaling::Client,
    ) -> Self {
        Self {
            client,
            metrics,
            scaling,
            tags: Kept::new(TAGS_TTL),
            // Checked on every describe: kept only to guess the next one's lookups.
            indexes: Kept::new(Duration::from_secs(24 * 3600)),
        }
    }

    /// The Application Auto Scaling targets of the table (`with_table`) and of the GSIs
    /// named, and the `ScalableTargets` exactly as AWS listed them (for the snapshot).
    async fn scalable_targets(
        &self,
        table: &str,
        with_table: bool,
        indexes: &[String],
    ) -> Result<(Vec<ScalableTarget>, Vec<Value>)> {
        let resource_ids: Vec<String> = with_table
            .then(|| ScalableTarget::resource_id(table, None))
            .into_iter()
            .chain(
                indexes
                    .iter()
                    .map(|gsi| ScalableTarget::resource_id(table, Some(gsi))),
            )
            .collect();
        if resource_ids.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let mut targets = Vec::new();
        let mut listed = Vec::new();
        let mut next_token = None;
        loop {
            let capture = CaptureResponse::default();
            let page = self
                .scaling
                .describe_scalable_targets()
                .service_namespace(ServiceNamespace::Dynamodb)
                .set_resource_ids(Some(resource_ids.clone()))
                .set_next_token(next_token)
                .customize()
                .interceptor(capture.clone())
                .send()
                .await
                .map_err(|e| classify(DESCRIBE_SCALING, table, &e))?;
            match capture.json(DESCRIBE_SCALING, table)?["ScalableTargets"].take() {
                Value::Array(page_listed) => listed.extend(page_listed),
                // Without them the snapshot could not put the floors back.
                _ => return Err(Error::missing(DESCRIBE_SCALING, table, "ScalableTargets")),
            }
            for target in page.scalable_targets() {
                if let Some(target) = scalable_target(table, target)? {
                    targets.push(target);
                }
            }
            next_token = page.next_token().map(str::to_owned);
            if next_token.is_none() {
                return Ok((targets, listed));
            }
        }
    }

    /// The table's tags: kept ones if read less than `TAGS_TTL` ago.
    async fn tags(&self, resource: &str, arn: &str) -> Result<HashMap<String, String>> {
        if let Some(tags) = self.tags.get(&arn.to_owned()) {
            return Ok(tags);
        }
        let mut tags = HashMap::new();
        let mut next_token = None;
        loop {
            let page = self
                .client
                .list_tags_of_resource()
                .resource_arn(arn)
                .set_next_token(next_token)
                .send()
                .await
                .map_err(|e| classify("ListTagsOfResource", resource, &e))?;
            tags.extend(
                page.tags()
                    .iter()
                    .map(|tag| (tag.key().to_owned(), tag.value().to_owned())),
            );
            next_token = page.next_token().map(str::to_owned);
            if next_token.is_none() {
                self.tags.keep(arn.to_owned(), tags.clone());
                return Ok(tags);
            }
        }
    }
}

impl Deploy for DynamoDb {
    type Resources = SdkTables;
    fn resources(&self, sdk: &SdkConfig, _core: &CoreSettings) -> SdkTables {
        SdkTables::from_sdk(sdk)
    }
}

/// Capacity units as DynamoDB reports them (a signed number that must not be negative).
fn units(value: Option<i64>, resource: &str, field: &str) -> Result<u64> {
    let value = value.ok_or_else(|| Error::missing(DESCRIBE, resource, field))?;
    u64::try_from(value).map_err(|_| {
        Error::new(
            ErrorKind::Invalid,
            DESCRIBE,
            resource,
            format!("{field} is {value}, not a number of capacity units"),
        )
    })
}

fn capacity(throughput: Option<&ProvisionedThroughputDescription>, resource: &str) -> Result<Capacity> {
    let throughput = throughput.ok_or_else(|| Error::missing(DESCRIBE, resource, "ProvisionedThroughput"))?;
    Ok(Capacity {
        read: units(throughput.read_capacity_units(), resource, "ReadCapacityUnits")?,
        write: units(throughput.write_capacity_units(), resource, "WriteCapacityUnits")?,
    })
}

fn status(value: Option<&str>, resource: &str, field: &str) -> Result<Status> {
    value
        .map(Status::from_aws)
        .ok_or_else(|| Error::missing(DESCRIBE, resource, field))
}

fn chrono_time(time: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(time.secs(), time.subsec_nanos())
}

/// The later of the last increase and the last decrease.
fn last_change(throughput: Option<&ProvisionedThroughputDescription>) -> Option<DateTime<Utc>> {
    let throughput = throughput?;
    let increase = throughput.last_increase_date_time().and_then(chrono_time);
    let decrease = throughput.last_decrease_date_time().and_then(chrono_time);
    increase.max(decrease)
}

fn decreases(throughput: Option<&ProvisionedThroughputDescription>) -> Decreases {
    throughput.map_or_else(Decreases::default, |throughput| Decreases {
        today: throughput
            .number_of_decreases_today()
            .and_then(|today| u32::try_from(today).ok())
            .unwrap_or(0),
        last: throughput.last_decrease_date_time().and_then(chrono_time),
        last_increase: throughput.last_increase_date_time().and_then(chrono_time),
    })
}

/// `OnDemandThroughput` in our terms: -1 (or nothing) is no maximum.
fn on_demand_max(resource: &str, throughput: Option<&OnDemandThroughput>) -> Result<OnDemandMax> {
    let side = |value: Option<i64>, field: &str| match value {
        None | Some(-1) => Ok(None),
        Some(units) => u64::try_from(units).map(Some).map_err(|_| {
            Error::new(
                ErrorKind::Invalid,
                DESCRIBE,
                resource,
                format!("OnDemandThroughput.{field} is {units}"),
            )
        }),
    };
    Ok(OnDemandMax {
        read: side(
            throughput.and_then(|t| t.max_read_request_units()),
            "MaxReadRequestUnits",
        )?,
        write: side(
            throughput.and_then(|t| t.max_write_request_units()),
            "MaxWriteRequestUnits",
        )?,
    })
}

/// The table as DescribeTable reports it; its auto scaling targets are read next.
fn table_state(resource: &str, table: &TableDescription) -> Result<TableState> {
    let summary = table.billing_mode_summary();
    let billing = match summary.and_then(|s| s.billing_mode()) {
        Some(AwsBillingMode::PayPerRequest) => BillingMode::OnDemand,
        // Tables created provisioned and never switched carry no summary.
        _ => BillingMode::Provisioned,
    };
    let indexes = table
        .global_secondary_indexes()
        .iter()
        .map(|gsi| {
            let name = gsi
                .index_name()
                .ok_or_else(|| Error::missing(DESCRIBE, resource, "IndexName of a GSI"))?;
            let index = format!("{resource} GSI {name}");
            Ok(IndexState {
                name: name.to_owned(),
                status: status(gsi.index_status().map(|s| s.as_str()), &index, "IndexStatus")?,
                capacity: capacity(gsi.provisioned_throughput(), &index)?,
                last_change: last_change(gsi.provisioned_throughput()),
                decreases: decreases(gsi.provisioned_throughput()),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(TableState {
        name: table
            .table_name()
            .ok_or_else(|| Error::missing(DESCRIBE, resource, "TableName"))?
            .to_owned(),
        status: status(table.table_status().map(|s| s.as_str()), resource, "TableStatus")?,
        billing,
        capacity: capacity(table.provisioned_throughput(), resource)?,
        last_change: last_change(table.provisioned_throughput()),
        decreases: decreases(table.provisioned_throughput()),
        indexes,
        last_switch_to_on_demand: summary
            .and_then(|s| s.last_update_to_pay_per_request_date_time())
            .and_then(chrono_time),
        auto_scaling: Vec::new(),
        on_demand_max: on_demand_max(resource, table.on_demand_throughput())?,
        // Read from the tags, after DescribeTable.
        insights_opt_in: false,
        insights: Vec::new(),
    })
}

/// One GSI's capacity, as UpdateTable takes it.
fn index_update(resource: &str, index: &str, capacity: Capacity) -> Result<GlobalSecondaryIndexUpdate> {
    let update = UpdateGlobalSecondaryIndexAction::builder()
        .index_name(index)
        .provisioned_throughput(throughput(resource, capacity)?)
        .build()
        .map_err(|e| Error::new(ErrorKind::Invalid, UPDATE, resource, e.to_string()))?;
    Ok(GlobalSecondaryIndexUpdate::builder().update(update).build())
}

fn throughput(resource: &str, capacity: Capacity) -> Result<ProvisionedThroughput> {
    let signed = |units: u64| {
        i64::try_from(units).map_err(|_| {
            Error::new(
                ErrorKind::Invalid,
                UPDATE,
                resource,
                format!("{units} capacity units is out of range"),
            )
        })
    };
    ProvisionedThroughput::builder()
        .read_capacity_units(signed(capacity.read)?)
        .write_capacity_units(signed(capacity.write)?)
        .build()
        .map_err(|e| Error::new(ErrorKind::Invalid, UPDATE, resource, e.to_string()))
}

impl Describe<DynamoDb> for SdkTables {
    /// DescribeTable, with the tags (under the ARN the table must have) and the auto-scaling
    /// targets of the table and the GSIs it had last time beside it: one round trip. A GSI
    /// new since then, or an ARN not as expected, costs one more after it.
    async fn describe(&self, table: &ResourceRef) -> Result<Described<TableState>> {
        let resource = table.name.clone();
        let expected_arn = table_arn(table);
        let known_indexes = self.indexes.get(&resource).unwrap_or_default();
        let describe_table = async {
            let capture = CaptureResponse::default();
            let output = self
                .client
                .describe_table()
                .table_name(&resource)
                .customize()
                .interceptor(capture.clone())
                .send()
                .await
                .map_err(|e| classify(DESCRIBE, &resource, &e))?;
            let raw = capture.json(DESCRIBE, &resource)?;
            Ok::<_, Error>((output, raw))
        };
        let (described, tags, scaling) = tokio::join!(
            describe_table,
            self.tags(&resource, &expected_arn),
            self.scalable_targets(&resource, true, &known_indexes),
        );
        let (output, mut raw) = described?;
        let description = output
            .table()
            .ok_or_else(|| Error::missing(DESCRIBE, &resource, "Table"))?;
        let arn = description
            .table_arn()
            .ok_or_else(|| Error::missing(DESCRIBE, &resource, "TableArn"))?;
        let mut state = table_state(&resource, description)?;
        self.indexes.keep(
            resource.clone(),
            state.indexes.iter().map(|gsi| gsi.name.clone()).collect(),
        );
        let tags = if arn == expected_arn {
            tags?
        } else {
            self.tags(&resource, arn).await?
        };
        // On-demand tables have no capacity to scale: what was asked for is not needed.
        if state.billing == BillingMode::Provisioned {
            let (mut targets, mut listed) = scaling?;
            let new_indexes: Vec<String> = state
                .indexes
                .iter()
                .map(|gsi| gsi.name.clone())
                .filter(|gsi| !known_indexes.contains(gsi))
                .collect();
            let (more, more_listed) = self.scalable_targets(&resource, false, &new_indexes).await?;
            targets.extend(more);
            listed.extend(more_listed);
            // A GSI known from an earlier describe may be gone: its leftover targets are not
            // the table's any more.
            let current: Vec<String> = std::iter::once(ScalableTarget::resource_id(&resource, None))
                .chain(
                    state
                        .indexes
                        .iter()
                        .map(|gsi| ScalableTarget::resource_id(&resource, Some(&gsi.name))),
                )
                .collect();
            targets.retain(|target| {
                current.contains(&ScalableTarget::resource_id(&resource, target.index.as_deref()))
            });
            listed.retain(|target| {
                target["ResourceId"]
                    .as_str()
                    .is_some_and(|id| current.iter().any(|current| current == id))
            });
            state.auto_scaling = targets;
            // The snapshot keeps the floors beside the table, as Application Auto Scaling
            // listed them: what a rollback puts back.
            if let Value::Object(fields) = &mut raw {
                fields.insert("ScalableTargets".to_owned(), Value::Array(listed));
            }
        }
        state.insights_opt_in = tags
            .get(INSIGHTS_TAG.0)
            .is_some_and(|value| value.trim().eq_ignore_ascii_case(INSIGHTS_TAG.1));
        if state.insights_opt_in {
            // Only for a table that opted in: a hot key must never narrow a mode set by
            // hand, and the snapshot keeps what was on.
            state.insights = self.insights(&state).await?;
        }
        Ok(Described { state, tags, raw })
    }
}

impl Diagnose<DynamoDb> for SdkTables {
    async fn diagnose(&self, target: &TableTarget, now: DateTime<Utc>) -> Diagnosis<TableMetrics> {
        metrics::diagnose(&self.metrics, target, now).await
    }
}

impl crate::core::ports::Measure<DynamoDb> for SdkTables {
    async fn measure(&self, name: &str, since: DateTime<Utc>, until: DateTime<Utc>) -> Result<TableMetrics> {
        metrics::measure(&self.metrics, name, since, until).await
    }
}

impl SdkTables {
    /// DescribeContributorInsights for the table and each GSI, all at once: one round trip.
    async fn insights(&self, table: &TableState) -> Result<Vec<InsightsState>> {
        let parts = std::iter::once(None).chain(table.indexes.iter().map(|gsi| Some(gsi.name.clone())));
        futures::future::try_join_all(parts.map(|index| async move {
            let described = self
                .client
                .describe_contributor_insights()
                .table_name(&table.name)
                .set_index_name(index.clone())
                .send()
                .await
                .map_err(|e| classify("DescribeContributorInsights", &table.name, &e))?;
            Ok(InsightsState {
                index,
                status: described
                    .contributor_insights_status()
                    .map_or("DISABLED", |status| status.as_str())
                    .to_owned(),
                mode: described
                    .contributor_insights_mode()
                    .map(|mode| mode.as_str().to_owned()),
            })
        }))
        .await
    }

    /// RegisterScalableTarget for each raised floor (idempotent: the same call again sets
    /// the same bounds).
    async fn raise_floors(&self, table: &str, floors: &[FloorChange]) -> Result<()> {
        for floor in floors {
            let bound = |value: u64| {
                i32::try_from(value).map_err(|_| {
                    Error::new(
                        ErrorKind::Invalid,
                        REGISTER_SCALING,
                        table,
                        format!("{value} capacity units is out of range"),
                    )
                })
            };
            let index = floor.index.as_deref();
            self.scaling
                .register_scalable_target()
                .service_namespace(ServiceNamespace::Dynamodb)
                .resource_id(ScalableTarget::resource_id(table, index))
                .scalable_dimension(ScalableDimension::from(
                    ScalableTarget::dimension(index, floor.side).as_str(),
                ))
                .min_capacity(bound(floor.min)?)
                .max_capacity(bound(floor.max)?)
                .send()
                .await
                .map_err(|e| classify(REGISTER_SCALING, table, &e))?;
        }
        Ok(())
    }
}

impl Apply<DynamoDb> for SdkTables {
    async fn apply(&self, state: &TableState, change: &TableChange) -> Result<()> {
        let resource = state.name.clone();
        let request = self.client.update_table().table_name(&state.name);
        let request = match change {
            TableChange::SwitchToOnDemand => request.billing_mode(AwsBillingMode::PayPerRequest),
            TableChange::SwitchToProvisioned { table, indexes } => {
                let mut request = request
                    .billing_mode(AwsBillingMode::Provisioned)
                    .provisioned_throughput(throughput(&resource, *table)?);
                for (index, capacity) in indexes {
                    request =
                        request.global_secondary_index_updates(index_update(&resource, index, *capacity)?);
                }
                request
            }
            TableChange::RaiseOnDemandMax(max) => {
                let units = |side: Option<u64>| match side {
                    None => Ok(-1),
                    Some(units) => i64::try_from(units).map_err(|_| {
                        Error::new(
                            ErrorKind::Invalid,
                            UPDATE,
                            &resource,
                            format!("{units} request units"),
                        )
                    }),
                };
                request.on_demand_throughput(
                    OnDemandThroughput::builder()
                        .max_read_request_units(units(max.read)?)
                        .max_write_request_units(units(max.write)?)
                        .build(),
                )
            }
            TableChange::EnableContributorInsights { index } => {
                return self
                    .client
                    .update_contributor_insights()
                    .table_name(&state.name)
                    .set_index_name(index.clone())
                    .contributor_insights_action(ContributorInsightsAction::Enable)
                    .contributor_insights_mode(ContributorInsightsMode::ThrottledKeys)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| classify("UpdateContributorInsights", &resource, &e));
            }
            // The planner never asks for floors and an UpdateTable at once (see
            // `Scaling::choose_one_call_kind`).
            TableChange::Scale { floors, .. } if !floors.is_empty() => {
                return self.raise_floors(&resource, floors).await;
            }
            TableChange::Scale {
                table: capacity,
                indexes,
                ..
            } => {
                let mut request = match capacity {
                    Some(capacity) => request.provisioned_throughput(throughput(&resource, *capacity)?),
                    None => request,
                };
                for (index, capacity) in indexes {
                    request =
                        request.global_secondary_index_updates(index_update(&resource, index, *capacity)?);
                }
                request
            }
        };
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(UPDATE, &resource, &e))
    }
}
