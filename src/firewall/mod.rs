//! Firewall-aware exposure: can a new connection from outside reach a
//! listener, through which interface, from which sources, and which rule
//! decided it.
//!
//! [`collect`](crate::collect) dumps each namespace's nftables ruleset over
//! `NETLINK_NETFILTER` ([`decode`] turns the messages into a [`Ruleset`])
//! and its legacy iptables and ip6tables tables ([`legacy`] turns their
//! entries into the same chains); [`eval`] runs the packet class of each
//! listener through it; [`rpfilter`] drops the sources reverse-path
//! filtering would; [`reach`] sums the answers up per listener into a
//! [`Reachability`](crate::model::Reachability), and [`publish`] follows
//! every DNAT and redirect. All of it is pure.
//!
//! Out of reach, documented in the README: tc and XDP programs, cgroup BPF
//! filters and cloud security groups; policy routing, and routes beyond
//! the namespace's own subnets for forwarded packets.

pub mod decode;
pub mod eval;
pub mod legacy;
pub mod publish;
pub mod reach;
pub mod rpfilter;
pub mod ruleset;
pub mod sources;

#[cfg(test)]
mod tests;

pub use ruleset::Ruleset;
