//! What `wildcard-bind` knows about particular programs: the few whose
//! wildcard bind is how their protocol works, and the fix for the common
//! ones, in their own configuration's words. A remedy that is wrong for the
//! program it names ("bind dhclient to 127.0.0.1") teaches users to ignore
//! the rule.

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

/// The fix, for the program that holds the socket.
pub fn remedy(inv: &Inventory, l: &Listener) -> String {
    let port = l.port;
    let loopback = if l.protocol == Protocol::Tcp {
        "127.0.0.1 (or ::1)"
    } else {
        "127.0.0.1"
    };
    // Made only when no program's own advice applies: on a fleet most
    // holders are programs this table does not know.
    let generic = || format!("bind it to {loopback}, or to the one address it must serve");
    let Some((index, p)) = l
        .holders
        .first()
        .and_then(|h| Some((h.process, inv.processes.get(h.process as usize)?)))
    else {
        return generic();
    };
    // The loopback of the socket's own family, as configuration files
    // write it (a dual-stack `*` serves IPv4 clients too: 127.0.0.1).
    let local = match l.family {
        Family::Ipv6 if l.address != "*" => format!("[::1]:{port}"),
        _ => format!("127.0.0.1:{port}"),
    };
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
        return format!(
            "systemd listens for {unit}{starts}: override its address in a drop-in (`systemctl edit {unit}`: `{directive}=` then `{directive}={local}` or the one address it must serve), or `systemctl disable --now {unit}{also}` if nothing needs it"
        );
    }
    match (p.comm.as_str(), port) {
        ("sshd", _) => "set `ListenAddress` in /etc/ssh/sshd_config to the address SSH must serve (or `systemctl disable --now ssh` if the host is not managed over SSH)".into(),
        ("nginx", _) => format!("use `listen {local};` (or the one address it must serve) in nginx's server blocks"),
        ("apache2" | "httpd", _) => format!("set `Listen {local}` (or the one address it must serve) in Apache's ports.conf"),
        ("systemd-resolve", 5355) => "systemd-resolved answers LLMNR on every address: set `LLMNR=no` in /etc/systemd/resolved.conf (or a drop-in under resolved.conf.d)".into(),
        ("systemd-resolve", 5353) => "systemd-resolved answers mDNS on every address: set `MulticastDNS=no` in /etc/systemd/resolved.conf".into(),
        ("avahi-daemon", _) => "a server needs no mDNS: `systemctl disable --now avahi-daemon.socket avahi-daemon.service`, or limit it with `allow-interfaces=` in avahi-daemon.conf".into(),
        ("rpcbind", _) => "rpcbind is needed only for NFSv3 and NIS: `systemctl disable --now rpcbind.socket rpcbind.service`, or bind it with `-h ADDRESS`".into(),
        ("cupsd", _) => format!("set `Listen localhost:{port}` in /etc/cups/cupsd.conf (or disable cups on a server)"),
        ("chronyd", 123) => "chronyd serves NTP because of an `allow` line: remove it if this host is not a time server, or set `bindaddress`".into(),
        ("chronyd", _) => "set `bindcmdaddress 127.0.0.1` (and `::1`) in chrony.conf".into(),
        ("postgres", _) => "set `listen_addresses = 'localhost'` (or the one address it must serve) in postgresql.conf".into(),
        ("mysqld" | "mariadbd", _) => "set `bind-address = 127.0.0.1` (or the one address it must serve) in my.cnf".into(),
        ("redis-server", _) => "set `bind 127.0.0.1 -::1` (or the one address it must serve) in redis.conf".into(),
        ("memcached", _) => "start it with `-l 127.0.0.1` (in /etc/memcached.conf)".into(),
        ("named", 53) | ("dnsmasq", 53) | ("unbound", 53) => "a resolver for this host only belongs on 127.0.0.1: set its listen address (named `listen-on`, dnsmasq `listen-address`, unbound `interface`)".into(),
        _ => generic(),
    }
}

/// The `.socket` unit PID 1 holds this socket for, if that is who holds it.
fn socket_unit(p: &Process) -> Option<&str> {
    (p.pid == 1)
        .then_some(p.unit.as_deref()?)
        .filter(|u| u.ends_with(".socket"))
}
