//! One node's report as `merge` reads it: a SARIF log portcullis wrote, or a
//! JSON report, which becomes the SARIF log the same run would have written
//! (so both kinds merge by the same code and the same fingerprints).

use std::time::SystemTime;

use serde::Deserialize;
use serde_json::Value;

use crate::exit::{ExitStatus, FailOn};
use crate::model::{Evaluation, Inventory};
use crate::report::{Report, RunInfo, sarif};

/// A node's two runs and what merge needs to know of them.
#[derive(Debug, Clone)]
pub struct NodeLog {
    /// The file it came from, as given.
    pub source: String,
    /// The machine the run was on (SARIF `invocations[0].machine`).
    pub node: String,
    /// The findings category the run had, `portcullis` or `portcullis/NAME`.
    pub category: String,
    pub exit_code: i64,
    /// It looked at everything and every plugin answered.
    pub complete: bool,
    /// The findings run; none when the node withheld its findings.
    pub findings: Option<Value>,
    /// The coverage run: always there.
    pub coverage: Value,
}

/// Why a node's report cannot be merged. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{file}: {source}")]
    Json {
        file: String,
        source: serde_json::Error,
    },
    #[error("{file}: neither a SARIF log nor a JSON report of portcullis")]
    NotPortcullis { file: String },
    #[error("{file}: {why}")]
    Malformed { file: String, why: String },
}

/// Reads one node's report. `sarif_location` is where results of a JSON
/// report point (a SARIF log keeps its own).
pub fn parse(file: &str, bytes: &[u8], sarif_location: &str) -> Result<NodeLog, InputError> {
    let json_error = |source| InputError::Json {
        file: file.to_owned(),
        source,
    };
    let value: Value = serde_json::from_slice(bytes).map_err(json_error)?;
    let log = if value.get("runs").is_some() {
        value
    } else if value.get("evaluation").is_some() && value.get("run").is_some() {
        drop(value);
        let report: JsonReport = serde_json::from_slice(bytes).map_err(json_error)?;
        sarif_of(file, report, sarif_location)?
    } else {
        return Err(InputError::NotPortcullis {
            file: file.to_owned(),
        });
    };
    node_log(file, log)
}

/// `scan --json`'s report, as far as SARIF needs it.
#[derive(Deserialize)]
struct JsonReport {
    run: JsonRun,
    inventory: Option<Inventory>,
    evaluation: Evaluation,
}

#[derive(Deserialize)]
struct JsonRun {
    command_line: Vec<String>,
    started: String,
    finished: String,
    exit_code: i32,
    fail_on: FailOn,
    complete: bool,
    errors: Vec<String>,
    category: Option<String>,
    /// Written since merge exists; older reports are read by what the
    /// rest implies (see `allow_partial`).
    #[serde(default)]
    allow_partial: Option<bool>,
    #[serde(default)]
    machine: Option<String>,
}

fn sarif_of(file: &str, report: JsonReport, sarif_location: &str) -> Result<Value, InputError> {
    let malformed = |why: String| InputError::Malformed {
        file: file.to_owned(),
        why,
    };
    let time = |text: &str| -> Result<SystemTime, InputError> {
        humantime::parse_rfc3339(text).map_err(|e| malformed(format!("run time {text:?}: {e}")))
    };
    let r = report.run;
    let exit = ExitStatus::from_code(r.exit_code).ok_or_else(|| {
        malformed(format!(
            "run.exit_code {} is no portcullis exit code",
            r.exit_code
        ))
    })?;
    // A run that was incomplete but did not exit 3 (or 2) was allowed to be.
    let allow_partial = r.allow_partial.unwrap_or(
        !r.complete
            && r.errors.is_empty()
            && matches!(exit, ExitStatus::Clean | ExitStatus::Violations),
    );
    let hostname = r
        .machine
        .or_else(|| report.inventory.as_ref().map(|i| i.host.hostname.clone()))
        .unwrap_or_default();
    let run = RunInfo {
        command_line: r.command_line,
        started: time(&r.started)?,
        finished: time(&r.finished)?,
        exit,
        fail_on: r.fail_on,
        errors: r.errors,
        category: r.category,
        allow_partial,
        hostname,
        sarif_location: sarif_location.to_owned(),
    };
    let report = Report {
        run: &run,
        inventory: report.inventory.as_ref(),
        evaluation: &report.evaluation,
    };
    serde_json::to_value(sarif::log(&report)).map_err(|e| malformed(e.to_string()))
}

/// The node's runs, told apart by their categories.
fn node_log(file: &str, log: Value) -> Result<NodeLog, InputError> {
    let malformed = |why: &str| InputError::Malformed {
        file: file.to_owned(),
        why: why.to_owned(),
    };
    let Some(Value::Array(runs)) = log.get("runs").cloned() else {
        return Err(malformed("`runs` is not a list"));
    };
    let mut findings = None;
    let mut coverage = None;
    for run in runs {
        if run.pointer("/tool/driver/name").and_then(Value::as_str) != Some("portcullis") {
            return Err(InputError::NotPortcullis {
                file: file.to_owned(),
            });
        }
        let id = run
            .pointer("/automationDetails/id")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed("a run has no automationDetails.id"))?;
        let slot = if id.ends_with("/coverage/") {
            &mut coverage
        } else {
            &mut findings
        };
        if slot.replace(run).is_some() {
            return Err(malformed("two runs of one category"));
        }
    }
    let coverage = coverage.ok_or_else(|| malformed("no coverage run (…/coverage/)"))?;
    let category = coverage
        .pointer("/properties/findingsCategory")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("the coverage run has no properties.findingsCategory"))?
        .to_owned();
    let invocation = coverage
        .pointer("/invocations/0")
        .ok_or_else(|| malformed("the coverage run has no invocation"))?;
    let node = invocation
        .get("machine")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if node.is_empty() {
        return Err(malformed("the invocation names no machine"));
    }
    Ok(NodeLog {
        source: file.to_owned(),
        node,
        exit_code: invocation
            .get("exitCode")
            .and_then(Value::as_i64)
            .unwrap_or(2),
        complete: invocation.get("executionSuccessful") == Some(&Value::Bool(true)),
        category,
        findings,
        coverage,
    })
}
