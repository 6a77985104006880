//! Root-only: namespace selection, filtering, unprivileged runs and hostile
//! process data, each in namespaces of its own (these tests run in parallel,
//! so each one selects its namespaces with `--netns`).

// A test sets up the host it checks: files, processes, namespaces.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use serde_json::{Value, json};
use support::*;

fn netns_with_listeners(tag: &str) -> (NamedNetns, Helper) {
    let ns = NamedNetns::new(&unique(tag));
    let helper = Helper::spawn(
        &["ip", "netns", "exec", &ns.name],
        json!({
            "sockets": [
                {"proto": "tcp", "addr": "127.0.0.1"},
                {"proto": "tcp", "addr": "127.0.0.53"},
                {"proto": "udp", "addr": "::1"},
                {"proto": "tcp", "addr": "::ffff:127.0.0.1", "v6only": false},
                {"proto": "tcp", "addr": "0.0.0.0"},
                {"proto": "udp", "addr": "::", "v6only": false},
            ]
        }),
    );
    (ns, helper)
}

fn namespaces_of(inv: &Value) -> BTreeSet<u64> {
    inv["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["inode"].as_u64().unwrap())
        .collect()
}

#[test]
fn every_selector_kind_picks_exactly_that_namespace() {
    require_root();
    let (ns, helper) = netns_with_listeners("sel");
    let inode = ns.inode();
    let by_proc = format!("/proc/{}/ns/net", helper.pid());
    let by_inode = inode.to_string();
    for selector in [ns.name.as_str(), &ns.path(), &by_proc, &by_inode] {
        let inv = inventory(&["--netns", selector], &[0]);
        assert_eq!(
            namespaces_of(&inv),
            BTreeSet::from([inode]),
            "--netns {selector}"
        );
        assert_eq!(
            rows_of(&inv, inode),
            ss(Some(&ns.path())).unwrap(),
            "--netns {selector}"
        );
    }
    let (other, _h) = netns_with_listeners("sel2");
    let inv = inventory(&["--netns", &ns.name, "--netns", &other.path()], &[0]);
    assert_eq!(namespaces_of(&inv), BTreeSet::from([inode, other.inode()]));
}

#[test]
fn unknown_or_wrong_selectors_are_usage_errors() {
    require_root();
    for (selector, expect) in [
        (
            "no-such-netns-pc",
            "no network namespace has that ip netns name",
        ),
        ("/proc/self/ns/uts", "not a network namespace"),
        ("/nonexistent/netns", "/nonexistent/netns"),
        ("1", "no network namespace has that inode"),
    ] {
        let out = portcullis(&["list", "--netns", selector]);
        assert_eq!(out.status.code(), Some(2), "--netns {selector}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expect), "--netns {selector}: {stderr}");
        assert!(out.stdout.is_empty(), "no partial output on a usage error");
    }
}

#[test]
fn no_loopback_matches_the_seed_grep_on_parsed_addresses() {
    require_root();
    let (ns, _helper) = netns_with_listeners("nolo");
    let inv = inventory(&["--netns", &ns.name, "--no-loopback"], &[0]);
    let ours = rows_of(&inv, ns.inode());
    // The seed's own pipeline, run literally inside the namespace.
    let seed = format!(
        "nsenter --net={} ss -Htuln | grep -vE '127(\\.[0-9]+){{3}}|\\[::1\\]'",
        ns.path()
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &seed])
        .output()
        .unwrap();
    let theirs: BTreeSet<SsRow> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (cols[0].to_owned(), cols[4].to_owned())
        })
        .collect();
    assert_eq!(ours, theirs);
    assert_eq!(ours.len(), 2, "the two wildcard binds remain: {ours:?}");
}

