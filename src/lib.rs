//! portcullis finds every listening TCP socket and bound UDP socket in every
//! network namespace of a host, with the processes that hold them.
//!
//! Architecture, in data-flow order:
//! - [`cli`]: what the user typed, validated once into settings.
//! - [`collect`]: the only module that touches the OS (`/proc`, nsfs,
//!   `setns`, netlink); produces a [`model::Inventory`].
//! - [`model`]: pure data, the JSON contract; no I/O.
//! - [`report`]: renders an inventory (table, JSON); knows nothing of collection.
//! - [`app`]: wires them together; [`exit`]: the exit-code contract.

// Everything said on stderr goes through `diag`; stdout is written only
// where the requested output is.
#![deny(clippy::print_stderr, clippy::print_stdout, clippy::dbg_macro)]
// All system access is in `os`, which alone may use `unsafe` (and, by
// clippy.toml, `std::fs` and `std::process::Command`).
#![deny(unsafe_code)]

pub mod app;
pub mod baseline;
pub mod cli;
pub mod collect;
pub mod diag;
pub mod exec;
pub mod exit;
pub mod judge;
pub mod model;
pub mod os;
pub mod plugin;
pub mod policy;
pub mod report;

pub mod settle;
