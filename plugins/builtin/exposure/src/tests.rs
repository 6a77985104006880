use portcullis_sdk::Outcome;
use portcullis_sdk::testing::Host;

use super::*;

fn outcome(eval: &Evaluation, rule: &str, id: u32) -> Outcome {
    portcullis_sdk::verdicts::all(eval)
        .into_iter()
        .find(|v| v.rule_id == rule && v.listener == Some(id))
        .unwrap()
        .outcome
}

fn message(eval: &Evaluation, rule: &str, id: u32) -> String {
    portcullis_sdk::verdicts::all(eval)
        .into_iter()
        .find(|v| v.rule_id == rule && v.listener == Some(id))
        .unwrap()
        .message
        .clone()
}

#[test]
fn wildcard_binds_fail_in_every_namespace() {
    let inv = Host::new()
        .listen("tcp", "0.0.0.0", 80, "nginx")
        .listen("tcp", "*", 8080, "apache2")
        .listen("tcp", "127.0.0.1", 5432, "postgres")
        .listen("tcp", "192.168.122.37", 22, "sshd")
        .in_netns(4026532001, "web", Some("docker://abc"))
        .listen("tcp", "0.0.0.0", 3000, "app")
        .build();
    let eval = evaluate(&Config::default(), &inv);
    let got: Vec<Outcome> = (0..5).map(|i| outcome(&eval, WILDCARD_BIND, i)).collect();
    assert_eq!(
        got,
        [
            Outcome::Fail,
            Outcome::Fail,
            Outcome::Pass,
            Outcome::Pass,
            Outcome::Fail
        ]
    );
    let msg = message(&eval, WILDCARD_BIND, 0);
    assert!(
        msg.contains("nginx") && msg.contains("127.0.0.1"),
        "names the holder and the fix: {msg}"
    );
    // Known only by its id: the short id.
    assert!(message(&eval, WILDCARD_BIND, 4).contains("in container abc "));
}

/// A container is named by what its runtime calls it, in its own namespace
/// or in the host's (`--network host`), and a pod's sandbox is not taken
/// for the pod's application.
#[test]
fn findings_name_the_container_whatever_its_namespace() {
    let id = format!("docker://{}", "a".repeat(64));
    let inv = Host::new()
        .container(&id, "web", "nginx:1.25")
        .listen_with("tcp", "0.0.0.0", 8081, "app", |(_, p)| {
            p.as_mut().unwrap().container = Some(id.clone())
        })
        .in_netns(4026532001, "/run/netns/x", Some(&id))
        .listen("tcp", "0.0.0.0", 3000, "app")
        .build();
    let eval = evaluate(&Config::default(), &inv);
    assert!(message(&eval, WILDCARD_BIND, 0).contains("0.0.0.0:8081 in container web "));
    assert!(message(&eval, WILDCARD_BIND, 1).contains("0.0.0.0:3000 in container web "));
}

