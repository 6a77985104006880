//! Discovery, attribution and socket-unit resolution on the recorded host
//! `testdata/hosts/web` (see its README for what each process is): no root,
//! no namespaces of our own. What is expected comes from the fixture's
//! design, written down in that README.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::model::{ByteText, Family, NetnsId, NetnsSource, Protocol};
use crate::os::proc::{FIXTURE_NSFS_DEV, ProcRoot};

use super::sockdiag::RawSocket;
use super::{Attribution, Host, discover, procwalk};

const HOST: u64 = 4026531840;

fn ns(inode: u64) -> NetnsId {
    NetnsId {
        dev: FIXTURE_NSFS_DEV,
        inode,
    }
}

fn web() -> Host {
    let base = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/hosts/web");
    Host {
        proc: ProcRoot::fixture(&base.join("proc")).expect("the fixture is checked in"),
        fs: base.join("fs"),
    }
}

#[test]
fn the_walk_sees_processes_threads_and_descriptors() {
    let host = web();
    let walk = procwalk::walk(&host.proc, 2).unwrap();
    let pids: Vec<(i32, u64)> = walk
        .process_netns
        .iter()
        .map(|&(pid, id)| (pid, id.inode))
        .collect();
    // 900's leader has exited: it is seen through its thread only.
    assert_eq!(
        pids,
        [
            (1, HOST),
            (2, HOST),
            (100, HOST),
            (412, HOST),
            (413, HOST),
            (700, 4026532500),
            (800, HOST),
            (950, HOST)
        ]
    );
    assert_eq!(walk.kernel_netns, Some(ns(HOST)));
    assert_eq!(
        walk.thread_netns,
        [(800, 801, ns(4026532600)), (900, 901, ns(4026532700))]
    );
    let refs: Vec<(u64, i32, i32)> = walk
        .socket_refs
        .iter()
        .map(|&(inode, r)| (inode, r.pid, r.fd))
        .collect();
    assert_eq!(
        refs,
        [
            (1001, 1, 40),
            (2001, 412, 6),
            (2001, 413, 6),
            (2002, 412, 7),
            (3001, 700, 3),
            (4001, 900, 4)
        ]
    );
    let pins: Vec<(i32, i32, u64)> = walk
        .netns_fds
        .iter()
        .map(|p| (p.pid, p.fd, p.ns.inode))
        .collect();
    assert_eq!(pins, [(950, 5, 4026532800)], "mnt:[…] at fd 6 is no netns");
    assert_eq!(walk.foreign_mount_ns, [700]);
    assert!(walk.netns_unreadable.is_empty() && walk.fds_unreadable.is_empty());
}

#[test]
fn discovery_finds_every_namespace_and_every_way_in() {
    let host = web();
    let walk = procwalk::walk(&host.proc, 1).unwrap();
    let d = discover::discover(&host.proc, &walk);
    assert_eq!(d.host, Some(ns(HOST)), "PID 1's namespace");
    assert_eq!(d.own, Some(ns(HOST)), "thread-self's");
    assert!(d.gaps.is_empty(), "{:?}", d.gaps);
    let found: BTreeMap<u64, Vec<NetnsSource>> = d
        .candidates
        .iter()
        .map(|(id, c)| (id.inode, c.sources.iter().copied().collect()))
        .collect();
    use NetnsSource::*;
    assert_eq!(
        found,
        BTreeMap::from([
            (HOST, vec![Process]),
            (4026532300, vec![Mount]),
            (4026532500, vec![Process]),
            (4026532600, vec![Thread]),
            (4026532700, vec![Thread]),
            (4026532800, vec![Descriptor]),
        ])
    );
    let blue = &d.candidates[&ns(4026532300)];
    assert_eq!(
        blue.ip_names.iter().collect::<Vec<_>>(),
        ["blue", "blue alias"]
    );
    assert_eq!(
        blue.paths.iter().collect::<Vec<_>>(),
        ["/run/netns/blue", "/run/netns/blue alias"],
        "mountinfo's \\040 is a space"
    );
    let root = host.proc.path("");
    let pinned = &d.candidates[&ns(4026532800)];
    assert_eq!(
        pinned.open_paths,
        [root.join("950/fd/5")],
        "opened through the fixture's root, not the live /proc"
    );
    assert_eq!(d.candidates[&ns(4026532500)].pids, [700]);
    assert_eq!(d.candidates[&ns(4026532700)].tids, [901]);
    let host_ns = &d.candidates[&ns(HOST)];
    assert_eq!(host_ns.pids, [1, 2, 100, 412, 413, 800, 950]);
    assert!(
        host_ns
            .open_paths
            .iter()
            .all(|p| p.starts_with(&root) && p.ends_with("ns/net")),
        "{:?}",
        host_ns.open_paths
    );
}

fn socket(protocol: Protocol, addr: &str, port: u16, inode: u64) -> RawSocket {
    let addr: std::net::IpAddr = addr.parse().unwrap();
    RawSocket {
        protocol,
        family: if addr.is_ipv4() {
            Family::Ipv4
        } else {
            Family::Ipv6
        },
        addr,
        port,
        ifindex: 0,
        v6only: Some(false),
        inode,
        uid: 0,
    }
}

