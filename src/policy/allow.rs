//! Allowlist entries: failures the policy accepts, each with a reason.
//! Accepted failures stay in every report (marked, with the reason) but do
//! not fail the run; entries that accepted nothing are reported as stale.

use std::net::IpAddr;

use toml::Spanned;

use crate::model::{Inventory, Listener, Protocol, Rule, Scope, UnusedAllowance, Verdict};

use super::file::{PortSpec, RawAllow};
use super::{Policy, PolicyError};

#[derive(Debug, Clone)]
pub struct Allowance {
    /// `FILE:LINE:COL` of the entry.
    pub location: String,
    pub reason: String,
    /// Say so when it matches nothing (not for the built-in policy's own).
    report_unused: bool,
    rule: Option<String>,
    netns: Option<String>,
    protocol: Option<Protocol>,
    ports: Option<(u16, u16)>,
    address: Option<AddressMatch>,
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
                PortSpec::One(p) => match u16::try_from(*p) {
                    Ok(p) => (p, p),
                    Err(_) => {
                        return Err(policy
                            .error(spanned, format!("allow entry: port {p} is not in 0-65535")));
                    }
                },
                PortSpec::Range(text) => portcullis_shared::ports::parse_range(text)
                    .map_err(|m| policy.error(spanned, format!("allow entry: {m}")))?,
            }),
        };
        let address = match &entry.address {
            None => None,
            Some(spanned) => Some(
                AddressMatch::parse(spanned.get_ref())
                    .map_err(|m| policy.error(spanned, format!("allow entry: {m}")))?,
            ),
        };
        Ok(Allowance {
            location: policy.at(raw),
            reason: entry.reason.clone(),
            report_unused: !policy.built_in,
            rule: entry.rule.as_ref().map(|r| r.get_ref().clone()),
            netns: entry.netns.clone(),
            protocol: entry.protocol,
            ports,
            address,
            scope: entry.scope,
            process: entry.process.clone(),
            unit: entry.unit.clone(),
        })
    }

    fn matches(&self, v: &Verdict, inv: &Inventory) -> bool {
        if self.rule.as_ref().is_some_and(|r| **r != *v.rule) {
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
                .is_some_and(|ns| super::netns_matches(want, inv, ns, l))
        });
        let process_ok = self.process.as_ref().is_none_or(|want| {
            l.holders.iter().any(|h| {
                h.process.comm.escaped() == *want
                    || h.process.exe.as_ref().is_some_and(|e| e.escaped() == *want)
            })
        });
        let unit_ok = self.unit.as_ref().is_none_or(|want| {
            l.holders
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
            && self.address.as_ref().is_none_or(|a| a.matches(&l.address))
            && self.scope.is_none_or(|s| s == l.scope)
    }
}

/// An allowlist address: one bind as listed, or a CIDR block of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressMatch {
    /// `*`, the dual-stack wildcard, as `ss` lists it.
    DualStack,
    One(IpAddr),
    Block {
        network: IpAddr,
        prefix: u8,
    },
}

impl AddressMatch {
    pub fn parse(text: &str) -> Result<AddressMatch, NotAnAddress> {
        if text == "*" {
            return Ok(AddressMatch::DualStack);
        }
        let bad = || NotAnAddress(text.to_owned());
        match text.split_once('/') {
            None => text.parse().map(AddressMatch::One).map_err(|_| bad()),
            Some((ip, prefix)) => {
                let network: IpAddr = ip.parse().map_err(|_| bad())?;
                let max = if network.is_ipv4() { 32 } else { 128 };
                let prefix: u8 = prefix.parse().ok().filter(|p| *p <= max).ok_or_else(bad)?;
                Ok(AddressMatch::Block { network, prefix })
            }
        }
    }

    /// Whether a listener's address (as listed: `*` for dual-stack) matches.
    pub fn matches(&self, listed: &str) -> bool {
        let ip = listed.parse::<IpAddr>().ok();
        match (self, ip) {
            (AddressMatch::DualStack, _) => listed == "*",
            (AddressMatch::One(want), Some(ip)) => *want == ip,
            // An IPv4-mapped bind (::ffff:10.1.2.3) is in an IPv4 block.
            (AddressMatch::Block { network, prefix }, Some(ip)) => {
                in_block(ip.to_canonical(), *network, *prefix)
            }
            (_, None) => false,
        }
    }
}

fn in_block(ip: IpAddr, network: IpAddr, prefix: u8) -> bool {
    let bits = |ip: IpAddr| -> (u128, u32) {
        match ip {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)) << 96, 32),
            IpAddr::V6(v6) => (u128::from(v6), 128),
        }
    };
    let ((a, width_a), (b, width_b)) = (bits(ip), bits(network));
    if width_a != width_b {
        return false;
    }
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    };
    a & mask == b & mask
}

/// An allow entry's address that is neither an address nor a block.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("address {0:?} is not an address (0.0.0.0, ::, *, 127.0.0.1) or a CIDR block (10.0.0.0/8)")]
pub struct NotAnAddress(pub String);

/// The allowlist, applied one verdict at a time and remembering which
/// entries accepted something: the judge marks verdicts in the one pass it
/// makes over them (a fleet's are tens of megabytes).
pub struct Marker<'a> {
    allow: &'a [Allowance],
    used: Vec<bool>,
}

impl<'a> Marker<'a> {
    pub fn new(allow: &'a [Allowance]) -> Marker<'a> {
        Marker {
            allow,
            used: vec![false; allow.len()],
        }
    }

    /// Marks `v` if it is a failure an entry accepts (the first that does).
    pub fn mark(&mut self, v: &mut Verdict, inv: &Inventory) {
        if v.outcome != crate::model::Outcome::Fail {
            return;
        }
        if let Some(i) = self.allow.iter().position(|a| a.matches(v, inv)) {
            self.used[i] = true;
            v.allow(self.allow[i].reason.clone());
        }
    }

    /// The entries that accepted nothing and ask to be reported so.
    pub fn unused(self) -> Vec<UnusedAllowance> {
        self.allow
            .iter()
            .zip(self.used)
            .filter(|(a, used)| !used && a.report_unused)
            .map(|(a, _)| UnusedAllowance {
                location: a.location.clone(),
                reason: a.reason.clone(),
            })
            .collect()
    }
}
