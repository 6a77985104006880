//! Reports: one writer per format behind [`Reporter`], each a pure function
//! of a [`Report`] (the inventory, what the rules made of it, and how the
//! run went) writing to any `io::Write`. Files are written atomically by
//! [`write_file`]; the table of a bare inventory (`list`) is [`table`].

pub mod catalogue;
pub mod findings;
mod identity;
pub(crate) use identity::digest;
pub mod json;
pub mod junit;
pub mod metrics;
pub mod sarif;
mod sarif_types;
pub mod table;
mod xml;

use std::io::{self, Write};
use std::path::Path;
use std::time::SystemTime;

/// How much of what the host (or a plugin) controls a report repeats:
/// any user can start a process with a 2 MB command line and many forks,
/// and a report that repeats it all is one that readers refuse. The JSON
/// report keeps every byte; the others cut, saying so (`…[+N bytes]`).
pub mod bounds {
    /// A process name, unit, container id.
    pub const NAME: usize = 256;
    /// An executable or unit file path.
    pub const PATH: usize = 1024;
    /// A whole command line, all arguments together.
    pub const COMMAND_LINE: usize = 2048;
    /// A rule's message.
    pub const MESSAGE: usize = 4096;
    /// Holders named per listener; the rest are counted.
    pub const HOLDERS: usize = 16;
    /// JUnit: passing testcases written per rule; above it, one testcase
    /// counts them all, so a 30,000-listener host's file stays bounded
    /// while every failure keeps its own testcase.
    pub const PASSES_LISTED: usize = 1000;
}

/// `names` joined with `,`, at most [`bounds::HOLDERS`] of them, then
/// `,…+N more`.
pub(crate) fn some_of(names: Vec<String>) -> String {
    let more = names.len().saturating_sub(bounds::HOLDERS);
    let mut text = names
        .into_iter()
        .take(bounds::HOLDERS)
        .collect::<Vec<_>>()
        .join(",");
    if more > 0 {
        text.push_str(&format!(",…+{more} more"));
    }
    text
}

use crate::exit::{ExitStatus, FailOn};
use crate::model::{Evaluation, Inventory};

/// How the run went, beyond what was found: the reports' header.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub command_line: Vec<String>,
    pub started: SystemTime,
    pub finished: SystemTime,
    /// The exit code the run ends with (before any report fails to write).
    pub exit: ExitStatus,
    pub fail_on: FailOn,
    /// What stopped the run before it could judge (a malformed policy, a
    /// plugin that would not load, an unusable report path): no inventory,
    /// and the reports say so instead of showing an empty host.
    pub errors: Vec<String>,
    /// `--category`: one code-scanning category per image.
    pub category: Option<String>,
    /// `--allow-partial`: a run with gaps still speaks for its findings.
    pub allow_partial: bool,
    /// The machine portcullis ran on, for reports of runs that have no
    /// inventory (whose host facts name it otherwise).
    pub hostname: String,
    /// `--sarif-location`: the repository file SARIF results point at.
    pub sarif_location: String,
}

/// Everything a reporter renders.
#[derive(Clone, Copy)]
pub struct Report<'a> {
    pub run: &'a RunInfo,
    /// None when the run stopped before collecting (see `run.errors`).
    pub inventory: Option<&'a Inventory>,
    pub evaluation: &'a Evaluation,
}

impl Report<'_> {
    /// Everything was looked at and every plugin answered.
    pub fn complete(&self) -> bool {
        self.run.errors.is_empty()
            && self
                .inventory
                .is_some_and(|inv| self.evaluation.is_complete_for(inv))
    }
}

