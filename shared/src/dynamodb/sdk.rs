//! The DynamoDB port over aws-sdk-dynamodb.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::describe_table::DescribeTableError;
use aws_sdk_dynamodb::types::{
    BillingMode as AwsBillingMode, GlobalSecondaryIndexUpdate, ProvisionedThroughput,
    ProvisionedThroughputDescription, TableDescription, UpdateGlobalSecondaryIndexAction,
};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};

use super::catalog::{BillingMode, Capacity, IndexState, TableCatalog, TableChange, TableState};
use crate::aws::{describe_error, CaptureResponse};
use crate::domain::Status;
use crate::pipeline::{Described, PortError};

pub struct SdkTables {
    client: Client,
}

impl SdkTables {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    async fn tags(&self, table: &str, arn: &str) -> Result<HashMap<String, String>, PortError> {
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
                .map_err(|e| PortError::aws("ListTagsOfResource", table, describe_error(&e)))?;
            tags.extend(
                page.tags()
                    .iter()
                    .map(|tag| (tag.key().to_owned(), tag.value().to_owned())),
            );
            next_token = page.next_token().map(str::to_owned);
            if next_token.is_none() {
                return Ok(tags);
            }
        }
    }
}

fn units(value: Option<i64>) -> u64 {
    value.unwrap_or(0).max(0) as u64
}

fn capacity(throughput: Option<&ProvisionedThroughputDescription>) -> Capacity {
    throughput.map_or_else(Capacity::default, |t| Capacity {
        read: units(t.read_capacity_units()),
        write: units(t.write_capacity_units()),
    })
}

fn status(value: Option<&str>) -> Status {
    Status::from_aws(value.unwrap_or("UNKNOWN"))
}

fn chrono_time(time: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(time.secs(), time.subsec_nanos())
}

fn table_state(name: &str, table: &TableDescription) -> TableState {
    let summary = table.billing_mode_summary();
    let billing = match summary.and_then(|s| s.billing_mode()) {
        Some(AwsBillingMode::PayPerRequest) => BillingMode::OnDemand,
        // Tables created provisioned and never switched carry no summary.
        _ => BillingMode::Provisioned,
    };
    TableState {
        name: table.table_name().unwrap_or(name).to_owned(),
        status: status(table.table_status().map(|s| s.as_str())),
        billing,
        capacity: capacity(table.provisioned_throughput()),
        indexes: table
            .global_secondary_indexes()
            .iter()
            .map(|gsi| IndexState {
                name: gsi.index_name().unwrap_or_default().to_owned(),
                status: status(gsi.index_status().map(|s| s.as_str())),
                capacity: capacity(gsi.provisioned_throughput()),
            })
            .collect(),
        last_switch_to_on_demand: summary
            .and_then(|s| s.last_update_to_pay_per_request_date_time())
            .and_then(chrono_time),
    }
}

fn throughput(table: &str, capacity: Capacity) -> Result<ProvisionedThroughput, PortError> {
    ProvisionedThroughput::builder()
        .read_capacity_units(capacity.read as i64)
        .write_capacity_units(capacity.write as i64)
        .build()
        .map_err(|e| PortError::aws("UpdateTable", table, e.to_string()))
}

impl TableCatalog for SdkTables {
    async fn describe(&self, table: &str) -> Result<Described<TableState>, PortError> {
        let capture = CaptureResponse::default();
        let output = self
            .client
            .describe_table()
            .table_name(table)
            .customize()
            .interceptor(capture.clone())
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(DescribeTableError::ResourceNotFoundException(_)) => PortError::NotFound {
                    resource: format!("table {table}"),
                },
                _ => PortError::aws("DescribeTable", table, describe_error(&e)),
            })?;
        let description = output
            .table()
            .ok_or_else(|| PortError::aws("DescribeTable", table, "the response holds no table"))?;
        let raw = capture.json().ok_or_else(|| {
            PortError::aws(
                "DescribeTable",
                table,
                "the response body was not JSON, so no snapshot can be made",
            )
        })?;
        let arn = description
            .table_arn()
            .ok_or_else(|| PortError::aws("DescribeTable", table, "the response holds no table ARN"))?;
        Ok(Described {
            state: table_state(table, description),
            tags: self.tags(table, arn).await?,
            raw,
        })
    }

    async fn update(&self, table: &str, change: &TableChange) -> Result<(), PortError> {
        let request = self.client.update_table().table_name(table);
        let request = match change {
            TableChange::SwitchToOnDemand => request.billing_mode(AwsBillingMode::PayPerRequest),
            TableChange::Scale {
                table: capacity,
                indexes,
            } => {
                let mut request = match capacity {
                    Some(capacity) => request.provisioned_throughput(throughput(table, *capacity)?),
                    None => request,
                };
                for (index, capacity) in indexes {
                    let update = UpdateGlobalSecondaryIndexAction::builder()
                        .index_name(index)
                        .provisioned_throughput(throughput(table, *capacity)?)
                        .build()
                        .map_err(|e| PortError::aws("UpdateTable", table, e.to_string()))?;
                    request = request.global_secondary_index_updates(
                        GlobalSecondaryIndexUpdate::builder().update(update).build(),
                    );
                }
                request
            }
        };
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|e| PortError::aws("UpdateTable", table, describe_error(&e)))
    }
}
