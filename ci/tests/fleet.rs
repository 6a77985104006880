//! The fleet path, against real things:
//!
//! - a real scan of a namespace the test made, written with `--metrics`
//!   into the textfile folder of Debian's node_exporter (started here, in
//!   that namespace, on its loopback) and scraped over HTTP: the series
//!   parse, node_exporter reports no textfile error, and their values are
//!   what `ss` in the namespace and the test's own listeners say;
//!   `promtool check metrics` on the file, `promtool check rules` and
//!   `promtool test rules` on the shipped alerting rules;
//! - `portcullis merge` of several real "nodes": each a network namespace
//!   with a PID and UTS namespace of its own (its own hostname, its own
//!   PID 1) and its own listeners, scanned there as a node scans itself,
//!   merged from JSON reports and SARIF logs alike, and checked by the
//!   SARIF validators and GitHub's limits.
//!
//! ci/test.sh unpacks promtool and node_exporter into ci/.cache/prometheus
//! (`PORTCULLIS_PROMETHEUS` names its bin folder); missing, the test fails.

// A test sets up the host it checks: files, processes, namespaces.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::validate::{repo, validate_sarif};
use support::*;

fn prometheus_bin(tool: &str) -> PathBuf {
    let bin = std::env::var_os("PORTCULLIS_PROMETHEUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("ci/.cache/prometheus/usr/bin"))
        .join(tool);
    assert!(
        bin.exists(),
        "{}: run ci/test.sh, which unpacks Debian's prometheus packages",
        bin.display()
    );
    bin
}

/// A process killed (and reaped) on drop.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `GET url` from inside the namespace, by python's urllib (bounded).
fn http_get(netns: &NamedNetns, url: &str) -> Option<String> {
    let script = format!(
        "import sys, urllib.request\nsys.stdout.write(urllib.request.urlopen({url:?}, timeout=10).read().decode())"
    );
    let out = Command::new("ip")
        .args(["netns", "exec", &netns.name, "python3", "-c", &script])
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8(out.stdout).unwrap())
}

/// One sample of the exposition format: name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

/// The samples of a Prometheus text exposition, parsed here (not by the
/// code under test): `name{k="v",…} value`, with `\\`, `\"` and `\n`.
fn samples(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("{line}"));
        let (name, mut rest) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.strip_suffix('}').unwrap()),
            None => (series, ""),
        };
        let mut labels = BTreeMap::new();
        while !rest.is_empty() {
            let (key, after) = rest.split_once("=\"").unwrap();
            let mut value = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                let (i, c) = chars.next().expect("closing quote");
                match c {
                    '\\' => match chars.next().unwrap().1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    '"' => break i,
                    c => value.push(c),
                }
            };
            labels.insert(key.to_owned(), value);
            rest = after[end + 1..].trim_start_matches(',');
        }
        out.push((name.to_owned(), labels, value));
    }
    out
}

fn value_of(samples: &[Sample], name: &str, want: &[(&str, &str)]) -> Option<f64> {
    let matching: Vec<f64> = samples
        .iter()
        .filter(|(n, labels, _)| {
            n == name
                && want
                    .iter()
                    .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| *v)
        .collect();
    assert!(matching.len() <= 1, "{name}{want:?}: {matching:?}");
    matching.first().copied()
}

/// The bind scope of an `ss` local address, for the IPv4 binds this test
/// makes (anything else would be a mistake in the test).
fn scope_of(local: &str) -> &'static str {
    if local.starts_with("0.0.0.0:") {
        "wildcard"
    } else if local.starts_with("127.") {
        "loopback"
    } else {
        panic!("the test binds only 0.0.0.0 and 127.0.0.1: {local}")
    }
}

