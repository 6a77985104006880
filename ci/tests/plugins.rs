//! Hostile and broken plugins against the real binary: each is stopped by
//! its limit or refused at load, with a message naming it, while the
//! built-in plugin's verdicts stay intact.

// A test sets up the host it checks: files, processes, namespaces.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/testdata/inventory/seed-complete.json"
);

fn plugin(name: &str) -> PathBuf {
    Path::new(env!("PORTCULLIS_TEST_PLUGINS")).join(format!("{name}.wasm"))
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("portcullis-plugins-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn check(policy: &str, plugins: &[PathBuf], tag: &str) -> Output {
    let policy_path = temp(&format!("{tag}.toml"));
    std::fs::write(&policy_path, policy).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    cmd.args(["check", "--inventory", FIXTURE, "--policy"])
        .arg(&policy_path)
        .env("PORTCULLIS_CACHE_DIR", "off");
    for p in plugins {
        cmd.arg("--plugin").arg(p);
    }
    cmd.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs the hostile plugin in `mode` with extra limits; returns (exit, stdout, stderr).
fn hostile(mode: &str, limits: &str) -> (i32, String, String) {
    let policy =
        format!("[plugins.hostile]\nconfig = {{ mode = \"{mode}\" }}\nlimits = {{ {limits} }}\n");
    let out = check(&policy, &[plugin("hostile")], mode);
    (
        out.status.code().unwrap(),
        text(&out.stdout),
        text(&out.stderr),
    )
}

/// The built-in plugin still judged the fixture: apache's `*:80` fails.
fn builtins_intact(stdout: &str) {
    assert!(
        stdout.contains("FAIL error   wildcard-bind          tcp *:80 apache2(822)"),
        "{stdout}"
    );
    assert!(stdout.contains("; INCOMPLETE"), "{stdout}");
}

fn assert_stopped(mode: &str, limits: &str, expect: &str) {
    let started = std::time::Instant::now();
    let (code, stdout, stderr) = hostile(mode, limits);
    assert_eq!(
        code, 3,
        "{mode}: a plugin failure is a coverage gap\n{stderr}"
    );
    assert!(
        stderr.contains("plugin hostile"),
        "{mode}: names the plugin\n{stderr}"
    );
    assert!(
        stderr.contains(expect),
        "{mode}: says what happened ({expect})\n{stderr}"
    );
    assert!(
        stdout.contains(expect),
        "{mode}: the report says it too\n{stdout}"
    );
    builtins_intact(&stdout);
    // Not a timing assertion on speed: a bound far above the limit, so a
    // limit that fails to stop the plugin cannot pass by waiting.
    assert!(started.elapsed().as_secs() < 60, "{mode} was not stopped");
}

#[test]
fn infinite_loop_hits_the_time_limit() {
    assert_stopped(
        "loop",
        "timeout_ms = 300, fuel = 1000000000000000",
        "was stopped by the wall-clock backstop of 300ms",
    );
}

#[test]
fn rereading_the_inventory_is_bounded_by_count_not_time() {
    assert_stopped(
        "reread",
        "timeout_ms = 600000",
        "read the inventory's lists more than 64 times in one evaluation",
    );
}

#[test]
fn infinite_loop_hits_the_fuel_limit() {
    assert_stopped(
        "loop",
        "fuel = 5000000, timeout_ms = 60000",
        "ran out of fuel (budget 5000000)",
    );
}

#[test]
fn memory_bomb_hits_the_memory_limit() {
    assert_stopped(
        "memory",
        "memory_mib = 16",
        "exceeded its memory limit of 16 MiB",
    );
}

#[test]
fn trap_and_panic_are_reported() {
    assert_stopped("trap", "", "trapped: unreachable code reached");
    assert_stopped("panic", "", "trapped: unreachable code reached");
}

/// 64 MiB of text against `result_mib = 1`: refused while it is copied out
/// of the plugin (wasmtime's hostcall fuel), before the host holds it.
#[test]
fn oversized_result_is_refused() {
    assert_stopped(
        "oversized",
        "result_mib = 1, memory_mib = 512",
        "too much data is being copied between the host and the guest",
    );
}

/// Ten million passes for an inventory of eleven listeners: refused at the
/// copy (the budget grows with the inventory, not with what the plugin
/// claims), never turned into ten million verdicts.
#[test]
fn a_flood_of_passes_is_refused_while_copied() {
    assert_stopped(
        "pass-flood",
        "",
        "too much data is being copied between the host and the guest",
    );
}

#[test]
fn a_listener_judged_twice_for_one_rule_is_refused() {
    assert_stopped(
        "duplicate-pass",
        "",
        "judged listener 0 twice for rule `hostile-rule`",
    );
}

#[test]
fn verdicts_about_unknown_rules_or_listeners_are_refused() {
    assert_stopped(
        "unknown-rule",
        "",
        "returned a verdict for rule `no-such-rule`, which it does not declare",
    );
    assert_stopped("unknown-listener", "", "referred to listener 4294967295");
}

#[test]
fn a_reported_plugin_error_is_a_failure_too() {
    assert_stopped(
        "error",
        "",
        "reported an error: hostile plugin reports an error",
    );
}

#[test]
fn log_floods_are_bounded_and_not_a_failure() {
    let (code, stdout, stderr) = hostile("log-flood", "log_lines = 50");
    assert_eq!(code, 1, "only the built-in's violation counts\n{stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("portcullis: plugin hostile"))
        .collect();
    assert_eq!(lines.len(), 51, "50 lines and one drop notice");
    assert!(
        lines
            .last()
            .unwrap()
            .contains("99950 further log lines dropped"),
        "{}",
        lines.last().unwrap()
    );
    assert!(lines[0].len() < 1200, "a line is cut to about 1 KiB");
    assert!(!stdout.contains("INCOMPLETE"));
}

#[test]
fn a_well_behaved_external_plugin_judges_alongside_the_builtins() {
    let policy = temp("ok.toml");
    std::fs::write(&policy, "[plugins.hostile]\nconfig = { mode = \"ok\" }\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args([
            "check",
            "--format",
            "json",
            "--inventory",
            FIXTURE,
            "--policy",
        ])
        .arg(&policy)
        .arg("--plugin")
        .arg(plugin("hostile"))
        .env("PORTCULLIS_CACHE_DIR", "off")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "the built-in's violations: {}",
        text(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let listeners = report["inventory"]["listeners"].as_array().unwrap().len();
    let verdicts = report["evaluation"]["verdicts"].as_array().unwrap();
    // Rules that judge every listener (the firewall ones judge loopback
    // listeners and published ports only, and unfiltered-exposure does not
    // apply to this inventory, which carries no reachability).
    let every = |v: &&serde_json::Value| {
        ![
            "unfiltered-exposure",
            "firewall-bypass-by-dnat",
            "published-without-listener",
            "loopback-reachable",
        ]
        .iter()
        .any(|r| v["rule"] == *r)
    };
    let by = |plugin: &str| {
        verdicts
            .iter()
            .filter(|v| v["plugin"] == plugin)
            .filter(every)
            .count()
    };
    assert_eq!(
        by("hostile"),
        listeners,
        "one verdict per listener from the external plugin"
    );
    assert_eq!(
        by("exposure"),
        3 * listeners,
        "and the built-in's three rules, unchanged"
    );
    assert!(
        report["evaluation"]["plugin_failures"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

fn refused(file: &Path, expect: &str) {
    let out = check("", &[file.to_owned()], "refused");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("plugin {}: ", file.display())),
        "names the file: {stderr}"
    );
    assert!(stderr.contains(expect), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn load_time_refusals_name_the_file_and_exit_2() {
    refused(&plugin("wasi_import"), "it imports `wasi:cli/environment@");
    refused(
        &plugin("wasi_import"),
        "a capability portcullis does not grant",
    );
    refused(&plugin("wrong_abi"), "it was built for plugin ABI 0.3.0");
    let not_wasm = temp("notes.wasm");
    std::fs::write(&not_wasm, "this is not WebAssembly\n").unwrap();
    refused(&not_wasm, "not a WebAssembly file");
    let core = temp("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    refused(&core, "a core WebAssembly module, not a component");
    refused(
        Path::new(env!("PORTCULLIS_TEST_PRECOMPILED")),
        "a precompiled native artifact",
    );
    refused(Path::new("/nonexistent/plugin.wasm"), "cannot read it");
}

#[test]
fn as_root_a_plugin_others_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let uid = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap());
    assert_eq!(
        uid, 0,
        "this test checks the root-only refusal and must run as root (CI does)"
    );
    let copy = temp("writable.wasm");
    std::fs::copy(plugin("hostile"), &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o666)).unwrap();
    refused(&copy, "the file is writable by other users (mode 666");
}

#[test]
fn compiled_plugins_are_cached_privately_and_reused() {
    use std::os::unix::fs::PermissionsExt;
    let cache = temp("cache");
    let _ = std::fs::remove_dir_all(&cache);
    let run = || {
        let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(["plugins", "list", "--plugin"])
            .arg(plugin("hostile"))
            .env("PORTCULLIS_CACHE_DIR", &cache)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let listing = run();
    assert!(
        listing.contains(&format!(
            "hostile          0.0.1      0.2.4  1      {}",
            plugin("hostile").display()
        )),
        "{listing}"
    );
    let entries: Vec<_> = std::fs::read_dir(&cache).unwrap().flatten().collect();
    assert_eq!(entries.len(), 1, "one artifact");
    assert!(entries[0].file_name().to_string_lossy().ends_with(".cwasm"));
    assert_eq!(
        std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let first = std::fs::metadata(entries[0].path())
        .unwrap()
        .modified()
        .unwrap();
    run();
    assert_eq!(
        std::fs::metadata(entries[0].path())
            .unwrap()
            .modified()
            .unwrap(),
        first,
        "reused, not rewritten"
    );
}

/// A plugin compiled against ABI 0.1.0 (the built-in `exposure` of that
/// release, kept as a binary) loads on this host unmodified and judges
/// exactly as the current built-in does.
#[test]
fn a_plugin_built_for_abi_0_1_loads_and_judges_as_it_did() {
    judges_as_the_current_builtin("0.1.0");
}

/// The same for ABI 0.2.0, the release before `inventory.containers`
/// (0.2.1): it links against the newer host by semver and never sees the
/// new function.
#[test]
fn a_plugin_built_for_abi_0_2_0_loads_and_judges_as_it_did() {
    judges_as_the_current_builtin("0.2.0");
}

fn judges_as_the_current_builtin(abi: &str) {
    let old = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("testdata/plugins/exposure-abi-{abi}.wasm"));
    let listed = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["plugins", "list", "--policy"])
        .arg(temp_policy("builtins = false\n", "abi-list"))
        .arg("--plugin")
        .arg(&old)
        .env("PORTCULLIS_CACHE_DIR", "off")
        .output()
        .unwrap();
    let listed = text(&listed.stdout);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("exposure") && l.contains(&format!(" {abi}  3 "))),
        "served as ABI {abi}:\n{listed}"
    );
    let verdicts = |policy: &str, plugins: &[PathBuf], tag: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
        cmd.args([
            "check",
            "--format",
            "json",
            "--inventory",
            FIXTURE,
            "--policy",
        ])
        .arg(temp_policy(policy, tag))
        .env("PORTCULLIS_CACHE_DIR", "off");
        for p in plugins {
            cmd.arg("--plugin").arg(p);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut mine: Vec<serde_json::Value> = report["evaluation"]["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["plugin"] == "exposure")
            .cloned()
            .collect();
        mine.sort_by_key(|v| (v["rule"].to_string(), v["listener"].to_string()));
        mine
    };
    let old_verdicts = verdicts("builtins = false\n", &[old], &format!("abi-{abi}"));
    // The firewall rules came with ABI 0.2.2 and 0.2.3: older builds have
    // no such rules.
    let newer = [
        "unfiltered-exposure",
        "firewall-bypass-by-dnat",
        "published-without-listener",
        "loopback-reachable",
    ];
    let current: Vec<serde_json::Value> = verdicts("", &[], &format!("abi-current-{abi}"))
        .into_iter()
        .filter(|v| !newer.iter().any(|r| v["rule"] == *r))
        .collect();
    assert!(!current.is_empty());
    assert_eq!(old_verdicts, current);
}

fn temp_policy(text: &str, tag: &str) -> PathBuf {
    let path = temp(&format!("{tag}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// The built-ins share one instance, but a built-in the policy gives limits
/// of its own runs alone under them: its failure is its own, and the other
/// built-ins judge as before.
#[test]
fn a_builtin_with_its_own_limits_fails_alone() {
    let out = check(
        "[plugins.exposure]\nlimits = { fuel = 10000 }\n",
        &[],
        "exposure-fuel",
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stdout.contains(
            "! plugin exposure (embedded) ran out of fuel (budget 10000); its rules were not evaluated"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("FAIL error   os-profile             tcp *:80 apache2(822)"),
        "profiles still judged:\n{stdout}"
    );
    assert_eq!(stdout.matches("! plugin").count(), 1, "{stdout}");
}
