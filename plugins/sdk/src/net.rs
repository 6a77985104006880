//! Questions about a listener's bind, answered from its scope.

use crate::{Inventory, Listener, Process, Scope};

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

const ALL_SCOPES: [Scope; 7] = [
    Scope::Loopback,
    Scope::LinkLocal,
    Scope::Private,
    Scope::Multicast,
    Scope::Public,
    Scope::Wildcard,
    Scope::DualStack,
];
