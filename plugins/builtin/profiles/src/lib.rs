//! Built-in plugin `profiles`: rule `os-profile` compares the host's
//! listeners with what a distribution's default install may open (Ubuntu's
//! "No Open Ports" policy and its exceptions; Debian's; a generic server).
//! Any other listener off loopback in the host's namespace is a finding.

use portcullis_sdk::{
    Evaluation, Inventory, Level, Listener, NotApplicable, Plugin, PluginError, PluginInfo,
    Precision, Protocol, RuleInfo, config, net, verdicts,
};
use serde::Deserialize;

pub const OS_PROFILE: &str = "os-profile";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `auto` (from os-release), `ubuntu`, `debian`, `server`, or `none`.
    pub profile: Option<String>,
    /// A desktop image: Avahi (mDNS) is then expected too.
    pub desktop: bool,
}

/// Something a profile expects to listen off loopback.
pub struct Expected {
    pub what: &'static str,
    pub protocol: Protocol,
    pub port: u16,
    /// Also on any other port of its protocol (Avahi answers from a random one).
    pub any_port: bool,
    /// Holders it may have (any, when empty).
    pub processes: &'static [&'static str],
    /// Must be bound to one interface's address (a DHCP client), not a wildcard.
    pub interface_bound: bool,
    pub desktop_only: bool,
}

const DHCP_CLIENTS: &[&str] = &[
    "systemd-network",
    "dhclient",
    "dhcpcd",
    "NetworkManager",
    "dhcpcd-run-hooks",
];
const SSH: &[&str] = &["sshd", "systemd"];

/// The defaults every row starts from.
const ROW: Expected = Expected {
    what: "",
    protocol: Protocol::Udp,
    port: 0,
    any_port: false,
    processes: &[],
    interface_bound: false,
    desktop_only: false,
};
const DHCP4_ANYWHERE: Expected = Expected {
    what: "DHCPv4 client",
    port: 68,
    processes: DHCP_CLIENTS,
    ..ROW
};
const DHCP6_ANYWHERE: Expected = Expected {
    what: "DHCPv6 client",
    port: 546,
    processes: DHCP_CLIENTS,
    ..ROW
};
const DHCP4_ON_INTERFACE: Expected = Expected {
    interface_bound: true,
    ..DHCP4_ANYWHERE
};
const DHCP6_ON_INTERFACE: Expected = Expected {
    interface_bound: true,
    ..DHCP6_ANYWHERE
};
const OPENSSH: Expected = Expected {
    what: "OpenSSH",
    protocol: Protocol::Tcp,
    port: 22,
    processes: SSH,
    ..ROW
};
const AVAHI: Expected = Expected {
    what: "Avahi mDNS",
    port: 5353,
    any_port: true,
    processes: &["avahi-daemon"],
    desktop_only: true,
    ..ROW
};

/// Ubuntu: DHCP client on its interface address, OpenSSH (systemd holds it
/// for ssh.socket since 22.10), Avahi on desktops; systemd-resolved is on
/// loopback (127.0.0.53, 127.0.0.54) and so needs no row.
/// Source: Ubuntu security docs, "Open ports" and "Unnecessarily open ports".
pub const UBUNTU: &[Expected] = &[DHCP4_ON_INTERFACE, DHCP6_ON_INTERFACE, OPENSSH, AVAHI];

/// Debian: ISC dhclient binds 0.0.0.0:68, so the DHCP client may be a wildcard.
pub const DEBIAN: &[Expected] = &[DHCP4_ANYWHERE, DHCP6_ANYWHERE, OPENSSH, AVAHI];

/// A generic server: a DHCP client and SSH, nothing else.
pub const SERVER: &[Expected] = &[DHCP4_ANYWHERE, DHCP6_ANYWHERE, OPENSSH];

pub struct Profiles;

impl Plugin for Profiles {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "profiles".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            rules: vec![info()],
            config_schema: Some(
                r#"{"type":"object","additionalProperties":false,"properties":{"profile":{"enum":["auto","ubuntu","debian","server","none"]},"desktop":{"type":"boolean"}}}"#.into(),
            ),
        }
    }

    fn validate_config(config: String) -> Result<(), PluginError> {
        let c: Config = config::parse(&config)?;
        profile_named(c.profile.as_deref().unwrap_or("auto")).map(drop)
    }

    fn evaluate(config: String, inventory: &Inventory) -> Result<Evaluation, PluginError> {
        let config: Config = config::parse(&config)?;
        evaluate(&config, inventory)
    }
}

/// `Some(None)` for `auto`; `None` is an error.
fn profile_named(name: &str) -> Result<Option<(&'static str, &'static [Expected])>, PluginError> {
    Ok(match name {
        "auto" => None,
        "ubuntu" => Some(("ubuntu", UBUNTU)),
        "debian" => Some(("debian", DEBIAN)),
        "server" => Some(("server", SERVER)),
        "none" => Some(("none", &[])),
        other => {
            return Err(PluginError::InvalidConfig(format!(
                "unknown profile {other:?} (auto, ubuntu, debian, server, none)"
            )));
        }
    })
}

