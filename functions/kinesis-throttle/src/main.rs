//! `kinesis-throttle`: heals throttled Kinesis data streams. Reads its configuration once,
//! builds its AWS clients once, then serves events with the shared pipeline.

use unthrottle::config::{fatal, Env, KinesisConfig};
use unthrottle::{aws, kinesis, lambda, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let config = KinesisConfig::from_env(&Env::process()).map_err(fatal)?;
    let sdk = aws::load_sdk_config().await;
    lambda::serve(kinesis::function(config, &sdk)).await
}
