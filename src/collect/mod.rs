//! Collection: the only part of portcullis that touches the operating system
//! (`/proc`, nsfs, `setns`, netlink). Everything it learns ends up in a
//! [`model::Inventory`](crate::model::Inventory); everything downstream
//! (filters, reports, rules) works on that value and can be tested on
//! fixtures.
//!
//! Order of work: one walk of `/proc` (namespaces, descriptors) → merge the
//! namespace sources → per namespace, on its own thread, `setns` and dump
//! sockets and interfaces → attach holders from the walk → classify.
//! Nothing here aborts the scan for one bad process or namespace: failures
//! become [`Gap`]s, and things that vanish mid-scan are simply gone.

mod cgroup;
mod discover;
mod enter;
mod holders;
mod hostinfo;
mod ifaces;
mod mounts;
mod procwalk;
mod select;
mod sockdiag;
mod socket_units;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::model::{
    Family, Gap, GapKind, Holder, Interface, Inventory, Listener, Netns, NetnsHints, NetnsId,
    Protocol, SCHEMA_VERSION, scope,
};

use discover::{Candidate, Discovery};
use procwalk::ProcWalk;
pub use select::{SelectError, Selector};
use sockdiag::{DumpError, RawSocket};

/// What to collect.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Empty: every namespace.
    pub selectors: Vec<Selector>,
}

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error(transparent)]
    Select(#[from] SelectError),
    #[error("cannot list processes in /proc: {0}")]
    Proc(nix::errno::Errno),
}

/// Namespaces examined at once. Each is I/O-light kernel work; more threads
/// than cores buys nothing.
fn parallelism() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(4)
}

pub fn collect(request: &Request) -> Result<Inventory, CollectError> {
    let walk = procwalk::walk(parallelism()).map_err(CollectError::Proc)?;
    let mut discovery = discover::discover(&walk);
    let selected = select::resolve(&request.selectors, &mut discovery)?;
    let ids: Vec<NetnsId> = match selected {
        Some(ids) => ids,
        None => discovery.candidates.keys().copied().collect(),
    };
    if !request.selectors.is_empty() {
        // The user named the namespaces: failing to discover others is no gap.
        discovery.gaps.retain(|g| {
            !matches!(
                g.kind,
                GapKind::ProcessNamespaceUnreadable | GapKind::MountsUnreadable
            )
        });
    }
    let scans = scan_all(&ids, &discovery);
    let mut inventory = assemble(walk, discovery, ids, scans);
    if !request.selectors.is_empty() && inventory.listeners.iter().all(|l| !l.owner_unknown) {
        // Unreadable descriptor tables can only have hidden owners, and every
        // listener in the chosen namespaces has one.
        inventory
            .gaps
            .retain(|g| g.kind != GapKind::ProcessFdsUnreadable);
    }
    Ok(inventory)
}

/// What one namespace showed from inside.
struct NetnsScan {
    sockets: Vec<RawSocket>,
    interfaces: Vec<Interface>,
    gaps: Vec<Gap>,
}

/// Scans namespaces in parallel; `None` for one that vanished.
fn scan_all(ids: &[NetnsId], discovery: &Discovery) -> Vec<Option<NetnsScan>> {
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<NetnsScan>>> = ids.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..parallelism().min(ids.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&id) = ids.get(i) else { break };
                    let scan = scan_one(id, &discovery.candidates[&id], discovery.own);
                    *results[i].lock().unwrap_or_else(|e| e.into_inner()) = scan;
                }
            });
        }
    });
    results
        .into_iter()
        .map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
        .collect()
}

