//! A listener's stable identity for baselines and reports: no pids, no
//! inodes, nothing that changes between boots of the same image. The host
//! writes baselines and names report results with it; the baseline plugin
//! compares with it; so they cannot drift.

/// One listener as a baseline records it.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Identity {
    /// `host`, `container:<id>`, `netns:<name or bind-mount path>`, or
    /// `anonymous`.
    pub netns: String,
    pub protocol: String,
    /// The address for loopback binds (stable), else the scope, with
    /// `%device` when bound to one (DHCP addresses change between boots).
    pub bind: String,
    /// The port, or `ephemeral` for UDP ports in the kernel's default local
    /// range (client sockets that get a new port every start).
    pub port: String,
    /// The first holder's executable, else its unit, else `unknown`.
    pub program: String,
}

/// Lowest port of Linux's default ip_local_port_range.
pub const EPHEMERAL_START: u16 = 32768;

/// A namespace's stable name: `host`, `container:<id>`, `netns:<name or
/// bind-mount path>`, or `anonymous`.
pub fn netns_label(is_host: bool, names: &[String], containers: &[String]) -> String {
    if is_host {
        "host".to_owned()
    } else if let Some(c) = containers.first() {
        format!("container:{c}")
    } else if let Some(n) = names.iter().find(|n| !n.starts_with("/proc/")) {
        // A pinning descriptor's path (/proc/PID/fd/N) changes every run.
        format!("netns:{n}")
    } else {
        "anonymous".to_owned()
    }
}

#[allow(clippy::too_many_arguments)]
pub fn identity(
    is_host: bool,
    names: &[String],
    containers: &[String],
    protocol: &str,
    scope: &str,
    address: &str,
    bound_device: Option<&str>,
    port: u16,
    exe: Option<&str>,
    unit: Option<&str>,
) -> Identity {
    let netns = netns_label(is_host, names, containers);
    let mut bind = if scope == "loopback" {
        address.to_owned()
    } else {
        scope.to_owned()
    };
    if let Some(dev) = bound_device {
        bind.push('%');
        bind.push_str(dev);
    }
    let port = if protocol == "udp" && port >= EPHEMERAL_START {
        "ephemeral".to_owned()
    } else {
        port.to_string()
    };
    let program = exe.or(unit).unwrap_or("unknown").to_owned();
    Identity {
        netns,
        protocol: protocol.to_owned(),
        bind,
        port,
        program,
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}:{} ({}) in {}",
            self.protocol, self.bind, self.port, self.program, self.netns
        )
    }
}
