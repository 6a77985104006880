//! Finding every network namespace, and every way to reach each one.
//!
//! Sources: the namespace of each process and of each thread that left its
//! process's namespace, nsfs bind mounts in our mount table and in every
//! other mount namespace's, and descriptors that pin a namespace. Identity is
//! (device, inode) of the nsfs file, so one namespace found five ways is one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::model::{Gap, GapKind, NetnsId, NetnsSource};
use crate::os::Errno;
use crate::os::proc::ProcRoot;

use super::mounts::{self, NetnsMount};
use super::procwalk::ProcWalk;

/// Paths through processes kept per namespace for opening it: a few are
/// enough to survive some of them exiting.
const PROCESS_PATHS_KEPT: usize = 4;

#[derive(Debug, Default)]
pub struct Candidate {
    pub ip_names: BTreeSet<String>,
    /// Paths that name it for humans and for `--netns`: its mounts, each
    /// once, by their path in our view.
    pub paths: BTreeSet<String>,
    /// Ways in through a process (pinning descriptors, another mount
    /// namespace's copy of a mount): they change with every run.
    pub aliases: BTreeSet<String>,
    /// Mounts seen only in other mount namespaces: mount point → the
    /// `/proc/PID/root/...` paths that reach it, in walk order.
    foreign_mounts: BTreeMap<String, Vec<String>>,
    /// Paths to try, in order, when opening it.
    pub open_paths: Vec<PathBuf>,
    pub sources: BTreeSet<NetnsSource>,
    pub pids: Vec<i32>,
    pub tids: Vec<i32>,
}

#[derive(Debug, Default)]
pub struct Discovery {
    pub candidates: BTreeMap<NetnsId, Candidate>,
    /// PID 1's namespace (or, if unreadable, the kernel threads').
    pub host: Option<NetnsId>,
    /// This process's namespace.
    pub own: Option<NetnsId>,
    pub gaps: Vec<Gap>,
}

pub fn discover(root: &ProcRoot, walk: &ProcWalk) -> Discovery {
    let mut d = Discovery {
        own: root.dir().ns_id(c"thread-self/ns/net").ok(),
        ..Discovery::default()
    };
    let proc_path = |relative: String| root.path(&relative);
    for &(pid, ns) in &walk.process_netns {
        if pid == 1 {
            d.host = Some(ns);
        }
        let c = d.candidates.entry(ns).or_default();
        c.sources.insert(NetnsSource::Process);
        c.pids.push(pid);
        if c.pids.len() <= PROCESS_PATHS_KEPT {
            c.open_paths.push(proc_path(format!("{pid}/ns/net")));
        }
    }
    for &(pid, tid, ns) in &walk.thread_netns {
        let c = d.candidates.entry(ns).or_default();
        c.sources.insert(NetnsSource::Thread);
        c.tids.push(tid);
        c.open_paths
            .push(proc_path(format!("{pid}/task/{tid}/ns/net")));
    }
    for pin in &walk.netns_fds {
        let c = d.candidates.entry(pin.ns).or_default();
        c.sources.insert(NetnsSource::Descriptor);
        let path = pin.path(root);
        c.aliases.insert(path.clone());
        c.open_paths.push(path.into());
    }
    // PID 1's namespace is the host's; when PID 1 is unreadable (a hardened
    // init), kernel threads still show the initial namespace.
    d.host = d.host.or(walk.kernel_netns);
    add_mounts(&mut d, root, walk);
    for c in d.candidates.values_mut() {
        name_foreign_mounts(c);
    }
    // Mount paths are the most stable way in: try them first.
    let proc = root.path("");
    for c in d.candidates.values_mut() {
        c.open_paths.sort_by_key(|p| p.starts_with(&proc));
    }
    let capabilities = effective_capabilities(root);
    d.gaps.extend(process_gaps(
        capabilities,
        &walk.netns_unreadable,
        GapKind::ProcessNamespaceUnreadable,
        "namespace links unreadable: namespaces only these processes live in may be missing",
    ));
    d.gaps.extend(process_gaps(capabilities, &walk.fds_unreadable, GapKind::ProcessFdsUnreadable,
        "descriptor tables unreadable: sockets they hold show an unknown owner, and namespaces only they pin are missing"));
    d
}

