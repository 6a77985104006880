//! Facts about the machine: hostname, distribution, kernel.

use crate::model::{Gap, GapKind, HostFacts};

/// `PROC_PID_INIT_INO`: the kernel gives the initial PID namespace this
/// inode, always (unlike the initial network namespace's, which varies).
const INITIAL_PID_NAMESPACE: u64 = 0xEFFF_FFFC;

/// A gap when this process runs in a PID namespace other than the host's:
/// a DaemonSet without `hostPID` sees only its own pod, and must not call
/// that a clean node.
pub fn confinement(root: &crate::os::proc::ProcRoot) -> Option<Gap> {
    let inode = root.dir().ns_id(c"self/ns/pid").ok()?.inode;
    (inode != INITIAL_PID_NAMESPACE).then(|| Gap {
        kind: GapKind::PidNamespaceConfined,
        netns: None,
        pids: vec![],
        detail: format!(
            "portcullis runs in a PID namespace of its own (pid:[{inode}]), as in a container without the host's PID namespace: the host's processes and the namespaces only they hold are out of sight; run it with the host's (Kubernetes hostPID: true, docker run --pid=host), or pass --own-pid-namespace to scan only this one"
        ),
    })
}

pub fn read() -> HostFacts {
    let uname = crate::os::host::uname();
    let os_release = ["/etc/os-release", "/usr/lib/os-release"]
        .iter()
        .find_map(|p| crate::os::fs::read_text(p.as_ref(), 64 << 10).ok())
        .unwrap_or_default();
    HostFacts {
        hostname: crate::os::host::hostname(),
        os_id: os_release_value(&os_release, "ID"),
        os_version_id: os_release_value(&os_release, "VERSION_ID"),
        kernel: uname.release,
        arch: uname.machine,
    }
}

/// One value from an os-release file (shell-like `KEY=value`, optionally quoted).
pub fn os_release_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let value = line.trim().strip_prefix(key)?.strip_prefix('=')?;
        let unquoted = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(value);
        Some(unquoted.replace("\\\"", "\"").replace("\\\\", "\\"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_quoted_and_bare_values() {
        let text = "NAME=\"Ubuntu\"\nVERSION_ID=\"24.04\"\nID=ubuntu\nID_LIKE=debian\n";
        assert_eq!(os_release_value(text, "ID").as_deref(), Some("ubuntu"));
        assert_eq!(
            os_release_value(text, "VERSION_ID").as_deref(),
            Some("24.04")
        );
        assert_eq!(os_release_value(text, "ID_LIKE").as_deref(), Some("debian"));
        assert_eq!(os_release_value(text, "VARIANT"), None);
    }
}
