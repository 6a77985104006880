//! The seam: the only module that touches the operating system. Everything
//! portcullis learns of the host, and every file it writes, goes through
//! these functions; the rest of the crate is logic over their results and
//! can be tested on fixtures.
//!
//! - [`proc`]: `/proc` through directory descriptors, with an injectable
//!   root (the live one, or a fixture tree under `testdata/hosts/`);
//! - [`ns`]: nsfs files, `setns` on a thread of its own, sockets' namespaces;
//! - [`netlink`]: the `NETLINK_SOCK_DIAG` socket;
//! - [`net`]: interfaces and addresses (`getifaddrs`), loopback up;
//! - [`fs`]: files read and written beside hostile users (never through a
//!   link, never blocking, always bounded);
//! - [`process`]: starting, watching and stopping a command under `exec`;
//! - [`host`]: the kernel's and the distribution's names, our own identity.
//!
//! Kept so by lints: outside this module `src/clippy.toml` disallows `std::fs`
//! and `std::process::Command`, `unsafe` is denied, and `ci/tests/seam.rs`
//! fails on any `libc::` or `nix::` path.
#![allow(unsafe_code, clippy::disallowed_methods, clippy::disallowed_types)]

pub mod fs;
pub mod host;
pub mod net;
pub mod netlink;
pub mod ns;
pub mod proc;
pub mod process;

/// The kernel's error numbers, as every OS call here reports them.
pub use nix::errno::Errno;
