//! A listener's [`Reachability`] from its namespace's firewall: every
//! (interface, local address) a new connection from outside can arrive by
//! is run through [`eval::decide`], and the answers are summed up.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::eval::{self, Decision, Packet};
use super::rpfilter::{Allowed, ReversePath};
use super::ruleset::Ruleset;
use super::sources::SourceSet;
use crate::model::{Decider, Family, Interface, Listener, ReachState, Reachability, Scope};

/// What was read of one namespace's firewall.
#[derive(Debug, Clone, Default)]
pub struct NetnsFirewall {
    /// The nftables ruleset, or why it could not be read.
    pub ruleset: Option<Result<Ruleset, String>>,
    /// Interfaces with `net.ipv4.conf.*.route_localnet` on (the `all`
    /// switch turns it on for every one).
    pub route_localnet: BTreeSet<String>,
    /// Interfaces that forward IPv4 (`net.ipv4.conf.*.forwarding`) and
    /// IPv6 (`net.ipv6.conf.*.forwarding`) packets they receive.
    pub forwarding: BTreeSet<String>,
    pub forwarding6: BTreeSet<String>,
    /// The subnets on the interfaces: where a forwarded packet goes.
    pub subnets: Vec<Subnet>,
    /// rp_filter and the routes back it checks sources against.
    pub reverse_path: ReversePath,
}

/// An address with its prefix length, on an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subnet {
    pub interface: String,
    pub address: IpAddr,
    pub prefix: u8,
}

impl Subnet {
    pub fn holds(&self, addr: IpAddr) -> bool {
        let bits = |a: IpAddr| match a {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)) << 96, 32u32),
            IpAddr::V6(v6) => (u128::from(v6), 128u32),
        };
        let ((net, width), (other, other_width)) = (bits(self.address), bits(addr));
        let prefix = u32::from(self.prefix).min(width);
        if width != other_width {
            return false;
        }
        let mask = if prefix == 0 {
            0
        } else {
            u128::MAX << (128 - prefix)
        };
        net & mask == other & mask
    }
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
    let protocol = listener.protocol.ip_number();
    let mut summary = Summary::default();
    for (iface, daddr) in &paths {
        let packet = arrival(iface, *daddr, protocol, listener.port);
        let mut direct = Vec::new();
        let mut followed = Vec::new();
        for (part, decision) in eval::decide(ruleset, &packet) {
            match decision {
                // Translated to this very socket (a redirect to its own
                // port): follow it there (`follow` checks its established
                // segments, translated as conntrack does).
                Decision::Translated { to, priority, .. }
                    if to.1 == listener.port && covers(listener, to.0) =>
                {
                    followed.extend(follow(fw, interfaces, &packet, to, priority, part));
                }
                Decision::Translated { by, .. } => direct.push((part, Decision::Dropped(by))),
                other => direct.push((part, other)),
            }
        }
        let mut decisions = with_established(ruleset, &packet, direct, None);
        decisions.extend(followed);
        let decisions = reverse_path(fw, iface, daddr.is_ipv6(), decisions);
        summary.add(&iface.name, daddr.is_ipv6(), decisions);
    }
    summary.finish()
}

/// A TCP connection needs its later segments let in too, not only its
/// first: what the first segment gets through with, intersected with what
/// an established segment of it meets (a rule that rejects established
/// packets leaves a port that answers SYN but never connects).
fn with_established(
    ruleset: &Ruleset,
    packet: &Packet,
    first: Vec<(SourceSet, Decision)>,
    after: Option<i32>,
) -> Vec<(SourceSet, Decision)> {
    if packet.protocol != 6 {
        return first;
    }
    let walk = eval::Walk {
        after,
        established: true,
        ..eval::Walk::default()
    };
    let width = if packet.daddr.is_ipv6() { 16 } else { 4 };
    let later = eval::walk(ruleset, packet, walk, SourceSet::full(width));
    let mut out = Vec::new();
    for (part, decision) in first {
        let Decision::Accepted(by) = decision else {
            out.push((part, decision));
            continue;
        };
        for (other, then) in &later {
            let both = part.intersect(other);
            if both.is_empty() {
                continue;
            }
            out.push((
                both,
                match then {
                    Decision::Accepted(_) => Decision::Accepted(by.clone()),
                    other => other.clone(),
                },
            ));
        }
    }
    out
}

