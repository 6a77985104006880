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

/// What reverse-path filtering lets in on the interfaces of a namespace
/// where it is on (where it is off, every source): worked out once per
/// namespace, looked up per listener.
#[derive(Debug, Clone, Default)]
pub struct ReversePath {
    by_interface: BTreeMap<String, Allowed>,
}

/// What reverse-path filtering lets in on one interface where it is on.
#[derive(Debug, Clone, PartialEq)]
pub enum Allowed {
    /// Only these sources, under this mode (1 strict, 2 loose).
    Only(SourceSet, u8),
    /// rp_filter is on, but the routes back are not known.
    Unknown(String),
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

impl ReversePath {
    /// `modes`: the interfaces (name, index) with rp_filter on and its
    /// mode; `routes`: the main table's IPv4 routes, or why they are not
    /// known.
    pub fn new(modes: &[(String, u32, u8)], routes: &Result<Vec<Route>, String>) -> Self {
        let by_interface = modes
            .iter()
            .filter(|(_, _, mode)| *mode > 0)
            .map(|(name, index, mode)| {
                let allowed = match routes {
                    Ok(routes) => Allowed::Only(kept(routes, *index, *mode), *mode),
                    Err(why) => Allowed::Unknown(why.clone()),
                };
                (name.clone(), allowed)
            })
            .collect();
        ReversePath { by_interface }
    }

    /// What is let in on `iface`; `None`: every source (rp_filter is off).
    pub fn allowed(&self, iface: &str) -> Option<&Allowed> {
        self.by_interface.get(iface)
    }
}

/// The IPv4 sources whose packets arriving on interface `index` a filter
/// of `mode` keeps.
fn kept(routes: &[Route], index: u32, mode: u8) -> SourceSet {
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
    kept
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

    /// eth0 (index 2) with rp_filter `mode`.
    fn rp(mode: u8, routes: Result<Vec<Route>, String>) -> ReversePath {
        ReversePath::new(&[("eth0".to_owned(), 2, mode)], &routes)
    }

    #[test]
    fn strict_keeps_only_what_routes_back_through_the_interface() {
        // eth0 (2) has the default route; 192.0.2.0/24 goes by eth1 (3).
        let routes = vec![route("0.0.0.0", 0, 2), route("192.0.2.0", 24, 3)];
        let Some(Allowed::Only(kept, 1)) = rp(1, Ok(routes.clone())).allowed("eth0").cloned()
        else {
            panic!("strict")
        };
        assert!(kept.contains("198.51.100.7".parse().unwrap()));
        assert!(!kept.contains("192.0.2.77".parse().unwrap()));
        let Some(Allowed::Only(loose, 2)) = rp(2, Ok(routes)).allowed("eth0").cloned() else {
            panic!("loose")
        };
        assert!(loose.is_full(), "loose: every source has some route back");
    }

    #[test]
    fn no_route_back_is_dropped_even_when_loose() {
        let routes = vec![route("10.0.0.0", 8, 2)];
        let Some(Allowed::Only(kept, 2)) = rp(2, Ok(routes)).allowed("eth0").cloned() else {
            panic!()
        };
        assert!(kept.contains("10.1.2.3".parse().unwrap()));
        assert!(!kept.contains("192.0.2.1".parse().unwrap()));
    }

    #[test]
    fn off_or_unknown_routes_say_so() {
        assert_eq!(rp(0, Ok(vec![])).allowed("eth0"), None);
        assert_eq!(rp(1, Ok(vec![])).allowed("eth1"), None);
        assert_eq!(
            rp(1, Err("no routes".into())).allowed("eth0"),
            Some(&Allowed::Unknown("no routes".into()))
        );
    }
}
