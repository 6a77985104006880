//! Details of the processes that hold listening sockets: name, executable,
//! command line, uid, systemd unit and container.
//!
//! Read only for holder processes, once each. Names and command lines are
//! kept as raw bytes ([`ByteText`]); nothing here assumes UTF-8.

use std::collections::HashMap;

use crate::model::{ByteText, ProcessDetails};

use super::cgroup;

/// Reads one process; `None` if it exited.
pub fn read(pid: i32) -> Option<ProcessDetails> {
    let base = format!("/proc/{pid}");
    let mut comm = std::fs::read(format!("{base}/comm")).ok()?;
    if comm.last() == Some(&b'\n') {
        comm.pop();
    }
    let exe = std::fs::read_link(format!("{base}/exe")).ok().map(|p| {
        ByteText::new(std::os::unix::ffi::OsStringExt::into_vec(
            p.into_os_string(),
        ))
    });
    let cmdline = std::fs::read(format!("{base}/cmdline"))
        .map(|raw| split_cmdline(&raw))
        .unwrap_or_default();
    let uid = std::fs::read(format!("{base}/status"))
        .ok()
        .and_then(|status| effective_uid(&status));
    let cgroup_text = std::fs::read_to_string(format!("{base}/cgroup")).unwrap_or_default();
    let path = cgroup::systemd_path(&cgroup_text);
    let unit = path.and_then(cgroup::unit);
    // Looked up through the process's own root: a chrooted or containerised
    // service's unit lives in its image, not on the host.
    let unit_file = unit
        .as_deref()
        .and_then(|u| super::socket_units::unit_file(format!("{base}/root").as_ref(), u));
    Some(ProcessDetails {
        comm: ByteText::new(comm),
        exe,
        cmdline,
        uid,
        unit,
        unit_file,
        container: path.and_then(cgroup::container),
    })
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
/// rewrite their title may use spaces instead. Empty arguments are kept.
pub fn split_cmdline(raw: &[u8]) -> Vec<ByteText> {
    let trimmed = raw.strip_suffix(b"\0").unwrap_or(raw);
    if trimmed.is_empty() {
        return Vec::new();
    }
    trimmed.split(|&b| b == 0).map(ByteText::new).collect()
}

/// Reads each pid once.
#[derive(Default)]
pub struct ProcessCache(HashMap<i32, Option<ProcessDetails>>);

impl ProcessCache {
    pub fn get(&mut self, pid: i32) -> Option<&ProcessDetails> {
        self.0.entry(pid).or_insert_with(|| read(pid)).as_ref()
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
        assert_eq!(
            split_cmdline(b"nginx: master process"),
            [ByteText::from("nginx: master process")]
        );
    }

    #[test]
    fn reads_this_process() {
        let me = read(std::process::id() as i32).unwrap();
        assert!(!me.comm.is_empty());
        assert_eq!(me.uid, Some(nix::unistd::geteuid().as_raw()));
        assert!(me.exe.is_some());
    }
}
