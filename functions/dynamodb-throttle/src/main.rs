//! `dynamodb-throttle`: heals throttled DynamoDB tables. Reads its configuration once,
//! builds its AWS clients once, then serves events with the shared pipeline.

use unthrottle::config::{fatal, DynamoDbConfig, Env};
use unthrottle::{aws, dynamodb, lambda, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let config = DynamoDbConfig::from_env(&Env::process()).map_err(fatal)?;
    let sdk = aws::load_sdk_config().await;
    lambda::serve(dynamodb::function(config, &sdk)).await
}
