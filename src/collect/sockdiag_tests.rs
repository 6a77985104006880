//! The dump loop against datagrams in the kernel's wire format, built with the
//! codec's own emitter: every branch the real kernel can take, on demand.

use std::collections::VecDeque;
use std::num::NonZeroI32;

use netlink_packet_core::{DoneMessage, ErrorMessage, NLM_F_MULTIPART};
use netlink_packet_sock_diag::inet::InetResponseHeader;

use super::*;

struct FakeKernel {
    sent: Vec<Vec<u8>>,
    /// One queue of datagrams per request, in order.
    answers: VecDeque<Vec<Vec<u8>>>,
    current: VecDeque<Vec<u8>>,
}

impl FakeKernel {
    fn new(answers: Vec<Vec<Vec<u8>>>) -> Self {
        FakeKernel {
            sent: vec![],
            answers: answers.into(),
            current: VecDeque::new(),
        }
    }
}

impl Transport for FakeKernel {
    fn send(&mut self, request: &[u8]) -> io::Result<()> {
        self.sent.push(request.to_vec());
        self.current = self
            .answers
            .pop_front()
            .expect("an answer for every request")
            .into();
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let datagram = self
            .current
            .pop_front()
            .expect("the loop stops at DONE or ERROR");
        let n = datagram.len().min(buf.len());
        buf[..n].copy_from_slice(&datagram[..n]);
        Ok(datagram.len())
    }
}

fn emit(payload: NetlinkPayload<SockDiagMessage>, seq: u32, flags: u16) -> Vec<u8> {
    let mut header = NetlinkHeader::default();
    header.sequence_number = seq;
    header.flags = flags;
    let mut message = NetlinkMessage::new(header, payload);
    message.finalize();
    let mut bytes = vec![0u8; message.buffer_len()];
    message.serialize(&mut bytes);
    bytes
}

fn socket(
    addr: &str,
    port: u16,
    inode: u32,
    v6only: Option<bool>,
    seq: u32,
    flags: u16,
) -> Vec<u8> {
    let addr: IpAddr = addr.parse().unwrap();
    let mut socket_id = if addr.is_ipv4() {
        SocketId::new_v4()
    } else {
        SocketId::new_v6()
    };
    socket_id.source_address = addr;
    socket_id.source_port = port;
    socket_id.interface_id = 3;
    let response = InetResponse {
        header: InetResponseHeader {
            family: if addr.is_ipv4() { AF_INET } else { AF_INET6 },
            state: 10,
            timer: None,
            socket_id,
            recv_queue: 0,
            send_queue: 128,
            uid: 1000,
            inode,
        },
        nlas: v6only.map(Nla::SkV6Only).into_iter().collect(),
    };
    emit(
        NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(Box::new(response))),
        seq,
        flags,
    )
}

fn done(seq: u32, flags: u16) -> Vec<u8> {
    emit(NetlinkPayload::Done(DoneMessage::default()), seq, flags)
}

fn error(errno: i32, seq: u32) -> Vec<u8> {
    let mut message = ErrorMessage::default();
    message.code = NonZeroI32::new(-errno);
    emit(NetlinkPayload::Error(message), seq, 0)
}

#[test]
fn request_asks_for_listening_tcp_and_unconnected_udp() {
    let tcp = request(Protocol::Tcp, Family::Ipv4, 7, listening(Protocol::Tcp));
    let udp = request(Protocol::Udp, Family::Ipv6, 8, listening(Protocol::Udp));
    // nlmsghdr (16 bytes), then inet_diag_req_v2: family, protocol, ext, pad, states.
    assert_eq!(
        u16::from_ne_bytes([tcp[6], tcp[7]]),
        NLM_F_REQUEST | NLM_F_DUMP
    );
    assert_eq!((tcp[16], tcp[17]), (AF_INET, IPPROTO_TCP));
    assert_eq!(
        u32::from_ne_bytes(tcp[20..24].try_into().unwrap()),
        1 << 10,
        "TCP_LISTEN only"
    );
    assert_eq!((udp[16], udp[17]), (AF_INET6, IPPROTO_UDP));
    assert_eq!(
        u32::from_ne_bytes(udp[20..24].try_into().unwrap()),
        1 << 7,
        "TCP_CLOSE (UNCONN) only"
    );
}

#[test]
fn reads_every_message_of_every_datagram_until_done() {
    let mut first = socket("0.0.0.0", 22, 11, None, 1, NLM_F_MULTIPART);
    first.extend(socket("127.0.0.1", 5432, 12, None, 1, NLM_F_MULTIPART));
    let second = [
        socket("192.168.1.5", 80, 13, None, 1, NLM_F_MULTIPART),
        done(1, NLM_F_MULTIPART),
    ]
    .concat();
    let mut kernel = FakeKernel::new(vec![vec![first, second]]);
    let mut seq = 0;
    let sockets = dump(&mut kernel, Protocol::Tcp, Family::Ipv4, &mut seq).unwrap();
    let ports: Vec<u16> = sockets.iter().map(|s| s.port).collect();
    assert_eq!(ports, [22, 5432, 80]);
    assert_eq!(sockets[0].inode, 11);
    assert_eq!(sockets[0].ifindex, 3);
    assert_eq!(sockets[0].uid, 1000);
    assert_eq!(sockets[0].v6only, None);
}