#[test]
fn holders_are_named_with_their_unit_and_container() {
    let host = web();
    let walk = procwalk::walk(&host.proc, 1).unwrap();
    let mut attribution = Attribution::new(&host, &walk);
    let names = BTreeMap::new();
    let web = attribution.listener(
        ns(HOST),
        &socket(Protocol::Tcp, "0.0.0.0", 80, 2001),
        &names,
        &[],
    );
    let holders: Vec<(i32, i32, &str, Option<u32>)> = web
        .holders
        .iter()
        .map(|h| {
            (
                h.pid,
                h.fd,
                std::str::from_utf8(h.process.comm.as_bytes()).unwrap(),
                h.process.uid,
            )
        })
        .collect();
    assert_eq!(
        holders,
        [(412, 6, "nginx", Some(0)), (413, 6, "nginx", Some(33))]
    );
    let master = &web.holders[0].process;
    assert_eq!(master.unit.as_deref(), Some("nginx.service"));
    assert_eq!(
        master.unit_file.as_deref(),
        Some("/etc/systemd/system/nginx.service"),
        "/etc wins over /lib, looked up in the process's own root"
    );
    assert_eq!(
        master.exe.as_ref().map(ByteText::as_bytes),
        Some(&b"/usr/sbin/nginx"[..])
    );
    assert_eq!(
        master.cmdline,
        [ByteText::from("nginx: master process /usr/sbin/nginx")]
    );
    assert!(!web.owner_unknown());

    let redis = attribution.listener(
        ns(4026532500),
        &socket(Protocol::Tcp, "0.0.0.0", 6379, 3001),
        &names,
        &[],
    );
    let redis = &redis.holders[0].process;
    assert_eq!(
        redis.container.as_deref(),
        Some("docker://3f1c0d7e9b2a4c6d8e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d")
    );
    assert_eq!(redis.uid, Some(999));

    let leftover = attribution.listener(
        ns(4026532700),
        &socket(Protocol::Udp, "0.0.0.0", 5000, 4001),
        &names,
        &[],
    );
    assert_eq!(leftover.holders[0].pid, 900, "found through thread 901");

    let nobody = attribution.listener(ns(HOST), &socket(Protocol::Tcp, "::", 9, 9999), &names, &[]);
    assert!(nobody.owner_unknown() && nobody.holders.is_empty());
    assert_eq!(
        nobody.owner_unknown_reason.as_deref(),
        Some(
            "no process holds a descriptor to it (a kernel socket, or one opened after the process walk)"
        )
    );
}

#[test]
fn a_socket_systemd_holds_is_named_by_its_socket_unit() {
    let host = web();
    let walk = procwalk::walk(&host.proc, 1).unwrap();
    let mut attribution = Attribution::new(&host, &walk);
    let ssh = attribution.listener(
        ns(HOST),
        &socket(Protocol::Tcp, "::", 2222, 1001),
        &BTreeMap::new(),
        &[],
    );
    let systemd = &ssh.holders[0].process;
    assert_eq!(systemd.unit.as_deref(), Some("ssh.socket"));
    assert_eq!(
        systemd.unit_file.as_deref(),
        Some("/lib/systemd/system/ssh.socket")
    );
}

#[test]
fn socket_units_are_matched_by_address_enablement_and_device() {
    use super::socket_units::{HeldSocket, SocketUnits, unit_file};
    let fs = web().fs;
    let units = SocketUnits::load(&fs);
    let held = |protocol, address: &str, port, device| HeldSocket {
        protocol,
        address: address.parse().unwrap(),
        port,
        device,
    };
    let named = |h: HeldSocket| units.find(h).map(|u| (u.name.as_str(), u.file.as_str()));
    let ssh = units.find(held(Protocol::Tcp, "::", 2222, None)).unwrap();
    assert_eq!(
        (ssh.name.as_str(), ssh.file.as_str(), ssh.activates.as_str()),
        (
            "ssh.socket",
            "/lib/systemd/system/ssh.socket",
            "ssh.service"
        ),
        "the generator's drop-in moved it to 2222"
    );
    assert_eq!(
        named(held(Protocol::Tcp, "::", 22, None)),
        None,
        "the drop-in replaced port 22"
    );
    assert_eq!(
        named(held(Protocol::Tcp, "127.0.0.1", 2222, None)),
        None,
        "a port-only directive is a wildcard bind, not any address"
    );
    let dns = units
        .find(held(Protocol::Udp, "127.0.0.53", 53, None))
        .unwrap();
    assert_eq!(dns.activates, "resolver.service");
    assert_eq!(named(held(Protocol::Udp, "127.0.0.54", 53, None)), None);
    let spare = units.find(held(Protocol::Tcp, "::", 7777, None)).unwrap();
    assert_eq!(
        (spare.name.as_str(), spare.activates.as_str()),
        ("spare.socket", "spare@.service"),
        "of two units on one port, the enabled one; Accept=yes starts instances"
    );
    assert_eq!(
        named(held(Protocol::Tcp, "::", 7778, None)),
        None,
        "two units, neither enabled: no guess"
    );
    assert_eq!(named(held(Protocol::Tcp, "::", 6666, None)), None, "masked");
    assert_eq!(named(held(Protocol::Tcp, "::", 8443, None)), None);
    assert_eq!(
        named(held(Protocol::Tcp, "::", 8443, Some("eth1"))),
        Some(("device.socket", "/lib/systemd/system/device.socket"))
    );
    assert_eq!(
        unit_file(&fs, "getty@tty1.service").as_deref(),
        Some("/lib/systemd/system/getty@.service"),
        "an instance through its template"
    );
    assert_eq!(unit_file(&fs, "absent.service"), None);
}

#[test]
fn a_reused_pid_is_not_taken_for_the_holder() {
    let host = web();
    // Process 412 holds socket 2001 at fd 6, not socket 5555.
    assert!(super::holders::read(&host.proc, 412, 6, 2001).is_some());
    assert!(super::holders::read(&host.proc, 412, 6, 5555).is_none());
    assert!(super::holders::read(&host.proc, 412, 9, 2001).is_none());
}
