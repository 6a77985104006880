//! `--netns` selectors: which namespaces to look into.

use std::os::fd::AsFd;
use std::path::PathBuf;

use crate::model::{Container, NetnsId, NetnsSource};
use crate::os::Errno;

use super::discover::Discovery;

/// How the user named a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// An `ip netns` name, else a container's: its name, id, short id,
    /// image, or `k8s:NAMESPACE/POD[/CONTAINER]` (the namespaces its
    /// processes live in).
    Name(String),
    /// Any nsfs file: `/run/netns/x`, `/proc/PID/ns/net`, `/proc/PID/fd/N`, a bind mount.
    Path(PathBuf),
    /// The namespace's inode number.
    Inode(u64),
}

impl Selector {
    /// All digits: an inode; starting with `/` or `.`: a path; otherwise a
    /// name (an image may hold `/`: `registry/app:2`).
    pub fn parse(text: &str) -> Selector {
        if let Ok(inode) = text.parse() {
            Selector::Inode(inode)
        } else if text.starts_with('/') || text.starts_with('.') {
            Selector::Path(text.into())
        } else {
            Selector::Name(text.to_owned())
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error(
        "--netns {0}: no network namespace has that ip netns name, and no container that name, id, image or pod"
    )]
    UnknownName(String),
    #[error("--netns {0}: no network namespace has that inode")]
    UnknownInode(u64),
    #[error("--netns {path}: {}", .errno.desc())]
    Unopenable { path: String, errno: Errno },
    #[error("--netns {0}: not a network namespace file")]
    NotNetns(String),
}

/// Resolves selectors to namespace ids, adding namespaces reachable only
/// through a given path to the discovery. Empty selectors select all.
/// `containers` says, on first need, which containers each namespace's
/// processes belong to.
pub fn resolve(
    selectors: &[Selector],
    discovery: &mut Discovery,
    containers: &mut dyn FnMut(&Discovery) -> Vec<(NetnsId, Container)>,
) -> Result<Option<Vec<NetnsId>>, SelectError> {
    if selectors.is_empty() {
        return Ok(None);
    }
    let mut chosen = Vec::new();
    let mut known: Option<Vec<(NetnsId, Container)>> = None;
    for selector in selectors {
        if let Selector::Name(name) = selector {
            let by_ip_name = discovery
                .candidates
                .iter()
                .any(|(_, c)| c.ip_names.contains(name));
            if !by_ip_name {
                let known = known.get_or_insert_with(|| containers(discovery));
                let ids: Vec<NetnsId> = known
                    .iter()
                    .filter(|(_, c)| c.is_named(name))
                    .map(|(id, _)| *id)
                    .collect();
                if ids.is_empty() {
                    return Err(SelectError::UnknownName(name.clone()));
                }
                for id in ids {
                    if !chosen.contains(&id) {
                        chosen.push(id);
                    }
                }
                continue;
            }
        }
        let id = match selector {
            Selector::Inode(inode) => discovery
                .candidates
                .keys()
                .copied()
                .find(|id| id.inode == *inode)
                .ok_or(SelectError::UnknownInode(*inode))?,
            Selector::Name(name) => discovery
                .candidates
                .iter()
                .find(|(_, c)| c.ip_names.contains(name))
                .map(|(id, _)| *id)
                .ok_or_else(|| SelectError::UnknownName(name.clone()))?,
            Selector::Path(path) => {
                let id = netns_at(path)?;
                let c = discovery.candidates.entry(id).or_default();
                c.sources.insert(NetnsSource::Argument);
                let text = path.to_string_lossy().into_owned();
                if text.starts_with("/proc/") {
                    c.aliases.insert(text);
                } else {
                    c.paths.insert(text);
                }
                c.open_paths.insert(0, path.clone());
                id
            }
        };
        if !chosen.contains(&id) {
            chosen.push(id);
        }
    }
    Ok(Some(chosen))
}

/// Identity of the network namespace at `path`, refusing anything else.
fn netns_at(path: &std::path::Path) -> Result<NetnsId, SelectError> {
    open_netns_at(path).map(|(_, id)| id)
}

/// The network namespace file at `path`, open, and its identity.
pub(super) fn open_netns_at(
    path: &std::path::Path,
) -> Result<(std::os::fd::OwnedFd, NetnsId), SelectError> {
    let unopenable = |errno| SelectError::Unopenable {
        path: path.display().to_string(),
        errno,
    };
    // Non-blocking: a FIFO at the path cannot hang the scan.
    let fd = crate::os::ns::open_nonblocking(path).map_err(unopenable)?;
    if !crate::os::ns::is_netns_file(fd.as_fd()) {
        return Err(SelectError::NotNetns(path.display().to_string()));
    }
    let id = crate::os::ns::identity(fd.as_fd()).map_err(unopenable)?;
    Ok((fd, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_kinds() {
        assert_eq!(Selector::parse("4026531840"), Selector::Inode(4026531840));
        assert_eq!(Selector::parse("blue"), Selector::Name("blue".into()));
        assert_eq!(
            Selector::parse("registry:5000/app:2"),
            Selector::Name("registry:5000/app:2".into())
        );
        assert_eq!(
            Selector::parse("k8s:shop/web"),
            Selector::Name("k8s:shop/web".into())
        );
        assert_eq!(
            Selector::parse("./pinned"),
            Selector::Path("./pinned".into())
        );
        assert_eq!(
            Selector::parse("/run/netns/blue"),
            Selector::Path("/run/netns/blue".into())
        );
    }

    #[test]
    fn a_path_that_is_not_a_netns_is_refused() {
        let err = netns_at(std::path::Path::new("/proc/self/ns/uts")).unwrap_err();
        assert!(matches!(err, SelectError::NotNetns(p) if p == "/proc/self/ns/uts"));
        let err = netns_at(std::path::Path::new("/nonexistent/ns")).unwrap_err();
        assert!(matches!(
            err,
            SelectError::Unopenable { path, errno: Errno::ENOENT } if path == "/nonexistent/ns"
        ));
        assert!(netns_at(std::path::Path::new("/proc/self/ns/net")).is_ok());
    }
}
