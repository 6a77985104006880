//! Questions about a listener's bind, answered from its scope.

use crate::{Inventory, Listener, Process, ReachState, Scope};

/// Only this namespace can connect (127/8, ::1, ::ffff:127/104).
pub fn is_loopback(l: &Listener) -> bool {
    l.scope == Scope::Loopback
}

/// Bound to every address of a family, or of both (`0.0.0.0`, `::`, `*`).
pub fn is_wildcard(l: &Listener) -> bool {
    matches!(l.scope, Scope::Wildcard | Scope::DualStack)
}

/// Bound to a routable public address.
pub fn is_public(l: &Listener) -> bool {
    l.scope == Scope::Public
}

/// Reachable from beyond this namespace in principle: anything but loopback.
pub fn is_exposed(l: &Listener) -> bool {
    !is_loopback(l)
}

/// The processes holding it (one entry per descriptor).
pub fn holders<'i>(inv: &'i Inventory, l: &'i Listener) -> impl Iterator<Item = &'i Process> + 'i {
    l.holders
        .iter()
        .filter_map(|h| inv.processes.get(h.process as usize))
}

/// The names of the processes holding it, without repeats (forked
/// workers). PID 1 holding a socket for a `.socket` unit is named by its
/// unit (`ssh.socket`): "systemd" would say nothing about the service.
pub fn holder_names<'i>(inv: &'i Inventory, l: &'i Listener) -> Vec<&'i str> {
    let mut names: Vec<&str> = holders(inv, l).map(holder_name).collect();
    names.dedup();
    names
}

/// A holder's name in messages: its `.socket` unit for PID 1, else its `comm`.
pub fn holder_name(p: &Process) -> &str {
    match p.unit.as_deref() {
        Some(unit) if p.pid == 1 && unit.ends_with(".socket") => unit,
        _ => p.comm.as_str(),
    }
}

/// A container as people name it: `k8s:NAMESPACE/POD/CONTAINER` for a
/// pod's, else the runtime's name, else its 12-digit short id.
pub fn container_name(inv: &Inventory, id: &str) -> String {
    // After the last "://" (a byte search: this runs for every finding in
    // a container, and a text searcher's set-up costs more than the id).
    let bare = id
        .as_bytes()
        .windows(3)
        .rposition(|w| w == b"://")
        .map_or(id, |i| &id[i + 3..]);
    // Twelve characters, not bytes: an id is the runtime's, or a cgroup
    // name anyone may have chosen, and cutting inside a character panics.
    let short = bare
        .char_indices()
        .nth(12)
        .map_or(bare, |(i, _)| &bare[..i]);
    match inv.container(id) {
        Some(c) => match (&c.pod, &c.name) {
            (Some(pod), _) => match &pod.container {
                Some(name) => format!("k8s:{}/{}/{name}", pod.namespace, pod.name),
                None => format!("k8s:{}/{}", pod.namespace, pod.name),
            },
            (None, Some(name)) => name.clone(),
            (None, None) => short.to_owned(),
        },
        None => short.to_owned(),
    }
}

/// " in container web" for a listener a container holds (whatever
/// namespace it is in: `--network host` too), " in netns NAME" for one in
/// a named namespace, nothing in the host's. A listener no container holds
/// is put in its namespace's container (the host names a namespace's
/// containers only when they own it), a pod's application container before
/// its sandbox.
pub fn whereabouts(inv: &Inventory, l: &Listener) -> String {
    let netns = inv.namespaces.iter().find(|n| n.inode == l.netns);
    let mut ids: Vec<&str> = holders(inv, l)
        .filter_map(|p| p.container.as_deref())
        .collect();
    if let Some(ns) = netns.filter(|n| ids.is_empty() && !n.is_host) {
        ids = ns.containers.iter().map(String::as_str).collect();
        let apps: Vec<&str> = ids
            .iter()
            .copied()
            .filter(|id| !inv.container(id).is_some_and(|c| c.sandbox))
            .collect();
        if !apps.is_empty() {
            ids = apps;
        }
    }
    ids.dedup();
    if let Some(first) = ids.first() {
        return format!(" in container {}", container_name(inv, first));
    }
    match netns {
        Some(ns) if !ns.is_host => match ns.names.first() {
            Some(n) => format!(" in netns {n}"),
            None => format!(" in netns {}", ns.inode),
        },
        _ => String::new(),
    }
}

/// `addr:port` as `ss` prints it (IPv6 in brackets).
pub fn endpoint(l: &Listener) -> String {
    if l.address.contains(':') {
        format!("[{}]:{}", l.address, l.port)
    } else {
        format!("{}:{}", l.address, l.port)
    }
}

/// A scope's name as the inventory and policies spell it (the ABI's enum
/// is in the order of the shared vocabulary).
pub fn scope_name(s: Scope) -> &'static str {
    portcullis_shared::vocabulary::SCOPES[s as usize]
}

/// The scope a name spells, if any (the inverse of [`scope_name`]).
pub fn scope_named(name: &str) -> Option<Scope> {
    ALL_SCOPES.into_iter().find(|&s| scope_name(s) == name)
}

/// In the ABI's order (a case's index is its place here).
pub(crate) const ALL_SCOPES: [Scope; 7] = [
    Scope::Loopback,
    Scope::LinkLocal,
    Scope::Private,
    Scope::Multicast,
    Scope::Public,
    Scope::Wildcard,
    Scope::DualStack,
];

/// What the firewall does with new connections from outside to the
/// listener, as a clause for a finding's message (`, and the firewall lets
/// anyone reach it on eth0`); empty where reachability was not evaluated
/// or is unknown, so a message never claims more than was seen.
pub fn reach_clause(inv: &Inventory, l: &Listener) -> String {
    let Some(r) = inv.reachability(l) else {
        return String::new();
    };
    let by = |before: &str, after: &str| match &r.decided_by {
        Some(d) => format!("{before}{d}{after}"),
        None => String::new(),
    };
    match r.state {
        ReachState::Open => format!(
            ", and the firewall lets anyone reach it on {}{}",
            r.interfaces.join(", "),
            by(" (let in by ", ")")
        ),
        ReachState::Restricted => format!(
            ", and the firewall lets only {} reach it{}",
            r.sources.join(", "),
            by(" (by ", ")")
        ),
        ReachState::Filtered => format!(
            ", though new connections from outside are filtered{}",
            by(" by ", "")
        ),
        ReachState::Unknown => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::container_name;
    use crate::testing::Host;

    #[test]
    fn an_unknown_container_is_named_by_twelve_characters_of_its_id() {
        let inv = Host::new().build();
        assert_eq!(
            container_name(&inv, "docker://0123456789abcdef"),
            "0123456789ab"
        );
        assert_eq!(container_name(&inv, "a://b://cdef"), "cdef");
        assert_eq!(container_name(&inv, "short"), "short");
        // A cgroup name anyone chose: cut at a character, never inside one.
        assert_eq!(
            container_name(&inv, "podman://ééééééééééééé"),
            "éééééééééééé"
        );
    }
}
