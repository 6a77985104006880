//! JSON: the inventory and what the rules made of it, with the same field
//! names as the inventory contract (README, "JSON inventory"), compact on
//! one line: it is read by programs, and a fleet-sized inventory is tens of
//! megabytes pretty-printed (`jq .` makes it readable).

use std::io::{self, Write};

use serde::Serialize;

use super::{Report, Reporter, utc};
use crate::exit::FailOn;
use crate::model::{Evaluation, Inventory, SCHEMA_VERSION};

pub struct Json;

impl Reporter for Json {
    fn write(&self, report: &Report, out: &mut dyn Write) -> io::Result<()> {
        write(&JudgedReport::new(report), out)
    }
}

/// Any value as one line of JSON.
pub fn write(value: &impl Serialize, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}

/// `scan --json FILE` / `--format json`.
#[derive(Serialize)]
struct JudgedReport<'a> {
    schema_version: u32,
    tool: Tool,
    run: Run<'a>,
    /// Null when the run stopped before collecting (see `run.errors`).
    inventory: Option<&'a Inventory>,
    evaluation: &'a Evaluation,
}

#[derive(Serialize)]
struct Tool {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct Run<'a> {
    command_line: &'a [String],
    started: String,
    finished: String,
    exit_code: i32,
    fail_on: FailOn,
    /// False when anything could not be looked at or judged.
    complete: bool,
    errors: &'a [String],
    category: Option<&'a str>,
    /// `--allow-partial`: gaps were accepted.
    allow_partial: bool,
    /// The machine the report is about: the inventory's host, or for a run
    /// that stopped before it had one, the machine it ran on (as SARIF's
    /// `invocations[].machine`).
    machine: &'a str,
}

impl<'a> JudgedReport<'a> {
    fn new(report: &Report<'a>) -> Self {
        let run = report.run;
        JudgedReport {
            schema_version: SCHEMA_VERSION,
            tool: Tool {
                name: "portcullis",
                version: env!("CARGO_PKG_VERSION"),
            },
            run: Run {
                command_line: &run.command_line,
                started: utc(run.started),
                finished: utc(run.finished),
                exit_code: run.exit as i32,
                fail_on: run.fail_on,
                complete: report.complete(),
                errors: &run.errors,
                category: run.category.as_deref(),
                allow_partial: run.allow_partial,
                machine: report.inventory.map_or(&run.hostname, |i| &i.host.hostname),
            },
            inventory: report.inventory,
            evaluation: report.evaluation,
        }
    }
}
