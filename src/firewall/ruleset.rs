//! A namespace's nftables ruleset as the kernel dumped it: plain data, no
//! I/O. Only what evaluation needs is kept; an expression that is not
//! understood keeps its name, so evaluation can say why it gave up.

use std::collections::HashMap;
use std::sync::OnceLock;

/// `NFPROTO_*`: the family of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TableFamily {
    Inet,
    Ip,
    Ip6,
    Netdev,
    Arp,
    Bridge,
    /// A legacy (x_tables) iptables table: not nftables, but evaluated the
    /// same way (`super::legacy`).
    LegacyIp,
    /// A legacy ip6tables table.
    LegacyIp6,
    Other(u8),
}

impl TableFamily {
    pub fn from_raw(raw: u8) -> Self {
        match raw {
            1 => Self::Inet,
            2 => Self::Ip,
            3 => Self::Arp,
            5 => Self::Netdev,
            7 => Self::Bridge,
            10 => Self::Ip6,
            other => Self::Other(other),
        }
    }

    /// As `nft` names it.
    pub fn name(self) -> String {
        match self {
            Self::Inet => "inet".into(),
            Self::Ip => "ip".into(),
            Self::Ip6 => "ip6".into(),
            Self::Netdev => "netdev".into(),
            Self::Arp => "arp".into(),
            Self::Bridge => "bridge".into(),
            Self::LegacyIp => "iptables-legacy".into(),
            Self::LegacyIp6 => "ip6tables-legacy".into(),
            Self::Other(n) => format!("family-{n}"),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ruleset {
    /// The ruleset generation the dump was taken at (the same before and
    /// after: see `collect::nftables`).
    pub generation: u32,
    pub chains: Vec<Chain>,
    pub sets: Vec<Set>,
    /// Chains by name, built at the first lookup: a walk resolves every
    /// jump it takes, among hundreds of chains.
    pub(super) by_name: ChainIndex,
}

impl Ruleset {
    pub fn chain(&self, family: TableFamily, table: &str, name: &str) -> Option<&Chain> {
        let fits = |c: &&Chain| c.family == family && c.table == table && c.name == name;
        let index = self.by_name.0.get_or_init(|| {
            let mut index: HashMap<String, Vec<usize>> = HashMap::new();
            for (i, c) in self.chains.iter().enumerate() {
                index.entry(c.name.clone()).or_default().push(i);
            }
            index
        });
        let indexed = index.get(name).into_iter().flatten();
        indexed
            .filter_map(|&i| self.chains.get(i))
            .find(fits)
            // Not indexed: a jump to a chain that was not dumped, or one
            // added after the index was built (rulesets are put together
            // before they are walked, fixtures need not be).
            .or_else(|| self.chains.iter().find(fits))
    }

    pub fn set(&self, family: TableFamily, table: &str, name: &str) -> Option<&Set> {
        self.sets
            .iter()
            .find(|s| s.family == family && s.table == table && s.name == name)
    }

    pub fn rule_count(&self) -> usize {
        self.chains.iter().map(|c| c.rules.len()).sum()
    }
}

/// [`Ruleset::chain`]'s index: chains' positions by name. Not
/// part of the ruleset's value: a copy starts without one, and it is
/// ignored by comparisons.
#[derive(Default)]
pub struct ChainIndex(OnceLock<HashMap<String, Vec<usize>>>);

impl Clone for ChainIndex {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl PartialEq for ChainIndex {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for ChainIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChainIndex")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    pub family: TableFamily,
    pub table: String,
    pub name: String,
    /// Set for a base chain: where the kernel calls it.
    pub hook: Option<Hook>,
    /// A base chain's policy (accept or drop).
    pub policy: Option<Verdict>,
    /// `filter`, `nat` or `route`.
    pub kind: String,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hook {
    /// `NF_INET_*` (0 prerouting, 1 input, 2 forward, 3 output,
    /// 4 postrouting, 5 ingress) or `NF_NETDEV_*` (0 ingress, 1 egress).
    pub number: u32,
    pub priority: i32,
    /// The devices an ingress chain is attached to.
    pub devices: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub handle: u64,
    /// nft's `comment "…"`, from the rule's user data.
    pub comment: Option<String>,
    pub exprs: Vec<Expr>,
    /// What [`Rule::new`] derived from `exprs`: see [`Check`].
    pub checks: Vec<Check>,
}

impl Rule {
    pub fn new(handle: u64, comment: Option<String>, exprs: Vec<Expr>) -> Self {
        let checks = checks_of(&exprs);
        Rule {
            handle,
            comment,
            exprs,
            checks,
        }
    }
}

/// A field that every packet class a walk evaluates fixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The transport header's destination port, 2 bytes big-endian.
    Dport,
    /// `meta l4proto`, 1 byte.
    L4proto,
    /// `meta nfproto`, 1 byte.
    Nfproto,
    /// `meta iifname`, 16 bytes NUL-padded.
    Iifname,
}

impl Field {
    fn len(self) -> usize {
        match self {
            Field::Dport => 2,
            Field::L4proto | Field::Nfproto => 1,
            Field::Iifname => 16,
        }
    }
}

/// A comparison of a fixed [`Field`] that a rule makes before any of its
/// expressions has an effect: where one fails, the rule cannot match, and
/// evaluation skips it without the symbolic machinery. Most rules of a
/// large ruleset are about other ports; derived once per rule, this is a
/// few byte compares per rule and walk.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub field: Field,
    /// `NFT_CMP_*`.
    pub op: u32,
    pub data: Vec<u8>,
}

/// The [`Check`]s up to the first expression with an effect: loads and
/// matches without effects are looked past, forgetting the registers they
/// overwrite.
fn checks_of(exprs: &[Expr]) -> Vec<Check> {
    // (first word, field) of the registers holding a fixed field.
    let mut held: Vec<(usize, Field)> = Vec::new();
    let words = |len: usize| len.div_ceil(4).max(1);
    let load = |held: &mut Vec<(usize, Field)>, reg: u32, field: Option<Field>, len: usize| {
        let Some(word) = word_of(reg) else { return };
        let end = word + words(len);
        held.retain(|(w, f)| !(*w < end && word < *w + words(f.len())));
        if let Some(field) = field {
            held.push((word, field));
        }
    };
    let mut checks = Vec::new();
    for expr in exprs {
        if let Some(r) = expr.loads_dport() {
            load(&mut held, r, Some(Field::Dport), 2);
            continue;
        }
        match expr {
            Expr::Meta {
                key, dreg: Some(r), ..
            } => {
                let field = match key {
                    16 => Some(Field::L4proto),
                    15 => Some(Field::Nfproto),
                    6 => Some(Field::Iifname),
                    _ => None,
                };
                load(&mut held, *r, field, field.map_or(4, Field::len));
            }
            Expr::Cmp { sreg, op, data } => {
                let word = word_of(*sreg);
                if let Some(&(_, field)) = held.iter().find(|(w, _)| Some(*w) == word)
                    && data.len() <= field.len()
                {
                    checks.push(Check {
                        field,
                        op: *op,
                        data: data.clone(),
                    });
                }
            }
            Expr::Payload {
                dreg: Some(r), len, ..
            }
            | Expr::Bitwise { dreg: r, len, .. } => load(&mut held, *r, None, *len as usize),
            Expr::Ct { dreg: Some(r), .. } | Expr::Fib { dreg: r, .. } => {
                load(&mut held, *r, None, 16)
            }
            Expr::Range { .. } | Expr::Lookup { dreg: None, .. } | Expr::Passive => {}
            _ => break,
        }
    }
    checks
}

/// Registers are numbered as the kernel numbers them: 0 is the verdict,
/// 1–4 the 16-byte registers, 8–23 the 4-byte ones (see [`word_of`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Payload {
        dreg: Option<u32>,
        base: u32,
        offset: u32,
        len: u32,
    },
    Meta {
        key: u32,
        dreg: Option<u32>,
        /// `meta KEY set …`: a statement.
        sreg: Option<u32>,
    },
    Ct {
        key: u32,
        dreg: Option<u32>,
        sreg: Option<u32>,
    },
    Cmp {
        sreg: u32,
        op: u32,
        data: Vec<u8>,
    },
    Bitwise {
        sreg: u32,
        dreg: u32,
        len: u32,
        op: u32,
        mask: Vec<u8>,
        xor: Vec<u8>,
    },
    Range {
        sreg: u32,
        op: u32,
        from: Vec<u8>,
        to: Vec<u8>,
    },
    Lookup {
        sreg: u32,
        set: String,
        dreg: Option<u32>,
        invert: bool,
    },
    Immediate {
        dreg: u32,
        data: Data,
    },
    Fib {
        dreg: u32,
        result: u32,
        flags: u32,
    },
    /// `reject`: the packet is dropped (and answered).
    Reject,
    /// `notrack`: conntrack leaves the packet untracked.
    Notrack,
    /// `dnat`, `snat`, `masquerade`, `redirect`.
    Nat(Nat),
    /// No effect on where a packet goes: `counter`, `log`, `last`.
    Passive,
    /// An iptables-nft extension (`match`/`target`) and its name.
    Xt {
        target: bool,
        name: String,
        revision: u32,
        /// The kernel struct it carries, in host byte order.
        info: Vec<u8>,
    },
    /// Anything else, by its expression name.
    Other(String),
}

/// A nat statement: where its target address and port are loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct Nat {
    pub kind: NatKind,
    /// `NFPROTO_IPV4` (2) or `NFPROTO_IPV6` (10) for `dnat`/`snat`.
    pub family: Option<u32>,
    /// The register holding the (lowest) target address.
    pub addr_reg: Option<u32>,
    /// The register holding the (lowest) target port, in network order.
    pub port_reg: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatKind {
    Dnat,
    Snat,
    Masquerade,
    Redirect,
}

impl NatKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Dnat => "dnat",
            Self::Snat => "snat",
            Self::Masquerade => "masquerade",
            Self::Redirect => "redirect",
        }
    }
}

