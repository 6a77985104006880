//! Details of the processes that hold listening sockets: name, executable,
//! command line, uid, systemd unit and container.
//!
//! Read only for holder processes, once each. Names and command lines are
//! kept as raw bytes ([`ByteText`]); nothing here assumes UTF-8.

use std::collections::HashMap;
use std::sync::Arc;

use crate::model::{ByteText, ProcessDetails};
use crate::os::proc::{ProcRoot, decimal};

use super::cgroup;

/// Bounds on what one process's files give: a command line is at most the
/// kernel's argument limit (a few MiB), the others are small.
const CMDLINE_BYTES: usize = 8 << 20;
const SMALL_FILE_BYTES: usize = 64 << 10;

/// Reads one process, through one opened `/proc/PID`, so every detail is
/// of the same process; and only if that process still holds socket
/// `inode` at descriptor `fd`, so a pid reused since the walk is not taken
/// for the holder. `None` if it exited (or is not the holder any more).
pub fn read(root: &ProcRoot, pid: i32, fd: i32, inode: u64) -> Option<ProcessDetails> {
    let dir = root.process(pid).ok()?;
    if !holds(&dir, fd, inode) {
        return None;
    }
    let mut comm = dir.read(c"comm", SMALL_FILE_BYTES).ok()?;
    if comm.last() == Some(&b'\n') {
        comm.pop();
    }
    let exe = dir.readlink_owned(c"exe").ok().map(ByteText::new);
    let cmdline = dir
        .read(c"cmdline", CMDLINE_BYTES)
        .map(|raw| split_cmdline(&raw))
        .unwrap_or_default();
    let uid = dir
        .read(c"status", SMALL_FILE_BYTES)
        .ok()
        .and_then(|status| effective_uid(&status));
    let cgroup_text = dir
        .read(c"cgroup", SMALL_FILE_BYTES)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let path = cgroup::systemd_path(&cgroup_text);
    let unit = path.and_then(cgroup::unit);
    // Looked up through the process's own root: a chrooted or containerised
    // service's unit lives in its image, not on the host.
    let unit_file = unit
        .as_deref()
        .and_then(|u| super::socket_units::unit_file(&root.path(&format!("{pid}/root")), u));
    Some(ProcessDetails {
        comm: ByteText::new(comm),
        exe,
        cmdline,
        uid,
        unit,
        unit_file,
        activates: None,
        container: path.and_then(cgroup::container),
    })
}

/// Whether the process at `dir` has socket `inode` at descriptor `fd`: in
/// its own table, or (its leader having exited, which empties `fd/`) in a
/// live thread's.
fn holds(dir: &crate::os::proc::ProcDir, fd: i32, inode: u64) -> bool {
    use super::procwalk::{FdLink, classify_link};
    let mut link = [0u8; 64];
    let name = decimal_path("fd/", fd);
    if let Ok(held) = dir.readlink(&name, &mut link) {
        return classify_link(held) == FdLink::Socket(inode);
    }
    let Ok(tasks) = dir.open_dir(c"task") else {
        return false;
    };
    tasks.numbers().unwrap_or_default().into_iter().any(|tid| {
        tasks
            .open_dir(&decimal(tid))
            .and_then(|task| Ok(classify_link(task.readlink(&name, &mut link)?)))
            .is_ok_and(|held| held == FdLink::Socket(inode))
    })
}

/// `fd/7` as a C string.
fn decimal_path(prefix: &str, n: i32) -> std::ffi::CString {
    let mut bytes = prefix.as_bytes().to_vec();
    bytes.extend_from_slice(decimal(n as u64).as_bytes());
    std::ffi::CString::new(bytes).expect("no NUL in a path of digits")
}

/// The effective uid from `/proc/PID/status` (`Uid:\treal\teffective\t…`),
/// read as bytes: the `Name:` line above it holds whatever bytes the
/// process chose, which need not be UTF-8.
pub fn effective_uid(status: &[u8]) -> Option<u32> {
    let line = status
        .split(|&b| b == b'\n')
        .find_map(|l| l.strip_prefix(b"Uid:"))?;
    let field = line
        .split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty())
        .nth(1)?;
    std::str::from_utf8(field).ok()?.parse().ok()
}

/// `/proc/PID/cmdline` is NUL-separated with a trailing NUL; processes that
/// rewrite their title may use spaces instead. Empty arguments are kept,
/// but not trailing ones: a process that sets its title (nginx's "nginx:
/// worker process") pads the rest of its old argument area with NULs, which
/// would read as dozens of empty arguments. (A real trailing `""` argument
/// is lost with them: it cannot be told apart.)
pub fn split_cmdline(raw: &[u8]) -> Vec<ByteText> {
    let end = raw.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let trimmed = &raw[..end];
    if trimmed.is_empty() {
        return Vec::new();
    }
    trimmed.split(|&b| b == 0).map(ByteText::new).collect()
}

/// Reads each pid once, checked against the first socket it is asked for.
#[derive(Default)]
pub struct ProcessCache(HashMap<i32, Option<Arc<ProcessDetails>>>);

impl ProcessCache {
    pub fn get(
        &mut self,
        root: &ProcRoot,
        pid: i32,
        fd: i32,
        inode: u64,
    ) -> Option<&Arc<ProcessDetails>> {
        self.0
            .entry(pid)
            .or_insert_with(|| read(root, pid, fd, inode).map(Arc::new))
            .as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_uid_survives_a_name_that_is_not_utf8() {
        let status = b"Name:\tev\xffil\nUmask:\t0022\nUid:\t1000\t0\t0\t0\nGid:\t1\t1\t1\t1\n";
        assert_eq!(effective_uid(status), Some(0));
        assert_eq!(effective_uid(b"Name:\tx\n"), None);
    }

    #[test]
    fn cmdline_keeps_empty_and_non_utf8_arguments() {
        let args = split_cmdline(b"nginx\0-g\0\0\xff\0");
        assert_eq!(
            args,
            [
                ByteText::from("nginx"),
                ByteText::from("-g"),
                ByteText::from(""),
                ByteText::new(vec![0xff])
            ]
        );
        assert!(split_cmdline(b"").is_empty());
        assert!(split_cmdline(b"\0\0").is_empty());
        // nginx's worker title, padded as a real nginx pads it.
        assert_eq!(
            split_cmdline(b"nginx: worker process\0\0\0\0\0\0"),
            [ByteText::from("nginx: worker process")]
        );
        assert_eq!(
            split_cmdline(b"nginx: master process"),
            [ByteText::from("nginx: master process")]
        );
    }

    #[test]
    fn reads_this_process_only_while_it_holds_the_socket() {
        use std::os::fd::AsRawFd;
        let root = ProcRoot::live().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let inode = crate::os::ns::inode(&listener).unwrap();
        let (pid, fd) = (std::process::id() as i32, listener.as_raw_fd());
        let me = read(&root, pid, fd, inode).unwrap();
        assert!(!me.comm.is_empty());
        assert_eq!(me.uid, Some(crate::os::fs::euid()));
        assert!(me.exe.is_some());
        // Another socket at that descriptor: not the holder any more.
        assert!(read(&root, pid, fd, inode + 1).is_none());
    }
}
