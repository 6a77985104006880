//! Interfaces and their addresses, as the calling thread's network
//! namespace has them; and bringing loopback up in a fresh namespace.

use std::net::IpAddr;

use nix::errno::Errno;
use nix::net::if_::InterfaceFlags;

/// One `getifaddrs(3)` entry, reduced to what an inventory keeps.
pub struct IfAddr {
    pub name: String,
    pub up: bool,
    /// The interface index (from its link-layer entry).
    pub index: Option<u32>,
    pub address: Option<IpAddr>,
    /// The prefix length of `address` (from its netmask).
    pub prefix: Option<u8>,
}

/// Every entry `getifaddrs(3)` gives. It asks netlink, which answers for the
/// caller's namespace: call it on a thread inside the namespace.
pub fn if_addrs() -> Result<Vec<IfAddr>, Errno> {
    Ok(nix::ifaddrs::getifaddrs()?
        .map(|entry| {
            let address = entry.address.as_ref();
            IfAddr {
                up: entry.flags.contains(InterfaceFlags::IFF_UP),
                index: address
                    .and_then(|a| a.as_link_addr())
                    .map(|l| l.ifindex() as u32),
                address: address.and_then(|a| {
                    a.as_sockaddr_in()
                        .map(|v4| IpAddr::from(v4.ip()))
                        .or_else(|| a.as_sockaddr_in6().map(|v6| IpAddr::from(v6.ip())))
                }),
                prefix: entry.netmask.as_ref().and_then(|m| {
                    m.as_sockaddr_in()
                        .map(|v4| u32::from(v4.ip()).count_ones() as u8)
                        .or_else(|| {
                            m.as_sockaddr_in6()
                                .map(|v6| u128::from(v6.ip()).count_ones() as u8)
                        })
                }),
                name: entry.interface_name,
            }
        })
        .collect())
}

/// `ip link set lo up`, with an ioctl: a fresh namespace's loopback is down.
/// Only system calls, no allocation: safe between fork and exec.
pub fn loopback_up() -> std::io::Result<()> {
    // SAFETY: plain system calls on a socket this function owns; `req` is a
    // zeroed C struct the kernel reads and writes within its size.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: see above.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: see above.
    let result = unsafe {
        if libc::ioctl(fd, libc::SIOCGIFFLAGS as _, &mut req) < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            if libc::ioctl(fd, libc::SIOCSIFFLAGS as _, &req) < 0 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(())
            }
        }
    };
    // SAFETY: `fd` is ours and closed once.
    unsafe { libc::close(fd) };
    result
}

/// A legacy iptables (`v6` false) or ip6tables table as the kernel hands
/// it to `iptables-save`: `IPT_SO_GET_INFO` (hooks, underflows, size) then
/// `IPT_SO_GET_ENTRIES` (the entries blob), over a raw socket of the
/// family in the calling thread's namespace (ip6tables' `IP6T_SO_*` have
/// the same numbers and structs, at `SOL_IPV6`). Read-only. Ask only for a
/// table that is loaded (`/proc/net/ip_tables_names`,
/// `ip6_tables_names`): asking for another makes the kernel load its
/// module. `max` bounds the blob.
pub fn iptables_table(v6: bool, name: &str, max: usize) -> std::io::Result<LegacyTable> {
    const IPT_SO_GET_INFO: libc::c_int = 64;
    const IPT_SO_GET_ENTRIES: libc::c_int = 65;
    /// `struct ipt_getinfo`: name[32], valid_hooks, hook_entry[5],
    /// underflow[5], num_entries, size.
    const INFO_LEN: usize = 84;
    /// `struct ipt_get_entries`: name[32], size, then the entries at 8-byte
    /// alignment.
    const ENTRIES_AT: usize = 40;
    if name.len() >= 32 {
        return Err(std::io::Error::from(std::io::ErrorKind::InvalidInput));
    }
    let (domain, level) = if v6 {
        (libc::AF_INET6, libc::SOL_IPV6)
    } else {
        (libc::AF_INET, libc::SOL_IP)
    };
    // SAFETY: plain system calls on a socket this function owns; every
    // buffer handed to getsockopt is as long as the length passed with it.
    let fd = unsafe {
        libc::socket(
            domain,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::IPPROTO_RAW,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let get = |opt: libc::c_int, buf: &mut [u8]| -> std::io::Result<usize> {
        let mut len = buf.len() as libc::socklen_t;
        // SAFETY: see above.
        let r = unsafe { libc::getsockopt(fd, level, opt, buf.as_mut_ptr().cast(), &mut len) };
        if r < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(len as usize)
        }
    };
    let result = (|| {
        let mut info = [0u8; INFO_LEN];
        info[..name.len()].copy_from_slice(name.as_bytes());
        get(IPT_SO_GET_INFO, &mut info)?;
        let word = |i: usize| u32::from_ne_bytes(info[32 + 4 * i..36 + 4 * i].try_into().unwrap());
        let size = word(12) as usize;
        if size > max {
            return Err(std::io::Error::other(format!(
                "its rules take {size} bytes, over the {max} read"
            )));
        }
        let mut entries = vec![0u8; ENTRIES_AT + size];
        entries[..name.len()].copy_from_slice(name.as_bytes());
        entries[32..36].copy_from_slice(&(size as u32).to_ne_bytes());
        get(IPT_SO_GET_ENTRIES, &mut entries)?;
        Ok(LegacyTable {
            valid_hooks: word(0),
            hook_entry: std::array::from_fn(|h| word(1 + h)),
            underflow: std::array::from_fn(|h| word(6 + h)),
            entries: entries.split_off(ENTRIES_AT),
        })
    })();
    // SAFETY: `fd` is ours and closed once.
    unsafe { libc::close(fd) };
    result
}

/// What [`iptables_table`] read: the table's hooks and its entries blob.
pub struct LegacyTable {
    pub valid_hooks: u32,
    /// Byte offsets into `entries` where each hook's chain starts...
    pub hook_entry: [u32; 5],
    /// ...and of its policy entry.
    pub underflow: [u32; 5],
    pub entries: Vec<u8>,
}
