//! `/proc`, reached only through directory descriptors, with an injectable
//! root: the live `/proc`, or a fixture tree shaped like it (see
//! `testdata/hosts/README.md`) so that discovery and attribution run
//! without root on recorded hosts.
//!
//! Every read is relative to an opened directory ([`ProcDir`]): once a
//! process's `/proc/PID` is open, a PID reused meanwhile makes reads fail
//! with ESRCH/ENOENT instead of mixing two processes. Every read is bounded.
//!
//! The one thing a fixture cannot copy is nsfs: on a live host a namespace
//! file is a magic link whose `stat` gives the namespace's (device, inode).
//! In a fixture it is a plain symlink whose text says `net:[INODE]` (as the
//! magic link's text does), on the device [`FIXTURE_NSFS_DEV`].

use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{Mode, fstatat};

use crate::model::NetnsId;

/// The nsfs device of every namespace in a fixture tree.
pub const FIXTURE_NSFS_DEV: u64 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Live,
    Fixture,
}

/// The root of a `/proc` tree.
pub struct ProcRoot {
    dir: ProcDir,
    path: PathBuf,
}

impl ProcRoot {
    /// The live `/proc`.
    pub fn live() -> Result<ProcRoot, Errno> {
        ProcRoot::open(Path::new("/proc"), Kind::Live)
    }

    /// A fixture tree (see the module docs).
    pub fn fixture(path: &Path) -> Result<ProcRoot, Errno> {
        ProcRoot::open(path, Kind::Fixture)
    }

    fn open(path: &Path, kind: Kind) -> Result<ProcRoot, Errno> {
        let fd = nix::fcntl::open(
            path,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(ProcRoot {
            dir: ProcDir { fd, kind },
            path: path.to_owned(),
        })
    }

    pub fn dir(&self) -> &ProcDir {
        &self.dir
    }

    /// A path under the root, for opening later (`1/ns/net` →
    /// `/proc/1/ns/net`) and for naming things to the user.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.path.join(relative)
    }

    /// Whether this is the live `/proc` (paths under it mean what they say
    /// to the kernel: magic links, not files).
    pub fn is_live(&self) -> bool {
        self.dir.kind == Kind::Live
    }

    /// `/proc/PID`, opened.
    pub fn process(&self, pid: i32) -> Result<ProcDir, Errno> {
        self.dir.open_dir(&decimal(pid as u64))
    }

    /// Every numeric entry: the pids.
    pub fn pids(&self) -> Result<Vec<i32>, Errno> {
        Ok(self
            .dir
            .numbers()?
            .into_iter()
            .filter_map(|n| i32::try_from(n).ok())
            .collect())
    }
}

/// An opened folder of a `/proc` tree.
pub struct ProcDir {
    fd: OwnedFd,
    kind: Kind,
}

