//! DynamoDB: which tables and GSIs an event names ([`trigger`]), the pure capacity planner
//! ([`planner`]), AWS's limits ([`limits`]), the function's settings ([`settings`]) and the
//! SDK adapter ([`aws`]).

pub mod aws;
pub mod limits;
pub mod model;
pub mod planner;
pub mod settings;
pub mod trigger;

use chrono::{DateTime, Utc};

use crate::core::config::{AllowList, ConfigError, Env, Variable};
use crate::core::domain::{Action, HistoryEntry, ServiceId};
use crate::core::envelope::{Envelope, Triage, TriggerError};
use crate::core::plan::Decision;
use crate::core::service::Service;

pub use aws::SdkTables;
pub use model::{BillingMode, Capacity, IndexState, TableChange, TableState};
pub use planner::TablePolicy;
pub use trigger::TableTarget;

/// Raise provisioned read/write capacity of a table and/or its GSIs.
pub const SCALE_CAPACITY: Action = Action::named("ScaleCapacity");

/// The `dynamodb-throttle` function, as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct DynamoDb {
    pub policy: TablePolicy,
    pub allow: AllowList,
}

impl Service for DynamoDb {
    const ID: ServiceId = ServiceId {
        key: "dynamodb",
        metric_name: "DynamoDB",
    };
    const VARIABLES: &'static [&'static Variable] = settings::VARIABLES;

    type Target = TableTarget;
    type State = TableState;
    type Change = TableChange;

    fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Self::settings(env)
    }

    fn allow_list(&self) -> &AllowList {
        &self.allow
    }

    fn triage(envelope: &Envelope) -> Result<Triage<TableTarget>, TriggerError> {
        crate::core::trigger::triage::<Self>(envelope)
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
}
