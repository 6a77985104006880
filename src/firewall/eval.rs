//! Symbolic evaluation of one packet class through a ruleset: a new TCP
//! connection or UDP datagram, arriving on one interface for one local
//! address and port, from any source. Every field but the source address is
//! known, so matches on them are true or false; the source stays a
//! [`SourceSet`] that source matches split. The kernel's order is kept:
//! ingress, prerouting, input, and within a hook base chains by priority.
//! An `accept` ends only its own base chain; a `drop` is final. Whatever is
//! not understood and could change the outcome makes it `Unknown`.

use std::net::IpAddr;

use super::ruleset::{
    Chain, Data, Element, Expr, Field, Nat, NatKind, REGISTER_WORDS, Rule, Ruleset, Set,
    TableFamily, Verdict, word_of,
};
use super::sources::{SourceSet, number};
use crate::model::Decider;

/// The packet class.
#[derive(Debug, Clone)]
pub struct Packet<'a> {
    /// IPPROTO_TCP (6) or IPPROTO_UDP (17).
    pub protocol: u8,
    pub daddr: IpAddr,
    pub dport: u16,
    pub iif: &'a str,
    pub iif_index: u32,
    /// Whether `daddr` is configured on `iif` (`fib daddr . iif`).
    pub daddr_on_iif: bool,
    /// Whether `daddr` is an address of the namespace: the packet goes to
    /// input. A translated packet for another host is forwarded instead.
    pub local: bool,
    /// The interface a forwarded packet leaves by (name, index).
    pub oif: Option<(&'a str, u32)>,
    /// `iif`'s first address of the packet's family: where `redirect`
    /// sends it.
    pub iif_address: Option<IpAddr>,
}

impl Packet<'_> {
    fn v6(&self) -> bool {
        self.daddr.is_ipv6()
    }

    fn width(&self) -> usize {
        if self.v6() { 16 } else { 4 }
    }
}

/// What became of a part of the sources.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Let in; by the last accepting rule or policy, `None` when no base
    /// chain was on the path.
    Accepted(Option<Decider>),
    Dropped(Decider),
    /// Sent elsewhere by `dnat` or `redirect` in a prerouting chain of
    /// this priority: the rest of the way is [`decide_after`]'s.
    Translated {
        to: (IpAddr, u16),
        by: Decider,
        priority: i32,
    },
    Unknown {
        reason: String,
        at: Option<Decider>,
    },
}

/// Jumps the kernel allows (`NFT_JUMP_STACK_SIZE`).
const MAX_DEPTH: usize = 16;
const CT_NEW: u32 = 1 << 3;
const CT_ESTABLISHED: u32 = 1 << 1;
const CT_UNTRACKED: u32 = 1 << 6;
const RTN_UNICAST: u32 = 1;
const RTN_LOCAL: u32 = 2;

/// The sources split by what becomes of them.
pub fn decide(ruleset: &Ruleset, packet: &Packet) -> Vec<(SourceSet, Decision)> {
    decide_after(ruleset, packet, None, SourceSet::full(packet.width()))
}

/// The same for the `sources` of a packet that a prerouting chain of
/// priority `after` translated: the chains it has met are skipped (and
/// ingress, which met the packet before). Not translated again.
pub fn decide_after(
    ruleset: &Ruleset,
    packet: &Packet,
    after: Option<i32>,
    sources: SourceSet,
) -> Vec<(SourceSet, Decision)> {
    walk(
        ruleset,
        packet,
        Walk {
            after,
            ..Walk::default()
        },
        sources,
    )
}

/// Which base chains a walk meets.
#[derive(Debug, Clone, Copy, Default)]
pub struct Walk {
    /// Resume after the prerouting chains up to this priority (a packet
    /// translated there).
    pub after: Option<i32>,
    /// Stop after prerouting: what is translated is all that is asked.
    pub prerouting_only: bool,
    /// Leave out the nat base chains: what the filters alone decide.
    pub without_nat: bool,
    /// The rest of a TCP connection instead of its first segment: ct state
    /// established, ACK set. Nat chains see only a connection's first
    /// packet, so they are left out.
    pub established: bool,
}

pub fn walk(
    ruleset: &Ruleset,
    packet: &Packet,
    walk: Walk,
    sources: SourceSet,
) -> Vec<(SourceSet, Decision)> {
    let after = walk.after;
    let mut eval = Eval {
        ruleset,
        packet,
        ct_state: Some(if walk.established {
            CT_ESTABLISHED
        } else {
            CT_NEW
        }),
        mark: Some(0),
        ct_mark: Some(0),
    };
    let mut passing: Vec<(SourceSet, Option<Decider>)> = vec![(sources, None)];
    let mut decided = Vec::new();
    let chains = base_chains(ruleset, packet)
        .into_iter()
        .filter(|(stage, priority, _)| {
            after.is_none_or(|after| *stage > 1 || (*stage == 1 && *priority > after))
        })
        .filter(|(stage, _, _)| !walk.prerouting_only || *stage <= 1)
        .filter(|(_, _, chain)| !(walk.without_nat || walk.established) || chain.kind != "nat");
    for (_, priority, chain) in chains {
        let mut next = Vec::new();
        for (sources, by) in passing {
            for (part, end) in eval.chain(chain, sources, 0) {
                match end {
                    End::Accept(d) => next.push((part, Some(d.decider()))),
                    End::Return => match chain.policy {
                        Some(Verdict::Drop) => {
                            decided.push((part, Decision::Dropped(policy_of(chain))))
                        }
                        _ => next.push((part, by.clone().or(Some(policy_of(chain))))),
                    },
                    End::Drop(d) => decided.push((part, Decision::Dropped(d.decider()))),
                    End::Dnat(to, by) if after.is_none() => decided.push((
                        part,
                        Decision::Translated {
                            to,
                            by: by.decider(),
                            priority,
                        },
                    )),
                    End::Dnat(_, by) => decided.push((
                        part,
                        Decision::Unknown {
                            reason: "translated twice on its way in".into(),
                            at: Some(by.decider()),
                        },
                    )),
                    End::Unknown(reason, at) => decided.push((
                        part,
                        Decision::Unknown {
                            reason,
                            at: at.map(At::decider),
                        },
                    )),
                }
            }
        }
        passing = next;
        if passing.is_empty() {
            break;
        }
    }
    decided.extend(
        passing
            .into_iter()
            .map(|(s, by)| (s, Decision::Accepted(by))),
    );
    decided
}