pub fn evaluate(config: &Config, inv: &Inventory) -> Result<Evaluation, PluginError> {
    let chosen = match profile_named(config.profile.as_deref().unwrap_or("auto"))? {
        Some(p) => Some(p),
        None => match inv.host.os_id.as_deref() {
            Some("ubuntu") => Some(("ubuntu", UBUNTU)),
            Some("debian") => Some(("debian", DEBIAN)),
            _ => None,
        },
    };
    let skip = |reason: String| Evaluation {
        verdicts: vec![],
        passed: vec![],
        not_applicable: vec![NotApplicable {
            rule_id: OS_PROFILE.into(),
            reason,
        }],
    };
    let Some((name, expected)) = chosen else {
        let id = inv.host.os_id.as_deref().unwrap_or("unknown");
        return Ok(skip(format!(
            "no default profile for os-release ID={id}; set profile = \"server\" in [plugins.profiles.config] to apply one"
        )));
    };
    if name == "none" {
        return Ok(skip("profile = \"none\" in the policy".into()));
    }
    let host_ns: Vec<u64> = inv
        .namespaces
        .iter()
        .filter(|n| n.is_host)
        .map(|n| n.inode)
        .collect();
    let mut out = portcullis_sdk::verdicts::Collector::default();
    for l in inv.listeners.iter().filter(|l| host_ns.contains(&l.netns)) {
        if net::is_loopback(l) {
            out.pass(OS_PROFILE, l);
            continue;
        }
        match expected.iter().find(|e| matches(e, config, inv, l)) {
            Some(_) => out.pass(OS_PROFILE, l),
            None => {
                let holders = net::holder_names(inv, l).join(", ");
                let holders = if holders.is_empty() {
                    "unknown owner".into()
                } else {
                    holders
                };
                let allowed: Vec<&str> = expected
                    .iter()
                    .filter(|e| config.desktop || !e.desktop_only)
                    .map(|e| e.what)
                    .collect();
                let proto = if l.protocol == Protocol::Tcp {
                    "tcp"
                } else {
                    "udp"
                };
                out.push(verdicts::fail(OS_PROFILE, l, format!(
                    "{proto} {} ({holders}) is not among the {name} profile's open ports ({}); nothing else may listen beyond loopback: stop and disable it, or allowlist it with the reason",
                    net::endpoint(l),
                    allowed.join(", ")
                )));
            }
        }
    }
    Ok(out.finish())
}

fn matches(e: &Expected, config: &Config, inv: &Inventory, l: &Listener) -> bool {
    (config.desktop || !e.desktop_only)
        && e.protocol == l.protocol
        && (e.port == l.port || e.any_port)
        && (e.processes.is_empty()
            || net::holders(inv, l).any(|p| e.processes.contains(&p.comm.as_str())))
        && (!e.interface_bound
            || (!net::is_wildcard(l)
                && (l.bound_device.is_some() || !l.address_interfaces.is_empty())))
}

fn info() -> RuleInfo {
    RuleInfo {
        id: OS_PROFILE.into(),
        name: "OsDefaultProfile".into(),
        short_description: "A listener is not among the distribution's default open ports.".into(),
        full_description: "Ubuntu follows a 'No Open Ports' policy: a default install listens only where it must \
            (a DHCP client on its interface address, the loopback stub resolver, OpenSSH where selected, Avahi on \
            desktops). The profile applies from os-release (ubuntu, debian) or as the policy names it (server); \
            it judges the host's network namespace."
            .into(),
        help_markdown: "Every listener beyond loopback is attack surface. **Fix:** stop and disable services that \
            are not needed (`systemctl disable --now UNIT`, and the units that pull it in: a disabled service can \
            still start as a dependency). Bind the ones that only serve this host to `127.0.0.1`, and the rest to \
            the one address they must serve, behind a firewall, kept updated. A service the image is *for* \
            belongs in the policy's allowlist, with its reason.\n\nProfiles: `ubuntu` (DHCP client on its \
            interface address, OpenSSH incl. systemd's ssh.socket, Avahi with `desktop = true`), `debian` (the \
            same, DHCP client on any address), `server` (DHCP client and OpenSSH). Set \
            `[plugins.profiles.config] profile = \"server\"` to choose one, or `\"none\"`."
            .into(),
        help_uri: Some("https://documentation.ubuntu.com/security/docs/security-features/network/open-ports/".into()),
        default_level: Level::Error,
        tags: vec!["security".into(), "network".into(), "profile".into()],
        enabled_by_default: true,
        security_severity: 5.0,
        precision: Precision::High,
    }
}

#[cfg(test)]
mod tests;
