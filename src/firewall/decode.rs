//! nf_tables netlink messages to a [`Ruleset`](super::Ruleset): pure, so fixtures and the
//! fuzzer drive it without a kernel. Attribute numbers are the UAPI's
//! (`linux/netfilter/nf_tables.h`); nftables puts integers in network byte
//! order. Malformed input is an error, never a partial ruleset.

use super::ruleset::{
    Chain, Data, Element, Expr, Hook, Nat, NatKind, Rule, Set, TableFamily, Verdict,
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("undecodable nf_tables message: {0}")]
pub struct DecodeError(pub String);

fn bad(what: impl Into<String>) -> DecodeError {
    DecodeError(what.into())
}

/// One netlink attribute: its type (flags masked off) and payload.
#[derive(Clone, Copy)]
struct Attr<'a> {
    kind: u16,
    data: &'a [u8],
}

/// The attributes of a nesting, checked whole first ([`attrs`]), then
/// walked in place: decoding thousands of rules allocates nothing for
/// their nestings.
#[derive(Clone)]
struct Attrs<'a>(&'a [u8]);

impl<'a> Iterator for Attrs<'a> {
    type Item = Attr<'a>;

    fn next(&mut self) -> Option<Attr<'a>> {
        let buf = self.0;
        if buf.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([buf[0], buf[1]]) as usize;
        let kind = u16::from_ne_bytes([buf[2], buf[3]]) & 0x3fff;
        self.0 = &buf[len.next_multiple_of(4).min(buf.len())..];
        Some(Attr {
            kind,
            data: &buf[4..len],
        })
    }
}

fn attrs(buf: &[u8]) -> Result<Attrs<'_>, DecodeError> {
    let mut rest = buf;
    while rest.len() >= 4 {
        let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
        let kind = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff;
        if len < 4 || len > rest.len() {
            return Err(bad(format!("attribute {kind} of length {len}")));
        }
        rest = &rest[len.next_multiple_of(4).min(rest.len())..];
    }
    Ok(Attrs(buf))
}

fn be32(a: &Attr) -> Result<u32, DecodeError> {
    let bytes: [u8; 4] = a
        .data
        .try_into()
        .map_err(|_| bad(format!("attribute {} is not 4 bytes", a.kind)))?;
    Ok(u32::from_be_bytes(bytes))
}

fn be64(a: &Attr) -> Result<u64, DecodeError> {
    let bytes: [u8; 8] = a
        .data
        .try_into()
        .map_err(|_| bad(format!("attribute {} is not 8 bytes", a.kind)))?;
    Ok(u64::from_be_bytes(bytes))
}

fn string(a: &Attr) -> String {
    text(a).into_owned()
}

/// A NUL-terminated name, borrowed where it is valid UTF-8.
fn text<'a>(a: &Attr<'a>) -> std::borrow::Cow<'a, str> {
    let end = a.data.iter().position(|&b| b == 0).unwrap_or(a.data.len());
    String::from_utf8_lossy(&a.data[..end])
}

fn required<T>(value: Option<T>, what: &str) -> Result<T, DecodeError> {
    value.ok_or_else(|| bad(format!("no {what}")))
}

/// `NFTA_DATA_*`: a value or a verdict.
fn data(buf: &[u8]) -> Result<Data, DecodeError> {
    for a in attrs(buf)? {
        match a.kind {
            1 => return Ok(Data::Value(a.data.to_vec())),
            2 => {
                let (mut code, mut chain) = (None, None);
                for v in attrs(a.data)? {
                    match v.kind {
                        1 => code = Some(be32(&v)? as i32),
                        2 => chain = Some(string(&v)),
                        _ => {}
                    }
                }
                return Ok(Data::Verdict(Verdict::from_code(
                    required(code, "verdict code")?,
                    chain,
                )));
            }
            _ => {}
        }
    }
    Err(bad("data with neither value nor verdict"))
}

fn value(buf: &[u8]) -> Result<Vec<u8>, DecodeError> {
    match data(buf)? {
        Data::Value(v) => Ok(v),
        Data::Verdict(_) => Err(bad("a verdict where a value belongs")),
    }
}