/// The base chains a packet of this class meets, in the kernel's order,
/// with their stage (0 ingress, 1 prerouting, 2 input or forward) and
/// priority.
fn base_chains<'r>(ruleset: &'r Ruleset, packet: &Packet) -> Vec<(u8, i32, &'r Chain)> {
    let family_fits = |f: TableFamily| match f {
        TableFamily::Inet => true,
        TableFamily::Ip | TableFamily::LegacyIp => !packet.v6(),
        TableFamily::Ip6 | TableFamily::LegacyIp6 => packet.v6(),
        _ => false,
    };
    let last_hook = if packet.oif.is_some() { 2 } else { 1 };
    let mut chains: Vec<((u8, i32), &Chain)> = ruleset
        .chains
        .iter()
        .filter_map(|c| {
            let hook = c.hook.as_ref()?;
            let on_device = hook.devices.iter().any(|d| d == packet.iif);
            let stage = match (c.family, hook.number) {
                (TableFamily::Netdev, 0) if on_device => 0,
                (TableFamily::Inet, 5) if on_device => 0,
                (f, 0) if family_fits(f) => 1,
                (f, h) if h == last_hook && family_fits(f) => 2,
                _ => return None,
            };
            Some(((stage, hook.priority), c))
        })
        .collect();
    chains.sort_by_key(|(key, _)| *key);
    chains
        .into_iter()
        .map(|((stage, priority), c)| (stage, priority, c))
        .collect()
}

fn policy_of(chain: &Chain) -> Decider {
    Decider::Policy {
        family: chain.family.name(),
        table: chain.table.clone(),
        chain: chain.name.clone(),
        policy: match chain.policy {
            Some(Verdict::Drop) => "drop".into(),
            _ => "accept".into(),
        },
    }
}

fn rule_of(chain: &Chain, rule: &Rule) -> Decider {
    Decider::Rule {
        family: chain.family.name(),
        table: chain.table.clone(),
        chain: chain.name.clone(),
        handle: rule.handle,
        comment: rule.comment.clone(),
    }
}

/// A rule of the ruleset: what a [`Decider`] is made of once a walk is
/// done (made only then: most rules a walk meets decide nothing in the end).
#[derive(Debug, Clone, Copy)]
struct At<'r> {
    chain: &'r Chain,
    rule: &'r Rule,
}

impl At<'_> {
    fn decider(self) -> Decider {
        rule_of(self.chain, self.rule)
    }
}

