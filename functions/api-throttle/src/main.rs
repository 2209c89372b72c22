//! `api-throttle`: names who is throttled on any AWS API, and what to do.

use unthrottle::api::Api;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    unthrottle::run::<Api>().await
}
