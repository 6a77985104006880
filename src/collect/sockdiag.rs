//! Listening sockets from the kernel's `NETLINK_SOCK_DIAG` interface.
//!
//! The dump loop is ours rather than the crate example's: it keeps reading
//! every message of every datagram until `NLMSG_DONE`, checks sequence
//! numbers, turns `NLMSG_ERROR` into a typed error (ENOENT means the kernel
//! has no diag handler for the protocol, e.g. `udp_diag` missing: a coverage
//! gap, never an empty answer), restarts the dump when the kernel flags it
//! `NLM_F_DUMP_INTR` (the socket table changed under it), and restarts with a
//! larger buffer if a datagram was truncated.
//!
//! A netlink socket answers for the namespace of the thread that created it,
//! so [`NetlinkTransport::open`] must run on a thread already moved into the
//! target namespace.

use std::io;
use std::net::IpAddr;

use crate::os::Errno;
use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP};
use netlink_packet_sock_diag::inet::{
    ExtensionFlags, InetRequest, InetResponse, SocketId, StateFlags, nlas::Nla,
};

use crate::model::{Family, Protocol};

/// A socket as the kernel reported it, before naming and classification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawSocket {
    pub protocol: Protocol,
    pub family: Family,
    pub addr: IpAddr,
    pub port: u16,
    /// `SO_BINDTODEVICE` interface index; 0 when unbound.
    pub ifindex: u32,
    pub v6only: Option<bool>,
    pub inode: u64,
    pub uid: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    #[error(
        "the kernel has no sock_diag handler for {protocol} over {family} (module {module} missing?)"
    )]
    Unsupported {
        protocol: &'static str,
        family: &'static str,
        module: &'static str,
    },
    #[error("the kernel refused the {protocol} dump: {errno}")]
    Kernel {
        protocol: &'static str,
        errno: Errno,
    },
    #[error("netlink I/O failed: {0}")]
    Io(#[from] io::Error),
    #[error("undecodable netlink message: {0}")]
    Decode(String),
    #[error(
        "the {protocol} dump was interrupted {attempts} times in a row by socket table changes"
    )]
    Interrupted {
        protocol: &'static str,
        attempts: u32,
    },
}

pub use crate::os::netlink::{SockDiag as NetlinkTransport, Transport};

/// Restarts allowed when the kernel flags a dump as inconsistent.
const MAX_ATTEMPTS: u32 = 8;
/// iproute2 uses at least 32 KiB: the kernel sizes dump datagrams up to that.
const INITIAL_BUFFER: usize = 64 * 1024;

/// Dumps the listening sockets of one protocol and family: TCP in LISTEN,
/// UDP bound and unconnected (state CLOSE, `UNCONN` in `ss`).
pub fn dump(
    transport: &mut impl Transport,
    protocol: Protocol,
    family: Family,
    seq: &mut u32,
) -> Result<Vec<RawSocket>, DumpError> {
    dump_states(transport, protocol, family, seq, None)
}

/// [`dump`], and in the same dump (one walk of the kernel's tables, not
/// two) the inodes of the protocol's other sockets, into `others`. For TCP
/// that walk includes the established table, which costs per namespace.
pub fn dump_with_others(
    transport: &mut impl Transport,
    protocol: Protocol,
    family: Family,
    seq: &mut u32,
    others: &mut Vec<u64>,
) -> Result<Vec<RawSocket>, DumpError> {
    dump_states(transport, protocol, family, seq, Some(others))
}

fn dump_states(
    transport: &mut impl Transport,
    protocol: Protocol,
    family: Family,
    seq: &mut u32,
    mut others: Option<&mut Vec<u64>>,
) -> Result<Vec<RawSocket>, DumpError> {
    let listen = listening(protocol);
    let states = match others {
        Some(_) => StateFlags::from_bits_retain(u32::MAX),
        None => listen.clone(),
    };
    // The kernel filtered by state unless every state was asked for.
    let split = others.is_some();
    let mut buf = vec![0u8; INITIAL_BUFFER];
    for _ in 0..MAX_ATTEMPTS {
        *seq = seq.wrapping_add(1);
        transport.send(&request(protocol, family, *seq, states.clone()))?;
        let mut other_inodes = Vec::new();
        let outcome = read_dump(
            transport,
            &mut buf,
            protocol,
            family,
            *seq,
            &mut |m| match m {
                SockDiagMessage::InetResponse(r) => {
                    if !split || listen.bits() & (1u32 << (r.header.state & 31)) != 0 {
                        convert(&r, protocol)
                    } else {
                        other_inodes.push(u64::from(r.header.inode));
                        None
                    }
                }
                _ => None,
            },
        )?;
        match outcome {
            Outcome::Complete(sockets) => {
                if let Some(others) = others.as_deref_mut() {
                    others.extend(other_inodes);
                }
                return Ok(sockets);
            }
            Outcome::Interrupted => {}
            Outcome::Truncated(len) => buf.resize(len.next_power_of_two(), 0),
        }
    }
    Err(DumpError::Interrupted {
        protocol: protocol.as_str(),
        attempts: MAX_ATTEMPTS,
    })
}

