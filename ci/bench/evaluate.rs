//! Benchmark: judge an inventory of 100,000 listeners through every built-in
//! plugin (the embedded default policy). Prints the median of 7 runs.
//!
//!     cargo bench --bench evaluate
//!
//! `PORTCULLIS_BENCH_LISTENERS` and `PORTCULLIS_BENCH_RUNS` shrink it (CI runs
//! it once, small, so that a bench that no longer builds or runs fails CI);
//! `BENCH_POLICY` judges under a policy file instead of the default.
//!
//! Times only evaluation (conversion into the ABI, the plugins' calls, the
//! policy), not collection or output.

// A test sets up the host it checks: files, processes, namespaces.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::time::Instant;

use portcullis::judge::Judge;
use portcullis::model::*;

const NAMESPACES: usize = 50;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v}: not a count"))
        })
        .unwrap_or(default)
}

fn inventory(listeners: usize) -> Inventory {
    let namespaces = (0..NAMESPACES)
        .map(|i| Netns {
            id: NetnsId {
                dev: 4,
                inode: 4026532000 + i as u64,
            },
            names: vec![format!("ns{i}")],
            aliases: vec![],
            is_host: i == 0,
            sources: vec![NetnsSource::Mount],
            pids: vec![1000 + i as i32],
            tids: vec![],
            hints: NetnsHints::default(),
            interfaces: vec![Interface {
                name: "eth0".into(),
                index: 2,
                up: true,
                addresses: vec!["10.0.0.1".parse().unwrap()],
            }],
        })
        .collect();
    let scopes = [
        ("0.0.0.0", Scope::Wildcard),
        ("127.0.0.1", Scope::Loopback),
        ("10.0.0.1", Scope::Private),
        ("*", Scope::DualStack),
    ];
    let listeners = (0..listeners)
        .map(|i| {
            let (address, scope) = scopes[i % scopes.len()];
            Listener {
                netns: NetnsId {
                    dev: 4,
                    inode: 4026532000 + (i % NAMESPACES) as u64,
                },
                protocol: if i % 5 == 0 {
                    Protocol::Udp
                } else {
                    Protocol::Tcp
                },
                family: if address == "*" {
                    Family::Ipv6
                } else {
                    Family::Ipv4
                },
                address: address.into(),
                port: 1024 + (i % 60000) as u16,
                bound_device: None,
                v6only: None,
                scope,
                address_interfaces: vec![],
                inode: 100_000 + i as u64,
                uid: 0,
                holders: vec![Holder {
                    pid: 1000 + (i % 500) as i32,
                    fd: 3,
                    process: std::sync::Arc::new(ProcessDetails {
                        comm: ByteText::from("server"),
                        exe: Some(ByteText::from("/usr/sbin/server")),
                        cmdline: vec![ByteText::from("/usr/sbin/server"), ByteText::from("--port")],
                        uid: Some(0),
                        unit: Some("server.service".into()),
                        unit_file: None,
                        activates: None,
                        container: None,
                    }),
                }],
                owner_unknown_reason: None,
                forwards_to: None,
                reachability: None,
            }
        })
        .collect();
    Inventory {
        schema_version: SCHEMA_VERSION,
        host: HostFacts::default(),
        namespaces,
        listeners,
        gaps: vec![],
        containers: vec![],
        published: vec![],
        only_selected: false,
    }
}

fn main() {
    let listeners = setting("PORTCULLIS_BENCH_LISTENERS", 100_000);
    let runs = setting("PORTCULLIS_BENCH_RUNS", 7).max(1);
    let inv = std::sync::Arc::new(inventory(listeners));
    let policy = std::env::var_os("BENCH_POLICY").map(std::path::PathBuf::from);
    let judge = Judge::new(
        policy.as_deref(),
        &[],
        None,
        &portcullis::diag::Diagnostics::stderr(),
    )
    .expect("the default plugins load");
    let mut times = Vec::new();
    let mut verdicts = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let (evaluation, _) = judge.judge(&inv);
        times.push(start.elapsed());
        assert!(
            evaluation.plugin_failures.is_empty(),
            "{:?}",
            evaluation.plugin_failures
        );
        verdicts = evaluation.verdicts.len();
    }
    times.sort();
    println!(
        "evaluate: {listeners} listeners through {} built-in plugins ({verdicts} verdicts): median {:.1} ms, min {:.1} ms",
        judge.plugins().count(),
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3
    );
}
