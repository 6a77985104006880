//! Files portcullis reads and writes while it runs as root beside users who
//! may be hostile: reports, baselines and cache entries are written without
//! ever following a link or truncating someone else's file, and the files it
//! reads (policy, inventory, baseline, plugins) are bounded in size and never
//! block.
//!
//! Writing: the folder is opened once; the temporary file gets an
//! unpredictable name and is created with `O_CREAT | O_EXCL | O_NOFOLLOW`
//! relative to that folder's descriptor, synced, and `renameat` puts it in
//! place. A name that exists and is not a regular file (a link, `/dev/null`,
//! a FIFO) is refused: replacing it would destroy it, and writing through it
//! would write somewhere the user did not name.
//!
//! Reading: opened with `O_NONBLOCK | O_NOCTTY` (a FIFO or a tty cannot make
//! the open hang), checked on the descriptor to be a regular file, and read
//! to at most a cap.

use std::fmt;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat, renameat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, fstatat};
use nix::unistd::{UnlinkatFlags, fsync, unlinkat};

/// Why a file could not be written or read.
#[derive(Debug)]
pub enum FileError {
    /// The path names no file (`/`, `..`, empty).
    NotAFilePath,
    /// What is there is not a regular file (a link, a device, a FIFO, a folder).
    NotRegular(&'static str),
    /// Over the size cap for this kind of file.
    TooLarge { limit: u64 },
    /// The folder to write in cannot be opened as a folder.
    Folder(std::io::Error),
    /// The system said no.
    Io(std::io::Error),
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::NotAFilePath => write!(f, "not a file path"),
            FileError::NotRegular(kind) => write!(f, "it is {kind}, not a regular file"),
            FileError::TooLarge { limit } => write!(f, "larger than {limit} bytes"),
            FileError::Folder(e) => write!(f, "its folder cannot be opened: {e}"),
            FileError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for FileError {}

impl From<Errno> for FileError {
    fn from(e: Errno) -> Self {
        FileError::Io(std::io::Error::from(e))
    }
}

impl From<std::io::Error> for FileError {
    fn from(e: std::io::Error) -> Self {
        FileError::Io(e)
    }
}

/// What a file type is, in words, for a refusal.
fn kind(stat: &FileStat) -> Option<&'static str> {
    let kind = match SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits()) {
        SFlag::S_IFREG => return None,
        SFlag::S_IFLNK => "a symbolic link",
        SFlag::S_IFDIR => "a folder",
        SFlag::S_IFCHR => "a character device",
        SFlag::S_IFBLK => "a block device",
        SFlag::S_IFIFO => "a FIFO",
        SFlag::S_IFSOCK => "a socket",
        _ => "of an unknown type",
    };
    Some(kind)
}

fn split(path: &Path) -> Result<(&Path, &std::ffi::OsStr), FileError> {
    let name = path.file_name().ok_or(FileError::NotAFilePath)?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Ok((dir, name))
}

fn open_dir(dir: &Path) -> Result<OwnedFd, FileError> {
    nix::fcntl::open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| FileError::Folder(e.into()))
}

/// Refuses a name that exists and is not a regular file (not following a
/// link there). A missing file is fine: it will be created.
fn check_existing(dir: impl AsFd, name: &std::ffi::OsStr) -> Result<(), FileError> {
    match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(stat) => match kind(&stat) {
            Some(kind) => Err(FileError::NotRegular(kind)),
            None => Ok(()),
        },
        Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Checks before a run that `path` can take a report: its folder opens as a
/// folder, and the name is free or a regular file.
pub fn check_writable(path: &Path) -> Result<(), FileError> {
    let (dir, name) = split(path)?;
    let dir = open_dir(dir)?;
    check_existing(&dir, name)
}

/// A name for a temporary file beside `name` that another user cannot guess.
fn temporary_name(name: &std::ffi::OsStr, attempt: u32) -> std::ffi::OsString {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u32(attempt);
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".{:016x}.tmp", hasher.finish()));
    tmp
}

