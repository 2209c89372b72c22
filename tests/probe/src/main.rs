//! The fastest a Rust Lambda that touches DynamoDB can be on this machine: it builds the SDK
//! config and one client at init, and each event costs one `DescribeTable` of the table the
//! event names (`{"table": "..."}`). `make bench` runs it under the same Runtime API server
//! as the functions; its init and its round trip are the floor their figures are set against.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let config = aws_config::load_from_env().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let dynamodb = dynamodb.clone();
        async move {
            let table = event.payload["table"].as_str().unwrap_or_default().to_owned();
            let described = dynamodb.describe_table().table_name(table).send().await?;
            let status = described
                .table
                .and_then(|table| table.table_status)
                .map(|status| status.as_str().to_owned());
            Ok::<Value, Error>(json!({ "status": status }))
        }
    }))
    .await
}
