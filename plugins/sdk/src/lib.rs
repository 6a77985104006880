//! Write portcullis rule plugins in Rust.
//!
//! A plugin is a small `cdylib` crate: implement [`Plugin`] for a type and
//! call [`export_plugin!`]. `cargo build --release --target
//! wasm32-unknown-unknown` with the `wasm-component-ld` linker (see
//! `plugins/.cargo/config.toml`) produces the component portcullis loads.
//! The same code builds natively, so rule logic is unit-tested with plain
//! `cargo test`: the generated types are ordinary Rust structs, and
//! [`testing::Host`] builds inventories.
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
    export_macro_name: "__export_rules",
    default_bindings_module: "portcullis_sdk",
    additional_derives: [PartialEq],
});

pub use portcullis::plugin::host::LogLevel;
pub use portcullis::plugin::types::*;

mod inventory;
pub use inventory::Inventory;
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod table;

/// A rule plugin. The SDK hands `evaluate` the whole inventory; behind it,
/// the ABI fetches only what is read (command lines: [`Inventory::cmdline`]).
/// It is lent, not given: one inventory can be judged by several rule sets
/// (the built-ins share one component and one fetched inventory).
pub trait Plugin {
    /// Pure: what this plugin is and which rules it has.
    fn describe() -> PluginInfo;
    /// Checks a config (JSON text) before any scan.
    fn validate_config(config: String) -> Result<(), PluginError>;
    /// Judges the inventory. `config` is JSON text ("{}" when unset).
    fn evaluate(config: String, inventory: &Inventory) -> Result<Evaluation, PluginError>;
}

/// Exports a [`Plugin`] as the component's `rules` interface.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[doc(hidden)]
        pub struct __PortcullisExport;
        impl $crate::exports::portcullis::plugin::rules::Guest for __PortcullisExport {
            fn describe() -> $crate::PluginInfo {
                <$plugin as $crate::Plugin>::describe()
            }
            fn validate_config(config: String) -> Result<(), $crate::PluginError> {
                <$plugin as $crate::Plugin>::validate_config(config)
            }
            fn evaluate(config: String) -> Result<$crate::Evaluation, $crate::PluginError> {
                <$plugin as $crate::Plugin>::evaluate(config, &$crate::Inventory::fetch())
            }
        }
        $crate::__export_rules!(__PortcullisExport);
    };
}

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