/// Writes `bytes` to `path` atomically, never through a link: a fresh
/// temporary file beside it (so the rename stays on one filesystem), synced,
/// renamed over `path`, and the folder synced.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let (dir_path, name) = split(path)?;
    write_atomic_in(&open_dir(dir_path)?, name, bytes)
}

/// `write_atomic` of `name` in the open folder `dir`.
pub fn write_atomic_in(
    dir: &OwnedFd,
    name: &std::ffi::OsStr,
    bytes: &[u8],
) -> Result<(), FileError> {
    check_existing(dir, name)?;
    let flags =
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mut attempt = 0;
    let (tmp, fd) = loop {
        let tmp = temporary_name(name, attempt);
        match openat(dir, tmp.as_os_str(), flags, Mode::from_bits_truncate(0o644)) {
            Ok(fd) => break (tmp, fd),
            Err(Errno::EEXIST) if attempt < 16 => attempt += 1,
            Err(e) => return Err(e.into()),
        }
    };
    let result = (|| -> Result<(), FileError> {
        let mut file = File::from(fd);
        file.write_all(bytes)?;
        file.sync_all()?;
        // A rename replaces a link planted at `name` meanwhile; it never
        // writes through it.
        renameat(dir, tmp.as_os_str(), dir, name)?;
        fsync(dir)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = unlinkat(dir, tmp.as_os_str(), UnlinkatFlags::NoRemoveDir);
    }
    result
}

/// Opens `path` for reading without blocking on a FIFO or a tty and checks,
/// on the descriptor, that it is a regular file.
pub fn open_regular(path: &Path) -> Result<File, FileError> {
    let fd = nix::fcntl::open(path, READ_FLAGS, Mode::empty())?;
    regular(fd)
}

/// `open_regular` of `name` in the open folder `dir`, not following a link
/// there.
pub fn open_regular_in(dir: &OwnedFd, name: &str) -> Result<File, FileError> {
    let fd = openat(dir, name, READ_FLAGS | OFlag::O_NOFOLLOW, Mode::empty())?;
    regular(fd)
}

const READ_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_NONBLOCK)
    .union(OFlag::O_NOCTTY)
    .union(OFlag::O_CLOEXEC);

/// The descriptor as a file, if it is a regular one.
fn regular(fd: OwnedFd) -> Result<File, FileError> {
    let stat = fstat(&fd)?;
    if let Some(kind) = kind(&stat) {
        return Err(FileError::NotRegular(kind));
    }
    Ok(File::from(fd))
}

/// Reads at most `limit` bytes of the regular file `file`; more is an error.
pub fn read_to_limit(file: File, limit: u64) -> Result<Vec<u8>, FileError> {
    // Sized from fstat (a hint: the file may still change), so a large
    // file is read into one buffer instead of one doubled and copied over.
    let hint = file.metadata().map_or(0, |m| m.len().min(limit)) as usize;
    let mut bytes = Vec::with_capacity(hint.saturating_add(1));
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(FileError::TooLarge { limit });
    }
    Ok(bytes)
}

/// `open_regular` then `read_to_limit`.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    read_to_limit(open_regular(path)?, limit)
}

/// Where an open descriptor really is, every link resolved.
pub fn real_path(fd: &impl AsFd) -> Result<std::path::PathBuf, FileError> {
    use std::os::fd::AsRawFd;
    Ok(std::fs::read_link(format!(
        "/proc/self/fd/{}",
        fd.as_fd().as_raw_fd()
    ))?)
}

/// A folder above a file lets someone else change what the file is.
#[derive(Debug, thiserror::Error)]
pub enum AncestryError {
    #[error("cannot check its folder {}: {errno}", folder.display())]
    Unreadable { folder: PathBuf, errno: Errno },
    #[error("its folder {} is writable by other users (mode {mode:o}, owner uid {uid})", folder.display())]
    Writable {
        folder: PathBuf,
        mode: u32,
        uid: u32,
    },
}

