//! Runs a parsed command: collect, filter, write, and decide the exit code.

use std::io::Write;

use crate::cli::{Command, Format, ListSettings};
use crate::exit::ExitStatus;
use crate::model::{Inventory, Scope};
use crate::{collect, report};

pub fn run(command: Command) -> anyhow::Result<ExitStatus> {
    match command {
        Command::List(args) => list(&ListSettings::from(args)),
    }
}

fn list(settings: &ListSettings) -> anyhow::Result<ExitStatus> {
    let mut inventory = match collect::collect(&settings.request) {
        Ok(inventory) => inventory,
        Err(collect::CollectError::Select(e)) => {
            eprintln!("portcullis: {e}");
            return Ok(ExitStatus::Error);
        }
        Err(e) => return Err(e.into()),
    };
    if settings.no_loopback {
        inventory.listeners.retain(|l| l.scope != Scope::Loopback);
    }
    report_gaps(&inventory);
    // Block-buffered: stdout is line-buffered, and pretty JSON of a large
    // inventory is millions of lines.
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let written = match settings.format {
        Format::Table => report::table::write(&inventory, &mut out),
        Format::Json => report::json::write(&inventory, &mut out),
    };
    match written.and_then(|()| out.flush()) {
        Ok(()) => {}
        // A closed pipe (`portcullis list | head`) is the reader's choice, not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => return Err(anyhow::Error::new(e).context("writing to stdout")),
    }
    Ok(ExitStatus::for_scan(
        ExitStatus::Clean,
        inventory.is_complete(),
        settings.allow_partial,
    ))
}

/// Every gap goes to stderr, whatever the output format.
fn report_gaps(inventory: &Inventory) {
    for gap in &inventory.gaps {
        let scope = gap
            .netns
            .map(|n| format!(" in net:[{n}]"))
            .unwrap_or_default();
        eprintln!("portcullis: incomplete{scope}: {}", gap.detail);
    }
}
