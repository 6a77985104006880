//! Ports a container engine publishes through a userland proxy: Docker's
//! `docker-proxy` listens on the host's side (`-p 8080:80`) and forwards to
//! the container. Its own arguments say where (`-container-ip 172.17.0.2
//! -container-port 80`), and the namespace that has that address is the
//! container's. With the proxy turned off (`--userland-proxy=false`), or
//! for Kubernetes hostPort/NodePort, there is no proxy socket at all, only
//! DNAT rules: [`translated`] finds those, with the firewall evaluation,
//! and names the namespace and listener each leads to.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::firewall::reach::NetnsFirewall;
use crate::model::{
    Forward, Interface, Listener, Netns, NetnsId, Protocol, Published, PublishedPath,
};

/// Every port the namespaces' firewalls publish by translation, tried at
/// the (protocol, port) pairs of the scan's listeners among others: of the
/// listeners it needs no more, so it runs beside their evaluation.
/// [`resolve`] then names where each leads.
pub fn translated(
    firewalls: &[(NetnsId, NetnsFirewall, Vec<Interface>)],
    ports: &BTreeSet<(Protocol, u16)>,
) -> Vec<Published> {
    firewalls
        .iter()
        .flat_map(|(id, fw, interfaces)| {
            crate::firewall::publish::published(fw, *id, interfaces, ports)
        })
        .collect()
}

/// The namespace and listener each `published` port reaches
/// (`listeners` in their final order: the index is the listener's id).
pub fn resolve(
    published: Vec<Published>,
    listeners: &[Listener],
    namespaces: &[Netns],
) -> Vec<Published> {
    let mut out = Vec::new();
    for mut p in published {
        let Ok(addr) = p.to.address.parse::<IpAddr>() else {
            continue;
        };
        let id = p.netns;
        p.to.netns = match p.path {
            PublishedPath::Local => Some(id),
            PublishedPath::Forward => namespaces
                .iter()
                .find(|ns| ns.id != id && ns.interfaces.iter().any(|i| i.addresses.contains(&addr)))
                .map(|ns| ns.id),
        };
        p.to.listener = p.to.netns.and_then(|ns| {
            listeners
                .iter()
                .position(|l| {
                    l.netns == ns
                        && l.protocol == p.protocol
                        && l.port == p.to.port
                        && crate::firewall::reach::covers(l, addr)
                })
                .map(|i| i as u32)
        });
        out.push(p);
    }
    out
}

/// Sets `forwards_to` on every listener a publishing proxy holds.
pub fn link(listeners: &mut [Listener], namespaces: &[Netns]) {
    for l in listeners {
        let Some((address, port)) = l.holders.iter().find_map(|h| {
            let is_proxy = h.process.comm.as_bytes() == b"docker-proxy"
                || h.process
                    .exe
                    .as_ref()
                    .is_some_and(|e| e.as_bytes().ends_with(b"/docker-proxy"));
            is_proxy.then(|| target(&h.process.cmdline)).flatten()
        }) else {
            continue;
        };
        let netns = namespaces
            .iter()
            .find(|ns| ns.interfaces.iter().any(|i| i.addresses.contains(&address)));
        l.forwards_to = Some(Forward {
            address: address.to_string(),
            port,
            netns: netns.map(|ns| ns.id),
            container: netns.and_then(|ns| ns.hints.containers.first().cloned()),
        });
    }
}

/// `-container-ip` and `-container-port` of a docker-proxy command line.
fn target(cmdline: &[crate::model::ByteText]) -> Option<(IpAddr, u16)> {
    let args: Vec<String> = cmdline.iter().map(|a| a.escaped()).collect();
    let value = |flag: &str| {
        let i = args.iter().position(|a| a == flag)?;
        args.get(i + 1).cloned()
    };
    Some((
        value("-container-ip")?.parse().ok()?,
        value("-container-port")?.parse().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ByteText;

    #[test]
    fn the_proxys_arguments_name_its_target() {
        let args: Vec<ByteText> = [
            "/usr/sbin/docker-proxy",
            "-proto",
            "tcp",
            "-host-ip",
            "0.0.0.0",
            "-host-port",
            "8080",
            "-container-ip",
            "172.17.0.2",
            "-container-port",
            "80",
        ]
        .into_iter()
        .map(ByteText::new)
        .collect();
        assert_eq!(target(&args), Some(("172.17.0.2".parse().unwrap(), 80)));
        assert_eq!(target(&args[..8]), None);
    }
}
