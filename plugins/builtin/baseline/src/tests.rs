use portcullis_sdk::testing::Host;

use portcullis_sdk::verdicts::failure_messages;

use super::*;

fn image() -> Host {
    Host::new()
        .listen("tcp", "0.0.0.0", 22, "sshd")
        .listen_with("udp", "192.168.1.9", 68, "systemd-network", |(l, _)| {
            l.bound_device = Some("eth0".into())
        })
        .listen("udp", "0.0.0.0", 41873, "avahi-daemon")
        .listen("udp", "127.0.0.53", 53, "systemd-resolve")
}

fn record(inv: &Inventory) -> Baseline {
    Baseline {
        schema_version: 1,
        source: None,
        listeners: inv.listeners.iter().map(|l| identity_of(inv, l)).collect(),
    }
}

#[test]
fn an_unchanged_image_is_clean_even_with_new_pids_ports_and_addresses() {
    let base = record(&image().build());
    // Next boot: another DHCP address, another ephemeral port, other pids.
    let again = Host::new()
        .listen("tcp", "0.0.0.0", 22, "sshd")
        .listen_with("udp", "192.168.1.77", 68, "systemd-network", |(l, p)| {
            l.bound_device = Some("eth0".into());
            p.as_mut().unwrap().pid = 4242;
        })
        .listen("udp", "0.0.0.0", 55012, "avahi-daemon")
        .listen("udp", "127.0.0.53", 53, "systemd-resolve")
        .build();
    assert!(failure_messages(&evaluate(Some(&base), &again, false)).is_empty());
}

#[test]
fn new_and_vanished_listeners_fail_by_name() {
    let base = record(&image().build());
    let changed = Host::new()
        .listen_with("udp", "192.168.1.9", 68, "systemd-network", |(l, _)| {
            l.bound_device = Some("eth0".into())
        })
        .listen("udp", "0.0.0.0", 41873, "avahi-daemon")
        .listen("udp", "127.0.0.53", 53, "systemd-resolve")
        .listen("tcp", "0.0.0.0", 8080, "debug-server")
        .build();
    let f = failure_messages(&evaluate(Some(&base), &changed, false));
    assert_eq!(f.len(), 2, "{f:?}");
    assert!(f.iter().any(|m| m == "new listener, not in the baseline: tcp wildcard:8080 (/usr/sbin/debug-server) in host"), "{f:?}");
    assert!(
        f.iter()
            .any(|m| m
                == "listener in the baseline is gone: tcp wildcard:22 (/usr/sbin/sshd) in host"),
        "{f:?}"
    );
}

#[test]
fn identities_name_namespace_kinds() {
    let inv = Host::new()
        .in_netns(4026532001, "web", Some("docker://abc"))
        .listen("tcp", "::1", 8080, "app")
        .build();
    let id = identity_of(&inv, &inv.listeners[0]);
    assert_eq!(
        (id.netns.as_str(), id.bind.as_str()),
        ("container:docker://abc", "::1")
    );
}

#[test]
fn without_a_baseline_the_rule_does_not_apply() {
    let eval = evaluate(None, &image().build(), false);
    assert!(portcullis_sdk::verdicts::all(&eval).is_empty() && eval.not_applicable.len() == 1);
}

/// A scan of some namespaces (`--netns`) finds nothing "gone" in the
/// namespaces it did not look at; what it looked at is compared in full.
#[test]
fn a_selected_scan_compares_only_the_namespaces_it_scanned() {
    let whole = Host::new()
        .listen("tcp", "0.0.0.0", 22, "sshd")
        .in_netns(4026532001, "web", None)
        .listen("tcp", "127.0.0.1", 8080, "app")
        .listen("tcp", "127.0.0.1", 9090, "metrics")
        .build();
    let base = record(&whole);
    let mut only_web = Host::new()
        .in_netns(4026532001, "web", None)
        .listen("tcp", "127.0.0.1", 8080, "app")
        .build();
    // As `scan --netns web` collects it: the host's namespace is not there.
    only_web.namespaces.retain(|n| !n.is_host);
    let f = failure_messages(&evaluate(Some(&base), &only_web, true));
    assert_eq!(
        f,
        ["listener in the baseline is gone: tcp 127.0.0.1:9090 (/usr/sbin/metrics) in netns:web"],
        "the host's sshd was not looked for; web's metrics was"
    );
    let everything = failure_messages(&evaluate(Some(&base), &only_web, false));
    assert_eq!(
        everything.len(),
        2,
        "a whole-host scan misses both: {everything:?}"
    );
}

/// A container recreated with the same name (a new id, a new namespace) is
/// the same workload: the baseline stays clean. One of another name is not.
#[test]
fn a_recreated_container_keeps_its_identity() {
    let run = |id: &str, name: &str, inode: u64| {
        Host::new()
            .container(id, name, "nginx:1.25")
            .in_netns(inode, &format!("/var/run/docker/netns/{inode:x}"), Some(id))
            .listen("tcp", "0.0.0.0", 80, "nginx")
            .build()
    };
    let first = run(&format!("docker://{}", "a".repeat(64)), "web", 4026532001);
    let base = record(&first);
    assert_eq!(base.listeners[0].netns, "container:web");
    let again = run(&format!("docker://{}", "b".repeat(64)), "web", 4026532999);
    assert!(failure_messages(&evaluate(Some(&base), &again, false)).is_empty());
    let other = run(&format!("docker://{}", "c".repeat(64)), "api", 4026532999);
    assert_eq!(
        failure_messages(&evaluate(Some(&base), &other, false)).len(),
        2
    );
}
