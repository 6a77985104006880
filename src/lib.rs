//! portcullis finds every listening TCP socket and bound UDP socket in every
//! network namespace of a host, with the processes that hold them, judges
//! them with rule plugins under a policy, and reports.
//!
//! # Architecture
//!
//! Data flows one way: **collect → model → judge → report**, wired by
//! [`app`] and decided by [`exit`].
//!
//! | step | module | in | out |
//! | --- | --- | --- | --- |
//! | arguments | [`cli`] | argv | a validated command ([`cli::ScanPlan`], report paths) |
//! | collect | [`collect`] (over [`os`]) | the host | a [`model::Inventory`], gaps included |
//! | firewall | [`firewall`] (called by collect) | each namespace's ruleset | listeners' reachability, published ports |
//! | settle | [`settle`] | repeated collects | the inventory once it stops changing |
//! | judge | [`judge`] (with [`policy`] and [`plugin`]) | inventory + policy | a [`model::Evaluation`] |
//! | report | [`report`] | run, inventory, evaluation | table, summary, JSON, JUnit, SARIF |
//! | exit | [`exit`] | verdict, completeness | the exit code (0, 1, 2, 3) |
//!
//! ## The seams
//!
//! - **The OS**: only [`os`] touches the system (`/proc` through directory
//!   descriptors with an injectable root, nsfs and `setns`, netlink,
//!   `getifaddrs`, files, processes). `src/clippy.toml` disallows `std::fs`
//!   and `std::process::Command` elsewhere, `unsafe` is denied outside it,
//!   and `ci/tests/seam.rs` fails on `libc`/`nix` paths outside it. So
//!   discovery, attribution and socket-unit resolution run on fixture roots
//!   (`testdata/hosts/`) without root: see `collect/fixtures.rs`.
//! - **The model**: [`model`] is plain data with serde and no I/O; it is
//!   the JSON contract (`schema_version`, in the README). [`policy`] turns
//!   the policy file into plain data too (plugin settings, rule overrides,
//!   the allowlist); [`judge`] pairs it with the loaded plugins.
//! - **The plugin ABI**: rules run as WebAssembly components in wasmtime
//!   ([`plugin`]): no WASI, memory, fuel and time limits, a bounded log.
//!   The ABI is the WIT package in `plugins/wit/`, versioned by the rules
//!   of `plugins/wit/VERSIONING.md`; [`plugin::convert`] maps the model to
//!   it. What host and plugins must agree on beyond the ABI (a listener's
//!   stable identity, scope and level names, port ranges) is one crate,
//!   `plugins/shared`, that both depend on.
//! - **Diagnostics**: everything said on stderr (errors, gaps, plugin logs,
//!   notes, the settle progress line) goes through [`diag::Diagnostics`];
//!   `clippy::print_stderr` is denied elsewhere.
//! - **Errors**: each layer has its own error enum (`thiserror`); the exit
//!   code follows from [`app::RunError::exit_status`] or an
//!   [`exit::ExitStatus`], never from a message's text. `anyhow` is used
//!   only where `main` reports a failure to write stdout.
//!
//! ## Where the rules live
//!
//! Each built-in plugin is a crate under `plugins/builtin/`: `exposure`
//! (`wildcard-bind`, `public-bind`, `unknown-owner`, and on the firewall's
//! answers `unfiltered-exposure`, `firewall-bypass-by-dnat`,
//! `published-without-listener`, `loopback-reachable`), `services`
//! (`local-only-exposed`, `risky-service`, with their tables in
//! `src/tables.rs`), `profiles` (`os-profile`), `expected`
//! (`unexpected-listener`) and `baseline` (`baseline-drift`). The host adds
//! one rule of its own, `incomplete-scan`, in [`report`]. The built-ins
//! are members of one component (`plugins/builtin/bundle`, its private
//! world beside it): one instance reads the inventory once for all of
//! them, while each stays its own plugin to the host (name, config,
//! verdicts, failures). build.rs compiles the plugins to components and
//! precompiles that one.
//!
//! ## Invariants worth knowing
//!
//! - "Could not look" is a [`model::Gap`] and exit 3, never an empty
//!   result; a namespace, process or socket that vanished mid-scan is
//!   simply gone.
//! - portcullis never changes the host; every file it reads is bounded and
//!   opened without blocking; every report is written atomically and never
//!   through a link ([`os::fs`]).

// Everything said on stderr goes through `diag`; stdout is written only
// where the requested output is.
#![deny(clippy::print_stderr, clippy::print_stdout, clippy::dbg_macro)]
// All system access is in `os`, which alone may use `unsafe` (and, by
// src/clippy.toml, `std::fs` and `std::process::Command`).
#![deny(unsafe_code)]

pub mod app;
pub mod baseline;
pub mod cli;
pub mod collect;
pub mod diag;
pub mod exec;
pub mod exit;
pub mod firewall;
pub mod judge;
pub mod merge;
pub mod model;
pub mod os;
pub mod plugin;
pub mod policy;
pub mod report;
pub mod settle;
