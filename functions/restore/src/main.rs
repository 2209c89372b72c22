//! `restore`: steps what unthrottle raised back down after the quiet hours (hourly schedule).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    unthrottle::restore::run().await
}
