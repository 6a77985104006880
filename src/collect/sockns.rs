//! The namespaces of sockets that no dump showed.
//!
//! A process can create listeners in a fresh network namespace, `setns`
//! back, and keep only the socket descriptors: no process, thread, mount or
//! nsfs descriptor then refers to that namespace, but the sockets keep it
//! alive. `ss` finds it by asking the socket (`SIOCGSKNS`); so does this.
//! Only sockets that no dump of a known namespace listed are asked (the
//! dumps cover listening TCP, every UDP and every unix socket of the
//! namespaces scanned), so on an ordinary host this is a handful of
//! netlink, packet and connected TCP sockets. (Dumping TCP's other states
//! too would walk the established table once per namespace, which cost
//! more at fleet scale than asking the few connections.)
//!
//! Each is reached by duplicating the holder's descriptor with
//! `pidfd_getfd` (Linux 5.6; needs what reading `/proc/PID/fd` needs, plus
//! ptrace access), checked to be the same socket by inode, and asked for its
//! namespace, which comes back as an nsfs descriptor we keep for the scan.

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::stat::fstat;

use crate::model::NetnsId;

use super::procwalk::FdRef;

/// What asking the sockets found.
#[derive(Debug, Default)]
pub struct Probe {
    /// Each namespace found once, with a descriptor that keeps it open.
    pub found: Vec<(NetnsId, OwnedFd)>,
    /// Processes whose sockets could not be asked, and why.
    pub failed: Vec<(i32, Errno)>,
}

/// `_IO(0x89, 0x4c)`: a socket's network namespace, as a new descriptor.
const SIOCGSKNS: nix::libc::Ioctl = 0x894c;

fn syscall_fd(result: nix::libc::c_long) -> Result<OwnedFd, Errno> {
    if result < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(result as i32) })
}

fn pidfd_open(pid: i32) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_open(2) takes a pid and flags and returns a descriptor.
    syscall_fd(unsafe { nix::libc::syscall(nix::libc::SYS_pidfd_open, pid, 0) })
}

fn pidfd_getfd(pidfd: &OwnedFd, fd: i32) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_getfd(2) duplicates the target's descriptor into ours.
    syscall_fd(unsafe { nix::libc::syscall(nix::libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) })
}

fn socket_netns(socket: &OwnedFd) -> Result<OwnedFd, Errno> {
    // SAFETY: SIOCGSKNS takes no argument and returns a new descriptor.
    let fd = unsafe { nix::libc::ioctl(socket.as_raw_fd(), SIOCGSKNS) };
    syscall_fd(fd as nix::libc::c_long)
}

/// Asks each socket in `unseen` (inode, one descriptor holding it) for its
/// namespace, keeping those not in `known`.
pub fn probe(unseen: &[(u64, FdRef)], known: &dyn Fn(NetnsId) -> bool) -> Probe {
    let mut by_pid: BTreeMap<i32, Vec<(u64, i32)>> = BTreeMap::new();
    for &(inode, r) in unseen {
        by_pid.entry(r.pid).or_default().push((inode, r.fd));
    }
    let mut out = Probe::default();
    for (pid, sockets) in by_pid {
        let pidfd = match pidfd_open(pid) {
            Ok(fd) => fd,
            Err(Errno::ESRCH) => continue, // exited
            Err(e) => {
                out.failed.push((pid, e));
                continue;
            }
        };
        for (inode, fd) in sockets {
            let socket = match pidfd_getfd(&pidfd, fd) {
                Ok(s) => s,
                Err(Errno::EBADF | Errno::ESRCH) => continue, // closed, or exited
                Err(e) => {
                    out.failed.push((pid, e));
                    break;
                }
            };
            // The descriptor number may have been reused for another file.
            if fstat(&socket).map(|st| st.st_ino) != Ok(inode) {
                continue;
            }
            let Ok(ns) = socket_netns(&socket) else {
                continue;
            };
            let Ok(st) = fstat(&ns) else { continue };
            let id = NetnsId {
                dev: st.st_dev,
                inode: st.st_ino,
            };
            if !known(id) && out.found.iter().all(|(f, _)| *f != id) {
                out.found.push((id, ns));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_names_its_namespace() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let inode = fstat(&listener).unwrap().st_ino;
        let me = std::process::id() as i32;
        let own = nix::sys::stat::stat("/proc/thread-self/ns/net").unwrap();
        let own = NetnsId {
            dev: own.st_dev,
            inode: own.st_ino,
        };
        let unseen = [(
            inode,
            FdRef {
                pid: me,
                fd: listener.as_raw_fd(),
            },
        )];
        let probe = probe(&unseen, &|_| false);
        assert!(probe.failed.is_empty(), "{:?}", probe.failed);
        assert_eq!(probe.found.len(), 1);
        assert_eq!(probe.found[0].0, own);
        // Known namespaces are not returned again.
        assert!(super::probe(&unseen, &|id| id == own).found.is_empty());
    }
}
