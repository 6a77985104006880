//! Built-in plugin `expected`: rule `unexpected-listener`, the "nothing else
//! listens" allowlist. The policy lists the listeners a host is meant to
//! have; every other one fails, and every entry that matched nothing is
//! reported (the service is missing, or the entry is stale).

use portcullis_sdk::{
    Evaluation, Inventory, Level, Listener, NotApplicable, Outcome, Plugin, PluginError,
    PluginInfo, Precision, Protocol, RuleInfo, Verdict, config, net, ports::PortSet, verdicts,
};
use serde::Deserialize;

pub const UNEXPECTED: &str = "unexpected-listener";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub expected: Vec<Entry>,
    /// Judge loopback listeners too (default: only those reachable from outside).
    pub include_loopback: bool,
}

/// One expected listener; every field given must match.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Entry {
    pub protocol: Option<String>,
    pub port: Option<PortSet>,
    /// As listed: `0.0.0.0`, `::`, `*`, `192.168.1.5`.
    pub address: Option<String>,
    /// loopback, link-local, private, multicast, public, wildcard, dual-stack.
    pub scope: Option<String>,
    /// A holder's name (comm).
    pub process: Option<String>,
    pub exe: Option<String>,
    pub unit: Option<String>,
    /// `host`, `container` (any container), or a namespace name.
    pub netns: Option<String>,
    /// Why it is expected (shown in the help of a missing entry).
    pub note: Option<String>,
}

pub struct Expected;

impl Plugin for Expected {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "expected".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            rules: vec![info()],
            config_schema: Some(SCHEMA.into()),
        }
    }

    fn validate_config(config: String) -> Result<(), PluginError> {
        let c: Config = config::parse(&config)?;
        for (i, e) in c.expected.iter().enumerate() {
            if let Some(p) = &e.protocol
                && p != "tcp"
                && p != "udp"
            {
                return Err(PluginError::InvalidConfig(format!(
                    "expected[{i}].protocol: {p:?} is not tcp or udp"
                )));
            }
            if let Some(s) = &e.scope {
                net::scope_named(s).ok_or_else(|| {
                    PluginError::InvalidConfig(format!("expected[{i}].scope: unknown scope {s:?}"))
                })?;
            }
        }
        Ok(())
    }

    fn evaluate(config: String, inventory: &Inventory) -> Result<Evaluation, PluginError> {
        Self::validate_config(config.clone())?;
        Ok(evaluate(&config::parse(&config)?, inventory))
    }
}

pub fn evaluate(config: &Config, inv: &Inventory) -> Evaluation {
    if config.expected.is_empty() {
        return Evaluation {
            verdicts: vec![],
            passed: vec![],
            not_applicable: vec![NotApplicable {
                rule_id: UNEXPECTED.into(),
                reason: "no expected listeners in [plugins.expected.config]".into(),
            }],
        };
    }
    let mut used = vec![false; config.expected.len()];
    let mut out = portcullis_sdk::verdicts::Collector::default();
    for l in inv
        .listeners
        .iter()
        .filter(|l| config.include_loopback || !net::is_loopback(l))
    {
        match config.expected.iter().position(|e| matches(e, inv, l)) {
            Some(i) => {
                used[i] = true;
                out.pass(UNEXPECTED, l);
            }
            None => {
                let proto = if l.protocol == Protocol::Tcp {
                    "tcp"
                } else {
                    "udp"
                };
                let holders = net::holder_names(inv, l).join(", ");
                let holders = if holders.is_empty() {
                    "unknown owner".into()
                } else {
                    holders
                };
                out.push(verdicts::fail(UNEXPECTED, l, format!(
                    "{proto} {} ({holders}) is not an expected listener: stop it, or add it to [plugins.expected.config] expected",
                    net::endpoint(l)
                )));
            }
        }
    }
    for (e, used) in config.expected.iter().zip(used) {
        if !used {
            out.push(Verdict {
                rule_id: UNEXPECTED.into(),
                listener: None,
                outcome: Outcome::Fail,
                message: format!("expected {} matched no listener: the service is not running, or the entry is stale", describe(e)),
                level: Some(Level::Warning),
                related: vec![],
                subject: Some(format!("expected {}", describe(e))),
            });
        }
    }
    out.finish()
}

