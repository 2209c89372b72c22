//! The functions' log subscriber, on Lambda's advanced logging controls, read as
//! lambda_runtime's own set-up (its `tracing` feature) reads them. The functions no longer
//! link that one: its `EnvFilter` brings a regex engine into every bootstrap (issue 14,
//! docs/performance.md). The filter here is a `Targets`: the same directives (`debug`,
//! `unthrottle=debug,warn`), minus the span and field filters only `EnvFilter` understands.
//!
//! - Format: JSON lines when `AWS_LAMBDA_LOG_FORMAT` is `JSON` (any case), else text; no
//!   timestamp (CloudWatch adds its own) and no target.
//! - Level: `RUST_LOG`'s directives when any is valid, else the level `AWS_LAMBDA_LOG_LEVEL`
//!   (else `RUST_LOG`) names, else INFO (see [`filter`]).

use tracing::Subscriber;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

/// Installs the process's subscriber, writing to stdout: a function calls it once, first
/// thing. A second call leaves the first subscriber in place.
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
    // Err only when a subscriber is installed already, which then stays.
    let _ = tracing::subscriber::set_global_default(subscriber(json, filter, writer));
}

/// The subscriber [`init`] installs: JSON lines or plain text, no timestamp (CloudWatch adds
/// its own) and no target, through `filter`.
pub fn subscriber<W>(json: bool, filter: Targets, writer: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    // No colour codes: the lines go to CloudWatch (the CLI's `ansi` feature may be on in the
    // same build).
    let lines = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_target(false)
        .without_time()
        .with_writer(writer);
    let subscriber = tracing_subscriber::registry().with(filter);
    if json {
        Box::new(subscriber.with(lines.json()))
    } else {
        Box::new(subscriber.with(lines))
    }
}

/// What the functions log, from the values of `AWS_LAMBDA_LOG_LEVEL` and `RUST_LOG` (an
/// empty value counts as unset), as lambda_runtime's `EnvFilter` set-up decided it:
/// - `RUST_LOG`'s directives, comma-separated, when any is valid: a level (`debug`), a
///   target's level (`unthrottle=debug`), a bare target (all its levels). One that does not
///   parse is dropped; a target not named logs at the bare level given, or not at all when
///   none is. So a `RUST_LOG` set on the function wins over the level Lambda's logging
///   config sets.
/// - Else the level `AWS_LAMBDA_LOG_LEVEL` names, else the level `RUST_LOG` names. Anything
///   that is no level (Lambda's `FATAL`, which tracing lacks, included) means INFO.
pub fn filter(lambda_level: Option<&str>, rust_log: Option<&str>) -> Targets {
    let lambda_level = lambda_level.filter(|value| !value.trim().is_empty());
    let rust_log = rust_log.filter(|value| !value.trim().is_empty());
    let directives: Vec<&str> = rust_log
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|directive| !directive.is_empty() && directive.parse::<Targets>().is_ok())
        .collect();
    if !directives.is_empty()
        && let Ok(targets) = directives.join(",").parse()
    {
        return targets;
    }
    let level = lambda_level
        .or(rust_log)
        .and_then(|name| name.trim().parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    Targets::new().with_default(level)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::{filter, subscriber};
    use tracing::Level;

    /// A writer that keeps what is written, for the format tests.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    /// What one INFO and one DEBUG event write at the default level, in `json` or text.
    fn lines(json: bool) -> Vec<String> {
        let captured = Captured::default();
        let installed = subscriber(json, filter(None, None), captured.clone());
        tracing::subscriber::with_default(installed, || {
            tracing::info!(table = "orders", "raised");
            tracing::debug!("not at INFO");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn json_lines_carry_level_message_and_fields_and_no_time() {
        let lines = lines(true);
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["fields"]["message"], "raised");
        assert_eq!(line["fields"]["table"], "orders");
        assert!(
            line.get("timestamp").is_none() && line.get("target").is_none(),
            "{line}"
        );
    }

    #[test]
    fn text_lines_carry_level_message_and_fields() {
        let lines = lines(false);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].contains("INFO") && lines[0].contains("raised table=\"orders\""),
            "{lines:?}"
        );
        assert!(!lines[0].contains("unthrottle::logging"), "no target: {lines:?}");
        assert!(!lines[0].contains('\u{1b}'), "no colour codes: {lines:?}");
    }

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

    /// As with lambda_runtime's set-up: a valid `RUST_LOG` set on the function wins over the
    /// level Lambda's logging config sets; an invalid one leaves that level.
    #[test]
    fn a_valid_rust_log_wins_over_lambdas_level() {
        assert_eq!(finest(Some("WARN"), Some("trace"), OURS), Some(Level::TRACE));
        assert_eq!(
            finest(Some("ERROR"), Some("unthrottle=debug"), OURS),
            Some(Level::DEBUG)
        );
        assert_eq!(
            finest(Some("WARN"), Some("unthrottle=loud"), OURS),
            Some(Level::WARN)
        );
    }

    #[test]
    fn an_empty_variable_counts_as_unset() {
        assert_eq!(finest(Some(""), None, OURS), Some(Level::INFO));
        assert_eq!(finest(None, Some(""), OURS), Some(Level::INFO));
        assert_eq!(finest(Some(" "), Some("debug"), OURS), Some(Level::DEBUG));
        assert_eq!(finest(Some("WARN"), Some(""), OURS), Some(Level::WARN));
    }

    #[test]
    fn a_lambda_level_that_is_no_level_means_info() {
        // FATAL is Lambda's; tracing has no such level (template.yaml does not offer it).
        assert_eq!(finest(Some("FATAL"), None, OURS), Some(Level::INFO));
        assert_eq!(finest(Some("loud"), None, OURS), Some(Level::INFO));
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
