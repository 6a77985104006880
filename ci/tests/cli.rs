//! CLI behaviour as data: every `testdata/cmd/<case>.toml` names the
//! arguments, the exit status, and text stdout and stderr must contain. A
//! `<case>.policy.toml` beside it is the policy the case may refer to as
//! `{policy}`; `{testdata}` is the testdata folder.

// A test sets up the host it checks: files, processes, namespaces.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::path::Path;
use std::process::Command;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    args: Vec<String>,
    status: i32,
    #[serde(default)]
    stdout: Vec<String>,
    #[serde(default)]
    stderr: Vec<String>,
    #[serde(default)]
    stdout_lacks: Vec<String>,
}

#[test]
fn every_cli_case() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/cmd");
    let testdata = dir.parent().unwrap().display().to_string();
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension() == Some("toml".as_ref()) && !p.to_string_lossy().ends_with(".policy.toml")
        })
        .collect();
    cases.sort();
    assert!(cases.len() >= 10, "the cases are there");
    let mut failures = Vec::new();
    for path in &cases {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let case: Case = toml::from_str(&std::fs::read_to_string(path).unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let policy = dir
            .join(format!("{name}.policy.toml"))
            .display()
            .to_string();
        let args: Vec<String> = case
            .args
            .iter()
            .map(|a| {
                a.replace("{testdata}", &testdata)
                    .replace("{policy}", &policy)
            })
            .collect();
        let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(&args)
            .env("PORTCULLIS_CACHE_DIR", "off")
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        let mut problems = Vec::new();
        if out.status.code() != Some(case.status) {
            problems.push(format!(
                "exit {:?}, expected {}",
                out.status.code(),
                case.status
            ));
        }
        for want in &case.stdout {
            if !stdout.contains(&want.replace("{policy}", &policy)) {
                problems.push(format!("stdout lacks {want:?}"));
            }
        }
        for want in &case.stderr {
            if !stderr.contains(&want.replace("{policy}", &policy)) {
                problems.push(format!("stderr lacks {want:?}"));
            }
        }
        for unwanted in &case.stdout_lacks {
            if stdout.contains(unwanted.as_str()) {
                problems.push(format!("stdout has {unwanted:?}"));
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{name}: {}\n--- stdout\n{stdout}--- stderr\n{stderr}",
                problems.join("; ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
