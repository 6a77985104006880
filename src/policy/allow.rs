//! Allowlist entries: failures the policy accepts, each with a reason.
//! Accepted failures stay in every report (marked, with the reason) but do
//! not fail the run; entries that accepted nothing are reported as stale.

use toml::Spanned;

use crate::model::{Inventory, Listener, Protocol, Rule, Scope, UnusedAllowance, Verdict};

use super::file::{PortSpec, RawAllow};
use super::{Policy, PolicyError};

#[derive(Debug, Clone)]
pub struct Allowance {
    /// `FILE:LINE:COL` of the entry.
    pub location: String,
    pub reason: String,
    rule: Option<String>,
    netns: Option<String>,
    protocol: Option<Protocol>,
    ports: Option<(u16, u16)>,
    address: Option<String>,
    scope: Option<Scope>,
    process: Option<String>,
    unit: Option<String>,
}

impl Allowance {
    pub(super) fn new(
        policy: &Policy,
        raw: &Spanned<RawAllow>,
        rules: &[Rule],
    ) -> Result<Allowance, PolicyError> {
        let entry = raw.get_ref();
        if entry.reason.trim().is_empty() {
            return Err(policy.error(
                raw,
                "allow entry: `reason` must say why this is accepted".into(),
            ));
        }
        if let Some(rule) = &entry.rule
            && !rules.iter().any(|r| &r.id == rule.get_ref())
        {
            return Err(policy.error(
                rule,
                format!(
                    "allow entry: no loaded plugin has a rule `{}`",
                    rule.get_ref()
                ),
            ));
        }
        let ports = match &entry.port {
            None => None,
            Some(spanned) => Some(match spanned.get_ref() {
                PortSpec::One(p) => (*p, *p),
                PortSpec::Range(text) => parse_range(text)
                    .map_err(|m| policy.error(spanned, format!("allow entry: {m}")))?,
            }),
        };
        Ok(Allowance {
            location: policy.at(raw),
            reason: entry.reason.clone(),
            rule: entry.rule.as_ref().map(|r| r.get_ref().clone()),
            netns: entry.netns.clone(),
            protocol: entry.protocol,
            ports,
            address: entry.address.clone(),
            scope: entry.scope,
            process: entry.process.clone(),
            unit: entry.unit.clone(),
        })
    }

    fn matches(&self, v: &Verdict, inv: &Inventory) -> bool {
        if self.rule.as_ref().is_some_and(|r| r != &v.rule) {
            return false;
        }
        let Some(l) = v.listener.and_then(|i| inv.listeners.get(i)) else {
            // A host-wide verdict: only an entry with nothing but a rule fits.
            return self.is_rule_only();
        };
        self.matches_listener(l, inv)
    }

    fn is_rule_only(&self) -> bool {
        self.netns.is_none()
            && self.protocol.is_none()
            && self.ports.is_none()
            && self.address.is_none()
            && self.scope.is_none()
            && self.process.is_none()
            && self.unit.is_none()
    }

    fn matches_listener(&self, l: &Listener, inv: &Inventory) -> bool {
        let netns_ok = self.netns.as_ref().is_none_or(|want| {
            inv.namespace(l.netns)
                .is_some_and(|ns| super::netns_matches(want, ns))
        });
        let process_ok = self.process.as_ref().is_none_or(|want| {
            l.processes.iter().any(|h| {
                h.process.comm.escaped() == *want
                    || h.process.exe.as_ref().is_some_and(|e| e.escaped() == *want)
            })
        });
        let unit_ok = self.unit.as_ref().is_none_or(|want| {
            l.processes
                .iter()
                .any(|h| h.process.unit.as_ref() == Some(want))
        });
        netns_ok
            && process_ok
            && unit_ok
            && self.protocol.is_none_or(|p| p == l.protocol)
            && self
                .ports
                .is_none_or(|(lo, hi)| lo <= l.port && l.port <= hi)
            && self.address.as_ref().is_none_or(|a| a == &l.address)
            && self.scope.is_none_or(|s| s == l.scope)
    }
}

fn parse_range(text: &str) -> Result<(u16, u16), String> {
    let bad = || format!("port {text:?} is not a port or a \"lo-hi\" range");
    let (lo, hi) = text.split_once('-').ok_or_else(bad)?;
    let (lo, hi): (u16, u16) = (
        lo.trim().parse().map_err(|_| bad())?,
        hi.trim().parse().map_err(|_| bad())?,
    );
    if lo > hi {
        return Err(format!("port range {text:?} is backwards"));
    }
    Ok((lo, hi))
}

/// Marks failures the allowlist accepts; returns the entries that accepted none.
pub fn apply(
    allow: &[Allowance],
    verdicts: &mut [Verdict],
    inv: &Inventory,
) -> Vec<UnusedAllowance> {
    let mut used = vec![false; allow.len()];
    for v in verdicts
        .iter_mut()
        .filter(|v| v.outcome == crate::model::Outcome::Fail)
    {
        if let Some(i) = allow.iter().position(|a| a.matches(v, inv)) {
            used[i] = true;
            v.allowed_by = Some(allow[i].reason.clone());
        }
    }
    allow
        .iter()
        .zip(used)
        .filter(|(_, used)| !used)
        .map(|(a, _)| UnusedAllowance {
            location: a.location.clone(),
            reason: a.reason.clone(),
        })
        .collect()
}
