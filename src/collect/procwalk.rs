//! One walk of `/proc`: which namespace every process and thread lives in,
//! which mount namespace it sees, and what every file descriptor points at.
//!
//! This is the only pass over all processes, and its cost is dominated by one
//! `readlinkat` per descriptor; nothing else is read per descriptor (procfs's
//! `FDInfo` would add an `lstat` each). Every read is relative to the
//! process's own `/proc/PID` directory descriptor, so a PID reused mid-walk
//! fails with ESRCH/ENOENT instead of mixing two processes.
//!
//! Processes that exit during the walk are skipped silently; permission
//! errors are recorded so the caller can report a coverage gap.

use std::ffi::CStr;

use crate::model::NetnsId;
use crate::os::Errno;
use crate::os::proc::{DecimalName, ProcDir, ProcRoot, decimal};

pub use crate::os::proc::parse_decimal;

/// Where one socket inode is referenced from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdRef {
    pub pid: i32,
    pub fd: i32,
}

/// A descriptor that refers to a network namespace (`net:[…]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetnsFd {
    pub pid: i32,
    /// The thread whose `/proc/PID/task/TID/fd` shows it, when the process's
    /// leader thread has exited (its own `/proc/PID/fd` is then empty).
    pub via_task: Option<i32>,
    pub fd: i32,
    pub ns: NetnsId,
}

impl NetnsFd {
    /// The path that opens the pinned namespace.
    pub fn path(&self, root: &ProcRoot) -> String {
        let relative = match self.via_task {
            Some(tid) => format!("{}/task/{tid}/fd/{}", self.pid, self.fd),
            None => format!("{}/fd/{}", self.pid, self.fd),
        };
        root.path(&relative).to_string_lossy().into_owned()
    }
}

impl ProcWalk {
    /// Every descriptor referring to socket `inode`, in (pid, fd) order.
    pub fn holders_of(&self, inode: u64) -> impl Iterator<Item = FdRef> + '_ {
        let start = self.socket_refs.partition_point(|&(i, _)| i < inode);
        self.socket_refs[start..]
            .iter()
            .take_while(move |&&(i, _)| i == inode)
            .map(|&(_, r)| r)
    }
}

#[derive(Debug, Default)]
pub struct ProcWalk {
    /// (pid, namespace of its main thread)
    pub process_netns: Vec<(i32, NetnsId)>,
    /// Namespace of kthreadd (PID 2 with parent 0), i.e. `init_net`.
    pub kernel_netns: Option<NetnsId>,
    /// (pid, tid, namespace) for threads not in their process's namespace.
    pub thread_netns: Vec<(i32, i32, NetnsId)>,
    /// One pid per mount namespace other than ours, for reading its mounts.
    pub foreign_mount_ns: Vec<i32>,
    /// (socket inode, descriptor) for every socket descriptor, sorted by
    /// inode after the walk: a flat list is one push per descriptor, where a
    /// map of lists would allocate per socket. Look up with [`ProcWalk::holders_of`].
    pub socket_refs: Vec<(u64, FdRef)>,
    pub netns_fds: Vec<NetnsFd>,
    /// Processes whose namespace links could not be read, and why.
    pub netns_unreadable: Vec<(i32, Errno)>,
    /// Processes whose descriptor table could not be read, and why.
    pub fds_unreadable: Vec<(i32, Errno)>,
}

/// Walks every process under `root`, spreading processes over a few
/// threads: the walk is one `readlinkat` per descriptor, kernel work that
/// scales with cores.
pub fn walk(root: &ProcRoot, threads: usize) -> Result<ProcWalk, Errno> {
    let own_mnt = root.dir().ns_id(c"self/ns/mnt").ok();
    let nsfs_dev = own_mnt.map(|id| id.dev);
    let pids = root.pids()?;
    const CHUNK: usize = 16;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let partials: Vec<(ProcWalk, Vec<(NetnsId, i32)>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                scope.spawn(|| {
                    let mut out = ProcWalk::default();
                    let mut mounts = Vec::new();
                    let mut link_buf = [0u8; 128];
                    loop {
                        let start = next.fetch_add(CHUNK, std::sync::atomic::Ordering::Relaxed);
                        let Some(chunk) = pids.get(start..(start + CHUNK).min(pids.len())) else {
                            break;
                        };
                        if chunk.is_empty() {
                            break;
                        }
                        for &pid in chunk {
                            let Ok(pid_dir) = root.process(pid) else {
                                continue;
                            };
                            walk_process(
                                pid,
                                &pid_dir,
                                nsfs_dev,
                                &mut out,
                                &mut mounts,
                                &mut link_buf,
                            );
                        }
                    }
                    (out, mounts)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("the walk does not panic"))
            .collect()
    });
    Ok(merge(partials, own_mnt))
}