/// How a chain ended for a part of the sources.
#[derive(Debug, Clone)]
enum End<'r> {
    Accept(At<'r>),
    Drop(At<'r>),
    /// Fell off the end or returned: the caller goes on.
    Return,
    /// `dnat`/`redirect` to this address and port: ends the base chain.
    Dnat((IpAddr, u16), At<'r>),
    Unknown(String, Option<At<'r>>),
}

struct Eval<'a> {
    ruleset: &'a Ruleset,
    packet: &'a Packet<'a>,
    /// Conntrack state bits; `None` once no longer known.
    ct_state: Option<u32>,
    mark: Option<u32>,
    ct_mark: Option<u32>,
}

/// A register's content.
#[derive(Debug, Clone)]
enum Sym {
    Known(Vec<u8>),
    /// The first N bytes of the source address (all of it, or a prefix
    /// nft loads alone for a /8 or /16).
    Saddr(usize),
    /// The source address under a mask, as wide as the address.
    SaddrMasked(Vec<u8>),
    Unknown(String),
}

/// One way through a rule's expressions.
#[derive(Debug, Clone)]
struct Path<'r> {
    guard: SourceSet,
    regs: Vec<Option<(Sym, usize)>>,
    /// The ruleset's own verdict (or one of [`ACCEPT`] and [`DROP`]).
    verdict: Option<&'r Verdict>,
    /// A match that was not understood: the rule's verdict is unknown.
    uncertain: Option<String>,
    /// A statement whose effect is not understood: the outcome is unknown.
    fatal: Option<String>,
    changes: Vec<Change>,
    /// Where a `dnat` or `redirect` sends the packet.
    dnat: Option<(IpAddr, u16)>,
}

/// The paths one expression leaves: most often none or the one it got.
enum Next<'a> {
    None,
    One(Path<'a>),
    Many(Vec<Path<'a>>),
}

impl<'a> From<Vec<Path<'a>>> for Next<'a> {
    fn from(paths: Vec<Path<'a>>) -> Self {
        Next::Many(paths)
    }
}

#[derive(Debug, Clone, Copy)]
enum Change {
    Untracked,
    MarkUnknown,
    CtMarkUnknown,
}

static ACCEPT: Verdict = Verdict::Accept;
static DROP: Verdict = Verdict::Drop;

enum RuleEffect<'r> {
    Verdict(&'r Verdict),
    Dnat((IpAddr, u16)),
    Unknown(String),
}

impl<'a> Eval<'a> {
    fn chain(
        &mut self,
        chain: &'a Chain,
        mut live: SourceSet,
        depth: usize,
    ) -> Vec<(SourceSet, End<'a>)> {
        let mut out = Vec::new();
        if depth > MAX_DEPTH {
            return vec![(
                live,
                End::Unknown(format!("jumps nest deeper than {MAX_DEPTH}"), None),
            )];
        }
        for rule in &chain.rules {
            if live.is_empty() {
                break;
            }
            let here = || At { chain, rule };
            for (guard, effect) in self.rule(chain, rule, &live) {
                let guard = guard.intersect(&live);
                if guard.is_empty() {
                    continue;
                }
                match effect {
                    RuleEffect::Verdict(Verdict::Accept) => {
                        out.push((guard.clone(), End::Accept(here())))
                    }
                    RuleEffect::Verdict(Verdict::Drop) => {
                        out.push((guard.clone(), End::Drop(here())))
                    }
                    RuleEffect::Verdict(Verdict::Continue | Verdict::Break) => continue,
                    RuleEffect::Verdict(Verdict::Return) => out.push((guard.clone(), End::Return)),
                    RuleEffect::Verdict(Verdict::Jump(target) | Verdict::Goto(target))
                        if self
                            .ruleset
                            .chain(chain.family, &chain.table, target)
                            .is_none() =>
                    {
                        out.push((
                            guard.clone(),
                            End::Unknown(
                                format!("jumps to a chain `{target}` not dumped"),
                                Some(here()),
                            ),
                        ));
                    }
                    RuleEffect::Verdict(Verdict::Jump(target)) => {
                        let callee = self
                            .ruleset
                            .chain(chain.family, &chain.table, target)
                            .expect("checked above");
                        for (part, end) in self.chain(callee, guard.clone(), depth + 1) {
                            match end {
                                // Back in this chain, after the jump.
                                End::Return => {}
                                end => {
                                    live = live.minus(&part);
                                    out.push((part, end));
                                }
                            }
                        }
                        continue;
                    }
                    RuleEffect::Verdict(Verdict::Goto(target)) => {
                        let callee = self
                            .ruleset
                            .chain(chain.family, &chain.table, target)
                            .expect("checked above");
                        out.extend(self.chain(callee, guard.clone(), depth + 1));
                    }
                    RuleEffect::Verdict(Verdict::Queue) => out.push((
                        guard.clone(),
                        End::Unknown("queued to a userspace program".into(), Some(here())),
                    )),
                    RuleEffect::Verdict(Verdict::Other(code)) => out.push((
                        guard.clone(),
                        End::Unknown(format!("verdict code {code}"), Some(here())),
                    )),
                    RuleEffect::Unknown(reason) => {
                        out.push((guard.clone(), End::Unknown(reason, Some(here()))))
                    }
                    RuleEffect::Dnat(to) => out.push((guard.clone(), End::Dnat(to, here()))),
                }
                live = live.minus(&guard);
            }
        }
        if !live.is_empty() {
            out.push((live, End::Return));
        }
        out
    }

    /// The parts of `live` the rule matches, with what it does to each.
    fn rule(
        &mut self,
        chain: &'a Chain,
        rule: &'a Rule,
        live: &SourceSet,
    ) -> Vec<(SourceSet, RuleEffect<'a>)> {
        if self.surely_misses(rule) {
            return vec![];
        }
        // Paths start from every source: the rule's own splits are cheap on
        // the whole space, and the caller intersects with `live` once.
        let mut paths = vec![Path {
            guard: SourceSet::full(live.width()),
            // Grown as registers are written: most rules write two or three.
            regs: Vec::new(),
            verdict: None,
            uncertain: None,
            fatal: None,
            changes: Vec::new(),
            dnat: None,
        }];
        let mut next = Vec::with_capacity(1);
        for expr in &rule.exprs {
            for path in paths.drain(..) {
                if path.verdict.is_some() {
                    next.push(path); // a verdict ends the rule's evaluation
                    continue;
                }
                match self.step(chain, expr, path) {
                    Next::None => {}
                    Next::One(path) => next.push(path),
                    Next::Many(paths) => next.extend(paths),
                }
            }
            std::mem::swap(&mut paths, &mut next);
            if paths.is_empty() {
                return vec![];
            }
        }
        let mut effects = Vec::new();
        for path in paths {
            let effect = if let Some(reason) = path.fatal {
                RuleEffect::Unknown(reason)
            } else if !path.changes.is_empty()
                && (path.uncertain.is_some() || !path.guard.is_full() || !live.is_full())
            {
                RuleEffect::Unknown(
                    "changes conntrack or marks for only some sources, or not surely".into(),
                )
            } else {
                for change in &path.changes {
                    match change {
                        Change::Untracked => self.ct_state = Some(CT_UNTRACKED),
                        Change::MarkUnknown => self.mark = None,
                        Change::CtMarkUnknown => self.ct_mark = None,
                    }
                }
                match (path.verdict, path.uncertain) {
                    (None, _) => continue,
                    (Some(Verdict::Continue), _) => continue,
                    (Some(_), None) if path.dnat.is_some() => {
                        RuleEffect::Dnat(path.dnat.expect("checked"))
                    }
                    (Some(v), None) => RuleEffect::Verdict(v),
                    (Some(_), Some(reason)) => RuleEffect::Unknown(reason),
                }
            };
            effects.push((path.guard, effect));
        }
        effects
    }

    /// Whether a comparison of a field the packet class fixes (protocol,
    /// port, interface) fails before the rule does anything: the rule's
    /// [`Check`](super::ruleset::Check)s, derived once, against this packet.
    fn surely_misses(&self, rule: &Rule) -> bool {
        let p = self.packet;
        rule.checks.iter().any(|check| {
            let mut ifname = [0u8; 16];
            let value: &[u8] = match check.field {
                Field::Dport => &p.dport.to_be_bytes(),
                Field::L4proto => &[p.protocol],
                Field::Nfproto => &[if p.v6() { 10 } else { 2 }],
                Field::Iifname => {
                    let name = p.iif.as_bytes();
                    let n = name.len().min(16);
                    ifname[..n].copy_from_slice(&name[..n]);
                    &ifname
                }
            };
            let n = check.data.len().min(value.len());
            !compare(check.op, value[..n].cmp(&check.data))
        })
    }

    /// One expression on one path: the paths that go on (none: no match).
    fn step(&self, chain: &'a Chain, expr: &'a Expr, mut path: Path<'a>) -> Next<'a> {
        let p = self.packet;
        match expr {
            Expr::Payload {
                dreg: Some(r),
                base,
                offset,
                len,
            } => {
                let value = self.payload(*base, *offset, *len);
                write(&mut path, *r, value, *len as usize);
            }
            Expr::Payload { dreg: None, .. } => {
                path.fatal.get_or_insert("rewrites the packet".into());
            }
            Expr::Meta {
                key, dreg: Some(r), ..
            } => match self.meta(*key) {
                Some(value) => write(&mut path, *r, value.0, value.1),
                // No output interface on the way in: the kernel breaks.
                None => return Next::None,
            },
            Expr::Meta {
                key, sreg: Some(_), ..
            } => match key {
                3 => path.changes.push(Change::MarkUnknown),
                2 | 12 => {} // priority, nftrace
                _ => {
                    path.fatal.get_or_insert(format!("sets meta key {key}"));
                }
            },
            Expr::Ct {
                key, dreg: Some(r), ..
            } => {
                let value = match (key, self.ct_state) {
                    (0, Some(s)) => Sym::Known(s.to_ne_bytes().to_vec()),
                    (1, Some(CT_NEW | CT_ESTABLISHED)) => Sym::Known(vec![0]),
                    (3, Some(CT_NEW | CT_ESTABLISHED)) => match self.ct_mark {
                        Some(m) => Sym::Known(m.to_ne_bytes().to_vec()),
                        None => Sym::Unknown("ct mark was set earlier".into()),
                    },
                    _ => Sym::Unknown(format!("conntrack key {key}")),
                };
                let len = if *key == 1 { 1 } else { 4 };
                write(&mut path, *r, value, len);
            }
            Expr::Ct {
                key, sreg: Some(_), ..
            } => match key {
                3 => path.changes.push(Change::CtMarkUnknown),
                _ => {
                    path.fatal
                        .get_or_insert(format!("sets conntrack key {key}"));
                }
            },
            Expr::Meta { .. } | Expr::Ct { .. } => {
                path.fatal
                    .get_or_insert("a meta or ct expression without registers".into());
            }
            Expr::Fib {
                dreg,
                result,
                flags,
            } => {
                const DADDR: u32 = 2;
                const IIF: u32 = 8;
                let kind = if p.local { RTN_LOCAL } else { RTN_UNICAST };
                let value = match (*result, flags & !32) {
                    (3, DADDR) => Sym::Known(kind.to_ne_bytes().to_vec()),
                    (3, f) if f == DADDR | IIF && (p.daddr_on_iif || !p.local) => {
                        let on_iif = if p.local { RTN_LOCAL } else { RTN_UNICAST };
                        Sym::Known(on_iif.to_ne_bytes().to_vec())
                    }
                    _ => Sym::Unknown(format!(
                        "a routing lookup (fib result {result}, flags {flags:#x}), such as a reverse-path check"
                    )),
                };
                write(&mut path, *dreg, value, 4);
            }
            Expr::Cmp { sreg, op, data } => {
                let width = p.width();
                let constraint = match read(&path, *sreg, data.len()) {
                    Sym::Known(v) => {
                        let order = v[..data.len().min(v.len())].cmp(data);
                        return if compare(*op, order) {
                            Next::One(path)
                        } else {
                            Next::None
                        };
                    }
                    Sym::Saddr(n) if n == width && data.len() == width => {
                        let max = vec![0xff; width];
                        let zero = vec![0; width];
                        let eq = SourceSet::range(width, data, data);
                        Some(match op {
                            0 => eq,
                            1 => eq.complement(),
                            2 => SourceSet::range(width, &zero, data).minus(&eq),
                            3 => SourceSet::range(width, &zero, data),
                            4 => SourceSet::range(width, data, &max).minus(&eq),
                            5 => SourceSet::range(width, data, &max),
                            _ => return uncertain(path, format!("cmp operator {op}")),
                        })
                    }
                    Sym::Saddr(n) if data.len() == n && *op <= 1 => {
                        let mut mask = vec![0xff; n];
                        mask.resize(width, 0);
                        let mut value = data.clone();
                        value.resize(width, 0);
                        SourceSet::masked(width, &mask, &value)
                            .map(|s| if *op == 0 { s } else { s.complement() })
                    }
                    Sym::SaddrMasked(mask) if data.len() <= width && *op <= 1 => {
                        let mut value = data.clone();
                        value.resize(width, 0);
                        SourceSet::masked(width, &mask, &value)
                            .map(|s| if *op == 0 { s } else { s.complement() })
                    }
                    Sym::Unknown(reason) => return uncertain(path, reason),
                    _ => None,
                };
                match constraint {
                    Some(c) => return constrain(path, &c),
                    None => return uncertain(path, "a source address match not understood".into()),
                }
            }
            Expr::Range { sreg, op, from, to } => {
                let width = p.width();
                match read(&path, *sreg, from.len()) {
                    Sym::Known(v) => {
                        let v = &v[..from.len().min(v.len())];
                        let inside = v >= &from[..] && v <= &to[..];
                        return if inside == (*op == 0) {
                            Next::One(path)
                        } else {
                            Next::None
                        };
                    }
                    Sym::Saddr(n) if n == width && from.len() == width => {
                        let s = SourceSet::range(width, from, to);
                        let s = if *op == 0 { s } else { s.complement() };
                        return constrain(path, &s);
                    }
                    Sym::Unknown(reason) => return uncertain(path, reason),
                    _ => return uncertain(path, "a source range not understood".into()),
                }
            }
            Expr::Bitwise {
                sreg,
                dreg,
                len,
                op,
                mask,
                xor,
            } => {
                let len = *len as usize;
                let value = match (read(&path, *sreg, len), op) {
                    (Sym::Known(v), 0) => Sym::Known(
                        (0..len)
                            .map(|i| {
                                (v.get(i).copied().unwrap_or(0) & mask.get(i).copied().unwrap_or(0))
                                    ^ xor.get(i).copied().unwrap_or(0)
                            })
                            .collect(),
                    ),
                    (Sym::Saddr(n), 0) if n == len && xor.iter().all(|&b| b == 0) => {
                        let mut mask = mask.clone();
                        mask.resize(p.width(), 0);
                        Sym::SaddrMasked(mask)
                    }
                    (Sym::Unknown(r), _) => Sym::Unknown(r),
                    _ => Sym::Unknown("a bitwise operation not understood".into()),
                };
                write(&mut path, *dreg, value, len);
            }
            Expr::Lookup {
                sreg,
                set,
                dreg,
                invert,
            } => {
                let Some(set) = self.ruleset.set(chain.family, &chain.table, set) else {
                    return uncertain(path, format!("set `{set}` was not dumped"));
                };
                return self.lookup(path, set, *sreg, *dreg, *invert);
            }
            Expr::Immediate {
                dreg: 0,
                data: Data::Verdict(v),
            } => path.verdict = Some(v),
            Expr::Immediate {
                dreg,
                data: Data::Value(v),
            } => write(&mut path, *dreg, Sym::Known(v.clone()), v.len()),
            Expr::Immediate { .. } => {
                path.fatal
                    .get_or_insert("a verdict loaded into a data register".into());
            }
            Expr::Reject => path.verdict = Some(&DROP),
            Expr::Notrack => path.changes.push(Change::Untracked),
            Expr::Nat(nat) => self.nat(nat, &mut path),
            Expr::Passive => {}
            // struct xt_iprange_mtinfo { union nf_inet_addr src_min,
            // src_max, dst_min, dst_max; u8 flags; }: a source range is a
            // constraint on the sources, a destination range a known test.
            Expr::Xt {
                target: false,
                name,
                revision: 1,
                info,
            } if name == "iprange" && info.len() > 64 => {
                const SRC: u8 = 1;
                const DST: u8 = 2;
                const SRC_INV: u8 = 0x10;
                const DST_INV: u8 = 0x20;
                let (w, flags) = (p.width(), info[64]);
                if flags & DST != 0 {
                    let daddr = match p.daddr {
                        IpAddr::V4(a) => a.octets().to_vec(),
                        IpAddr::V6(a) => a.octets().to_vec(),
                    };
                    let inside = daddr[..] >= info[32..32 + w] && daddr[..] <= info[48..48 + w];
                    if inside == (flags & DST_INV != 0) {
                        return Next::None;
                    }
                }
                if flags & SRC != 0 {
                    let range = SourceSet::range(w, &info[..w], &info[16..16 + w]);
                    let range = if flags & SRC_INV != 0 {
                        range.complement()
                    } else {
                        range
                    };
                    return constrain(path, &range);
                }
            }
            Expr::Xt {
                target: false,
                name,
                revision,
                info,
            } => {
                return match self.xt_match(name, *revision, info) {
                    Some(true) => Next::One(path),
                    Some(false) => Next::None,
                    None => uncertain(
                        path,
                        format!(
                            "the iptables-nft match `{name}` (revision {revision}) is not evaluated yet"
                        ),
                    ),
                };
            }
            Expr::Xt {
                target: true,
                name,
                revision,
                info,
            } => match name.as_str() {
                "LOG" | "NFLOG" | "TRACE" => {}
                "REJECT" => path.verdict = Some(&DROP),
                "SNAT" | "MASQUERADE" => path.verdict = Some(&ACCEPT),
                "DNAT" | "REDIRECT" => match self.xt_nat(name == "REDIRECT", *revision, info) {
                    Some(to) => {
                        path.dnat = Some(to);
                        path.verdict = Some(&ACCEPT);
                    }
                    None => {
                        path.fatal.get_or_insert(format!(
                            "the iptables-nft target `{name}` (revision {revision}) sends it somewhere not understood"
                        ));
                    }
                },
                _ => {
                    path.fatal.get_or_insert(format!(
                        "the iptables-nft target `{name}` is not evaluated yet"
                    ));
                }
            },
            Expr::Other(name) => {
                return uncertain(
                    path,
                    format!("the `{name}` expression is not evaluated yet"),
                );
            }
        }
        Next::One(path)
    }

    fn lookup(
        &self,
        path: Path<'a>,
        set: &'a Set,
        sreg: u32,
        dreg: Option<u32>,
        invert: bool,
    ) -> Next<'a> {
        let width = self.packet.width();
        let key_len = set.key_len as usize;
        match read(&path, sreg, key_len) {
            Sym::Known(key) => {
                let found = find(set, &key[..key_len.min(key.len())]);
                match (dreg, found) {
                    (None, found) if found.is_some() != invert => Next::One(path),
                    (None, _) => Next::None,
                    (Some(_), None) => Next::None,
                    (Some(0), Some(element)) => match &element.data {
                        Some(Data::Verdict(v)) => {
                            let mut path = path;
                            path.verdict = Some(v);
                            Next::One(path)
                        }
                        _ => uncertain(
                            path,
                            format!("verdict map `{}` without a verdict", set.name),
                        ),
                    },
                    (Some(r), Some(element)) => match &element.data {
                        Some(Data::Value(v)) => {
                            let mut path = path;
                            write(&mut path, r, Sym::Known(v.clone()), v.len());
                            Next::One(path)
                        }
                        _ => uncertain(path, format!("map `{}` without a value", set.name)),
                    },
                }
            }
            Sym::Saddr(n) if n == width && key_len == width => {
                let ranges = ranges(set);
                match dreg {
                    None => {
                        let all = SourceSet::union_all(width, ranges.iter().map(|(s, _)| s));
                        constrain(path, &if invert { all.complement() } else { all })
                    }
                    Some(0) => ranges
                        .into_iter()
                        .filter_map(|(s, element)| {
                            let mut branch = path.clone();
                            branch.guard = branch.guard.intersect(&s);
                            match &element.data {
                                _ if branch.guard.is_empty() => None,
                                Some(Data::Verdict(v)) => {
                                    branch.verdict = Some(v);
                                    Some(branch)
                                }
                                _ => {
                                    branch
                                        .fatal
                                        .get_or_insert("a verdict map without a verdict".into());
                                    Some(branch)
                                }
                            }
                        })
                        .collect::<Vec<_>>()
                        .into(),
                    Some(_) => uncertain(
                        path,
                        format!("map `{}` keyed by the source address", set.name),
                    ),
                }
            }
            Sym::Unknown(reason) => uncertain(path, reason),
            _ => uncertain(
                path,
                format!(
                    "set `{}` keyed by a concatenation with the source address",
                    set.name
                ),
            ),
        }
    }

    /// The iptables matches iptables-nft leaves as `xt` blobs, on the
    /// packet class; `None` for one not understood.
    fn xt_match(&self, name: &str, revision: u32, info: &[u8]) -> Option<bool> {
        let u16_at = |o: usize| info.get(o..o + 2).map(|b| u16::from_ne_bytes([b[0], b[1]]));
        let u32_at = |o: usize| {
            info.get(o..o + 4)
                .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        };
        // xt's state bits: 1 << (ctinfo + 1), NEW is ctinfo 2.
        let xt_state = |untracked_bit: u32| match self.ct_state? {
            CT_NEW => Some(CT_NEW),
            CT_ESTABLISHED => Some(CT_ESTABLISHED),
            CT_UNTRACKED => Some(untracked_bit),
            _ => None,
        };
        match (name, revision) {
            ("comment", _) => Some(true),
            // struct xt_multiport_v1 { u8 flags, count; u16 ports[15];
            // u8 pflags[15]; u8 invert; }: flags 1 is destination ports.
            ("multiport", 1) => {
                let (flags, count) = (*info.first()?, *info.get(1)? as usize);
                if flags != 1 || count > 15 {
                    return None;
                }
                let port = self.packet.dport;
                let mut hit = false;
                let mut i = 0;
                while i < count {
                    let low = u16_at(2 + 2 * i)?;
                    if *info.get(32 + i)? != 0 && i + 1 < count {
                        hit |= (low..=u16_at(2 + 2 * (i + 1))?).contains(&port);
                        i += 2;
                    } else {
                        hit |= low == port;
                        i += 1;
                    }
                }
                Some(hit != (*info.get(47)? != 0))
            }
            // struct xt_tcp { u16 spts[2], dpts[2]; u8 option, flg_mask,
            // flg_cmp, invflags; } and struct xt_udp { u16 spts[2],
            // dpts[2]; u8 invflags; }: what legacy iptables' `-p tcp
            // --dport` is (iptables-nft writes payload matches instead).
            ("tcp" | "udp", 0) => {
                let (low, high) = (u16_at(4)?, u16_at(6)?);
                let any_source = u16_at(0)? == 0 && u16_at(2)? == u16::MAX;
                let (inv, flags) = if name == "tcp" {
                    let (option, mask, cmp) = (*info.get(8)?, *info.get(9)?, *info.get(10)?);
                    // A new connection's first segment carries SYN alone.
                    let now = if self.ct_state == Some(CT_ESTABLISHED) {
                        0x10
                    } else {
                        0x02
                    };
                    let syn = (now & mask) == cmp;
                    let inv = *info.get(11)?;
                    if option != 0 {
                        return None;
                    }
                    (inv, syn != (inv & 0x04 != 0))
                } else {
                    (*info.get(8)?, true)
                };
                if !any_source || inv & 0x01 != 0 {
                    return None; // a source port match
                }
                let port = self.packet.dport;
                let proto_fits = self.packet.protocol == if name == "tcp" { 6 } else { 17 };
                let hit = (low..=high).contains(&port) != (inv & 0x02 != 0);
                Some(proto_fits && hit && flags)
            }
            // struct xt_state_info { unsigned int statemask; }
            ("state", 0) => Some(u32_at(0)? & xt_state(1 << 6)? != 0),
            // struct xt_conntrack_mtinfo3: eight 16-byte addresses, two
            // u32 expiries, then u16 fields from byte 136 on.
            ("conntrack", 3) => {
                const STATE: u16 = 1;
                const STATE_ALIAS: u16 = 1 << 13;
                let flags = u16_at(146)?;
                if flags & !(STATE | STATE_ALIAS) != 0 {
                    return None;
                }
                let invert = u16_at(148)? & STATE != 0;
                let state = u32::from(u16_at(150)?);
                Some((state & xt_state(1 << 8)? != 0) != invert)
            }
            // struct xt_addrtype_info_v1 { u16 source, dest; u32 flags; }
            ("addrtype", 1) => {
                const LOCAL: u16 = 1 << 2;
                let (source, dest, flags) = (u16_at(0)?, u16_at(2)?, u32_at(4)?);
                if source != 0 || flags & 8 != 0 {
                    return None;
                }
                if flags & 4 != 0 && !self.packet.daddr_on_iif {
                    return None;
                }
                const UNICAST: u16 = 1 << 1;
                let is = if self.packet.local { LOCAL } else { UNICAST };
                Some(dest == 0 || (dest & is != 0) != (flags & 2 != 0))
            }
            _ => None,
        }
    }

    /// A nat statement on one path. Source translation does not change
    /// where the packet goes; `dnat` and `redirect` do, when the target is
    /// the same for every source on the path.
    fn nat(&self, nat: &Nat, path: &mut Path<'_>) {
        let p = self.packet;
        let family = if p.v6() { 10 } else { 2 };
        if nat.family.is_some_and(|f| f != family && f != 1) {
            return; // `dnat ip to …` in an inet table leaves IPv6 alone
        }
        let port = match nat.port_reg {
            None => Some(p.dport),
            Some(r) => match read(path, r, 2) {
                Sym::Known(v) if v.len() >= 2 => Some(u16::from_be_bytes([v[0], v[1]])),
                _ => None,
            },
        };
        let addr = match (nat.kind, nat.addr_reg) {
            (NatKind::Snat | NatKind::Masquerade, _) => {
                path.verdict = Some(&ACCEPT);
                return;
            }
            (NatKind::Redirect, _) => p.iif_address,
            (NatKind::Dnat, None) => Some(p.daddr),
            (NatKind::Dnat, Some(r)) => match read(path, r, p.width()) {
                Sym::Known(v) if v.len() >= p.width() => ip_from(&v[..p.width()]),
                _ => None,
            },
        };
        match addr.zip(port) {
            Some(to) => {
                path.dnat = Some(to);
                path.verdict = Some(&ACCEPT);
            }
            None => {
                path.fatal.get_or_insert(format!(
                    "{} to a target that depends on the source, or that is not understood",
                    nat.kind.name()
                ));
            }
        }
    }

    /// iptables' `DNAT`/`REDIRECT` blobs: `struct nf_nat_ipv4_multi_range_compat`
    /// (revision 0 on IPv4: u32 rangesize, then u32 flags, be32 min_ip,
    /// max_ip, be16 min port, max port) or `nf_nat_range`/`nf_nat_range2`
    /// (u32 flags, 16-byte min and max address, be16 min and max port).
    fn xt_nat(&self, redirect: bool, revision: u32, info: &[u8]) -> Option<(IpAddr, u16)> {
        const MAP_IPS: u32 = 1;
        const PROTO_SPECIFIED: u32 = 2;
        let p = self.packet;
        let u32_at = |o: usize| {
            info.get(o..o + 4)
                .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        };
        let be16_at = |o: usize| info.get(o..o + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
        let (flags, addr, port) = if revision == 0 && !p.v6() {
            if u32_at(0)? != 1 {
                return None;
            }
            (u32_at(4)?, info.get(8..12)?, be16_at(16)?)
        } else {
            (u32_at(0)?, info.get(4..4 + p.width())?, be16_at(36)?)
        };
        let to_addr = match (redirect, flags & MAP_IPS != 0) {
            (true, _) => p.iif_address?,
            (false, true) => ip_from(addr)?,
            (false, false) => p.daddr,
        };
        let to_port = if flags & PROTO_SPECIFIED != 0 {
            port
        } else {
            p.dport
        };
        Some((to_addr, to_port))
    }

    fn payload(&self, base: u32, offset: u32, len: u32) -> Sym {
        let p = self.packet;
        let daddr = match p.daddr {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        let (o, l) = (offset as usize, len as usize);
        match (base, p.v6()) {
            (1, false) if o == 12 && (1..=4).contains(&l) => Sym::Saddr(l),
            (1, true) if o == 8 && (1..=16).contains(&l) => Sym::Saddr(l),
            (1, false) if o >= 16 && o + l <= 20 => Sym::Known(daddr[o - 16..o - 16 + l].to_vec()),
            (1, true) if o >= 24 && o + l <= 40 => Sym::Known(daddr[o - 24..o - 24 + l].to_vec()),
            (1, false) if (o, l) == (9, 1) => Sym::Known(vec![p.protocol]),
            (1, true) if (o, l) == (6, 1) => Sym::Known(vec![p.protocol]),
            (2, _) if (o, l) == (2, 2) => Sym::Known(p.dport.to_be_bytes().to_vec()),
            (2, _) if (o, l) == (0, 2) => Sym::Unknown("a match on the source port".into()),
            // A new connection's first segment: SYN alone; the rest ACK.
            (2, _) if (o, l) == (13, 1) && p.protocol == 6 => {
                Sym::Known(vec![if self.ct_state == Some(CT_ESTABLISHED) {
                    0x10
                } else {
                    0x02
                }])
            }
            (0, _) => Sym::Unknown("a match on the link-layer header".into()),
            _ => Sym::Unknown(format!(
                "a match on header bytes {o}..{} (base {base})",
                o + l
            )),
        }
    }

    /// `None`: the kernel breaks the rule (an output interface on input).
    /// (An output interface's type, group or kind is not known.)
    fn meta(&self, key: u32) -> Option<(Sym, usize)> {
        let p = self.packet;
        Some(match key {
            1 => (
                Sym::Known(if p.v6() {
                    vec![0x86, 0xdd]
                } else {
                    vec![0x08, 0x00]
                }),
                2,
            ),
            3 => match self.mark {
                Some(m) => (Sym::Known(m.to_ne_bytes().to_vec()), 4),
                None => (Sym::Unknown("the packet mark was set earlier".into()), 4),
            },
            4 => (Sym::Known(p.iif_index.to_ne_bytes().to_vec()), 4),
            5 => (Sym::Known(p.oif?.1.to_ne_bytes().to_vec()), 4),
            7 => {
                let mut name = p.oif?.0.as_bytes().to_vec();
                name.resize(16, 0);
                (Sym::Known(name), 16)
            }
            6 => {
                let mut name = p.iif.as_bytes().to_vec();
                name.resize(16, 0);
                (Sym::Known(name), 16)
            }
            9 | 22 | 27 if p.oif.is_none() => return None,
            15 => (Sym::Known(vec![if p.v6() { 10 } else { 2 }]), 1),
            16 => (Sym::Known(vec![p.protocol]), 1),
            19 => (Sym::Known(vec![0]), 1), // PACKET_HOST
            _ => (Sym::Unknown(format!("meta key {key}")), 4),
        })
    }
}

fn ip_from(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?)),
        _ => None,
    }
}

