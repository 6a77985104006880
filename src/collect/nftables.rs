//! A consistent snapshot of a namespace's nftables ruleset over
//! `NETLINK_NETFILTER`, and the kernel settings that change reachability.
//!
//! The generation id is read before and after the dumps; if the ruleset
//! changed in between (or the kernel flags a dump `NLM_F_DUMP_INTR`), the
//! snapshot is taken again, a few times at most. Only `GET` requests are
//! ever sent. Every read is bounded: a ruleset past [`MAX_BYTES`] is not
//! read at all, and reachability says so.

use std::io;

use crate::firewall::decode::{self, DecodeError};
use crate::firewall::ruleset::{Chain, Ruleset, TableFamily};
pub use crate::os::netlink::{Netfilter, Transport};

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const GETCHAIN: u16 = 4;
const NEWCHAIN: u16 = 3;
const GETRULE: u16 = 7;
const NEWRULE: u16 = 6;
const GETSET: u16 = 10;
const NEWSET: u16 = 9;
const GETSETELEM: u16 = 13;
const NEWSETELEM: u16 = 12;
const GETGEN: u16 = 16;
const NEWGEN: u16 = 15;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_DUMP_INTR: u16 = 0x10;

/// Snapshots tried before giving up on a ruleset that keeps changing.
const ATTEMPTS: u32 = 4;
/// The most ruleset bytes read from one namespace (all dumps together).
pub const MAX_BYTES: usize = 64 << 20;
/// The most sets whose elements are dumped.
pub const MAX_SETS: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("netlink I/O failed: {0}")]
    Io(#[from] io::Error),
    #[error("the kernel refused the nf_tables dump: {0}")]
    Kernel(crate::os::Errno),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("the ruleset changed during {0} snapshots in a row")]
    Changing(u32),
    #[error("the ruleset is larger than {} MiB", MAX_BYTES >> 20)]
    TooLarge,
    #[error("a netlink datagram of {0} bytes was larger than the buffer")]
    Truncated(usize),
}

/// The ruleset of the calling thread's namespace.
pub fn snapshot(transport: &mut (impl Transport + Send)) -> Result<Ruleset, SnapshotError> {
    let mut dumper = Dumper {
        transport,
        seq: 0,
        spare: Vec::new(),
        read: 0,
    };
    for _ in 0..ATTEMPTS {
        let before = dumper.generation()?;
        let Some(mut ruleset) = dumper.everything()? else {
            continue;
        };
        if dumper.generation()? == before {
            ruleset.generation = before;
            return Ok(ruleset);
        }
    }
    Err(SnapshotError::Changing(ATTEMPTS))
}

struct Dumper<'t, T: Transport + Send> {
    transport: &'t mut T,
    seq: u32,
    /// Receive buffers the last answer left, for the next.
    spare: Vec<Vec<u8>>,
    read: usize,
}

/// One datagram's room: the kernel fills at most 32 KiB per dump datagram,
/// more only for one message that needs it.
const BUFFER: usize = 256 * 1024;
/// Datagrams received ahead of the decoder.
const IN_FLIGHT: usize = 2;

