//! Built-in plugin `exposure`: binds that reach further than they should
//! (`wildcard-bind`, `public-bind`), listeners the firewall lets anyone
//! reach (`unfiltered-exposure`), what DNAT publishes
//! (`firewall-bypass-by-dnat`, `published-without-listener`), loopback
//! listeners the outside reaches (`loopback-reachable`), and listeners
//! nobody can be held accountable for (`unknown-owner`).

use portcullis_sdk::{
    Evaluation, Inventory, Level, Listener, Plugin, PluginError, PluginInfo, Precision, RuleInfo,
    config, net, ports::PortSet, verdicts,
};
use serde::Deserialize;
use std::fmt::{self, Write as _};

use net::{Endpoint, ReachClause, Whereabouts};

mod advice;
mod published;
mod unfiltered;

pub use published::{FIREWALL_BYPASS_BY_DNAT, LOOPBACK_REACHABLE, PUBLISHED_WITHOUT_LISTENER};
pub use unfiltered::UNFILTERED_EXPOSURE;

pub const WILDCARD_BIND: &str = "wildcard-bind";
pub const UNKNOWN_OWNER: &str = "unknown-owner";
pub const PUBLIC_BIND: &str = "public-bind";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Ports where a wildcard bind is intended (judged as pass).
    pub wildcard_ports: PortSet,
}

pub struct Exposure;

impl Plugin for Exposure {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "exposure".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            rules: [
                wildcard_bind_info(),
                public_bind_info(),
                unknown_owner_info(),
                unfiltered::info(),
            ]
            .into_iter()
            .chain(published::infos())
            .collect(),
            config_schema: Some(CONFIG_SCHEMA.into()),
        }
    }

    fn validate_config(config: String) -> Result<(), PluginError> {
        config::parse::<Config>(&config).map(drop)
    }

    fn evaluate(config: String, inventory: &Inventory) -> Result<Evaluation, PluginError> {
        let config: Config = config::parse(&config)?;
        Ok(evaluate(&config, inventory))
    }
}

pub fn evaluate(config: &Config, inventory: &Inventory) -> Evaluation {
    let mut out = portcullis_sdk::verdicts::Collector::default();
    // An inventory made without the firewall's answers (read from a file
    // written without them) cannot be judged on them at all: one answer
    // for the rule, not a skip per listener.
    let reach_known = inventory.listeners.is_empty()
        || inventory
            .listeners
            .iter()
            .any(|l| inventory.reachability(l).is_some());
    if !reach_known {
        out.not_applicable(UNFILTERED_EXPOSURE, unfiltered::NOT_EVALUATED);
    }
    for l in &inventory.listeners {
        match wildcard_bind(config, inventory, l) {
            Some(failure) => out.push(failure),
            None => out.pass(WILDCARD_BIND, l),
        }
        if net::is_public(l) {
            let inv = inventory;
            out.push(verdicts::fail(PUBLIC_BIND, l, message(format_args!(
                "{} {}{} is bound to a public address ({}){}; bind it to a private or loopback address unless it must be reached from the internet, and then allowlist it with the reason",
                proto(l), Endpoint(l), Whereabouts { inv, l }, HoldersOrUnknown { inv, l }, ReachClause { inv, l }
            ))));
        } else {
            out.pass(PUBLIC_BIND, l);
        }
        if reach_known {
            out.push(unfiltered::judge(inventory, l));
        }
        if l.owner_unknown {
            out.push(verdicts::fail(
                UNKNOWN_OWNER,
                l,
                message(format_args!(
                    "{} {}: no process could be found holding it",
                    proto(l),
                    Endpoint(l)
                )),
            ));
        } else {
            out.pass(UNKNOWN_OWNER, l);
        }
    }
    published::judge(inventory, &mut out);
    out.finish()
}

/// The failure, if `l` fails `wildcard-bind`.
fn wildcard_bind(
    config: &Config,
    inv: &Inventory,
    l: &Listener,
) -> Option<portcullis_sdk::Verdict> {
    // A wildcard fails in every namespace, even one with only loopback
    // today: the finding is the service's configuration, which goes
    // wherever the image is deployed.
    if !net::is_wildcard(l)
        || config.wildcard_ports.contains(l.port)
        || advice::needs_wildcard(inv, l)
    {
        return None;
    }
    Some(verdicts::fail(
        WILDCARD_BIND,
        l,
        message(format_args!(
            "{} {}{} listens on every address ({}){}; {}",
            proto(l),
            Endpoint(l),
            Whereabouts { inv, l },
            HoldersOrUnknown { inv, l },
            ReachClause { inv, l },
            advice::Remedy { inv, l }
        )),
    ))
}