/// A mount table is kernel-written, one line per mount; 64 MiB is far
/// beyond any real host's, and a bound on one that is not.
const MOUNTINFO_LIMIT: usize = 64 << 20;

fn add_mounts(d: &mut Discovery, root: &ProcRoot, walk: &ProcWalk) {
    // (whose table: None for ours, else a pid in that mount namespace; its text)
    type Table = (Option<i32>, Result<Vec<u8>, Errno>);
    let mut tables: Vec<Table> = vec![(None, root.dir().read(c"self/mountinfo", MOUNTINFO_LIMIT))];
    for &pid in &walk.foreign_mount_ns {
        let table = root
            .process(pid)
            .and_then(|dir| dir.read(c"mountinfo", MOUNTINFO_LIMIT));
        tables.push((Some(pid), table));
    }
    for (pid, table) in tables {
        match table {
            Ok(bytes) => {
                for mount in mounts::parse_netns_mounts(&bytes) {
                    add_mount(d, root, pid, mount);
                }
            }
            // A process that exited took its mount namespace's view with it
            // (one exiting mid-read gives EINVAL): gone, not a gap, once
            // its mount namespace link is gone too.
            Err(_) if pid.is_some_and(|pid| exited(root, pid)) => {}
            Err(e) => d.gaps.push(Gap {
                kind: GapKind::MountsUnreadable,
                netns: None,
                pids: pid.into_iter().collect(),
                detail: format!("mount table unreadable ({}): namespaces pinned only by bind mounts there may be missing", e.desc()),
            }),
        }
    }
}

/// Whether process `pid` has exited (or is a zombie, whose namespaces are gone).
fn exited(root: &ProcRoot, pid: i32) -> bool {
    matches!(
        root.process(pid).and_then(|dir| dir.ns_id(c"ns/mnt")),
        Err(Errno::ENOENT | Errno::ESRCH)
    )
}

fn add_mount(d: &mut Discovery, root: &ProcRoot, pid: Option<i32>, mount: NetnsMount) {
    let c = d.candidates.entry(mount.ns).or_default();
    c.sources.insert(NetnsSource::Mount);
    let point = mount.mount_point.to_string_lossy().into_owned();
    match pid {
        None => {
            if let Some(name) = mount.ip_netns_name() {
                c.ip_names.insert(name);
            }
            c.paths.insert(point.clone());
            c.open_paths.push(point.into());
        }
        // Another mount namespace's path, reached through that process's
        // root: an `ip netns` mount there is named as in our own.
        Some(pid) => {
            if let Some(name) = mount.ip_netns_name() {
                c.ip_names.insert(name);
            }
            let path = format!("{}{point}", root.path(&format!("{pid}/root")).display());
            c.open_paths.push(path.clone().into());
            c.foreign_mounts.entry(point).or_default().push(path);
        }
    }
}

/// A mount is named once: by its own path when our mount table has it,
/// else through the first process whose mount namespace does. Every other
/// process's copy (each service with a private mount namespace inherits
/// one) is only an alias.
fn name_foreign_mounts(c: &mut Candidate) {
    for (point, paths) in std::mem::take(&mut c.foreign_mounts) {
        let mut paths = paths.into_iter();
        if !c.paths.contains(&point)
            && let Some(first) = paths.next()
        {
            c.paths.insert(first);
        }
        c.aliases.extend(paths);
    }
}

