use portcullis_sdk::Outcome;
use portcullis_sdk::testing::Host;

use super::*;

fn outcomes(config: &Config, inv: &Inventory) -> Vec<(u16, Outcome)> {
    let eval = evaluate(config, inv).unwrap();
    portcullis_sdk::verdicts::all(&eval)
        .into_iter()
        .map(|v| (inv.listeners[v.listener.unwrap() as usize].port, v.outcome))
        .collect()
}

/// The seed's worked example on Ubuntu.
fn seed() -> Inventory {
    Host::new()
        .os("ubuntu", "24.04")
        .listen_with("udp", "192.168.122.37", 68, "systemd-network", |(l, _)| {
            l.bound_device = Some("enp1s0".into())
        })
        .listen_with("udp", "172.16.0.155", 68, "systemd-network", |(l, _)| {
            l.bound_device = Some("enp2s0".into())
        })
        .listen("udp", "127.0.0.53", 53, "systemd-resolve")
        .listen("tcp", "192.168.122.37", 22, "sshd")
        .listen("tcp", "*", 80, "apache2")
        .listen("tcp", "127.0.0.1", 5432, "postgres")
        .build()
}

#[test]
fn ubuntu_allows_dhcp_resolved_and_ssh_and_nothing_else() {
    let got = outcomes(&Config::default(), &seed());
    assert_eq!(
        got,
        [
            (68, Outcome::Pass),
            (68, Outcome::Pass),
            (53, Outcome::Pass),
            (22, Outcome::Pass),
            (80, Outcome::Fail),
            (5432, Outcome::Pass)
        ]
    );
}

#[test]
fn ubuntu_dhcp_must_be_on_its_interface_address_debian_may_be_wildcard() {
    let inv = Host::new()
        .os("ubuntu", "24.04")
        .listen("udp", "0.0.0.0", 68, "dhclient")
        .build();
    assert_eq!(outcomes(&Config::default(), &inv), [(68, Outcome::Fail)]);
    let inv = Host::new()
        .os("debian", "12")
        .listen("udp", "0.0.0.0", 68, "dhclient")
        .build();
    assert_eq!(outcomes(&Config::default(), &inv), [(68, Outcome::Pass)]);
}

#[test]
fn socket_activated_ssh_held_by_systemd_is_openssh() {
    let inv = Host::new()
        .os("ubuntu", "24.04")
        .listen("tcp", "*", 22, "systemd")
        .build();
    assert_eq!(outcomes(&Config::default(), &inv), [(22, Outcome::Pass)]);
}

#[test]
fn avahi_only_on_desktops() {
    let inv = Host::new()
        .os("ubuntu", "24.04")
        .listen("udp", "0.0.0.0", 5353, "avahi-daemon")
        .listen("udp", "*", 41234, "avahi-daemon")
        .build();
    assert_eq!(
        outcomes(&Config::default(), &inv),
        [(5353, Outcome::Fail), (41234, Outcome::Fail)]
    );
    let desktop = Config {
        desktop: true,
        ..Config::default()
    };
    assert_eq!(
        outcomes(&desktop, &inv),
        [(5353, Outcome::Pass), (41234, Outcome::Pass)]
    );
}

#[test]
fn applies_from_os_release_or_the_policy_and_says_when_not() {
    let fedora = Host::new()
        .os("fedora", "40")
        .listen("tcp", "0.0.0.0", 80, "httpd")
        .build();
    let eval = evaluate(&Config::default(), &fedora).unwrap();
    assert!(portcullis_sdk::verdicts::all(&eval).is_empty());
    assert!(
        eval.not_applicable[0].reason.contains("ID=fedora"),
        "{:?}",
        eval.not_applicable
    );
    let server = Config {
        profile: Some("server".into()),
        ..Config::default()
    };
    assert_eq!(outcomes(&server, &fedora), [(80, Outcome::Fail)]);
    assert!(Profiles::validate_config(r#"{"profile":"gentoo"}"#.into()).is_err());
}

#[test]
fn only_the_host_namespace_is_judged() {
    let inv = Host::new()
        .os("ubuntu", "24.04")
        .in_netns(4026532001, "web", None)
        .listen("tcp", "0.0.0.0", 80, "nginx")
        .build();
    assert!(outcomes(&Config::default(), &inv).is_empty());
}