/// Checks that no one but root and us can change what `real` (a resolved
/// path, owned by `owner`) leads to: every folder above it is owned by root
/// or us and writable by no one else, unless it is sticky (like /tmp: others
/// may add entries there but cannot rename or replace ours).
pub fn check_ancestry(real: &Path, owner: u32) -> Result<(), AncestryError> {
    let euid = nix::unistd::geteuid().as_raw();
    let trusted = |uid: u32| uid == 0 || uid == euid;
    let mut child_uid = owner;
    for dir in real.ancestors().skip(1) {
        let stat = nix::sys::stat::lstat(dir).map_err(|errno| AncestryError::Unreadable {
            folder: dir.to_owned(),
            errno,
        })?;
        let mode = stat.st_mode & 0o7777;
        let sticky_over_trusted = mode & 0o1000 != 0 && trusted(child_uid);
        if !trusted(stat.st_uid) || (mode & 0o022 != 0 && !sticky_over_trusted) {
            return Err(AncestryError::Writable {
                folder: dir.to_owned(),
                mode,
                uid: stat.st_uid,
            });
        }
        child_uid = stat.st_uid;
    }
    Ok(())
}

/// The effective uid portcullis runs as.
pub fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// Why a file that root would run is refused.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("cannot read it: {0}")]
    Read(FileError),
    #[error("the file is writable by other users (mode {mode:o}, owner uid {uid})")]
    Writable { mode: u32, uid: u32 },
    #[error("cannot resolve where it is: {0}")]
    Resolve(FileError),
    #[error(transparent)]
    Ancestry(AncestryError),
}

/// Reads a file whose content will run in this process (a plugin) the way
/// root must: opened once (never blocking on a FIFO), checked on that
/// descriptor (root-owned, writable by no one else), its real path's every
/// ancestor checked, and read from the descriptor that was checked, so
/// swapping the file, or a link into a folder others can write, cannot slip
/// another file in. Running as another user, only the regular-file and size
/// checks apply.
pub fn read_trusted(path: &Path, limit: u64) -> Result<Vec<u8>, TrustError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let file = open_regular(path).map_err(TrustError::Read)?;
    if euid() == 0 {
        let meta = file.metadata().map_err(|e| TrustError::Read(e.into()))?;
        let mode = meta.permissions().mode() & 0o7777;
        if meta.uid() != 0 || mode & 0o022 != 0 {
            return Err(TrustError::Writable {
                mode,
                uid: meta.uid(),
            });
        }
        let real = real_path(&file).map_err(TrustError::Resolve)?;
        check_ancestry(&real, meta.uid()).map_err(TrustError::Ancestry)?;
    }
    read_to_limit(file, limit).map_err(TrustError::Read)
}

/// Why a folder is not private to this user.
#[derive(Debug, thiserror::Error)]
pub enum PrivateDirError {
    #[error("cannot open it as a folder (a link is refused): {0}")]
    Open(Errno),
    #[error("cannot check it: {0}")]
    Stat(Errno),
    #[error("it is not private to this user (mode {mode:o}, owner uid {uid})")]
    Shared { mode: u32, uid: u32 },
    #[error("{0}")]
    Resolve(FileError),
    #[error(transparent)]
    Ancestry(AncestryError),
}

/// Opens a folder of ours (a cache), creating it 0700 if it is missing,
/// and keeps it only if it is private to us: owned by our euid, mode 0700
/// or stricter, not a link, under folders no one else can change. Checked
/// on the opened descriptor, which every later access goes through. A
/// folder portcullis did not create never has its mode changed.
pub fn open_private_dir(dir: &Path) -> Result<OwnedFd, PrivateDirError> {
    use std::os::unix::fs::DirBuilderExt;
    let _ = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir);
    let fd = nix::fcntl::open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(PrivateDirError::Open)?;
    let stat = fstat(&fd).map_err(PrivateDirError::Stat)?;
    if stat.st_uid != euid() || stat.st_mode & 0o077 != 0 {
        return Err(PrivateDirError::Shared {
            mode: stat.st_mode & 0o7777,
            uid: stat.st_uid,
        });
    }
    let real = real_path(&fd).map_err(PrivateDirError::Resolve)?;
    check_ancestry(&real, stat.st_uid).map_err(PrivateDirError::Ancestry)?;
    Ok(fd)
}