/// What reverse-path filtering leaves of the `decisions` for a packet
/// arriving on `iface`: accepted sources it would not route back are
/// dropped by the kernel (IPv4 only: IPv6 has no rp_filter).
pub(super) fn reverse_path(
    fw: &NetnsFirewall,
    iface: &Interface,
    v6: bool,
    decisions: Vec<(SourceSet, Decision)>,
) -> Vec<(SourceSet, Decision)> {
    if v6 {
        return decisions;
    }
    let (kept, mode) = match fw.reverse_path.allowed(&iface.name) {
        None => return decisions,
        Some(Allowed::Only(kept, mode)) => (kept, *mode),
        Some(Allowed::Unknown(why)) => {
            let reason = format!("rp_filter is on for {}, and {why}", iface.name);
            return decisions
                .into_iter()
                .map(|(part, decision)| match decision {
                    Decision::Accepted(_) => (
                        part,
                        Decision::Unknown {
                            reason: reason.clone(),
                            at: None,
                        },
                    ),
                    other => (part, other),
                })
                .collect();
        }
    };
    let why = if mode == 1 {
        format!(
            "reverse-path filtering (rp_filter 1 on {0}): the route back to these sources does not leave by {0}",
            iface.name
        )
    } else {
        format!(
            "reverse-path filtering (rp_filter {mode} on {}): there is no route back to these sources",
            iface.name
        )
    };
    let mut out = Vec::new();
    for (part, decision) in decisions {
        if !matches!(decision, Decision::Accepted(_)) {
            out.push((part, decision));
            continue;
        }
        let (inside, outside) = (part.intersect(kept), part.minus(kept));
        if !inside.is_empty() {
            out.push((inside, decision));
        }
        if !outside.is_empty() {
            out.push((
                outside,
                Decision::Dropped(Decider::Kernel { why: why.clone() }),
            ));
        }
    }
    out
}

/// A new connection from outside arriving on `iface` for `daddr`.
pub(super) fn arrival<'i>(
    iface: &'i Interface,
    daddr: IpAddr,
    protocol: u8,
    dport: u16,
) -> Packet<'i> {
    Packet {
        protocol,
        daddr,
        dport,
        iif: &iface.name,
        iif_index: iface.index,
        daddr_on_iif: iface.addresses.contains(&daddr),
        local: true,
        oif: None,
        iif_address: iface
            .addresses
            .iter()
            .copied()
            .find(|a| a.is_ipv6() == daddr.is_ipv6()),
    }
}

/// Whether a packet for `addr` on the listener's port is the listener's.
pub fn covers(listener: &Listener, addr: IpAddr) -> bool {
    match listener.address.as_str() {
        "*" => true,
        "0.0.0.0" => addr.is_ipv4(),
        "::" => addr.is_ipv6() || listener.v6only == Some(false),
        text => text.parse().map(canonical) == Ok(canonical(addr)),
    }
}

/// The rest of the way of the `sources` of `packet` once a prerouting
/// chain of `priority` translated it to `to`: into the namespace's own
/// input when `to` is local, else through the kernel's forwarding and the
/// forward filters.
pub(super) fn follow(
    fw: &NetnsFirewall,
    interfaces: &[Interface],
    packet: &Packet,
    to: (IpAddr, u16),
    priority: i32,
    sources: SourceSet,
) -> Vec<(SourceSet, Decision)> {
    let kernel = |why: String| vec![(sources.clone(), Decision::Dropped(Decider::Kernel { why }))];
    let ruleset = match &fw.ruleset {
        Some(Ok(r)) => r,
        _ => unreachable!("a translation comes from a ruleset"),
    };
    let (addr, port) = (canonical(to.0), to.1);
    let local = is_local(interfaces, addr);
    let mut next = Packet {
        daddr: addr,
        dport: port,
        daddr_on_iif: interfaces
            .iter()
            .any(|i| i.name == packet.iif && i.addresses.contains(&addr)),
        ..packet.clone()
    };
    if local {
        match addr {
            IpAddr::V4(a) if a.is_loopback() && !fw.route_localnet.contains(packet.iif) => {
                return kernel(format!(
                    "translated to {addr}, a loopback address the kernel drops from {} (route_localnet is off)",
                    packet.iif
                ));
            }
            IpAddr::V6(a) if a.is_loopback() => {
                return kernel(format!(
                    "translated to {addr}, which the kernel drops from outside"
                ));
            }
            _ => {}
        }
        let first = eval::decide_after(ruleset, &next, Some(priority), sources);
        return with_established(ruleset, &next, first, Some(priority));
    }
    let forwarding = if addr.is_ipv6() {
        &fw.forwarding6
    } else {
        &fw.forwarding
    };
    if !forwarding.contains(packet.iif) {
        return kernel(format!(
            "translated to {addr}, but forwarding is off on {}",
            packet.iif
        ));
    }
    let Some(oif) = route(fw, interfaces, addr) else {
        return vec![(
            sources,
            Decision::Unknown {
                reason: format!(
                    "translated to {addr}, which no subnet of the namespace holds: its route is not read"
                ),
                at: None,
            },
        )];
    };
    next.local = false;
    next.oif = Some((&oif.name, oif.index));
    let first = eval::decide_after(ruleset, &next, Some(priority), sources);
    with_established(ruleset, &next, first, Some(priority))
}

