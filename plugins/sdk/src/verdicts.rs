//! Building verdicts without spelling out every field.

use crate::{Evaluation, Level, Listener, NotApplicable, Outcome, Passed, Verdict};

/// Gathers a plugin's verdicts, sending plain passes in the compact
/// `passed` form: on a large host they are most verdicts, and each would
/// otherwise cost a record and a string in the plugin's bounded memory.
#[derive(Default)]
pub struct Collector {
    verdicts: Vec<Verdict>,
    passed: Vec<Passed>,
    /// Each rule id constant `pass` was given, as (address, length), with
    /// its `passed` group: most calls on a large host are passes.
    groups_by_address: Vec<((usize, usize), usize)>,
    not_applicable: Vec<NotApplicable>,
}

impl Collector {
    /// `listener` passed `rule` (a rule id constant).
    pub fn pass(&mut self, rule: &'static str, listener: &Listener) {
        // A constant's address is its own for good: equal addresses are the
        // same id, so most calls find their group without comparing text.
        let key = (rule.as_ptr() as usize, rule.len());
        let known = self.groups_by_address.iter().find(|(k, _)| *k == key);
        let group = match known {
            Some(&(_, group)) => group,
            None => {
                let group = self.group(rule);
                self.groups_by_address.push((key, group));
                group
            }
        };
        self.passed[group].listeners.push(listener.id);
    }

    /// The index of `rule`'s group of passes, made if it is the first.
    fn group(&mut self, rule: &str) -> usize {
        match self.passed.iter().position(|p| p.rule_id == rule) {
            Some(i) => i,
            None => {
                self.passed.push(Passed {
                    rule_id: rule.to_owned(),
                    listeners: Vec::new(),
                });
                self.passed.len() - 1
            }
        }
    }

    /// Any verdict; a pass without message, level or related listeners goes
    /// to the compact form.
    pub fn push(&mut self, v: Verdict) {
        match (v.outcome, v.listener) {
            (Outcome::Pass, Some(id))
                if v.message.is_empty() && v.level.is_none() && v.related.is_empty() =>
            {
                let group = self.group(&v.rule_id);
                self.passed[group].listeners.push(id);
            }
            _ => self.verdicts.push(v),
        }
    }

    pub fn not_applicable(&mut self, rule: &str, reason: impl Into<String>) {
        self.not_applicable.push(NotApplicable {
            rule_id: rule.to_owned(),
            reason: reason.into(),
        });
    }

    pub fn finish(self) -> Evaluation {
        Evaluation {
            verdicts: self.verdicts,
            passed: self.passed,
            not_applicable: self.not_applicable,
        }
    }
}

/// Every verdict of an evaluation, passes expanded, in listener order
/// (host-wide verdicts last): for tests.
pub fn all(eval: &Evaluation) -> Vec<Verdict> {
    let mut out = eval.verdicts.clone();
    for p in &eval.passed {
        for &id in &p.listeners {
            out.push(Verdict {
                rule_id: p.rule_id.clone(),
                listener: Some(id),
                outcome: Outcome::Pass,
                message: String::new(),
                level: None,
                related: vec![],
                subject: None,
            });
        }
    }
    out.sort_by_key(|v| v.listener.unwrap_or(u32::MAX));
    out
}

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
        subject: None,
    }
}

/// The messages of an evaluation's failures: for tests.
pub fn failure_messages(eval: &Evaluation) -> Vec<String> {
    eval.verdicts
        .iter()
        .filter(|v| v.outcome == Outcome::Fail)
        .map(|v| v.message.clone())
        .collect()
}
