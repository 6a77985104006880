//! Legacy (x_tables) iptables tables, as `IPT_SO_GET_ENTRIES` hands them
//! over, turned into the same [`Chain`]s an nftables dump gives: the IP
//! header part of each entry (`-s`, `-d`, `-i`, `-o`, `-p`) becomes the
//! nftables expressions it means, its matches and targets stay the `xt`
//! blobs the evaluator already reads (the same structs iptables-nft uses),
//! and standard verdicts become accept, drop, return, jump or goto. Rules
//! are numbered within their chain from 1, as `iptables -L --line-numbers`
//! does; that number stands in the rule's handle. Pure.
//!
//! `struct ipt_entry` (x86_64 and every 64-bit ABI Linux has): `ipt_ip`
//! (`src, dst, smsk, dmsk, iniface[16], outiface[16], iniface_mask[16],
//! outiface_mask[16], u16 proto, u8 flags, u8 invflags`) in 84 bytes, then
//! nfcache, u16 target_offset, u16 next_offset, comefrom and two u64
//! counters: the matches start at 112. `struct ip6t_entry` is the same
//! with 16-byte addresses and a `tos` byte before the flags: `ip6t_ip6`
//! takes 136 bytes and the matches start at 168. The match and target
//! structs are the same for both families.

use super::decode::DecodeError;
use super::ruleset::{Chain, Data, Expr, Hook, Rule, TableFamily, Verdict};

const XT_HEADER: usize = 32;
const HOOKS: [&str; 5] = ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"];
const IPT_F_FRAG: u8 = 0x01;
const IP6T_F_PROTO: u8 = 0x01;
const IP6T_F_TOS: u8 = 0x02;
const IPT_INV_VIA_IN: u8 = 0x01;
const IPT_INV_VIA_OUT: u8 = 0x02;
const IPT_INV_SRCIP: u8 = 0x08;
const IPT_INV_DSTIP: u8 = 0x10;
const IPT_INV_FRAG: u8 = 0x20;
const IPT_INV_PROTO: u8 = 0x40;
/// The register the header matches load into (`NFT_REG_1`).
const REG: u32 = 1;

/// Where `ipt_entry` and `ip6t_entry` keep their fields.
struct Layout {
    v6: bool,
    /// Address width.
    width: usize,
    /// Where the matches start (the entry struct's size).
    entry: usize,
    /// `target_offset` (`next_offset` follows it).
    target_offset: usize,
    /// The interface names and masks: iniface, outiface, iniface_mask,
    /// outiface_mask, 16 bytes each.
    ifaces: usize,
    proto: usize,
    flags: usize,
    goto_flag: u8,
}

impl Layout {
    fn of(v6: bool) -> Self {
        if v6 {
            Layout {
                v6,
                width: 16,
                entry: 168,
                target_offset: 140,
                ifaces: 64,
                proto: 128,
                flags: 131,
                goto_flag: 0x04,
            }
        } else {
            Layout {
                v6,
                width: 4,
                entry: 112,
                target_offset: 88,
                ifaces: 16,
                proto: 80,
                flags: 82,
                goto_flag: 0x02,
            }
        }
    }

    fn family(&self) -> TableFamily {
        if self.v6 {
            TableFamily::LegacyIp6
        } else {
            TableFamily::LegacyIp
        }
    }
}

/// One entry of the blob, before chains are known.
struct Entry {
    offset: usize,
    next: usize,
    /// `None`: the rule can never match a new connection's first packet
    /// (`-f`: non-first fragments only).
    exprs: Option<Vec<Expr>>,
    target: Target,
}

enum Target {
    /// A standard verdict (negative) or a jump offset.
    Standard(i32),
    /// A user chain's head (`ERROR` target carrying its name), or the
    /// table's end (`ERROR`).
    Error(String),
    Xt {
        name: String,
        revision: u32,
        info: Vec<u8>,
    },
}

