//! Kinesis's part of the pipeline: its trigger, planner and stream port.

use aws_config::SdkConfig;
use chrono::{DateTime, Utc};

use super::catalog::{StreamCatalog, StreamChange, StreamState};
use super::planner::{self, StreamPolicy};
use super::sdk::SdkStreams;
use super::trigger::{self, StreamTarget};
use crate::aws::{DeployedPipeline, SharedAdapters};
use crate::config::{AllowList, KinesisConfig};
use crate::domain::{HistoryEntry, Service};
use crate::event::{Envelope, Triage, TriggerError};
use crate::pipeline::{Described, PortError, Remediation};
use crate::plan::Decision;

pub struct Kinesis<C> {
    pub streams: C,
    pub policy: StreamPolicy,
    pub allow: AllowList,
}

impl<C: StreamCatalog> Remediation for Kinesis<C> {
    type Target = StreamTarget;
    type State = StreamState;
    type Change = StreamChange;

    const SERVICE: Service = Service::Kinesis;

    fn triage(&self, envelope: &Envelope) -> Result<Triage<StreamTarget>, TriggerError> {
        trigger::triage(envelope)
    }

    fn resource_name<'t>(&self, target: &'t StreamTarget) -> &'t str {
        &target.stream
    }

    fn admits(&self, name: &str) -> Result<(), String> {
        self.allow.admits(name)
    }

    async fn describe(&self, name: &str) -> Result<Described<StreamState>, PortError> {
        self.streams.describe(name).await
    }

    fn plan(
        &self,
        target: &StreamTarget,
        state: &StreamState,
        history: &[HistoryEntry],
        now: DateTime<Utc>,
    ) -> Decision<StreamChange> {
        planner::plan(state, target, &self.policy, history, now)
    }

    async fn apply(&self, state: &StreamState, change: &StreamChange) -> Result<(), PortError> {
        self.streams.update(state, *change).await
    }
}

/// The `kinesis-throttle` function as deployed: SDK adapters behind every port.
pub type KinesisFunction = DeployedPipeline<Kinesis<SdkStreams>>;

/// Builds every client once, for the life of the Lambda execution environment.
pub fn function(config: KinesisConfig, sdk: &SdkConfig) -> KinesisFunction {
    let remediation = Kinesis {
        streams: SdkStreams::new(aws_sdk_kinesis::Client::new(sdk)),
        policy: config.policy,
        allow: config.allow,
    };
    SharedAdapters::pipeline(&config.core, sdk, remediation)
}