/// The inodes of the calling thread's namespace's unix sockets. With the
/// other inodes of [`dump_with_others`] they tell which socket descriptors
/// in `/proc` belong to a namespace already scanned, so only the rest need
/// asking for theirs (see `sockns`). A dump that fails only makes that
/// asking do more.
pub fn unix_inodes(transport: &mut impl Transport, seq: &mut u32) -> Vec<u64> {
    let mut buf = vec![0u8; INITIAL_BUFFER];
    for _ in 0..MAX_ATTEMPTS {
        *seq = seq.wrapping_add(1);
        if transport.send(&unix_request(*seq)).is_err() {
            return vec![];
        }
        let outcome = read_dump(
            transport,
            &mut buf,
            Protocol::Tcp,
            Family::Ipv4,
            *seq,
            &mut |m| match m {
                SockDiagMessage::UnixResponse(r) => Some(u64::from(r.header.inode)),
                _ => None,
            },
        );
        match outcome {
            Ok(Outcome::Complete(found)) => return found,
            Ok(Outcome::Truncated(len)) => buf.resize(len.next_power_of_two(), 0),
            Ok(Outcome::Interrupted) => {}
            Err(_) => return vec![],
        }
    }
    vec![]
}

fn unix_request(seq: u32) -> Vec<u8> {
    use netlink_packet_sock_diag::unix::{ShowFlags, StateFlags as UnixStates, UnixRequest};
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    header.sequence_number = seq;
    let inner = SockDiagMessage::UnixRequest(UnixRequest {
        state_flags: UnixStates::from_bits_retain(u32::MAX),
        inode: 0,
        show_flags: ShowFlags::empty(),
        cookie: [0xff; 8],
    });
    let mut message = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(inner));
    message.finalize();
    let mut bytes = vec![0u8; message.buffer_len()];
    message.serialize(&mut bytes);
    bytes
}

enum Outcome<T> {
    Complete(Vec<T>),
    Interrupted,
    Truncated(usize),
}

/// The states that make a listener: TCP in LISTEN, UDP bound and unconnected.
fn listening(protocol: Protocol) -> StateFlags {
    match protocol {
        Protocol::Tcp => StateFlags::LISTEN,
        Protocol::Udp => StateFlags::CLOSE,
    }
}

fn request(protocol: Protocol, family: Family, seq: u32, states: StateFlags) -> Vec<u8> {
    let proto = match protocol {
        Protocol::Tcp => IPPROTO_TCP,
        Protocol::Udp => IPPROTO_UDP,
    };
    let (af, socket_id) = match family {
        Family::Ipv4 => (AF_INET, SocketId::new_v4()),
        Family::Ipv6 => (AF_INET6, SocketId::new_v6()),
    };
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    header.sequence_number = seq;
    let inner = SockDiagMessage::InetRequest(InetRequest {
        family: af,
        protocol: proto,
        extensions: ExtensionFlags::empty(),
        states,
        socket_id,
    });
    let mut message = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(inner));
    message.finalize();
    let mut bytes = vec![0u8; message.buffer_len()];
    message.serialize(&mut bytes);
    bytes
}