fn scan_one(id: NetnsId, candidate: &Candidate, own: Option<NetnsId>) -> Option<NetnsScan> {
    let gap = |kind, detail: String| Gap {
        kind,
        netns: Some(id.inode),
        pids: vec![],
        detail,
    };
    let handle = match enter::open_netns(id, &candidate.open_paths, own) {
        Ok(handle) => handle,
        Err(enter::OpenFailure::Vanished) => return None,
        Err(failure) => {
            let detail = match failure {
                enter::OpenFailure::Denied { path, errno } => {
                    format!("cannot open {}: {}", path.display(), errno.desc())
                }
                enter::OpenFailure::Covered { path } => format!(
                    "{} no longer leads to it (another file or mount covers it), and no other way in is left",
                    path.display()
                ),
                enter::OpenFailure::Vanished => unreachable!("matched above"),
            };
            return Some(NetnsScan {
                sockets: vec![],
                interfaces: vec![],
                gaps: vec![gap(GapKind::NetnsNotEnterable, detail)],
            });
        }
    };
    let inside = enter::run_inside(&handle, || {
        let mut scan = NetnsScan {
            sockets: vec![],
            interfaces: vec![],
            gaps: vec![],
        };
        match ifaces::read() {
            Ok(list) => scan.interfaces = list,
            Err(e) => scan.gaps.push(gap(
                GapKind::InterfacesUnreadable,
                format!("getifaddrs: {}", e.desc()),
            )),
        }
        let mut transport = match sockdiag::NetlinkTransport::open() {
            Ok(t) => t,
            Err(e) => {
                scan.gaps.push(gap(
                    GapKind::SocketDumpFailed,
                    format!("cannot open a sock_diag socket: {e}"),
                ));
                return scan;
            }
        };
        let mut seq = 0;
        for protocol in [Protocol::Tcp, Protocol::Udp] {
            for family in [Family::Ipv4, Family::Ipv6] {
                match sockdiag::dump(&mut transport, protocol, family, &mut seq) {
                    Ok(sockets) => scan.sockets.extend(sockets),
                    Err(e @ DumpError::Unsupported { .. }) => scan
                        .gaps
                        .push(gap(GapKind::ProtocolUnsupported, e.to_string())),
                    Err(e) => scan
                        .gaps
                        .push(gap(GapKind::SocketDumpFailed, e.to_string())),
                }
            }
        }
        scan
    });
    Some(inside.unwrap_or_else(|e| NetnsScan {
        sockets: vec![],
        interfaces: vec![],
        gaps: vec![gap(
            GapKind::NetnsNotEnterable,
            match e {
                enter::EnterError::Setns(errno @ nix::errno::Errno::EPERM) => {
                    format!("setns: {} (needs CAP_SYS_ADMIN)", errno.desc())
                }
                enter::EnterError::Setns(errno) => format!("setns: {}", errno.desc()),
                enter::EnterError::Panicked => {
                    "examining it failed inside portcullis (a bug: please report it)".into()
                }
            },
        )],
    }))
}

fn assemble(
    walk: ProcWalk,
    mut discovery: Discovery,
    ids: Vec<NetnsId>,
    scans: Vec<Option<NetnsScan>>,
) -> Inventory {
    let mut attribution = Attribution::new(&walk);
    let mut namespaces = Vec::new();
    let mut listeners = Vec::new();
    let mut gaps = std::mem::take(&mut discovery.gaps);
    for (id, scan) in ids.into_iter().zip(scans) {
        let Some(scan) = scan else { continue };
        let candidate = discovery.candidates.remove(&id).unwrap_or_default();
        let host = discovery.host == Some(id);
        let names_by_index: BTreeMap<u32, &str> = scan
            .interfaces
            .iter()
            .map(|i| (i.index, i.name.as_str()))
            .collect();
        for raw in &scan.sockets {
            listeners.push(attribution.listener(id, raw, &names_by_index, &scan.interfaces));
        }
        gaps.extend(scan.gaps);
        namespaces.push(netns_record(id, candidate, host, scan.interfaces));
    }
    namespaces.sort_by_key(|ns| (!ns.host, ns.names.is_empty(), ns.names.clone(), ns.inode));
    let order: BTreeMap<u64, usize> = namespaces
        .iter()
        .enumerate()
        .map(|(i, ns)| (ns.inode, i))
        .collect();
    listeners.sort_by(|a, b| {
        (
            order.get(&a.netns),
            a.protocol,
            a.family,
            a.port,
            &a.address,
            a.inode,
        )
            .cmp(&(
                order.get(&b.netns),
                b.protocol,
                b.family,
                b.port,
                &b.address,
                b.inode,
            ))
    });
    Inventory {
        schema_version: SCHEMA_VERSION,
        host: hostinfo::read(),
        namespaces,
        listeners,
        gaps,
    }
}

