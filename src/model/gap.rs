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
    /// A container's runtime state (its bundle, Docker's config.v2.json)
    /// could not be read: it is known by its id only, without name, image
    /// or pod.
    ContainerStateUnreadable,
    /// A namespace's nftables ruleset could not be read: its listeners'
    /// reachability is `unknown`.
    FirewallUnreadable,
    /// XDP programs or tc ingress filters are attached in a namespace (or
    /// whether they are could not be told): they run before netfilter and
    /// are not evaluated.
    UnevaluatedFilter,
}

impl GapKind {
    /// Every kind, in declaration order (metrics write one series each).
    pub const ALL: [GapKind; 14] = [
        GapKind::NetnsNotEnterable,
        GapKind::SocketDumpFailed,
        GapKind::ProtocolUnsupported,
        GapKind::InterfacesUnreadable,
        GapKind::ProcessNamespaceUnreadable,
        GapKind::ProcessFdsUnreadable,
        GapKind::MountsUnreadable,
        GapKind::SocketNamespaceUnknown,
        GapKind::PidNamespaceConfined,
        GapKind::ScanDeadline,
        GapKind::SettleTimeout,
        GapKind::ContainerStateUnreadable,
        GapKind::FirewallUnreadable,
        GapKind::UnevaluatedFilter,
    ];

    /// The kind as the JSON inventory spells it (`netns_not_enterable`).
    pub fn as_str(self) -> &'static str {
        match self {
            GapKind::NetnsNotEnterable => "netns_not_enterable",
            GapKind::SocketDumpFailed => "socket_dump_failed",
            GapKind::ProtocolUnsupported => "protocol_unsupported",
            GapKind::InterfacesUnreadable => "interfaces_unreadable",
            GapKind::ProcessNamespaceUnreadable => "process_namespace_unreadable",
            GapKind::ProcessFdsUnreadable => "process_fds_unreadable",
            GapKind::MountsUnreadable => "mounts_unreadable",
            GapKind::SocketNamespaceUnknown => "socket_namespace_unknown",
            GapKind::PidNamespaceConfined => "pid_namespace_confined",
            GapKind::ScanDeadline => "scan_deadline",
            GapKind::SettleTimeout => "settle_timeout",
            GapKind::ContainerStateUnreadable => "container_state_unreadable",
            GapKind::FirewallUnreadable => "firewall_unreadable",
            GapKind::UnevaluatedFilter => "unevaluated_filter",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::GapKind;

    /// `as_str` spells each kind as serde does, and `ALL` repeats none. (A
    /// new variant must go in `as_str`, which the match enforces, and in
    /// `ALL`, whose length the compiler checks against this list only.)
    #[test]
    fn names_match_serde_and_all_is_every_kind() {
        for kind in GapKind::ALL {
            assert_eq!(serde_json::json!(kind), kind.as_str());
        }
        let mut names: Vec<_> = GapKind::ALL.iter().map(|k| k.as_str()).collect();
        names.dedup();
        assert_eq!(names.len(), GapKind::ALL.len());
    }
}
