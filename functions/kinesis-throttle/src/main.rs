//! `kinesis-throttle`: heals throttled Kinesis data streams.

use unthrottle::kinesis::Kinesis;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    unthrottle::run::<Kinesis>().await
}