fn matches(e: &Entry, inv: &Inventory, l: &Listener) -> bool {
    let proto = if l.protocol == Protocol::Tcp {
        "tcp"
    } else {
        "udp"
    };
    let netns = inv.namespaces.iter().find(|n| n.inode == l.netns);
    let mut procs = net::holders(inv, l);
    e.protocol.as_deref().is_none_or(|p| p == proto)
        && e.port.as_ref().is_none_or(|p| p.contains(l.port))
        && e.address.as_deref().is_none_or(|a| a == l.address)
        && e.scope
            .as_deref()
            .is_none_or(|s| net::scope_named(s) == Some(l.scope))
        && e.netns.as_deref().is_none_or(|want| {
            netns.is_some_and(|n| match want {
                "host" => n.is_host,
                "container" => !n.containers.is_empty(),
                name => {
                    n.names.iter().any(|x| x == name)
                        || n.containers.iter().any(|c| c.ends_with(name))
                }
            })
        })
        && (e.process.is_none() && e.exe.is_none() && e.unit.is_none()
            || procs.any(|p| {
                e.process.as_deref().is_none_or(|want| p.comm == want)
                    && e.exe
                        .as_deref()
                        .is_none_or(|want| p.exe.as_deref() == Some(want))
                    && e.unit
                        .as_deref()
                        .is_none_or(|want| p.unit.as_deref() == Some(want))
            }))
}

fn describe(e: &Entry) -> String {
    let mut parts = Vec::new();
    for (k, v) in [
        ("protocol", &e.protocol),
        ("address", &e.address),
        ("scope", &e.scope),
        ("process", &e.process),
        ("exe", &e.exe),
        ("unit", &e.unit),
        ("netns", &e.netns),
    ] {
        if let Some(v) = v {
            parts.push(format!("{k}={v}"));
        }
    }
    if e.port.is_some() {
        parts.push("port=…".into());
    }
    let note = e
        .note
        .as_deref()
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    format!("[{}]{note}", parts.join(" "))
}

const SCHEMA: &str = r#"{"type":"object","additionalProperties":false,"properties":{"include_loopback":{"type":"boolean"},"expected":{"type":"array","items":{"type":"object","additionalProperties":false,"properties":{"protocol":{"enum":["tcp","udp"]},"port":{},"address":{"type":"string"},"scope":{"enum":["loopback","link-local","private","multicast","public","wildcard","dual-stack"]},"process":{"type":"string"},"exe":{"type":"string"},"unit":{"type":"string"},"netns":{"type":"string"},"note":{"type":"string"}}}}}}"#;

fn info() -> RuleInfo {
    RuleInfo {
        id: UNEXPECTED.into(),
        name: "UnexpectedListener".into(),
        short_description: "Something listens that the policy does not expect.".into(),
        full_description: "With a list of expected listeners in the policy, every other listener beyond loopback \
            (or every other one, with include_loopback) fails: a forgotten or newly installed service is found \
            before the image ships. Expected entries that match nothing are reported too."
            .into(),
        help_markdown: "List what the host is for:\n\n```toml\n[plugins.expected.config]\nexpected = [\n  \
            { protocol = \"tcp\", port = 22, process = \"sshd\", note = \"management\" },\n  \
            { protocol = \"tcp\", port = [80, 443], unit = \"nginx.service\" },\n]\n```\n\nEach entry may give \
            protocol, port (a number, a \"lo-hi\" range, or a list), address, scope, process, exe, unit and netns \
            (`host`, `container`, or a name). **Fix** for a finding: stop and disable the service \
            (`systemctl disable --now UNIT`) and the units that pull it in, or bind it to loopback; if it is \
            meant to be there, add an entry."
            .into(),
        help_uri: Some("https://documentation.ubuntu.com/server/explanation/security/unnecessarily-open-ports/".into()),
        default_level: Level::Error,
        tags: vec!["security".into(), "network".into(), "allowlist".into()],
        enabled_by_default: true,
        security_severity: 5.0,
        precision: Precision::High,
    }
}

#[cfg(test)]
mod tests;
