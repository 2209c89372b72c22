//! The wiring: a function's `main` is `unthrottle::run::<Service>()`. Configuration is read
//! and every client built once per execution environment, then the pipeline serves events
//! on the Lambda Runtime API.

use aws_config::SdkConfig;
use chrono::Utc;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};

use crate::adapters::clients::OnFirstUse;
use crate::adapters::cloudwatch::PutMetricDataSink;
use crate::adapters::emf::EmfSink;
use crate::adapters::events::EventBridgeBus;
use crate::adapters::ledger::DynamoDbLedger;
use crate::adapters::snapshots::S3Snapshots;
use crate::adapters::{ConfiguredMetrics, Deploy, clients};
use std::time::SystemTime;

use crate::core::config::{CoreSettings, Env, RunOptions, fatal};
use crate::core::envelope::{EventJson, Scope, scope_of_arn};
use crate::core::metrics::MetricsMode;
use crate::core::pipeline::{Invocation, InvocationError, Pipeline, verdict};

/// A function as deployed: the SDK adapters behind every port, those an event may not need
/// built on first use.
pub type Function<S> = Pipeline<
    S,
    OnFirstUse<<S as Deploy>::Resources>,
    DynamoDbLedger,
    OnFirstUse<S3Snapshots>,
    ConfiguredMetrics,
    OnFirstUse<EventBridgeBus>,
>;

/// Runs service `S` as a Lambda function until the execution environment shuts down.
/// Logging follows Lambda's own controls (`crate::logging`): `AWS_LAMBDA_LOG_FORMAT=JSON` for
/// JSON lines; `RUST_LOG`'s directives, else `AWS_LAMBDA_LOG_LEVEL`'s level, else INFO.
pub async fn run<S: Deploy + Clone>() -> Result<(), lambda_runtime::Error> {
    crate::logging::init();
    let env = Env::process();
    let core = CoreSettings::from_env(&env).map_err(fatal)?;
    let service = S::from_env(&env).map_err(fatal)?;
    let local_home = local_home();
    let sdk = clients::load_sdk_config().await;
    // Boxed once at start-up: the served future nests the SDK's deep futures, and its layout
    // would otherwise be computed, past the compiler's depth limit, in every main.
    Box::pin(serve(function(service, &core, &sdk), local_home)).await
}

/// Where a local run (not on Lambda) acts: `UNTHROTTLE_HOME_ACCOUNT` in `AWS_REGION`. (Not
/// `AWS_ACCOUNT_ID`: the SDK reads that one for its credentials and endpoints.)
pub(crate) fn local_home() -> Option<Scope> {
    let variable = |name| {
        std::env::var(name)
            .ok()
            .filter(|value: &String| !value.is_empty())
    };
    Some(Scope {
        account: variable("UNTHROTTLE_HOME_ACCOUNT")?,
        region: variable("AWS_REGION")?,
    })
}

/// Builds each client once, for the life of the Lambda execution environment: the ledger's
/// and the metrics' now, since every event uses them; the others when an event first needs
/// them (clients::OnFirstUse).
pub fn function<S: Deploy + Clone>(service: S, core: &CoreSettings, sdk: &SdkConfig) -> Function<S> {
    let resources = {
        let (service, core, sdk) = (service.clone(), core.clone(), sdk.clone());
        OnFirstUse::new(move || service.resources(&sdk, &core))
    };
    let archive = {
        let (core, sdk) = (core.clone(), sdk.clone());
        OnFirstUse::new(move || snapshots(&core, &sdk))
    };
    let bus = OnFirstUse::from_sdk(sdk, |sdk| {
        EventBridgeBus::new(aws_sdk_eventbridge::Client::new(sdk))
    });
    Pipeline {
        resources,
        service,
        ledger: ledger(core, sdk),
        snapshots: archive,
        metrics: metrics(core, sdk),
        bus,
        options: RunOptions {
            step_budget: clients::OPERATION_TIMEOUT,
            ..core.run
        },
    }
}

/// The deployment's ledger table.
pub fn ledger(core: &CoreSettings, sdk: &SdkConfig) -> DynamoDbLedger {
    DynamoDbLedger::new(aws_sdk_dynamodb::Client::new(sdk), &core.ledger_table)
}

/// The deployment's snapshot bucket.
pub fn snapshots(core: &CoreSettings, sdk: &SdkConfig) -> S3Snapshots {
    let s3 = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(core.s3_force_path_style)
        .build();
    S3Snapshots::new(aws_sdk_s3::Client::from_conf(s3), &core.snapshot_bucket)
}

/// Where the counts go: EMF lines on stdout, or PutMetricData (`METRICS_MODE`).
pub fn metrics(core: &CoreSettings, sdk: &SdkConfig) -> ConfiguredMetrics {
    match core.metrics_mode {
        MetricsMode::Emf => ConfiguredMetrics::Emf(EmfSink::new(&core.metric_namespace, std::io::stdout())),
        MetricsMode::PutMetricData => ConfiguredMetrics::PutMetricData(PutMetricDataSink::new(
            aws_sdk_cloudwatch::Client::new(sdk),
            &core.metric_namespace,
        )),
    }
}

/// Serves events until the execution environment is shut down. An event that cannot be
/// read, or whose remediation failed for a reason a retry may fix, is returned as an error
/// (see `core::pipeline::verdict`), so Lambda's retries and on-failure destination keep it;
/// everything else returns the reports.
///
/// The function acts only in its own account and region, which it reads from its ARN. Outside
/// Lambda (`cargo lambda watch` passes no real ARN) they come from `UNTHROTTLE_HOME_ACCOUNT`
/// and `AWS_REGION`, which `make invoke` sets; without them, every event is refused.
pub async fn serve<S: Deploy>(
    pipeline: Function<S>,
    local_home: Option<Scope>,
) -> Result<(), lambda_runtime::Error> {
    let pipeline = &pipeline;
    let local_home = &local_home;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<EventJson>| async move {
        let home = scope_of_arn(&event.context.invoked_function_arn)
            .or_else(|| local_home.clone())
            .ok_or_else(|| Diagnostic {
                error_type: "UnknownHome".to_owned(),
                error_message: format!(
                    "cannot tell this function's account and region: its ARN is {:?} and \
                     UNTHROTTLE_HOME_ACCOUNT / AWS_REGION are not both set; unthrottle acts only in \
                     its own account and region",
                    event.context.invoked_function_arn
                ),
            })?;
        // Lambda's deadline as a point on the monotonic clock the pipeline checks. Lambda's
        // is always ahead; a local runtime may send none (or one already past), and then
        // nothing is held back.
        let left = event.context.deadline().duration_since(SystemTime::now()).ok();
        let invocation = Invocation {
            id: event.context.request_id.clone(),
            now: Utc::now(),
            home,
            deadline: left.map(|left| tokio::time::Instant::now() + left),
        };
        let handled = pipeline.handle(event.payload, invocation).await;
        handled
            .map_err(InvocationError::from)
            .and_then(verdict)
            .map_err(|error| Diagnostic {
                error_type: error.kind().to_owned(),
                error_message: error.to_string(),
            })
    }))
    .await
}
