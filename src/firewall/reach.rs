//! A listener's [`Reachability`] from its namespace's firewall: every
//! (interface, local address) a new connection from outside can arrive by
//! is run through [`eval::decide`], and the answers are summed up.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::eval::{self, Decision, Packet};
use super::ruleset::Ruleset;
use super::sources::SourceSet;
use crate::model::{
    Decider, Family, Interface, Listener, Protocol, ReachState, Reachability, Scope,
};

/// What was read of one namespace's firewall.
#[derive(Debug, Clone, Default)]
pub struct NetnsFirewall {
    /// The nftables ruleset, or why it could not be read.
    pub ruleset: Option<Result<Ruleset, String>>,
    /// Legacy iptables tables loaded in the namespace
    /// (`/proc/net/ip_tables_names`, `ip6_tables_names`).
    pub legacy_tables: Vec<String>,
    /// Interfaces with `net.ipv4.conf.*.route_localnet` on (the `all`
    /// switch turns it on for every one).
    pub route_localnet: BTreeSet<String>,
}

/// Paths evaluated per listener at most: (interface × address) pairs.
pub const MAX_PATHS: usize = 4096;

pub fn reachability(
    fw: &NetnsFirewall,
    listener: &Listener,
    interfaces: &[Interface],
) -> Reachability {
    let unknown = |reason: String| Reachability {
        state: ReachState::Unknown,
        interfaces: vec![],
        sources: vec![],
        decided_by: None,
        reason: Some(reason),
    };
    let kernel = |why: &str| Reachability {
        state: ReachState::Filtered,
        interfaces: vec![],
        sources: vec![],
        decided_by: Some(Decider::Kernel { why: why.into() }),
        reason: None,
    };
    let ruleset = match &fw.ruleset {
        None => return unknown("the firewall was not read".into()),
        Some(Err(why)) => return unknown(why.clone()),
        Some(Ok(r)) => r,
    };
    if !fw.legacy_tables.is_empty() {
        return unknown(format!(
            "legacy iptables table{} {} loaded, and legacy rules are not read yet",
            if fw.legacy_tables.len() == 1 {
                " is"
            } else {
                "s are"
            },
            fw.legacy_tables.join(", ")
        ));
    }
    if listener.scope == Scope::Multicast {
        return unknown("multicast delivery is not evaluated".into());
    }
    let external: Vec<&Interface> = interfaces
        .iter()
        .filter(|i| i.up && i.name != "lo")
        .filter(|i| listener.bound_device.as_ref().is_none_or(|d| *d == i.name))
        .collect();
    if external.is_empty() {
        return kernel(match &listener.bound_device {
            Some(_) => "bound to a device that is loopback or down",
            None => "the namespace has no interface up but loopback",
        });
    }
    let paths = paths(fw, listener, &external, interfaces);
    if paths.is_empty() {
        return kernel(if listener.scope == Scope::Loopback {
            "bound to loopback, which the kernel does not route in from outside (route_localnet is off)"
        } else {
            "no address of the namespace leads to it from outside"
        });
    }
    if paths.len() > MAX_PATHS {
        return unknown(format!(
            "{} interface and address pairs lead to it, over the {MAX_PATHS} evaluated",
            paths.len()
        ));
    }
    let protocol = match listener.protocol {
        Protocol::Tcp => 6,
        Protocol::Udp => 17,
    };
    let mut open: Option<(String, Option<Decider>)> = None;
    let mut let_in: BTreeSet<String> = BTreeSet::new();
    let mut accepted_v4 = SourceSet::empty(4);
    let mut accepted_v6 = SourceSet::empty(16);
    let mut first_unknown: Option<(String, Option<Decider>)> = None;
    let mut first_drop: Option<(f64, Decider)> = None;
    let mut first_accept: Option<Decider> = None;
    for (iface, daddr) in &paths {
        let packet = Packet {
            protocol,
            daddr: *daddr,
            dport: listener.port,
            iif: &iface.name,
            iif_index: iface.index,
            daddr_on_iif: iface.addresses.contains(daddr),
        };
        let mut accepted = SourceSet::empty(if daddr.is_ipv6() { 16 } else { 4 });
        let mut best: Option<(f64, Option<Decider>)> = None;
        for (part, decision) in eval::decide(ruleset, &packet) {
            match decision {
                Decision::Accepted(by) => {
                    accepted = accepted.union(&part);
                    if best.as_ref().is_none_or(|(s, _)| part.share() > *s) {
                        best = Some((part.share(), by));
                    }
                }
                Decision::Dropped(by) => {
                    if first_drop.as_ref().is_none_or(|(s, _)| part.share() > *s) {
                        first_drop = Some((part.share(), by));
                    }
                }
                Decision::Unknown { reason, at } => {
                    first_unknown.get_or_insert((reason, at));
                }
            }
        }
        if accepted.is_empty() {
            continue;
        }
        if first_accept.is_none() {
            first_accept = best.as_ref().and_then(|(_, by)| by.clone());
        }
        let_in.insert(iface.name.clone());
        if accepted.share() >= 0.5 && open.is_none() {
            open = Some((iface.name.clone(), best.and_then(|(_, by)| by)));
        }
        if daddr.is_ipv6() {
            accepted_v6 = accepted_v6.union(&accepted);
        } else {
            accepted_v4 = accepted_v4.union(&accepted);
        }
    }
    let interfaces: Vec<String> = let_in.into_iter().collect();
    if let Some((_, by)) = open {
        return Reachability {
            state: ReachState::Open,
            interfaces,
            sources: vec![],
            decided_by: by,
            reason: None,
        };
    }
    let sources: Vec<String> = accepted_v4
        .describe()
        .into_iter()
        .chain(accepted_v6.describe())
        .collect();
    if let Some((reason, at)) = first_unknown {
        return Reachability {
            state: ReachState::Unknown,
            interfaces,
            sources,
            decided_by: at,
            reason: Some(reason),
        };
    }
    if !sources.is_empty() {
        return Reachability {
            state: ReachState::Restricted,
            interfaces,
            sources,
            decided_by: first_accept,
            reason: None,
        };
    }
    Reachability {
        state: ReachState::Filtered,
        interfaces,
        sources,
        decided_by: first_drop.map(|(_, by)| by),
        reason: None,
    }
}

