//! Naming the `.socket` unit behind a socket that systemd holds for socket
//! activation (PID 1 owns the listening descriptor; the service may not run).
//!
//! systemd has no file that maps a descriptor to its unit, so this reads the
//! socket units' `ListenStream=` / `ListenDatagram=` directives from the unit
//! search path (drop-ins included) and matches protocol, port and address.
//! When `/run/systemd/units` records which units are active
//! (`invocation:NAME` links), only active units are considered.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use crate::model::Protocol;

/// Unit directories in systemd's precedence order (earlier wins).
const SEARCH_PATH: [&str; 6] = [
    "etc/systemd/system",
    "run/systemd/system",
    "run/systemd/transient",
    "usr/local/lib/systemd/system",
    "usr/lib/systemd/system",
    "lib/systemd/system",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenSpec {
    pub protocol: Protocol,
    /// None when the directive gives only a port (all addresses).
    pub address: Option<IpAddr>,
    pub port: u16,
}

#[derive(Debug, Default)]
pub struct SocketUnits {
    /// Unit name → (its file, as a path inside the root; its listen specs).
    units: BTreeMap<String, (String, Vec<ListenSpec>)>,
}

/// Entries read from one unit folder, and bytes from one unit file: far
/// beyond real ones, and a bound on what another user may have put there
/// (a container's root is theirs).
const DIR_ENTRIES: usize = 100_000;
const UNIT_FILE_BYTES: u64 = 1 << 20;

fn names_in(dir: &Path) -> Vec<String> {
    crate::os::fs::list_dir(dir, DIR_ENTRIES)
        .unwrap_or_default()
        .into_iter()
        .map(|n| n.to_string_lossy().into_owned())
        .collect()
}

fn unit_text(path: &Path) -> String {
    crate::os::fs::read_text(path, UNIT_FILE_BYTES).unwrap_or_default()
}

impl SocketUnits {
    /// Loads socket units from the filesystem under `root` (`/` normally).
    pub fn load(root: &Path) -> SocketUnits {
        let active = active_units(root);
        let mut units = BTreeMap::new();
        for dir in SEARCH_PATH {
            for name in names_in(&root.join(dir)) {
                if !name.ends_with(".socket") || units.contains_key(&name) {
                    continue;
                }
                if active
                    .as_ref()
                    .is_some_and(|a: &Vec<String>| !a.contains(&name))
                {
                    continue;
                }
                let mut text = unit_text(&root.join(dir).join(&name));
                text.push_str(&drop_ins(root, &name));
                let file = format!("/{dir}/{name}");
                units.insert(name, (file, parse_listen(&text)));
            }
        }
        SocketUnits { units }
    }

    /// The unit listening on this socket, and its file: an exact address
    /// match first, then a port-only directive.
    pub fn find(&self, protocol: Protocol, address: IpAddr, port: u16) -> Option<(&str, &str)> {
        let matching = |exact: bool| {
            self.units.iter().find(|(_, (_, specs))| {
                specs.iter().any(|s| {
                    s.protocol == protocol
                        && s.port == port
                        && (s.address == Some(address)) == exact
                        && (exact || s.address.is_none())
                })
            })
        };
        matching(true)
            .or_else(|| matching(false))
            .map(|(name, (file, _))| (name.as_str(), file.as_str()))
    }
}

/// Where a unit's file is, as a path inside `root` (`/usr/lib/systemd/system/
/// nginx.service`): the first match on the search path, with an instance
/// (`getty@tty1.service`) found through its template (`getty@.service`).
pub fn unit_file(root: &Path, unit: &str) -> Option<String> {
    let template = unit.split_once('@').and_then(|(prefix, rest)| {
        let suffix = rest.rsplit_once('.')?.1;
        Some(format!("{prefix}@.{suffix}"))
    });
    SEARCH_PATH.iter().find_map(|dir| {
        [Some(unit), template.as_deref()]
            .into_iter()
            .flatten()
            .find(|name| crate::os::fs::is_regular(&root.join(dir).join(name)))
            .map(|name| format!("/{dir}/{name}"))
    })
}

fn active_units(root: &Path) -> Option<Vec<String>> {
    let names = crate::os::fs::list_dir(&root.join("run/systemd/units"), DIR_ENTRIES).ok()?;
    let names = names
        .iter()
        .filter_map(|n| n.to_str()?.strip_prefix("invocation:").map(str::to_owned))
        .collect();
    Some(names)
}

fn drop_ins(root: &Path, unit: &str) -> String {
    let mut text = String::new();
    for dir in SEARCH_PATH.iter().rev() {
        let folder = root.join(dir).join(format!("{unit}.d"));
        let mut names: Vec<String> = names_in(&folder)
            .into_iter()
            .filter(|n| n.ends_with(".conf"))
            .collect();
        names.sort();
        for name in names {
            text.push('\n');
            text.push_str(&unit_text(&folder.join(name)));
        }
    }
    text
}

/// Reads the `[Socket]` listen directives of a unit file (with drop-ins
/// appended). An empty assignment resets the list, as in systemd.
pub fn parse_listen(unit_text: &str) -> Vec<ListenSpec> {
    let mut specs = Vec::new();
    let mut in_socket = false;
    for line in unit_text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_socket = line == "[Socket]";
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let protocol = match key.trim() {
            "ListenStream" if in_socket => Protocol::Tcp,
            "ListenDatagram" if in_socket => Protocol::Udp,
            _ => continue,
        };
        let value = value.trim();
        if value.is_empty() {
            specs.clear();
        } else if let Some((address, port)) = parse_listen_value(value) {
            specs.push(ListenSpec {
                protocol,
                address,
                port,
            });
        }
    }
    specs
}

/// `22`, `0.0.0.0:22`, `[::1]:22`; unix paths, abstract and vsock sockets are not IP.
fn parse_listen_value(value: &str) -> Option<(Option<IpAddr>, u16)> {
    if let Ok(port) = value.parse() {
        return Some((None, port));
    }
    let addr: std::net::SocketAddr = value.parse().ok()?;
    Some((Some(addr.ip()), addr.port()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listen_directives_with_resets() {
        let unit = "[Unit]\nListenStream=9\n[Socket]\nListenStream=22\nListenStream=/run/x.sock\n\
                    ListenDatagram=127.0.0.1:53\nListenStream=[::1]:8080\n";
        let specs = parse_listen(unit);
        assert_eq!(specs.len(), 3);
        assert_eq!(
            specs[0],
            ListenSpec {
                protocol: Protocol::Tcp,
                address: None,
                port: 22
            }
        );
        assert_eq!(specs[1].address, Some("127.0.0.1".parse().unwrap()));
        let reset = format!("{unit}\n[Socket]\nListenStream=\nListenStream=2222\n");
        assert_eq!(
            parse_listen(&reset),
            [ListenSpec {
                protocol: Protocol::Tcp,
                address: None,
                port: 2222
            }]
        );
    }
}
