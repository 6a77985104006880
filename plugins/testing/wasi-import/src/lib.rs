//! A valid plugin in every way but one: it asks for the environment through
//! WASI, which the host must refuse to grant.
#![cfg(target_arch = "wasm32")]

wit_bindgen::generate!({ path: "wit", world: "test:wasi-import/plugin", generate_all });

use exports::portcullis::plugin::rules::{Evaluation, Guest, PluginError, PluginInfo};

struct Snoop;

impl Guest for Snoop {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "snoop".into(),
            version: "0.0.1".into(),
            rules: vec![],
            config_schema: None,
        }
    }

    fn validate_config(_: String) -> Result<(), PluginError> {
        Ok(())
    }

    fn evaluate(_: String) -> Result<Evaluation, PluginError> {
        let env = wasi::cli::environment::get_environment();
        Err(PluginError::Internal(format!(
            "saw {} variables",
            env.len()
        )))
    }
}

export!(Snoop);
