//! What `wildcard-bind` knows about particular programs: the few whose
//! wildcard bind is how their protocol works, and the fix for the common
//! ones, in their own configuration's words. A remedy that is wrong for the
//! program it names ("bind dhclient to 127.0.0.1") teaches users to ignore
//! the rule.

use std::fmt;

use portcullis_sdk::{Family, Inventory, Listener, Process, Protocol, net};

/// DHCP clients, by the name the kernel gives their process (`comm` is at
/// most 15 bytes: systemd-networkd is `systemd-network`).
const DHCP_CLIENTS: &[&str] = &[
    "dhclient",
    "dhcpcd",
    "systemd-network",
    "NetworkManager",
    "udhcpc",
    "dhcpcd-run-hooks",
];

/// A DHCP client's own port: 68/udp (DHCPv4) or 546/udp (DHCPv6), held by
/// DHCP clients only. The client must take offers addressed to the
/// broadcast address before it has an address of its own, so the wildcard
/// is the protocol, not a configuration choice. Both ports are privileged:
/// an unprivileged process cannot take one with a borrowed name.
pub fn needs_wildcard(inv: &Inventory, l: &Listener) -> bool {
    let dhcp_port = match l.family {
        Family::Ipv4 => l.port == 68,
        Family::Ipv6 => l.port == 546,
    };
    let mut holders = net::holders(inv, l).peekable();
    l.protocol == Protocol::Udp
        && dhcp_port
        && holders.peek().is_some()
        && holders.all(|p| DHCP_CLIENTS.contains(&p.comm.as_str()))
}

/// The fix, for the program that holds the socket, written straight into
/// the finding's message.
pub struct Remedy<'i> {
    pub inv: &'i Inventory,
    pub l: &'i Listener,
}

impl fmt::Display for Remedy<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (inv, l) = (self.inv, self.l);
        let port = l.port;
        let loopback = if l.protocol == Protocol::Tcp {
            "127.0.0.1 (or ::1)"
        } else {
            "127.0.0.1"
        };
        // On a fleet most holders are programs this table does not know.
        let generic = |f: &mut fmt::Formatter<'_>| {
            write!(
                f,
                "bind it to {loopback}, or to the one address it must serve"
            )
        };
        let Some((index, p)) = l
            .holders
            .first()
            .and_then(|h| Some((h.process, inv.processes.get(h.process as usize)?)))
        else {
            return generic(f);
        };
        let local = Loopback(l);
        if let Some(unit) = socket_unit(p) {
            let directive = if l.protocol == Protocol::Tcp {
                "ListenStream"
            } else {
                "ListenDatagram"
            };
            // The service it starts (ABI 0.2's `activates`): what is really
            // listening, and what `disable` should stop too.
            let (starts, also) = match inv.activates(index) {
                Some(service) => (format!(" (which starts {service})"), format!(" {service}")),
                None => (String::new(), String::new()),
            };
            return write!(
                f,
                "systemd listens for {unit}{starts}: override its address in a drop-in (`systemctl edit {unit}`: `{directive}=` then `{directive}={local}` or the one address it must serve), or `systemctl disable --now {unit}{also}` if nothing needs it"
            );
        }
        match (p.comm.as_str(), port) {
            ("sshd", _) => f.write_str("set `ListenAddress` in /etc/ssh/sshd_config to the address SSH must serve (or `systemctl disable --now ssh` if the host is not managed over SSH)"),
            ("nginx", _) => write!(f, "use `listen {local};` (or the one address it must serve) in nginx's server blocks"),
            ("apache2" | "httpd", _) => write!(f, "set `Listen {local}` (or the one address it must serve) in Apache's ports.conf"),
            ("systemd-resolve", 5355) => f.write_str("systemd-resolved answers LLMNR on every address: set `LLMNR=no` in /etc/systemd/resolved.conf (or a drop-in under resolved.conf.d)"),
            ("systemd-resolve", 5353) => f.write_str("systemd-resolved answers mDNS on every address: set `MulticastDNS=no` in /etc/systemd/resolved.conf"),
            ("avahi-daemon", _) => f.write_str("a server needs no mDNS: `systemctl disable --now avahi-daemon.socket avahi-daemon.service`, or limit it with `allow-interfaces=` in avahi-daemon.conf"),
            ("rpcbind", _) => f.write_str("rpcbind is needed only for NFSv3 and NIS: `systemctl disable --now rpcbind.socket rpcbind.service`, or bind it with `-h ADDRESS`"),
            ("cupsd", _) => write!(f, "set `Listen localhost:{port}` in /etc/cups/cupsd.conf (or disable cups on a server)"),
            ("chronyd", 123) => f.write_str("chronyd serves NTP because of an `allow` line: remove it if this host is not a time server, or set `bindaddress`"),
            ("chronyd", _) => f.write_str("set `bindcmdaddress 127.0.0.1` (and `::1`) in chrony.conf"),
            ("postgres", _) => f.write_str("set `listen_addresses = 'localhost'` (or the one address it must serve) in postgresql.conf"),
            ("mysqld" | "mariadbd", _) => f.write_str("set `bind-address = 127.0.0.1` (or the one address it must serve) in my.cnf"),
            ("redis-server", _) => f.write_str("set `bind 127.0.0.1 -::1` (or the one address it must serve) in redis.conf"),
            ("memcached", _) => f.write_str("start it with `-l 127.0.0.1` (in /etc/memcached.conf)"),
            ("named", 53) | ("dnsmasq", 53) | ("unbound", 53) => f.write_str("a resolver for this host only belongs on 127.0.0.1: set its listen address (named `listen-on`, dnsmasq `listen-address`, unbound `interface`)"),
            _ => generic(f),
        }
    }
}

/// The loopback of the socket's own family and its port, as configuration
/// files write it (a dual-stack `*` serves IPv4 clients too: 127.0.0.1).
struct Loopback<'i>(&'i Listener);

impl fmt::Display for Loopback<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = self.0;
        match l.family {
            Family::Ipv6 if l.address != "*" => write!(f, "[::1]:{}", l.port),
            _ => write!(f, "127.0.0.1:{}", l.port),
        }
    }
}

/// The `.socket` unit PID 1 holds this socket for, if that is who holds it.
fn socket_unit(p: &Process) -> Option<&str> {
    (p.pid == 1)
        .then_some(p.unit.as_deref()?)
        .filter(|u| u.ends_with(".socket"))
}
