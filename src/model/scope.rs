//! Classification of a bind address: who can reach a socket bound there.
//!
//! Pure functions of the address and the socket's `IPV6_V6ONLY` flag. The
//! ranges follow the IANA special-purpose registries; everything routable that
//! is not special is `public`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Reachability class of a bind address, narrowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// 127.0.0.0/8, ::1, ::ffff:127.0.0.0/104: only this namespace can connect.
    Loopback,
    /// 169.254.0.0/16, fe80::/10: the attached link only.
    LinkLocal,
    /// RFC 1918, CGNAT 100.64.0.0/10, ULA fc00::/7.
    Private,
    /// 224.0.0.0/4, ff00::/8: a UDP socket joined to a group address.
    Multicast,
    /// Any other unicast address.
    Public,
    /// 0.0.0.0, or :: with IPV6_V6ONLY set: every address of one family.
    Wildcard,
    /// :: with IPV6_V6ONLY off: every IPv4 and IPv6 address (`*` in `ss`).
    DualStack,
}

super::vocabulary::named_enum!(
    Scope,
    portcullis_shared::vocabulary::SCOPES,
    [
        Loopback, LinkLocal, Private, Multicast, Public, Wildcard, DualStack
    ]
);

impl Scope {
    /// True for both wildcard kinds.
    pub fn is_any_address(self) -> bool {
        matches!(self, Scope::Wildcard | Scope::DualStack)
    }
}

/// Classifies a bind. `v6only` is the socket's IPV6_V6ONLY flag; it only
/// matters for the IPv6 unspecified address. When the kernel did not report
/// it (`None`) an IPv6 wildcard is taken as dual-stack, the wider of the two,
/// so that an unknown never understates exposure.
pub fn classify(addr: IpAddr, v6only: Option<bool>) -> Scope {
    match addr {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) if v6.is_unspecified() => {
            if v6only == Some(true) {
                Scope::Wildcard
            } else {
                Scope::DualStack
            }
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn classify_v4(a: Ipv4Addr) -> Scope {
    let [o0, o1, ..] = a.octets();
    if a.is_unspecified() {
        Scope::Wildcard
    } else if a.is_loopback() {
        Scope::Loopback
    } else if a.is_link_local() {
        Scope::LinkLocal
    } else if a.is_multicast() {
        Scope::Multicast
    } else if a.is_private() || (o0 == 100 && (o1 & 0xc0) == 64) {
        Scope::Private
    } else {
        Scope::Public
    }
}

fn classify_v6(a: Ipv6Addr) -> Scope {
    let first = a.segments()[0];
    if a.is_loopback() {
        Scope::Loopback
    } else if (first & 0xffc0) == 0xfe80 {
        Scope::LinkLocal
    } else if a.is_multicast() {
        Scope::Multicast
    } else if (first & 0xfe00) == 0xfc00 {
        Scope::Private
    } else {
        Scope::Public
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str, v6only: Option<bool>) -> Scope {
        classify(s.parse().unwrap(), v6only)
    }

    #[test]
    fn loopback_in_every_spelling() {
        for a in [
            "127.0.0.1",
            "127.0.0.53",
            "127.255.0.9",
            "::1",
            "::ffff:127.0.0.1",
        ] {
            assert_eq!(c(a, None), Scope::Loopback, "{a}");
        }
    }

    #[test]
    fn wildcards_depend_on_v6only() {
        assert_eq!(c("0.0.0.0", None), Scope::Wildcard);
        assert_eq!(c("::", Some(true)), Scope::Wildcard);
        assert_eq!(c("::", Some(false)), Scope::DualStack);
        assert_eq!(c("::", None), Scope::DualStack);
        assert!(Scope::DualStack.is_any_address() && Scope::Wildcard.is_any_address());
        assert!(!Scope::Loopback.is_any_address());
    }

    #[test]
    fn private_link_local_and_public_ranges() {
        for a in [
            "10.1.2.3",
            "172.16.0.155",
            "172.31.255.1",
            "192.168.122.37",
            "100.64.0.1",
            "100.127.255.254",
            "fd00::1",
            "fc12::3",
            "::ffff:10.0.0.1",
        ] {
            assert_eq!(c(a, None), Scope::Private, "{a}");
        }
        for a in ["169.254.1.1", "fe80::1", "febf::1"] {
            assert_eq!(c(a, None), Scope::LinkLocal, "{a}");
        }
        for a in ["224.0.0.251", "ff02::fb"] {
            assert_eq!(c(a, None), Scope::Multicast, "{a}");
        }
        for a in [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "198.51.100.7",
            "2001:db8::1",
            "fec0::1",
        ] {
            assert_eq!(c(a, None), Scope::Public, "{a}");
        }
    }
}