/// One gap per kind and errno, listing the processes.
pub fn process_gaps(
    capabilities: Option<u64>,
    failures: &[(i32, Errno)],
    kind: GapKind,
    what: &str,
) -> Vec<Gap> {
    if failures.is_empty() {
        return vec![];
    }
    let mut by_errno: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for &(pid, errno) in failures {
        by_errno.entry(errno as i32).or_default().push(pid);
    }
    by_errno
        .into_iter()
        .map(|(errno, pids)| Gap {
            kind,
            netns: None,
            detail: format!(
                "{}: {what} ({}{})",
                processes_named(&pids),
                Errno::from_raw(errno).desc(),
                missing_capability(kind, Errno::from_raw(errno), capabilities)
            ),
            pids,
        })
        .collect()
}

/// "process 412", "3 processes (412, 413, 900)", "40 processes (412, 413,
/// 900, 901, 950, …)": the pids are in the gap's `pids` too.
fn processes_named(pids: &[i32]) -> String {
    const SHOWN: usize = 5;
    if let [pid] = pids {
        return format!("process {pid}");
    }
    let mut list: Vec<String> = pids.iter().take(SHOWN).map(ToString::to_string).collect();
    if pids.len() > SHOWN {
        list.push("…".into());
    }
    format!("{} ({})", processes(pids.len()), list.join(", "))
}

/// The capability a permission error points at: reading another user's
/// namespace links needs CAP_SYS_PTRACE; their `/proc/PID/fd` folders are
/// mode 0500, so listing them needs CAP_DAC_READ_SEARCH as well.
fn missing_capability(kind: GapKind, errno: Errno, capabilities: Option<u64>) -> &'static str {
    const CAP_DAC_READ_SEARCH: u32 = 2;
    const CAP_SYS_PTRACE: u32 = 19;
    let have = |cap: u32| capabilities.is_some_and(|set| set & (1u64 << cap) != 0);
    match (kind, errno) {
        (GapKind::ProcessFdsUnreadable, Errno::EACCES | Errno::EPERM)
            if !(have(CAP_SYS_PTRACE) && have(CAP_DAC_READ_SEARCH)) =>
        {
            "; needs CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH"
        }
        (GapKind::ProcessNamespaceUnreadable, Errno::EACCES | Errno::EPERM)
            if !have(CAP_SYS_PTRACE) =>
        {
            "; needs CAP_SYS_PTRACE"
        }
        (_, Errno::EACCES | Errno::EPERM) => {
            "; refused although portcullis has CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH: the kernel or a sandbox shields it"
        }
        _ => "",
    }
}

/// This process's effective capability set (`CapEff:` in its status).
pub fn effective_capabilities(root: &ProcRoot) -> Option<u64> {
    let status = root.dir().read(c"self/status", 64 << 10).ok()?;
    let status = String::from_utf8_lossy(&status);
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

/// "1 process", "3 processes".
pub fn processes(n: usize) -> String {
    format!("{n} {}", if n == 1 { "process" } else { "processes" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mount_is_named_once_and_process_copies_are_aliases() {
        let mut c = Candidate::default();
        c.paths.insert("/run/netns/blue".into());
        for (point, pids) in [
            ("/run/netns/blue", [40, 41]),
            ("/run/docker/netns/ab", [50, 51]),
        ] {
            c.foreign_mounts.insert(
                point.into(),
                pids.iter()
                    .map(|p| format!("/proc/{p}/root{point}"))
                    .collect(),
            );
        }
        name_foreign_mounts(&mut c);
        assert_eq!(
            c.paths.iter().collect::<Vec<_>>(),
            ["/proc/50/root/run/docker/netns/ab", "/run/netns/blue"],
            "ours by its own path; one only another mount namespace has, once"
        );
        assert_eq!(
            c.aliases.iter().collect::<Vec<_>>(),
            [
                "/proc/40/root/run/netns/blue",
                "/proc/41/root/run/netns/blue",
                "/proc/51/root/run/docker/netns/ab"
            ]
        );
    }
}
