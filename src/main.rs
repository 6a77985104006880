//! `portcullis`: thin entry point. Parsing and the exit-code contract live in
//! `cli` and `exit`; the work in `app`.

use std::process::ExitCode;

/// See Cargo.toml: musl's allocator is the bottleneck of a fleet-sized scan.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use portcullis::{app, cli::Cli, diag::Diagnostics, exit::ExitStatus};

fn main() -> ExitCode {
    // clap exits 2 on usage errors and 0 for --help/--version: the contract's codes.
    let cli = Cli::parse();
    let diag = Diagnostics::stderr();
    match app::run(cli.command, &diag) {
        Ok(status) => status.into(),
        Err(e) => {
            diag.error(&format_args!("{e:#}"));
            ExitStatus::Error.into()
        }
    }
}
