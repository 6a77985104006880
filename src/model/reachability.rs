//! Whether a new connection from outside the namespace can reach a
//! listener, as its namespace's firewall and kernel settings decide.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReachState {
    /// Reachable on some interface from any source but a blocklist (the
    /// sources let in cover at least half of the address space).
    Open,
    /// Reachable only from the sources listed.
    Restricted,
    /// No new connection from outside reaches it.
    Filtered,
    /// Something that could change the answer was not understood.
    Unknown,
}

impl ReachState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Restricted => "restricted",
            Self::Filtered => "filtered",
            Self::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reachability {
    pub state: ReachState,
    /// The interfaces a new connection from outside arrives through and is
    /// let in (for `open` and `restricted`).
    pub interfaces: Vec<String>,
    /// For `restricted`: the sources let in, as CIDR blocks or ranges.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// What decided it: the accepting or dropping rule, a chain's policy,
    /// or the kernel itself. Absent when no firewall is on the path.
    pub decided_by: Option<Decider>,
    /// Why, in words: always set for `unknown`.
    pub reason: Option<String>,
}

/// A rule or policy of nftables (iptables-nft rules are nftables rules of
/// the `ip`/`ip6` `filter` and `nat` tables), or the kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Decider {
    Rule {
        family: String,
        table: String,
        chain: String,
        handle: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
    },
    Policy {
        family: String,
        table: String,
        chain: String,
        /// `accept` or `drop`.
        policy: String,
    },
    /// The kernel's routing, not a rule: loopback addresses from outside,
    /// a namespace with no interface but loopback.
    Kernel { why: String },
}

impl std::fmt::Display for Decider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Rule {
                family,
                table,
                chain,
                handle,
                comment,
            } => {
                write!(f, "{family} {table} {chain} handle {handle}")?;
                match comment {
                    Some(c) => write!(f, " (\"{c}\")"),
                    None => Ok(()),
                }
            }
            Self::Policy {
                family,
                table,
                chain,
                policy,
            } => write!(f, "the {policy} policy of {family} {table} {chain}"),
            Self::Kernel { why } => f.write_str(why),
        }
    }
}
