//! The interfaces of the calling thread's network namespace.

use std::collections::BTreeMap;

use nix::errno::Errno;
use nix::net::if_::InterfaceFlags;

use crate::model::Interface;

/// Lists interfaces with their index and addresses. Must run on a thread
/// inside the namespace: getifaddrs(3) asks netlink, which answers for the
/// caller's namespace.
pub fn read() -> Result<Vec<Interface>, Errno> {
    let mut by_name: BTreeMap<String, Interface> = BTreeMap::new();
    for entry in nix::ifaddrs::getifaddrs()? {
        let iface = by_name
            .entry(entry.interface_name.clone())
            .or_insert_with(|| Interface {
                name: entry.interface_name.clone(),
                index: 0,
                up: false,
                addresses: Vec::new(),
            });
        iface.up |= entry.flags.contains(InterfaceFlags::IFF_UP);
        let Some(addr) = entry.address else { continue };
        if let Some(link) = addr.as_link_addr() {
            iface.index = link.ifindex() as u32;
        } else if let Some(v4) = addr.as_sockaddr_in() {
            iface.addresses.push(v4.ip().into());
        } else if let Some(v6) = addr.as_sockaddr_in6() {
            iface.addresses.push(v6.ip().into());
        }
    }
    let mut list: Vec<Interface> = by_name.into_values().collect();
    list.sort_by_key(|i| i.index);
    Ok(list)
}
