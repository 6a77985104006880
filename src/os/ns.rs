//! Namespace files and sockets' namespaces: opening an nsfs file and
//! checking what it is, running work on a thread inside a network
//! namespace, and asking a socket (held by another process) for its own.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sched::{CloneFlags, setns};
use nix::sys::stat::{Mode, fstat};

use crate::model::NetnsId;

/// True if `fd` is an nsfs file of a network namespace (`NS_GET_NSTYPE`).
pub fn is_netns_file(fd: BorrowedFd<'_>) -> bool {
    // NS_GET_NSTYPE = _IO(0xb7, 0x3)
    const NS_GET_NSTYPE: nix::libc::Ioctl = 0xb703;
    // SAFETY: `fd` is open for the duration of the call; the ioctl takes no argument.
    unsafe { nix::libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE) == nix::libc::CLONE_NEWNET }
}

/// The (device, inode) identity of an open file.
pub fn identity(fd: BorrowedFd<'_>) -> Result<NetnsId, Errno> {
    let st = fstat(fd)?;
    Ok(NetnsId {
        dev: st.st_dev,
        inode: st.st_ino,
    })
}

/// Opens `path` read-only without following it into a hang: `O_NONBLOCK`
/// and `O_NOCTTY`, so whatever another user put there (a FIFO, a tty)
/// cannot block the open or take a terminal.
pub fn open_nonblocking(path: &Path) -> Result<OwnedFd, Errno> {
    open(
        path,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// Why looking inside a namespace failed.
#[derive(Debug)]
pub enum EnterError {
    /// `setns` refused (EPERM: CAP_SYS_ADMIN is missing).
    Setns(Errno),
    /// The work panicked: a bug, not a privilege problem.
    Panicked,
}

/// Runs `work` on a fresh thread that has joined network namespace `fd`
/// (none joined when `fd` is `None`: it is already ours). `setns` changes
/// only the calling thread, and a thread that moved cannot be trusted to
/// move back cleanly, so the thread ends with the work.
pub fn run_inside<T: Send>(
    fd: Option<BorrowedFd<'_>>,
    work: impl FnOnce() -> T + Send,
) -> Result<T, EnterError> {
    std::thread::scope(|scope| {
        let thread = scope.spawn(|| {
            if let Some(fd) = fd {
                setns(fd, CloneFlags::CLONE_NEWNET).map_err(EnterError::Setns)?;
            }
            Ok(work())
        });
        thread.join().unwrap_or(Err(EnterError::Panicked))
    })
}

fn syscall_fd(result: nix::libc::c_long) -> Result<OwnedFd, Errno> {
    if result < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(result as i32) })
}

/// `pidfd_open(2)`: a descriptor for process `pid` that a reused pid cannot fool.
pub fn pidfd_open(pid: i32) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_open(2) takes a pid and flags and returns a descriptor.
    syscall_fd(unsafe { nix::libc::syscall(nix::libc::SYS_pidfd_open, pid, 0) })
}

/// `pidfd_getfd(2)`: a duplicate of the process's descriptor `fd`.
pub fn pidfd_getfd(pidfd: &OwnedFd, fd: i32) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_getfd(2) duplicates the target's descriptor into ours.
    syscall_fd(unsafe { nix::libc::syscall(nix::libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) })
}

/// `SIOCGSKNS`: a socket's network namespace, as a new nsfs descriptor.
pub fn socket_netns(socket: &OwnedFd) -> Result<OwnedFd, Errno> {
    /// `_IO(0x89, 0x4c)`.
    const SIOCGSKNS: nix::libc::Ioctl = 0x894c;
    // SAFETY: SIOCGSKNS takes no argument and returns a new descriptor.
    let fd = unsafe { nix::libc::ioctl(socket.as_raw_fd(), SIOCGSKNS) };
    syscall_fd(fd as nix::libc::c_long)
}

/// The inode of an open file (a socket's, to check a duplicate is the one).
pub fn inode(fd: &impl AsFd) -> Result<u64, Errno> {
    Ok(fstat(fd.as_fd())?.st_ino)
}
