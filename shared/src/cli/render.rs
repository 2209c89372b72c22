//! What the command prints: aligned tables for a person (colour only on a terminal), JSON
//! for scripts.

use std::io::Write;

use comfy_table::{Cell, Color, ContentArrangement, Table, presets};
use serde_json::Value;

use super::Failure;
use super::history::{Kind, Row};
use super::plan::Planned;
use crate::core::report::{Outcome, Report};

fn written(result: std::io::Result<()>) -> Result<(), Failure> {
    result.map_err(|e| Failure::Usage(format!("cannot write the output: {e}")))
}

fn table(colour: bool, header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.iter().copied());
    if !colour {
        table.force_no_tty();
    }
    table
}

/// A JSON value on one line, or `-`.
fn brief(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "-".to_owned(),
        Some(value) => value.to_string(),
    }
}

fn outcome_cell(outcome: Outcome) -> Cell {
    let text = serde_json::to_value(outcome)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let colour = match outcome {
        Outcome::Remediated | Outcome::Restored => Color::Green,
        Outcome::Planned => Color::Cyan,
        Outcome::Diagnosed => Color::Blue,
        Outcome::Skipped => Color::Yellow,
        Outcome::Failed => Color::Red,
    };
    Cell::new(text).fg(colour)
}

/// `unthrottle plan`: one row per resource the event names, then each reason in full.
pub fn plan(out: &mut dyn Write, planned: &Planned, json: bool, colour: bool) -> Result<(), Failure> {
    if json {
        let reports = serde_json::to_string_pretty(&planned.reports).unwrap_or_default();
        return written(writeln!(out, "{reports}"));
    }
    let mut rows = table(
        colour,
        &["outcome", "resource", "action", "before", "after", "code"],
    );
    for report in &planned.reports {
        rows.add_row(vec![
            outcome_cell(report.outcome),
            Cell::new(report.resource.as_deref().unwrap_or("-")),
            Cell::new(report.action.as_ref().map_or("-", |action| action.name())),
            Cell::new(brief(report.before.as_ref())),
            Cell::new(brief(report.after.as_ref())),
            Cell::new(report.code.unwrap_or("-")),
        ]);
    }
    written(writeln!(
        out,
        "{} would do (dry run, nothing written):",
        planned.function
    ))?;
    written(writeln!(out, "{rows}"))?;
    for report in &planned.reports {
        written(writeln!(out, "\n{}: {}", name(report), report.reason))?;
        if let Some(advice) = report.advice {
            written(writeln!(out, "  advice: {advice}"))?;
        }
    }
    Ok(())
}

fn name(report: &Report) -> String {
    format!(
        "{}/{}",
        report.service.key,
        report.resource.as_deref().unwrap_or("-")
    )
}

/// `unthrottle history`: newest first.
pub fn history(out: &mut dyn Write, rows: &[Row], json: bool, colour: bool) -> Result<(), Failure> {
    if json {
        let rows = serde_json::to_string_pretty(rows).unwrap_or_default();
        return written(writeln!(out, "{rows}"));
    }
    if rows.is_empty() {
        return written(writeln!(out, "no changes, claims or refusals recorded here"));
    }
    let mut table = table(
        colour,
        &[
            "when (UTC)",
            "what",
            "resource",
            "action",
            "before",
            "after",
            "snapshot",
        ],
    );
    for row in rows {
        let colour = match row.kind {
            Kind::Change => Color::Green,
            Kind::Claimed => Color::Cyan,
            Kind::Refused => Color::Red,
            Kind::ChangedElsewhere => Color::Yellow,
        };
        table.add_row(vec![
            Cell::new(row.at.format("%Y-%m-%d %H:%M:%S")),
            Cell::new(row.kind).fg(colour),
            Cell::new(&row.resource),
            Cell::new(row.action.as_deref().unwrap_or("-")),
            Cell::new(brief(row.before.as_ref())),
            Cell::new(brief(row.after.as_ref())),
            Cell::new(row.snapshot.as_deref().unwrap_or("-")),
        ]);
    }
    written(writeln!(out, "{table}"))?;
    for row in rows.iter().filter(|row| row.kind != Kind::Change) {
        written(writeln!(out, "\n{} {}: {}", row.resource, row.kind, row.detail))?;
    }
    Ok(())
}

/// `unthrottle rollback`.
pub fn rollback(out: &mut dyn Write, done: &super::rollback::RolledBack, json: bool) -> Result<(), Failure> {
    if json {
        let text = serde_json::to_string_pretty(&serde_json::json!({
            "resource": format!("{}/{}", done.resource.service, done.resource.name),
            "before": done.before,
            "after": done.after,
            "snapshot": done.snapshot,
            "remaining": done.remaining,
            "held": done.held,
            "dryRun": done.dry_run,
        }))
        .unwrap_or_default();
        return written(writeln!(out, "{text}"));
    }
    let verb = if done.dry_run {
        "would restore"
    } else if done.held.is_some() && done.before == done.after {
        "not restored yet:"
    } else if done.before == done.after {
        "nothing to restore:"
    } else {
        "restored"
    };
    written(writeln!(
        out,
        "{}/{} {verb} {} -> {}",
        done.resource.service, done.resource.name, done.before, done.after
    ))?;
    if let Some(snapshot) = &done.snapshot {
        written(writeln!(out, "the state it replaced: {snapshot}"))?;
    }
    if let Some(why) = &done.held {
        written(writeln!(out, "held by AWS's limits: {why}"))?;
    }
    Ok(())
}
