//! Stable names for what reports mention. The same listener on the next run
//! of the same image gets the same name and fingerprint (no pids, socket or
//! namespace inodes, ephemeral ports), so CI can compare runs and code
//! scanning can match an alert with the one it raised before.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::model::{Inventory, Listener, NetnsId};

/// The namespace's stable name, as the baseline identity gives it
/// (`host`, `k8s:NAMESPACE/WORKLOAD`, `container:NAME` or `container:ID`,
/// `netns:<name>`, `anonymous`).
pub fn netns_label(inv: &Inventory, id: NetnsId) -> String {
    match inv.namespace(id) {
        Some(ns) => crate::baseline::label_of(inv, ns),
        None => "anonymous".into(),
    }
}

/// `tcp 0.0.0.0:80 nginx`: protocol, bind and first holder's name (`?` when
/// no holder is known), escaped so it is printable.
pub fn subject(l: &Listener) -> String {
    let holder = l.holders.first().map_or_else(
        || "?".to_owned(),
        |h| h.process.comm.escaped_bounded(super::bounds::NAME),
    );
    format!("{} {} {holder}", l.protocol.as_str(), l.local_column())
}

/// A listener's stable key for a rule, from the baseline identity:
/// namespace label, protocol, bind (scope, or the address on loopback),
/// port and executable.
pub fn stable_key(rule: &str, inv: &Inventory, l: &Listener) -> String {
    let id = crate::baseline::identity_of(inv, l);
    format!(
        "{rule}|{}|{}|{}|{}|{}",
        id.netns, id.protocol, id.bind, id.port, id.program
    )
}

/// First 16 hex digits of the key's SHA-256.
pub fn digest(key: &str) -> String {
    let hash = Sha256::digest(key.as_bytes());
    hash[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Makes names unique in order of appearance: the second `x` is `x #2`.
/// Sockets that share every stable trait (SO_REUSEPORT groups) stay apart
/// without resorting to inodes.
#[derive(Default)]
pub struct Occurrences(HashMap<String, usize>);

impl Occurrences {
    /// How many times `key` was seen, this one included.
    pub fn count(&mut self, key: &str) -> usize {
        let n = self.0.entry(key.to_owned()).or_default();
        *n += 1;
        *n
    }

    pub fn unique(&mut self, name: String) -> String {
        match self.count(&name) {
            1 => name,
            n => format!("{name} #{n}"),
        }
    }
}
