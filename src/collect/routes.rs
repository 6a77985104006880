//! What reverse-path filtering needs of the calling thread's namespace:
//! `rp_filter` per interface (the larger of `all` and the interface's own)
//! and, only where it is on, the IPv4 routes back (an `RTM_GETROUTE` dump
//! over `NETLINK_ROUTE`, which needs no privilege).

use std::net::Ipv4Addr;

use super::unseen::{Dump, UnseenError, attrs};
use crate::firewall::rpfilter::{ReversePath, Route};
use crate::model::Interface;

const RTM_NEWROUTE: u16 = 24;
const RTM_GETROUTE: u16 = 26;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_PRIORITY: u16 = 6;
const RTA_MULTIPATH: u16 = 9;
const RTA_TABLE: u16 = 15;
const RT_TABLE_DEFAULT: u32 = 253;
const RT_TABLE_MAIN: u32 = 254;
const RT_TABLE_LOCAL: u32 = 255;
const RTN_UNICAST: u8 = 1;
const AF_INET: u8 = 2;

pub fn reverse_path(interfaces: &[Interface]) -> ReversePath {
    let mode = |iface: &str| {
        // 0 where it cannot be read: the kernel's default.
        super::nftables::conf_value("ipv4", iface, "rp_filter").map_or(0, |m| m.min(2) as u8)
    };
    let all = mode("all");
    let modes: Vec<(String, u32, u8)> = interfaces
        .iter()
        .map(|i| (i.name.clone(), i.index, mode(&i.name).max(all)))
        .filter(|(_, _, m)| *m > 0)
        .collect();
    if modes.is_empty() {
        return ReversePath::default();
    }
    let routes = crate::os::netlink::Route::route()
        .map_err(UnseenError::from)
        .and_then(|mut socket| {
            let mut dump = Dump {
                transport: &mut socket,
                seq: 0,
                buf: vec![0; 64 << 10],
            };
            main_routes(&mut dump)
        })
        .map_err(|e| format!("the routes back could not be read: {e}"))
        .and_then(|r| r);
    ReversePath::new(&modes, &routes)
}

/// The main table's IPv4 routes; an error (in words) where routes sit in
/// other tables: policy routing, whose rules are not evaluated.
fn main_routes<T: crate::os::netlink::Transport>(
    dump: &mut Dump<'_, T>,
) -> Result<Result<Vec<Route>, String>, UnseenError> {
    let mut request = [0u8; 12];
    request[0] = AF_INET;
    let mut routes = Vec::new();
    let mut other_table = None;
    dump.each(RTM_GETROUTE, &request, |kind, body| {
        if kind != RTM_NEWROUTE || body.len() < 12 || body[0] != AF_INET {
            return;
        }
        let (prefix, mut table, kind) = (body[1], u32::from(body[4]), body[7]);
        let mut route = Route {
            prefix,
            unicast: kind == RTN_UNICAST,
            ..Route::default()
        };
        for (attr, value) in attrs(&body[12..]) {
            let word = || {
                value
                    .get(..4)
                    .map(|b| u32::from_ne_bytes(b.try_into().unwrap()))
            };
            match attr {
                RTA_DST if value.len() == 4 => {
                    route.dst = Ipv4Addr::from(<[u8; 4]>::try_from(value).unwrap())
                }
                RTA_OIF => route.oifs.extend(word()),
                RTA_PRIORITY => route.metric = word().unwrap_or(0),
                RTA_TABLE => table = word().unwrap_or(table),
                // struct rtnexthop { u16 len; u8 flags, hops; i32 ifindex; }
                RTA_MULTIPATH => {
                    let mut rest = value;
                    while rest.len() >= 8 {
                        let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
                        if len < 8 || len > rest.len() {
                            break;
                        }
                        route
                            .oifs
                            .push(u32::from_ne_bytes(rest[4..8].try_into().unwrap()));
                        rest = &rest[len.next_multiple_of(4).min(rest.len())..];
                    }
                }
                _ => {}
            }
        }
        match table {
            RT_TABLE_MAIN => routes.push(route),
            RT_TABLE_LOCAL | RT_TABLE_DEFAULT => {}
            other => {
                other_table.get_or_insert(other);
            }
        }
    })?;
    Ok(match other_table {
        Some(table) => Err(format!(
            "routes sit in table {table}: policy routing, whose rules are not evaluated"
        )),
        None => Ok(routes),
    })
}
