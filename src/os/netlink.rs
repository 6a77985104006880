//! Netlink sockets, in the calling thread's network namespace: the
//! kernel's socket tables are asked through `NETLINK_SOCK_DIAG`, the
//! firewall's ruleset through `NETLINK_NETFILTER`.

use std::io;

/// What a netlink dump needs from a socket; recorded datagrams stand in
/// for one in tests and fuzzing.
pub trait Transport {
    fn send(&mut self, request: &[u8]) -> io::Result<()>;
    /// Receives one datagram into `buf`, returning its full length, which
    /// exceeds `buf.len()` if it was truncated.
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize>;
}

/// A netlink socket of one protocol, in the calling thread's network
/// namespace, connected to the kernel.
pub struct Netlink(netlink_sys::Socket);

/// `NETLINK_SOCK_DIAG`: the kernel's socket tables.
pub type SockDiag = Netlink;
/// `NETLINK_NETFILTER`: nf_tables answers dumps of the ruleset on it.
/// Reads only: portcullis never sends a message that changes a table.
pub type Netfilter = Netlink;
/// `NETLINK_ROUTE`: links and tc, dumped only.
pub type Route = Netlink;

impl Netlink {
    fn open_protocol(protocol: isize) -> io::Result<Self> {
        let mut socket = netlink_sys::Socket::new(protocol)?;
        socket.bind_auto()?;
        socket.connect(&netlink_sys::SocketAddr::new(0, 0))?;
        Ok(Netlink(socket))
    }

    pub fn sock_diag() -> io::Result<Self> {
        Self::open_protocol(netlink_sys::protocols::NETLINK_SOCK_DIAG)
    }

    pub fn netfilter() -> io::Result<Self> {
        Self::open_protocol(netlink_sys::protocols::NETLINK_NETFILTER)
    }

    pub fn route() -> io::Result<Self> {
        Self::open_protocol(netlink_sys::protocols::NETLINK_ROUTE)
    }
}

impl Transport for Netlink {
    fn send(&mut self, request: &[u8]) -> io::Result<()> {
        self.0.send(request, 0).map(drop)
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // MSG_TRUNC makes the kernel report the datagram's real length.
        self.0.recv(&mut &mut buf[..], nix::libc::MSG_TRUNC)
    }
}
