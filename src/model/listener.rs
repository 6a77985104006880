use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize};

use super::{ByteText, NetnsId, Scope};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    /// `IPPROTO_TCP` or `IPPROTO_UDP`, as packets and rulesets carry it.
    pub fn ip_number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }

    /// The state `ss` prints for a listener of this protocol.
    pub fn listening_state(self) -> &'static str {
        match self {
            Protocol::Tcp => "LISTEN",
            Protocol::Udp => "UNCONN",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ipv4,
    Ipv6,
}

/// A listening TCP socket or a bound, unconnected UDP socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Listener {
    /// The namespace it lives in.
    pub netns: NetnsId,
    pub protocol: Protocol,
    pub family: Family,
    /// As `ss -n` prints it, without brackets; `*` for the dual-stack wildcard.
    pub address: String,
    pub port: u16,
    /// The device it is bound to (`SO_BINDTODEVICE`), by name in its
    /// namespace: reachable only through it, whatever the address.
    pub bound_device: Option<String>,
    /// IPV6_V6ONLY for IPv6 sockets; null for IPv4.
    pub v6only: Option<bool>,
    pub scope: Scope,
    /// For a specific address: the interfaces of its namespace that carry it.
    pub address_interfaces: Vec<String>,
    /// Socket inode (0 for sockets without one).
    pub inode: u64,
    /// Owner uid of the socket.
    pub uid: u32,
    /// Every (process, descriptor) holding the socket; empty when unknown.
    #[serde(deserialize_with = "exact_vec")]
    pub holders: Vec<Holder>,
    /// Why no holder could be found; set exactly when `holders` is empty.
    pub owner_unknown_reason: Option<String>,
    /// A port a container engine publishes through its userland proxy
    /// (`docker-proxy`): where the proxy forwards it. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwards_to: Option<Forward>,
    /// Whether a new connection from outside the namespace reaches it, as
    /// the namespace's firewall decides. Absent when not evaluated (an
    /// inventory from fixtures, or written before 0.1 had it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reachability: Option<super::Reachability>,
}

/// Where a publishing proxy sends what reaches its listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forward {
    /// The container's address and port, from the proxy's arguments.
    pub address: String,
    pub port: u16,
    /// The namespace that has the address, when one scanned has it.
    pub netns: Option<super::NetnsId>,
    /// That namespace's container (`runtime://id`), when it is one's.
    pub container: Option<String>,
}

impl Listener {
    /// No holder could be found (see `owner_unknown_reason`).
    pub fn owner_unknown(&self) -> bool {
        self.holders.is_empty()
    }

    /// `address%iface:port` the way `ss -n` prints the local column.
    pub fn local_column(&self) -> String {
        let mut out = match self.family {
            Family::Ipv6 if self.address != "*" => format!("[{}]", self.address),
            _ => self.address.clone(),
        };
        if let Some(iface) = &self.bound_device {
            out.push('%');
            out.push_str(iface);
        }
        out.push(':');
        out.push_str(&self.port.to_string());
        out
    }
}

/// One process descriptor that refers to a socket. A socket shared by forked
/// workers, or held by systemd for socket activation, has several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "HolderFields")]
pub struct Holder {
    pub pid: i32,
    pub fd: i32,
    /// Shared by every holder of the same process: a prefork server's
    /// workers hold every socket, and a fleet has hundreds of thousands.
    #[serde(flatten)]
    pub process: Arc<ProcessDetails>,
}

/// A holder as the JSON has it, its process's details beside its own.
/// Read through this rather than through `flatten`, which buffers every
/// holder as a map first (a fleet's inventory has hundreds of thousands).
#[derive(Deserialize)]
struct HolderFields {
    pid: i32,
    fd: i32,
    comm: ByteText,
    exe: Option<ByteText>,
    #[serde(deserialize_with = "exact_vec")]
    cmdline: Vec<ByteText>,
    uid: Option<u32>,
    unit: Option<String>,
    #[serde(default)]
    unit_file: Option<String>,
    #[serde(default)]
    activates: Option<String>,
    container: Option<String>,
}

impl From<HolderFields> for Holder {
    fn from(h: HolderFields) -> Holder {
        Holder {
            pid: h.pid,
            fd: h.fd,
            process: shared::process(ProcessDetails {
                comm: h.comm,
                exe: h.exe,
                cmdline: h.cmdline,
                uid: h.uid,
                unit: h.unit,
                unit_file: h.unit_file,
                activates: h.activates,
                container: h.container,
            }),
        }
    }
}

/// What is known of a process holding a socket. Cheap to clone: a process
/// appears once per descriptor it holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProcessDetails {
    pub comm: ByteText,
    pub exe: Option<ByteText>,
    pub cmdline: Vec<ByteText>,
    /// Effective uid of the process.
    pub uid: Option<u32>,
    /// The systemd unit: the service's unit, or for PID 1 holding a socket for
    /// activation, the `.socket` unit that listens on it.
    pub unit: Option<String>,
    /// The unit's file, as a path inside the process's root filesystem.
    #[serde(default)]
    pub unit_file: Option<String>,
    /// For PID 1 holding a socket for a `.socket` unit: the service that
    /// unit starts (`ssh@.service` for `Accept=yes`).
    #[serde(default)]
    pub activates: Option<String>,
    /// Container id from the process's cgroup, as `runtime://id`.
    pub container: Option<String>,
}

/// A list read at its length. serde grows a `Vec` from four elements, and
/// most holder lists and command lines are shorter: the slack, once per
/// listener, was a third of a fleet inventory's memory.
fn exact_vec<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let mut v = Vec::<T>::deserialize(d)?;
    v.shrink_to_fit();
    Ok(v)
}

/// One copy of each process while listeners are read: the JSON repeats a
/// process's details for every socket it holds.
pub(super) mod shared {
    use std::cell::RefCell;
    use std::collections::HashSet;
    use std::sync::Arc;

    use super::ProcessDetails;

    thread_local! {
        static SEEN: RefCell<Option<HashSet<Arc<ProcessDetails>>>> = const { RefCell::new(None) };
    }

    /// Runs `read` with processes shared among the holders it reads.
    pub fn while_reading<T>(read: impl FnOnce() -> T) -> T {
        struct Forget(Option<HashSet<Arc<ProcessDetails>>>);
        impl Drop for Forget {
            fn drop(&mut self) {
                SEEN.with(|seen| *seen.borrow_mut() = self.0.take());
            }
        }
        // Put back on the way out, also when `read` panics: sharing ends
        // with the read.
        let _restore = Forget(SEEN.with(|seen| seen.borrow_mut().replace(HashSet::new())));
        read()
    }

    /// `details` as one shared copy: the one already read, if any.
    pub fn process(details: ProcessDetails) -> Arc<ProcessDetails> {
        SEEN.with(|seen| match seen.borrow_mut().as_mut() {
            Some(seen) => match seen.get(&details) {
                Some(known) => known.clone(),
                None => {
                    let new = Arc::new(details);
                    seen.insert(new.clone());
                    new
                }
            },
            None => Arc::new(details),
        })
    }
}
