//! `portcullis`: thin entry point. Parsing and the exit-code contract live in
//! `cli` and `exit`; the work in `app`.

use std::process::ExitCode;

use clap::Parser;
use portcullis::{app, cli::Cli, diag::Diagnostics, exit::ExitStatus};

/// See Cargo.toml: musl's allocator is the bottleneck of a fleet-sized scan.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc keeps freed memory for a second before it gives it back, and a
/// check frees its largest buffers (the inventory file, the parser's
/// temporaries, a plugin's answers) just before it allocates the next:
/// kept, they were a third of a fleet check's peak RSS (178 MiB against
/// 117 MiB purged at once, for ~5% more time). The sys crate does not name
/// the option; mimalloc.h keeps its enum stable (retired options keep
/// their slots), and `mi_option_purge_delay` is its 16th.
#[cfg(target_env = "musl")]
fn purge_freed_memory_at_once() {
    use libmimalloc_sys::{mi_option_get, mi_option_set, mi_option_t};
    const PURGE_DELAY: mi_option_t = 15;
    // SAFETY: options are plain integers mimalloc reads on use; this runs
    // first in main, before any other thread exists.
    unsafe {
        if mi_option_get(PURGE_DELAY) > 0 {
            mi_option_set(PURGE_DELAY, 0);
        }
    }
}

fn main() -> ExitCode {
    #[cfg(target_env = "musl")]
    purge_freed_memory_at_once();
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