/// A finding's message, written into one string: on a fleet this plugin
/// writes tens of thousands, and each piece made as a string of its own
/// cost more than the rules.
fn message(args: fmt::Arguments<'_>) -> String {
    let mut text = String::with_capacity(256);
    let _ = text.write_fmt(args); // writing to a String cannot fail
    text
}

/// The holders' names, or "an unknown process".
struct HoldersOrUnknown<'i> {
    inv: &'i Inventory,
    l: &'i Listener,
}

impl fmt::Display for HoldersOrUnknown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = net::HolderNames {
            inv: self.inv,
            l: self.l,
        };
        if names.is_empty() {
            f.write_str("an unknown process")
        } else {
            names.fmt(f)
        }
    }
}

fn proto(l: &Listener) -> &'static str {
    proto_name(l.protocol)
}

fn proto_name(p: portcullis_sdk::Protocol) -> &'static str {
    match p {
        portcullis_sdk::Protocol::Tcp => "tcp",
        portcullis_sdk::Protocol::Udp => "udp",
    }
}

const CONFIG_SCHEMA: &str = r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","additionalProperties":false,"properties":{"wildcard_ports":{"description":"Ports where a wildcard bind is intended","oneOf":[{"type":"integer"},{"type":"string"},{"type":"array","items":{"type":["integer","string"]}}]}}}"#;

fn wildcard_bind_info() -> RuleInfo {
    RuleInfo {
        id: WILDCARD_BIND.into(),
        name: "WildcardBind".into(),
        short_description: "A service listens on every address (0.0.0.0, :: or *).".into(),
        full_description: "A wildcard bind accepts connections on every address of the host, including \
            interfaces added later, so the service is exposed wherever the machine is connected."
            .into(),
        help_markdown: "A socket bound to `0.0.0.0`, `::` or the dual-stack `*` listens on **all** addresses \
            of its namespace.\n\n**Fix:** configure the service to bind to `127.0.0.1` (or `::1`) when only \
            local processes use it, or to the one address it must serve. If the service is no longer needed, \
            stop and disable it (`systemctl disable --now UNIT`) along with the units that pull it in. \
            Where a wide bind is required, restrict it with a firewall. The fix names the holder's own \
            setting where the program is a common one (sshd, nginx, systemd socket units, resolved's LLMNR…).\n\n\
            A DHCP client's own port (68/udp, 546/udp for DHCPv6) passes: the client must take offers sent to \
            the broadcast address before it has an address, so its wildcard is the protocol, not a choice."
            .into(),
        help_uri: Some("https://documentation.ubuntu.com/server/explanation/security/unnecessarily-open-ports/".into()),
        default_level: Level::Error,
        tags: vec!["security".into(), "network".into(), "exposure".into()],
        enabled_by_default: true,
        security_severity: 6.5,
        precision: Precision::High,
    }
}

fn public_bind_info() -> RuleInfo {
    RuleInfo {
        id: PUBLIC_BIND.into(),
        name: "PublicBind".into(),
        short_description: "A service is bound to a public (internet-routable) address.".into(),
        full_description: "A socket bound to a public address is reachable from the internet unless a firewall \
            says otherwise. Only services meant for the internet should be."
            .into(),
        help_markdown: "**Fix:** bind the service to a private or loopback address when it does not serve the \
            internet. If it must (a public web server), keep it and record that with an allowlist entry in the \
            policy (`[[allow]] rule = \"public-bind\" port = 443 reason = \"…\"`), firewall everything else, and \
            keep it updated."
            .into(),
        help_uri: Some("https://documentation.ubuntu.com/server/explanation/security/unnecessarily-open-ports/".into()),
        default_level: Level::Error,
        tags: vec!["security".into(), "network".into(), "exposure".into()],
        enabled_by_default: true,
        security_severity: 8.0,
        precision: Precision::VeryHigh,
    }
}

fn unknown_owner_info() -> RuleInfo {
    RuleInfo {
        id: UNKNOWN_OWNER.into(),
        name: "UnknownOwner".into(),
        short_description: "No process could be found holding a listening socket.".into(),
        full_description: "The socket is open, but no readable process descriptor refers to it: a kernel \
            socket, a process whose descriptors could not be read, or one that exited mid-scan."
            .into(),
        help_markdown: "Run portcullis as root (or with CAP_SYS_PTRACE) so every process's descriptors can \
            be read. If it still has no owner, it may be a kernel socket (NFS, WireGuard, VXLAN): check \
            which module opened it and whether it is needed."
            .into(),
        help_uri: None,
        default_level: Level::Warning,
        tags: vec!["security".into(), "attribution".into()],
        enabled_by_default: true,
        security_severity: 3.0,
        precision: Precision::Medium,
    }
}

#[cfg(test)]
mod tests;
