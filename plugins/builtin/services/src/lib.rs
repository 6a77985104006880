//! Built-in plugin `services`: well-known services judged by what they are.
//! `local-only-exposed` finds services meant for this host listening beyond
//! loopback; `risky-service` finds legacy or dangerous services listening at
//! all. Both are driven by the tables in [`tables`], one row per service
//! with its source.

pub mod tables;

use portcullis_sdk::{
    Evaluation, Inventory, Level, Listener, Plugin, PluginError, PluginInfo, Precision, Protocol,
    RuleInfo, config, net, verdicts,
};
use serde::Deserialize;
use tables::{LOCAL_ONLY, RISKY, Service, When};

pub const LOCAL_ONLY_EXPOSED: &str = "local-only-exposed";
pub const RISKY_SERVICE: &str = "risky-service";
const UBUNTU_GUIDE: &str =
    "https://documentation.ubuntu.com/server/explanation/security/unnecessarily-open-ports/";

/// Nothing to configure yet; unknown keys are still errors.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {}

pub struct Services;

impl Plugin for Services {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "services".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            rules: vec![local_only_info(), risky_info()],
            config_schema: Some(
                r#"{"type":"object","additionalProperties":false,"properties":{}}"#.into(),
            ),
        }
    }

    fn validate_config(config: String) -> Result<(), PluginError> {
        config::parse::<Config>(&config).map(drop)
    }

    fn evaluate(config: String, inventory: &Inventory) -> Result<Evaluation, PluginError> {
        config::parse::<Config>(&config)?;
        Ok(evaluate(inventory))
    }
}

pub fn evaluate(inv: &Inventory) -> Evaluation {
    let mut out = portcullis_sdk::verdicts::Collector::default();
    let local_only = Lookup::of(inv, LOCAL_ONLY.iter());
    let risky = Lookup::of(inv, RISKY.iter().map(|r| &r.service));
    for l in &inv.listeners {
        if let Some(i) = local_only.first(l) {
            if net::is_loopback(l) {
                out.pass(LOCAL_ONLY_EXPOSED, l);
            } else {
                out.push(verdicts::fail(
                    LOCAL_ONLY_EXPOSED,
                    l,
                    message(&LOCAL_ONLY[i], inv, l, "should serve only this host"),
                ));
            }
        }
        if let Some(i) = risky.first(l) {
            let r = &RISKY[i];
            if r.when == When::Listening || !net::is_loopback(l) {
                out.push(verdicts::fail(
                    RISKY_SERVICE,
                    l,
                    message(&r.service, inv, l, "is risky"),
                ));
            } else {
                out.pass(RISKY_SERVICE, l);
            }
        }
    }
    out.finish()
}

/// A table's rows by process name and by port: the first row that is a
/// listener, found without scanning the table.
struct Lookup {
    names: Names,
    rows: Rows,
}

impl Lookup {
    fn of<'s>(inv: &Inventory, table: impl Iterator<Item = &'s Service> + Clone) -> Lookup {
        Lookup {
            names: Names::of(inv, table.clone()),
            rows: Rows::of(table),
        }
    }

    /// The first row that is `l`: by protocol and port, or by a holder's
    /// name.
    fn first(&self, l: &Listener) -> Option<usize> {
        self.rows.first(self.names.of_holders(l), l)
    }
}

/// Which services of a table each process's name identifies, one bit per
/// row: worked out once per process, not once per listener and row (a
/// fleet has a hundred thousand listeners and a few hundred processes).
struct Names(Vec<u64>);

const _: () = assert!(
    LOCAL_ONLY.len() <= 64 && RISKY.len() <= 64,
    "one bit per row (and a row index below `NONE`)"
);

impl Names {
    fn of<'s>(inv: &Inventory, table: impl Iterator<Item = &'s Service> + Clone) -> Names {
        Names(
            inv.processes
                .iter()
                .map(|p| {
                    table
                        .clone()
                        .enumerate()
                        .filter(|(_, s)| s.processes.contains(&p.comm.as_str()))
                        .fold(0, |bits, (i, _)| bits | 1 << i)
                })
                .collect(),
        )
    }

    /// The rows `l`'s holders' names identify, one bit per row.
    fn of_holders(&self, l: &Listener) -> u64 {
        l.holders
            .iter()
            .filter_map(|h| self.0.get(h.process as usize))
            .fold(0u64, |bits, b| bits | b)
    }
}

/// Each protocol's first row by port, and the rows of each protocol: a
/// listener's row is two lookups, not a scan of the table per listener.
struct Rows {
    /// `protocol << 16 | port` → the first row with that port, or `NONE`.
    by_port: Vec<u8>,
    of_protocol: [u64; 2],
}

const NONE: u8 = u8::MAX;

