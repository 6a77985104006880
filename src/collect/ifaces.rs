//! The interfaces of the calling thread's network namespace.

use std::collections::BTreeMap;

use crate::firewall::reach::Subnet;
use crate::model::Interface;
use crate::os::Errno;

/// Lists interfaces with their index and addresses. Must run on a thread
/// inside the namespace: getifaddrs(3) asks netlink, which answers for the
/// caller's namespace.
pub fn read() -> Result<(Vec<Interface>, Vec<Subnet>), Errno> {
    let mut by_name: BTreeMap<String, Interface> = BTreeMap::new();
    let mut subnets = Vec::new();
    for entry in crate::os::net::if_addrs()? {
        if let (Some(address), Some(prefix)) = (entry.address, entry.prefix) {
            subnets.push(Subnet {
                interface: entry.name.clone(),
                address,
                prefix,
            });
        }
        let iface = by_name
            .entry(entry.name.clone())
            .or_insert_with(|| Interface {
                name: entry.name.clone(),
                index: 0,
                up: false,
                addresses: Vec::new(),
            });
        iface.up |= entry.up;
        if let Some(index) = entry.index {
            iface.index = index;
        } else if let Some(address) = entry.address {
            iface.addresses.push(address);
        }
    }
    let mut list: Vec<Interface> = by_name.into_values().collect();
    list.sort_by_key(|i| i.index);
    Ok((list, subnets))
}
