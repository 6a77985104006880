//! Root-only: `portcullis exec` with real commands: isolation, settling,
//! early exits, the settle timeout and stopping what ignores SIGTERM.

// A test sets up the host it checks: files, processes, namespaces.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};
use support::*;

fn exec(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("exec")
        .args(args)
        .env("PORTCULLIS_CACHE_DIR", "off")
        .output()
        .unwrap()
}

fn listen_py() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("ci/support/listen.py")
        .display()
        .to_string()
}

fn alive(pid: i64) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// A Python program that writes its pid to `pidfile`, then runs `body`.
fn python(pidfile: &Path, body: &str) -> String {
    format!(
        "import os, socket, time\nopen({:?}, 'w').write(str(os.getpid()))\n{body}",
        pidfile.display().to_string()
    )
}

#[test]
fn isolate_judges_only_the_commands_listeners_then_stops_it() {
    require_root();
    let dir = scratch("iso");
    let pidfile = dir.join("pid");
    let sarif = dir.join("r.sarif");
    let program = python(
        &pidfile,
        "t = socket.socket(); t.bind(('0.0.0.0', 8080)); t.listen()\n\
         u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('127.0.0.1', 5353))\n\
         time.sleep(600)",
    );
    let out = exec(&[
        "--isolate",
        "--settle",
        "2s",
        "--format",
        "json",
        "--sarif",
        sarif.to_str().unwrap(),
        "--",
        "python3",
        "-c",
        &program,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let inv = &report["inventory"];
    assert_eq!(
        inv["namespaces"].as_array().unwrap().len(),
        1,
        "only COMMAND's namespace"
    );
    let ns = &inv["namespaces"][0];
    assert_eq!(ns["is_host"], false);
    let lo = &ns["interfaces"][0];
    assert_eq!(
        (lo["name"].as_str(), lo["up"].as_bool()),
        (Some("lo"), Some(true))
    );
    let mut found: Vec<(String, u64)> = inv["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["address"].as_str().unwrap().to_owned(),
                l["port"].as_u64().unwrap(),
            )
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        [("0.0.0.0".to_owned(), 8080), ("127.0.0.1".to_owned(), 5353)]
    );
    let failed: Vec<&Value> = report["evaluation"]["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["outcome"] == "fail")
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["rule"], "wildcard-bind");
    assert!(sarif.exists(), "the reports are written");
    let pid: i64 = std::fs::read_to_string(&pidfile).unwrap().parse().unwrap();
    assert!(!alive(pid), "COMMAND is stopped before portcullis exits");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_command_that_exits_early_is_reported_with_status_and_output() {
    require_root();
    let dir = scratch("early");
    let junit = dir.join("r.xml");
    let out = exec(&[
        "--isolate",
        "--junit",
        junit.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "echo 'starting <web>'; echo 'bind: address in use' >&2; exit 7",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("exited before the scan (exit status 7)"),
        "{err}"
    );
    assert!(err.contains("  bind: address in use"), "{err}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("exit status 7") && xml.contains("starting &lt;web&gt;"),
        "{xml}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The listener comes only after portcullis has scanned without it: the
/// command waits for a file the test creates once the settle progress
/// line (drawn on a terminal `script` provides) shows a re-scan. No guess
/// at how long anything takes.
#[test]
fn settle_waits_for_a_listener_that_comes_late() {
    use std::io::Read;
    require_root();
    let dir = scratch("late");
    let (gate, report) = (dir.join("go"), dir.join("report.json"));
    let spec =
        json!({"sockets": [{"proto": "tcp", "addr": "127.0.0.1", "port": 8443}]}).to_string();
    // listen.py holds its sockets until its stdin closes.
    let script = format!(
        "while [ ! -e {} ]; do sleep 0.05; done; sleep 600 | python3 {} '{spec}'",
        gate.display(),
        listen_py()
    );
    let command = format!(
        "{} exec --isolate --settle 3s --json {} -- sh -c \"{}\"",
        env!("CARGO_BIN_EXE_portcullis"),
        report.display(),
        script.replace('"', "\\\"")
    );
    let mut terminal = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("PORTCULLIS_CACHE_DIR", "off")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut shown = Vec::new();
    let mut pty = terminal.stdout.take().unwrap();
    let mut chunk = [0u8; 4096];
    while !String::from_utf8_lossy(&shown).contains("portcullis: settling: ") {
        let n = pty.read(&mut chunk).unwrap();
        assert!(
            n > 0,
            "no re-scan was shown: {}",
            String::from_utf8_lossy(&shown)
        );
        shown.extend_from_slice(&chunk[..n]);
    }
    std::fs::write(&gate, "").unwrap();
    pty.read_to_end(&mut shown).unwrap();
    let status = terminal.wait().unwrap();
    assert!(status.success(), "{}", String::from_utf8_lossy(&shown));
    let report: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(report["run"]["exit_code"], 0, "{report}");
    let ports: Vec<u64> = report["inventory"]["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["port"].as_u64().unwrap())
        .collect();
    assert_eq!(ports, [8443]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn listeners_that_never_settle_hit_the_timeout_as_a_gap() {
    require_root();
    let dir = scratch("flap");
    let program = python(
        &dir.join("pid"),
        "keep = []\nwhile True:\n    s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); keep.append(s); time.sleep(0.2)",
    );
    let out = exec(&[
        "--isolate",
        "--settle",
        "1s",
        "--timeout",
        "2s",
        "--format",
        "json",
        "--",
        "python3",
        "-c",
        &program,
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<&str> = report["inventory"]["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["settle_timeout"]);
    assert!(
        stderr(&out).contains("still changing after 2s"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_command_that_ignores_sigterm_is_killed_after_the_grace_period() {
    require_root();
    let dir = scratch("term");
    let pidfile = dir.join("pid");
    let program = python(
        &pidfile,
        "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n\
         s = socket.socket(); s.bind(('127.0.0.1', 9000)); s.listen()\ntime.sleep(600)",
    );
    let out = exec(&[
        "--isolate",
        "--settle",
        "2s",
        "--grace",
        "300ms",
        "--format",
        "json",
        "--",
        "python3",
        "-c",
        &program,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Port 9000 is bound after SIGTERM is ignored: seeing it proves the
    // stop below met a process that ignores SIGTERM.
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["inventory"]["listeners"][0]["port"], 9000,
        "{}",
        report["inventory"]
    );
    let pid: i64 = std::fs::read_to_string(&pidfile).unwrap().parse().unwrap();
    assert!(!alive(pid), "SIGKILL after the grace period");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn exec_usage_errors() {
    let out = exec(&["--timeout", "1s", "--", "true"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--timeout"), "{}", stderr(&out));
    let out = exec(&["--", "/nonexistent/entrypoint"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot start /nonexistent/entrypoint"),
        "{}",
        stderr(&out)
    );
}

/// A settle wait draws its progress (what changed, time left) on a
/// terminal (`script` gives it one), and nothing in a pipe or with
/// `--format summary`.
#[test]
fn settle_progress_shows_on_a_terminal_only() {
    require_root();
    let spec =
        json!({"sockets": [{"proto": "tcp", "addr": "127.0.0.1", "port": 8444}]}).to_string();
    // Every re-scan of the settle wait draws the line, listener or not.
    let script = format!("sleep 600 | python3 {} '{spec}'", listen_py());
    let command = |format: &str| {
        format!(
            "{} exec --isolate --settle 2s --format {format} -- sh -c \"{}\"",
            env!("CARGO_BIN_EXE_portcullis"),
            script.replace('"', "\\\"")
        )
    };
    let on_terminal = |format: &str| {
        let out = Command::new("script")
            .args(["-qec", &command(format), "/dev/null"])
            .env("PORTCULLIS_CACHE_DIR", "off")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let shown = on_terminal("table");
    assert!(shown.contains("portcullis: settling: "), "{shown}");
    assert!(shown.contains("s left"), "{shown}");
    let summary = on_terminal("summary");
    assert!(!summary.contains("settling"), "{summary}");
    let piped = Command::new("sh")
        .args(["-c", &command("table")])
        .env("PORTCULLIS_CACHE_DIR", "off")
        .output()
        .unwrap();
    assert!(!stderr(&piped).contains("settling"), "{}", stderr(&piped));
}
