//! The DynamoDB adapter: DescribeTable, ListTagsOfResource and UpdateTable through
//! aws-sdk-dynamodb, in and out of our own types. Nothing is defaulted: a response that
//! lacks what the planner needs is an error.

use std::collections::HashMap;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    BillingMode as AwsBillingMode, GlobalSecondaryIndexUpdate, ProvisionedThroughput,
    ProvisionedThroughputDescription, TableDescription, UpdateGlobalSecondaryIndexAction,
};
use chrono::{DateTime, Utc};

use super::model::{BillingMode, Capacity, IndexState, TableChange, TableState};
use super::settings::DynamoDb;
use crate::adapters::Deploy;
use crate::adapters::clients::CaptureResponse;
use crate::adapters::errors::classify;
use crate::core::domain::Status;
use crate::core::error::{Error, ErrorKind, Result};
use crate::core::ports::{Apply, Describe, Described};

const DESCRIBE: &str = "DescribeTable";
const UPDATE: &str = "UpdateTable";

pub struct SdkTables {
    client: Client,
}

impl SdkTables {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    async fn tags(&self, resource: &str, arn: &str) -> Result<HashMap<String, String>> {
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
                return Ok(tags);
            }
        }
    }
}

impl Deploy for DynamoDb {
    type Resources = SdkTables;
    fn resources(sdk: &SdkConfig) -> SdkTables {
        SdkTables::new(Client::new(sdk))
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
        indexes,
        last_switch_to_on_demand: summary
            .and_then(|s| s.last_update_to_pay_per_request_date_time())
            .and_then(chrono_time),
    })
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
    async fn describe(&self, table: &str) -> Result<Described<TableState>> {
        let resource = table.to_owned();
        let capture = CaptureResponse::default();
        let output = self
            .client
            .describe_table()
            .table_name(table)
            .customize()
            .interceptor(capture.clone())
            .send()
            .await
            .map_err(|e| classify(DESCRIBE, &resource, &e))?;
        let description = output
            .table()
            .ok_or_else(|| Error::missing(DESCRIBE, &resource, "Table"))?;
        let raw = capture.json(DESCRIBE, &resource)?;
        let arn = description
            .table_arn()
            .ok_or_else(|| Error::missing(DESCRIBE, &resource, "TableArn"))?;
        Ok(Described {
            state: table_state(&resource, description)?,
            tags: self.tags(&resource, arn).await?,
            raw,
        })
    }
}

impl Apply<DynamoDb> for SdkTables {
    async fn apply(&self, state: &TableState, change: &TableChange) -> Result<()> {
        let resource = state.name.clone();
        let request = self.client.update_table().table_name(&state.name);
        let request = match change {
            TableChange::SwitchToOnDemand => request.billing_mode(AwsBillingMode::PayPerRequest),
            TableChange::Scale {
                table: capacity,
                indexes,
            } => {
                let mut request = match capacity {
                    Some(capacity) => request.provisioned_throughput(throughput(&resource, *capacity)?),
                    None => request,
                };
                for (index, capacity) in indexes {
                    let update = UpdateGlobalSecondaryIndexAction::builder()
                        .index_name(index)
                        .provisioned_throughput(throughput(&resource, *capacity)?)
                        .build()
                        .map_err(|e| Error::new(ErrorKind::Invalid, UPDATE, &resource, e.to_string()))?;
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
            .map_err(|e| classify(UPDATE, &resource, &e))
    }
}
