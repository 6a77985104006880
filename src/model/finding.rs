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
///
/// Laid out for a fleet, where one run makes hundreds of thousands and most
/// are plain passes: what few verdicts carry (related listeners, a subject,
/// the allowlist's reason) is boxed apart, so a verdict is 88 bytes, not
/// 152, and making them touches that much less fresh memory. The JSON is
/// the same as a struct of every field would give.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(from = "VerdictFields")]
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
    /// None where all of it would be empty.
    extra: Option<Box<Extra>>,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Extra {
    related: Vec<usize>,
    subject: Option<String>,
    allowed_by: Option<String>,
}

impl Verdict {
    pub fn new(
        rule: Arc<str>,
        plugin: Arc<str>,
        listener: Option<usize>,
        outcome: Outcome,
        level: Level,
        message: String,
    ) -> Verdict {
        Verdict {
            rule,
            plugin,
            listener,
            outcome,
            level,
            message,
            extra: None,
        }
    }

    /// Other listeners involved.
    pub fn related(&self) -> &[usize] {
        self.extra.as_ref().map_or(&[], |e| &e.related)
    }

    /// For a host-wide verdict about something that is not a current
    /// listener (a baseline entry that is gone): its stable identity, as the
    /// plugin gives it. Reports name and fingerprint the finding by it.
    pub fn subject(&self) -> Option<&str> {
        self.extra.as_ref()?.subject.as_deref()
    }

    /// A failure the policy's allowlist accepted, with the entry's reason:
    /// kept in reports, never failing the run.
    pub fn allowed_by(&self) -> Option<&str> {
        self.extra.as_ref()?.allowed_by.as_deref()
    }

    pub fn with_related(mut self, related: Vec<usize>) -> Verdict {
        if !related.is_empty() {
            self.extra_mut().related = related;
        }
        self
    }

    pub fn with_subject(mut self, subject: Option<String>) -> Verdict {
        if subject.is_some() {
            self.extra_mut().subject = subject;
        }
        self
    }

    /// Marks it accepted by an allowlist entry with this reason.
    pub fn allow(&mut self, reason: String) {
        self.extra_mut().allowed_by = Some(reason);
    }

    fn extra_mut(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// A failure that counts against the run.
    pub fn is_violation(&self) -> bool {
        self.outcome == Outcome::Fail && self.allowed_by().is_none()
    }
}

/// A verdict's JSON, every field in order.
#[derive(Serialize)]
struct VerdictJson<'a> {
    rule: &'a str,
    plugin: &'a str,
    listener: Option<usize>,
    outcome: Outcome,
    level: Level,
    message: &'a str,
    related: &'a [usize],
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a str>,
    allowed_by: Option<&'a str>,
}

impl Serialize for Verdict {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        VerdictJson {
            rule: &self.rule,
            plugin: &self.plugin,
            listener: self.listener,
            outcome: self.outcome,
            level: self.level,
            message: &self.message,
            related: self.related(),
            subject: self.subject(),
            allowed_by: self.allowed_by(),
        }
        .serialize(s)
    }
}

#[derive(Deserialize)]
struct VerdictFields {
    rule: Arc<str>,
    plugin: Arc<str>,
    listener: Option<usize>,
    outcome: Outcome,
    level: Level,
    message: String,
    related: Vec<usize>,
    #[serde(default)]
    subject: Option<String>,
    allowed_by: Option<String>,
}

impl From<VerdictFields> for Verdict {
    fn from(f: VerdictFields) -> Verdict {
        let mut v = Verdict::new(f.rule, f.plugin, f.listener, f.outcome, f.level, f.message)
            .with_related(f.related)
            .with_subject(f.subject);
        if let Some(reason) = f.allowed_by {
            v.allow(reason);
        }
        v
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

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict() -> Verdict {
        Verdict::new(
            "r".into(),
            "p".into(),
            Some(3),
            Outcome::Fail,
            Level::Error,
            "m".into(),
        )
    }

    #[test]
    fn json_has_every_field_whether_or_not_it_is_boxed_apart() {
        let plain = serde_json::to_string(&verdict()).unwrap();
        assert_eq!(
            plain,
            r#"{"rule":"r","plugin":"p","listener":3,"outcome":"fail","level":"error","message":"m","related":[],"allowed_by":null}"#
        );
        let mut full = verdict()
            .with_related(vec![1, 2])
            .with_subject(Some("s".into()));
        full.allow("why".into());
        let text = serde_json::to_string(&full).unwrap();
        assert_eq!(
            text,
            r#"{"rule":"r","plugin":"p","listener":3,"outcome":"fail","level":"error","message":"m","related":[1,2],"subject":"s","allowed_by":"why"}"#
        );
        assert_eq!(serde_json::from_str::<Verdict>(&text).unwrap(), full);
        assert_eq!(serde_json::from_str::<Verdict>(&plain).unwrap(), verdict());
        assert!(!full.is_violation() && verdict().is_violation());
    }

    #[test]
    fn empty_extras_are_not_boxed() {
        let v = verdict().with_related(vec![]).with_subject(None);
        assert_eq!(v, verdict());
        // The layout the doc comment promises: a fleet makes 300,000.
        assert_eq!(std::mem::size_of::<Verdict>(), 88);
    }
}
