//! Typed plugin configuration from the JSON text the host hands over.

use serde::de::DeserializeOwned;

use crate::PluginError;

/// Parses the config. Use `#[serde(deny_unknown_fields)]` on `T` so a typo in
/// the policy file is an error that names the key, and `#[serde(default)]`
/// so an absent table means the defaults.
pub fn parse<T: DeserializeOwned>(json: &str) -> Result<T, PluginError> {
    let text = if json.trim().is_empty() { "{}" } else { json };
    serde_json::from_str(text).map_err(|e| PluginError::InvalidConfig(e.to_string()))
}
