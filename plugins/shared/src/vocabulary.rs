//! The words the inventory, policies, reports and plugins use for scopes
//! and levels, in the order of the enums that carry them (the host model's
//! and the plugin ABI's): an enum's discriminant indexes these lists.

/// Reachability classes of a bind address, narrowest first.
pub const SCOPES: [&str; 7] = [
    "loopback",
    "link-local",
    "private",
    "multicast",
    "public",
    "wildcard",
    "dual-stack",
];

/// Finding levels, least severe first (SARIF's names).
pub const LEVELS: [&str; 3] = ["note", "warning", "error"];