impl Rows {
    fn of<'s>(table: impl Iterator<Item = &'s Service>) -> Rows {
        let mut rows = Rows {
            by_port: vec![NONE; 2 << 16],
            of_protocol: [0; 2],
        };
        for (i, s) in table.enumerate() {
            let protocol = protocol_index(s.protocol);
            rows.of_protocol[protocol] |= 1 << i;
            for &(lo, hi) in s.ports {
                for port in lo..=hi {
                    let first = &mut rows.by_port[protocol << 16 | usize::from(port)];
                    if *first == NONE {
                        *first = i as u8;
                    }
                }
            }
        }
        rows
    }

    /// The first row that is `l`: of its protocol, and by port or by one
    /// of the names its holders have (`named`, one bit per row).
    fn first(&self, named: u64, l: &Listener) -> Option<usize> {
        let protocol = protocol_index(l.protocol);
        let by_port = self.by_port[protocol << 16 | usize::from(l.port)];
        let named = named & self.of_protocol[protocol];
        let by_name = if named == 0 {
            NONE
        } else {
            named.trailing_zeros() as u8
        };
        let first = by_port.min(by_name);
        (first != NONE).then_some(usize::from(first))
    }
}

fn protocol_index(p: Protocol) -> usize {
    match p {
        Protocol::Tcp => 0,
        Protocol::Udp => 1,
    }
}

fn message(s: &Service, inv: &Inventory, l: &Listener, verdict: &str) -> String {
    let proto = if l.protocol == Protocol::Tcp {
        "tcp"
    } else {
        "udp"
    };
    let holders = net::holder_names(inv, l).join(", ");
    let by = if holders.is_empty() {
        String::new()
    } else {
        format!(" ({holders})")
    };
    format!(
        "{}{by} on {proto} {} {verdict}{}: {}. Fix: {}. [{}]",
        s.name,
        net::endpoint(l),
        net::reach_clause(inv, l),
        s.why,
        s.fix,
        s.source
    )
}

fn local_only_info() -> RuleInfo {
    let list: Vec<String> = LOCAL_ONLY
        .iter()
        .map(|s| format!("- {} ({}): {}", s.name, ports(s), s.source))
        .collect();
    RuleInfo {
        id: LOCAL_ONLY_EXPOSED.into(),
        name: "LocalOnlyServiceExposed".into(),
        short_description: "A service meant for this host only listens beyond loopback.".into(),
        full_description: "Databases, caches, local mailers and similar services serve processes on the same host. \
            Listening on any address but loopback exposes them to the network."
            .into(),
        help_markdown: format!(
            "**Fix:** bind the service to `127.0.0.1` (and `::1`); each finding names the setting. If remote \
            clients really need it, bind it to the one address they use and firewall it. If it is not needed at \
            all, stop and disable it (`systemctl disable --now UNIT`) along with the units that pull it in, and \
            keep it updated while it runs.\n\nServices checked (by port, or by process name on any port):\n{}",
            list.join("\n")
        ),
        help_uri: Some(UBUNTU_GUIDE.into()),
        default_level: Level::Error,
        tags: vec!["security".into(), "network".into(), "services".into()],
        enabled_by_default: true,
        security_severity: 8.5,
        precision: Precision::High,
    }
}

fn risky_info() -> RuleInfo {
    let list: Vec<String> = RISKY
        .iter()
        .map(|r| {
            let when = if r.when == When::Listening {
                "anywhere"
            } else {
                "off loopback"
            };
            format!(
                "- {} ({}, {when}): {}",
                r.service.name,
                ports(&r.service),
                r.service.source
            )
        })
        .collect();
    RuleInfo {
        id: RISKY_SERVICE.into(),
        name: "RiskyService".into(),
        short_description: "A legacy or dangerous service is listening.".into(),
        full_description:
            "Some services should not run on a modern host at all (clear-text logins, \
            unauthenticated control APIs, known exploited daemons), or not beyond loopback."
                .into(),
        help_markdown: format!(
            "**Fix:** stop and disable the service (`systemctl disable --now UNIT`) and the units that pull it \
            in, and remove its package; each finding names a safer replacement. Where it must run, bind it to \
            loopback or a management address, firewall it, and keep it updated.\n\nServices checked:\n{}",
            list.join("\n")
        ),
        help_uri: Some(UBUNTU_GUIDE.into()),
        default_level: Level::Error,
        tags: vec!["security".into(), "network".into(), "legacy".into()],
        enabled_by_default: true,
        security_severity: 8.8,
        precision: Precision::High,
    }
}

fn ports(s: &Service) -> String {
    let proto = if s.protocol == Protocol::Tcp {
        "tcp"
    } else {
        "udp"
    };
    let list: Vec<String> = s
        .ports
        .iter()
        .map(|&(lo, hi)| {
            if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}-{hi}")
            }
        })
        .collect();
    format!("{}/{proto}", list.join(","))
}

#[cfg(test)]
mod tests;
