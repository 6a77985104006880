//! Baselines: a known-good image's listeners, recorded with stable
//! identities (`portcullis baseline --output FILE`) and handed to the
//! baseline plugin (`scan --baseline FILE`). The identity function is the
//! plugin's own source file, so writer and checker agree by construction.

use std::io::Write;
use std::path::Path;

use crate::model::Inventory;

#[path = "../plugins/builtin/baseline/src/identity.rs"]
mod identity;

pub use identity::Identity;

/// Every listener's identity, sorted.
pub fn identities(inv: &Inventory) -> Vec<Identity> {
    let mut ids: Vec<Identity> = inv
        .listeners
        .iter()
        .map(|l| {
            let ns = inv.namespace(l.netns);
            let holder = l.processes.first();
            identity::identity(
                ns.is_some_and(|n| n.host),
                ns.map_or(&[][..], |n| &n.names),
                ns.map_or(&[][..], |n| &n.hints.containers),
                l.protocol.as_str(),
                l.scope.as_str(),
                &l.address,
                l.interface.as_deref(),
                l.port,
                holder
                    .and_then(|h| h.process.exe.as_ref())
                    .map(|e| e.escaped())
                    .as_deref(),
                holder.and_then(|h| h.process.unit.as_deref()),
            )
        })
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

/// Writes `text` to `path` atomically: a temporary file beside it, then a
/// rename, so a reader never sees half a file.
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("not a file path"))?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The baseline plugin's config for a baseline file: `{"baseline": …}`.
pub fn plugin_config(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read the baseline: {e}", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{}: not a portcullis baseline: {e}", path.display()))?;
    Ok(serde_json::json!({ "baseline": value }).to_string())
}
