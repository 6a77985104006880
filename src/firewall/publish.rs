//! The ports a namespace's firewall publishes: every `dnat` and `redirect`
//! a new connection from outside meets in prerouting, where it leads, and
//! whether the filters after the translation let it through.
//!
//! The ports tried are those the translating tables name (in `dport`
//! matches, ranges, sets and `multiport`) and those any listener of the
//! scan uses: a rule that translates every port is seen at the ports where
//! something listens.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::eval::{self, Decision};
use super::reach::{
    NetnsFirewall, Summary, arrival, arrivals, canonical, follow, is_local, reverse_path,
};
use super::ruleset::{Expr, NatKind, Ruleset, TableFamily};
use super::sources::SourceSet;
use crate::model::{
    Decider, Interface, NetnsId, Protocol, Published, PublishedPath, PublishedTarget,
};

/// Port ranges named in translating tables are tried up to this many ports
/// each; (protocol, port, interface, address) evaluations are capped in all.
const MAX_RANGE: u32 = 1024;
pub const MAX_EVALUATIONS: usize = 1 << 16;

/// What `netns` publishes. `ports` are the (protocol, port) pairs the scan's
/// listeners use. `to.netns` and `to.listener` are left for the caller,
/// which sees every namespace.
pub fn published(
    fw: &NetnsFirewall,
    netns: NetnsId,
    interfaces: &[Interface],
    ports: &BTreeSet<(Protocol, u16)>,
) -> Vec<Published> {
    let Some(Ok(ruleset)) = &fw.ruleset else {
        return vec![];
    };
    let tables = translating_tables(ruleset);
    if tables.is_empty() {
        return vec![];
    }
    let mut candidates = named_ports(ruleset, &tables);
    candidates.extend(ports.iter().copied());
    let external: Vec<&Interface> = interfaces
        .iter()
        .filter(|i| i.up && i.name != "lo")
        .collect();
    let local: BTreeSet<IpAddr> = interfaces
        .iter()
        .flat_map(|i| i.addresses.iter().map(|a| canonical(*a)))
        .filter(|a| !a.is_loopback())
        .collect();
    let arrivals = arrivals(fw, &local, &external);
    let prerouting = eval::Walk {
        prerouting_only: true,
        ..eval::Walk::default()
    };
    let filters_alone = eval::Walk {
        without_nat: true,
        ..eval::Walk::default()
    };
    let mut found: BTreeMap<Key, Found> = BTreeMap::new();
    let mut evaluations = 0;
    'ports: for (protocol, port) in candidates {
        let proto = protocol.ip_number();
        for (iface, daddr) in &arrivals {
            evaluations += 1;
            if evaluations > MAX_EVALUATIONS {
                break 'ports;
            }
            let packet = arrival(iface, *daddr, proto, port);
            let whole = SourceSet::full(if daddr.is_ipv6() { 16 } else { 4 });
            for (part, decision) in eval::walk(ruleset, &packet, prerouting, whole) {
                let Decision::Translated { to, by, priority } = decision else {
                    continue;
                };
                let to = (canonical(to.0), to.1);
                let entry = found
                    .entry(Key {
                        protocol,
                        port,
                        to,
                        by: by.to_string(),
                    })
                    .or_insert_with(|| Found {
                        by: by.clone(),
                        local: is_local(interfaces, to.0),
                        addresses: BTreeSet::new(),
                        interfaces: BTreeSet::new(),
                        reach: Summary::default(),
                        input: Summary::default(),
                    });
                entry.addresses.insert(*daddr);
                entry.interfaces.insert(iface.name.clone());
                let v6 = daddr.is_ipv6();
                let filtered_alone = eval::walk(ruleset, &packet, filters_alone, part.clone());
                entry.input.add(&iface.name, v6, filtered_alone);
                let rest = follow(fw, interfaces, &packet, to, priority, part);
                let rest = reverse_path(fw, iface, v6, rest);
                entry.reach.add(&iface.name, to.0.is_ipv6(), rest);
            }
        }
    }
    found
        .into_iter()
        .map(|(key, f)| Published {
            netns,
            protocol: key.protocol,
            port: key.port,
            addresses: f.addresses.iter().map(IpAddr::to_string).collect(),
            interfaces: f.interfaces.into_iter().collect(),
            translated_by: f.by,
            to: PublishedTarget {
                address: key.to.0.to_string(),
                port: key.to.1,
                netns: None,
                listener: None,
            },
            path: if f.local {
                PublishedPath::Local
            } else {
                PublishedPath::Forward
            },
            reach: f.reach.finish(),
            input: f.input.finish().state,
        })
        .collect()
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    protocol: Protocol,
    port: u16,
    to: (IpAddr, u16),
    by: String,
}

