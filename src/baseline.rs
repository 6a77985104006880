//! Baselines: a known-good image's listeners, recorded with stable
//! identities (`portcullis baseline --output FILE`) and handed to the
//! baseline plugin (`scan --baseline FILE`). The identity is one crate
//! (`plugins/shared`) for both, so writer and checker agree by construction.

use std::path::Path;

use crate::model::{Inventory, Listener, Netns};

use portcullis_shared::identity;
pub use portcullis_shared::{Identity, netns_label};

/// A listener's stable identity (see `identity.rs`).
pub fn identity_of(inv: &Inventory, l: &Listener) -> Identity {
    let owners = inv
        .namespace(l.netns)
        .map(|n| owners_of(inv, n))
        .unwrap_or_default();
    identity_with(inv, l, &owners)
}

/// `identity_of`, with its namespace's [`owners_of`] already known.
fn identity_with(inv: &Inventory, l: &Listener, owners: &[String]) -> Identity {
    let ns = inv.namespace(l.netns);
    let holder = l.holders.first();
    identity::identity(
        ns.is_some_and(|n| n.is_host),
        ns.map_or(&[][..], |n| &n.names),
        owners,
        l.protocol.as_str(),
        l.scope.as_str(),
        &l.address,
        l.bound_device.as_deref(),
        l.port,
        holder
            .and_then(|h| h.process.exe.as_ref())
            .map(|e| e.escaped())
            .as_deref(),
        holder.and_then(|h| h.process.unit.as_deref()),
    )
}

/// The stable names of the containers owning `ns`, from what their
/// runtimes said (`portcullis_shared::owner_labels`).
pub fn owners_of(inv: &Inventory, ns: &Netns) -> Vec<String> {
    let owners: Vec<portcullis_shared::Owner> = ns
        .hints
        .containers
        .iter()
        .map(|id| {
            let c = inv.container(id);
            portcullis_shared::Owner {
                id,
                name: c.and_then(|c| c.name.as_deref()),
                pod: c
                    .and_then(|c| c.pod.as_ref())
                    .map(|p| (p.namespace.as_str(), p.name.as_str())),
                sandbox: c.is_some_and(|c| c.sandbox),
            }
        })
        .collect();
    portcullis_shared::owner_labels(&owners)
}

/// A namespace's stable label (`host`, `k8s:shop/web`, `container:web`,
/// `netns:blue`, `anonymous`).
pub fn label_of(inv: &Inventory, ns: &Netns) -> String {
    netns_label(ns.is_host, &ns.names, &owners_of(inv, ns))
}

/// Every listener's identity, sorted.
pub fn identities(inv: &Inventory) -> Vec<Identity> {
    // Each namespace's owners once: listeners are many, namespaces few.
    let owners: std::collections::HashMap<crate::model::NetnsId, Vec<String>> = inv
        .namespaces
        .iter()
        .map(|n| (n.id, owners_of(inv, n)))
        .collect();
    let mut ids: Vec<Identity> = inv
        .listeners
        .iter()
        .map(|l| identity_with(inv, l, owners.get(&l.netns).map_or(&[][..], Vec::as_slice)))
        .collect();
    ids.sort();
    ids
}

/// The baseline file's content.
pub fn render(inv: &Inventory) -> String {
    let doc = serde_json::json!({
        "schema_version": 1,
        "source": format!("portcullis {} on {}", env!("CARGO_PKG_VERSION"), inv.host.hostname),
        "listeners": identities(inv),
    });
    let mut text = serde_json::to_string_pretty(&doc).expect("plain data");
    text.push('\n');
    text
}

/// Why a baseline file cannot be used; the caller puts the path in front.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("cannot read the baseline: {0}")]
    Read(crate::os::fs::FileError),
    #[error("not a portcullis baseline: {0}")]
    Parse(serde_json::Error),
}

/// The baseline plugin's config for a baseline file: `{"baseline": …}`.
pub fn plugin_config(path: &Path) -> Result<String, BaselineError> {
    let bytes = crate::os::fs::read_bounded(path, crate::os::fs::limits::BASELINE)
        .map_err(BaselineError::Read)?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(BaselineError::Parse)?;
    Ok(serde_json::json!({ "baseline": value }).to_string())
}