#[test]
fn keeps_v6only_and_leaves_it_unknown_when_absent() {
    let datagram = [
        socket("::", 80, 1, Some(false), 1, NLM_F_MULTIPART),
        socket("::", 81, 2, Some(true), 1, NLM_F_MULTIPART),
        socket("::1", 82, 3, None, 1, NLM_F_MULTIPART),
        done(1, NLM_F_MULTIPART),
    ]
    .concat();
    let mut kernel = FakeKernel::new(vec![vec![datagram]]);
    let sockets = dump(&mut kernel, Protocol::Tcp, Family::Ipv6, &mut 0).unwrap();
    let flags: Vec<Option<bool>> = sockets.iter().map(|s| s.v6only).collect();
    assert_eq!(flags, [Some(false), Some(true), None]);
}

#[test]
fn missing_diag_module_is_an_error_not_an_empty_answer() {
    let mut kernel = FakeKernel::new(vec![vec![error(Errno::ENOENT as i32, 1)]]);
    let err = dump(&mut kernel, Protocol::Udp, Family::Ipv4, &mut 0).unwrap_err();
    assert!(
        matches!(
            err,
            DumpError::Unsupported {
                module: "udp_diag",
                ..
            }
        ),
        "{err}"
    );
    let mut kernel = FakeKernel::new(vec![vec![error(Errno::EPERM as i32, 1)]]);
    let err = dump(&mut kernel, Protocol::Tcp, Family::Ipv4, &mut 0).unwrap_err();
    assert!(
        matches!(
            err,
            DumpError::Kernel {
                errno: Errno::EPERM,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn interrupted_dump_is_restarted_and_only_the_clean_one_counts() {
    let torn = vec![
        [
            socket("0.0.0.0", 1, 1, None, 1, NLM_F_MULTIPART | NLM_F_DUMP_INTR),
            done(1, 0),
        ]
        .concat(),
    ];
    let clean = vec![
        [
            socket("0.0.0.0", 2, 2, None, 2, NLM_F_MULTIPART),
            done(2, 0),
        ]
        .concat(),
    ];
    let mut kernel = FakeKernel::new(vec![torn, clean]);
    let sockets = dump(&mut kernel, Protocol::Tcp, Family::Ipv4, &mut 0).unwrap();
    assert_eq!(kernel.sent.len(), 2);
    assert_eq!(sockets.iter().map(|s| s.port).collect::<Vec<_>>(), [2]);
}

#[test]
fn gives_up_after_repeated_interruptions() {
    let torn = |seq| {
        vec![
            [
                socket("0.0.0.0", 1, 1, None, seq, NLM_F_DUMP_INTR),
                done(seq, NLM_F_DUMP_INTR),
            ]
            .concat(),
        ]
    };
    let mut kernel = FakeKernel::new((1..=MAX_ATTEMPTS).map(torn).collect());
    let err = dump(&mut kernel, Protocol::Tcp, Family::Ipv4, &mut 0).unwrap_err();
    assert!(matches!(err, DumpError::Interrupted { .. }), "{err}");
}

#[test]
fn stale_answers_to_an_earlier_request_are_ignored() {
    let datagram = [
        socket("0.0.0.0", 9, 9, None, 41, 0),
        socket("0.0.0.0", 10, 10, None, 1, 0),
        done(1, 0),
    ]
    .concat();
    let mut kernel = FakeKernel::new(vec![vec![datagram]]);
    let sockets = dump(&mut kernel, Protocol::Tcp, Family::Ipv4, &mut 0).unwrap();
    assert_eq!(sockets.iter().map(|s| s.port).collect::<Vec<_>>(), [10]);
}

#[test]
fn truncated_datagram_restarts_with_a_larger_buffer() {
    let big: Vec<u8> = (0..1200)
        .flat_map(|i| socket("10.0.0.1", i, i as u32, None, 1, NLM_F_MULTIPART))
        .collect();
    assert!(big.len() > INITIAL_BUFFER);
    let first = vec![big, done(1, 0)];
    let retry: Vec<u8> = (0..1200)
        .flat_map(|i| socket("10.0.0.1", i, i as u32, None, 2, NLM_F_MULTIPART))
        .collect();
    let mut kernel = FakeKernel::new(vec![first, vec![retry, done(2, 0)]]);
    let sockets = dump(&mut kernel, Protocol::Tcp, Family::Ipv4, &mut 0).unwrap();
    assert_eq!(sockets.len(), 1200);
    assert_eq!(kernel.sent.len(), 2);
}

#[test]
fn one_dump_gives_listeners_and_the_other_sockets_inodes() {
    let listener = socket("0.0.0.0", 22, 100, None, 1, NLM_F_MULTIPART);
    let mut established = socket("10.0.0.1", 22, 101, None, 1, NLM_F_MULTIPART);
    established[17] = 1; // inet_diag_msg.idiag_state: TCP_ESTABLISHED
    let mut kernel = FakeKernel::new(vec![vec![
        [listener, established].concat(),
        done(1, NLM_F_MULTIPART),
    ]]);
    let mut others = Vec::new();
    let mut seq = 0;
    let sockets = dump_with_others(
        &mut kernel,
        Protocol::Tcp,
        Family::Ipv4,
        &mut seq,
        &mut others,
    )
    .unwrap();
    assert_eq!(sockets.iter().map(|s| s.inode).collect::<Vec<_>>(), [100]);
    assert_eq!(others, [101]);
    // Every state was asked for.
    let sent = &kernel.sent[0];
    let states = u32::from_ne_bytes(sent[20..24].try_into().unwrap());
    assert_eq!(states, u32::MAX);
}
