//! Firewall reads begun before the scan needs them.
//!
//! The kernel's dump of a ruleset of thousands of rules takes milliseconds
//! of its own, and nothing but the namespace decides what it returns. The
//! namespaces a scan surely examines are known before the walk of `/proc`
//! (those `--netns` names by path, and ours when the whole host is
//! scanned), so their dumps start first and run beside the walk (and,
//! when the caller starts them earlier still, beside loading the
//! plugins). The scan takes each one when it reaches its namespace; a
//! namespace with none is read then, as before.
//!
//! A ruleset read this way is a few milliseconds older than the sockets:
//! a snapshot of the same moment of a scan, as any other read is.

use std::os::fd::AsFd;
use std::sync::Mutex;
use std::thread::JoinHandle;

use crate::model::NetnsId;

use super::Selector;

/// What reading a namespace's firewall gave: the ruleset (or why not),
/// and the gap to record if any.
pub(super) type RulesetRead = (Result<crate::firewall::Ruleset, String>, Option<String>);

/// Firewall reads under way, by namespace.
#[derive(Default)]
pub struct Prefetch {
    reads: Mutex<Vec<(NetnsId, JoinHandle<Option<RulesetRead>>)>>,
}

impl Prefetch {
    /// Starts reading the firewalls of the namespaces `request` surely
    /// examines. Whatever cannot be opened here is left to the scan, which
    /// reports it.
    pub fn start(request: &super::Request) -> Prefetch {
        let own = crate::os::ns::open_nonblocking("/proc/thread-self/ns/net".as_ref())
            .ok()
            .and_then(|fd| crate::os::ns::identity(fd.as_fd()).ok());
        let mut reads = Vec::new();
        if let (true, Some(own)) = (request.selectors.is_empty(), own) {
            reads.extend(spawn(own, None));
        }
        for selector in &request.selectors {
            let Selector::Path(path) = selector else {
                continue;
            };
            let Ok((fd, id)) = super::select::open_netns_at(path) else {
                continue;
            };
            if reads.iter().any(|(seen, _)| *seen == id) {
                continue;
            }
            reads.extend(spawn(id, (Some(id) != own).then_some(fd)));
        }
        Prefetch {
            reads: Mutex::new(reads),
        }
    }

    /// The read of namespace `id`'s firewall, if one was started.
    pub(super) fn take(&self, id: NetnsId) -> Option<Pending> {
        let mut reads = self.reads.lock().unwrap_or_else(|e| e.into_inner());
        let at = reads.iter().position(|(of, _)| *of == id)?;
        Some(Pending(reads.swap_remove(at).1))
    }
}

/// A firewall read under way.
pub(super) struct Pending(JoinHandle<Option<RulesetRead>>);

impl Pending {
    /// What it read, once done; `None` if it could not enter the
    /// namespace (the scan, inside, reads again and reports what fails).
    pub(super) fn wait(self) -> Option<RulesetRead> {
        self.0.join().ok().flatten()
    }
}

/// A thread reading namespace `id`'s firewall, entering it through `fd`
/// (none: it is ours). `None` if no thread could be started.
fn spawn(
    id: NetnsId,
    fd: Option<std::os::fd::OwnedFd>,
) -> Option<(NetnsId, JoinHandle<Option<RulesetRead>>)> {
    std::thread::Builder::new()
        .name("firewall".into())
        .spawn(move || match fd {
            None => Some(super::read_ruleset()),
            Some(fd) => crate::os::ns::run_inside(Some(fd.as_fd()), super::read_ruleset).ok(),
        })
        .ok()
        .map(|thread| (id, thread))
}
