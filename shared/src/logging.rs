//! The functions' log subscriber, on Lambda's advanced logging controls: the same set-up as
//! lambda_runtime's own (`tracing` feature), which the functions no longer link, since its
//! `EnvFilter` brings a regex engine into every bootstrap (issue 14, docs/performance.md).
//! The filter is a `Targets`: the same directives (`debug`, `unthrottle=debug,warn`), minus
//! the span and field filters only `EnvFilter` understands.
//!
//! - Format: JSON lines when `AWS_LAMBDA_LOG_FORMAT` is `JSON` (any case), else text; no
//!   timestamp (CloudWatch adds its own) and no target.
//! - Level: `AWS_LAMBDA_LOG_LEVEL` if set, else `RUST_LOG`, else INFO (see [`filter`]).

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the process's subscriber, writing to stdout. Panics if one is installed already
/// (as lambda_runtime's did): a function calls it once, first thing.
pub fn init() {
    init_with_writer(std::io::stdout);
}

/// [`init`] with another writer (the handler bench logs to a sink).
pub fn init_with_writer<W>(writer: W)
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let variable = |name| std::env::var(name).ok();
    let filter = filter(
        variable("AWS_LAMBDA_LOG_LEVEL").as_deref(),
        variable("RUST_LOG").as_deref(),
    );
    let json = variable("AWS_LAMBDA_LOG_FORMAT").is_some_and(|format| format.eq_ignore_ascii_case("json"));
    let lines = tracing_subscriber::fmt::layer()
        .with_target(false)
        .without_time()
        .with_writer(writer);
    let subscriber = tracing_subscriber::registry().with(filter);
    if json {
        subscriber.with(lines.json()).init();
    } else {
        subscriber.with(lines).init();
    }
}

/// What the functions log, from the values of `AWS_LAMBDA_LOG_LEVEL` and `RUST_LOG`:
/// - `AWS_LAMBDA_LOG_LEVEL` wins when set. Lambda sets it to a level name, and it is read as
///   one only: anything else (Lambda's `FATAL`, which tracing lacks, included) means INFO.
/// - Else `RUST_LOG`'s directives, comma-separated: a level (`debug`), a target's level
///   (`unthrottle=debug`), a bare target (all its levels). One that does not parse is
///   dropped, as `EnvFilter` drops it; a target not named logs at the bare level given, or
///   not at all when none is. With no directive left, INFO.
/// - Else INFO.
pub fn filter(lambda_level: Option<&str>, rust_log: Option<&str>) -> Targets {
    // As lambda_runtime did: the level, from whichever variable is read, if it is one.
    let level = lambda_level
        .or(rust_log)
        .map_or(Ok(LevelFilter::INFO), str::parse)
        .unwrap_or(LevelFilter::INFO);
    let by_level = || Targets::new().with_default(level);
    let (None, Some(directives)) = (lambda_level, rust_log) else {
        return by_level();
    };
    let parsed: Vec<&str> = directives
        .split(',')
        .filter(|directive| !directive.is_empty() && directive.parse::<Targets>().is_ok())
        .collect();
    if parsed.is_empty() {
        return by_level();
    }
    parsed.join(",").parse().unwrap_or_else(|_| by_level())
}

#[cfg(test)]
mod tests {
    use super::filter;
    use tracing::Level;

    /// The most verbose level `target` logs at under the filter, `None` for nothing.
    fn finest(lambda_level: Option<&str>, rust_log: Option<&str>, target: &str) -> Option<Level> {
        let filter = filter(lambda_level, rust_log);
        [Level::TRACE, Level::DEBUG, Level::INFO, Level::WARN, Level::ERROR]
            .into_iter()
            .find(|level| filter.would_enable(target, level))
    }

    const OURS: &str = "unthrottle::run";
    const THEIRS: &str = "aws_smithy_runtime::client";

    #[test]
    fn without_either_variable_the_level_is_info() {
        assert_eq!(finest(None, None, OURS), Some(Level::INFO));
        assert_eq!(finest(None, None, THEIRS), Some(Level::INFO));
    }

    #[test]
    fn lambdas_level_is_read_in_any_case() {
        assert_eq!(finest(Some("DEBUG"), None, OURS), Some(Level::DEBUG));
        assert_eq!(finest(Some("warn"), None, THEIRS), Some(Level::WARN));
        assert_eq!(finest(Some("TRACE"), None, THEIRS), Some(Level::TRACE));
        assert_eq!(finest(Some("ERROR"), None, OURS), Some(Level::ERROR));
    }

    #[test]
    fn lambdas_level_wins_over_rust_log() {
        assert_eq!(finest(Some("WARN"), Some("trace"), OURS), Some(Level::WARN));
        assert_eq!(
            finest(Some("ERROR"), Some("unthrottle=debug"), OURS),
            Some(Level::ERROR)
        );
    }

    #[test]
    fn a_lambda_level_that_is_no_level_means_info() {
        // FATAL is Lambda's; tracing has no such level (template.yaml does not offer it).
        assert_eq!(finest(Some("FATAL"), None, OURS), Some(Level::INFO));
        assert_eq!(finest(Some("loud"), Some("debug"), OURS), Some(Level::INFO));
        // Directives are RUST_LOG's only.
        assert_eq!(finest(Some("unthrottle=debug"), None, OURS), Some(Level::INFO));
    }

    #[test]
    fn rust_log_takes_a_level() {
        assert_eq!(finest(None, Some("debug"), THEIRS), Some(Level::DEBUG));
        assert_eq!(finest(None, Some("WARN"), OURS), Some(Level::WARN));
    }

    #[test]
    fn rust_log_takes_directives_per_target() {
        let rust_log = Some("unthrottle=debug,warn");
        assert_eq!(finest(None, rust_log, OURS), Some(Level::DEBUG));
        assert_eq!(finest(None, rust_log, THEIRS), Some(Level::WARN));
        // Without a bare level, only the targets named log.
        assert_eq!(finest(None, Some("unthrottle=debug"), OURS), Some(Level::DEBUG));
        assert_eq!(finest(None, Some("unthrottle=debug"), THEIRS), None);
    }

    #[test]
    fn a_bad_directive_is_dropped_and_none_left_means_info() {
        assert_eq!(
            finest(None, Some("unthrottle=loud,debug"), OURS),
            Some(Level::DEBUG)
        );
        assert_eq!(finest(None, Some("unthrottle=loud"), OURS), Some(Level::INFO));
        assert_eq!(finest(None, Some("unthrottle=loud"), THEIRS), Some(Level::INFO));
        assert_eq!(finest(None, Some(",,"), THEIRS), Some(Level::INFO));
    }
}