fn must_pass(what: &str, out: std::process::Output) {
    assert!(
        out.status.success(),
        "{what}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
}

#[test]
fn node_exporter_serves_a_real_scans_metrics() {
    require_root();
    let ns = NamedNetns::new(&unique("prom"));
    let dir = scratch("prom");
    let textfiles = dir.join("textfile");
    std::fs::create_dir_all(&textfiles).unwrap();
    // A database on every address, a local web server, and a UDP client
    // socket on a port from the ephemeral range.
    let helper = Helper::spawn(
        &["ip", "netns", "exec", &ns.name],
        json!({"sockets": [
            {"proto": "tcp", "addr": "0.0.0.0", "port": 5432},
            {"proto": "tcp", "addr": "127.0.0.1", "port": 8080},
            {"proto": "udp", "addr": "0.0.0.0", "port": 0},
        ]}),
    );
    let udp_port = helper.port(2);
    assert!(
        udp_port >= 32768,
        "the kernel's ephemeral range: {udp_port}"
    );
    let _exporter = Daemon(
        Command::new("ip")
            .args(["netns", "exec", &ns.name])
            .arg(prometheus_bin("prometheus-node-exporter"))
            .args([
                "--web.listen-address=127.0.0.1:9100",
                "--collector.disable-defaults",
                "--collector.textfile",
            ])
            .arg(format!(
                "--collector.textfile.directory={}",
                textfiles.display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while http_get(&ns, "http://127.0.0.1:9100/metrics").is_none() {
        assert!(Instant::now() < deadline, "node_exporter did not come up");
        std::thread::sleep(Duration::from_millis(200));
    }

    let prom = textfiles.join("portcullis.prom");
    let report = dir.join("report.json");
    let out = portcullis(&[
        "scan",
        "--netns",
        &ns.name,
        "--format",
        "summary",
        "--metrics",
        prom.to_str().unwrap(),
        "--json",
        report.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    must_pass(
        "promtool check metrics",
        Command::new(prometheus_bin("promtool"))
            .args(["check", "metrics"])
            .stdin(std::fs::File::open(&prom).unwrap())
            .output()
            .unwrap(),
    );
    // No temporary file left for the collector to read.
    let left: Vec<_> = std::fs::read_dir(&textfiles)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["portcullis.prom"]);

    let scraped = http_get(&ns, "http://127.0.0.1:9100/metrics").unwrap();
    let all = samples(&scraped);
    assert_eq!(
        value_of(&all, "node_textfile_scrape_error", &[]),
        Some(0.0),
        "node_exporter read the file: {scraped}"
    );
    let ours: Vec<Sample> = all
        .iter()
        .filter(|(n, _, _)| n.starts_with("portcullis_"))
        .cloned()
        .collect();
    let distinct: BTreeSet<_> = ours.iter().map(|(n, l, _)| (n, l)).collect();
    assert_eq!(distinct.len(), ours.len(), "no series twice");
    assert_eq!(value_of(&ours, "portcullis_scan_complete", &[]), Some(1.0));
    assert_eq!(value_of(&ours, "portcullis_exit_code", &[]), Some(1.0));
    let gaps: f64 = ours
        .iter()
        .filter(|(n, _, _)| n == "portcullis_gaps")
        .map(|(_, _, v)| v)
        .sum();
    assert_eq!(gaps, 0.0);

    // Listener counts: `ss` inside the namespace is the oracle (the
    // helper's three sockets and node_exporter's own).
    let rows = ss(Some(&ns.path())).unwrap();
    assert_eq!(rows.len(), 4, "{rows:?}");
    let mut want: BTreeMap<(&str, &str), f64> = BTreeMap::new();
    for (netid, local) in &rows {
        *want.entry((scope_of(local), netid.as_str())).or_default() += 1.0;
    }
    for ((scope, protocol), n) in &want {
        let labels = [
            ("netns_kind", "named"),
            ("scope", *scope),
            ("protocol", *protocol),
        ];
        assert_eq!(
            value_of(&ours, "portcullis_listeners", &labels),
            Some(*n),
            "{labels:?}"
        );
    }
    let counted: f64 = ours
        .iter()
        .filter(|(n, _, _)| n == "portcullis_listeners")
        .map(|(_, _, v)| v)
        .sum();
    assert_eq!(counted, rows.len() as f64);

    // The wildcard database is a violation, labelled by what it is.
    let exe = std::fs::read_link(format!("/proc/{}/exe", helper.pid())).unwrap();
    let netns = format!("netns:{}", ns.name);
    let labels = [
        ("rule", "wildcard-bind"),
        ("level", "error"),
        ("protocol", "tcp"),
        ("port", "5432"),
        ("bind_scope", "wildcard"),
        ("program", exe.to_str().unwrap()),
        ("netns_kind", "named"),
        ("netns", &netns),
    ];
    assert_eq!(value_of(&ours, "portcullis_violation", &labels), Some(1.0));
    // The UDP client's port is no label: it changes every start.
    let udp = [("rule", "wildcard-bind"), ("protocol", "udp")];
    let udp_series: Vec<_> = ours
        .iter()
        .filter(|(n, l, _)| {
            n == "portcullis_violation"
                && udp
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .collect();
    assert_eq!(udp_series.len(), 1, "{udp_series:?}");
    assert_eq!(udp_series[0].1["port"], "ephemeral");
    // Nothing that changes between runs is a label value: pids, the
    // namespace's inode, the UDP port.
    let inode = ns.inode().to_string();
    let changing: BTreeSet<String> = helper
        .pids()
        .iter()
        .map(i64::to_string)
        .chain([inode, udp_port.to_string()])
        .collect();
    for (name, labels, _) in &ours {
        for value in labels.values() {
            assert!(
                !changing.iter().any(|c| value.contains(c.as_str())),
                "{name}{labels:?} holds a value that changes between runs"
            );
        }
    }
    // One series per unaccepted failure the JSON report lists.
    let json: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let failures = json["evaluation"]["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["outcome"] == "fail" && v["allowed_by"].is_null())
        .count();
    let series: f64 = ours
        .iter()
        .filter(|(n, _, _)| n == "portcullis_violation")
        .map(|(_, _, v)| v)
        .sum();
    assert_eq!(series, failures as f64);
    drop(helper);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_shipped_alerting_rules_check_and_pass_their_unit_tests() {
    let dir = repo().join("ci/examples/prometheus");
    let promtool = prometheus_bin("promtool");
    must_pass(
        "promtool check rules",
        Command::new(&promtool)
            .args(["check", "rules", "portcullis-alerts.yml"])
            .current_dir(&dir)
            .output()
            .unwrap(),
    );
    must_pass(
        "promtool test rules",
        Command::new(&promtool)
            .args(["test", "rules", "portcullis-alerts.test.yml"])
            .current_dir(&dir)
            .output()
            .unwrap(),
    );
}

/// A node: its own network namespace, PID namespace (its own PID 1) and
/// hostname, its listeners started there, and portcullis scanning it as a
/// node's scanner scans itself. Every namespace mount of the machine
/// running the test (`ip netns`, a container engine's) is unmounted in the
/// node's mount namespace, so a node sees only itself. `own_pid_namespace: false` leaves the node without the
/// flag a confined scanner needs: its scan has a gap (exit 3).
fn scan_node(name: &str, sockets: Value, own_pid_namespace: bool, out: &Path) -> i32 {
    let ns = NamedNetns::new(&unique(name));
    let spec = json!({ "sockets": sockets }).to_string();
    let ready = out.join(format!("{name}.ready"));
    let script = format!(
        r#"set -e
hostname {name}
{forget}sleep 60 | python3 "$0" "$1" > "$2" &
i=0
while [ ! -s "$2" ]; do i=$((i+1)); [ $i -lt 200 ] || exit 99; sleep 0.05; done
set +e
"$3" scan {flag} --category pool/web --format summary --json "$4.json" --sarif "$4.sarif"
"#,
        forget = FORGET_NAMESPACE_MOUNTS,
        flag = if own_pid_namespace {
            "--own-pid-namespace"
        } else {
            ""
        },
    );
    let status = Command::new("ip")
        .args(["netns", "exec", &ns.name])
        .args(["unshare", "--uts", "--pid", "--fork", "--mount-proc"])
        .args(["sh", "-c", &script])
        .arg(repo().join("ci/support/listen.py"))
        .arg(&spec)
        .arg(&ready)
        .arg(env!("CARGO_BIN_EXE_portcullis"))
        .arg(out.join(name))
        .env("PORTCULLIS_CACHE_DIR", "off")
        .env_remove("PORTCULLIS_OWN_PID_NAMESPACE")
        .status()
        .unwrap();
    status.code().unwrap()
}

fn merge(args: &[&str]) -> (i32, String) {
    let out = portcullis(&[&["merge"], args].concat());
    (out.status.code().unwrap(), stderr(&out))
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Each result of the run of `category` in a SARIF log: fingerprint →
/// (rule, nodes).
fn results_of(log: &Value, category: &str) -> BTreeMap<String, (String, Vec<String>)> {
    let run = log["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["automationDetails"]["id"] == category)
        .unwrap_or_else(|| panic!("no run {category}: {log:#}"));
    run["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let nodes = r["properties"]["nodes"]
                .as_array()
                .map(|n| n.iter().map(|n| n.as_str().unwrap().to_owned()).collect())
                .unwrap_or_default();
            (
                r["partialFingerprints"]["portcullis/v1"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                (r["ruleId"].as_str().unwrap().to_owned(), nodes),
            )
        })
        .collect()
}

/// GitHub's limits on one upload (docs: SARIF support for code scanning).
fn within_github_limits(log: &Value) {
    let runs = log["runs"].as_array().unwrap();
    assert!(runs.len() <= 20);
    let categories: BTreeSet<String> = runs
        .iter()
        .map(|r| r["automationDetails"]["id"].to_string())
        .collect();
    assert_eq!(categories.len(), runs.len(), "one run per category");
    for run in runs {
        assert!(run["results"].as_array().unwrap().len() <= 5000);
    }
}

#[test]
fn merge_of_real_nodes() {
    require_root();
    let dir = scratch("merge");
    let db = json!({"proto": "tcp", "addr": "0.0.0.0", "port": 5432});
    let cache = json!({"proto": "tcp", "addr": "0.0.0.0", "port": 6379});
    let local = json!({"proto": "tcp", "addr": "127.0.0.1", "port": 8080});
    let nodes = [
        ("node-a", json!([db, local]), true, 1),
        ("node-b", json!([db, cache]), true, 1),
        ("node-c", json!([local]), true, 0),
        ("node-d", json!([db]), false, 3),
    ];
    for (name, sockets, own, want) in &nodes {
        let code = scan_node(name, sockets.clone(), *own, &dir);
        assert_eq!(code, *want, "{name}'s scan");
    }
    let file = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    // JSON reports and SARIF logs mixed, as a fleet's collector finds them.
    let inputs = [
        file("node-a.json"),
        file("node-b.sarif"),
        file("node-c.json"),
        file("node-d.sarif"),
    ];
    let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();

    // node-d did not look: the pool's findings are withheld, its gap kept.
    let (sarif, summary) = (file("withheld.sarif"), file("withheld.json"));
    let (code, err) = merge(&[&inputs[..], &["--sarif", &sarif, "--json", &summary]].concat());
    assert_eq!(code, 3, "{err}");
    let log = validate_sarif(Path::new(&sarif));
    within_github_limits(&log);
    assert_eq!(log["runs"].as_array().unwrap().len(), 1, "coverage only");
    let coverage = &log["runs"][0];
    assert_eq!(
        coverage["automationDetails"]["id"],
        "portcullis/pool/web/coverage/"
    );
    assert_eq!(
        coverage["properties"]["findingsWithheld"]["nodes"],
        json!(["node-d"])
    );
    let gaps = results_of(&log, "portcullis/pool/web/coverage/");
    assert!(
        gaps.iter()
            .any(|(fp, (_, nodes))| fp.contains("pid_namespace_confined") && nodes == &["node-d"]),
        "{gaps:?}"
    );
    let json = read_json(Path::new(&summary));
    let exits: Vec<(&str, i64)> = json["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["node"].as_str().unwrap(),
                n["exit_code"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        exits,
        [("node-a", 1), ("node-b", 1), ("node-c", 0), ("node-d", 3)]
    );

    // --allow-partial: the nodes that looked are the truth.
    let sarif = file("partial.sarif");
    let (code, err) = merge(&[&inputs[..], &["--allow-partial", "--sarif", &sarif]].concat());
    assert_eq!(code, 1, "{err}");
    let log = validate_sarif(Path::new(&sarif));
    within_github_limits(&log);
    let merged = results_of(&log, "portcullis/pool/web/");
    let nodes_of = |rule: &str, port: &str| -> Vec<String> {
        let hits: Vec<_> = merged
            .iter()
            .filter(|(fp, (r, _))| r == rule && fp.contains(&format!("|tcp|wildcard|{port}|")))
            .collect();
        assert_eq!(hits.len(), 1, "{rule} {port}: {merged:#?}");
        hits[0].1.1.clone()
    };
    assert_eq!(nodes_of("wildcard-bind", "5432"), ["node-a", "node-b"]);
    assert_eq!(nodes_of("wildcard-bind", "6379"), ["node-b"]);
    assert_eq!(nodes_of("local-only-exposed", "5432"), ["node-a", "node-b"]);
    assert!(
        merged.keys().all(|fp| !fp.contains("|8080|")),
        "loopback 8080 passes"
    );
    // The union of what each node reported itself, one result per
    // fingerprint, and the same fingerprints as the nodes' own uploads
    // (the nodes ran with the pool's category).
    let mut union: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for node in ["node-a", "node-b", "node-c"] {
        let own = read_json(&dir.join(format!("{node}.sarif")));
        for (fp, (rule, _)) in results_of(&own, "portcullis/pool/web/") {
            union
                .entry(fp)
                .or_insert((rule, vec![]))
                .1
                .push(node.to_owned());
        }
    }
    assert_eq!(merged, union);

    // JSON reports and SARIF logs of the same runs merge alike.
    let from = |ext: &str| -> BTreeMap<String, (String, Vec<String>)> {
        let out = file(&format!("all-{ext}.sarif"));
        let args: Vec<String> = ["node-a", "node-b", "node-c"]
            .iter()
            .map(|n| file(&format!("{n}.{ext}")))
            .chain(["--sarif".into(), out.clone()])
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, err) = merge(&args);
        assert_eq!(code, 1, "{err}");
        results_of(&read_json(Path::new(&out)), "portcullis/pool/web/")
    };
    assert_eq!(from("json"), from("sarif"));
    assert_eq!(from("json"), union);
    let _ = std::fs::remove_dir_all(&dir);
}