impl Expr {
    /// The register a load of the transport header's destination port
    /// writes (`th dport`, `tcp dport`, `udp dport`).
    pub fn loads_dport(&self) -> Option<u32> {
        match self {
            Expr::Payload {
                dreg: Some(r),
                base: 2,
                offset: 2,
                len: 2,
            } => Some(*r),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    Value(Vec<u8>),
    Verdict(Verdict),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Drop,
    Queue,
    Continue,
    Break,
    Return,
    Jump(String),
    Goto(String),
    Other(i32),
}

impl Verdict {
    pub fn from_code(code: i32, chain: Option<String>) -> Self {
        match code {
            0 => Self::Drop,
            1 => Self::Accept,
            3 => Self::Queue,
            -1 => Self::Continue,
            -2 => Self::Break,
            -3 => Self::Jump(chain.unwrap_or_default()),
            -4 => Self::Goto(chain.unwrap_or_default()),
            -5 => Self::Return,
            other => Self::Other(other),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Set {
    pub family: TableFamily,
    pub table: String,
    pub name: String,
    pub flags: u32,
    pub key_len: u32,
    /// `NFT_DATA_VERDICT` (0xffffff00) for a verdict map.
    pub data_type: Option<u32>,
    pub elements: Vec<Element>,
}

pub const SET_INTERVAL: u32 = 0x4;
pub const SET_CONCAT: u32 = 0x80;

impl Set {
    pub fn is_interval(&self) -> bool {
        self.flags & SET_INTERVAL != 0
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    pub key: Vec<u8>,
    /// The inclusive end of a range (`pipapo` sets).
    pub key_end: Option<Vec<u8>>,
    /// Marks the exclusive end of the interval begun by the element before
    /// it (`rbtree` interval sets).
    pub interval_end: bool,
    pub data: Option<Data>,
}

/// The 32-bit word a data register starts at in the kernel's register
/// file (`nft_parse_register`): the verdict overlays words 0–3, so the
/// 16-byte register 1 and the 4-byte register 8 both start at word 4.
pub fn word_of(register: u32) -> Option<usize> {
    match register {
        1..=4 => Some(register as usize * 4),
        8..=23 => Some(register as usize - 4),
        _ => None,
    }
}

/// Words in the register file (`NFT_REG32_NUM` plus the verdict's four).
pub const REGISTER_WORDS: usize = 20;