/// Joins per-thread results in pid order, keeping one pid per foreign mount namespace.
fn merge(partials: Vec<(ProcWalk, Vec<(NetnsId, i32)>)>, own_mnt: Option<NetnsId>) -> ProcWalk {
    let mut out = ProcWalk::default();
    let mut mounts = Vec::new();
    for (part, part_mounts) in partials {
        out.process_netns.extend(part.process_netns);
        out.thread_netns.extend(part.thread_netns);
        out.kernel_netns = out.kernel_netns.or(part.kernel_netns);
        out.socket_refs.extend(part.socket_refs);
        out.netns_fds.extend(part.netns_fds);
        out.netns_unreadable.extend(part.netns_unreadable);
        out.fds_unreadable.extend(part.fds_unreadable);
        mounts.extend(part_mounts);
    }
    out.process_netns.sort_unstable_by_key(|&(pid, _)| pid);
    out.thread_netns.sort_unstable();
    out.socket_refs
        .sort_unstable_by_key(|&(inode, r)| (inode, r.pid, r.fd));
    out.netns_fds.sort_unstable_by_key(|p| (p.pid, p.fd));
    out.netns_unreadable.sort_unstable_by_key(|&(pid, _)| pid);
    out.fds_unreadable.sort_unstable_by_key(|&(pid, _)| pid);
    mounts.sort_unstable_by_key(|&(_, pid)| pid);
    let mut seen: std::collections::HashSet<NetnsId> = own_mnt.into_iter().collect();
    out.foreign_mount_ns = mounts
        .into_iter()
        .filter(|(mnt, _)| seen.insert(*mnt))
        .map(|(_, pid)| pid)
        .collect();
    out
}

fn walk_process(
    pid: i32,
    pid_dir: &ProcDir,
    nsfs_dev: Option<u64>,
    out: &mut ProcWalk,
    mounts: &mut Vec<(NetnsId, i32)>,
    link_buf: &mut [u8; 128],
) {
    let netns = match pid_dir.ns_id(c"ns/net") {
        Ok(id) => Some(id),
        // Exited, a zombie, or a process whose leader thread exited
        // (pthread_exit) while other threads live on: those still hold
        // namespaces and descriptors.
        Err(Errno::ENOENT | Errno::ESRCH) => {
            walk_leaderless(pid, pid_dir, nsfs_dev, out, link_buf);
            return;
        }
        Err(e) => {
            out.netns_unreadable.push((pid, e));
            None
        }
    };
    if let Some(ns) = netns {
        if pid == 2 && is_kthreadd(pid_dir) {
            out.kernel_netns = Some(ns);
        }
        out.process_netns.push((pid, ns));
        walk_threads(pid, pid_dir, ns, out);
    }
    if let Ok(mnt) = pid_dir.ns_id(c"ns/mnt")
        && mounts.last().is_none_or(|(last, _)| *last != mnt)
    {
        mounts.push((mnt, pid));
    }
    walk_fds(pid, None, pid_dir, nsfs_dev, out, link_buf);
}

/// A process whose leader has exited: every live thread's namespace, and the
/// descriptor table through the first live thread (threads share it; the
/// leader's `/proc/PID/fd` no longer shows it).
fn walk_leaderless(
    pid: i32,
    pid_dir: &ProcDir,
    nsfs_dev: Option<u64>,
    out: &mut ProcWalk,
    link_buf: &mut [u8; 128],
) {
    let mut live: Option<(i32, ProcDir)> = None;
    for_each_other_thread(pid, pid_dir, |tid, task_dir| {
        let Ok(dir) = task_dir.open_dir(&decimal(tid as u64)) else {
            return true;
        };
        match dir.ns_id(c"ns/net") {
            Ok(ns) => {
                out.thread_netns.push((pid, tid, ns));
                if live.is_none() {
                    live = Some((tid, dir));
                }
            }
            Err(Errno::ENOENT | Errno::ESRCH) => {}
            Err(e) => out.netns_unreadable.push((pid, e)),
        }
        true
    });
    if let Some((tid, dir)) = live {
        walk_fds(pid, Some(tid), &dir, nsfs_dev, out, link_buf);
    }
}

fn walk_threads(pid: i32, pid_dir: &ProcDir, process_ns: NetnsId, out: &mut ProcWalk) {
    for_each_other_thread(pid, pid_dir, |tid, task_dir| {
        let mut path = decimal(tid as u64).into_bytes();
        path.extend_from_slice(b"/ns/net\0");
        let path = CStr::from_bytes_with_nul(&path).expect("one trailing NUL");
        match task_dir.ns_id(path) {
            Ok(ns) if ns != process_ns => out.thread_netns.push((pid, tid, ns)),
            Ok(_) | Err(Errno::ENOENT | Errno::ESRCH) => {}
            Err(e) => {
                out.netns_unreadable.push((pid, e));
                return false;
            }
        }
        true
    });
}

