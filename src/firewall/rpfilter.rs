//! Reverse-path filtering (`net.ipv4.conf.{all,IFACE}.rp_filter`, the
//! larger of the two applies): before input or forward, the kernel routes
//! an arriving IPv4 packet's source back, and drops the packet when that
//! fails. Strict (1): the route back must leave by the interface the packet
//! came in on; loose (2): some route back must exist. So on a host with
//! two links a source routed by the other one does not get in by this one,
//! whatever the firewall says. IPv6 has no such switch (its equivalent is
//! a netfilter `rpfilter`/`fib saddr` match, which the evaluator handles or
//! calls unknown). Pure: the routes are read by `collect`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::sources::SourceSet;

/// One IPv4 route of the main table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub dst: Ipv4Addr,
    pub prefix: u8,
    /// `RTA_PRIORITY`: of two routes to one prefix, the lower wins.
    pub metric: u32,
    /// The interfaces (indexes) it leaves by: one, or a multipath route's.
    pub oifs: Vec<u32>,
    /// A unicast route; a blackhole, unreachable or prohibit one routes
    /// nothing back.
    pub unicast: bool,
}

/// What reverse-path filtering needs of a namespace.
#[derive(Debug, Clone)]
pub struct ReversePath {
    /// The interfaces with rp_filter on, and its mode (1 strict, 2 loose).
    pub modes: BTreeMap<String, u8>,
    /// The main table's IPv4 routes, or why they are not known (read only
    /// where some interface has rp_filter on).
    pub routes: Result<Vec<Route>, String>,
}

impl Default for ReversePath {
    fn default() -> Self {
        ReversePath {
            modes: BTreeMap::new(),
            routes: Ok(vec![]),
        }
    }
}

impl Default for Route {
    fn default() -> Self {
        Route {
            dst: Ipv4Addr::UNSPECIFIED,
            prefix: 0,
            metric: 0,
            oifs: vec![],
            unicast: true,
        }
    }
}

/// What reverse-path filtering lets in on one interface.
#[derive(Debug, Clone, PartialEq)]
pub enum Allowed {
    /// rp_filter is off there: every source.
    All,
    /// Only these sources, under this mode.
    Only(SourceSet, u8),
    /// rp_filter is on, but the routes back are not known.
    Unknown(String),
}

/// The IPv4 sources whose packets arriving on `iface` (its name and index)
/// reverse-path filtering keeps.
pub fn allowed(rp: &ReversePath, iface: &str, index: u32) -> Allowed {
    let Some(&mode) = rp.modes.get(iface).filter(|m| **m > 0) else {
        return Allowed::All;
    };
    let routes = match &rp.routes {
        Ok(routes) => routes,
        Err(why) => return Allowed::Unknown(why.clone()),
    };
    // The longest prefix first, then the lowest metric: each source is
    // routed back by the first route that holds it.
    let mut order: Vec<&Route> = routes.iter().collect();
    order.sort_by_key(|r| (std::cmp::Reverse(r.prefix), r.metric));
    let mut claimed = SourceSet::empty(4);
    let mut kept = SourceSet::empty(4);
    for route in order {
        let prefix = u32::from(route.prefix.min(32));
        let mask = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix)
        };
        let Some(block) = SourceSet::masked(4, &mask.to_be_bytes(), &route.dst.octets())
            .filter(|b| !b.is_empty())
        else {
            continue;
        };
        let fresh = block.minus(&claimed);
        if route.unicast && (mode == 2 || route.oifs.contains(&index)) {
            kept = kept.union(&fresh);
        }
        claimed = claimed.union(&block);
    }
    Allowed::Only(kept, mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(dst: &str, prefix: u8, oif: u32) -> Route {
        Route {
            dst: dst.parse().unwrap(),
            prefix,
            oifs: vec![oif],
            ..Route::default()
        }
    }

    fn rp(mode: u8, routes: Vec<Route>) -> ReversePath {
        ReversePath {
            modes: BTreeMap::from([("eth0".to_owned(), mode)]),
            routes: Ok(routes),
        }
    }

    #[test]
    fn strict_keeps_only_what_routes_back_through_the_interface() {
        // eth0 (2) has the default route; 192.0.2.0/24 goes by eth1 (3).
        let routes = vec![route("0.0.0.0", 0, 2), route("192.0.2.0", 24, 3)];
        let Allowed::Only(kept, 1) = allowed(&rp(1, routes.clone()), "eth0", 2) else {
            panic!("strict")
        };
        assert!(kept.contains("198.51.100.7".parse().unwrap()));
        assert!(!kept.contains("192.0.2.77".parse().unwrap()));
        let Allowed::Only(loose, 2) = allowed(&rp(2, routes), "eth0", 2) else {
            panic!("loose")
        };
        assert!(loose.is_full(), "loose: every source has some route back");
    }

    #[test]
    fn no_route_back_is_dropped_even_when_loose() {
        let routes = vec![route("10.0.0.0", 8, 2)];
        let Allowed::Only(kept, 2) = allowed(&rp(2, routes), "eth0", 2) else {
            panic!()
        };
        assert!(kept.contains("10.1.2.3".parse().unwrap()));
        assert!(!kept.contains("192.0.2.1".parse().unwrap()));
    }

    #[test]
    fn off_or_unknown_routes_say_so() {
        assert_eq!(allowed(&rp(0, vec![]), "eth0", 2), Allowed::All);
        assert_eq!(allowed(&rp(1, vec![]), "eth1", 3), Allowed::All);
        let unknown = ReversePath {
            routes: Err("no routes".into()),
            ..rp(1, vec![])
        };
        assert_eq!(
            allowed(&unknown, "eth0", 2),
            Allowed::Unknown("no routes".into())
        );
    }
}