/// The chains of legacy table `table` of iptables (`v6` false) or
/// ip6tables: its hooks, and the entries blob.
pub fn chains(
    v6: bool,
    table: &str,
    valid_hooks: u32,
    hook_entry: [u32; 5],
    underflow: [u32; 5],
    blob: &[u8],
) -> Result<Vec<Chain>, DecodeError> {
    let layout = Layout::of(v6);
    let entries = entries(&layout, blob)?;
    let at = |offset: usize| entries.iter().position(|e| e.offset == offset);
    // Where each chain starts: the hooks' entries, and the entry after
    // each named ERROR head.
    let mut starts: Vec<(usize, String, Option<usize>)> = Vec::new();
    for (h, name) in HOOKS.iter().enumerate() {
        if valid_hooks & (1 << h) != 0 {
            starts.push((hook_entry[h] as usize, (*name).to_owned(), Some(h)));
        }
    }
    for (i, e) in entries.iter().enumerate() {
        if let Target::Error(name) = &e.target
            && name != "ERROR"
            && let Some(next) = entries.get(i + 1)
        {
            starts.push((next.offset, name.clone(), None));
        }
    }
    let chain_at = |offset: usize| {
        starts
            .iter()
            .find(|(o, _, _)| *o == offset)
            .map(|(_, n, _)| n.clone())
    };
    let mut out = Vec::new();
    for (start, name, hook) in &starts {
        let first =
            at(*start).ok_or_else(|| bad(format!("chain {name} starts inside an entry")))?;
        let (hook, policy, last) = match hook {
            Some(h) => {
                let under = underflow[*h] as usize;
                let last = at(under).ok_or_else(|| bad(format!("{name}'s policy entry")))?;
                let policy = match &entries[last].target {
                    Target::Standard(-1) => Verdict::Drop,
                    Target::Standard(-2) => Verdict::Accept,
                    _ => return Err(bad(format!("{name}'s policy is not accept or drop"))),
                };
                let hook = Hook {
                    number: *h as u32,
                    priority: priority(table, *h),
                    devices: vec![],
                };
                (Some(hook), Some(policy), last)
            }
            // A user chain runs to the next ERROR head (its last entry is
            // an unconditional return, kept as a rule: the same thing).
            None => {
                let end = entries[first..]
                    .iter()
                    .position(|e| matches!(e.target, Target::Error(_)))
                    .map_or(entries.len(), |n| first + n);
                (None, None, end)
            }
        };
        let mut rules = Vec::new();
        for (n, e) in entries[first..last.max(first)].iter().enumerate() {
            let Some(mut exprs) = e.exprs.clone() else {
                continue;
            };
            match &e.target {
                Target::Standard(v) if *v >= 0 && *v as usize == e.offset + e.next => {}
                Target::Standard(v) if *v >= 0 => {
                    let target = chain_at(*v as usize)
                        .ok_or_else(|| bad(format!("a jump into the middle of a chain ({v})")))?;
                    let goto = blob
                        .get(e.offset + layout.flags)
                        .is_some_and(|f| f & layout.goto_flag != 0);
                    exprs.push(verdict(if goto {
                        Verdict::Goto(target)
                    } else {
                        Verdict::Jump(target)
                    }));
                }
                // -NF_DROP-1, -NF_ACCEPT-1, -NF_QUEUE-1, XT_RETURN.
                Target::Standard(v) => exprs.push(verdict(match v {
                    -1 => Verdict::Drop,
                    -2 => Verdict::Accept,
                    -4 => Verdict::Queue,
                    -5 => Verdict::Return,
                    other => Verdict::Other(*other),
                })),
                Target::Error(_) => continue,
                Target::Xt {
                    name,
                    revision,
                    info,
                } => exprs.push(Expr::Xt {
                    target: true,
                    name: name.clone(),
                    revision: *revision,
                    info: info.clone(),
                }),
            }
            let comment = exprs.iter().find_map(|x| match x {
                Expr::Xt {
                    target: false,
                    name,
                    info,
                    ..
                } if name == "comment" => {
                    let end = info.iter().position(|&b| b == 0).unwrap_or(info.len());
                    Some(String::from_utf8_lossy(&info[..end]).into_owned())
                }
                _ => None,
            });
            rules.push(Rule::new(n as u64 + 1, comment, exprs));
        }
        out.push(Chain {
            family: layout.family(),
            table: table.to_owned(),
            name: name.clone(),
            hook,
            policy,
            kind: if table == "nat" { "nat" } else { "filter" }.into(),
            rules,
        });
    }
    Ok(out)
}

/// The priorities x_tables registers its tables' hooks at.
fn priority(table: &str, hook: usize) -> i32 {
    match (table, hook) {
        ("raw", _) => -300,
        ("mangle", _) => -150,
        ("nat", 0 | 3) => -100,
        ("nat", _) => 100,
        ("security", _) => 50,
        _ => 0,
    }
}

fn verdict(v: Verdict) -> Expr {
    Expr::Immediate {
        dreg: 0,
        data: Data::Verdict(v),
    }
}

