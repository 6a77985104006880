//! The inventory: what listens, in which network namespace, held by whom, and
//! what could not be looked at.
//!
//! Pure data with serde derives and no I/O. The same records are the JSON
//! inventory (`portcullis list --format json`, a versioned public contract
//! documented in the README) and, later, the input handed to rule plugins.
//! Field names here are that contract: renaming one is a schema change.

mod container;
mod finding;
mod gap;
mod inventory;
mod limits;
mod listener;
mod netns;
mod published;
mod reachability;
pub mod scope;
pub(crate) mod text;
mod vocabulary;

pub use container::{Container, Pod, PublishedPort};
pub use finding::{
    Evaluation, Level, NotApplicable, Outcome, PluginFailure, Precision, Rule, UnusedAllowance,
    Verdict,
};
pub use gap::{Gap, GapKind};
pub use inventory::{HostFacts, Inventory, SCHEMA_VERSION};
pub use limits::Limits;
pub use listener::{Family, Forward, Holder, Listener, ProcessDetails, Protocol};
pub use netns::{Interface, Netns, NetnsHints, NetnsId, NetnsSource};
pub use published::{Published, PublishedPath, PublishedTarget};
pub use reachability::{Decider, ReachState, Reachability};
pub use scope::Scope;
pub use text::{ByteText, bounded};
