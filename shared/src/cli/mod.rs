//! The `unthrottle` command: what would it do (`plan`), what did it do (`history`), undo it
//! (`rollback`).
//! Exit codes (docs/operations.md):
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done |
//! | 1 | AWS (or the emulators) failed a call: the message says which and what to do |
//! | 2 | the command line or the configuration is wrong |
//! | 3 | the event file cannot be read as an EventBridge event |
//! | 4 | `plan` tried to write (a defect: the plan is refused rather than let it write) |
//! | 5 | `rollback`: the snapshot cannot be used (missing, not unthrottle's, another account's) |
//! | 6 | `rollback`: an incident holds the resource's claim; try again after it ends |
//! | 7 | `rollback`: unthrottle cannot undo that change (a quota increase, or not built yet) |
//! | 8 | `rollback`: AWS's limits left steps to take; run again, or pass `--follow` |
//! | 9 | `rollback`: the resource changed since unthrottle's change; `--force` restores anyway |

pub mod history;
pub mod plan;
pub mod readonly;
pub mod render;
pub mod rollback;

use std::path::PathBuf;

use aws_config::SdkConfig;
use clap::{Args, Parser, Subcommand};

use crate::core::domain::ServiceId;
use crate::core::envelope::Scope;
use crate::core::error::Error;
use crate::core::service::Service;

/// The services whose records the command reads, by their keys (`dynamodb`).
pub const SERVICES: [ServiceId; 3] = [
    crate::dynamodb::DynamoDb::ID,
    crate::kinesis::Kinesis::ID,
    crate::api::Api::ID,
];

/// The service a record names by its key.
pub fn service_named(key: &str) -> Option<ServiceId> {
    SERVICES.into_iter().find(|service| service.key == key)
}

/// unthrottle: what it would do, and what it did.
#[derive(Debug, Parser)]
#[command(name = "unthrottle", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a function's pipeline in dry run on an event file: what it would do and why.
    /// Reads the account (or the emulators), writes nothing.
    Plan(PlanArgs),
    /// The changes unthrottle made (from the snapshot bucket), and the claims, refusals and
    /// changes made elsewhere that the ledger holds now, newest first.
    History(HistoryArgs),
    /// Restore what a snapshot recorded (`history` lists them): snapshots the current state
    /// first, takes the resource's claim like a remediation, and respects AWS's limits.
    Rollback(RollbackArgs),
}

/// Where the command acts, as a deployed function would.
#[derive(Debug, Args)]
pub struct Where {
    /// The account the deployment runs in (default: UNTHROTTLE_HOME_ACCOUNT, as `make
    /// invoke` uses it, else STS GetCallerIdentity's).
    #[arg(long, env = "UNTHROTTLE_HOME_ACCOUNT")]
    pub account: Option<String>,
    /// The region the deployment runs in (default: the SDK's, e.g. AWS_REGION).
    #[arg(long)]
    pub region: Option<String>,
    /// Print JSON for scripts instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// An EventBridge event as JSON (the events/ samples, or one saved from a rule).
    #[arg(long, value_name = "FILE")]
    pub event: PathBuf,
    /// The function to plan with (default: the one whose rule takes the event).
    #[arg(long, value_enum)]
    pub function: Option<plan::Function>,
    #[command(flatten)]
    pub place: Where,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// A table, stream or API (`orders`, `clickstream`, `kms.Decrypt`); default: every one.
    pub resource: Option<String>,
    /// Only this service's records.
    #[arg(long, value_parser = ["dynamodb", "kinesis", "api"])]
    pub service: Option<String>,
    /// At most this many changes, the newest.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    #[command(flatten)]
    pub place: Where,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The snapshot's location: s3://BUCKET/KEY, as `history` prints it.
    pub snapshot: String,
    /// Say what would be restored; change nothing, take no claim.
    #[arg(long)]
    pub dry_run: bool,
    /// Keep going while AWS's limits allow (a stream halves per call): wait for each step.
    #[arg(long)]
    pub follow: bool,
    /// Restore even though the resource changed since unthrottle's change (that change is
    /// undone too).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub place: Where,
}

/// The account and region the command acts in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    pub scope: Scope,
}

impl Home {
    /// `--account`/`--region`, else STS's answer and the SDK's region.
    pub async fn resolve(place: &Where, sdk: &SdkConfig) -> Result<Self, Failure> {
        let region = match (&place.region, sdk.region()) {
            (Some(region), _) => region.clone(),
            (None, Some(region)) => region.to_string(),
            (None, None) => {
                return Err(Failure::Usage(
                    "no region: pass --region or set AWS_REGION".into(),
                ));
            }
        };
        let account = match &place.account {
            Some(account) => account.clone(),
            None => credentials_account(sdk).await?,
        };
        Ok(Home {
            scope: Scope { account, region },
        })
    }

    /// A change acts with the credentials' account, whatever `--account` says: they must
    /// agree, or the rollback would check one account and change another.
    pub async fn confirm(&self, sdk: &SdkConfig) -> Result<(), Failure> {
        let account = credentials_account(sdk).await?;
        if account == self.scope.account {
            return Ok(());
        }
        Err(Failure::Usage(format!(
            "these credentials are of account {account}, not {}: a rollback acts only with the snapshot's \
             account's credentials",
            self.scope.account
        )))
    }
}