/// The (interface, local address) pairs a new connection from outside can
/// arrive by. Linux takes a packet for any local address on any interface
/// (the weak host model), but a link-local address only on its own link and
/// a loopback one only where route_localnet lets it in.
fn paths<'i>(
    fw: &NetnsFirewall,
    listener: &Listener,
    external: &[&'i Interface],
    all: &[Interface],
) -> Vec<(&'i Interface, IpAddr)> {
    let local: Vec<(IpAddr, &str)> = all
        .iter()
        .flat_map(|i| {
            i.addresses
                .iter()
                .map(move |a| (canonical(*a), i.name.as_str()))
        })
        .collect();
    let wanted: Vec<IpAddr> = match (listener.address.as_str(), listener.family) {
        ("*", _) => local.iter().map(|(a, _)| *a).collect(),
        ("0.0.0.0", _) => local
            .iter()
            .map(|(a, _)| *a)
            .filter(IpAddr::is_ipv4)
            .collect(),
        ("::", Family::Ipv6) => local
            .iter()
            .map(|(a, _)| *a)
            .filter(IpAddr::is_ipv6)
            .collect(),
        (text, _) => text.parse().map(canonical).into_iter().collect(),
    };
    let wanted: BTreeSet<IpAddr> = wanted.into_iter().collect();
    let mut out = Vec::new();
    for iface in external {
        let localnet = fw.route_localnet.contains(&iface.name);
        for &addr in &wanted {
            let allowed = match addr {
                IpAddr::V4(a) if a.is_loopback() => localnet,
                IpAddr::V6(a) if a.is_loopback() => false,
                IpAddr::V6(a) if a.segments()[0] & 0xffc0 == 0xfe80 => {
                    iface.addresses.contains(&addr)
                }
                IpAddr::V4(a) if a.is_unspecified() => false,
                _ => true,
            };
            if allowed {
                out.push((*iface, addr));
            }
        }
    }
    out
}

/// An IPv4-mapped IPv6 address as the IPv4 address it carries.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(a) => a.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(addr),
        v4 => v4,
    }
}