fn read_dump<T>(
    transport: &mut impl Transport,
    buf: &mut [u8],
    protocol: Protocol,
    family: Family,
    seq: u32,
    keep: &mut dyn FnMut(SockDiagMessage) -> Option<T>,
) -> Result<Outcome<T>, DumpError> {
    let mut sockets = Vec::new();
    let mut interrupted = false;
    loop {
        let len = transport.recv(buf)?;
        if len > buf.len() {
            drain_until_done(transport, buf, seq)?;
            return Ok(Outcome::Truncated(len));
        }
        let mut offset = 0;
        while offset < len {
            let message = NetlinkMessage::<SockDiagMessage>::deserialize(&buf[offset..len])
                .map_err(|e| DumpError::Decode(e.to_string()))?;
            let msg_len = message.header.length as usize;
            if msg_len == 0 {
                return Err(DumpError::Decode("zero-length netlink message".into()));
            }
            offset += msg_len.next_multiple_of(4);
            if message.header.sequence_number != seq {
                continue; // an answer to an earlier, abandoned request
            }
            interrupted |= message.header.flags & NLM_F_DUMP_INTR != 0;
            match message.payload {
                NetlinkPayload::InnerMessage(inner) => sockets.extend(keep(inner)),
                NetlinkPayload::Done(_) => {
                    return Ok(if interrupted {
                        Outcome::Interrupted
                    } else {
                        Outcome::Complete(sockets)
                    });
                }
                NetlinkPayload::Error(err) => {
                    let Some(code) = err.code else { continue }; // an ACK
                    // Negative errno by convention; a hostile or broken
                    // peer may send anything, i32::MIN included.
                    let errno = code.get().checked_neg().unwrap_or(i32::MAX);
                    return Err(error_for(Errno::from_raw(errno), protocol, family));
                }
                NetlinkPayload::Noop => {}
                NetlinkPayload::Overrun(_) => return Ok(Outcome::Interrupted),
                other => {
                    return Err(DumpError::Decode(format!(
                        "unexpected message type {}",
                        other.message_type()
                    )));
                }
            }
        }
    }
}

/// After a truncated datagram the rest of the dump is still queued; read it
/// away so the restarted dump starts clean.
fn drain_until_done(
    transport: &mut impl Transport,
    buf: &mut [u8],
    seq: u32,
) -> Result<(), DumpError> {
    loop {
        let len = transport.recv(buf)?.min(buf.len());
        let mut offset = 0;
        while offset + 16 <= len {
            let header = &buf[offset..];
            let msg_len = u32::from_ne_bytes(header[0..4].try_into().unwrap()) as usize;
            let kind = u16::from_ne_bytes(header[4..6].try_into().unwrap());
            let msg_seq = u32::from_ne_bytes(header[8..12].try_into().unwrap());
            if msg_seq == seq
                && (kind == netlink_packet_core::NLMSG_DONE
                    || kind == netlink_packet_core::NLMSG_ERROR)
            {
                return Ok(());
            }
            if msg_len == 0 {
                return Ok(());
            }
            offset += msg_len.next_multiple_of(4);
        }
    }
}

fn error_for(errno: Errno, protocol: Protocol, family: Family) -> DumpError {
    let family_name = match family {
        Family::Ipv4 => "IPv4",
        Family::Ipv6 => "IPv6",
    };
    match errno {
        Errno::ENOENT | Errno::EOPNOTSUPP | Errno::EPROTONOSUPPORT => DumpError::Unsupported {
            protocol: protocol.as_str(),
            family: family_name,
            module: match protocol {
                Protocol::Tcp => "tcp_diag",
                Protocol::Udp => "udp_diag",
            },
        },
        errno => DumpError::Kernel {
            protocol: protocol.as_str(),
            errno,
        },
    }
}

fn convert(response: &InetResponse, protocol: Protocol) -> Option<RawSocket> {
    let header = &response.header;
    let family = match header.family {
        AF_INET => Family::Ipv4,
        AF_INET6 => Family::Ipv6,
        _ => return None,
    };
    let v6only = response.nlas.iter().find_map(|nla| match nla {
        Nla::SkV6Only(v) => Some(*v),
        _ => None,
    });
    Some(RawSocket {
        protocol,
        family,
        addr: header.socket_id.source_address,
        port: header.socket_id.source_port,
        ifindex: header.socket_id.interface_id,
        v6only: if family == Family::Ipv6 { v6only } else { None },
        inode: u64::from(header.inode),
        uid: header.uid,
    })
}

/// A transport that answers every request with the same recorded datagrams
/// (the fuzz target's input, split at `0xff 0xff` pairs), then fails.
pub struct Replay {
    datagrams: Vec<Vec<u8>>,
    next: usize,
}

impl Replay {
    pub fn new(input: &[u8]) -> Replay {
        let mut datagrams = Vec::new();
        let mut rest = input;
        while let Some(i) = rest.windows(2).position(|w| w == [0xff, 0xff]) {
            datagrams.push(rest[..i].to_vec());
            rest = &rest[i + 2..];
        }
        datagrams.push(rest.to_vec());
        Replay { datagrams, next: 0 }
    }
}

impl Transport for Replay {
    fn send(&mut self, _request: &[u8]) -> io::Result<()> {
        self.next = 0;
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(datagram) = self.datagrams.get(self.next) else {
            return Err(io::Error::other("replay exhausted"));
        };
        self.next += 1;
        let n = datagram.len().min(buf.len());
        buf[..n].copy_from_slice(&datagram[..n]);
        Ok(datagram.len())
    }
}

#[cfg(test)]
#[path = "sockdiag_tests.rs"]
mod tests;
