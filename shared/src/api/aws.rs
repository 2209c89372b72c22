//! api-throttle's adapter. No API has a capacity to describe or change: what it reads is the
//! ledger's count of who was throttled, which it keeps per caller and minute.

use std::collections::HashMap;

use aws_config::SdkConfig;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::model::{ApiChange, ApiState, ApiTarget, CallerCount, Callers};
use super::planner;
use super::settings::Api;
use crate::adapters::Deploy;
use crate::adapters::ledger::DynamoDbLedger;
use crate::core::config::CoreSettings;
use crate::core::diagnosis::Diagnosis;
use crate::core::domain::ResourceRef;
use crate::core::error::Result;
use crate::core::ledger::TalliedCall;
use crate::core::ports::{Apply, Describe, Described, Diagnose, Tally};
use crate::core::service::Service;
use crate::core::trigger::Target;

/// The window a result names the top callers of.
pub const CALLER_WINDOW_MINUTES: u32 = 15;

/// The throttled APIs, as the ledger counts their callers.
pub struct Apis<T> {
    tally: T,
}

impl<T: Tally> Apis<T> {
    pub fn new(tally: T) -> Self {
        Self { tally }
    }

    pub fn tally(&self) -> &T {
        &self.tally
    }
}

impl Deploy for Api {
    type Resources = Apis<DynamoDbLedger>;
    fn resources(sdk: &SdkConfig, core: &CoreSettings) -> Apis<DynamoDbLedger> {
        Apis::new(DynamoDbLedger::new(
            aws_sdk_dynamodb::Client::new(sdk),
            &core.ledger_table,
        ))
    }
}

impl<T: Tally> Describe<Api> for Apis<T> {
    /// Nothing to call: an API's request rate is the account's, not a resource's.
    async fn describe(&self, name: &str) -> Result<Described<ApiState>> {
        let _ = name;
        Ok(Described {
            state: ApiState,
            tags: HashMap::new(),
            raw: Value::Null,
        })
    }
}

impl<T: Tally> Diagnose<Api> for Apis<T> {
    /// Counts this call, then reads who was throttled on the API from 15 minutes before it:
    /// two ledger calls, beside the (empty) describe. A failure leaves the finding without
    /// its callers, never without its advice.
    async fn diagnose(&self, target: &ApiTarget, now: DateTime<Utc>) -> Diagnosis<Callers> {
        let _ = now;
        let Some(scope) = target.scope() else {
            return Diagnosis::Unavailable("the event names no account and region".into());
        };
        let resource = ResourceRef {
            service: Api::ID,
            account: scope.account.clone(),
            region: scope.region.clone(),
            name: target.name.clone(),
        };
        let call = TalliedCall::new(target.caller.as_deref(), &target.event_id, target.at);
        if let Err(e) = self.tally.tally(&resource, &call).await {
            return Diagnosis::Unavailable(e.to_string());
        }
        let since = target.at - Duration::minutes(i64::from(CALLER_WINDOW_MINUTES));
        match self.tally.callers_since(&resource, since).await {
            Ok(rows) => Diagnosis::Measured(counted(rows)),
            Err(e) => Diagnosis::Unavailable(e.to_string()),
        }
    }
}

impl<T: Tally> Apply<Api> for Apis<T> {
    async fn apply(&self, state: &ApiState, change: &ApiChange) -> Result<()> {
        let _ = state;
        match *change {}
    }
}

/// The callers since the window's start, as counts.
fn counted(rows: Vec<(String, u32)>) -> Callers {
    planner::callers(
        rows.into_iter()
            .map(|(caller, events)| CallerCount { caller, events })
            .collect(),
        CALLER_WINDOW_MINUTES,
    )
}