/// Whether a packet for `addr` is the namespace's own: input, not forward.
pub(super) fn is_local(interfaces: &[Interface], addr: IpAddr) -> bool {
    addr.is_loopback() || interfaces.iter().any(|i| i.addresses.contains(&addr))
}

/// The interface whose subnet holds `addr` (the longest prefix): where the
/// kernel forwards a packet for it.
fn route<'i>(
    fw: &NetnsFirewall,
    interfaces: &'i [Interface],
    addr: IpAddr,
) -> Option<&'i Interface> {
    fw.subnets
        .iter()
        .filter(|s| s.holds(addr))
        .max_by_key(|s| s.prefix)
        .and_then(|s| interfaces.iter().find(|i| i.name == s.interface && i.up))
}

/// What the decisions of every (interface, address) a connection arrives
/// by add up to.
#[derive(Default)]
pub(super) struct Summary {
    open: Option<(String, Option<Decider>)>,
    let_in: BTreeSet<String>,
    accepted_v4: Option<SourceSet>,
    accepted_v6: Option<SourceSet>,
    first_unknown: Option<(String, Option<Decider>)>,
    first_drop: Option<(f64, Decider)>,
    first_accept: Option<Decider>,
}

impl Summary {
    pub(super) fn add(&mut self, iface: &str, v6: bool, decisions: Vec<(SourceSet, Decision)>) {
        let mut accepted = SourceSet::empty(if v6 { 16 } else { 4 });
        let mut best: Option<(f64, Option<Decider>)> = None;
        for (part, decision) in decisions {
            match decision {
                Decision::Accepted(by) => {
                    accepted = accepted.union(&part);
                    if best.as_ref().is_none_or(|(s, _)| part.share() > *s) {
                        best = Some((part.share(), by));
                    }
                }
                Decision::Dropped(by) | Decision::Translated { by, .. } => {
                    if self
                        .first_drop
                        .as_ref()
                        .is_none_or(|(s, _)| part.share() > *s)
                    {
                        self.first_drop = Some((part.share(), by));
                    }
                }
                Decision::Unknown { reason, at } => {
                    self.first_unknown.get_or_insert((reason, at));
                }
            }
        }
        if accepted.is_empty() {
            return;
        }
        if self.first_accept.is_none() {
            self.first_accept = best.as_ref().and_then(|(_, by)| by.clone());
        }
        self.let_in.insert(iface.to_string());
        if accepted.share() >= 0.5 && self.open.is_none() {
            self.open = Some((iface.to_string(), best.and_then(|(_, by)| by)));
        }
        let slot = if v6 {
            &mut self.accepted_v6
        } else {
            &mut self.accepted_v4
        };
        *slot = Some(match slot.take() {
            Some(before) => before.union(&accepted),
            None => accepted,
        });
    }

    pub(super) fn finish(self) -> Reachability {
        let interfaces: Vec<String> = self.let_in.into_iter().collect();
        if let Some((_, by)) = self.open {
            return Reachability {
                state: ReachState::Open,
                interfaces,
                sources: vec![],
                decided_by: by,
                reason: None,
            };
        }
        let sources: Vec<String> = [self.accepted_v4, self.accepted_v6]
            .into_iter()
            .flatten()
            .flat_map(|s| s.describe())
            .collect();
        let (state, decided_by, reason) = if let Some((reason, at)) = self.first_unknown {
            (ReachState::Unknown, at, Some(reason))
        } else if !sources.is_empty() {
            (ReachState::Restricted, self.first_accept, None)
        } else {
            (
                ReachState::Filtered,
                self.first_drop.map(|(_, by)| by),
                None,
            )
        };
        Reachability {
            state,
            interfaces,
            sources,
            decided_by,
            reason,
        }
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
    arrivals(fw, &wanted.into_iter().collect(), external)
}

/// The (interface, address) pairs by which a new connection from outside
/// can arrive for one of the `wanted` local addresses.
pub(super) fn arrivals<'i>(
    fw: &NetnsFirewall,
    wanted: &BTreeSet<IpAddr>,
    external: &[&'i Interface],
) -> Vec<(&'i Interface, IpAddr)> {
    let mut out = Vec::new();
    for iface in external {
        let localnet = fw.route_localnet.contains(&iface.name);
        for &addr in wanted {
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
pub(super) fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(a) => a.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(addr),
        v4 => v4,
    }
}
