//! Naming the `.socket` unit behind a socket that systemd holds for socket
//! activation (PID 1 owns the listening descriptor; the service may not run).
//!
//! systemd exposes no file that maps a descriptor to its unit, and a static
//! binary has no D-Bus client. So this reads what systemd itself reads: the
//! socket units on the unit search path, generated units and drop-ins
//! included (Ubuntu's `ssh.socket` gets its addresses from a generator's
//! drop-in), and matches their `ListenStream=` / `ListenDatagram=` to the
//! socket's protocol, address, port and device. PID 1 holding a matching
//! socket is what says the unit is listening; when several units declare the
//! same socket, the enabled one (linked from a `.wants`/`.requires` folder)
//! is taken, and if that does not settle it, none is: a guess would name the
//! wrong unit. (`/run/systemd/units/invocation:NAME` links are no help: real
//! systemd writes them for units that run processes, not for `.socket` units.)

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;

use crate::model::Protocol;

/// The system manager's unit directories, in systemd's precedence order
/// (earlier wins; `systemd.unit(5)`, "Unit File Load Path"). `lib/` is the
/// layout before merged `/usr`; on a merged system it lists `usr/lib` again
/// and loses to it.
const SEARCH_PATH: [&str; 13] = [
    "etc/systemd/system.control",
    "run/systemd/system.control",
    "run/systemd/transient",
    "run/systemd/generator.early",
    "etc/systemd/system",
    "etc/systemd/system.attached",
    "run/systemd/system",
    "run/systemd/system.attached",
    "run/systemd/generator",
    "usr/local/lib/systemd/system",
    "usr/lib/systemd/system",
    "lib/systemd/system",
    "run/systemd/generator.late",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenSpec {
    pub protocol: Protocol,
    /// None when the directive gives only a port (every address).
    pub address: Option<IpAddr>,
    pub port: u16,
}

/// One socket unit as systemd would load it (file, then drop-ins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketUnit {
    pub name: String,
    /// Its file, as a path inside the root.
    pub file: String,
    pub listen: Vec<ListenSpec>,
    /// `BindToDevice=`.
    pub device: Option<String>,
    /// The service it starts: `Service=`, or `NAME@.service` with
    /// `Accept=yes`, or `NAME.service`.
    pub activates: String,
    /// Linked from some `.wants`/`.requires` folder.
    pub enabled: bool,
}

/// A raw socket held by PID 1, as this module matches it.
#[derive(Debug, Clone, Copy)]
pub struct HeldSocket<'a> {
    pub protocol: Protocol,
    pub address: IpAddr,
    pub port: u16,
    pub device: Option<&'a str>,
}

#[derive(Debug, Default)]
pub struct SocketUnits {
    units: Vec<SocketUnit>,
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
        let enabled = enabled_units(root);
        let mut seen = BTreeSet::new();
        let mut units = Vec::new();
        for dir in SEARCH_PATH {
            for name in names_in(&root.join(dir)) {
                if !name.ends_with(".socket") || seen.contains(&name) {
                    continue;
                }
                let path = root.join(dir).join(&name);
                // A masked unit is a link to /dev/null; read_text refuses
                // it, and it hides the unit's lower copies, as in systemd.
                seen.insert(name.clone());
                if !crate::os::fs::is_regular(&path) {
                    continue;
                }
                let mut text = unit_text(&path);
                text.push_str(&drop_ins(root, &name));
                let directives = parse_socket(&text);
                units.push(SocketUnit {
                    activates: directives.activates(&name),
                    enabled: enabled.contains(&name),
                    file: format!("/{dir}/{name}"),
                    name,
                    listen: directives.listen,
                    device: directives.device,
                });
            }
        }
        units.sort_by(|a, b| a.name.cmp(&b.name));
        SocketUnits { units }
    }

    /// The unit listening on this socket: the units that declare its
    /// address exactly, else those that give only its port (for a wildcard
    /// bind); of several, the one enabled unit; otherwise none.
    pub fn find(&self, held: HeldSocket<'_>) -> Option<&SocketUnit> {
        let declares = |exact: bool| -> Vec<&SocketUnit> {
            self.units
                .iter()
                .filter(|u| u.device.as_deref().is_none_or(|d| Some(d) == held.device))
                .filter(|u| {
                    u.listen.iter().any(|s| {
                        s.protocol == held.protocol
                            && s.port == held.port
                            && match s.address {
                                Some(a) => exact && a == held.address,
                                None => !exact && held.address.is_unspecified(),
                            }
                    })
                })
                .collect()
        };
        let mut candidates = declares(true);
        if candidates.is_empty() {
            candidates = declares(false);
        }
        if candidates.len() > 1 {
            candidates.retain(|u| u.enabled);
        }
        match candidates[..] {
            [one] => Some(one),
            _ => None,
        }
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

/// Units linked from a `.wants` or `.requires` folder anywhere on the
/// search path: what `systemctl enable` (or a package's static wants, or a
/// generator) made part of the boot.
fn enabled_units(root: &Path) -> BTreeSet<String> {
    let mut enabled = BTreeSet::new();
    for dir in SEARCH_PATH {
        for folder in names_in(&root.join(dir)) {
            if folder.ends_with(".wants") || folder.ends_with(".requires") {
                enabled.extend(names_in(&root.join(dir).join(folder)));
            }
        }
    }
    enabled
}

/// A unit's drop-ins in the order systemd applies them: by file name across
/// every folder of the search path, a name in a higher folder hiding the
/// same name in a lower one.
fn drop_ins(root: &Path, unit: &str) -> String {
    let mut chosen: BTreeMap<String, std::path::PathBuf> = BTreeMap::new();
    for dir in SEARCH_PATH {
        let folder = root.join(dir).join(format!("{unit}.d"));
        for name in names_in(&folder) {
            if name.ends_with(".conf") && !chosen.contains_key(&name) {
                chosen.insert(name.clone(), folder.join(&name));
            }
        }
    }
    let mut text = String::new();
    for path in chosen.values() {
        text.push('\n');
        text.push_str(&unit_text(path));
    }
    text
}

/// The `[Socket]` directives this module uses.
#[derive(Debug, Default)]
struct SocketDirectives {
    listen: Vec<ListenSpec>,
    device: Option<String>,
    service: Option<String>,
    accept: bool,
}

impl SocketDirectives {
    fn activates(&self, unit: &str) -> String {
        let stem = unit.strip_suffix(".socket").unwrap_or(unit);
        match &self.service {
            Some(service) => service.clone(),
            None if self.accept => format!("{stem}@.service"),
            None => format!("{stem}.service"),
        }
    }
}

fn parse_socket(unit_text: &str) -> SocketDirectives {
    let mut out = SocketDirectives {
        listen: parse_listen(unit_text),
        ..SocketDirectives::default()
    };
    let mut in_socket = false;
    for line in unit_text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_socket = line == "[Socket]";
            continue;
        }
        let Some((key, value)) = line.split_once('=').filter(|_| in_socket) else {
            continue;
        };
        let value = value.trim();
        let set = (!value.is_empty()).then(|| value.to_owned());
        match key.trim() {
            "BindToDevice" => out.device = set,
            "Service" => out.service = set,
            "Accept" => out.accept = matches!(value, "yes" | "true" | "on" | "1"),
            _ => {}
        }
    }
    out
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
