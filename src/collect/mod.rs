//! Collection: what the host shows, through the OS seam ([`crate::os`]:
//! `/proc`, nsfs, `setns`, netlink). Everything it learns ends up in a
//! [`model::Inventory`](crate::model::Inventory); everything downstream
//! (filters, reports, rules) works on that value. The walk, discovery and
//! attribution take their `/proc` as a [`ProcRoot`], so they are tested on
//! recorded hosts too (`fixtures.rs`).
//!
//! Order of work: one walk of `/proc` (namespaces, descriptors) → merge the
//! namespace sources → per namespace, on its own thread, `setns` and dump
//! sockets and interfaces → attach holders from the walk → classify.
//! Nothing here aborts the scan for one bad process or namespace: failures
//! become [`Gap`]s, and things that vanish mid-scan are simply gone.

mod cgroup;
mod discover;
mod enter;
#[cfg(test)]
mod fixtures;
mod holders;
mod hostinfo;
mod ifaces;
mod mounts;
mod nftables;
mod prefetch;
mod procwalk;
mod published;
mod routes;
mod runtimes;
mod select;
mod sockdiag;
mod socket_units;
mod sockns;
mod unseen;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::model::{
    Family, Gap, GapKind, Holder, Interface, Inventory, Listener, Netns, NetnsHints, NetnsId,
    Protocol, SCHEMA_VERSION, scope,
};

use crate::os::proc::ProcRoot;
use discover::{Candidate, Discovery};
pub use prefetch::Prefetch;
use procwalk::ProcWalk;
pub use select::{SelectError, Selector};
use sockdiag::{DumpError, RawSocket};

/// The netlink dump parser on recorded datagrams, for the fuzz target
/// (`ci/fuzz`): any bytes must give sockets or an error, never a panic or a
/// hang. Requests are answered from the input, with sequence numbers 1, 2, ….
#[doc(hidden)]
pub fn fuzz_sock_diag(input: &[u8]) -> usize {
    let mut replay = sockdiag::Replay::new(input);
    let mut seq = 0;
    let mut others = Vec::new();
    let listeners = sockdiag::dump_with_others(
        &mut replay,
        Protocol::Tcp,
        Family::Ipv4,
        &mut seq,
        &mut others,
    )
    .map_or(0, |s| s.len());
    listeners + others.len() + sockdiag::unix_inodes(&mut replay, &mut seq).len()
}

/// What to collect.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Empty: every namespace.
    pub selectors: Vec<Selector>,
    /// Confined to our own PID namespace on purpose: not a gap.
    pub own_pid_namespace: bool,
    /// The longest one scan may take; past it, a `scan_deadline` gap.
    pub deadline: Option<std::time::Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error(transparent)]
    Select(#[from] SelectError),
    #[error("cannot list processes in /proc: {0}")]
    Proc(crate::os::Errno),
    #[error("cannot start the scan: {0}")]
    Thread(std::io::Error),
}

/// Namespaces examined at once. Each is I/O-light kernel work; more threads
/// than cores buys nothing.
fn parallelism() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(4)
}

/// Collects, within the request's deadline. A scan that outlives it (a
/// kernel read a hostile process keeps blocked, say) is abandoned: its
/// thread is left behind, and the inventory is empty but for a gap saying
/// so, never a clean one.
pub fn collect(request: &Request) -> Result<Inventory, CollectError> {
    collect_after(request, None)
}

