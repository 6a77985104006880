//! The listeners' records from the host's columns (ABI 0.2.4's
//! `listener-table`): one copy per column crosses into the plugin, and the
//! records are made here, where making them costs no call across.

use crate::{Family, Holder, Listener, ListenerTable, Protocol, Scope};

/// Listener `i` of the table is `listeners[i]`, as `inventory.listeners`
/// would give it. A table whose columns disagree (a host bug) gives what
/// they agree on: missing values read as empty or zero, never a panic.
pub fn listeners(t: &ListenerTable) -> Vec<Listener> {
    let mut bound_devices = t.bound_devices.iter().peekable();
    let (mut address, mut holder, mut interface) = (0, 0, 0);
    (0..t.netns.len())
        .map(|i| {
            let name = |index: &u32| {
                t.interfaces
                    .get(*index as usize)
                    .cloned()
                    .unwrap_or_default()
            };
            let address_end = end(&t.address_ends, i, address);
            let holder_end = end(&t.holder_ends, i, holder);
            let interface_end = end(&t.address_interface_ends, i, interface);
            let holders: Vec<Holder> = (holder..holder_end)
                .map(|h| Holder {
                    process: t.holder_processes.get(h).copied().unwrap_or(u32::MAX),
                    fd: t.holder_fds.get(h).copied().unwrap_or(-1),
                })
                .collect();
            let bound_device = bound_devices
                .next_if(|(l, _)| *l as usize == i)
                .map(|(_, device)| name(device));
            let l = Listener {
                id: i as u32,
                netns: t.netns[i],
                protocol: match t.protocol.get(i) {
                    Some(1) => Protocol::Udp,
                    _ => Protocol::Tcp,
                },
                family: match t.family.get(i) {
                    Some(1) => Family::Ipv6,
                    _ => Family::Ipv4,
                },
                address: t
                    .addresses
                    .get(address..address_end)
                    .unwrap_or_default()
                    .to_owned(),
                port: t.port.get(i).copied().unwrap_or(0),
                bound_device,
                v6only: match t.v6only.get(i) {
                    Some(0) => Some(false),
                    Some(1) => Some(true),
                    _ => None,
                },
                scope: scope(t.scope.get(i).copied().unwrap_or(u8::MAX)),
                address_interfaces: t
                    .address_interfaces
                    .get(interface..interface_end)
                    .unwrap_or_default()
                    .iter()
                    .map(name)
                    .collect(),
                uid: t.uid.get(i).copied().unwrap_or(0),
                owner_unknown: holders.is_empty(),
                holders,
            };
            (address, holder, interface) = (address_end, holder_end, interface_end);
            l
        })
        .collect()
}

/// Where entry `i`'s run of values ends, given where it starts.
fn end(ends: &[u32], i: usize, start: usize) -> usize {
    ends.get(i).map_or(start, |&e| (e as usize).max(start))
}

/// The case at `index` in the ABI's `scope` (an unknown index reads as
/// `public`, the scope judged most strictly).
fn scope(index: u8) -> Scope {
    crate::net::ALL_SCOPES
        .get(usize::from(index))
        .copied()
        .unwrap_or(Scope::Public)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener(id: u32, address: &str, holders: Vec<Holder>) -> Listener {
        Listener {
            id,
            netns: 4026531840 + u64::from(id),
            protocol: Protocol::Tcp,
            family: Family::Ipv4,
            address: address.into(),
            port: 22,
            bound_device: None,
            v6only: None,
            scope: Scope::Wildcard,
            address_interfaces: vec![],
            uid: 0,
            owner_unknown: holders.is_empty(),
            holders,
        }
    }

    #[test]
    fn rows_are_the_records_the_host_would_give() {
        let expected = vec![
            listener(
                0,
                "0.0.0.0",
                vec![Holder { process: 0, fd: 3 }, Holder { process: 1, fd: 4 }],
            ),
            Listener {
                protocol: Protocol::Udp,
                family: Family::Ipv6,
                port: 5353,
                bound_device: Some("eth0".into()),
                v6only: Some(true),
                scope: Scope::LinkLocal,
                address_interfaces: vec!["eth0".into(), "wg0".into()],
                uid: 101,
                ..listener(1, "fe80::1", vec![])
            },
            Listener {
                v6only: Some(false),
                scope: Scope::Loopback,
                address_interfaces: vec!["wg0".into()],
                ..listener(2, "127.0.0.53", vec![Holder { process: 2, fd: 12 }])
            },
        ];
        let table = ListenerTable {
            netns: vec![4026531840, 4026531841, 4026531842],
            protocol: vec![0, 1, 0],
            family: vec![0, 1, 0],
            scope: vec![5, 1, 0],
            port: vec![22, 5353, 22],
            uid: vec![0, 101, 0],
            v6only: vec![2, 1, 0],
            addresses: "0.0.0.0fe80::1127.0.0.53".into(),
            address_ends: vec![7, 14, 24],
            holder_processes: vec![0, 1, 2],
            holder_fds: vec![3, 4, 12],
            holder_ends: vec![2, 2, 3],
            interfaces: vec!["eth0".into(), "wg0".into()],
            address_interfaces: vec![0, 1, 1],
            address_interface_ends: vec![0, 2, 3],
            bound_devices: vec![(1, 0)],
            reach: vec![0, 1, 0],
        };
        assert_eq!(listeners(&table), expected);
    }

    #[test]
    fn columns_that_disagree_give_what_they_agree_on() {
        let table = ListenerTable {
            netns: vec![7, 8],
            protocol: vec![],
            family: vec![],
            scope: vec![],
            port: vec![],
            uid: vec![],
            v6only: vec![],
            addresses: "::".into(),
            address_ends: vec![9],
            holder_processes: vec![],
            holder_fds: vec![],
            holder_ends: vec![1],
            interfaces: vec![],
            address_interfaces: vec![3],
            address_interface_ends: vec![1],
            bound_devices: vec![(5, 0)],
            reach: vec![],
        };
        let got = listeners(&table);
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].address.as_str(), got[0].scope), ("", Scope::Public));
        assert_eq!(
            got[0].holders,
            vec![Holder {
                process: u32::MAX,
                fd: -1
            }]
        );
        assert_eq!(got[0].address_interfaces, vec![String::new()]);
        assert_eq!((got[1].netns, got[1].bound_device.as_deref()), (8, None));
    }
}
