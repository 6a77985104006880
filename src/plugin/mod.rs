//! The WebAssembly plugin host: every rule runs in a sandboxed component.
//!
//! - [`abi`]: bindings for `plugins/wit/plugin.wit` and the version and
//!   capability gate;
//! - [`load`]: embedded built-ins (precompiled by build.rs) and external files;
//! - [`run`]: one call under limits (fresh store, memory, fuel, epochs, logs);
//! - [`evaluate`]: all plugins over one inventory, failures isolated;
//! - [`convert`]: model ↔ ABI records, and the checks on what plugins return.
//!
//! Plugins get no WASI and no host access beyond a bounded `log`: data in,
//! verdicts out.

pub mod abi;
pub mod convert;
pub mod evaluate;
pub mod load;
pub mod run;

include!("engine_config.rs");
