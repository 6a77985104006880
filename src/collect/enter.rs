//! Entering a network namespace to look inside it.
//!
//! `setns(CLONE_NEWNET)` changes only the calling thread, and a thread that
//! has moved cannot be trusted to move back cleanly if something fails, so
//! each namespace is examined on a short-lived thread of its own that ends
//! when the work is done. The main thread never changes namespace.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sched::{CloneFlags, setns};
use nix::sys::stat::{Mode, fstat};

use crate::model::NetnsId;

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
}

/// Opens the first of `paths` that still refers to namespace `id`.
/// A path that now names another namespace (a recycled PID) is skipped.
pub fn open_netns(
    id: NetnsId,
    paths: &[PathBuf],
    own: Option<NetnsId>,
) -> Result<NetnsHandle, OpenFailure> {
    let mut denied = None;
    for path in paths {
        match open_verified(path, id) {
            Ok(fd) => {
                return Ok(NetnsHandle {
                    fd,
                    is_own: own == Some(id),
                });
            }
            Err(Errno::ENOENT | Errno::ESRCH | Errno::ESTALE) => {}
            Err(errno) => {
                denied.get_or_insert((path.clone(), errno));
            }
        }
    }
    match denied {
        Some((path, errno)) => Err(OpenFailure::Denied { path, errno }),
        None => Err(OpenFailure::Vanished),
    }
}

fn open_verified(path: &Path, id: NetnsId) -> Result<OwnedFd, Errno> {
    let fd = open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())?;
    let st = fstat(&fd)?;
    if st.st_dev != id.dev || st.st_ino != id.inode {
        return Err(Errno::ESTALE);
    }
    Ok(fd)
}

/// Runs `work` on a fresh thread that has joined the namespace.
pub fn run_inside<T: Send>(
    handle: &NetnsHandle,
    work: impl FnOnce() -> T + Send,
) -> Result<T, Errno> {
    std::thread::scope(|scope| {
        let thread = scope.spawn(|| {
            if !handle.is_own {
                setns(handle.fd.as_fd(), CloneFlags::CLONE_NEWNET)?;
            }
            Ok(work())
        });
        thread.join().unwrap_or(Err(Errno::EFAULT))
    })
}
