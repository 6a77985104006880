use portcullis_sdk::{Family, Holder, HostFacts, Outcome, Process, Protocol, Scope};

use super::*;

fn listener(id: u32, address: &str, scope: Scope, netns: u64, holders: &[&str]) -> Listener {
    Listener {
        id,
        netns,
        protocol: Protocol::Tcp,
        family: if address.contains(':') || address == "*" { Family::Ipv6 } else { Family::Ipv4 },
        address: address.into(),
        port: 8080 + id as u16,
        bound_device: None,
        v6only: None,
        scope,
        address_interfaces: vec![],
        uid: 0,
        // Process i of the fixture's process list has name NAMES[i].
        holders: holders.iter().map(|c| Holder { process: NAMES.iter().position(|n| n == c).unwrap() as u32, fd: 3 }).collect(),
        owner_unknown: holders.is_empty(),
    }
}

fn netns(inode: u64, host: bool, external: &[&str]) -> Netns {
    Netns { inode, names: vec![], is_host: host, units: vec![], containers: vec![], external_interfaces: external.iter().map(|s| (*s).into()).collect() }
}

const NAMES: [&str; 5] = ["nginx", "apache2", "postgres", "app", "web"];

fn inventory(listeners: Vec<Listener>) -> Inventory {
    Inventory {
        host: HostFacts { hostname: "h".into(), os_id: None, os_version_id: None, kernel: "6".into(), arch: "x86_64".into() },
        namespaces: vec![netns(1, true, &["eth0"]), netns(2, false, &[])],
        processes: NAMES
            .iter()
            .enumerate()
            .map(|(i, n)| Process { pid: 10 + i as i32, comm: (*n).into(), exe: None, cmdline: vec![], uid: Some(0), unit: None, container: None })
            .collect(),
        listeners,
    }
}

fn outcome(eval: &Evaluation, rule: &str, id: u32) -> Outcome {
    eval.verdicts.iter().find(|v| v.rule_id == rule && v.listener == Some(id)).unwrap().outcome
}

#[test]
fn wildcard_binds_fail_on_the_host_and_pass_where_only_loopback_exists() {
    let inv = inventory(vec![
        listener(0, "0.0.0.0", Scope::Wildcard, 1, &["nginx"]),
        listener(1, "*", Scope::DualStack, 1, &["apache2"]),
        listener(2, "127.0.0.1", Scope::Loopback, 1, &["postgres"]),
        listener(3, "0.0.0.0", Scope::Wildcard, 2, &["app"]),
    ]);
    let eval = evaluate(&Config::default(), &inv);
    assert_eq!(outcome(&eval, WILDCARD_BIND, 0), Outcome::Fail);
    assert_eq!(outcome(&eval, WILDCARD_BIND, 1), Outcome::Fail);
    assert_eq!(outcome(&eval, WILDCARD_BIND, 2), Outcome::Pass);
    assert_eq!(outcome(&eval, WILDCARD_BIND, 3), Outcome::Pass);
    let msg = &eval.verdicts.iter().find(|v| v.listener == Some(0)).unwrap().message;
    assert!(msg.contains("nginx") && msg.contains("127.0.0.1"), "{msg}");
}

#[test]
fn configured_wildcard_ports_pass() {
    let config: Config = config::parse(r#"{"wildcard_ports": [8080]}"#).unwrap();
    let eval = evaluate(&config, &inventory(vec![listener(0, "0.0.0.0", Scope::Wildcard, 1, &["web"])]));
    assert_eq!(outcome(&eval, WILDCARD_BIND, 0), Outcome::Pass);
}

#[test]
fn unknown_owner_is_a_failure_never_a_silent_pass() {
    let eval = evaluate(&Config::default(), &inventory(vec![listener(0, "::1", Scope::Loopback, 1, &[])]));
    assert_eq!(outcome(&eval, UNKNOWN_OWNER, 0), Outcome::Fail);
}

#[test]
fn config_typos_are_named() {
    let err = Exposure::validate_config(r#"{"wildcard_port": 1}"#.into()).unwrap_err();
    assert!(matches!(&err, PluginError::InvalidConfig(m) if m.contains("wildcard_port")), "{err:?}");
}

#[test]
fn describes_its_rules() {
    let info = Exposure::describe();
    let ids: Vec<&str> = info.rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, [WILDCARD_BIND, UNKNOWN_OWNER]);
}