/// Calls `visit(tid, task_dir)` for every thread of `pid` but its leader,
/// with `task_dir` the process's `task` folder, until it returns false.
fn for_each_other_thread(
    pid: i32,
    pid_dir: &ProcDir,
    mut visit: impl FnMut(i32, &ProcDir) -> bool,
) {
    let Ok(tasks) = pid_dir.open_dir(c"task") else {
        return;
    };
    let Ok(tids) = tasks.numbers() else { return };
    for tid in tids {
        let tid = tid as i32;
        if tid != pid && !visit(tid, &tasks) {
            return;
        }
    }
}

fn walk_fds(
    pid: i32,
    via_task: Option<i32>,
    pid_dir: &ProcDir,
    nsfs_dev: Option<u64>,
    out: &mut ProcWalk,
    link_buf: &mut [u8; 128],
) {
    let listed = pid_dir
        .open_dir(c"fd")
        .and_then(|fds| Ok((fds.numbers()?, fds)));
    let (numbers, fds) = match listed {
        Ok(listed) => listed,
        Err(Errno::ENOENT | Errno::ESRCH) => return,
        Err(e) => {
            out.fds_unreadable.push((pid, e));
            return;
        }
    };
    for fd in numbers {
        let name = DecimalName::new(fd);
        let name = name.as_cstr();
        let target = match fds.readlink(name, link_buf) {
            Ok(target) => target,
            Err(Errno::ENOENT | Errno::ESRCH) => continue, // closed meanwhile
            Err(e) => {
                out.fds_unreadable.push((pid, e));
                return;
            }
        };
        match classify_link(target) {
            FdLink::Socket(inode) => out.socket_refs.push((inode, FdRef { pid, fd: fd as i32 })),
            FdLink::Netns(_) | FdLink::MaybeDetachedNsfs => {
                if let Some(ns) = fds.netns_at(name, nsfs_dev) {
                    out.netns_fds.push(NetnsFd {
                        pid,
                        via_task,
                        fd: fd as i32,
                        ns,
                    });
                }
            }
            FdLink::Other => {}
        }
    }
}

/// Kernel threads live in the initial network namespace whatever PID 1 does.
fn is_kthreadd(pid_dir: &ProcDir) -> bool {
    matches!(pid_dir.read(c"comm", 16), Ok(comm) if comm == b"kthreadd\n")
}

#[derive(Debug, PartialEq, Eq)]
pub enum FdLink {
    Socket(u64),
    /// Opened through `/proc/PID/ns/net`.
    Netns(u64),
    /// Reads as `/`: a namespace opened through a bind mount that has since
    /// been unmounted reads so (as does an fd on the root directory).
    MaybeDetachedNsfs,
    Other,
}

/// Reads what a `/proc/PID/fd/N` link says: `socket:[123]`, `net:[4026531840]`, or anything else.
pub fn classify_link(target: &[u8]) -> FdLink {
    fn bracketed(rest: &[u8]) -> Option<u64> {
        let inner = rest.strip_prefix(b"[")?.strip_suffix(b"]")?;
        parse_decimal(inner)
    }
    if let Some(rest) = target.strip_prefix(b"socket:") {
        bracketed(rest).map_or(FdLink::Other, FdLink::Socket)
    } else if let Some(rest) = target.strip_prefix(b"net:") {
        bracketed(rest).map_or(FdLink::Other, FdLink::Netns)
    } else if target == b"/" {
        FdLink::MaybeDetachedNsfs
    } else {
        FdLink::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn reads_socket_and_netns_links() {
        assert_eq!(classify_link(b"socket:[12345]"), FdLink::Socket(12345));
        assert_eq!(
            classify_link(b"net:[4026531840]"),
            FdLink::Netns(4026531840)
        );
        assert_eq!(classify_link(b"/dev/null"), FdLink::Other);
        assert_eq!(classify_link(b"/"), FdLink::MaybeDetachedNsfs);
        assert_eq!(classify_link(b"socket:[]"), FdLink::Other);
        assert_eq!(classify_link(b"socket:[12a]"), FdLink::Other);
        assert_eq!(classify_link(b"anon_inode:[eventfd]"), FdLink::Other);
    }

    #[test]
    fn walk_finds_this_process_and_its_own_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let inode = crate::os::ns::inode(&listener).unwrap();
        let walk = walk(&ProcRoot::live().unwrap(), 2).unwrap();
        let me = std::process::id() as i32;
        assert!(walk.process_netns.iter().any(|(pid, _)| *pid == me));
        let refs: Vec<FdRef> = walk.holders_of(inode).collect();
        assert!(
            refs.contains(&FdRef {
                pid: me,
                fd: listener.as_raw_fd()
            }),
            "{refs:?}"
        );
    }
}