impl<T: Transport + Send> Dumper<'_, T> {
    fn generation(&mut self) -> Result<u32, SnapshotError> {
        let mut generation = None;
        let whole = self.ask(
            GETGEN,
            NLM_F_REQUEST | NLM_F_ACK,
            0,
            &[],
            |kind, _, attrs| {
                if kind == NEWGEN {
                    generation = Some(decode::generation(attrs)?);
                }
                Ok(())
            },
        )?;
        if !whole {
            return Err(SnapshotError::Changing(1));
        }
        generation.ok_or_else(|| DecodeError("no generation in the reply".into()).into())
    }

    /// Chains, rules and sets with their elements; `None` when a dump was
    /// interrupted by a change. Messages are decoded where they were
    /// received, never copied out first.
    fn everything(&mut self) -> Result<Option<Ruleset>, SnapshotError> {
        let mut ruleset = Ruleset::default();
        let whole = self.dump(GETCHAIN, 0, &[], |kind, family, attrs| {
            if kind == NEWCHAIN {
                ruleset.chains.push(decode::chain(family, attrs)?);
            }
            Ok(())
        })?;
        if !whole {
            return Ok(None);
        }
        // By (family, table, name): a ruleset of thousands of rules in
        // hundreds of chains is not searched chain by chain per rule.
        let index: std::collections::HashMap<(TableFamily, &str, &str), usize> =
            chains_index(&ruleset.chains);
        let mut placed: Vec<(usize, crate::firewall::ruleset::Rule)> = Vec::new();
        let whole = self.dump(GETRULE, 0, &[], |kind, family, attrs| {
            if kind == NEWRULE {
                let r = decode::rule(family, attrs)?;
                if let Some(&i) = index.get(&(r.family, &*r.table, &*r.chain)) {
                    placed.push((i, r.rule));
                }
            }
            Ok(())
        })?;
        drop(index);
        if !whole {
            return Ok(None);
        }
        for (i, rule) in placed {
            ruleset.chains[i].rules.push(rule);
        }
        let mut sets = Vec::new();
        let whole = self.dump(GETSET, 0, &[], |kind, family, attrs| {
            if kind == NEWSET && sets.len() < MAX_SETS {
                sets.push((family, decode::set(family, attrs)?));
            }
            Ok(())
        })?;
        if !whole {
            return Ok(None);
        }
        for (family, mut set) in sets {
            let mut request = Vec::new();
            push_string(&mut request, 1, &set.table);
            push_string(&mut request, 2, &set.name);
            let whole = self.dump(GETSETELEM, family, &request, |kind, _, attrs| {
                if kind == NEWSETELEM {
                    set.elements.extend(decode::set_elements(attrs)?.2);
                }
                Ok(())
            })?;
            if !whole {
                return Ok(None);
            }
            // Once here, not at every lookup (stable: equal keys keep the
            // kernel's order, start before end).
            set.elements.sort_by(|a, b| a.key.cmp(&b.key));
            ruleset.sets.push(set);
        }
        Ok(Some(ruleset))
    }

    fn dump(
        &mut self,
        kind: u16,
        family: u8,
        attrs: &[u8],
        each: impl FnMut(u16, u8, &[u8]) -> Result<(), SnapshotError>,
    ) -> Result<bool, SnapshotError> {
        self.ask(kind, NLM_F_REQUEST | NLM_F_DUMP, family, attrs, each)
    }

    /// Sends one request and hands each nf_tables message of its answer to
    /// `each` (type, family, attributes) in the receive buffer; false if
    /// the kernel flagged the dump interrupted.
    fn ask(
        &mut self,
        kind: u16,
        flags: u16,
        family: u8,
        attrs: &[u8],
        mut each: impl FnMut(u16, u8, &[u8]) -> Result<(), SnapshotError>,
    ) -> Result<bool, SnapshotError> {
        self.seq += 1;
        let seq = self.seq;
        let len = 16 + 4 + attrs.len();
        let mut request = Vec::with_capacity(len);
        request.extend((len as u32).to_ne_bytes());
        request.extend(((NFNL_SUBSYS_NFTABLES << 8) | kind).to_ne_bytes());
        request.extend(flags.to_ne_bytes());
        request.extend(seq.to_ne_bytes());
        request.extend(0u32.to_ne_bytes());
        request.extend([family, 0, 0, 0]);
        request.extend(attrs);
        self.transport.send(&request)?;
        // Rules are most of a large ruleset's bytes: the one answer worth a
        // receiving thread (a thread per set's elements would cost more
        // than it saves).
        if kind != GETRULE {
            let mut buf = self.spare.pop().unwrap_or_else(|| vec![0; BUFFER]);
            let mut interrupted = false;
            let outcome = loop {
                let n = receive(self.transport, &mut buf, &mut self.read)?;
                if let Some(whole) = messages(&buf[..n], seq, &mut interrupted, &mut each)? {
                    break Ok(whole);
                }
            };
            self.spare.push(buf);
            return outcome;
        }
        // The kernel builds a dump's datagrams inside `recv`: received on a
        // thread of their own, they are built while the ones before are
        // decoded here.
        let transport = &mut *self.transport;
        let pool = std::mem::take(&mut self.spare);
        let mut read = self.read;
        let (full_tx, full_rx) = std::sync::mpsc::sync_channel(IN_FLIGHT);
        let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Vec<u8>>();
        for buf in pool {
            let _ = empty_tx.send(buf);
        }
        let (outcome, pool, read) = std::thread::scope(|scope| {
            let receiver = scope.spawn(move || {
                loop {
                    let mut buf = empty_rx.try_recv().unwrap_or_else(|_| vec![0; BUFFER]);
                    let item = receive(transport, &mut buf, &mut read).map(|n| (buf, n));
                    let last = item.as_ref().map_or(true, |(buf, n)| ends(&buf[..*n], seq));
                    if full_tx.send(item).is_err() || last {
                        break;
                    }
                }
                (empty_rx.try_iter().collect::<Vec<_>>(), read)
            });
            let outcome = (|| {
                let mut interrupted = false;
                while let Ok(item) = full_rx.recv() {
                    let (buf, n) = item?;
                    if let Some(whole) = messages(&buf[..n], seq, &mut interrupted, &mut each)? {
                        return Ok(whole);
                    }
                    let _ = empty_tx.send(buf);
                }
                Err(DecodeError("the kernel's answer ended without NLMSG_DONE".into()).into())
            })();
            // Unblocks the receiver if it still has a datagram to hand over.
            drop(full_rx);
            drop(empty_tx);
            let (pool, read) = receiver
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
            (outcome, pool, read)
        });
        self.spare = pool;
        self.read = read;
        outcome
    }
}

