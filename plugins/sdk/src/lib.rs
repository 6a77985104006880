//! Write portcullis rule plugins in Rust.
//!
//! A plugin is a small `cdylib` crate: implement [`Plugin`] for a type and
//! call [`export_plugin!`]. `cargo build --release --target
//! wasm32-unknown-unknown` with the `wasm-component-ld` linker (see
//! `plugins/.cargo/config.toml`) produces the component portcullis loads.
//! The same code builds natively, so rule logic is unit-tested with plain
//! `cargo test`: the generated types are ordinary Rust structs.
//!
//! ```text
//! struct MyRules;
//! impl portcullis_sdk::Plugin for MyRules { /* describe, validate_config, evaluate */ }
//! #[cfg(target_arch = "wasm32")] // native builds are for unit tests
//! portcullis_sdk::export_plugin!(MyRules);
//! ```

wit_bindgen::generate!({
    path: "../wit",
    world: "plugin",
    pub_export_macro: true,
    export_macro_name: "export_plugin",
    default_bindings_module: "portcullis_sdk",
    additional_derives: [PartialEq],
});

pub use exports::portcullis::plugin::rules::Guest as Plugin;
pub use portcullis::plugin::host::LogLevel;
pub use portcullis::plugin::types::*;

/// What plugins must compute exactly as the host does: a listener's stable
/// identity (baselines, report fingerprints), scope and level names, port
/// ranges.
pub use portcullis_shared as shared;

pub mod config;
pub mod net;
pub mod ports;
pub mod testing;
pub mod verdicts;

/// Logs through the host (bounded there). A no-op off wasm, so rule logic
/// that logs still runs in native unit tests.
pub fn log(level: LogLevel, message: &str) {
    #[cfg(target_arch = "wasm32")]
    portcullis::plugin::host::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    let _ = (level, message);
}