fn entries(layout: &Layout, blob: &[u8]) -> Result<Vec<Entry>, DecodeError> {
    let mut out = Vec::new();
    let mut offset = 0;
    while offset + layout.entry <= blob.len() {
        let e = &blob[offset..];
        let u16_at = |o: usize| u16::from_ne_bytes([e[o], e[o + 1]]) as usize;
        let (target_at, next) = (
            u16_at(layout.target_offset),
            u16_at(layout.target_offset + 2),
        );
        if target_at < layout.entry || next < target_at + XT_HEADER || next > e.len() {
            return Err(bad(format!("an entry at {offset} of length {next}")));
        }
        let mut exprs = header(layout, e);
        let mut m = layout.entry;
        while m + XT_HEADER <= target_at {
            let size = u16_at(m);
            if size < XT_HEADER || m + size > target_at {
                return Err(bad(format!("a match of size {size} at {offset}")));
            }
            let (name, revision) = xt_name(&e[m..]);
            if let Some(list) = exprs.as_mut() {
                list.push(Expr::Xt {
                    target: false,
                    name,
                    revision,
                    info: e[m + XT_HEADER..m + size].to_vec(),
                });
            }
            m += size;
        }
        let t = &e[target_at..next];
        let (name, revision) = xt_name(t);
        let data = &t[XT_HEADER..];
        let target = match name.as_str() {
            "" if data.len() >= 4 => {
                Target::Standard(i32::from_ne_bytes([data[0], data[1], data[2], data[3]]))
            }
            "ERROR" => {
                let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
                Target::Error(String::from_utf8_lossy(&data[..end]).into_owned())
            }
            _ => Target::Xt {
                name,
                revision,
                info: data.to_vec(),
            },
        };
        out.push(Entry {
            offset,
            next,
            exprs,
            target,
        });
        offset += next;
    }
    Ok(out)
}

/// The name and revision of an `xt_entry_match` or `xt_entry_target`.
fn xt_name(x: &[u8]) -> (String, u32) {
    let name = &x[2..31];
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    (
        String::from_utf8_lossy(&name[..end]).into_owned(),
        u32::from(x[31]),
    )
}

/// `ipt_ip` or `ip6t_ip6` as nftables expressions; `None` for `-f`
/// (fragments after the first, never a new connection's first packet).
fn header(layout: &Layout, e: &[u8]) -> Option<Vec<Expr>> {
    let at = layout.proto;
    let proto = u16::from_ne_bytes([e[at], e[at + 1]]);
    let (flags, inv) = (e[layout.flags], e[layout.flags + 1]);
    let mut out = Vec::new();
    if layout.v6 {
        if flags & IP6T_F_TOS != 0 {
            // Not set by ip6tables itself; kept as a match not understood.
            out.push(Expr::Other("ip6t_ip6 tos".into()));
        }
    } else if flags & IPT_F_FRAG != 0 && inv & IPT_INV_FRAG == 0 {
        return None;
    }
    let op = |bit: u8| u32::from(inv & bit != 0);
    let w = layout.width;
    // (payload offset, address, mask) of the source and the destination.
    let (saddr, daddr) = if layout.v6 { (8, 24) } else { (12, 16) };
    for (offset, addr, mask, bit) in [
        (saddr, 0, 2 * w, IPT_INV_SRCIP),
        (daddr, w, 3 * w, IPT_INV_DSTIP),
    ] {
        let mask = &e[mask..mask + w];
        if mask.iter().all(|&b| b == 0) {
            continue;
        }
        out.push(Expr::Payload {
            dreg: Some(REG),
            base: 1,
            offset,
            len: w as u32,
        });
        if mask.iter().any(|&b| b != 0xff) {
            out.push(Expr::Bitwise {
                sreg: REG,
                dreg: REG,
                len: w as u32,
                op: 0,
                mask: mask.to_vec(),
                xor: vec![0; w],
            });
        }
        let value: Vec<u8> = e[addr..addr + w]
            .iter()
            .zip(mask)
            .map(|(a, m)| a & m)
            .collect();
        out.push(Expr::Cmp {
            sreg: REG,
            op: op(bit),
            data: value,
        });
    }
    let names = layout.ifaces;
    for (key, name, mask, bit) in [
        (6, names, names + 32, IPT_INV_VIA_IN),
        (7, names + 16, names + 48, IPT_INV_VIA_OUT),
    ] {
        let n = e[mask..mask + 16]
            .iter()
            .take_while(|&&b| b == 0xff)
            .count();
        if n == 0 {
            continue;
        }
        out.push(Expr::Meta {
            key,
            dreg: Some(REG),
            sreg: None,
        });
        out.push(Expr::Cmp {
            sreg: REG,
            op: op(bit),
            data: e[name..name + n].to_vec(),
        });
    }
    // ip6tables sets IP6T_F_PROTO with `-p`; iptables only the number.
    if proto != 0 && (!layout.v6 || flags & IP6T_F_PROTO != 0) {
        out.push(Expr::Meta {
            key: 16,
            dreg: Some(REG),
            sreg: None,
        });
        out.push(Expr::Cmp {
            sreg: REG,
            op: op(IPT_INV_PROTO),
            data: vec![proto as u8],
        });
    }
    Some(out)
}

fn bad(what: String) -> DecodeError {
    DecodeError(format!("legacy iptables: {what}"))
}
