//! `portcullis merge`: reads every node's report, merges them, writes the
//! merged SARIF and JSON summary atomically. Any unreadable report or
//! unusable output path stops it with exit 2 before anything is written,
//! so an earlier merge's files are never replaced by a partial one.

use std::io::Write;
use std::time::SystemTime;

use crate::cli::{Format, MergeArgs, sarif_uri};
use crate::diag::Diagnostics;
use crate::exit::ExitStatus;
use crate::merge::{self, Merged, Options};
use crate::os::fs;
use crate::report;

use super::RunError;

pub(super) fn merge(args: &MergeArgs, diag: &Diagnostics) -> anyhow::Result<ExitStatus> {
    match merged(args) {
        Ok(merged) => {
            if let Err(e) = write(args, &merged) {
                diag.error(&e);
                return Ok(e.exit_status());
            }
            super::write_stdout(|out| match args.format {
                Format::Json => report::json::write(&merged.summary, out),
                Format::Summary => writeln!(out, "{}", summary_line(&merged)),
                Format::Table => table(&merged, out),
            })?;
            Ok(merged.exit)
        }
        Err(errors) => {
            for e in &errors {
                diag.error(e);
            }
            Ok(ExitStatus::Error)
        }
    }
}

/// The merge, or every reason it cannot be made.
fn merged(args: &MergeArgs) -> Result<Merged, Vec<RunError>> {
    let started = SystemTime::now();
    let mut errors: Vec<RunError> = Vec::new();
    for path in [&args.sarif, &args.json].into_iter().flatten() {
        if let Err(e) = report::check_path(path) {
            errors.push(e.into());
        }
    }
    let location = sarif_uri(&args.sarif_location).unwrap_or_else(|e| {
        errors.push(e.into());
        String::new()
    });
    let mut nodes = Vec::with_capacity(args.reports.len());
    for path in &args.reports {
        let file = path.display().to_string();
        let parsed = fs::read_bounded(path, fs::limits::INVENTORY)
            .map_err(|source| RunError::MergeRead {
                path: path.clone(),
                source,
            })
            .and_then(|bytes| Ok(merge::parse(&file, &bytes, &location)?));
        match parsed {
            Ok(node) => nodes.push(node),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let options = Options {
        category: args.category.clone(),
        allow_partial: args.allow_partial,
        command_line: std::env::args_os()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
        started: report::utc(started),
        finished: report::utc(SystemTime::now()),
    };
    merge::merge(nodes, &options).map_err(|e| vec![e.into()])
}

fn write(args: &MergeArgs, merged: &Merged) -> Result<(), RunError> {
    // SARIF pretty (people read it in code-scanning debug logs); the JSON
    // summary on one line, as every JSON report.
    let mut sarif = serde_json::to_vec_pretty(&merged.sarif).expect("JSON values serialise");
    sarif.push(b'\n');
    let mut summary = Vec::new();
    report::json::write(&merged.summary, &mut summary).expect("writing to memory");
    for (path, bytes) in [(&args.sarif, sarif), (&args.json, summary)] {
        let Some(path) = path else { continue };
        fs::write_atomic(path, &bytes).map_err(|source| RunError::ReportWrite {
            path: path.clone(),
            source,
        })?;
    }
    Ok(())
}

/// `portcullis merge: FAIL (exit 1) 3 nodes: 2 findings, 1 coverage result`.
fn summary_line(merged: &Merged) -> String {
    let s = &merged.summary;
    let word = match merged.exit {
        ExitStatus::Clean => "PASS",
        ExitStatus::Violations => "FAIL",
        ExitStatus::Error => "ERROR",
        ExitStatus::Incomplete => "INCOMPLETE",
    };
    let of = report::plural;
    let incomplete = s.nodes.iter().filter(|n| !n.complete).count();
    format!(
        "portcullis merge: {word} (exit {}) {} in {}: {}, {}{}{}",
        merged.exit as i32,
        of(s.nodes.len(), "node", "nodes"),
        s.category,
        of(s.findings.len(), "finding", "findings"),
        of(s.coverage.len(), "coverage result", "coverage results"),
        if incomplete > 0 {
            format!(", {} incomplete", of(incomplete, "node", "nodes"))
        } else {
            String::new()
        },
        if s.findings_included {
            ""
        } else {
            "; findings withheld"
        },
    )
}

/// Each merged finding and coverage result with its nodes, then the line.
fn table(merged: &Merged, out: &mut dyn Write) -> std::io::Result<()> {
    let s = &merged.summary;
    let total = s.nodes.len();
    for f in &s.findings {
        writeln!(
            out,
            "FAIL {:<7} {:<22} {} on {}/{total} nodes: {}",
            f.level,
            f.rule,
            f.location.as_deref().unwrap_or("host-wide"),
            f.nodes.len(),
            report::some_of(f.nodes.clone())
        )?;
        writeln!(out, "     {}", f.message)?;
    }
    for c in &s.coverage {
        writeln!(
            out,
            "! {} on {}/{total} nodes: {}",
            c.message,
            c.nodes.len(),
            report::some_of(c.nodes.clone())
        )?;
    }
    writeln!(out, "{}", summary_line(merged))
}