fn netns_record(id: NetnsId, c: Candidate, host: bool, interfaces: Vec<Interface>) -> Netns {
    let hints = if host {
        NetnsHints::default()
    } else {
        hints_for(&c.pids)
    };
    let mut names: Vec<String> = c.ip_names.into_iter().collect();
    names.extend(c.paths);
    Netns {
        inode: id.inode,
        dev: id.dev,
        names,
        host,
        sources: c.sources.into_iter().collect(),
        pids: c.pids,
        tids: c.tids,
        hints,
        interfaces,
    }
}

/// Units and containers of the first processes living in a namespace.
fn hints_for(pids: &[i32]) -> NetnsHints {
    let mut hints = NetnsHints::default();
    for pid in pids.iter().take(16) {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
            continue;
        };
        let Some(path) = cgroup::systemd_path(&text) else {
            continue;
        };
        for (value, list) in [
            (cgroup::unit(path), &mut hints.units),
            (cgroup::container(path), &mut hints.containers),
        ] {
            if let Some(v) = value.filter(|v| !list.contains(v)) {
                list.push(v);
            }
        }
    }
    hints
}

/// Turns raw sockets into listeners with their holders.
struct Attribution<'w> {
    walk: &'w ProcWalk,
    processes: holders::ProcessCache,
    socket_units: Option<socket_units::SocketUnits>,
}

impl<'w> Attribution<'w> {
    fn new(walk: &'w ProcWalk) -> Self {
        Attribution {
            walk,
            processes: holders::ProcessCache::default(),
            socket_units: None,
        }
    }

    fn listener(
        &mut self,
        id: NetnsId,
        raw: &RawSocket,
        names: &BTreeMap<u32, &str>,
        ifaces: &[Interface],
    ) -> Listener {
        let dual_stack = raw.addr == IpAddr::V6(Ipv6Addr::UNSPECIFIED) && raw.v6only != Some(true);
        let interface = (raw.ifindex != 0).then(|| {
            names
                .get(&raw.ifindex)
                .map_or_else(|| format!("if{}", raw.ifindex), |n| (*n).to_owned())
        });
        let processes = self.holders(raw);
        let owner_unknown = processes.is_empty();
        Listener {
            netns: id.inode,
            protocol: raw.protocol,
            family: raw.family,
            address: if dual_stack {
                "*".to_owned()
            } else {
                raw.addr.to_string()
            },
            port: raw.port,
            interface,
            v6only: raw.v6only,
            scope: scope::classify(raw.addr, raw.v6only),
            interface_scoped: raw.ifindex != 0,
            address_interfaces: carriers(raw.addr, ifaces),
            inode: raw.inode,
            uid: raw.uid,
            owner_unknown_reason: owner_unknown.then(|| self.unknown_reason(raw.inode)),
            owner_unknown,
            processes,
        }
    }

    fn holders(&mut self, raw: &RawSocket) -> Vec<Holder> {
        let refs: Vec<procwalk::FdRef> = self.walk.holders_of(raw.inode).collect();
        let mut out = Vec::with_capacity(refs.len());
        for r in &refs {
            let Some(mut process) = self.processes.get(r.pid).cloned() else {
                continue;
            };
            if r.pid == 1 && process.comm.as_bytes() == b"systemd" {
                let units = self
                    .socket_units
                    .get_or_insert_with(|| socket_units::SocketUnits::load("/".as_ref()));
                if let Some((name, file)) = units.find(raw.protocol, raw.addr, raw.port) {
                    process.unit = Some(name.to_owned());
                    process.unit_file = Some(file.to_owned());
                }
            }
            out.push(Holder {
                pid: r.pid,
                fd: r.fd,
                process,
            });
        }
        out
    }

    fn unknown_reason(&self, inode: u64) -> String {
        if self.walk.holders_of(inode).next().is_some() {
            "every process holding it exited during the scan".into()
        } else if !self.walk.fds_unreadable.is_empty() {
            format!(
                "not found among readable descriptors; the descriptors of {} could not be read",
                discover::processes(self.walk.fds_unreadable.len())
            )
        } else {
            "no process holds a descriptor to it (a kernel socket, or one opened after the process walk)".into()
        }
    }
}

/// Interfaces that carry a specific address (none for wildcards).
fn carriers(addr: IpAddr, ifaces: &[Interface]) -> Vec<String> {
    let addr = match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    };
    if addr.is_unspecified() {
        return vec![];
    }
    ifaces
        .iter()
        .filter(|i| i.addresses.contains(&addr))
        .map(|i| i.name.clone())
        .collect()
}