/// Something that kept the run from looking at or judging everything: a
/// setup error, a coverage gap or a plugin failure. JUnit and SARIF report
/// the same list.
pub(crate) struct Shortfall {
    /// `setup-error`, the gap's kind (`netns_not_enterable`), or
    /// `plugin-failure`.
    pub kind: String,
    /// Stable id of its cause: `setup-error`, `gap/<kind>`,
    /// `plugin-failure/<plugin>`.
    pub descriptor: String,
    /// What it concerns, stable across runs: `setup`, `<namespace label or
    /// host-wide> <kind>`, `plugin <name>`.
    pub subject: String,
    pub message: String,
    /// One sentence that stands alone (code scanning shows it as an alert).
    pub sentence: String,
    /// Details for programs.
    pub properties: std::collections::BTreeMap<&'static str, serde_json::Value>,
}

pub(crate) fn shortfalls(report: &Report) -> Vec<Shortfall> {
    use serde_json::json;
    let mut out: Vec<Shortfall> = report
        .run
        .errors
        .iter()
        .map(|e| Shortfall {
            kind: "setup-error".into(),
            descriptor: "setup-error".into(),
            subject: "setup".into(),
            message: e.clone(),
            sentence: format!("The scan did not run: {e}"),
            properties: Default::default(),
        })
        .collect();
    if let Some(inv) = report.inventory {
        for gap in &inv.gaps {
            let ns = gap
                .netns
                .map_or_else(|| "host-wide".to_owned(), |n| identity::netns_label(inv, n));
            let kind = gap.kind.as_str().to_owned();
            out.push(Shortfall {
                descriptor: format!("gap/{kind}"),
                subject: format!("{ns} {kind}"),
                message: gap.detail.clone(),
                sentence: format!("Incomplete scan ({ns}): {}", gap.detail),
                properties: [("netns", json!(gap.netns)), ("pids", json!(gap.pids))].into(),
                kind,
            });
        }
    }
    out.extend(report.evaluation.plugin_failures.iter().map(|f| Shortfall {
        kind: "plugin-failure".into(),
        descriptor: format!("plugin-failure/{}", f.plugin),
        subject: format!("plugin {}", f.plugin),
        message: f.message.clone(),
        sentence: format!(
            "Rules {} were not judged: {}",
            f.rules.join(", "),
            f.message
        ),
        properties: [("rules", json!(f.rules))].into(),
    }));
    out
}

/// One output format.
pub trait Reporter {
    fn write(&self, report: &Report, out: &mut dyn Write) -> io::Result<()>;
}

/// The report file formats, as `--json`, `--junit`, `--sarif` and
/// `--metrics` name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Json,
    Junit,
    Sarif,
    Metrics,
}

impl FileFormat {
    pub fn reporter(self) -> &'static dyn Reporter {
        match self {
            FileFormat::Json => &json::Json,
            FileFormat::Junit => &junit::Junit,
            FileFormat::Sarif => &sarif::Sarif,
            FileFormat::Metrics => &metrics::Metrics,
        }
    }
}

/// Renders a report into `path` atomically: the whole report goes to a
/// temporary file beside it, which is synced and renamed over `path`, so a
/// reader (or a crash) never sees half a report.
pub fn write_file(
    path: &Path,
    reporter: &dyn Reporter,
    report: &Report,
) -> Result<(), crate::os::fs::FileError> {
    let mut bytes = Vec::with_capacity(64 * 1024);
    reporter.write(report, &mut bytes)?;
    crate::os::fs::write_atomic(path, &bytes)
}

/// Checks before a run that a report can be written to `path`: its folder
/// opens, and the name is free or a regular file (never a link, a device or
/// a FIFO, which writing would destroy or write through). Permissions are
/// found out when writing.
pub fn check_path(path: &Path) -> Result<(), PathError> {
    crate::os::fs::check_writable(path).map_err(|source| PathError {
        path: path.to_owned(),
        source,
    })
}

/// A report path that cannot be written.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct PathError {
    pub path: std::path::PathBuf,
    pub source: crate::os::fs::FileError,
}

/// `1 listener`, `2 listeners`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `text` with every byte but ASCII letters, digits and `keep` as `%XX`.
pub(crate) fn percent_encode(text: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || keep.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `2026-11-24T10:00:00Z`: UTC, whole seconds.
pub(crate) fn utc(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

#[cfg(test)]
mod tests;
