//! Root-only: portcullis against `ss` in every namespace of the host.
//!
//! Builds real namespaces of every kind discovery must handle, fills them
//! with real listeners, then requires for EVERY namespace portcullis reports
//! that its listener set equals what `nsenter --net=PATH ss -Htuln` prints
//! there, and for every listener that its holders equal an independent walk
//! of `/proc/*/fd`. Runs as its own test binary, so no other test adds or
//! removes namespaces while it compares.

// A test sets up the host it checks: files, processes, namespaces.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::collections::BTreeSet;

use serde_json::{Value, json};
use support::*;

struct Scenario {
    a: NamedNetns,
    b: NamedNetns,
    mounted: MountedNetns,
    pinned_inode: u64,
    anon: Helper,
    in_a: Helper,
    in_b: Helper,
    into_mounted: Helper,
    pinner: Helper,
}

fn build() -> Scenario {
    let a = NamedNetns::new(&unique("a"));
    let b = NamedNetns::new(&unique("b"));
    let (va, vb) = (unique("va"), unique("vb"));
    a.ip(&format!(
        "link add {va} type veth peer name {vb} netns {}",
        b.name
    ));
    a.ip(&format!("addr add 192.168.122.37/24 dev {va}"));
    a.ip(&format!("addr add 2001:db8::37/64 dev {va} nodad"));
    a.ip(&format!("link set {va} up"));
    b.ip(&format!("addr add 172.16.0.155/24 dev {vb}"));
    b.ip(&format!("link set {vb} up"));

    let in_a = Helper::spawn(
        &["ip", "netns", "exec", &a.name],
        json!({
            "forks": 2,
            "sockets": [
                {"proto": "tcp", "addr": "127.0.0.1"},
                {"proto": "tcp", "addr": "::1", "v6only": true},
                {"proto": "tcp", "addr": "0.0.0.0"},
                {"proto": "tcp", "addr": "::", "v6only": true},
                {"proto": "tcp", "addr": "::", "v6only": false},
                {"proto": "tcp", "addr": "192.168.122.37"},
                {"proto": "tcp", "addr": "2001:db8::37"},
                {"proto": "udp", "addr": "0.0.0.0"},
                {"proto": "udp", "addr": "127.0.0.1", "connect": ["127.0.0.1", 9]},
                {"proto": "udp", "addr": "192.168.122.37", "port": 68, "device": va},
                {"proto": "tcp", "addr": "0.0.0.0", "device": va},
            ]
        }),
    );
    let in_b = Helper::spawn(
        &["ip", "netns", "exec", &b.name],
        json!({
            "comm": hex(b"b\x1b[2J\n<&]]>"),
            "sockets": [
                {"proto": "tcp", "addr": "172.16.0.155"},
                {"proto": "udp", "addr": "::", "v6only": false},
            ]
        }),
    );
    let anon = Helper::spawn(
        &[
            "unshare",
            "-n",
            "sh",
            "-c",
            "ip link set lo up && exec \"$0\" \"$@\"",
        ],
        json!({
            "sockets": [{"proto": "tcp", "addr": "127.0.0.1"}, {"proto": "udp", "addr": "0.0.0.0"}]
        }),
    );
    let mounted = MountedNetns::new("m");
    let mpath = mounted.path.to_str().unwrap().to_owned();
    let into_mounted = Helper::spawn(
        &[],
        json!({
            "sockets": [
                {"proto": "tcp", "addr": "0.0.0.0", "netns": mpath},
                {"proto": "udp", "addr": "::", "v6only": false, "netns": mpath},
            ]
        }),
    );
    // A namespace that will be held only by the helper's descriptor.
    let c = NamedNetns::new(&unique("c"));
    let pinned_inode = c.inode();
    let pinner = Helper::spawn(
        &[],
        json!({
            "hold_netns": [c.path()],
            "sockets": [{"proto": "tcp", "addr": "127.0.0.1", "netns": c.path()}]
        }),
    );
    drop(c); // unmounts it: now only the descriptor (and the socket) keep it alive
    Scenario {
        a,
        b,
        mounted,
        pinned_inode,
        anon,
        in_a,
        in_b,
        into_mounted,
        pinner,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where to run `ss` for a namespace: our own needs no nsenter.
fn ss_for(ns: &Value, own: u64) -> Option<BTreeSet<SsRow>> {
    if ns["inode"].as_u64() == Some(own) {
        return ss(None);
    }
    let aliases = ns["aliases"].as_array().cloned().unwrap_or_default();
    let names = ns["names"]
        .as_array()
        .unwrap()
        .iter()
        .chain(aliases.iter())
        .filter_map(|n| n.as_str())
        .filter(|n| n.starts_with('/'));
    let pids = ns["pids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("/proc/{p}/ns/net"));
    names
        .map(str::to_owned)
        .chain(pids)
        .find_map(|p| ss(Some(&p)))
}

/// Every namespace in the inventory equals `ss` inside it. Host activity
/// unrelated to the test can race a comparison, so it is retried twice.
fn compare_all_with_ss() -> Value {
    let own = inode_of("/proc/self/ns/net");
    let mut last_diff = String::new();
    for _ in 0..3 {
        let inv = inventory(&[], &[0, 3]);
        last_diff.clear();
        for ns in inv["namespaces"].as_array().unwrap() {
            let inode = ns["inode"].as_u64().unwrap();
            let ours = rows_of(&inv, inode);
            let theirs = ss_for(ns, own).unwrap_or_else(|| panic!("no way to run ss in {ns:#}"));
            if ours != theirs {
                last_diff += &format!(
                    "\nnetns {inode} {}:\n  only portcullis: {:?}\n  only ss: {:?}",
                    ns["names"],
                    ours.difference(&theirs).collect::<Vec<_>>(),
                    theirs.difference(&ours).collect::<Vec<_>>()
                );
            }
        }
        if last_diff.is_empty() {
            return inv;
        }
    }
    panic!("portcullis and ss disagree:{last_diff}");
}

fn listener<'v>(inv: &'v Value, netns: u64, protocol: &str, port: u64) -> &'v Value {
    listeners_in(inv, netns)
        .find(|l| l["protocol"] == protocol && l["port"].as_u64() == Some(port))
        .unwrap_or_else(|| panic!("no {protocol} :{port} in netns {netns}"))
}

#[test]
fn every_namespace_matches_ss_and_every_holder_matches_proc() {
    require_root();
    let s = build();
    let inv = compare_all_with_ss();

    // Discovery: every kind of namespace is there, found the right ways.
    let a = namespace(&inv, s.a.inode());
    assert!(
        a["names"].as_array().unwrap().contains(&json!(s.a.name)),
        "{a:#}"
    );
    assert_eq!(a["sources"], json!(["process", "mount"]));
    let anon_ns = inode_of(&format!("/proc/{}/ns/net", s.anon.pid()));
    let anon = namespace(&inv, anon_ns);
    assert_eq!(anon["names"], json!([]));
    assert!(
        anon["pids"]
            .as_array()
            .unwrap()
            .contains(&json!(s.anon.pid()))
    );
    let mounted = namespace(&inv, s.mounted.inode());
    assert_eq!(
        mounted["sources"],
        json!(["mount"]),
        "pinned only by the bind mount"
    );
    assert_eq!(mounted["pids"], json!([]));
    assert!(
        mounted["names"]
            .as_array()
            .unwrap()
            .contains(&json!(s.mounted.path.to_str().unwrap()))
    );
    let pinned = namespace(&inv, s.pinned_inode);
    assert_eq!(
        pinned["sources"],
        json!(["descriptor"]),
        "pinned only by a descriptor"
    );
    let held_fd = &s.pinner.report["held"][0];
    assert_eq!(pinned["names"], json!([]), "a descriptor names nothing");
    assert_eq!(
        pinned["aliases"],
        json!([format!("/proc/{}/fd/{held_fd}", s.pinner.pid())])
    );
    assert_eq!(rows_of(&inv, s.pinned_inode).len(), 1);
    assert_eq!(rows_of(&inv, s.mounted.inode()).len(), 2);
    assert!(
        inv["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["is_host"] == true)
    );

    // Binds: v6only, dual stack, device scoping, the interfaces carrying an address.
    let na = s.a.inode();
    let v6only = listener(&inv, na, "tcp", s.in_a.port(3));
    assert_eq!(
        (
            v6only["address"].as_str(),
            v6only["v6only"].as_bool(),
            v6only["scope"].as_str()
        ),
        (Some("::"), Some(true), Some("wildcard"))
    );
    let dual = listener(&inv, na, "tcp", s.in_a.port(4));
    assert_eq!(
        (
            dual["address"].as_str(),
            dual["v6only"].as_bool(),
            dual["scope"].as_str()
        ),
        (Some("*"), Some(false), Some("dual-stack"))
    );
    assert_eq!(
        listener(&inv, na, "tcp", s.in_a.port(1))["scope"],
        "loopback"
    );
    assert_eq!(
        listener(&inv, na, "tcp", s.in_a.port(2))["v6only"],
        Value::Null
    );
    let specific = listener(&inv, na, "tcp", s.in_a.port(5));
    assert_eq!(
        (
            specific["scope"].as_str(),
            specific["bound_device"].as_str()
        ),
        (Some("private"), None)
    );
    let va = unique("va");
    assert_eq!(specific["address_interfaces"], json!([va]));
    assert_eq!(listener(&inv, na, "tcp", s.in_a.port(6))["scope"], "public");
    let dhcp = listener(&inv, na, "udp", 68);
    assert_eq!(dhcp["bound_device"].as_str(), Some(va.as_str()));
    let connected_port = s.in_a.port(8);
    assert!(
        listeners_in(&inv, na).all(|l| l["port"].as_u64() != Some(connected_port)),
        "connected UDP is not a listener"
    );

    // Holders: forked sharers all named, and equal to an independent /proc walk.
    let shared = listener(&inv, na, "tcp", s.in_a.port(0));
    let pids: BTreeSet<i64> = shared["holders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_i64().unwrap())
        .collect();
    assert_eq!(pids, s.in_a.pids(), "all three forked holders");
    assert_eq!(s.in_a.pids().len(), 3);
    let walk = independent_holders();
    for l in inv["listeners"].as_array().unwrap() {
        let ours: BTreeSet<i64> = l["holders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["pid"].as_i64().unwrap())
            .collect();
        let theirs = walk
            .get(&l["inode"].as_u64().unwrap())
            .cloned()
            .unwrap_or_default();
        assert_eq!(ours, theirs, "holders of {l:#}");
        assert_eq!(
            l["owner_unknown_reason"].is_string(),
            ours.is_empty(),
            "a reason exactly when no holder is known: {l:#}"
        );
    }
    let from_outside = listener(&inv, s.mounted.inode(), "tcp", s.into_mounted.port(0));
    assert_eq!(
        from_outside["holders"][0]["pid"].as_i64(),
        Some(s.into_mounted.pid()),
        "held from another namespace"
    );

    // A hostile process name is kept exactly and shown escaped.
    let weird = listener(&inv, s.b.inode(), "tcp", s.in_b.port(0));
    assert_eq!(weird["holders"][0]["comm"], "b\\x1b[2J\\x0a<&]]>");
    assert_eq!(
        std::fs::read(format!("/proc/{}/comm", s.in_b.pid())).unwrap(),
        b"b\x1b[2J\n<&]]>\n"
    );
}
