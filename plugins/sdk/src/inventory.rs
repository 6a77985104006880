//! The inventory a plugin judges. In a component it is fetched from the
//! host's `inventory` interface when `evaluate` starts, except what is
//! bulky or new: command lines and socket units' services are asked for one
//! process at a time, so a plugin that never reads them never copies them.

use std::sync::OnceLock;

use crate::{Container, HostFacts, Listener, Netns, Process, PublishedPort, Reachability};

#[derive(Debug, Clone, PartialEq)]
pub struct Inventory {
    pub host: HostFacts,
    pub namespaces: Vec<Netns>,
    pub processes: Vec<Process>,
    pub listeners: Vec<Listener>,
    /// Natively (unit tests), what the host would answer per process.
    pub(crate) local: Local,
    /// The containers, fetched on first use (ABI 0.2.1).
    pub(crate) containers: OnceLock<Vec<Container>>,
    /// The containers' indexes in the order of their ids, made on the
    /// first lookup: a fleet's findings name containers by the ten thousand.
    pub(crate) container_order: OnceLock<Vec<usize>>,
    /// Each listener's reachability, fetched on first use (ABI 0.2.2).
    pub(crate) reachabilities: OnceLock<Vec<Option<Reachability>>>,
    /// Whether each listener has one, from the host's table (ABI 0.2.4):
    /// none at all, and the records are never fetched. Empty: unknown.
    pub(crate) reach_evaluated: Vec<bool>,
    /// The published ports, fetched on first use (ABI 0.2.3).
    pub(crate) published: OnceLock<Vec<PublishedPort>>,
}

/// Per-process answers of a natively built inventory ([`crate::testing::Host`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Local {
    pub cmdlines: Vec<Vec<String>>,
    pub activates: Vec<Option<String>>,
    pub containers: Vec<Container>,
    pub reachabilities: Vec<Option<Reachability>>,
    pub published: Vec<PublishedPort>,
}

impl Inventory {
    /// The inventory being judged, from the host (call it inside `evaluate`).
    #[cfg(target_arch = "wasm32")]
    pub fn fetch() -> Inventory {
        use crate::portcullis::plugin::inventory as host;
        let table = host::listener_columns();
        Inventory {
            host: host::host(),
            namespaces: host::namespaces(),
            processes: host::processes(),
            listeners: crate::table::listeners(&table),
            local: Local::default(),
            containers: OnceLock::new(),
            container_order: OnceLock::new(),
            reachabilities: OnceLock::new(),
            reach_evaluated: table.reach.iter().map(|&r| r != 0).collect(),
            published: OnceLock::new(),
        }
    }

    /// Natively there is no host: an empty inventory.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn fetch() -> Inventory {
        crate::testing::Host::new().build()
    }

    /// Names, images and pods of the containers that processes
    /// (`Process::container`) and namespaces (`Netns::containers`) name,
    /// asked of the host the first time.
    pub fn containers(&self) -> &[Container] {
        self.containers.get_or_init(|| {
            #[cfg(target_arch = "wasm32")]
            return crate::portcullis::plugin::inventory::containers();
            #[cfg(not(target_arch = "wasm32"))]
            self.local.containers.clone()
        })
    }

    /// Whether the firewall lets the outside reach `listener`; `None`
    /// where it was not evaluated. Asked of the host the first time.
    pub fn reachability(&self, listener: &Listener) -> Option<&Reachability> {
        if self.reach_evaluated.get(listener.id as usize) == Some(&false) {
            return None;
        }
        self.reachabilities
            .get_or_init(|| {
                #[cfg(target_arch = "wasm32")]
                return crate::portcullis::plugin::inventory::reachabilities();
                #[cfg(not(target_arch = "wasm32"))]
                self.local.reachabilities.clone()
            })
            .get(listener.id as usize)?
            .as_ref()
    }

    /// The ports the firewalls publish with `dnat` or `redirect`, and where
    /// each leads. Asked of the host the first time.
    pub fn published(&self) -> &[PublishedPort] {
        self.published.get_or_init(|| {
            #[cfg(target_arch = "wasm32")]
            return crate::portcullis::plugin::inventory::published();
            #[cfg(not(target_arch = "wasm32"))]
            self.local.published.clone()
        })
    }

    /// What the runtime says of container `id` (as processes name it).
    /// The first the runtime listed, if two share an id.
    pub fn container(&self, id: &str) -> Option<&Container> {
        let all = self.containers();
        let order = self.container_order.get_or_init(|| {
            let mut order: Vec<usize> = (0..all.len()).collect();
            // Stable: of equal ids, the first listed stays first.
            order.sort_by(|&a, &b| all[a].id.cmp(&all[b].id));
            order
        });
        let first = order.partition_point(|&i| all[i].id.as_str() < id);
        let &i = order.get(first)?;
        Some(&all[i]).filter(|c| c.id == id)
    }

    /// The namespace with this inode.
    pub fn namespace(&self, inode: u64) -> Option<&Netns> {
        self.namespaces.iter().find(|n| n.inode == inode)
    }

    /// Process `process`'s command line (empty for an unknown index).
    pub fn cmdline(&self, process: u32) -> Vec<String> {
        #[cfg(target_arch = "wasm32")]
        return crate::portcullis::plugin::inventory::cmdline(process);
        #[cfg(not(target_arch = "wasm32"))]
        self.local
            .cmdlines
            .get(process as usize)
            .cloned()
            .unwrap_or_default()
    }

    /// For PID 1 holding a socket for a `.socket` unit: the service that
    /// unit starts.
    pub fn activates(&self, process: u32) -> Option<String> {
        #[cfg(target_arch = "wasm32")]
        return crate::portcullis::plugin::inventory::activates(process);
        #[cfg(not(target_arch = "wasm32"))]
        self.local
            .activates
            .get(process as usize)
            .cloned()
            .flatten()
    }
}
