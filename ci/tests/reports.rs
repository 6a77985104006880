//! Root-only: reports of real scans, checked by the real validators
//! (installed by ci/test.sh: xmllint from libxml2-utils; check-jsonschema,
//! rfc3987 and junitparser in ci/.cache/venv), and the exit-code contract.
//! A missing validator fails the test; nothing here skips.

// A test sets up the host it checks: files, processes, namespaces.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use support::validate::*;
use support::*;

fn path_str(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

/// `portcullis ARGS --junit/--sarif/--json` into `dir`.
fn scan_with_reports(dir: &Path, args: &[&str]) -> Output {
    let mut full: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    for (flag, name) in [
        ("--junit", "r.xml"),
        ("--sarif", "r.sarif"),
        ("--json", "r.json"),
    ] {
        full.push(flag.into());
        full.push(path_str(dir, name));
    }
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(&full)
        .env("PORTCULLIS_CACHE_DIR", "off")
        .output()
        .unwrap()
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

#[test]
fn reports_of_a_real_scan_with_hostile_processes_pass_the_validators() {
    require_root();
    let ns = NamedNetns::new(&unique("rep"));
    let odd_arg = OsString::from_vec(b"--title=\x1b]0;pwn\x07\n<b>&amp;]]>\xff\x01".to_vec());
    // comm: "evil\n<&]]>\xff" in hex.
    let hostile = Helper::spawn_with_args(
        &["ip", "netns", "exec", &ns.name],
        json!({"comm": "6576696c0a3c265d5d3eff", "sockets": [
            {"proto": "tcp", "addr": "0.0.0.0"},
            {"proto": "udp", "addr": "127.0.0.1"},
        ]}),
        &[odd_arg],
    );
    let dir = scratch("rep");
    // A plugin whose messages hold what XML forbids, beside the built-ins.
    let policy = path_str(&dir, "policy.toml");
    std::fs::write(
        &policy,
        "[plugins.hostile]\nconfig = { mode = \"hostile-text\" }\n",
    )
    .unwrap();
    let hostile_plugin = Path::new(env!("PORTCULLIS_TEST_PLUGINS")).join("hostile.wasm");
    let out = scan_with_reports(
        &dir,
        &[
            "scan",
            "--netns",
            &ns.name,
            "--category",
            "images/test",
            "--color",
            "always",
            "--policy",
            &policy,
            "--plugin",
            hostile_plugin.to_str().unwrap(),
        ],
    );
    assert_eq!(
        code(&out),
        Some(1),
        "a wildcard bind fails: {}",
        stderr(&out)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("\x1b[1;31mFAIL"), "--color always: {table}");

    let sarif = validate_sarif(&dir.join("r.sarif"));
    let run = &sarif["runs"][0];
    assert_eq!(run["automationDetails"]["id"], "portcullis/images/test/");
    assert_eq!(run["invocations"][0]["executionSuccessful"], true);
    let port = hostile.port(0);
    let wildcard = run["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ruleId"] == "wildcard-bind" && r["properties"]["port"] == port)
        .expect("the wildcard bind is a result");
    assert_eq!(
        wildcard["properties"]["holders"][0]["comm"], "evil\\x0a<&]]>\\xff",
        "names are kept, escaped"
    );
    assert_eq!(
        wildcard["properties"]["netns"],
        format!("netns:{}", ns.name)
    );

    let cases = validate_junit(&dir.join("r.xml"));
    assert!(cases >= 2, "{cases}");
    let xml = std::fs::read_to_string(dir.join("r.xml")).unwrap();
    assert!(
        xml.contains(&format!(
            "name=\"netns:{} tcp 0.0.0.0:{port} evil\\x0a&lt;&amp;]]&gt;\\xff\"",
            ns.name
        )),
        "{xml}"
    );
    assert!(xml.contains("--title=\\x1b]0;pwn\\x07\\x0a&lt;b&gt;&amp;amp;]]&gt;\\xff\\x01"));
    assert!(
        xml.contains("nul\\x00 bell\\x07 esc\\x1b[2J &lt;b&gt;&amp;amp; ]]&gt; \\ufffe\\uffff"),
        "a plugin's forbidden characters are spelled out: {xml}"
    );

    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.join("r.json")).unwrap()).unwrap();
    assert_eq!(report["run"]["exit_code"], 1);
    assert_eq!(
        rows_of(&report["inventory"], ns.inode()),
        ss(Some(&ns.path())).unwrap(),
        "the JSON report's inventory is what ss sees"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// One namespace whose only listener is `addr`, scanned with `extra` args.
fn scan_one(addr: &str, tag: &str, extra: &[&str]) -> (Output, PathBuf) {
    let ns = NamedNetns::new(&unique(tag));
    let _helper = Helper::spawn(
        &["ip", "netns", "exec", &ns.name],
        json!({"sockets": [{"proto": "tcp", "addr": addr}]}),
    );
    let dir = scratch(tag);
    let mut args = vec!["scan", "--netns", &ns.name];
    args.extend(extra);
    (scan_with_reports(&dir, &args), dir)
}

#[test]
fn exit_code_matrix() {
    require_root();
    let policies = scratch("policies");
    let warn_policy = path_str(&policies, "warn.toml");
    std::fs::write(&warn_policy, "[rules.wildcard-bind]\nlevel = \"warning\"\n").unwrap();
    let bad_policy = path_str(&policies, "bad.toml");
    std::fs::write(
        &bad_policy,
        "[rules.wildcard-bind]\nlevel = \"warning\"\nlevle = 1\n",
    )
    .unwrap();

    let (out, dir) = scan_one("127.0.0.1", "clean", &[]);
    assert_eq!(code(&out), Some(0), "clean namespace: {}", stderr(&out));
    assert_eq!(
        validate_sarif(&dir.join("r.sarif"))["runs"][0]["results"],
        json!([])
    );
    validate_junit(&dir.join("r.xml"));

    let (out, _) = scan_one("0.0.0.0", "warn", &["--policy", &warn_policy]);
    assert_eq!(
        code(&out),
        Some(0),
        "only warnings, --fail-on error: {}",
        stderr(&out)
    );
    let (out, _) = scan_one(
        "0.0.0.0",
        "warnw",
        &["--policy", &warn_policy, "--fail-on", "warning"],
    );
    assert_eq!(code(&out), Some(1), "warnings with --fail-on warning");
    let (out, _) = scan_one("0.0.0.0", "err", &[]);
    assert_eq!(code(&out), Some(1), "an error finding: {}", stderr(&out));
    let (out, dir) = scan_one("0.0.0.0", "never", &["--fail-on", "never"]);
    assert_eq!(code(&out), Some(0), "--fail-on never");
    let sarif = validate_sarif(&dir.join("r.sarif"));
    assert_eq!(
        sarif["runs"][0]["results"][0]["ruleId"], "wildcard-bind",
        "still reported"
    );

    let (out, dir) = scan_one("0.0.0.0", "bad", &["--policy", &bad_policy]);
    assert_eq!(code(&out), Some(2), "malformed policy");
    assert!(
        stderr(&out).contains(&format!("{bad_policy}:3:1")),
        "{}",
        stderr(&out)
    );
    let sarif = validate_sarif(&dir.join("r.sarif"));
    let run = &sarif["runs"][0];
    assert_eq!(run["invocations"][0]["executionSuccessful"], false);
    assert!(
        run["results"][0]["message"]["text"]
            .as_str()
            .unwrap()
            .contains(":3:1")
    );
    validate_junit(&dir.join("r.xml"));
    std::fs::remove_dir_all(&policies).unwrap();
}

#[test]
fn an_unreadable_namespace_exits_3_and_every_report_says_so() {
    require_root();
    let ns = NamedNetns::new(&unique("unrd"));
    let _helper = Helper::spawn(
        &["ip", "netns", "exec", &ns.name],
        json!({"sockets": [{"proto": "tcp", "addr": "127.0.0.1"}]}),
    );
    let dir = scratch("unrd");
    // nobody must be able to write the reports.
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let as_nobody = |extra: &[&str]| {
        let bin = env!("CARGO_BIN_EXE_portcullis");
        let (junit, sarif) = (path_str(&dir, "r.xml"), path_str(&dir, "r.sarif"));
        let mut args = vec![
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            bin,
            "scan",
            "--netns",
            &ns.name,
            "--junit",
            &junit,
            "--sarif",
            &sarif,
        ];
        args.extend(extra);
        Command::new("setpriv")
            .args(&args)
            .env("PORTCULLIS_CACHE_DIR", "off")
            .output()
            .unwrap()
    };
    let out = as_nobody(&[]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    let sarif = validate_sarif(&dir.join("r.sarif"));
    let run = &sarif["runs"][0];
    assert_eq!(run["invocations"][0]["executionSuccessful"], false);
    let notes = run["invocations"][0]["toolExecutionNotifications"]
        .as_array()
        .unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n["descriptor"]["id"] == "gap/netns_not_enterable"),
        "{notes:?}"
    );
    assert!(
        run["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["ruleId"] == "incomplete-scan"),
        "code scanning shows the gap, not a clean page"
    );
    validate_junit(&dir.join("r.xml"));
    let xml = std::fs::read_to_string(dir.join("r.xml")).unwrap();
    assert!(xml.contains("<error type=\"netns_not_enterable\""), "{xml}");

    let out = as_nobody(&["--allow-partial"]);
    assert_eq!(code(&out), Some(0), "--allow-partial: {}", stderr(&out));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unusable_report_paths_exit_2_and_the_other_reports_are_still_written() {
    require_root();
    let dir = scratch("paths");
    let good = path_str(&dir, "good.sarif");
    for bad in [
        "/nonexistent-portcullis-dir/r.xml",
        "/proc/portcullis-report.xml",
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(["check", "--inventory"])
            .arg(repo().join("testdata/inventory/seed-complete.json"))
            .args(["--junit", bad, "--sarif", &good])
            .env("PORTCULLIS_CACHE_DIR", "off")
            .output()
            .unwrap();
        assert_eq!(code(&out), Some(2), "{bad}: {}", stderr(&out));
        assert!(stderr(&out).contains(bad), "{}", stderr(&out));
        assert!(!Path::new(bad).exists());
        validate_sarif(Path::new(&good));
        std::fs::remove_file(&good).unwrap();
    }
    let leftovers: BTreeSet<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        leftovers.is_empty(),
        "no temporary files left: {leftovers:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A report that cannot be written when it is written (here: its
/// filesystem is full) fails the run, and the reports that were written say
/// so; the file an earlier run left at that path is removed, so an upload
/// `if: always()` cannot publish it as this run's.
#[test]
fn a_report_that_fails_to_write_is_recorded_and_its_stale_file_removed() {
    require_root();
    let dir = scratch("full");
    let full = dir.join("full");
    std::fs::create_dir(&full).unwrap();
    let (json_path, sarif_path) = (path_str(&dir, "r.json"), path_str(&dir, "r.sarif"));
    let stale = full.join("r.xml");
    // In a mount namespace of its own: a 1 MiB tmpfs holding last run's
    // report, then filled to the last block.
    let script = format!(
        "mount -t tmpfs -o size=1m tmpfs {full} && echo '<testsuites>stale</testsuites>' > {stale} \
         && (dd if=/dev/zero of={full}/filler bs=4k 2>/dev/null; true) \
         && {bin} check --inventory {inv} --policy {policy} --junit {stale} --json {json} --sarif {sarif}; \
         echo \"exit=$?\"; ls {full}",
        full = full.display(),
        stale = stale.display(),
        bin = env!("CARGO_BIN_EXE_portcullis"),
        inv = repo()
            .join("testdata/inventory/seed-complete.json")
            .display(),
        policy = repo().join("testdata/empty-policy.toml").display(),
        json = json_path,
        sarif = sarif_path,
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .env("PORTCULLIS_CACHE_DIR", "off")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("exit=2"), "{said}\n{}", stderr(&out));
    assert!(
        !said.lines().any(|l| l == "r.xml"),
        "the stale report is gone: {said}"
    );
    assert!(
        stderr(&out).contains(&format!("{}: cannot write the report", stale.display())),
        "{}",
        stderr(&out)
    );
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(json["run"]["exit_code"], 2);
    assert_eq!(json["run"]["complete"], false);
    assert!(
        json["run"]["errors"][0]
            .as_str()
            .unwrap()
            .contains("cannot write the report"),
        "{}",
        json["run"]
    );
    let sarif = validate_sarif(Path::new(&sarif_path));
    let runs = sarif["runs"].as_array().unwrap();
    assert_eq!(
        runs.len(),
        1,
        "only the coverage run: the findings are withheld"
    );
    assert_eq!(runs[0]["invocations"][0]["executionSuccessful"], false);
    assert_eq!(runs[0]["invocations"][0]["exitCode"], 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Any user can bind a wildcard port with 7 holders of ~1.9 MB command
/// lines each. The JUnit and SARIF repeat a bounded part of each, marked as
/// cut, so libxml2 readers (xmllint without --huge, junitparser) take
/// them; the JSON report keeps every byte.
#[test]
fn huge_command_lines_are_cut_in_reports_and_whole_in_json() {
    require_root();
    let ns = NamedNetns::new(&unique("argv"));
    // 15 arguments of 127 KiB: the kernel caps one argument at 128 KiB.
    let arg = OsString::from("A".repeat(127 << 10));
    let extra = vec![arg; 15];
    let _helper = Helper::spawn_with_args(
        &["ip", "netns", "exec", &ns.name],
        json!({"forks": 6, "sockets": [{"proto": "tcp", "addr": "0.0.0.0"}]}),
        &extra,
    );
    let dir = scratch("argv");
    let out = scan_with_reports(&dir, &["scan", "--netns", &ns.name]);
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    let junit = dir.join("r.xml");
    validate_junit(&junit);
    let plain = run_tool("xmllint", &["--noout", junit.to_str().unwrap()]);
    assert!(plain.status.success(), "xmllint without --huge: {plain:?}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.len() < 1 << 20,
        "the JUnit stays small: {} bytes",
        xml.len()
    );
    assert!(
        xml.contains("bytes of further arguments]"),
        "the cut is marked"
    );
    let sarif = validate_sarif(&dir.join("r.sarif"));
    assert!(std::fs::metadata(dir.join("r.sarif")).unwrap().len() < 1 << 20);
    let result = &sarif["runs"][0]["results"][0];
    assert_eq!(result["properties"]["holderCount"], 7);
    let json: Value = serde_json::from_slice(&std::fs::read(dir.join("r.json")).unwrap()).unwrap();
    let holders = json["inventory"]["listeners"][0]["holders"]
        .as_array()
        .unwrap();
    assert_eq!(holders.len(), 7);
    for h in holders {
        let bytes: usize = h["cmdline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().len())
            .sum();
        assert!(
            bytes > 15 * (127 << 10),
            "the JSON keeps the whole command line"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The validators are not rubber stamps: each rejects what GitHub or a JUnit
/// consumer would.
#[test]
fn validators_reject_broken_reports() {
    let dir = scratch("broken");
    let sarif = dir.join("broken.sarif");
    std::fs::write(
        &sarif,
        json!({"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}},
            "results": [{"level": "critical", "message": {"text": "m"},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": "no file here"}}}]}]}]})
        .to_string(),
    )
    .unwrap();
    let schema = schemas().join("sarif-schema-2.1.0.json");
    let out = run_tool(
        venv_bin().join("check-jsonschema"),
        &[
            "--schemafile",
            schema.to_str().unwrap(),
            sarif.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("critical") && text.contains("uri-reference"),
        "{text}"
    );

    let junit = dir.join("broken.xml");
    std::fs::write(
        &junit,
        "<testsuites><testsuite name=\"s\" tests=\"1\" failures=\"0\" errors=\"0\">\
         <testcase name=\"a\x01\"/></testsuite></testsuites>",
    )
    .unwrap();
    let xsd = schemas().join("junit-10.xsd");
    let out = run_tool(
        "xmllint",
        &[
            "--noout",
            "--schema",
            xsd.to_str().unwrap(),
            junit.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success(), "a control character is not XML");
    std::fs::write(
        &junit,
        "<testsuites><testsuite name=\"s\" tests=\"2\" failures=\"0\" errors=\"0\">\
         <testcase classname=\"c\" name=\"a\"/><testcase classname=\"c\" name=\"a\"/>\
         </testsuite></testsuites>",
    )
    .unwrap();
    let out = run_tool(
        venv_bin().join("python"),
        &["-c", JUNIT_CASES, junit.to_str().unwrap()],
    );
    assert!(!out.status.success(), "duplicate testcases are caught");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Colour on a terminal (`script` gives the command one), none when
/// NO_COLOR is set or stdout is a pipe.
#[test]
fn the_table_is_coloured_only_on_a_terminal_without_no_color() {
    let fixture = repo().join("testdata/inventory/seed-complete.json");
    let command = format!(
        "{} check --inventory {}",
        env!("CARGO_BIN_EXE_portcullis"),
        fixture.display()
    );
    let on_terminal = |no_color: Option<&str>| {
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &command, "/dev/null"])
            .env("PORTCULLIS_CACHE_DIR", "off")
            .env_remove("NO_COLOR");
        if let Some(v) = no_color {
            cmd.env("NO_COLOR", v);
        }
        String::from_utf8_lossy(&cmd.output().unwrap().stdout).into_owned()
    };
    assert!(on_terminal(None).contains("\x1b[1;31mFAIL"));
    assert!(!on_terminal(Some("1")).contains('\x1b'));
    assert!(
        on_terminal(Some("")).contains("\x1b[1;31mFAIL"),
        "an empty NO_COLOR is unset"
    );
    let piped = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["check", "--inventory", fixture.to_str().unwrap()])
        .env("PORTCULLIS_CACHE_DIR", "off")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&piped.stdout).contains('\x1b'));
}
