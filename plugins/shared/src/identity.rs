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

/// A container owning a namespace, as much as its runtime said of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner<'a> {
    /// As processes name it: `runtime://id`.
    pub id: &'a str,
    /// The runtime's name for it (`docker run --name`).
    pub name: Option<&'a str>,
    /// Its Kubernetes pod: (namespace, pod name).
    pub pod: Option<(&'a str, &'a str)>,
    /// A pod's sandbox ("pause") container.
    pub sandbox: bool,
}

/// The stable names of a namespace's owners, as [`netns_label`] takes
/// them: what stays when a container is recreated, or runs on another
/// node. A pod's is `k8s:NAMESPACE/WORKLOAD` (its name without the
/// suffixes its controller generates, see [`pod_workload`]); a named
/// container's `container:NAME`; else `container:ID`. A pod's sandbox
/// counts only when it is all there is.
pub fn owner_labels(owners: &[Owner]) -> Vec<String> {
    let apps: Vec<&Owner> = owners.iter().filter(|o| !o.sandbox).collect();
    let chosen: Vec<&Owner> = if apps.is_empty() {
        owners.iter().collect()
    } else {
        apps
    };
    let mut labels: Vec<String> = Vec::new();
    for o in chosen {
        let label = match (o.pod, o.name) {
            (Some((namespace, pod)), _) => format!("k8s:{namespace}/{}", pod_workload(pod)),
            (None, Some(name)) => format!("container:{name}"),
            (None, None) => format!("container:{}", o.id),
        };
        if !labels.contains(&label) {
            labels.push(label);
        }
    }
    labels
}

/// A pod's workload: its name without what its controller appends. A
/// Deployment's pods are `NAME-<template hash>-<5>`, a DaemonSet's and a
/// Job's `NAME-<5>`, in Kubernetes' alphabet of consonants and digits
/// (`bcdfghjklmnpqrstvwxz2456789`); a StatefulSet's `NAME-<ordinal>`
/// are stable and kept. A pod named by hand with such a suffix loses it
/// too: the name is a heuristic, since the owner is not in the CRI state.
pub fn pod_workload(pod: &str) -> &str {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let generated = |part: &str, lengths: std::ops::RangeInclusive<usize>| {
        lengths.contains(&part.len()) && part.bytes().all(|b| ALPHABET.contains(&b))
    };
    let Some((rest, _suffix)) = pod
        .rsplit_once('-')
        .filter(|(r, l)| !r.is_empty() && generated(l, 5..=5))
    else {
        return pod;
    };
    match rest.rsplit_once('-') {
        Some((name, hash)) if !name.is_empty() && generated(hash, 6..=10) => name,
        _ => rest,
    }
}

/// A namespace's stable name: `host`, its owners' (see [`owner_labels`]:
/// `k8s:NAMESPACE/WORKLOAD`, `container:NAME`, `container:ID`),
/// `netns:<name or bind-mount path>`, or `anonymous`.
pub fn netns_label(is_host: bool, names: &[String], owners: &[String]) -> String {
    if is_host {
        "host".to_owned()
    } else if let Some(owner) = owners.first() {
        owner.clone()
    } else if let Some(n) = names.iter().find(|n| !n.starts_with("/proc/")) {
        // A pinning descriptor's path (/proc/PID/fd/N) changes every run.
        format!("netns:{n}")
    } else {
        "anonymous".to_owned()
    }
}

/// `owners`: the namespace's [`owner_labels`].
#[allow(clippy::too_many_arguments)]
pub fn identity(
    is_host: bool,
    names: &[String],
    owners: &[String],
    protocol: &str,
    scope: &str,
    address: &str,
    bound_device: Option<&str>,
    port: u16,
    exe: Option<&str>,
    unit: Option<&str>,
) -> Identity {
    let netns = netns_label(is_host, names, owners);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_are_named_by_their_workload() {
        assert_eq!(pod_workload("web-frontend-7d4b9c8f5-x2k4p"), "web-frontend");
        assert_eq!(pod_workload("node-exporter-x2k4p"), "node-exporter");
        assert_eq!(pod_workload("db-0"), "db-0");
        assert_eq!(pod_workload("mypod"), "mypod");
        assert_eq!(
            pod_workload("exporter-abcde"),
            "exporter-abcde",
            "not the alphabet"
        );
        assert_eq!(pod_workload("-x2k4p"), "-x2k4p");
    }

    #[test]
    fn owners_are_named_by_what_survives_a_restart() {
        let owner = |id, name, pod, sandbox| Owner {
            id,
            name,
            pod,
            sandbox,
        };
        let pod = Some(("shop", "web-7d4b9c8f5-x2k4p"));
        assert_eq!(
            owner_labels(&[
                owner("containerd://1", None, pod, true),
                owner("containerd://2", Some("nginx"), pod, false),
            ]),
            ["k8s:shop/web"]
        );
        assert_eq!(
            owner_labels(&[owner("docker://3", Some("web"), None, false)]),
            ["container:web"]
        );
        assert_eq!(
            owner_labels(&[owner("docker://4", None, None, false)]),
            ["container:docker://4"]
        );
        let labels = owner_labels(&[owner("docker://3", Some("web"), None, false)]);
        assert_eq!(
            netns_label(false, &["/run/netns/x".into()], &labels),
            "container:web"
        );
    }
}
