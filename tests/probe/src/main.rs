//! The fastest a Rust Lambda that touches DynamoDB can be on this machine: it builds the SDK
//! config and one client at init, and each event costs one `DescribeTable` of the table the
//! event names (`{"table": "..."}`). `make bench` runs it under the same Runtime API server
//! as the functions; its init and its round trip are the floor their figures are set against.

use aws_smithy_http_client::tls::Provider;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // The workspace builds the SDK without its default HTTP client (rustls on aws-lc); this is
    // the same client on ring, as a plain Lambda would build it.
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let config = aws_config::from_env().http_client(https).load().await;
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
