//! Questions about a listener's bind, answered from its scope.

use crate::{Listener, Scope};

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

/// The names of the processes holding it, without repeats (forked workers).
pub fn holder_names(l: &Listener) -> Vec<&str> {
    let mut names: Vec<&str> = l.holders.iter().map(|h| h.comm.as_str()).collect();
    names.dedup();
    names
}

/// `addr:port` as `ss` prints it (IPv6 in brackets).
pub fn endpoint(l: &Listener) -> String {
    if l.address.contains(':') {
        format!("[{}]:{}", l.address, l.port)
    } else {
        format!("{}:{}", l.address, l.port)
    }
}
