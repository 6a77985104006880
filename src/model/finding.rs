//! What the rules said about an inventory: the rule catalogue, verdicts, and
//! plugins that could not give one.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// SARIF result levels, lowest first (so `>=` compares severity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Note,
    Warning,
    Error,
}

super::vocabulary::named_enum!(
    Level,
    portcullis_shared::vocabulary::LEVELS,
    [Note, Warning, Error]
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    Skip,
}

/// One rule as its plugin describes it, with the policy's overrides applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub id: String,
    pub plugin: String,
    pub name: String,
    pub short_description: String,
    pub full_description: String,
    pub help_markdown: String,
    pub help_uri: Option<String>,
    pub default_level: Level,
    pub tags: Vec<String>,
    pub enabled_by_default: bool,
    /// After policy overrides.
    pub enabled: bool,
    /// After policy overrides.
    pub level: Level,
    /// 0.1–10.0, as GitHub code scanning ranks alerts.
    pub security_severity: f32,
    pub precision: Precision,
}

/// How rarely a failure of a rule is a false alarm (SARIF's `precision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Precision {
    VeryHigh,
    High,
    Medium,
    Low,
}

/// A rule's judgement of one listener (or of the host).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Shared with every other verdict of the rule: a fleet's inventory
    /// gets hundreds of thousands of verdicts, and these never change.
    pub rule: Arc<str>,
    pub plugin: Arc<str>,
    /// Index into the inventory's listeners.
    pub listener: Option<usize>,
    pub outcome: Outcome,
    pub level: Level,
    pub message: String,
    pub related: Vec<usize>,
    /// For a host-wide verdict about something that is not a current
    /// listener (a baseline entry that is gone): its stable identity, as the
    /// plugin gives it. Reports name and fingerprint the finding by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// A failure the policy's allowlist accepted, with the entry's reason:
    /// kept in reports, never failing the run.
    pub allowed_by: Option<String>,
}

impl Verdict {
    /// A failure that counts against the run.
    pub fn is_violation(&self) -> bool {
        self.outcome == Outcome::Fail && self.allowed_by.is_none()
    }
}

/// A rule that does not apply to this host, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotApplicable {
    pub rule: String,
    pub reason: String,
}

/// A plugin that gave no usable answer: its rules are a coverage gap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginFailure {
    pub plugin: String,
    pub rules: Vec<String>,
    pub message: String,
}

/// An allowlist entry that accepted no failure: likely stale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnusedAllowance {
    /// `FILE:LINE` of the entry.
    pub location: String,
    pub reason: String,
}

/// Everything the rules produced for one inventory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub rules: Vec<Rule>,
    pub verdicts: Vec<Verdict>,
    pub not_applicable: Vec<NotApplicable>,
    pub plugin_failures: Vec<PluginFailure>,
    pub unused_allowances: Vec<UnusedAllowance>,
}

impl Evaluation {
    pub fn violations(&self) -> impl Iterator<Item = &Verdict> {
        self.verdicts.iter().filter(|v| v.is_violation())
    }

    /// Everything in `inventory` was looked at, and every plugin answered.
    pub fn is_complete_for(&self, inventory: &super::Inventory) -> bool {
        inventory.is_complete() && self.plugin_failures.is_empty()
    }
}
