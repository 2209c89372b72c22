//! `unthrottle plan | history | rollback`: see `unthrottle --help` and docs/operations.md.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use unthrottle::cli::{Cli, run};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // RUST_LOG's directives (`debug`, `unthrottle=debug,warn`), else warnings only.
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|directives| !directives.is_empty())
        .and_then(|directives| directives.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::WARN));
    tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
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
