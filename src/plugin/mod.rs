//! The WebAssembly plugin host: every rule runs in a sandboxed component.
//!
//! - [`abi`]: bindings for every served ABI version (`plugins/wit`) and the
//!   version and capability gate;
//! - [`served`]: one set of records served to every ABI version, and the
//!   bounded `inventory` interface plugins read them through;
//! - [`load`]: embedded built-ins (precompiled by build.rs) and external files;
//! - [`run`]: one call under limits (fresh store, memory, fuel, epochs, logs);
//! - [`evaluate`]: all plugins over one inventory, failures isolated;
//! - [`convert`]: model ↔ ABI records, and the checks on what plugins return.
//!
//! Plugins get no WASI and no host access beyond a bounded `log` and
//! reading the inventory being judged: data in, verdicts out.

pub mod abi;
pub mod convert;
pub mod evaluate;
pub mod load;
pub mod run;
pub mod served;

include!("engine_config.rs");
