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
use std::os::fd::{AsFd, OwnedFd};

use crate::model::NetnsId;
use crate::os::Errno;
use crate::os::ns::{self, identity, pidfd_getfd, pidfd_open, socket_netns};

use super::procwalk::FdRef;

/// What asking the sockets found.
#[derive(Debug, Default)]
pub struct Probe {
    /// Each namespace found once, with a descriptor that keeps it open.
    pub found: Vec<(NetnsId, OwnedFd)>,
    /// Processes whose sockets could not be asked, and why.
    pub failed: Vec<(i32, Errno)>,
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
            if ns::inode(&socket) != Ok(inode) {
                continue;
            }
            let Ok(netns) = socket_netns(&socket) else {
                continue;
            };
            let Ok(id) = identity(netns.as_fd()) else {
                continue;
            };
            if !known(id) && out.found.iter().all(|(f, _)| *f != id) {
                out.found.push((id, netns));
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
        use std::os::fd::AsRawFd;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let inode = crate::os::ns::inode(&listener).unwrap();
        let me = std::process::id() as i32;
        let own = crate::os::proc::ProcRoot::live()
            .unwrap()
            .dir()
            .ns_id(c"thread-self/ns/net")
            .unwrap();
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