#[test]
fn table_groups_by_namespace_and_escapes_hostile_command_lines() {
    require_root();
    let ns = NamedNetns::new(&unique("tbl"));
    let odd_arg = OsString::from_vec(b"--name=\x1b]0;pwn\x07\n<b>&]]>\xff".to_vec());
    let helper = Helper::spawn_with_args(
        &["ip", "netns", "exec", &ns.name],
        json!({"comm": "6e616d650a7769746808ff", "forks": 1, "sockets": [{"proto": "tcp", "addr": "0.0.0.0"}]}),
        &[odd_arg],
    );
    let out = portcullis(&["list", "--netns", &ns.name]);
    assert_eq!(out.status.code(), Some(0));
    let table = String::from_utf8(out.stdout)
        .expect("the table is valid UTF-8 whatever the processes hold");
    assert!(
        table.starts_with(&format!("netns {} {}", ns.inode(), ns.name)),
        "{table}"
    );
    let row = table
        .lines()
        .find(|l| l.contains(&format!("0.0.0.0:{}", helper.port(0))))
        .expect(&table);
    assert!(row.contains("tcp   LISTEN"), "{row}");
    let child = helper.report["children"][0].as_i64().unwrap();
    assert!(
        row.contains(&format!("name\\x0awith\\x08\\xff(pid={}", helper.pid())),
        "{row}"
    );
    assert!(row.contains(&format!("(pid={child},")), "{row}");
    assert!(
        !table.chars().any(|c| c.is_control() && c != '\n'),
        "no raw control characters: {table:?}"
    );

    let inv = inventory(&["--netns", &ns.name], &[0]);
    let holder = &listeners_in(&inv, ns.inode()).next().unwrap()["holders"][0];
    let last_arg = holder["cmdline"].as_array().unwrap().last().unwrap();
    assert_eq!(last_arg, "--name=\\x1b]0;pwn\\x07\\x0a<b>&]]>\\xff");
}

#[test]
fn unprivileged_run_reports_gaps_and_exits_3() {
    require_root();
    let (ns, _helper) = netns_with_listeners("unpriv");
    let bin = env!("CARGO_BIN_EXE_portcullis");
    let as_nobody = |extra: &[&str]| {
        let mut args = vec![
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            bin,
            "list",
            "--format",
            "json",
        ];
        args.extend(extra);
        std::process::Command::new("setpriv")
            .args(&args)
            .output()
            .unwrap()
    };
    let out = as_nobody(&[]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let inv: Value = serde_json::from_slice(&out.stdout).unwrap();
    let gaps = inv["gaps"].as_array().unwrap();
    let kinds: BTreeSet<&str> = gaps.iter().map(|g| g["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains("process_fds_unreadable"), "{kinds:?}");
    assert!(kinds.contains("process_namespace_unreadable"), "{kinds:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("portcullis: incomplete"),
        "gaps go to stderr too: {stderr}"
    );
    // Its own namespace needs no privileges: still fully listed, owners unknown.
    let own = inode_of("/proc/self/ns/net");
    assert_eq!(rows_of(&inv, own), ss(None).unwrap());
    // The named namespace can be seen only through its mount; entering it is a gap, not "nothing there".
    let out = as_nobody(&["--netns", &ns.path()]);
    assert_eq!(out.status.code(), Some(3));
    let inv: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(listeners_in(&inv, ns.inode()).next().is_none());
    let gap = inv["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["netns"]["inode"].as_u64() == Some(ns.inode()))
        .expect("a gap for it");
    assert_eq!(gap["kind"], "netns_not_enterable");
    assert_eq!(
        as_nobody(&["--netns", &ns.path(), "--allow-partial"])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn clean_selected_namespace_exits_0_with_nothing_hidden() {
    require_root();
    let (ns, _helper) = netns_with_listeners("clean");
    let out = portcullis(&["list", "--netns", &ns.name]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stderr.is_empty());
    let empty = NamedNetns::new(&unique("empty"));
    let out = portcullis(&["list", "--netns", &empty.name]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("(no listeners)"));
}
