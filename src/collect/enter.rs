//! Entering a network namespace to look inside it.
//!
//! `setns(CLONE_NEWNET)` changes only the calling thread, and a thread that
//! has moved cannot be trusted to move back cleanly if something fails, so
//! each namespace is examined on a short-lived thread of its own that ends
//! when the work is done. The main thread never changes namespace.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::model::NetnsId;
use crate::os::Errno;
pub use crate::os::ns::EnterError;

/// An open nsfs file, verified to be the namespace it was looked up as.
pub struct NetnsHandle {
    fd: OwnedFd,
    /// Already the namespace of this process: no `setns` needed (and none
    /// possible without privileges).
    is_own: bool,
}

#[derive(Debug)]
pub enum OpenFailure {
    /// Every path is gone: the namespace was freed during the scan.
    Vanished,
    /// Some path exists but could not be opened.
    Denied { path: PathBuf, errno: Errno },
    /// Some path that named the namespace now names something else, and it
    /// is not a reused `/proc` PID: covered by another mount, or replaced.
    /// Not proven gone, so not "vanished".
    Covered { path: PathBuf },
}

/// Why a path did not give the namespace.
enum PathFailure {
    Errno(Errno),
    /// It opened, but as another file.
    Mismatch,
}

/// Opens the first of `paths` that still refers to namespace `id`.
/// A path that now names another namespace (a recycled PID) is skipped.
pub fn open_netns(
    id: NetnsId,
    paths: &[PathBuf],
    own: Option<NetnsId>,
) -> Result<NetnsHandle, OpenFailure> {
    let mut failure = None;
    for path in paths {
        match open_verified(path, id) {
            Ok(fd) => {
                return Ok(NetnsHandle {
                    fd,
                    is_own: own == Some(id),
                });
            }
            // That process (or descriptor) is gone.
            Err(PathFailure::Errno(Errno::ENOENT | Errno::ESRCH)) => {}
            // A process's own link naming another namespace: the PID was reused.
            Err(PathFailure::Mismatch) if names_a_process_link(path) => {}
            Err(PathFailure::Mismatch) => {
                failure.get_or_insert(OpenFailure::Covered { path: path.clone() });
            }
            Err(PathFailure::Errno(errno)) => {
                failure.get_or_insert(OpenFailure::Denied {
                    path: path.clone(),
                    errno,
                });
            }
        }
    }
    Err(failure.unwrap_or(OpenFailure::Vanished))
}

/// `/proc/PID/ns/net`, `/proc/PID/task/TID/ns/net`, `/proc/PID/fd/N`: links
/// whose meaning moves with the PID. A path through `/proc/PID/root/` is a
/// file in that process's mount namespace, which another file can cover.
fn names_a_process_link(path: &Path) -> bool {
    let text = path.as_os_str().as_encoded_bytes();
    text.starts_with(b"/proc/") && !text.windows(6).any(|w| w == b"/root/")
}

/// Opens `path` and checks that it is namespace `id`. Whatever another
/// user has put at that path (a FIFO, a tty) cannot make the open hang; it
/// is then refused as a mismatch.
fn open_verified(path: &Path, id: NetnsId) -> Result<OwnedFd, PathFailure> {
    let fd = crate::os::ns::open_nonblocking(path).map_err(PathFailure::Errno)?;
    if crate::os::ns::identity(fd.as_fd()).map_err(PathFailure::Errno)? != id {
        return Err(PathFailure::Mismatch);
    }
    Ok(fd)
}

/// Runs `work` on a fresh thread that has joined the namespace.
pub fn run_inside<T: Send>(
    handle: &NetnsHandle,
    work: impl FnOnce() -> T + Send,
) -> Result<T, EnterError> {
    let fd = (!handle.is_own).then(|| handle.fd.as_fd());
    crate::os::ns::run_inside(fd, work)
}