/// A file of ours in the open folder `dir`: regular, not a link, owned by
/// our euid, at most `limit` bytes. `None` for anything else.
pub fn read_own_in(dir: &OwnedFd, name: &str, limit: u64) -> Option<Vec<u8>> {
    use std::os::unix::fs::MetadataExt;
    let file = open_regular_in(dir, name).ok()?;
    if file.metadata().ok()?.uid() != euid() {
        return None;
    }
    read_to_limit(file, limit).ok()
}

/// Removes the regular file at `path`, if one is there: a report an earlier
/// run left, which must not pass for this run's. A link, a device or
/// anything else at that name is left alone (unlinking the name never
/// follows it, but only our kind of file is ours to remove).
pub fn remove_stale(path: &Path) {
    let Ok((dir, name)) = split(path) else {
        return;
    };
    let Ok(dir) = open_dir(dir) else { return };
    if matches!(fstatat(&dir, name, AtFlags::AT_SYMLINK_NOFOLLOW), Ok(st) if kind(&st).is_none()) {
        let _ = unlinkat(&dir, name, UnlinkatFlags::NoRemoveDir);
    }
}

/// The names in folder `path`, at most `limit` of them (a folder with more
/// is cut there, in the order the system lists it).
pub fn list_dir(path: &Path, limit: usize) -> std::io::Result<Vec<std::ffi::OsString>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(path)?.take(limit) {
        names.push(entry?.file_name());
    }
    Ok(names)
}

/// A small text file (a unit file, os-release): regular, never blocking,
/// at most `limit` bytes, invalid UTF-8 replaced.
pub fn read_text(path: &Path, limit: u64) -> Result<String, FileError> {
    let bytes = read_bounded(path, limit)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Whether `path` leads to a regular file (links followed).
pub fn is_regular(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
}

/// Caps on what portcullis reads, per kind of file.
pub mod limits {
    /// A policy file: hand-written; 8,000 allowlist entries fit in 2 MiB.
    pub const POLICY: u64 = 16 << 20;
    /// A saved inventory or JSON report (a fleet host's can be large).
    pub const INVENTORY: u64 = 1 << 30;
    /// A baseline file.
    pub const BASELINE: u64 = 256 << 20;
    /// A plugin component.
    pub const PLUGIN: u64 = 64 << 20;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("pc-safefs-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn writes_replace_regular_files_and_leave_no_temporaries() {
        let dir = scratch("write");
        let path = dir.join("r.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn never_writes_through_or_over_a_link_or_a_fifo() {
        let dir = scratch("link");
        let victim = dir.join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let link = dir.join("r.json");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        assert!(matches!(
            write_atomic(&link, b"x"),
            Err(FileError::NotRegular("a symbolic link"))
        ));
        assert!(check_writable(&link).is_err());
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        let fifo = dir.join("fifo");
        nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o600)).unwrap();
        assert!(matches!(
            write_atomic(&fifo, b"x"),
            Err(FileError::NotRegular("a FIFO"))
        ));
        assert!(matches!(
            read_bounded(&fifo, 10),
            Err(FileError::NotRegular("a FIFO"))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn devices_are_refused_and_reads_are_capped() {
        assert!(matches!(
            check_writable(Path::new("/dev/null")),
            Err(FileError::NotRegular("a character device"))
        ));
        assert!(matches!(
            read_bounded(Path::new("/dev/zero"), 10),
            Err(FileError::NotRegular("a character device"))
        ));
        let dir = scratch("cap");
        let big = dir.join("big");
        std::fs::write(&big, vec![b'a'; 11]).unwrap();
        assert!(matches!(
            read_bounded(&big, 10),
            Err(FileError::TooLarge { limit: 10 })
        ));
        assert_eq!(read_bounded(&big, 11).unwrap().len(), 11);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
