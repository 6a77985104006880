//! Building verdicts without spelling out every field.

use crate::{Level, Listener, Outcome, Verdict};

/// A pass. The message may be empty: reports need none, and on a large host
/// passes are most verdicts.
pub fn pass(rule: &str, l: &Listener, message: impl Into<String>) -> Verdict {
    verdict(rule, l, Outcome::Pass, message)
}

pub fn fail(rule: &str, l: &Listener, message: impl Into<String>) -> Verdict {
    verdict(rule, l, Outcome::Fail, message)
}

pub fn skip(rule: &str, l: &Listener, message: impl Into<String>) -> Verdict {
    verdict(rule, l, Outcome::Skip, message)
}

/// A failure at another level than the rule's default.
pub fn fail_at(rule: &str, l: &Listener, level: Level, message: impl Into<String>) -> Verdict {
    Verdict {
        level: Some(level),
        ..fail(rule, l, message)
    }
}

fn verdict(rule: &str, l: &Listener, outcome: Outcome, message: impl Into<String>) -> Verdict {
    Verdict {
        rule_id: rule.to_owned(),
        listener: Some(l.id),
        outcome,
        message: message.into(),
        level: None,
        related: vec![],
    }
}
