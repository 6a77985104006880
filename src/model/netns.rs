use std::fmt;

use serde::{Deserialize, Serialize};

/// Identity of a network namespace: device and inode of its nsfs file, as
/// `stat(2)` reports them for `/proc/PID/ns/net`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NetnsId {
    pub dev: u64,
    pub inode: u64,
}

impl fmt::Display for NetnsId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "net:[{}]", self.inode)
    }
}

/// How a namespace was found. One namespace is usually found several ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetnsSource {
    /// `/proc/PID/ns/net` of a process.
    Process,
    /// `/proc/PID/task/TID/ns/net` of a thread that left its process's namespace.
    Thread,
    /// An nsfs bind mount (`ip netns add`, container runtimes), anywhere.
    Mount,
    /// An open descriptor (`/proc/PID/fd/N -> net:[…]`).
    Descriptor,
    /// A path given on the command line.
    Argument,
    /// A socket's own namespace (`SIOCGSKNS`): kept alive by sockets alone.
    Socket,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Netns {
    /// `dev` and `inode`, as two fields of the namespace's record.
    #[serde(flatten)]
    pub id: NetnsId,
    /// `ip netns` names first, then its mounts, each once by its path in
    /// the scanner's view (a mount only another mount namespace has, through
    /// the first process in it: `/proc/PID/root/...`), sorted within each
    /// group.
    pub names: Vec<String>,
    /// Other ways in through processes: pinning descriptors
    /// (`/proc/PID/fd/N`) and further processes' copies of a mount. They
    /// change from run to run, so they name nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// True for PID 1's namespace: the host's, reachable from outside.
    pub is_host: bool,
    pub sources: Vec<NetnsSource>,
    /// Processes living in it (by their main thread's namespace).
    pub pids: Vec<i32>,
    /// Threads living in it whose process lives elsewhere.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tids: Vec<i32>,
    pub hints: NetnsHints,
    /// Its interfaces and their addresses, as seen from inside.
    pub interfaces: Vec<Interface>,
}

impl Netns {
    /// A short label for humans: the first name, else its container, else
    /// `net:[inode]`.
    pub fn label(&self) -> String {
        match self.names.first().or(self.hints.containers.first()) {
            Some(name) => name.clone(),
            None => self.id.to_string(),
        }
    }
}

/// What the cgroups of the processes in a namespace say about who owns it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetnsHints {
    pub units: Vec<String>,
    pub containers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    pub name: String,
    pub index: u32,
    pub up: bool,
    pub addresses: Vec<std::net::IpAddr>,
}