struct Found {
    by: Decider,
    local: bool,
    addresses: BTreeSet<IpAddr>,
    interfaces: BTreeSet<String>,
    reach: Summary,
    input: Summary,
}

/// Tables with a `dnat` or `redirect` statement (nft's or iptables-nft's).
fn translating_tables(ruleset: &Ruleset) -> BTreeSet<(TableFamily, &str)> {
    ruleset
        .chains
        .iter()
        .filter(|c| {
            c.rules.iter().flat_map(|r| &r.exprs).any(|e| match e {
                Expr::Nat(nat) => matches!(nat.kind, NatKind::Dnat | NatKind::Redirect),
                Expr::Xt {
                    target: true, name, ..
                } => name == "DNAT" || name == "REDIRECT",
                _ => false,
            })
        })
        .map(|c| (c.family, c.table.as_str()))
        .collect()
}

/// The (protocol, port) pairs the translating tables' rules match on.
fn named_ports(
    ruleset: &Ruleset,
    tables: &BTreeSet<(TableFamily, &str)>,
) -> BTreeSet<(Protocol, u16)> {
    let mut out = BTreeSet::new();
    for chain in &ruleset.chains {
        if !tables.contains(&(chain.family, chain.table.as_str())) {
            continue;
        }
        for rule in &chain.rules {
            let mut dport_regs = BTreeSet::new();
            let mut proto_regs = BTreeSet::new();
            let mut protocols: Option<Vec<Protocol>> = None;
            let mut ports = BTreeSet::new();
            for expr in &rule.exprs {
                if let Some(r) = expr.loads_dport() {
                    proto_regs.remove(&r);
                    dport_regs.insert(r);
                    continue;
                }
                match expr {
                    Expr::Meta {
                        key: 16,
                        dreg: Some(r),
                        ..
                    } => {
                        dport_regs.remove(r);
                        proto_regs.insert(*r);
                    }
                    Expr::Cmp { sreg, op: 0, data } if proto_regs.contains(sreg) => {
                        protocols = Some(match data.first() {
                            Some(6) => vec![Protocol::Tcp],
                            Some(17) => vec![Protocol::Udp],
                            _ => vec![],
                        });
                    }
                    Expr::Cmp { sreg, data, .. } if dport_regs.contains(sreg) => {
                        ports.extend(port_of(data));
                    }
                    Expr::Range { sreg, from, to, .. } if dport_regs.contains(sreg) => {
                        if let (Some(low), Some(high)) = (port_of(from), port_of(to)) {
                            extend_range(&mut ports, low, high);
                        }
                    }
                    Expr::Lookup { sreg, set, .. } if dport_regs.contains(sreg) => {
                        if let Some(set) = ruleset.set(chain.family, &chain.table, set) {
                            for e in &set.elements {
                                ports.extend(port_of(&e.key));
                                ports.extend(e.key_end.as_deref().and_then(port_of));
                            }
                        }
                    }
                    Expr::Xt {
                        target: false,
                        name,
                        revision: 0,
                        info,
                    } if name == "tcp" || name == "udp" => {
                        // Legacy iptables' -p tcp --dport: xt_tcp/xt_udp
                        // (u16 spts[2], dpts[2], host order).
                        let at =
                            |o: usize| info.get(o..o + 2).map(|b| u16::from_ne_bytes([b[0], b[1]]));
                        if let (Some(low), Some(high)) = (at(4), at(6)) {
                            extend_range(&mut ports, low, high);
                        }
                        protocols.get_or_insert_with(|| {
                            vec![if name == "tcp" {
                                Protocol::Tcp
                            } else {
                                Protocol::Udp
                            }]
                        });
                    }
                    Expr::Xt {
                        target: false,
                        name,
                        revision: 1,
                        info,
                    } if name == "multiport" => {
                        let count = usize::from(info.get(1).copied().unwrap_or(0)).min(15);
                        for i in 0..count {
                            if let Some(b) = info.get(2 + 2 * i..4 + 2 * i) {
                                ports.insert(u16::from_ne_bytes([b[0], b[1]]));
                            }
                        }
                    }
                    _ => {}
                }
            }
            let protocols = protocols.unwrap_or_else(|| vec![Protocol::Tcp, Protocol::Udp]);
            for p in protocols {
                out.extend(ports.iter().map(|port| (p, *port)));
            }
        }
    }
    out
}

/// A port range's ports, or only its ends when it is wider than
/// [`MAX_RANGE`].
fn extend_range(ports: &mut BTreeSet<u16>, low: u16, high: u16) {
    if u32::from(high).saturating_sub(u32::from(low)) < MAX_RANGE {
        ports.extend(low..=high);
    } else {
        ports.extend([low, high]);
    }
}

fn port_of(data: &[u8]) -> Option<u16> {
    (data.len() == 2).then(|| u16::from_be_bytes([data[0], data[1]]))
}