fn compare(op: u32, order: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        0 => order == Equal,
        1 => order != Equal,
        2 => order == Less,
        3 => order != Greater,
        4 => order == Greater,
        5 => order != Less,
        _ => false,
    }
}

fn uncertain(mut path: Path<'_>, reason: String) -> Next<'_> {
    path.uncertain.get_or_insert(reason);
    Next::One(path)
}

fn constrain<'a>(mut path: Path<'a>, set: &SourceSet) -> Next<'a> {
    path.guard = path.guard.intersect(set);
    if path.guard.is_empty() {
        Next::None
    } else {
        Next::One(path)
    }
}

fn write(path: &mut Path, reg: u32, value: Sym, len: usize) {
    let Some(word) = word_of(reg) else {
        path.fatal.get_or_insert(format!("register {reg}"));
        return;
    };
    let words = len.div_ceil(4).max(1);
    let end = (word + words).min(REGISTER_WORDS);
    if path.regs.len() < end {
        path.regs.resize(end, None);
    }
    for w in word..end {
        path.regs[w] = None;
    }
    if word < REGISTER_WORDS {
        path.regs[word] = Some((value, len));
    }
}

/// `len` bytes from a register; a concatenation is read value by value,
/// each padded to whole words as the kernel lays them out.
fn read(path: &Path, reg: u32, len: usize) -> Sym {
    let Some(mut word) = word_of(reg) else {
        return Sym::Unknown(format!("register {reg}"));
    };
    let mut bytes = Vec::new();
    let mut first = true;
    while bytes.len() < len {
        match path.regs.get(word).and_then(Option::as_ref) {
            Some((Sym::Known(v), l)) => {
                let padded = l.div_ceil(4) * 4;
                let start = bytes.len();
                bytes.extend_from_slice(&v[..v.len().min(padded)]);
                bytes.resize(start + padded, 0);
                word += l.div_ceil(4);
            }
            Some((sym, l)) if first && *l >= len => return sym.clone(),
            Some((Sym::Unknown(r), _)) => return Sym::Unknown(r.clone()),
            Some(_) => return Sym::Unknown("a concatenation with the source address".into()),
            None => return Sym::Unknown(format!("register {reg} read before it was written")),
        }
        first = false;
    }
    bytes.truncate(len);
    Sym::Known(bytes)
}

