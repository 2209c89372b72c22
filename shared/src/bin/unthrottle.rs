//! `unthrottle plan | history | rollback`: see `unthrottle --help` and docs/operations.md.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use unthrottle::cli::{Cli, run};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let env = unthrottle::core::config::Env::process();
    let sdk = unthrottle::adapters::clients::load_sdk_config().await;
    let colour = std::io::stdout().is_terminal();
    let mut out = std::io::stdout().lock();
    match Box::pin(run(cli, &env, &sdk, &mut out, colour)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("unthrottle: {failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}
