use serde::{Deserialize, Serialize};

use super::{Gap, Listener, Netns};

/// Version of the JSON inventory. Adding a field is compatible and keeps the
/// number; removing, renaming or re-typing one bumps it.
pub const SCHEMA_VERSION: u32 = 1;

/// Everything one scan saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    pub schema_version: u32,
    pub host: HostFacts,
    pub namespaces: Vec<Netns>,
    pub listeners: Vec<Listener>,
    /// What could not be looked at. Non-empty means the scan is incomplete.
    pub gaps: Vec<Gap>,
}

impl Inventory {
    pub fn namespace(&self, inode: u64) -> Option<&Netns> {
        self.namespaces.iter().find(|ns| ns.inode == inode)
    }

    pub fn is_complete(&self) -> bool {
        self.gaps.is_empty()
    }
}

/// Facts about the machine, for rules that depend on the distribution.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFacts {
    pub hostname: String,
    /// `ID` from os-release (`ubuntu`, `debian`), if readable.
    pub os_id: Option<String>,
    /// `VERSION_ID` from os-release (`24.04`), if readable.
    pub os_version_id: Option<String>,
    pub kernel: String,
    pub arch: String,
}
