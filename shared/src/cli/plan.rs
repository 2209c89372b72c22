//! `unthrottle plan`: a function's real pipeline in dry run, against the live account (or
//! the emulators), on one event file. It reads what the function reads and writes nothing:
//! its ledger, bucket, metrics and bus are the read-only ports of [`super::readonly`].

use aws_config::SdkConfig;
use chrono::Utc;
use serde_json::Value;
use strum::{EnumIter, IntoEnumIterator};

use super::readonly::{NoWrites, ReadOnlyLedger, Writes};
use super::{Failure, Home};
use crate::adapters::Deploy;
use crate::adapters::ledger::DynamoDbLedger;
use crate::api::Api;
use crate::core::config::{
    CoreSettings, DRY_RUN, Env, LEDGER_TABLE, MAX_EVENT_AGE_SECONDS, RunOptions, SNAPSHOT_BUCKET,
};
use crate::core::envelope::{Envelope, Triage};
use crate::core::pipeline::{Invocation, Pipeline};
use crate::core::plan::SkipReason;
use crate::core::report::Report;
use crate::core::service::Service;
use crate::dynamodb::DynamoDb;
use crate::kinesis::Kinesis;

/// The functions a plan can run, by their deployed names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, strum::Display, strum::EnumString, clap::ValueEnum)]
#[strum(serialize_all = "kebab-case")]
pub enum Function {
    DynamodbThrottle,
    KinesisThrottle,
    ApiThrottle,
}

impl Function {
    /// How much this function's trigger owns the event: 2 it acts on it, 1 it is this
    /// function's but skipped or unreadable (a control-plane call, an event naming no
    /// table), 0 another function's.
    fn owns(self, envelope: &Envelope) -> u8 {
        fn rank<T, E>(triage: Result<Triage<T>, E>) -> u8 {
            match triage {
                Ok(Triage::Throttled { .. }) => 2,
                Ok(Triage::Ignored {
                    reason: SkipReason::NotOurs,
                    ..
                }) => 0,
                Ok(Triage::Ignored { .. }) | Err(_) => 1,
            }
        }
        match self {
            Function::DynamodbThrottle => rank(<DynamoDb as Service>::triage(envelope)),
            Function::KinesisThrottle => rank(<Kinesis as Service>::triage(envelope)),
            Function::ApiThrottle => rank(<Api as Service>::triage(envelope)),
        }
    }

    /// The function `event` is for: the one whose trigger acts on it, else the one whose
    /// trigger knows it as its own and skips it (so the plan says why). `None` when every
    /// function finds it another's.
    pub fn for_event(event: &Value) -> Result<Option<Self>, Failure> {
        let envelope = Envelope::parse(event.clone()).map_err(|e| Failure::Event(e.to_string()))?;
        let best = Function::iter()
            .map(|function| (function.owns(&envelope), function))
            .filter(|(rank, _)| *rank > 0)
            .fold(None::<(u8, Function)>, |best, candidate| match best {
                Some(best) if best.0 >= candidate.0 => Some(best),
                _ => Some(candidate),
            });
        Ok(best.map(|(_, function)| function))
    }
}

/// What a plan ran, and what it found.
#[derive(Debug)]
pub struct Planned {
    pub function: Function,
    pub reports: Vec<Report>,
}

/// Runs `function`'s pipeline in dry run on `event`, acting as if deployed in `home`. The
/// event's age is not held against it (a saved event is planned as if it just arrived).
pub async fn plan(
    function: Function,
    event: Value,
    env: &Env<'_>,
    sdk: &SdkConfig,
    home: Home,
) -> Result<Planned, Failure> {
    // The plan needs the ledger (to read claims and history); the bucket is never written,
    // so a deployment's name is enough and any will do.
    let env = Env::from_fn(|key| match key {
        key if key == DRY_RUN.name => Some("true".to_owned()),
        key if key == MAX_EVENT_AGE_SECONDS.name => Some("0".to_owned()),
        key if key == SNAPSHOT_BUCKET.name => env.get(&SNAPSHOT_BUCKET).or_else(|| Some("-".to_owned())),
        key => env.raw(key),
    });
    if env.get(&LEDGER_TABLE).is_none() {
        return Err(Failure::Usage(
            "LEDGER_TABLE is not set: the plan reads the deployment's ledger (claims, history)".into(),
        ));
    }
    let core = CoreSettings::from_env(&env).map_err(|e| Failure::Usage(e.to_string()))?;
    let writes = Writes::default();
    let reports = match function {
        Function::DynamodbThrottle => run::<DynamoDb>(&env, &core, sdk, event, &home, &writes).await,
        Function::KinesisThrottle => run::<Kinesis>(&env, &core, sdk, event, &home, &writes).await,
        Function::ApiThrottle => run::<Api>(&env, &core, sdk, event, &home, &writes).await,
    }?;
    if writes.attempted() {
        return Err(Failure::Wrote(
            reports
                .iter()
                .map(|report| report.reason.clone())
                .collect::<Vec<_>>()
                .join("; "),
        ));
    }
    Ok(Planned { function, reports })
}

async fn run<S: Deploy>(
    env: &Env<'_>,
    core: &CoreSettings,
    sdk: &SdkConfig,
    event: Value,
    home: &Home,
    writes: &Writes,
) -> Result<Vec<Report>, Failure> {
    let service = S::from_env(env).map_err(|e| Failure::Usage(e.to_string()))?;
    let pipeline = Pipeline {
        resources: service.resources(sdk, core),
        service,
        ledger: ReadOnlyLedger {
            inner: DynamoDbLedger::new(aws_sdk_dynamodb::Client::new(sdk), &core.ledger_table),
            writes,
        },
        snapshots: NoWrites(writes),
        metrics: NoWrites(writes),
        bus: NoWrites(writes),
        options: RunOptions {
            dry_run: true,
            max_event_age: None,
            ..core.run
        },
    };
    let invocation = Invocation {
        id: "unthrottle-plan".to_owned(),
        now: Utc::now(),
        home: home.scope.clone(),
        deadline: None,
    };
    Box::pin(pipeline.handle(event, invocation))
        .await
        .map_err(|e| Failure::Event(e.to_string()))
}
