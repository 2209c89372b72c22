//! DynamoDB's part of the pipeline: its trigger, planner and table port.

use aws_config::SdkConfig;
use chrono::{DateTime, Utc};

use super::catalog::{TableCatalog, TableChange, TableState};
use super::planner::{self, TablePolicy};
use super::sdk::SdkTables;
use super::trigger::{self, TableTarget};
use crate::aws::{DeployedPipeline, SharedAdapters};
use crate::config::{AllowList, DynamoDbConfig};
use crate::domain::{HistoryEntry, Service};
use crate::event::{Envelope, Triage, TriggerError};
use crate::pipeline::{Described, PortError, Remediation};
use crate::plan::Decision;

pub struct DynamoDb<C> {
    pub tables: C,
    pub policy: TablePolicy,
    pub allow: AllowList,
}

impl<C: TableCatalog> Remediation for DynamoDb<C> {
    type Target = TableTarget;
    type State = TableState;
    type Change = TableChange;

    const SERVICE: Service = Service::DynamoDb;

    fn triage(&self, envelope: &Envelope) -> Result<Triage<TableTarget>, TriggerError> {
        trigger::triage(envelope)
    }

    fn resource_name<'t>(&self, target: &'t TableTarget) -> &'t str {
        &target.table
    }

    fn admits(&self, name: &str) -> Result<(), String> {
        self.allow.admits(name)
    }

    async fn describe(&self, name: &str) -> Result<Described<TableState>, PortError> {
        self.tables.describe(name).await
    }

    fn plan(
        &self,
        target: &TableTarget,
        state: &TableState,
        history: &[HistoryEntry],
        now: DateTime<Utc>,
    ) -> Decision<TableChange> {
        planner::plan(state, target, &self.policy, history, now)
    }

    async fn apply(&self, state: &TableState, change: &TableChange) -> Result<(), PortError> {
        self.tables.update(&state.name, change).await
    }
}

/// The `dynamodb-throttle` function as deployed: SDK adapters behind every port.
pub type DynamoDbFunction = DeployedPipeline<DynamoDb<SdkTables>>;

/// Builds every client once, for the life of the Lambda execution environment.
pub fn function(config: DynamoDbConfig, sdk: &SdkConfig) -> DynamoDbFunction {
    let remediation = DynamoDb {
        tables: SdkTables::new(aws_sdk_dynamodb::Client::new(sdk)),
        policy: config.policy,
        allow: config.allow,
    };
    SharedAdapters::pipeline(&config.core, sdk, remediation)
}
