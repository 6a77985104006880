//! Root-only: the built-in rules against real sockets in real namespaces.
//! The seed's worked example (Ubuntu's "unnecessarily open ports" guide) is
//! rebuilt with its addresses on veth interfaces, judged under the default
//! policy; then a baseline is recorded and drifts.

// A test sets up the host it checks: files, processes, namespaces.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use serde_json::{Value, json};
use support::*;

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// One helper process named `comm` in namespace `ns`, holding `sockets`.
fn serve(ns: &NamedNetns, comm: &str, sockets: Value) -> Helper {
    Helper::spawn(
        &["ip", "netns", "exec", &ns.name],
        json!({"comm": hex(comm), "forks": 1, "sockets": sockets}),
    )
}

fn scan(args: &[&str]) -> (i32, Value) {
    let mut full = vec![
        "scan",
        "--format",
        "json",
        "--policy",
        concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/empty-policy.toml"),
    ];
    full.extend(args);
    let out = portcullis(&full);
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), report)
}

/// The outcome of `rule` for the listener on `proto` `port` in namespace `inode`.
fn outcome(report: &Value, rule: &str, inode: u64, proto: &str, port: u16) -> Option<String> {
    let listeners = report["inventory"]["listeners"].as_array().unwrap();
    let index = listeners.iter().position(|l| {
        l["netns"]["inode"] == inode && l["protocol"] == proto && l["port"] == port
    })?;
    report["evaluation"]["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["rule"] == rule && v["listener"] == index)
        .map(|v| v["outcome"].as_str().unwrap().to_owned())
}

#[test]
fn the_seeds_worked_example_under_the_default_policy() {
    require_root();
    let a = NamedNetns::new(&unique("seed"));
    let peer1 = unique("p1");
    let peer2 = unique("p2");
    a.ip(&format!("link add enp1s0 type veth peer name {peer1}"));
    a.ip(&format!("link add enp2s0 type veth peer name {peer2}"));
    for link in ["enp1s0", "enp2s0", &peer1, &peer2] {
        a.ip(&format!("link set {link} up"));
    }
    a.ip("addr add 192.168.122.37/24 dev enp1s0");
    a.ip("addr add 172.16.0.155/16 dev enp2s0");
    let _dhcp = serve(
        &a,
        "systemd-network",
        json!([
            {"proto": "udp", "addr": "192.168.122.37", "port": 68, "device": "enp1s0"},
            {"proto": "udp", "addr": "172.16.0.155", "port": 68, "device": "enp2s0"},
        ]),
    );
    let _resolved = serve(
        &a,
        "systemd-resolve",
        json!([
            {"proto": "udp", "addr": "127.0.0.53", "port": 53, "device": "lo"},
            {"proto": "tcp", "addr": "127.0.0.53", "port": 53, "device": "lo"},
            {"proto": "udp", "addr": "127.0.0.54", "port": 53},
            {"proto": "tcp", "addr": "127.0.0.54", "port": 53},
        ]),
    );
    let _sshd = serve(
        &a,
        "sshd",
        json!([{"proto": "tcp", "addr": "192.168.122.37", "port": 22}]),
    );
    let _apache = serve(
        &a,
        "apache2",
        json!([{"proto": "tcp", "addr": "::", "port": 80, "v6only": false}]),
    );
    let _postgres = serve(
        &a,
        "postgres",
        json!([{"proto": "tcp", "addr": "127.0.0.1", "port": 5432}]),
    );

    // The variations, in a namespace of their own.
    let b = NamedNetns::new(&unique("bad"));
    let _moved = serve(
        &b,
        "postgres",
        json!([{"proto": "tcp", "addr": "0.0.0.0", "port": 5432}]),
    );
    let _snmp = serve(
        &b,
        "snmpd",
        json!([{"proto": "udp", "addr": "0.0.0.0", "port": 161}]),
    );
    let _docker = serve(
        &b,
        "dockerd",
        json!([{"proto": "tcp", "addr": "0.0.0.0", "port": 2375}]),
    );

    let (code, report) = scan(&["--netns", &a.name]);
    let na = a.inode();
    let table = ss(Some(&a.path())).unwrap();
    assert!(
        table.contains(&("udp".into(), "192.168.122.37%enp1s0:68".into())),
        "{table:?}"
    );
    assert!(table.contains(&("tcp".into(), "*:80".into())), "{table:?}");
    assert_eq!(code, 1, "the wildcard :80 fails the default policy");
    let fail = Some("fail".to_owned());
    let pass = Some("pass".to_owned());
    assert_eq!(
        outcome(&report, "wildcard-bind", na, "tcp", 80),
        fail,
        "apache's *:80"
    );
    for (proto, port) in [
        ("tcp", 22),
        ("udp", 68),
        ("tcp", 53),
        ("udp", 53),
        ("tcp", 5432),
    ] {
        assert_eq!(
            outcome(&report, "wildcard-bind", na, proto, port),
            pass,
            "{proto} {port}"
        );
    }
    assert_eq!(
        outcome(&report, "local-only-exposed", na, "tcp", 5432),
        pass,
        "postgres on loopback"
    );
    let failures: Vec<&Value> = report["evaluation"]["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        // The namespace has no firewall: unfiltered-exposure warns about
        // what anyone on its links can reach, which does not fail the gate.
        .filter(|v| v["outcome"] == "fail" && v["level"] == "error")
        .collect();
    assert_eq!(
        failures.len(),
        1,
        "only the wildcard :80 fails: {failures:#?}"
    );
    let message = failures[0]["message"].as_str().unwrap();
    assert!(
        message.contains("apache2") && message.contains("127.0.0.1"),
        "names the holder and the fix: {message}"
    );

    let (code, report) = scan(&["--netns", &b.name]);
    let nb = b.inode();
    assert_eq!(code, 1);
    assert_eq!(
        outcome(&report, "local-only-exposed", nb, "tcp", 5432),
        fail,
        "the database moved to 0.0.0.0"
    );
    assert_eq!(
        outcome(&report, "risky-service", nb, "udp", 161),
        fail,
        "SNMP on 0.0.0.0:161/udp"
    );
    assert_eq!(
        outcome(&report, "risky-service", nb, "tcp", 2375),
        fail,
        "the Docker API on 2375"
    );
}

/// The messages of the baseline rule's failures.
fn drift(report: &Value) -> Vec<String> {
    report["evaluation"]["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["rule"] == "baseline-drift" && v["outcome"] == "fail")
        .map(|v| v["message"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn baseline_round_trip() {
    require_root();
    let ns = NamedNetns::new(&unique("base"));
    let _a = serve(
        &ns,
        "svc-a",
        json!([{"proto": "tcp", "addr": "0.0.0.0", "port": 7001}]),
    );
    let b = serve(
        &ns,
        "svc-b",
        json!([{"proto": "tcp", "addr": "127.0.0.1", "port": 7002}]),
    );
    let file = std::env::temp_dir().join(format!("{}.baseline.json", unique("b")));
    let out = portcullis(&[
        "baseline",
        "--netns",
        &ns.name,
        "--output",
        file.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recorded: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(recorded["listeners"].as_array().unwrap().len(), 2);
    assert!(
        !recorded.to_string().contains("\"pid\""),
        "no pids in a baseline"
    );

    let baseline = ["--netns", &ns.name, "--baseline", file.to_str().unwrap()];
    let (_, report) = scan(&baseline);
    assert_eq!(drift(&report), Vec::<String>::new(), "unchanged: clean");

    let _c = serve(
        &ns,
        "svc-c",
        json!([{"proto": "tcp", "addr": "0.0.0.0", "port": 7003}]),
    );
    let (code, report) = scan(&baseline);
    let d = drift(&report);
    assert_eq!(code, 1);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0].starts_with("new listener, not in the baseline: tcp wildcard:7003"),
        "{d:?}"
    );
    assert!(d[0].ends_with(&format!("in netns:{}", ns.name)), "{d:?}");

    drop(b);
    let (_, report) = scan(&baseline);
    let d = drift(&report);
    assert!(
        d.iter()
            .any(|m| m.starts_with("listener in the baseline is gone: tcp 127.0.0.1:7002")),
        "{d:?}"
    );
    // The vanished listener keeps its stable identity as the verdict's
    // subject, and the SARIF result is located and fingerprinted by it.
    let gone = report["evaluation"]["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["rule"] == "baseline-drift" && v["listener"].is_null())
        .unwrap();
    let subject = gone["subject"].as_str().expect("a subject");
    assert!(subject.starts_with("tcp 127.0.0.1:7002"), "{gone:#}");
    let sarif_path = std::env::temp_dir().join(format!("{}.sarif", unique("drift")));
    let mut args = baseline.to_vec();
    args.extend(["--sarif", sarif_path.to_str().unwrap()]);
    let _ = scan(&args);
    let sarif: Value = serde_json::from_slice(&std::fs::read(&sarif_path).unwrap()).unwrap();
    let result = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["properties"]["subject"] == subject)
        .unwrap_or_else(|| panic!("no SARIF result with subject {subject}"));
    assert_eq!(
        result["locations"][0]["logicalLocations"][0]["name"],
        subject
    );
    let _ = std::fs::remove_file(sarif_path);
    let _ = std::fs::remove_file(file);
}

/// `scan --netns A --baseline` with a baseline of A and B: B's listeners
/// were not looked for, so they are not gone; A is compared in full.
#[test]
fn a_selected_scan_compares_only_what_it_scanned_with_the_baseline() {
    require_root();
    let (a, b) = (
        NamedNetns::new(&unique("sela")),
        NamedNetns::new(&unique("selb")),
    );
    let _a1 = serve(
        &a,
        "a-one",
        json!([{"proto": "tcp", "addr": "127.0.0.1", "port": 7101}]),
    );
    let a2 = serve(
        &a,
        "a-two",
        json!([{"proto": "tcp", "addr": "127.0.0.1", "port": 7102}]),
    );
    let _b1 = serve(
        &b,
        "b-one",
        json!([{"proto": "tcp", "addr": "127.0.0.1", "port": 7201}]),
    );
    let file = std::env::temp_dir().join(format!("{}.baseline.json", unique("sel")));
    let file_arg = file.to_str().unwrap();
    let out = portcullis(&[
        "baseline", "--netns", &a.name, "--netns", &b.name, "--output", file_arg,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, report) = scan(&["--netns", &a.name, "--baseline", file_arg]);
    assert_eq!(drift(&report), Vec::<String>::new(), "B was not scanned");
    assert_eq!(code, 0);
    drop(a2);
    let (code, report) = scan(&["--netns", &a.name, "--baseline", file_arg]);
    let d = drift(&report);
    assert_eq!(code, 1);
    assert_eq!(d.len(), 1, "only A's vanished listener: {d:?}");
    assert!(
        d[0].starts_with("listener in the baseline is gone: tcp 127.0.0.1:7102"),
        "{d:?}"
    );
    let _ = std::fs::remove_file(file);
}
