//! Questions about a listener's bind, answered from its scope.

use std::fmt;

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

/// [`holder_names`] joined by ", ", written straight into a message:
/// `format!("({})", HolderNames { inv, l })` makes no list and no string of
/// its own (messages are made per listener, so on a fleet by the ten
/// thousand).
pub struct HolderNames<'i> {
    pub inv: &'i Inventory,
    pub l: &'i Listener,
}

impl HolderNames<'_> {
    /// Whether it writes nothing: no holder is known, or every one has
    /// an empty name (a process may set its `comm` to "").
    pub fn is_empty(&self) -> bool {
        holders(self.inv, self.l).all(|p| holder_name(p).is_empty())
    }
}

impl fmt::Display for HolderNames<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut last = None;
        for name in holders(self.inv, self.l).map(holder_name) {
            if last == Some(name) {
                continue;
            }
            if last.is_some() {
                f.write_str(", ")?;
            }
            f.write_str(name)?;
            last = Some(name);
        }
        Ok(())
    }
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
    ContainerName { inv, id }.to_string()
}

/// [`container_name`], written straight into a message.
pub struct ContainerName<'i> {
    pub inv: &'i Inventory,
    pub id: &'i str,
}

impl fmt::Display for ContainerName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = self.id;
        match self.inv.container(id) {
            Some(c) => match (&c.pod, &c.name) {
                (Some(pod), _) => match &pod.container {
                    Some(name) => write!(f, "k8s:{}/{}/{name}", pod.namespace, pod.name),
                    None => write!(f, "k8s:{}/{}", pod.namespace, pod.name),
                },
                (None, Some(name)) => f.write_str(name),
                (None, None) => f.write_str(short_id(id)),
            },
            None => f.write_str(short_id(id)),
        }
    }
}

/// A container id's first twelve characters, after its `runtime://`.
fn short_id(id: &str) -> &str {
    // After the last "://" (a byte search: this runs for every finding in
    // a container, and a text searcher's set-up costs more than the id).
    let bare = id
        .as_bytes()
        .windows(3)
        .rposition(|w| w == b"://")
        .map_or(id, |i| &id[i + 3..]);
    // Twelve characters, not bytes: an id is the runtime's, or a cgroup
    // name anyone may have chosen, and cutting inside a character panics.
    bare.char_indices()
        .nth(12)
        .map_or(bare, |(i, _)| &bare[..i])
}

/// " in container web" for a listener a container holds (whatever
/// namespace it is in: `--network host` too), " in netns NAME" for one in
/// a named namespace, nothing in the host's. A listener no container holds
/// is put in its namespace's container (the host names a namespace's
/// containers only when they own it), a pod's application container before
/// its sandbox.
pub fn whereabouts(inv: &Inventory, l: &Listener) -> String {
    Whereabouts { inv, l }.to_string()
}

/// [`whereabouts`], written straight into a message.
pub struct Whereabouts<'i> {
    pub inv: &'i Inventory,
    pub l: &'i Listener,
}

impl fmt::Display for Whereabouts<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (inv, l) = (self.inv, self.l);
        let netns = inv.namespace(l.netns);
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
            return write!(f, " in container {}", ContainerName { inv, id: first });
        }
        match netns {
            Some(ns) if !ns.is_host => match ns.names.first() {
                Some(n) => write!(f, " in netns {n}"),
                None => write!(f, " in netns {}", ns.inode),
            },
            _ => Ok(()),
        }
    }
}

/// `addr:port` as `ss` prints it (IPv6 in brackets).
pub fn endpoint(l: &Listener) -> String {
    Endpoint(l).to_string()
}

/// [`endpoint`], written straight into a message.
pub struct Endpoint<'i>(pub &'i Listener);

impl fmt::Display for Endpoint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = self.0;
        if l.address.contains(':') {
            write!(f, "[{}]:{}", l.address, l.port)
        } else {
            write!(f, "{}:{}", l.address, l.port)
        }
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
    ReachClause { inv, l }.to_string()
}

/// [`reach_clause`], written straight into a message.
pub struct ReachClause<'i> {
    pub inv: &'i Inventory,
    pub l: &'i Listener,
}

impl fmt::Display for ReachClause<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(r) = self.inv.reachability(self.l) else {
            return Ok(());
        };
        let by = |f: &mut fmt::Formatter<'_>, before: &str, after: &str| match &r.decided_by {
            Some(d) => write!(f, "{before}{d}{after}"),
            None => Ok(()),
        };
        match r.state {
            ReachState::Open => {
                write!(f, ", and the firewall lets anyone reach it on ")?;
                joined(f, &r.interfaces)?;
                by(f, " (let in by ", ")")
            }
            ReachState::Restricted => {
                write!(f, ", and the firewall lets only ")?;
                joined(f, &r.sources)?;
                f.write_str(" reach it")?;
                by(f, " (by ", ")")
            }
            ReachState::Filtered => {
                f.write_str(", though new connections from outside are filtered")?;
                by(f, " by ", "")
            }
            ReachState::Unknown => Ok(()),
        }
    }
}

/// `items` joined by ", ".
fn joined(f: &mut fmt::Formatter<'_>, items: &[String]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        f.write_str(item)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::container_name;
    use crate::testing::Host;

    #[test]
    fn containers_are_found_by_id_whatever_their_order() {
        // Listed out of order, one id a prefix of another, one listed twice.
        let inv = Host::new()
            .container("docker://bb", "second", "img")
            .container("docker://b", "prefix", "img")
            .container("docker://a", "first", "img")
            .container("docker://bb", "again", "img")
            .build();
        let name = |id| inv.container(id).and_then(|c| c.name.as_deref());
        assert_eq!(name("docker://a"), Some("first"));
        assert_eq!(name("docker://b"), Some("prefix"));
        // Of two with one id, the one the runtime listed first.
        assert_eq!(name("docker://bb"), Some("second"));
        assert_eq!(name("docker://"), None);
        assert_eq!(name("docker://c"), None);
        assert_eq!(name("docker://ba"), None);
    }

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