/// `NFT_MSG_NEWCHAIN`.
pub fn chain(family: u8, buf: &[u8]) -> Result<Chain, DecodeError> {
    let (mut table, mut name, mut hook, mut policy, mut kind) = (None, None, None, None, None);
    for a in attrs(buf)? {
        match a.kind {
            1 => table = Some(string(&a)),
            3 => name = Some(string(&a)),
            4 => {
                let (mut number, mut priority, mut devices) = (None, None, Vec::new());
                for h in attrs(a.data)? {
                    match h.kind {
                        1 => number = Some(be32(&h)?),
                        2 => priority = Some(be32(&h)? as i32),
                        3 => devices.push(string(&h)),
                        4 => {
                            for d in attrs(h.data)? {
                                devices.push(string(&d));
                            }
                        }
                        _ => {}
                    }
                }
                hook = Some(Hook {
                    number: required(number, "hook number")?,
                    priority: priority.unwrap_or(0),
                    devices,
                });
            }
            5 => policy = Some(Verdict::from_code(be32(&a)? as i32, None)),
            7 => kind = Some(string(&a)),
            _ => {}
        }
    }
    Ok(Chain {
        family: TableFamily::from_raw(family),
        table: required(table, "chain table")?,
        name: required(name, "chain name")?,
        policy: hook.as_ref().map(|_| policy.unwrap_or(Verdict::Accept)),
        hook,
        kind: kind.unwrap_or_else(|| "filter".into()),
        rules: Vec::new(),
    })
}

/// A rule and the chain it belongs to (names borrowed from the message).
pub struct RuleIn<'a> {
    pub family: TableFamily,
    pub table: std::borrow::Cow<'a, str>,
    pub chain: std::borrow::Cow<'a, str>,
    pub rule: Rule,
}

/// `NFT_MSG_NEWRULE`.
pub fn rule(family: u8, buf: &[u8]) -> Result<RuleIn<'_>, DecodeError> {
    let (mut table, mut chain, mut handle, mut exprs, mut comment) =
        (None, None, None, Vec::new(), None);
    for a in attrs(buf)? {
        match a.kind {
            1 => table = Some(text(&a)),
            2 => chain = Some(text(&a)),
            3 => handle = Some(be64(&a)?),
            4 => {
                for element in attrs(a.data)? {
                    exprs.push(expression(element.data)?);
                }
            }
            7 => comment = rule_comment(a.data),
            _ => {}
        }
    }
    // iptables-nft keeps `-m comment` as an xt match, not as user data.
    let comment = comment.or_else(|| {
        exprs.iter().find_map(|e| match e {
            Expr::Xt { name, info, .. } if name == "comment" => {
                let end = info.iter().position(|&b| b == 0).unwrap_or(info.len());
                Some(String::from_utf8_lossy(&info[..end]).into_owned())
            }
            _ => None,
        })
    });
    Ok(RuleIn {
        family: TableFamily::from_raw(family),
        table: required(table, "rule table")?,
        chain: required(chain, "rule chain")?,
        rule: Rule::new(handle.unwrap_or(0), comment, exprs),
    })
}

/// libnftnl's user data: type, length, value; the comment is type 0.
fn rule_comment(mut buf: &[u8]) -> Option<String> {
    while buf.len() >= 2 {
        let (kind, len) = (buf[0], buf[1] as usize);
        let value = buf.get(2..2 + len)?;
        if kind == 0 {
            let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
            return Some(String::from_utf8_lossy(&value[..end]).into_owned());
        }
        buf = &buf[2 + len..];
    }
    None
}