/// The account STS says the credentials are of.
async fn credentials_account(sdk: &SdkConfig) -> Result<String, Failure> {
    aws_sdk_sts::Client::new(sdk)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| {
            Failure::Aws(
                crate::adapters::errors::classify("GetCallerIdentity", "-", &e)
                    .advise("give the command credentials (and pass --account for plan and history)"),
            )
        })?
        .account()
        .map(str::to_owned)
        .ok_or_else(|| Failure::Usage("STS named no account: pass --account".into()))
}

/// Why the command failed, and its exit code.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("{0}")]
    Aws(Error),
    #[error("{0}")]
    Usage(String),
    #[error("the event cannot be read: {0}")]
    Event(String),
    #[error("the plan tried to write, and was stopped (please report it): {0}")]
    Wrote(String),
    #[error("{0}")]
    Snapshot(String),
    #[error("event {holder} holds the resource's claim until {until}: try again after it ends")]
    Claimed {
        holder: String,
        until: chrono::DateTime<chrono::Utc>,
    },
    #[error("{0}")]
    CannotUndo(String),
    #[error("{0}")]
    Partial(String),
    #[error("{0}")]
    Drifted(String),
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Aws(_) => 1,
            Failure::Usage(_) => 2,
            Failure::Event(_) => 3,
            Failure::Wrote(_) => 4,
            Failure::Snapshot(_) => 5,
            Failure::Claimed { .. } => 6,
            Failure::CannotUndo(_) => 7,
            Failure::Partial(_) => 8,
            Failure::Drifted(_) => 9,
        }
    }
}

/// The SDK's configuration, in `--region` when given: the region is where the command acts,
/// never only a label.
fn in_region(sdk: &SdkConfig, place: &Where) -> SdkConfig {
    match &place.region {
        Some(region) => sdk
            .to_builder()
            .region(aws_config::Region::new(region.clone()))
            .build(),
        None => sdk.clone(),
    }
}

/// Runs the command; what it prints goes to `out`, coloured when `colour`.
pub async fn run(
    cli: Cli,
    env: &crate::core::config::Env<'_>,
    sdk: &SdkConfig,
    out: &mut dyn std::io::Write,
    colour: bool,
) -> Result<(), Failure> {
    match cli.command {
        Command::Plan(args) => {
            let text = std::fs::read_to_string(&args.event)
                .map_err(|e| Failure::Usage(format!("{}: {e}", args.event.display())))?;
            let event: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| Failure::Event(format!("{}: {e}", args.event.display())))?;
            let function = match args.function {
                Some(function) => function,
                None => plan::Function::for_event(&event)?.ok_or_else(|| {
                    Failure::Event(format!(
                        "no function takes {}: not a throttle unthrottle acts on (pass --function to see why one \
                         skips it)",
                        args.event.display()
                    ))
                })?,
            };
            let sdk = in_region(sdk, &args.place);
            let home = Home::resolve(&args.place, &sdk).await?;
            let planned = plan::plan(function, event, env, &sdk, home).await?;
            render::plan(out, &planned, args.place.json, colour)
        }
        Command::History(args) => {
            let sdk = in_region(sdk, &args.place);
            let home = Home::resolve(&args.place, &sdk).await?;
            let core = crate::core::config::CoreSettings::from_env(env)
                .map_err(|e| Failure::Usage(e.to_string()))?;
            let s3 = aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(core.s3_force_path_style)
                .build();
            let archive = crate::adapters::snapshots::S3Snapshots::new(
                aws_sdk_s3::Client::from_conf(s3),
                &core.snapshot_bucket,
            );
            let ledger = crate::adapters::ledger::DynamoDbLedger::new(
                aws_sdk_dynamodb::Client::new(&sdk),
                &core.ledger_table,
            );
            let filter = history::Filter {
                resource: args.resource,
                service: args.service,
                limit: args.limit,
            };
            let rows = history::history(&archive, &ledger, &home, &filter, chrono::Utc::now()).await?;
            render::history(out, &rows, args.place.json, colour)
        }
        Command::Rollback(args) => {
            let sdk = in_region(sdk, &args.place);
            let home = Home::resolve(&args.place, &sdk).await?;
            // Without --account the account is STS's answer already.
            if args.place.account.is_some() {
                home.confirm(&sdk).await?;
            }
            let core = crate::core::config::CoreSettings::from_env(env)
                .map_err(|e| Failure::Usage(e.to_string()))?;
            let options = rollback::Options {
                dry_run: args.dry_run,
                follow: args.follow,
                force: args.force,
                poll: None,
            };
            let done = rollback::rollback(&args.snapshot, &home, &core, &sdk, options).await?;
            render::rollback(out, &done, args.place.json)?;
            if done.remaining > 0 && !done.dry_run {
                return Err(Failure::Partial(match &done.held {
                    Some(why) => format!(
                        "{} more step(s) to go, held by AWS's limits ({why}): run the same command again then",
                        done.remaining
                    ),
                    None => format!(
                        "{} more step(s) to go, as AWS's limits allow: run the same command again, or with --follow",
                        done.remaining
                    ),
                }));
            }
            Ok(())
        }
    }
}
