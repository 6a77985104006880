//! Packet filters the firewall evaluation does not see: XDP programs and tc
//! ingress filters run before netfilter and can drop (or redirect) what the
//! ruleset would let in. They are not evaluated; where one is attached, the
//! namespace gets an `unevaluated_filter` gap, so an `open` there is never
//! taken for the whole truth. Asked over `NETLINK_ROUTE` with dumps only
//! (RTM_GETLINK, RTM_GETQDISC, RTM_GETTFILTER), which need no privilege.

use crate::os::netlink::Transport;

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWQDISC: u16 = 36;
const RTM_GETQDISC: u16 = 38;
const RTM_NEWTFILTER: u16 = 44;
const RTM_GETTFILTER: u16 = 46;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_DUMP: u16 = 0x300;
const IFLA_IFNAME: u16 = 3;
const IFLA_XDP: u16 = 43;
const IFLA_XDP_ATTACHED: u16 = 2;
const TCA_KIND: u16 = 1;
/// `TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS)`: the ingress hook of a
/// `clsact` or `ingress` qdisc, where tc filters meet arriving packets.
const INGRESS_PARENT: u32 = 0xFFFF_FFF2;
/// A dump's replies are read up to this much.
const MAX_BYTES: usize = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum UnseenError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the kernel answered error {0}")]
    Kernel(i32),
    #[error("a malformed reply: {0}")]
    Malformed(&'static str),
    #[error("replies over {MAX_BYTES} bytes")]
    TooLarge,
}

/// What is attached, in words (`an XDP program on eth0`, `tc ingress
/// filters on eth0`), for the calling thread's namespace.
pub fn attached<T: Transport>(t: &mut T) -> Result<Vec<String>, UnseenError> {
    let mut d = Dump {
        transport: t,
        seq: 0,
        buf: vec![0; 64 << 10],
    };
    let mut names = std::collections::BTreeMap::new();
    let mut found = Vec::new();
    d.each(RTM_GETLINK, &[0; 16], |kind, body| {
        if kind != RTM_NEWLINK || body.len() < 16 {
            return;
        }
        let index = i32::from_ne_bytes(body[4..8].try_into().unwrap());
        let mut name = format!("interface {index}");
        let mut xdp = false;
        for (kind, value) in attrs(&body[16..]) {
            match kind {
                IFLA_IFNAME => {
                    let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
                    name = String::from_utf8_lossy(&value[..end]).into_owned();
                }
                IFLA_XDP => {
                    xdp = attrs(value)
                        .any(|(k, v)| k == IFLA_XDP_ATTACHED && v.first().is_some_and(|&a| a != 0));
                }
                _ => {}
            }
        }
        if xdp {
            found.push(format!("an XDP program on {name}"));
        }
        names.insert(index, name);
    })?;
    let mut hooked = Vec::new();
    d.each(RTM_GETQDISC, &[0; 20], |kind, body| {
        if kind != RTM_NEWQDISC || body.len() < 20 {
            return;
        }
        let index = i32::from_ne_bytes(body[4..8].try_into().unwrap());
        let is_ingress = attrs(&body[20..]).any(|(k, v)| {
            k == TCA_KIND && (v.starts_with(b"clsact\0") || v.starts_with(b"ingress\0"))
        });
        if is_ingress {
            hooked.push(index);
        }
    })?;
    for index in hooked {
        let mut request = [0u8; 20];
        request[4..8].copy_from_slice(&index.to_ne_bytes());
        request[12..16].copy_from_slice(&INGRESS_PARENT.to_ne_bytes());
        let mut filters = 0;
        d.each(RTM_GETTFILTER, &request, |kind, _| {
            filters += usize::from(kind == RTM_NEWTFILTER);
        })?;
        if filters > 0 {
            let name = names
                .get(&index)
                .cloned()
                .unwrap_or(format!("interface {index}"));
            found.push(format!("tc ingress filters on {name}"));
        }
    }
    Ok(found)
}

pub(super) struct Dump<'t, T: Transport> {
    pub(super) transport: &'t mut T,
    pub(super) seq: u32,
    pub(super) buf: Vec<u8>,
}

impl<T: Transport> Dump<'_, T> {
    /// Sends one dump request and hands each reply's (type, body) to `each`.
    pub(super) fn each(
        &mut self,
        kind: u16,
        body: &[u8],
        mut each: impl FnMut(u16, &[u8]),
    ) -> Result<(), UnseenError> {
        self.seq += 1;
        let len = 16 + body.len();
        let mut request = Vec::with_capacity(len);
        request.extend((len as u32).to_ne_bytes());
        request.extend(kind.to_ne_bytes());
        request.extend((NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
        request.extend(self.seq.to_ne_bytes());
        request.extend(0u32.to_ne_bytes());
        request.extend(body);
        self.transport.send(&request)?;
        let mut read = 0;
        loop {
            let n = self.transport.recv(&mut self.buf)?;
            if n > self.buf.len() {
                return Err(UnseenError::Malformed("a datagram larger than the buffer"));
            }
            read += n;
            if read > MAX_BYTES {
                return Err(UnseenError::TooLarge);
            }
            let mut at = 0;
            while at + 16 <= n {
                let h = &self.buf[at..n];
                let msg_len = u32::from_ne_bytes(h[0..4].try_into().unwrap()) as usize;
                let msg_type = u16::from_ne_bytes(h[4..6].try_into().unwrap());
                let msg_seq = u32::from_ne_bytes(h[8..12].try_into().unwrap());
                if msg_len < 16 || msg_len > h.len() {
                    return Err(UnseenError::Malformed("a message length"));
                }
                let body = &h[16..msg_len];
                at += msg_len.next_multiple_of(4);
                if msg_seq != self.seq {
                    continue;
                }
                match msg_type {
                    NLMSG_DONE => return Ok(()),
                    NLMSG_ERROR => {
                        let code = body
                            .get(0..4)
                            .map(|b| i32::from_ne_bytes(b.try_into().unwrap()))
                            .unwrap_or(-1);
                        return if code == 0 {
                            Ok(())
                        } else {
                            Err(UnseenError::Kernel(code))
                        };
                    }
                    t => each(t, body),
                }
            }
        }
    }
}

/// Route netlink attributes: (type, value), 4-byte aligned.
pub(super) fn attrs(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if buf.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([buf[0], buf[1]]) as usize;
        let kind = u16::from_ne_bytes([buf[2], buf[3]]) & 0x3fff;
        if len < 4 || len > buf.len() {
            return None;
        }
        let value = &buf[4..len];
        buf = &buf[len.next_multiple_of(4).min(buf.len())..];
        Some((kind, value))
    })
}
