//! Fleet-scale inventories through `check --inventory` under the default
//! limits, with the release binary (ci/build-static.sh builds it before the
//! tests). The inventories are generated here by
//! ci/support/fleet_inventory.py, never committed (the largest is ~450 MB).
//!
//! - 50,000 listeners × 4 holders × 2 KiB command lines: every built-in
//!   judges it, no limit raised (command lines never reach a plugin that
//!   does not ask for them);
//! - 100,000 listeners: over 300,000 verdicts, no limit raised;
//! - and the same outcome, to the byte of every SARIF result, with both
//!   cores saturated: fuel and memory decide, not the machine's load.

// A test sets up the host it checks: files, processes, namespaces.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use support::validate::repo;
use support::{scratch, static_binary};

/// One test at a time: the "idle" run must not share the machine with
/// the other test's.
static ALONE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn generate(dir: &Path, listeners: u32, holders: u32, cmdline: u32) -> PathBuf {
    let path = dir.join(format!("fleet-{listeners}x{holders}x{cmdline}.json"));
    let file = std::fs::File::create(&path).unwrap();
    let status = Command::new("python3")
        .arg(repo().join("ci/support/fleet_inventory.py"))
        .args([listeners, holders, cmdline].map(|n| n.to_string()))
        .stdout(file)
        .status()
        .unwrap();
    assert!(status.success());
    path
}

/// What a run decided: its exit code, its summary line, and its SARIF
/// results (everything but the run's timestamps).
#[derive(Debug, PartialEq)]
struct Outcome {
    code: i32,
    summary: String,
    results: Vec<Value>,
}

fn check(inventory: &Path, dir: &Path, tag: &str) -> Outcome {
    let sarif = dir.join(format!("{tag}.sarif"));
    let out = Command::new(static_binary())
        .args(["check", "--format", "summary", "--inventory"])
        .arg(inventory)
        .arg("--sarif")
        .arg(&sarif)
        .env("PORTCULLIS_CACHE_DIR", "off")
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&std::fs::read(&sarif).unwrap()).unwrap();
    let results = doc["runs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["results"].as_array().unwrap().clone())
        .collect();
    Outcome {
        code: out.status.code().unwrap(),
        summary: String::from_utf8(out.stdout).unwrap().trim().to_owned(),
        results,
    }
}

/// The verdict counts a summary line gives: (failed, passed).
fn counts(summary: &str) -> (u64, u64) {
    let number = |word: &str| -> u64 {
        let at = summary.find(&format!(" {word}")).unwrap();
        summary[..at].rsplit(' ').next().unwrap().parse().unwrap()
    };
    (number("failed"), number("passed"))
}

/// Busy loops on every core while alive.
struct Load(Vec<Child>);

impl Load {
    fn saturate() -> Load {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Load(
            (0..cores)
                .map(|_| {
                    Command::new("sh")
                        .args(["-c", "while :; do :; done"])
                        .stdin(Stdio::null())
                        .spawn()
                        .unwrap()
                })
                .collect(),
        )
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn every_builtin_judges_50k_listeners_with_4_holders_and_2k_command_lines() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("scale-50k");
    let inventory = generate(&dir, 50_000, 4, 2048);
    let outcome = check(&inventory, &dir, "50k");
    // Findings (a quarter of the listeners are wildcards), and no plugin
    // failure: a failed plugin would make it INCOMPLETE, exit 3.
    assert_eq!(outcome.code, 1, "{}", outcome.summary);
    assert!(
        !outcome.summary.contains("INCOMPLETE"),
        "{}",
        outcome.summary
    );
    let (failed, passed) = counts(&outcome.summary);
    assert!(failed >= 12_500 && passed >= 100_000, "{}", outcome.summary);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_verdicts_are_the_same_on_an_idle_and_a_saturated_machine() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("scale-100k");
    let inventory = generate(&dir, 100_000, 1, 64);
    let idle = check(&inventory, &dir, "idle");
    assert_eq!(idle.code, 1, "{}", idle.summary);
    assert!(!idle.summary.contains("INCOMPLETE"), "{}", idle.summary);
    let (failed, passed) = counts(&idle.summary);
    assert!(failed + passed >= 300_000, "{}", idle.summary);
    let busy = {
        let _load = Load::saturate();
        check(&inventory, &dir, "busy")
    };
    assert!(
        idle == busy,
        "the machine's load changed the outcome:\nidle: {}\nbusy: {}",
        idle.summary,
        busy.summary
    );
    std::fs::remove_dir_all(dir).unwrap();
}
