//! What the portcullis host and its plugins must agree on, written once:
//! the stable identity of a listener, the names of scopes and levels, and
//! how people write ports. Plain data in, plain data out: it knows neither
//! the host's model nor the plugin ABI, and both derive from it.

pub mod identity;
pub mod ports;
pub mod vocabulary;

pub use identity::{Identity, Owner, identity, netns_label, owner_labels, pod_workload};
