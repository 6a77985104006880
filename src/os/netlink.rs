//! Netlink sockets: the kernel's socket tables are asked through
//! `NETLINK_SOCK_DIAG`, in the calling thread's network namespace.

use std::io;

/// What a netlink dump needs from a socket; recorded datagrams stand in
/// for one in tests and fuzzing.
pub trait Transport {
    fn send(&mut self, request: &[u8]) -> io::Result<()>;
    /// Receives one datagram into `buf`, returning its full length, which
    /// exceeds `buf.len()` if it was truncated.
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize>;
}

/// A `NETLINK_SOCK_DIAG` socket in the calling thread's network namespace.
pub struct SockDiag(netlink_sys::Socket);

impl SockDiag {
    pub fn open() -> io::Result<Self> {
        let mut socket = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_SOCK_DIAG)?;
        socket.bind_auto()?;
        socket.connect(&netlink_sys::SocketAddr::new(0, 0))?;
        Ok(SockDiag(socket))
    }
}

impl Transport for SockDiag {
    fn send(&mut self, request: &[u8]) -> io::Result<()> {
        self.0.send(request, 0).map(drop)
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // MSG_TRUNC makes the kernel report the datagram's real length.
        self.0.recv(&mut &mut buf[..], nix::libc::MSG_TRUNC)
    }
}

/// A `NETLINK_NETFILTER` socket in the calling thread's network namespace:
/// nf_tables answers dumps of the ruleset on it. Reads only: portcullis
/// never sends a message that changes a table.
pub struct Netfilter(netlink_sys::Socket);

impl Netfilter {
    pub fn open() -> io::Result<Self> {
        let mut socket = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_NETFILTER)?;
        socket.bind_auto()?;
        socket.connect(&netlink_sys::SocketAddr::new(0, 0))?;
        Ok(Netfilter(socket))
    }
}

impl Transport for Netfilter {
    fn send(&mut self, request: &[u8]) -> io::Result<()> {
        self.0.send(request, 0).map(drop)
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.recv(&mut &mut buf[..], nix::libc::MSG_TRUNC)
    }
}