/// One datagram into `buf`, its length counted into `read` and bounded.
fn receive(
    transport: &mut impl Transport,
    buf: &mut [u8],
    read: &mut usize,
) -> Result<usize, SnapshotError> {
    let n = transport.recv(buf)?;
    if n > buf.len() {
        return Err(SnapshotError::Truncated(n));
    }
    *read += n;
    if *read > MAX_BYTES {
        return Err(SnapshotError::TooLarge);
    }
    Ok(n)
}

/// One netlink message of a datagram: type, flags, sequence number, body.
struct Frame<'d> {
    kind: u16,
    flags: u16,
    seq: u32,
    body: &'d [u8],
}

/// A datagram's messages in order; a length that does not fit ends it
/// with an error.
fn frames(datagram: &[u8]) -> impl Iterator<Item = Result<Frame<'_>, DecodeError>> {
    let mut offset = 0;
    std::iter::from_fn(move || {
        if offset + 16 > datagram.len() {
            return None;
        }
        let h = &datagram[offset..];
        let msg_len = u32::from_ne_bytes(h[0..4].try_into().unwrap()) as usize;
        if msg_len < 16 || msg_len > h.len() {
            offset = datagram.len();
            return Some(Err(DecodeError(format!(
                "netlink message of length {msg_len}"
            ))));
        }
        offset += msg_len.next_multiple_of(4);
        Some(Ok(Frame {
            kind: u16::from_ne_bytes(h[4..6].try_into().unwrap()),
            flags: u16::from_ne_bytes(h[6..8].try_into().unwrap()),
            seq: u32::from_ne_bytes(h[8..12].try_into().unwrap()),
            body: &h[16..msg_len],
        }))
    })
}

/// Whether a datagram holds the end of the answer to `seq` (or cannot be
/// read on: the decoder says why).
fn ends(datagram: &[u8], seq: u32) -> bool {
    frames(datagram).any(|frame| {
        frame.map_or(true, |f| {
            f.seq == seq && matches!(f.kind, NLMSG_DONE | NLMSG_ERROR)
        })
    })
}

/// Hands each nf_tables message of a datagram answering `seq` to `each`;
/// `Some(whole)` once the answer ended (`whole`: not interrupted).
fn messages(
    datagram: &[u8],
    seq: u32,
    interrupted: &mut bool,
    each: &mut impl FnMut(u16, u8, &[u8]) -> Result<(), SnapshotError>,
) -> Result<Option<bool>, SnapshotError> {
    for frame in frames(datagram) {
        let Frame {
            kind,
            flags,
            seq: msg_seq,
            body,
        } = frame?;
        if msg_seq != seq {
            continue;
        }
        *interrupted |= flags & NLM_F_DUMP_INTR != 0;
        match kind {
            NLMSG_DONE => return Ok(Some(!*interrupted)),
            NLMSG_ERROR => {
                let code = body
                    .get(0..4)
                    .map(|b| i32::from_ne_bytes(b.try_into().unwrap()))
                    .unwrap_or(-1);
                if code == 0 {
                    return Ok(Some(!*interrupted));
                }
                let errno = code.checked_neg().unwrap_or(i32::MAX);
                return Err(SnapshotError::Kernel(crate::os::Errno::from_raw(errno)));
            }
            t if t >> 8 == NFNL_SUBSYS_NFTABLES && body.len() >= 4 => {
                each(t & 0xff, body[0], &body[4..])?
            }
            _ => {}
        }
    }
    Ok(None)
}

