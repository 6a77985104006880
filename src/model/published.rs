//! Ports a namespace's firewall publishes with `dnat` or `redirect`: a new
//! connection from outside to one port is sent to another address and
//! port, in the namespace itself or forwarded to another one (Docker's
//! `-p` without its proxy, Kubernetes' hostPort and NodePort).

use serde::{Deserialize, Serialize};

use super::{Decider, NetnsId, Protocol, ReachState, Reachability};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    /// The namespace whose rules publish it.
    pub netns: NetnsId,
    pub protocol: Protocol,
    /// The port a connection from outside asks for.
    pub port: u16,
    /// The local addresses it is published on, and the interfaces a
    /// connection to them arrives through.
    pub addresses: Vec<String>,
    pub interfaces: Vec<String>,
    /// The `dnat` or `redirect` rule.
    pub translated_by: Decider,
    pub to: PublishedTarget,
    /// `local`: the target is an address of the namespace itself (input
    /// filters it); `forward`: it is routed on (forward filters it).
    pub path: PublishedPath,
    /// Whether the translated connection gets through (the filters on its
    /// path after the translation, and the kernel's forwarding).
    pub reach: Reachability,
    /// What the input filters alone decide for this port, as if nothing
    /// translated it: `filtered` here and `open` in `reach` is a port the
    /// host's firewall seems to close while DNAT opens it.
    pub input: ReachState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedTarget {
    pub address: String,
    pub port: u16,
    /// The namespace that has the address, when one of the scanned does.
    pub netns: Option<NetnsId>,
    /// The listener there that takes the connection (its index in
    /// `listeners`), or none: nothing listens where it leads.
    pub listener: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PublishedPath {
    Local,
    Forward,
}