/// [`collect`], with the firewall reads `early` began (see [`Prefetch`]):
/// a caller that has other work before the scan starts them first.
pub fn collect_after(
    request: &Request,
    early: Option<Prefetch>,
) -> Result<Inventory, CollectError> {
    let Some(deadline) = request.deadline else {
        return collect_now(request, early);
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let owned = request.clone();
    std::thread::Builder::new()
        .name("scan".into())
        .spawn(move || {
            let _ = tx.send(collect_now(&owned, early));
        })
        .map_err(CollectError::Thread)?;
    match rx.recv_timeout(deadline) {
        Ok(result) => result,
        Err(_) => Ok(Inventory {
            schema_version: SCHEMA_VERSION,
            host: hostinfo::read(),
            namespaces: vec![],
            listeners: vec![],
            containers: vec![],
            published: vec![],
            gaps: vec![Gap {
                kind: GapKind::ScanDeadline,
                netns: None,
                pids: vec![],
                detail: format!(
                    "the scan did not finish within {} (--scan-timeout): something it read kept it waiting, so nothing it saw is reported",
                    humantime::format_duration(deadline)
                ),
            }],
            only_selected: !request.selectors.is_empty(),
        }),
    }
}

/// The host as collection sees it: its `/proc`, and its root filesystem
/// (for unit files). The live host, or a fixture tree in tests.
pub(crate) struct Host {
    pub proc: ProcRoot,
    pub fs: std::path::PathBuf,
}

impl Host {
    fn live() -> Result<Host, CollectError> {
        Ok(Host {
            proc: ProcRoot::live().map_err(CollectError::Proc)?,
            fs: "/".into(),
        })
    }
}

fn collect_now(request: &Request, early: Option<Prefetch>) -> Result<Inventory, CollectError> {
    // Begun before the walk of `/proc`, which they run beside.
    let early = early.unwrap_or_else(|| Prefetch::start(request));
    let host = Host::live()?;
    let walk = procwalk::walk(&host.proc, parallelism()).map_err(CollectError::Proc)?;
    let mut discovery = discover::discover(&host.proc, &walk);
    let selected = select::resolve(&request.selectors, &mut discovery, &mut |d| {
        containers_by_netns(&host.proc, d)
    })?;
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
    let everything = request.selectors.is_empty();
    if everything && !request.own_pid_namespace {
        discovery.gaps.extend(hostinfo::confinement(&host.proc));
    }
    let mut ids = ids;
    let mut scans = scan_all(&ids, &discovery, everything, &early);
    // Descriptors of namespaces found through their sockets: open until the
    // inventory is assembled, so the paths to them stay valid.
    let mut pins = Vec::new();
    if everything {
        find_socket_only_namespaces(
            &early,
            &host.proc,
            &walk,
            &mut discovery,
            &mut ids,
            &mut scans,
            &mut pins,
        );
    }
    let mut inventory = assemble(
        &host,
        walk,
        discovery,
        ids,
        scans,
        request.own_pid_namespace,
    );
    inventory.only_selected = !request.selectors.is_empty();
    drop(pins);
    if !request.selectors.is_empty() && inventory.listeners.iter().all(|l| !l.owner_unknown()) {
        // Unreadable descriptor tables can only have hidden owners, and every
        // listener in the chosen namespaces has one.
        inventory
            .gaps
            .retain(|g| g.kind != GapKind::ProcessFdsUnreadable);
    }
    Ok(inventory)
}

/// Rounds of asking unseen sockets for their namespace: a namespace found
/// that way can hold sockets of yet another one's, but not endlessly.
const SOCKET_ROUNDS: usize = 4;

/// Finds namespaces that only sockets keep alive (see `sockns`): every
/// socket descriptor in `/proc` whose socket no scanned namespace's dump
/// listed is asked for its namespace, and new ones are scanned too.
fn find_socket_only_namespaces(
    early: &Prefetch,
    root: &ProcRoot,
    walk: &ProcWalk,
    discovery: &mut Discovery,
    ids: &mut Vec<NetnsId>,
    scans: &mut Vec<Option<NetnsScan>>,
    pins: &mut Vec<std::os::fd::OwnedFd>,
) {
    use std::os::fd::AsRawFd;
    let mut seen: std::collections::HashSet<u64> = std::collections::HashSet::new();
    let mut asked: std::collections::HashSet<u64> = std::collections::HashSet::new();
    let mut from = 0;
    for _ in 0..SOCKET_ROUNDS {
        for scan in scans[from..].iter().flatten() {
            seen.extend(scan.sockets.iter().map(|s| s.inode));
            seen.extend(scan.others.iter().copied());
        }
        from = scans.len();
        let mut unseen = Vec::new();
        for &(inode, r) in &walk.socket_refs {
            if !seen.contains(&inode) && asked.insert(inode) {
                unseen.push((inode, r));
            }
        }
        if unseen.is_empty() {
            return;
        }
        let probe = sockns::probe(&unseen, &|id| discovery.candidates.contains_key(&id));
        discovery.gaps.extend(discover::process_gaps(
            discover::effective_capabilities(root),
            &probe.failed,
            GapKind::SocketNamespaceUnknown,
            "sockets no scanned namespace holds could not be asked for theirs: namespaces only sockets keep alive may be missing",
        ));
        if probe.found.is_empty() {
            return;
        }
        let mut found = Vec::new();
        for (id, fd) in probe.found {
            let c = discovery.candidates.entry(id).or_default();
            c.sources.insert(crate::model::NetnsSource::Socket);
            c.open_paths
                .push(root.path(&format!("self/fd/{}", fd.as_raw_fd())));
            pins.push(fd);
            found.push(id);
        }
        scans.extend(scan_all(&found, discovery, true, early));
        ids.extend(found);
    }
}

/// What one namespace showed from inside.
struct NetnsScan {
    sockets: Vec<RawSocket>,
    /// Inodes of its other sockets (non-listening UDP, unix), when asked.
    others: Vec<u64>,
    interfaces: Vec<Interface>,
    firewall: crate::firewall::reach::NetnsFirewall,
    gaps: Vec<Gap>,
}

/// Scans namespaces in parallel; `None` for one that vanished. `others`:
/// also list the inodes of their other sockets.
fn scan_all(
    ids: &[NetnsId],
    discovery: &Discovery,
    others: bool,
    early: &Prefetch,
) -> Vec<Option<NetnsScan>> {
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<NetnsScan>>> = ids.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..parallelism().min(ids.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&id) = ids.get(i) else { break };
                    let scan =
                        scan_one(id, &discovery.candidates[&id], discovery.own, others, early);
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

fn scan_one(
    id: NetnsId,
    candidate: &Candidate,
    own: Option<NetnsId>,
    others: bool,
    early: &Prefetch,
) -> Option<NetnsScan> {
    let gap = |kind, detail: String| Gap {
        kind,
        netns: Some(id),
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
                others: vec![],
                interfaces: vec![],
                firewall: Default::default(),
                gaps: vec![gap(GapKind::NetnsNotEnterable, detail)],
            });
        }
    };
    let early = early.take(id);
    let inside = enter::run_inside(&handle, || {
        // The kernel's dump of a large ruleset takes milliseconds: it runs
        // beside the socket dumps (a thread created here is in this
        // namespace too), if it did not start before the scan.
        std::thread::scope(|scope| {
            let read = early.ok_or_else(|| scope.spawn(read_ruleset));
            let (mut scan, subnets) = sockets_inside(id, others);
            let (ruleset, unreadable) = match read {
                Ok(pending) => pending.wait().unwrap_or_else(read_ruleset),
                Err(thread) => thread.join().unwrap_or_else(|_| {
                    let why =
                        "reading the firewall failed inside portcullis (a bug: please report it)";
                    (Err(why.to_owned()), Some(why.to_owned()))
                }),
            };
            scan.firewall = firewall_of(ruleset, &scan.interfaces, subnets);
            if let Some(why) = unreadable {
                scan.gaps.push(gap(GapKind::FirewallUnreadable, why));
            }
            scan
        })
    });
    Some(inside.unwrap_or_else(|e| NetnsScan {
        sockets: vec![],
        others: vec![],
        interfaces: vec![],
        firewall: Default::default(),
        gaps: vec![gap(
            GapKind::NetnsNotEnterable,
            match e {
                enter::EnterError::Setns(errno @ crate::os::Errno::EPERM) => {
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

/// The calling thread's namespace's interfaces and sockets (and the
/// inodes of its other sockets when `others`), with what could not be
/// read as gaps, and the interfaces' subnets; its firewall is the caller's.
fn sockets_inside(id: NetnsId, others: bool) -> (NetnsScan, Vec<crate::firewall::reach::Subnet>) {
    let gap = |kind, detail: String| Gap {
        kind,
        netns: Some(id),
        pids: vec![],
        detail,
    };
    let mut scan = NetnsScan {
        sockets: vec![],
        others: vec![],
        interfaces: vec![],
        firewall: Default::default(),
        gaps: vec![],
    };
    let mut subnets = vec![];
    match ifaces::read() {
        Ok((list, nets)) => (scan.interfaces, subnets) = (list, nets),
        Err(e) => scan.gaps.push(gap(
            GapKind::InterfacesUnreadable,
            format!("getifaddrs: {}", e.desc()),
        )),
    }
    let filters = crate::os::netlink::Route::route()
        .map_err(unseen::UnseenError::from)
        .and_then(|mut route| unseen::attached(&mut route));
    match filters {
        Ok(found) if found.is_empty() => {}
        Ok(found) => scan.gaps.push(gap(
            GapKind::UnevaluatedFilter,
            format!(
                "{} not evaluated: what they drop or redirect is not in reachability",
                found.join(", ")
            ),
        )),
        Err(e) => scan.gaps.push(gap(
            GapKind::UnevaluatedFilter,
            format!("whether XDP programs or tc ingress filters are attached: {e}"),
        )),
    }
    let mut transport = match sockdiag::NetlinkTransport::sock_diag() {
        Ok(t) => t,
        Err(e) => {
            scan.gaps.push(gap(
                GapKind::SocketDumpFailed,
                format!("cannot open a sock_diag socket: {e}"),
            ));
            return (scan, subnets);
        }
    };
    let mut seq = 0;
    for protocol in [Protocol::Tcp, Protocol::Udp] {
        for family in [Family::Ipv4, Family::Ipv6] {
            // UDP's table is walked whole whatever the states asked,
            // so its other sockets come free; TCP's established table
            // is walked only when non-listening states are asked, at a
            // cost per namespace that grows with the table's size, so
            // TCP connections are left to `sockns` (a few on most hosts).
            let dumped = if others && protocol == Protocol::Udp {
                sockdiag::dump_with_others(
                    &mut transport,
                    protocol,
                    family,
                    &mut seq,
                    &mut scan.others,
                )
            } else {
                sockdiag::dump(&mut transport, protocol, family, &mut seq)
            };
            match dumped {
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
    if others {
        let unix = sockdiag::unix_inodes(&mut transport, &mut seq);
        scan.others.extend(unix);
    }
    (scan, subnets)
}

/// The firewall rules of the calling thread's namespace, and why they
/// could not be read when that is a gap. nf_tables is asked only when that cannot
/// load it (see [`nftables::presence`]), decided once per scan.
///
/// Without CAP_NET_ADMIN nf_tables refuses even a read (a container given
/// only the capabilities to see processes): reachability is then
/// `unknown` with that reason and the rules that need it skip, but the
/// inventory is whole, so it is no gap.
fn read_ruleset() -> (Result<crate::firewall::Ruleset, String>, Option<String>) {
    use crate::os::Errno;
    static PRESENCE: std::sync::OnceLock<nftables::Presence> = std::sync::OnceLock::new();
    const NEEDS_NET_ADMIN: &str =
        "reading nftables needs CAP_NET_ADMIN, which portcullis was not given";
    let empty = crate::firewall::Ruleset::default;
    let (ruleset, gap) = match PRESENCE.get_or_init(nftables::presence) {
        nftables::Presence::NotLoaded => (Ok(empty()), None),
        nftables::Presence::Unknowable(why) => (Err(why.clone()), Some(why.clone())),
        nftables::Presence::Askable => match nftables::Netfilter::netfilter() {
            Ok(mut socket) => match nftables::snapshot(&mut socket) {
                Ok(ruleset) => (Ok(ruleset), None),
                // A kernel without nf_tables: no ruleset to have.
                Err(nftables::SnapshotError::Kernel(Errno::ENOENT | Errno::EOPNOTSUPP)) => {
                    (Ok(empty()), None)
                }
                Err(nftables::SnapshotError::Kernel(Errno::EPERM)) => {
                    (Err(NEEDS_NET_ADMIN.into()), None)
                }
                Err(e) => {
                    let why = format!("nftables: {e}");
                    (Err(why.clone()), Some(why))
                }
            },
            Err(e) if e.raw_os_error() == Some(Errno::EPROTONOSUPPORT as i32) => {
                (Ok(empty()), None)
            }
            Err(e) if e.raw_os_error() == Some(Errno::EPERM as i32) => {
                (Err(NEEDS_NET_ADMIN.into()), None)
            }
            Err(e) => {
                let why = format!("cannot open a NETLINK_NETFILTER socket: {e}");
                (Err(why.clone()), Some(why))
            }
        },
    };
    let (ruleset, legacy_gap) = with_legacy(ruleset);
    (ruleset, gap.or(legacy_gap))
}

/// The namespace's firewall: `ruleset` as [`read_ruleset`] gave it, the
/// sysctls of its `interfaces` that change reachability, and their
/// `subnets`.
fn firewall_of(
    ruleset: Result<crate::firewall::Ruleset, String>,
    interfaces: &[Interface],
    subnets: Vec<crate::firewall::reach::Subnet>,
) -> crate::firewall::reach::NetnsFirewall {
    let [forwarding, forwarding6] = nftables::forwarding(interfaces);
    crate::firewall::reach::NetnsFirewall {
        ruleset: Some(ruleset),
        route_localnet: nftables::route_localnet(interfaces),
        forwarding,
        forwarding6,
        subnets,
        reverse_path: routes::reverse_path(interfaces),
    }
}

/// Adds the loaded legacy iptables and ip6tables tables (`getsockopt`,
/// read-only) to the nftables ruleset; returns a gap when one could not be
/// read for another reason than a missing CAP_NET_ADMIN.
fn with_legacy(
    mut ruleset: Result<crate::firewall::Ruleset, String>,
) -> (Result<crate::firewall::Ruleset, String>, Option<String>) {
    const MAX_TABLE: usize = 64 << 20;
    let mut gap = None;
    for (v6, name) in nftables::legacy_tables() {
        let Ok(rs) = ruleset.as_mut() else { continue };
        let read = crate::os::net::iptables_table(v6, &name, MAX_TABLE);
        let chains = read
            .map_err(|e| (e.raw_os_error(), e.to_string()))
            .and_then(|t| {
                crate::firewall::legacy::chains(
                    v6,
                    &name,
                    t.valid_hooks,
                    t.hook_entry,
                    t.underflow,
                    &t.entries,
                )
                .map_err(|e| (None, e.to_string()))
            });
        match chains {
            Ok(chains) => rs.chains.extend(chains),
            Err((Some(errno), _)) if errno == crate::os::Errno::EPERM as i32 => {
                ruleset = Err(
                    "reading legacy iptables needs CAP_NET_ADMIN, which portcullis was not given"
                        .into(),
                );
            }
            Err((_, e)) => {
                let tool = if v6 { "ip6tables" } else { "iptables" };
                let why = format!("legacy {tool} table {name}: {e}");
                gap = Some(why.clone());
                ruleset = Err(why);
            }
        }
    }
    (ruleset, gap)
}

/// Every listener's reachability, on every core: each is an evaluation of
/// its namespace's ruleset of its own, and on a host with thousands of
/// rules they are most of a scan's time.
fn fill_reachability(
    listeners: &mut [crate::model::Listener],
    firewalls: &[(
        NetnsId,
        crate::firewall::reach::NetnsFirewall,
        Vec<Interface>,
    )],
) {
    let index: BTreeMap<NetnsId, usize> = firewalls
        .iter()
        .enumerate()
        .map(|(i, (id, _, _))| (*id, i))
        .collect();
    // Taken one by one from a shared counter: listeners' costs differ by
    // orders of magnitude (a loopback one is settled without a walk), so
    // equal shares would leave one core idle.
    let next = AtomicUsize::new(0);
    let shared: &[crate::model::Listener] = listeners;
    let workers = parallelism().clamp(1, shared.len().max(1));
    let found: Vec<(usize, crate::model::Reachability)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(listener) = shared.get(i) else { break };
                        let (_, firewall, interfaces) = &firewalls[index[&listener.netns]];
                        done.push((
                            i,
                            crate::firewall::reach::reachability(firewall, listener, interfaces),
                        ));
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    for (i, reachability) in found {
        listeners[i].reachability = Some(reachability);
    }
}

/// `confined`: `--own-pid-namespace`, so containers' runtimes are out of
/// sight by choice (a container scanning itself).
fn assemble(
    host: &Host,
    walk: ProcWalk,
    mut discovery: Discovery,
    ids: Vec<NetnsId>,
    scans: Vec<Option<NetnsScan>>,
    confined: bool,
) -> Inventory {
    let mut attribution = Attribution::new(host, &walk);
    let mut namespaces = Vec::new();
    // Each container the inventory names, with processes that run in it.
    let mut containers: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    let mut listeners = Vec::new();
    let mut gaps = std::mem::take(&mut discovery.gaps);
    let mut firewalls = Vec::new();
    for (id, scan) in ids.into_iter().zip(scans) {
        let Some(scan) = scan else { continue };
        let candidate = discovery.candidates.remove(&id).unwrap_or_default();
        let is_host = discovery.host == Some(id);
        let names_by_index: BTreeMap<u32, &str> = scan
            .interfaces
            .iter()
            .map(|i| (i.index, i.name.as_str()))
            .collect();
        for raw in &scan.sockets {
            listeners.push(attribution.listener(id, raw, &names_by_index, &scan.interfaces));
        }
        gaps.extend(scan.gaps);
        firewalls.push((id, scan.firewall, scan.interfaces.clone()));
        namespaces.push(netns_record(
            &host.proc,
            id,
            candidate,
            is_host,
            scan.interfaces,
            &mut containers,
        ));
    }
    let ports = listeners.iter().map(|l| (l.protocol, l.port)).collect();
    let published = std::thread::scope(|scope| {
        let published = scope.spawn(|| published::translated(&firewalls, &ports));
        fill_reachability(&mut listeners, &firewalls);
        published
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
    });
    namespaces.sort_by_key(|ns| (!ns.is_host, ns.names.is_empty(), ns.names.clone(), ns.id));
    let order: BTreeMap<NetnsId, usize> = namespaces
        .iter()
        .enumerate()
        .map(|(i, ns)| (ns.id, i))
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
    published::link(&mut listeners, &namespaces);
    let published = published::resolve(published, &listeners, &namespaces);
    for l in &listeners {
        for h in &l.holders {
            if let Some(c) = &h.process.container {
                containers.entry(c.clone()).or_default().push(h.pid);
            }
        }
    }
    let (containers, container_gaps) = runtimes::describe(&host.proc, &containers, confined);
    gaps.extend(container_gaps);
    Inventory {
        schema_version: SCHEMA_VERSION,
        host: hostinfo::read(),
        namespaces,
        listeners,
        containers,
        published,
        gaps,
        only_selected: false,
    }
}

/// Each namespace's containers (those of its first processes, on its own
/// network or another's), described by their runtimes: what `--netns NAME`
/// matches when no `ip netns` has the name.
fn containers_by_netns(
    root: &ProcRoot,
    discovery: &Discovery,
) -> Vec<(NetnsId, crate::model::Container)> {
    let mut out = Vec::new();
    for (&id, candidate) in &discovery.candidates {
        let wanted: BTreeMap<String, Vec<i32>> = cgroups_of(root, &candidate.pids, 64)
            .containers
            .into_iter()
            .collect();
        let (containers, _) = runtimes::describe(root, &wanted, true);
        out.extend(containers.into_iter().map(|c| (id, c)));
    }
    out
}

/// `containers`: gets the processes of the containers owning it (for the
/// runtimes to be asked about them).
fn netns_record(
    root: &ProcRoot,
    id: NetnsId,
    c: Candidate,
    host: bool,
    interfaces: Vec<Interface>,
    containers: &mut BTreeMap<String, Vec<i32>>,
) -> Netns {
    let mut hints = NetnsHints::default();
    if !host {
        let seen = cgroups_of(root, &c.pids, 16);
        hints.units = seen.units;
        // The containers are named only if every process looked at is in
        // one: a namespace that also holds other processes (a runtime's own,
        // such as dockerd beside a `--network host` container) is not a
        // container's.
        if !seen.outside_containers {
            for (container, pids) in seen.containers {
                hints.containers.push(container.clone());
                containers.entry(container).or_default().extend(pids);
            }
        }
    }
    let mut names: Vec<String> = c.ip_names.into_iter().collect();
    names.extend(c.paths);
    Netns {
        id,
        names,
        aliases: c.aliases.into_iter().collect(),
        is_host: host,
        sources: c.sources.into_iter().collect(),
        pids: c.pids,
        tids: c.tids,
        hints,
        interfaces,
    }
}

/// What the cgroups of a namespace's first processes say.
#[derive(Default)]
struct Cgroups {
    /// Their systemd units, each once, in order.
    units: Vec<String>,
    /// Their containers, in order, each with its processes among those.
    containers: Vec<(String, Vec<i32>)>,
    /// One of them is in no container.
    outside_containers: bool,
}

/// Reads the cgroups of the first `limit` of `pids`, once each.
fn cgroups_of(root: &ProcRoot, pids: &[i32], limit: usize) -> Cgroups {
    let mut seen = Cgroups::default();
    for &pid in pids.iter().take(limit) {
        let Ok(bytes) = root
            .process(pid)
            .and_then(|dir| dir.read(c"cgroup", 64 << 10))
        else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        let Some(path) = cgroup::systemd_path(&text) else {
            continue;
        };
        if let Some(unit) = cgroup::unit(path).filter(|u| !seen.units.contains(u)) {
            seen.units.push(unit);
        }
        match cgroup::container(path) {
            Some(c) => match seen.containers.iter_mut().find(|(id, _)| *id == c) {
                Some((_, pids)) => pids.push(pid),
                None => seen.containers.push((c, vec![pid])),
            },
            None => seen.outside_containers = true,
        }
    }
    seen
}

/// Turns raw sockets into listeners with their holders.
struct Attribution<'w> {
    host: &'w Host,
    walk: &'w ProcWalk,
    processes: holders::ProcessCache,
    socket_units: Option<socket_units::SocketUnits>,
}

impl<'w> Attribution<'w> {
    fn new(host: &'w Host, walk: &'w ProcWalk) -> Self {
        Attribution {
            host,
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
        let bound_device = (raw.ifindex != 0).then(|| {
            names
                .get(&raw.ifindex)
                .map_or_else(|| format!("if{}", raw.ifindex), |n| (*n).to_owned())
        });
        let holders = self.holders(raw, bound_device.as_deref());
        Listener {
            netns: id,
            protocol: raw.protocol,
            family: raw.family,
            address: if dual_stack {
                "*".to_owned()
            } else {
                raw.addr.to_string()
            },
            port: raw.port,
            bound_device,
            v6only: raw.v6only,
            scope: scope::classify(raw.addr, raw.v6only),
            address_interfaces: carriers(raw.addr, ifaces),
            inode: raw.inode,
            uid: raw.uid,
            owner_unknown_reason: holders.is_empty().then(|| self.unknown_reason(raw.inode)),
            forwards_to: None,
            reachability: None,
            holders,
        }
    }

    fn holders(&mut self, raw: &RawSocket, device: Option<&str>) -> Vec<Holder> {
        let refs: Vec<procwalk::FdRef> = self.walk.holders_of(raw.inode).collect();
        let mut out = Vec::with_capacity(refs.len());
        for r in &refs {
            let Some(mut process) = self
                .processes
                .get(&self.host.proc, r.pid, r.fd, raw.inode)
                .cloned()
            else {
                continue;
            };
            if r.pid == 1 && process.comm.as_bytes() == b"systemd" {
                let fs = &self.host.fs;
                let units = self
                    .socket_units
                    .get_or_insert_with(|| socket_units::SocketUnits::load(fs));
                let held = socket_units::HeldSocket {
                    protocol: raw.protocol,
                    address: raw.addr,
                    port: raw.port,
                    device,
                };
                if let Some(unit) = units.find(held) {
                    // PID 1's details differ per socket: its own copy.
                    let process = std::sync::Arc::make_mut(&mut process);
                    process.unit = Some(unit.name.clone());
                    process.unit_file = Some(unit.file.clone());
                    process.activates = Some(unit.activates.clone());
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
