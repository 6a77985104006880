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
