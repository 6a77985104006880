//! CLI behaviour as data: every `testdata/cmd/<case>.toml` names the
//! arguments and the exit status of one run from `testdata/cmd`;
//! `<case>.stdout` and `<case>.stderr` beside it are its exact output
//! (`[..]` matches anything within a line). The policies the cases use
//! are in `testdata/cmd/policies/`.
//!
//! After a deliberate change in output, bless the snapshots with
//! `SNAPSHOTS=overwrite cargo test --test cli` and review the diff.

// A test sets up the host it checks: files, processes, namespaces.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::path::Path;
use std::process::Command;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    args: Vec<String>,
    status: i32,
}

/// The output with what changes from run to run named instead: the
/// binary's path (`[BIN]`) and times (`2026-12-01T10:00:00`, with or
/// without `Z`: `[TIME]`).
fn stable(text: &str) -> String {
    let text = text.replace(env!("CARGO_BIN_EXE_portcullis"), "[BIN]");
    let shape = b"dddd-dd-ddTdd:dd:dd";
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let is_time = bytes.len() - i >= shape.len()
            && shape.iter().zip(&bytes[i..]).all(|(&want, &b)| match want {
                b'd' => b.is_ascii_digit(),
                other => other == b,
            });
        if is_time {
            out.push_str("[TIME]");
            i += shape.len();
            if bytes.get(i) == Some(&b'Z') {
                i += 1;
            }
        } else {
            let c = text[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

#[test]
fn every_cli_case() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/cmd");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension() == Some("toml".as_ref()))
        .collect();
    cases.sort();
    assert!(cases.len() >= 30, "the cases are there: {}", cases.len());
    let assert = snapbox::Assert::new()
        .action_env("SNAPSHOTS")
        .normalize_paths(false);
    for path in &cases {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let case: Case = toml::from_str(&std::fs::read_to_string(path).unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(&case.args)
            .current_dir(&dir)
            .env("PORTCULLIS_CACHE_DIR", "off")
            .env_remove("PORTCULLIS_OWN_PID_NAMESPACE")
            .output()
            .unwrap();
        for (stream, actual) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            let expected = path.with_extension(stream);
            assert!(expected.exists(), "{name}: no {}", expected.display());
            assert.eq(
                snapbox::Data::text(stable(&String::from_utf8_lossy(actual))),
                snapbox::Data::read_from(&expected, None),
            );
        }
        assert_eq!(
            out.status.code(),
            Some(case.status),
            "{name}: exit status\n--- stderr\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Metrics with the run's own time and duration named (`[VALUE]`).
fn stable_metrics(text: &str) -> String {
    text.lines()
        .map(|line| {
            let timed = [
                "portcullis_last_run_timestamp_seconds ",
                "portcullis_run_duration_seconds ",
            ];
            match timed.iter().find(|t| line.starts_with(*t)) {
                Some(t) => format!("{t}[VALUE]\n"),
                None => format!("{line}\n"),
            }
        })
        .collect()
}

/// The four report files of the seed fixture, as exact snapshots in
/// `testdata/reports/` (bless as above): a change in any report is seen
/// in review, field by field.
#[test]
fn seed_reports() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::env::temp_dir().join(format!("pc-seed-reports-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .current_dir(repo.join("testdata/cmd"))
        .args(["check", "--inventory", "../inventory/seed-complete.json"])
        .args([
            "--policy",
            "policies/check-allowlist.toml",
            "--format",
            "summary",
        ])
        .arg("--json")
        .arg(out.join("seed.json"))
        .arg("--junit")
        .arg(out.join("seed.junit.xml"))
        .arg("--sarif")
        .arg(out.join("seed.sarif"))
        .arg("--metrics")
        .arg(out.join("seed.prom"))
        .env("PORTCULLIS_CACHE_DIR", "off")
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1), "the seed fails the gate");
    let assert = snapbox::Assert::new()
        .action_env("SNAPSHOTS")
        .normalize_paths(false);
    for name in ["seed.json", "seed.junit.xml", "seed.sarif", "seed.prom"] {
        let written = std::fs::read_to_string(out.join(name)).unwrap();
        let written = stable(&written).replace(&out.display().to_string(), "[OUT]");
        let written = stable_metrics(&written);
        assert.eq(
            snapbox::Data::text(written),
            snapbox::Data::read_from(&repo.join("testdata/reports").join(name), None),
        );
    }
    std::fs::remove_dir_all(&out).unwrap();
}
