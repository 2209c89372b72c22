//! `dynamodb-throttle`: heals throttled DynamoDB tables and GSIs.

use unthrottle::dynamodb::DynamoDb;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    unthrottle::run::<DynamoDb>().await
}