impl ProcDir {
    pub fn open_dir(&self, name: &CStr) -> Result<ProcDir, Errno> {
        let fd = openat(
            self.fd.as_fd(),
            name,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(ProcDir {
            fd,
            kind: self.kind,
        })
    }

    /// The numeric entries (pids, tids, descriptor numbers), in the order
    /// the kernel lists them; others are skipped.
    pub fn numbers(&self) -> Result<Vec<u64>, Errno> {
        // A descriptor of its own: a dup would share (and move) the offset.
        let mut dir = Dir::from_fd(openat(
            self.fd.as_fd(),
            c".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?)?;
        let mut out = Vec::new();
        for entry in dir.iter() {
            if let Some(n) = parse_decimal(entry?.file_name().to_bytes()) {
                out.push(n);
            }
        }
        Ok(out)
    }

    /// The namespace a namespace file names (`ns/net`, `fd/7`, …).
    pub fn ns_id(&self, name: &CStr) -> Result<NetnsId, Errno> {
        match self.kind {
            Kind::Live => {
                let st = fstatat(self.fd.as_fd(), name, AtFlags::empty())?;
                Ok(NetnsId {
                    dev: st.st_dev,
                    inode: st.st_ino,
                })
            }
            Kind::Fixture => {
                let mut buf = [0u8; 128];
                let text = self.readlink(name, &mut buf)?;
                let inner = text
                    .iter()
                    .position(|&b| b == b'[')
                    .and_then(|i| text[i + 1..].strip_suffix(b"]"))
                    .and_then(parse_decimal)
                    .ok_or(Errno::EINVAL)?;
                Ok(NetnsId {
                    dev: FIXTURE_NSFS_DEV,
                    inode: inner,
                })
            }
        }
    }

    /// Whether `name` (a descriptor link) is a network namespace's nsfs
    /// file, and which: the link text names the inode at best, and nsfs
    /// files of other namespace types look alike, so on a live host the
    /// file is opened and the kernel asked its type.
    pub fn netns_at(&self, name: &CStr, nsfs_dev: Option<u64>) -> Option<NetnsId> {
        let ns = self.ns_id(name).ok()?;
        if Some(ns.dev) != nsfs_dev {
            return None;
        }
        match self.kind {
            Kind::Live => {
                let fd = openat(
                    self.fd.as_fd(),
                    name,
                    OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .ok()?;
                super::ns::is_netns_file(fd.as_fd()).then_some(ns)
            }
            Kind::Fixture => {
                let mut buf = [0u8; 128];
                let text = self.readlink(name, &mut buf).ok()?;
                text.starts_with(b"net:[").then_some(ns)
            }
        }
    }

    /// `readlinkat` into a caller-owned buffer: no allocation per
    /// descriptor. Targets longer than the buffer are cut, which is fine
    /// for the links read here (`socket:[…]`, `net:[…]`).
    pub fn readlink<'b>(&self, name: &CStr, buf: &'b mut [u8]) -> Result<&'b [u8], Errno> {
        // SAFETY: `name` is NUL-terminated, `buf` is valid for `buf.len()`
        // bytes, and the descriptor is open for the call.
        let n = unsafe {
            nix::libc::readlinkat(
                self.fd.as_raw_fd(),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n < 0 {
            return Err(Errno::last());
        }
        Ok(&buf[..n as usize])
    }

    /// A whole link target, up to PATH_MAX (`exe`).
    pub fn readlink_owned(&self, name: &CStr) -> Result<Vec<u8>, Errno> {
        let mut buf = vec![0u8; 4096];
        let n = self.readlink(name, &mut buf)?.len();
        buf.truncate(n);
        Ok(buf)
    }

    /// Reads the file `name` to at most `limit` bytes (more is cut: these
    /// are kernel-written files whose head is what matters). Never blocks:
    /// in a fixture, or through a process's root, a FIFO may stand there.
    pub fn read(&self, name: &CStr, limit: usize) -> Result<Vec<u8>, Errno> {
        let fd = openat(
            self.fd.as_fd(),
            name,
            OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        let mut out = Vec::new();
        let mut chunk = [0u8; 4096];
        while out.len() < limit {
            let want = chunk.len().min(limit - out.len());
            match nix::unistd::read(&fd, &mut chunk[..want]) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&chunk[..n]),
                Err(Errno::EINTR) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The folder `name` beneath this one, not through a link (a runtime's
    /// state folder, reached through a process's `cwd` or `root`).
    pub fn open_dir_nofollow(&self, name: &CStr) -> Result<ProcDir, Errno> {
        let fd = openat(
            self.fd.as_fd(),
            name,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(ProcDir {
            fd,
            kind: self.kind,
        })
    }

    /// A regular file at `path` beneath this folder taken as the root (as
    /// the process whose `root` this is sees it): links are resolved inside
    /// it, never through `/proc` magic links, never out of it; the file is
    /// opened without blocking and must be regular and at most `limit`
    /// bytes. With its owner's uid, for the caller to judge whom to trust.
    pub fn read_beneath(&self, path: &Path, limit: usize) -> Result<(Vec<u8>, u32), Errno> {
        use nix::fcntl::{OpenHow, ResolveFlag, openat2};
        let how = OpenHow::new()
            .flags(OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        let relative = path.strip_prefix("/").unwrap_or(path);
        let fd = openat2(self.fd.as_fd(), relative, how)?;
        read_regular(fd, limit)
    }

    /// The regular file `name` in this folder (not through a link), at most
    /// `limit` bytes, with its owner's uid.
    pub fn read_regular(&self, name: &CStr, limit: usize) -> Result<(Vec<u8>, u32), Errno> {
        let fd = openat(
            self.fd.as_fd(),
            name,
            OFlag::O_RDONLY
                | OFlag::O_NONBLOCK
                | OFlag::O_NOCTTY
                | OFlag::O_NOFOLLOW
                | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        read_regular(fd, limit)
    }
}

/// A regular file's bytes (refusing anything else, and anything longer than
/// `limit`: a runtime's state file is small) and its owner's uid.
fn read_regular(fd: OwnedFd, limit: usize) -> Result<(Vec<u8>, u32), Errno> {
    let stat = nix::sys::stat::fstat(&fd)?;
    if stat.st_mode & nix::libc::S_IFMT != nix::libc::S_IFREG {
        return Err(Errno::EINVAL);
    }
    if stat.st_size as u64 > limit as u64 {
        return Err(Errno::EFBIG);
    }
    let mut out = Vec::with_capacity(stat.st_size as usize);
    let mut chunk = [0u8; 8192];
    loop {
        match nix::unistd::read(&fd, &mut chunk) {
            Ok(0) => break,
            Ok(n) if out.len() + n > limit => return Err(Errno::EFBIG),
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok((out, stat.st_uid))
}

/// `123` → `c"123"`.
pub fn decimal(n: u64) -> CString {
    CString::new(n.to_string()).expect("digits hold no NUL")
}

/// A number as a NUL-terminated name, on the stack: the walk names one
/// descriptor per `readlinkat`, and allocating for each would cost more
/// than the system call's bookkeeping.
pub struct DecimalName {
    buf: [u8; 21],
    start: usize,
}

impl DecimalName {
    pub fn new(mut n: u64) -> DecimalName {
        let mut buf = [0u8; 21];
        let mut start = buf.len() - 1; // the last byte stays NUL
        loop {
            start -= 1;
            buf[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        DecimalName { buf, start }
    }

    pub fn as_cstr(&self) -> &CStr {
        CStr::from_bytes_with_nul(&self.buf[self.start..]).expect("digits, then one NUL")
    }
}

pub fn parse_decimal(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || bytes.len() > 19 {
        return None;
    }
    bytes.iter().try_fold(0u64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_names() {
        for n in [0, 7, 10, 4026531840, u64::MAX] {
            assert_eq!(DecimalName::new(n).as_cstr(), decimal(n).as_c_str());
        }
    }

    #[test]
    fn decimal_parsing_rejects_non_digits_and_overflow() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"4194304"), Some(4194304));
        assert_eq!(parse_decimal(b""), None);
        assert_eq!(parse_decimal(b"self"), None);
        assert_eq!(parse_decimal(b"99999999999999999999"), None);
    }

    #[test]
    fn the_live_root_lists_this_process() {
        let root = ProcRoot::live().unwrap();
        let me = std::process::id() as i32;
        assert!(root.pids().unwrap().contains(&me));
        let dir = root.process(me).unwrap();
        let comm = dir.read(c"comm", 64).unwrap();
        assert!(comm.ends_with(b"\n"));
        assert!(dir.ns_id(c"ns/net").is_ok());
    }
}