#[test]
fn configured_wildcard_ports_pass() {
    let config: Config = config::parse(r#"{"wildcard_ports": [80]}"#).unwrap();
    let eval = evaluate(
        &config,
        &Host::new().listen("tcp", "0.0.0.0", 80, "web").build(),
    );
    assert_eq!(outcome(&eval, WILDCARD_BIND, 0), Outcome::Pass);
}

#[test]
fn public_binds_fail_private_ones_pass() {
    let inv = Host::new()
        .listen("tcp", "198.51.100.7", 443, "nginx")
        .listen("tcp", "10.0.0.5", 443, "nginx")
        .build();
    let eval = evaluate(&Config::default(), &inv);
    assert_eq!(outcome(&eval, PUBLIC_BIND, 0), Outcome::Fail);
    assert_eq!(outcome(&eval, PUBLIC_BIND, 1), Outcome::Pass);
    assert!(message(&eval, PUBLIC_BIND, 0).contains("198.51.100.7:443"));
}

#[test]
fn unknown_owner_is_a_failure_never_a_silent_pass() {
    let eval = evaluate(
        &Config::default(),
        &Host::new().listen("tcp", "::1", 631, "").build(),
    );
    assert_eq!(outcome(&eval, UNKNOWN_OWNER, 0), Outcome::Fail);
}

#[test]
fn config_typos_are_named() {
    let err = Exposure::validate_config(r#"{"wildcard_port": 1}"#.into()).unwrap_err();
    assert!(
        matches!(&err, PluginError::InvalidConfig(m) if m.contains("wildcard_port")),
        "{err:?}"
    );
}

#[test]
fn describes_its_rules() {
    let ids: Vec<String> = Exposure::describe()
        .rules
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(
        ids,
        [
            WILDCARD_BIND,
            PUBLIC_BIND,
            UNKNOWN_OWNER,
            UNFILTERED_EXPOSURE,
            FIREWALL_BYPASS_BY_DNAT,
            PUBLISHED_WITHOUT_LISTENER,
            LOOPBACK_REACHABLE
        ]
    );
}

#[test]
fn a_dhcp_clients_own_port_passes_and_only_that() {
    let inv = Host::new()
        .listen("udp", "0.0.0.0", 68, "dhclient")
        .listen("udp", "::", 546, "dhclient")
        .listen("udp", "0.0.0.0", 68, "systemd-network")
        // Not DHCP: another port, another protocol, another program.
        .listen("udp", "0.0.0.0", 5000, "dhclient")
        .listen("tcp", "0.0.0.0", 68, "dhclient")
        .listen("udp", "0.0.0.0", 68, "nc")
        .build();
    let eval = evaluate(&Config::default(), &inv);
    let got: Vec<Outcome> = (0..6).map(|i| outcome(&eval, WILDCARD_BIND, i)).collect();
    use Outcome::{Fail, Pass};
    assert_eq!(got, [Pass, Pass, Pass, Fail, Fail, Fail]);
}

#[test]
fn the_fix_is_the_holders_own_setting() {
    let inv = Host::new()
        .listen_with("tcp", "*", 22, "systemd", |(_, p)| {
            let p = p.as_mut().unwrap();
            p.pid = 1;
            p.unit = Some("ssh.socket".into());
        })
        .activates("ssh.service")
        .listen("tcp", "0.0.0.0", 22, "sshd")
        .listen("udp", "0.0.0.0", 5355, "systemd-resolve")
        .listen("tcp", "0.0.0.0", 9000, "someapp")
        .build();
    let eval = evaluate(&Config::default(), &inv);
    let socket = message(&eval, WILDCARD_BIND, 0);
    assert!(
        socket.contains("(ssh.socket)")
            && socket.contains("ssh.socket (which starts ssh.service)")
            && socket.contains("disable --now ssh.socket ssh.service")
            && socket.contains("systemctl edit ssh.socket")
            && socket.contains("ListenStream=127.0.0.1:22"),
        "{socket}"
    );
    assert!(message(&eval, WILDCARD_BIND, 1).contains("ListenAddress"));
    assert!(message(&eval, WILDCARD_BIND, 2).contains("LLMNR=no"));
    assert!(
        message(&eval, WILDCARD_BIND, 3).contains("bind it to 127.0.0.1 (or ::1)"),
        "the generic fix for a program it does not know"
    );
}

#[test]
fn unfiltered_exposure_fails_only_where_the_firewall_lets_anyone_in() {
    use portcullis_sdk::{ReachState, Reachability};
    let reach = |state, by: Option<&str>| Reachability {
        state,
        interfaces: vec!["eth0".into()],
        sources: vec![],
        decided_by: by.map(Into::into),
        reason: None,
    };
    let inv = Host::new()
        .listen("tcp", "0.0.0.0", 5432, "postgres")
        .reach(reach(ReachState::Open, None))
        .listen("tcp", "0.0.0.0", 22, "sshd")
        .reach(reach(
            ReachState::Filtered,
            Some("the drop policy of inet filter input"),
        ))
        .listen("tcp", "0.0.0.0", 6379, "redis")
        .reach(reach(
            ReachState::Restricted,
            Some("inet filter input handle 7"),
        ))
        .listen("tcp", "127.0.0.1", 631, "cupsd")
        .reach(reach(ReachState::Open, None))
        .listen("tcp", "0.0.0.0", 80, "nginx")
        .reach(reach(
            ReachState::Open,
            Some("inet filter input handle 4 (\"web\")"),
        ))
        .listen("tcp", "0.0.0.0", 9100, "node_exporter")
        .listen("udp", "0.0.0.0", 68, "dhclient")
        .reach(reach(ReachState::Open, None))
        .build();
    let eval = evaluate(&Config::default(), &inv);
    let got: Vec<Outcome> = (0..7)
        .map(|i| outcome(&eval, UNFILTERED_EXPOSURE, i))
        .collect();
    assert_eq!(
        got,
        [
            Outcome::Fail,
            Outcome::Pass,
            Outcome::Pass,
            Outcome::Pass,
            Outcome::Fail,
            Outcome::Skip,
            Outcome::Pass
        ]
    );
    assert_eq!(
        message(&eval, UNFILTERED_EXPOSURE, 0),
        "tcp 0.0.0.0:5432 (postgres) can be reached by anyone on eth0, with no firewall rule on the way; bind it to loopback or a private address, or filter it in the firewall, unless the outside must reach it"
    );
    assert!(
        message(&eval, UNFILTERED_EXPOSURE, 4)
            .contains("let in by inet filter input handle 4 (\"web\")")
    );
    assert_eq!(
        message(&eval, UNFILTERED_EXPOSURE, 5),
        "reachability not evaluated"
    );
}

#[test]
fn published_ports_are_judged_where_they_lead() {
    use portcullis_sdk::{Protocol, PublishedPath, PublishedPort, ReachState, Reachability};
    let reach = |state| Reachability {
        state,
        interfaces: vec!["eth0".into()],
        sources: vec![],
        decided_by: Some("ip filter DOCKER handle 9".into()),
        reason: None,
    };
    let port = |port, to_port, to_listener, path, input, state| PublishedPort {
        netns: 1,
        protocol: Protocol::Tcp,
        port,
        addresses: vec!["10.0.0.5".into()],
        interfaces: vec!["eth0".into()],
        translated_by: "ip nat DOCKER handle 12".into(),
        to_address: "172.17.0.2".into(),
        to_port,
        to_netns: Some(2),
        to_listener,
        path,
        reach: reach(state),
        input,
    };
    let inv = Host::new()
        .listen("tcp", "127.0.0.1", 5432, "postgres")
        .listen("tcp", "127.0.0.1", 6379, "redis")
        .reach(reach(ReachState::Restricted))
        .listen("tcp", "127.0.0.1", 9000, "php-fpm")
        .in_netns(2, "web", Some("docker://5a77"))
        .listen("tcp", "0.0.0.0", 80, "nginx")
        .publish(port(
            8080,
            80,
            Some(3),
            PublishedPath::Forward,
            ReachState::Filtered,
            ReachState::Open,
        ))
        // The same port restricted in DOCKER-USER: deliberate, no bypass.
        .publish(port(
            8443,
            443,
            None,
            PublishedPath::Forward,
            ReachState::Filtered,
            ReachState::Restricted,
        ))
        .publish(port(
            9001,
            9000,
            Some(2),
            PublishedPath::Local,
            ReachState::Open,
            ReachState::Open,
        ))
        .build();
    let eval = evaluate(&Config::default(), &inv);
    assert_eq!(outcome(&eval, FIREWALL_BYPASS_BY_DNAT, 3), Outcome::Fail);
    assert_eq!(
        message(&eval, FIREWALL_BYPASS_BY_DNAT, 3),
        "tcp port 8080 on eth0 is closed by the input filters but forwarded to 172.17.0.2:80 (nginx in container 5a77) by ip nat DOCKER handle 12, and ip filter DOCKER handle 9 lets anyone through: the host's firewall does not protect it. Restrict it where forwarded traffic is filtered (Docker: the DOCKER-USER chain), or publish it on 127.0.0.1 only"
    );
    let all = portcullis_sdk::verdicts::all(&eval);
    let bypasses = all
        .iter()
        .filter(|v| v.rule_id == FIREWALL_BYPASS_BY_DNAT)
        .count();
    assert_eq!(bypasses, 1, "restricted and local ports are no bypass");
    let stale: Vec<_> = all
        .iter()
        .filter(|v| v.rule_id == PUBLISHED_WITHOUT_LISTENER)
        .collect();
    assert_eq!(stale.len(), 1);
    assert_eq!(stale[0].listener, None);
    assert_eq!(
        stale[0].subject.as_deref(),
        Some("published tcp 8443 -> 172.17.0.2:443")
    );
    assert_eq!(outcome(&eval, LOOPBACK_REACHABLE, 0), Outcome::Pass);
    assert_eq!(
        outcome(&eval, LOOPBACK_REACHABLE, 1),
        Outcome::Fail,
        "route_localnet"
    );
    assert!(
        message(&eval, LOOPBACK_REACHABLE, 1)
            .contains("route_localnet lets some sources reach it on eth0")
    );
    assert_eq!(
        outcome(&eval, LOOPBACK_REACHABLE, 2),
        Outcome::Fail,
        "a DNAT to loopback"
    );
    let loopback = all
        .iter()
        .filter(|v| v.rule_id == LOOPBACK_REACHABLE)
        .count();
    assert_eq!(loopback, 3, "judged on loopback listeners only");
}

#[test]
fn findings_say_what_the_firewall_does() {
    use portcullis_sdk::{ReachState, Reachability};
    let reach = |state, sources: &[&str], by: &str| Reachability {
        state,
        interfaces: vec!["eth0".into()],
        sources: sources.iter().map(|s| s.to_string()).collect(),
        decided_by: Some(by.into()),
        reason: None,
    };
    let inv = Host::new()
        .listen("tcp", "0.0.0.0", 5432, "postgres")
        .reach(reach(
            ReachState::Open,
            &[],
            "the accept policy of inet filter input",
        ))
        .listen("tcp", "0.0.0.0", 6379, "redis")
        .reach(reach(
            ReachState::Filtered,
            &[],
            "inet filter input handle 7",
        ))
        .listen("tcp", "0.0.0.0", 8080, "java")
        .reach(reach(
            ReachState::Restricted,
            &["10.0.0.0/8"],
            "inet filter input handle 9",
        ))
        .listen("tcp", "0.0.0.0", 9090, "prometheus")
        .build();
    let eval = evaluate(&Config::default(), &inv);
    let m = |id| message(&eval, WILDCARD_BIND, id);
    assert!(
        m(0).starts_with("tcp 0.0.0.0:5432 listens on every address (postgres), and the firewall lets anyone reach it on eth0 (let in by the accept policy of inet filter input); "),
        "{}",
        m(0)
    );
    assert!(
        m(1).starts_with("tcp 0.0.0.0:6379 listens on every address (redis), though new connections from outside are filtered by inet filter input handle 7; "),
        "{}",
        m(1)
    );
    assert!(
        m(2).contains("(java), and the firewall lets only 10.0.0.0/8 reach it (by inet filter input handle 9); "),
        "{}",
        m(2)
    );
    assert!(
        m(3).starts_with("tcp 0.0.0.0:9090 listens on every address (prometheus); "),
        "not evaluated: nothing said"
    );
}

/// With no listener's reachability known (an inventory written without
/// it), the rule says once that it does not apply, rather than skipping
/// every listener.
#[test]
fn no_reachability_at_all_is_not_applicable_once() {
    let inv = Host::new()
        .listen("tcp", "0.0.0.0", 80, "nginx")
        .listen("tcp", "10.0.0.5", 81, "app")
        .build();
    let eval = evaluate(&Config::default(), &inv);
    assert!(
        !eval
            .verdicts
            .iter()
            .any(|v| v.rule_id == UNFILTERED_EXPOSURE)
            && !eval.passed.iter().any(|p| p.rule_id == UNFILTERED_EXPOSURE)
    );
    let na: Vec<(&str, &str)> = eval
        .not_applicable
        .iter()
        .map(|n| (n.rule_id.as_str(), n.reason.as_str()))
        .collect();
    assert_eq!(na, [(UNFILTERED_EXPOSURE, unfiltered::NOT_EVALUATED)]);
}

#[test]
fn a_holder_with_an_empty_name_is_an_unknown_process() {
    // Any process may set its comm to "" (prctl PR_SET_NAME).
    let inv = Host::new()
        .listen_with("tcp", "0.0.0.0", 7000, "x", |(_, p)| {
            if let Some(p) = p {
                p.comm = String::new();
            }
        })
        .listen("tcp", "0.0.0.0", 7001, "")
        .build();
    let eval = evaluate(&Config::default(), &inv);
    for id in [0, 1] {
        let msg = message(&eval, WILDCARD_BIND, id);
        assert!(
            msg.contains(" listens on every address (an unknown process); "),
            "{msg}"
        );
    }
}
