use serde::{Deserialize, Serialize};

/// Something the scan could not look at. A gap is never silent: it is in the
/// inventory, on stderr, and makes the run "incomplete" (exit 3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    pub kind: GapKind,
    /// The namespace concerned, when there is one.
    pub netns: Option<super::NetnsId>,
    /// The processes concerned (aggregated: one gap per kind and cause).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pids: Vec<i32>,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GapKind {
    /// A namespace was found but could not be entered (no CAP_SYS_ADMIN, or
    /// its nsfs file could not be opened).
    NetnsNotEnterable,
    /// A socket dump inside a namespace failed.
    SocketDumpFailed,
    /// The kernel has no sock_diag handler for a protocol (e.g. no `udp_diag`):
    /// that protocol's sockets were not seen.
    ProtocolUnsupported,
    /// A namespace's interfaces could not be listed.
    InterfacesUnreadable,
    /// `/proc/PID/ns/net` or a thread's could not be read: namespaces only
    /// that process lives in may be missing.
    ProcessNamespaceUnreadable,
    /// `/proc/PID/fd` could not be read: sockets that process holds show an
    /// unknown owner, and namespaces pinned only by its descriptors are missing.
    ProcessFdsUnreadable,
    /// A mount table could not be read: bind-mounted namespaces may be missing.
    MountsUnreadable,
    /// A socket that no namespace's dump listed could not be asked for its
    /// namespace (`pidfd_getfd`): a namespace only sockets keep alive may be
    /// missing.
    SocketNamespaceUnknown,
    /// portcullis runs in a PID namespace other than the host's (a container
    /// without hostPID) and was not told to scan only that: the host's
    /// processes, and the namespaces only they hold, are out of sight.
    PidNamespaceConfined,
    /// One scan outlived `--scan-timeout` and was abandoned: nothing it saw
    /// is reported.
    ScanDeadline,
    /// `--settle` ran out of `--timeout` with listeners still changing: the
    /// last scan is reported, but a service may not have finished starting.
    SettleTimeout,
}