fn expression(buf: &[u8]) -> Result<Expr, DecodeError> {
    let (mut name, mut body) = (None, &[][..]);
    for a in attrs(buf)? {
        match a.kind {
            1 => name = Some(text(&a)),
            2 => body = a.data,
            _ => {}
        }
    }
    let name = required(name, "expression name")?;
    // Expressions' attribute numbers are small: indexed, not searched.
    let mut fields: [Option<Attr>; 16] = [None; 16];
    for a in attrs(body)? {
        if let Some(slot) = fields.get_mut(usize::from(a.kind)) {
            slot.get_or_insert(a);
        }
    }
    let field = |kind: u16| fields[usize::from(kind)];
    let num = |kind: u16| -> Result<Option<u32>, DecodeError> {
        field(kind).as_ref().map(be32).transpose()
    };
    let need = |kind: u16| -> Result<u32, DecodeError> {
        num(kind)?.ok_or_else(|| bad(format!("{name} without attribute {kind}")))
    };
    let nested = |kind: u16| field(kind).map(|a| a.data);
    let text = |kind: u16| field(kind).as_ref().map(string);
    Ok(match &*name {
        "payload" => Expr::Payload {
            dreg: num(1)?,
            base: need(2)?,
            offset: need(3)?,
            len: need(4)?,
        },
        "meta" => Expr::Meta {
            key: need(2)?,
            dreg: num(1)?,
            sreg: num(3)?,
        },
        "ct" => Expr::Ct {
            key: need(2)?,
            dreg: num(1)?,
            sreg: num(4)?,
        },
        "cmp" => Expr::Cmp {
            sreg: need(1)?,
            op: need(2)?,
            data: value(required(nested(3), "cmp data")?)?,
        },
        "bitwise" => Expr::Bitwise {
            sreg: need(1)?,
            dreg: need(2)?,
            len: need(3)?,
            op: num(6)?.unwrap_or(0),
            mask: nested(4).map(value).transpose()?.unwrap_or_default(),
            xor: nested(5).map(value).transpose()?.unwrap_or_default(),
        },
        "range" => Expr::Range {
            sreg: need(1)?,
            op: need(2)?,
            from: value(required(nested(3), "range start")?)?,
            to: value(required(nested(4), "range end")?)?,
        },
        "lookup" => Expr::Lookup {
            set: required(text(1), "lookup set")?,
            sreg: need(2)?,
            dreg: num(3)?,
            invert: num(5)?.unwrap_or(0) & 1 != 0,
        },
        "immediate" => Expr::Immediate {
            dreg: need(1)?,
            data: data(required(nested(2), "immediate data")?)?,
        },
        "fib" => Expr::Fib {
            dreg: need(1)?,
            result: need(2)?,
            flags: need(3)?,
        },
        "reject" => Expr::Reject,
        "notrack" => Expr::Notrack,
        // NFTA_NAT_TYPE 1 (NFT_NAT_SNAT 0, NFT_NAT_DNAT 1), _FAMILY 2,
        // _REG_ADDR_MIN 3, _REG_PROTO_MIN 5; NFTA_REDIR_REG_PROTO_MIN 1.
        "nat" => Expr::Nat(Nat {
            kind: if need(1)? == 1 {
                NatKind::Dnat
            } else {
                NatKind::Snat
            },
            family: num(2)?,
            addr_reg: num(3)?,
            port_reg: num(5)?,
        }),
        "redir" | "masq" => Expr::Nat(Nat {
            kind: if name == "redir" {
                NatKind::Redirect
            } else {
                NatKind::Masquerade
            },
            family: None,
            addr_reg: None,
            port_reg: num(1)?,
        }),
        "counter" | "log" | "last" => Expr::Passive,
        "match" | "target" => Expr::Xt {
            target: name == "target",
            name: text(1).unwrap_or_default(),
            revision: num(2)?.unwrap_or(0),
            info: nested(3).unwrap_or_default().to_vec(),
        },
        _ => Expr::Other(name.into_owned()),
    })
}

/// `NFT_MSG_NEWSET`.
pub fn set(family: u8, buf: &[u8]) -> Result<Set, DecodeError> {
    let (mut table, mut name, mut flags, mut key_len, mut data_type) = (None, None, 0, 0, None);
    for a in attrs(buf)? {
        match a.kind {
            1 => table = Some(string(&a)),
            2 => name = Some(string(&a)),
            3 => flags = be32(&a)?,
            5 => key_len = be32(&a)?,
            6 => data_type = Some(be32(&a)?),
            _ => {}
        }
    }
    Ok(Set {
        family: TableFamily::from_raw(family),
        table: required(table, "set table")?,
        name: required(name, "set name")?,
        flags,
        key_len,
        data_type,
        elements: Vec::new(),
    })
}

/// `NFT_MSG_NEWSETELEM`: (table, set, elements).
pub fn set_elements(buf: &[u8]) -> Result<(String, String, Vec<Element>), DecodeError> {
    let (mut table, mut set, mut elements) = (None, None, Vec::new());
    for a in attrs(buf)? {
        match a.kind {
            1 => table = Some(string(&a)),
            2 => set = Some(string(&a)),
            3 => {
                for item in attrs(a.data)? {
                    let mut element = Element {
                        key: Vec::new(),
                        key_end: None,
                        interval_end: false,
                        data: None,
                    };
                    for f in attrs(item.data)? {
                        match f.kind {
                            1 => element.key = value(f.data)?,
                            2 => element.data = Some(data(f.data)?),
                            3 => element.interval_end = be32(&f)? & 1 != 0,
                            10 => element.key_end = Some(value(f.data)?),
                            _ => {}
                        }
                    }
                    elements.push(element);
                }
            }
            _ => {}
        }
    }
    Ok((
        required(table, "element table")?,
        required(set, "element set")?,
        elements,
    ))
}

/// `NFT_MSG_NEWGEN`: the ruleset generation.
pub fn generation(buf: &[u8]) -> Result<u32, DecodeError> {
    for a in attrs(buf)? {
        if a.kind == 1 {
            return be32(&a);
        }
    }
    Err(bad("generation message without an id"))
}