/// The element whose key (or range) holds `key`.
fn find<'s>(set: &'s Set, key: &[u8]) -> Option<&'s Element> {
    if set.is_interval() {
        let mut open: Option<&Element> = None;
        for e in sorted(set) {
            if let Some(end) = &e.key_end {
                if key >= &e.key[..] && key <= &end[..] {
                    return Some(e);
                }
                continue;
            }
            if e.key[..] > *key {
                break;
            }
            open = if e.interval_end { None } else { Some(e) };
        }
        open
    } else {
        set.elements.iter().find(|e| e.key == key)
    }
}

/// An interval set's elements by key (the snapshot sorts them once; a set
/// built otherwise is sorted here, stably, as the kernel's order may not be).
fn sorted(set: &Set) -> Vec<&Element> {
    let mut sorted: Vec<&Element> = set.elements.iter().collect();
    if !sorted.is_sorted_by(|a, b| a.key <= b.key) {
        sorted.sort_by(|a, b| a.key.cmp(&b.key));
    }
    sorted
}

/// A set of source addresses as ranges, each with the element that holds it.
fn ranges(set: &Set) -> Vec<(SourceSet, &Element)> {
    let width = set.key_len as usize;
    let mut out = Vec::new();
    if !set.is_interval() {
        for e in &set.elements {
            out.push((SourceSet::range(width, &e.key, &e.key), e));
        }
        return out;
    }
    let mut open: Option<&Element> = None;
    let max = vec![0xff; width];
    for e in sorted(set) {
        if let Some(end) = &e.key_end {
            out.push((SourceSet::range(width, &e.key, end), e));
            continue;
        }
        if e.interval_end {
            if let Some(start) = open.take() {
                let last = number(&e.key).wrapping_sub(1).to_be_bytes();
                out.push((
                    SourceSet::range(width, &start.key, &last[16 - width..]),
                    start,
                ));
            }
        } else {
            if let Some(start) = open.replace(e) {
                // Two starts in a row: the first runs up to the second.
                let last = number(&e.key).wrapping_sub(1).to_be_bytes();
                out.push((
                    SourceSet::range(width, &start.key, &last[16 - width..]),
                    start,
                ));
            }
        }
    }
    if let Some(start) = open {
        out.push((SourceSet::range(width, &start.key, &max), start));
    }
    out
}
