use portcullis_sdk::Outcome;
use portcullis_sdk::testing::Host;

use super::*;

fn outcomes(inv: &Inventory, rule: &str) -> Vec<(u16, Outcome)> {
    portcullis_sdk::verdicts::all(&evaluate(inv))
        .into_iter()
        .filter(|v| v.rule_id == rule)
        .map(|v| (inv.listeners[v.listener.unwrap() as usize].port, v.outcome))
        .collect()
}

#[test]
fn local_only_services_pass_on_loopback_and_fail_elsewhere() {
    let inv = Host::new()
        .listen("tcp", "127.0.0.1", 5432, "postgres")
        .listen("tcp", "0.0.0.0", 3306, "mysqld")
        .listen("tcp", "*", 6379, "redis-server")
        .listen("tcp", "10.0.0.5", 5433, "postgres") // a second cluster: known by name
        .listen("tcp", "0.0.0.0", 8080, "nginx") // not a local-only service: no verdict
        .build();
    assert_eq!(
        outcomes(&inv, LOCAL_ONLY_EXPOSED),
        [
            (5432, Outcome::Pass),
            (3306, Outcome::Fail),
            (6379, Outcome::Fail),
            (5433, Outcome::Fail)
        ]
    );
    let eval = evaluate(&inv);
    let redis = eval
        .verdicts
        .iter()
        .find(|v| v.outcome == Outcome::Fail && v.message.starts_with("Redis"))
        .unwrap();
    assert!(
        redis.message.contains("(redis-server) on tcp [*]:6379")
            || redis.message.contains("(redis-server) on tcp *:6379"),
        "{}",
        redis.message
    );
    assert!(
        redis.message.contains("bind 127.0.0.1"),
        "names the setting: {}",
        redis.message
    );
}

#[test]
fn risky_services_fail_wherever_they_listen() {
    let inv = Host::new()
        .listen("udp", "0.0.0.0", 161, "snmpd")
        .listen("tcp", "127.0.0.1", 23, "in.telnetd")
        .listen("tcp", "0.0.0.0", 2375, "dockerd")
        .listen("udp", "0.0.0.0", 631, "cups-browsed")
        .listen("tcp", "0.0.0.0", 6001, "Xorg")
        .build();
    let got = outcomes(&inv, RISKY_SERVICE);
    assert!(got.iter().all(|(_, o)| *o == Outcome::Fail), "{got:?}");
    assert_eq!(got.len(), 5);
    let cups = portcullis_sdk::verdicts::all(&evaluate(&inv))
        .into_iter()
        .find(|v| v.message.contains("cups-browsed"))
        .unwrap();
    assert!(cups.message.contains("CVE-2024-47176"), "{}", cups.message);
}

#[test]
fn some_risky_services_are_fine_on_loopback() {
    let inv = Host::new()
        .listen("tcp", "127.0.0.1", 2379, "etcd")
        .listen("tcp", "0.0.0.0", 2380, "etcd")
        .build();
    assert_eq!(
        outcomes(&inv, RISKY_SERVICE),
        [(2379, Outcome::Pass), (2380, Outcome::Fail)]
    );
}

#[test]
fn protocol_matters() {
    // CUPS on TCP is local-only; cups-browsed on UDP 631 is risky.
    let inv = Host::new().listen("tcp", "0.0.0.0", 631, "cupsd").build();
    assert_eq!(outcomes(&inv, LOCAL_ONLY_EXPOSED), [(631, Outcome::Fail)]);
    assert!(outcomes(&inv, RISKY_SERVICE).is_empty());
}

#[test]
fn every_row_has_a_source_and_sane_ports() {
    for s in tables::LOCAL_ONLY
        .iter()
        .chain(tables::RISKY.iter().map(|r| &r.service))
    {
        assert!(
            !s.source.is_empty() && !s.fix.is_empty() && !s.why.is_empty(),
            "{}",
            s.name
        );
        assert!(s.ports.iter().all(|(lo, hi)| lo <= hi), "{}", s.name);
    }
}

/// The lookup answers as a scan of the table in order would, for every
/// protocol, port and holder name of both tables.
#[test]
fn the_row_lookup_is_the_first_row_a_scan_finds() {
    fn check<'s>(table: impl Iterator<Item = &'s Service> + Clone) {
        let rows = Rows::of(table.clone());
        let n = table.clone().count();
        let named_sets: Vec<u64> = [0, u64::MAX]
            .into_iter()
            .chain((0..n).map(|i| 1 << i))
            .collect();
        let host = Host::new().listen("tcp", "0.0.0.0", 1, "x").build();
        for protocol in [Protocol::Tcp, Protocol::Udp] {
            for port in 0..=u16::MAX {
                let l = Listener {
                    protocol,
                    port,
                    ..host.listeners[0].clone()
                };
                for &named in &named_sets {
                    let scan = table.clone().enumerate().position(|(i, s)| {
                        s.protocol == protocol
                            && (s.ports.iter().any(|&(lo, hi)| lo <= port && port <= hi)
                                || named & 1 << i != 0)
                    });
                    assert_eq!(rows.first(named, &l), scan, "{protocol:?} {port} {named:b}");
                }
            }
        }
    }
    check(LOCAL_ONLY.iter());
    check(RISKY.iter().map(|r| &r.service));
}
