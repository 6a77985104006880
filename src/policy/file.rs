//! The policy file as written: serde structs that reject unknown keys, with
//! spans kept wherever a later check needs to point at the text.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::limits::LimitsSpec;
use crate::model::{Level, Protocol, Scope};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    /// Limits for every plugin, unless a plugin sets its own.
    #[serde(default)]
    pub limits: LimitsSpec,
    /// Run the built-in plugins (default true).
    pub builtins: Option<bool>,
    /// A folder whose `*.wasm` files are loaded as plugins.
    pub plugin_dir: Option<Spanned<String>>,
    #[serde(default)]
    pub plugins: BTreeMap<String, Spanned<RawPlugin>>,
    #[serde(default)]
    pub rules: BTreeMap<String, Spanned<RawRule>>,
    #[serde(default)]
    pub allow: Vec<Spanned<RawAllow>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlugin {
    pub enabled: Option<bool>,
    /// An external plugin's file, relative to the policy file.
    pub path: Option<Spanned<String>>,
    /// Handed to the plugin as JSON.
    pub config: Option<Spanned<toml::Table>>,
    pub limits: Option<LimitsSpec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub enabled: Option<bool>,
    pub level: Option<Level>,
    /// Judge only listeners in these namespaces (`host`, `container`, a name, an inode).
    pub netns: Option<Vec<String>>,
}

/// An accepted failure. Every field given must match; `reason` is required.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAllow {
    pub reason: String,
    pub rule: Option<Spanned<String>>,
    /// `host`, an ip netns name, or an inode.
    pub netns: Option<String>,
    pub protocol: Option<Protocol>,
    /// A port or a `"lo-hi"` range.
    pub port: Option<Spanned<PortSpec>>,
    /// As listed (`0.0.0.0`, `::`, `*`, `127.0.0.1`), or a CIDR block.
    pub address: Option<Spanned<String>>,
    pub scope: Option<Scope>,
    /// A holder's name (comm) or executable path.
    pub process: Option<String>,
    /// A holder's systemd unit.
    pub unit: Option<String>,
}

/// A port as written: a number (checked against 0–65535 with its position,
/// not by the parser, whose error for 70000 would name no place) or a range.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PortSpec {
    One(i64),
    Range(String),
}
