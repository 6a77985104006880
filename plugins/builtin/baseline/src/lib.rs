//! Built-in plugin `baseline`: rule `baseline-drift` compares the listeners
//! with a baseline recorded from a known-good image (`portcullis baseline
//! --output FILE`; `portcullis scan --baseline FILE` hands it over as this
//! plugin's config). New listeners and vanished ones both fail.

use portcullis_shared::{Identity, identity};

use std::collections::BTreeMap;

use portcullis_sdk::{
    Evaluation, Inventory, Level, Listener, NotApplicable, Outcome, Plugin, PluginError,
    PluginInfo, Precision, Protocol, RuleInfo, Verdict, config, net, verdicts,
};
use serde::Deserialize;

pub const DRIFT: &str = "baseline-drift";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub baseline: Option<Baseline>,
    /// Set by the host when the scan looked only at the namespaces
    /// `--netns` named: baseline entries of other namespaces were not
    /// looked for, so they are not "gone".
    pub scanned_only: bool,
}

/// The baseline file.
#[derive(Debug, Default, Deserialize)]
pub struct Baseline {
    pub schema_version: u32,
    #[serde(default)]
    pub source: Option<String>,
    pub listeners: Vec<Identity>,
}

pub struct BaselinePlugin;

impl Plugin for BaselinePlugin {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "baseline".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            rules: vec![info()],
            config_schema: Some(r#"{"type":"object","additionalProperties":false,"properties":{"baseline":{"type":"object"},"scanned_only":{"type":"boolean"}}}"#.into()),
        }
    }

    fn validate_config(config: String) -> Result<(), PluginError> {
        let c: Config = config::parse(&config)?;
        match c.baseline {
            Some(b) if b.schema_version != 1 => Err(PluginError::InvalidConfig(format!(
                "baseline schema_version {} is not 1",
                b.schema_version
            ))),
            _ => Ok(()),
        }
    }

    fn evaluate(config: String, inventory: &Inventory) -> Result<Evaluation, PluginError> {
        Self::validate_config(config.clone())?;
        let c: Config = config::parse(&config)?;
        Ok(evaluate(c.baseline.as_ref(), inventory, c.scanned_only))
    }
}

/// The stable names of the containers owning `ns`, as the host computes
/// them (`portcullis_shared::owner_labels`).
fn owners_of(inv: &Inventory, ns: &portcullis_sdk::Netns) -> Vec<String> {
    let owners: Vec<portcullis_sdk::shared::Owner> = ns
        .containers
        .iter()
        .map(|id| {
            let c = inv.container(id);
            portcullis_sdk::shared::Owner {
                id,
                name: c.and_then(|c| c.name.as_deref()),
                pod: c
                    .and_then(|c| c.pod.as_ref())
                    .map(|p| (p.namespace.as_str(), p.name.as_str())),
                sandbox: c.is_some_and(|c| c.sandbox),
            }
        })
        .collect();
    portcullis_sdk::shared::owner_labels(&owners)
}

/// The identity of a listener in a plugin's inventory.
pub fn identity_of(inv: &Inventory, l: &Listener) -> Identity {
    let owners = inv
        .namespaces
        .iter()
        .find(|n| n.inode == l.netns)
        .map(|n| owners_of(inv, n))
        .unwrap_or_default();
    identity_with(inv, l, &owners)
}

/// `identity_of`, with its namespace's [`owners_of`] already known.
fn identity_with(inv: &Inventory, l: &Listener, owners: &[String]) -> Identity {
    let ns = inv.namespaces.iter().find(|n| n.inode == l.netns);
    let holder = net::holders(inv, l).next();
    identity(
        ns.is_some_and(|n| n.is_host),
        ns.map_or(&[][..], |n| &n.names),
        owners,
        if l.protocol == Protocol::Tcp {
            "tcp"
        } else {
            "udp"
        },
        net::scope_name(l.scope),
        &l.address,
        l.bound_device.as_deref(),
        l.port,
        holder.and_then(|p| p.exe.as_deref()),
        holder.and_then(|p| p.unit.as_deref()),
    )
}

/// `scanned_only`: compare only the namespaces the inventory holds.
pub fn evaluate(baseline: Option<&Baseline>, inv: &Inventory, scanned_only: bool) -> Evaluation {
    let Some(baseline) = baseline else {
        return Evaluation {
            verdicts: vec![],
            passed: vec![],
            not_applicable: vec![NotApplicable {
                rule_id: DRIFT.into(),
                reason: "no baseline given (scan --baseline FILE)".into(),
            }],
        };
    };
    // Each namespace's owners once: listeners are many, namespaces few.
    let owners: BTreeMap<u64, Vec<String>> = inv
        .namespaces
        .iter()
        .map(|n| (n.inode, owners_of(inv, n)))
        .collect();
    let scanned: Vec<String> = inv
        .namespaces
        .iter()
        .map(|n| portcullis_sdk::shared::netns_label(n.is_host, &n.names, &owners[&n.inode]))
        .collect();
    // Multisets: an image may have two listeners with one identity.
    let mut remaining: BTreeMap<&Identity, usize> = BTreeMap::new();
    for id in &baseline.listeners {
        if !scanned_only || scanned.contains(&id.netns) {
            *remaining.entry(id).or_default() += 1;
        }
    }
    let mut out = portcullis_sdk::verdicts::Collector::default();
    for l in &inv.listeners {
        let id = identity_with(inv, l, owners.get(&l.netns).map_or(&[][..], Vec::as_slice));
        match remaining.get_mut(&id) {
            Some(n) if *n > 0 => {
                *n -= 1;
                out.pass(DRIFT, l);
            }
            _ => out.push(verdicts::fail(
                DRIFT,
                l,
                format!("new listener, not in the baseline: {id}"),
            )),
        }
    }
    for (id, n) in remaining {
        for k in 0..n {
            // The identity of what is gone, so that the same change is the
            // same finding in every run (a repeated identity is counted).
            let subject = match k {
                0 => id.to_string(),
                k => format!("{id} #{}", k + 1),
            };
            out.push(Verdict {
                rule_id: DRIFT.into(),
                listener: None,
                outcome: Outcome::Fail,
                message: format!("listener in the baseline is gone: {id}"),
                level: None,
                related: vec![],
                subject: Some(subject),
            });
        }
    }
    out.finish()
}

fn info() -> RuleInfo {
    RuleInfo {
        id: DRIFT.into(),
        name: "BaselineDrift".into(),
        short_description: "The listeners differ from the recorded baseline.".into(),
        full_description: "Freeze a known-good image's listeners with `portcullis baseline --output FILE`; \
            `portcullis scan --baseline FILE` then fails on every listener that is new and every one that is \
            gone. Identities hold no pids or inodes: namespace kind, protocol, bind (the address for loopback, \
            else the scope, with the device), port (UDP ports from 32768 count as `ephemeral`) and program."
            .into(),
        help_markdown: "A new listener is a service the image did not have: stop and disable it \
            (`systemctl disable --now UNIT`) or, if the change is intended, record a new baseline and commit \
            it. A vanished listener is a service that no longer starts: check its unit, or record a new \
            baseline."
            .into(),
        help_uri: None,
        default_level: Level::Error,
        tags: vec!["security".into(), "drift".into()],
        enabled_by_default: true,
        security_severity: 4.0,
        precision: Precision::High,
    }
}

#[cfg(test)]
mod tests;