fn chains_index(chains: &[Chain]) -> std::collections::HashMap<(TableFamily, &str, &str), usize> {
    chains
        .iter()
        .enumerate()
        .map(|(i, c)| ((c.family, c.table.as_str(), c.name.as_str()), i))
        .collect()
}

fn push_string(buf: &mut Vec<u8>, kind: u16, value: &str) {
    let len = 4 + value.len() + 1;
    buf.extend((len as u16).to_ne_bytes());
    buf.extend(kind.to_ne_bytes());
    buf.extend(value.as_bytes());
    buf.push(0);
    buf.resize(buf.len().next_multiple_of(4), 0);
}

/// Whether nf_tables can be asked without loading it: nfnetlink loads a
/// missing subsystem's module on the first request, and portcullis never
/// changes the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    /// Loaded, built in, or the kernel has no modules to load.
    Askable,
    /// A module the kernel has not loaded: no namespace has a ruleset.
    NotLoaded,
    Unknowable(String),
}

pub fn presence() -> Presence {
    use crate::os::fs::{FileError, read_text};
    use std::path::Path;
    let modules = match read_text(Path::new("/proc/modules"), 4 << 20) {
        Ok(text) => text,
        // No module support: nothing can be loaded.
        Err(FileError::Io(e)) if e.kind() == io::ErrorKind::NotFound => return Presence::Askable,
        Err(e) => return Presence::Unknowable(format!("/proc/modules: {e}")),
    };
    if modules.lines().any(|l| l.starts_with("nf_tables ")) {
        return Presence::Askable;
    }
    let release = crate::os::host::uname().release;
    for root in ["/proc/1/root", ""] {
        let path = format!("{root}/lib/modules/{release}/modules.builtin");
        if let Ok(text) = read_text(Path::new(&path), 4 << 20) {
            return if text.lines().any(|l| l.ends_with("/nf_tables.ko")) {
                Presence::Askable
            } else {
                Presence::NotLoaded
            };
        }
    }
    Presence::Unknowable(format!(
        "nf_tables is not a loaded module, and no modules.builtin for {release} says whether it is built in (asking would load it)"
    ))
}

/// Legacy iptables (false) and ip6tables (true) tables loaded in the
/// calling thread's namespace.
pub fn legacy_tables() -> Vec<(bool, String)> {
    let mut tables = Vec::new();
    for (file, v6) in [("ip_tables_names", false), ("ip6_tables_names", true)] {
        let path = format!("/proc/thread-self/net/{file}");
        if let Ok(text) = crate::os::fs::read_text(std::path::Path::new(&path), 64 << 10) {
            tables.extend(text.split_whitespace().map(|t| (v6, t.to_owned())));
        }
    }
    tables
}

/// Interfaces of the calling thread's namespace with `route_localnet` on
/// (the `all` switch turns it on for every one).
pub fn route_localnet(
    interfaces: &[crate::model::Interface],
) -> std::collections::BTreeSet<String> {
    let all = conf_on("ipv4", "all", "route_localnet");
    interfaces_where(interfaces, |name| {
        all || conf_on("ipv4", name, "route_localnet")
    })
}

/// Interfaces of the calling thread's namespace that forward the packets
/// they receive: IPv4 (`net.ipv4.conf.IFACE.forwarding`, which
/// `ip_forward` sets for all) and IPv6 (`net.ipv6.conf.IFACE.forwarding`).
pub fn forwarding(
    interfaces: &[crate::model::Interface],
) -> [std::collections::BTreeSet<String>; 2] {
    ["ipv4", "ipv6"]
        .map(|family| interfaces_where(interfaces, |name| conf_on(family, name, "forwarding")))
}

/// Whether `net.FAMILY.conf.IFACE.KEY` is 1, in the calling thread's
/// namespace.
fn conf_on(family: &str, iface: &str, key: &str) -> bool {
    conf_value(family, iface, key) == Some(1)
}

/// `net.FAMILY.conf.IFACE.KEY` as a number, in the calling thread's
/// namespace; `None` where it cannot be read.
pub fn conf_value(family: &str, iface: &str, key: &str) -> Option<u32> {
    let path = format!("/proc/sys/net/{family}/conf/{iface}/{key}");
    crate::os::fs::read_text(std::path::Path::new(&path), 64)
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn interfaces_where(
    interfaces: &[crate::model::Interface],
    on: impl Fn(&str) -> bool,
) -> std::collections::BTreeSet<String> {
    interfaces
        .iter()
        .filter(|i| on(&i.name))
        .map(|i| i.name.clone())
        .collect()
}
