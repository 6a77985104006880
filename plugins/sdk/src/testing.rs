//! Building inventories in plugin unit tests, without spelling out records.
//!
//! ```
//! use portcullis_sdk::testing::Host;
//! let inv = Host::new().listen("tcp", "0.0.0.0", 5432, "postgres").build();
//! assert_eq!(inv.listeners.len(), 1);
//! ```

use crate::inventory::Local;
use crate::{Family, Holder, HostFacts, Inventory, Listener, Netns, Process, Protocol, Scope};

/// One namespace (the host's unless [`Host::in_netns`]) filled listener by listener.
pub struct Host {
    inv: Inventory,
    netns: u64,
}

pub const HOST_NETNS: u64 = 4026531840;

impl Default for Host {
    fn default() -> Self {
        Self::new()
    }
}

impl Host {
    pub fn new() -> Host {
        let host = Netns {
            inode: HOST_NETNS,
            names: vec![],
            is_host: true,
            units: vec![],
            containers: vec![],
            external_interfaces: vec!["eth0".into()],
        };
        Host {
            inv: Inventory {
                host: HostFacts {
                    hostname: "test".into(),
                    os_id: None,
                    os_version_id: None,
                    kernel: "6.8.0".into(),
                    arch: "x86_64".into(),
                },
                namespaces: vec![host],
                processes: vec![],
                listeners: vec![],
                local: Local::default(),
                containers: Default::default(),
                container_order: Default::default(),
                reachabilities: Default::default(),
                reach_evaluated: vec![],
                published: Default::default(),
            },
            netns: HOST_NETNS,
        }
    }

    /// Sets os-release `ID` and `VERSION_ID`.
    pub fn os(mut self, id: &str, version: &str) -> Host {
        self.inv.host.os_id = Some(id.into());
        self.inv.host.os_version_id = Some(version.into());
        self
    }

    /// Adds a non-host namespace and puts the following listeners in it.
    pub fn in_netns(mut self, inode: u64, name: &str, container: Option<&str>) -> Host {
        self.inv.namespaces.push(Netns {
            inode,
            names: vec![name.into()],
            is_host: false,
            units: vec![],
            containers: container.into_iter().map(Into::into).collect(),
            external_interfaces: vec![],
        });
        self.netns = inode;
        self
    }

    /// Describes container `id` as its runtime would: `name`, `image`.
    pub fn container(mut self, id: &str, name: &str, image: &str) -> Host {
        self.inv.local.containers.push(crate::Container {
            id: id.into(),
            runtime: id.split_once("://").map_or("docker", |(r, _)| r).into(),
            name: Some(name.into()),
            image: Some(image.into()),
            pod: None,
            sandbox: false,
        });
        self
    }

    /// Sets the reachability of the listener added last.
    pub fn reach(mut self, reachability: crate::Reachability) -> Host {
        let last = self.inv.listeners.len().saturating_sub(1);
        let list = &mut self.inv.local.reachabilities;
        list.resize(last + 1, None);
        list[last] = Some(reachability);
        self
    }

    /// Adds a port the firewall publishes, as the host would describe it.
    pub fn publish(mut self, published: crate::PublishedPort) -> Host {
        self.inv.local.published.push(published);
        self
    }

    /// A listener held by a process named `comm` (empty: owner unknown).
    pub fn listen(self, protocol: &str, address: &str, port: u16, comm: &str) -> Host {
        self.listen_with(protocol, address, port, comm, |_| {})
    }

    /// As [`Host::listen`], then lets `edit` adjust the listener and its process.
    pub fn listen_with(
        mut self,
        protocol: &str,
        address: &str,
        port: u16,
        comm: &str,
        edit: impl FnOnce(&mut (Listener, Option<Process>)),
    ) -> Host {
        let protocol = if protocol == "udp" {
            Protocol::Udp
        } else {
            Protocol::Tcp
        };
        let family = if address.contains(':') || address == "*" {
            Family::Ipv6
        } else {
            Family::Ipv4
        };
        let process = (!comm.is_empty()).then(|| Process {
            pid: 1000 + self.inv.processes.len() as i32,
            comm: comm.into(),
            exe: Some(format!("/usr/sbin/{comm}")),
            uid: Some(0),
            unit: Some(format!("{comm}.service")),
            container: None,
        });
        let listener = Listener {
            id: self.inv.listeners.len() as u32,
            netns: self.netns,
            protocol,
            family,
            address: address.into(),
            port,
            bound_device: None,
            v6only: if family == Family::Ipv6 {
                Some(address != "*")
            } else {
                None
            },
            scope: scope_of(address),
            address_interfaces: vec![],
            uid: 0,
            holders: vec![],
            owner_unknown: comm.is_empty(),
        };
        let mut pair = (listener, process);
        edit(&mut pair);
        let (mut listener, process) = pair;
        if let Some(p) = process {
            listener.holders.push(Holder {
                process: self.inv.processes.len() as u32,
                fd: 3,
            });
            self.inv.local.cmdlines.push(vec![p.comm.clone()]);
            self.inv.local.activates.push(None);
            self.inv.processes.push(p);
        }
        self.inv.listeners.push(listener);
        self
    }

    /// Sets the command line of the last listener's first holder.
    pub fn cmdline(mut self, args: &[&str]) -> Host {
        if let Some(last) = self.inv.local.cmdlines.last_mut() {
            *last = args.iter().map(|a| (*a).to_owned()).collect();
        }
        self
    }

    /// Sets the service the last listener's first holder's socket unit starts.
    pub fn activates(mut self, service: &str) -> Host {
        if let Some(last) = self.inv.local.activates.last_mut() {
            *last = Some(service.to_owned());
        }
        self
    }

    pub fn build(self) -> Inventory {
        self.inv
    }
}

/// A rough classification for fixtures (the host's is authoritative).
pub fn scope_of(address: &str) -> Scope {
    match address {
        "*" => Scope::DualStack,
        "0.0.0.0" | "::" => Scope::Wildcard,
        a if a.starts_with("127.") || a == "::1" || a.starts_with("::ffff:127.") => Scope::Loopback,
        a if a.starts_with("10.")
            || a.starts_with("192.168.")
            || a.starts_with("172.16.")
            || a.starts_with("fd") =>
        {
            Scope::Private
        }
        a if a.starts_with("169.254.") || a.starts_with("fe80:") => Scope::LinkLocal,
        _ => Scope::Public,
    }
}
