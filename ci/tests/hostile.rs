//! Root-only: a hostile local user against a root scan, each attack built for
//! real (an unprivileged user via setpriv and `unshare -Urm`, real mounts,
//! FIFOs, links and a watcher process racing the writer).
//!
//! The listener-hiding attacks run in a private PID, mount and network
//! namespace of their own: PID 1 there is readable, so a whole-"host" scan
//! has no gap of its own and any gap is the attack's.

// A test sets up the host it checks: files, processes, namespaces.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::ffi::OsStr;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{FORGET_NAMESPACE_MOUNTS, portcullis, require_root, scratch, stderr, unique};

/// Runs `cmd` in a process group of its own, killed if it outlives `limit`:
/// a scan that hangs fails the test instead of hanging it.
fn bounded(mut cmd: Command, limit: Duration) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let pgid = child.id() as i32;
    let start = Instant::now();
    let waiter = std::thread::spawn(move || child.wait_with_output().unwrap());
    while !waiter.is_finished() {
        if start.elapsed() > limit {
            // SAFETY: kill(2) on our own child's process group.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
            let out = waiter.join().unwrap();
            panic!(
                "still running after {limit:?}; it hangs: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    waiter.join().unwrap()
}

/// Runs a shell script as PID 1's child in a fresh PID, mount and network
/// namespace, in `dir`, with `$PORTCULLIS` and `$HIDE` set.
fn private_world(dir: &Path, script: &str) -> Output {
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--pid",
        "--fork",
        "--mount-proc",
        "--mount",
        "--net",
        "sh",
        "-ec",
    ])
    .arg(format!(
        "{FORGET_NAMESPACE_MOUNTS}ip link set lo up\n{script}"
    ))
    .current_dir(dir)
    .env("PORTCULLIS", env!("CARGO_BIN_EXE_portcullis"))
    .env("HIDE", hide_binary())
    .env("PORTCULLIS_CACHE_DIR", "off")
    // This world's PID namespace is all there is to see (confinement is
    // tested on its own below).
    .env("PORTCULLIS_OWN_PID_NAMESPACE", "1");
    let out = bounded(cmd, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "the scenario failed: {}{}",
        stderr(&out),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

/// `ci/support/hide.c`, built once per test process with the machine's cc.
fn hide_binary() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let out = scratch("hidebin").join("hide");
            let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("ci/support/hide.c");
            let built = Command::new("cc")
                .args(["-O1", "-pthread", "-o"])
                .arg(&out)
                .arg(&src)
                .output()
                .expect("cc (gcc) runs; ci/test.sh installs it");
            assert!(built.status.success(), "{}", stderr(&built));
            out
        })
        .clone()
}

fn inventory_file(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// portcullis with `args`, no plugin cache, under `bounded`'s deadline.
fn portcullis_bounded(args: &[&OsStr]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    cmd.args(args).env("PORTCULLIS_CACHE_DIR", "off");
    bounded(cmd, Duration::from_secs(60))
}

/// Refused with exit 2, and the message says what it is instead.
fn assert_refused(out: &Output, says: &str) {
    assert_eq!(out.status.code(), Some(2), "{}", stderr(out));
    assert!(stderr(out).contains(says), "{}", stderr(out));
}

/// `mkfifo PATH` / `mknod PATH c 1 3`: special files a user can plant.
fn make_special(tool: &str, path: &Path, args: &[&str]) {
    let mut argv = vec![path.to_str().unwrap()];
    argv.extend(args);
    support::run(tool, &argv);
}

/// `setpriv` arguments that drop to the unprivileged `nobody`.
const AS_NOBODY: [&str; 5] = ["--reuid", "65534", "--regid", "65534", "--clear-groups"];

/// `portcullis plugins list --plugin PLUGIN` with the cache at `cache`.
fn plugins_list(plugin: &Path, cache: &OsStr) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["plugins", "list", "--plugin"])
        .arg(plugin)
        .env("PORTCULLIS_CACHE_DIR", cache)
        .output()
        .unwrap()
}

/// portcullis in a fresh PID and network namespace (a pod without hostPID).
fn in_own_pid_namespace(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--mount-proc", "--net"])
        .arg(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .current_dir(dir)
        .env("PORTCULLIS_CACHE_DIR", "off")
        .env_remove("PORTCULLIS_OWN_PID_NAMESPACE");
    let out = bounded(cmd, Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code(), stdout, stderr(&out))
}

fn listeners_on(inv: &Value, port: u64) -> Vec<&Value> {
    inv["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["port"] == port)
        .collect()
}

/// Starts `$HIDE MODE`, waits until it listens and its leader thread is gone.
const START_LEADERLESS: &str = r#"
"$HIDE" "$MODE" >port &
pid=$!
for i in $(seq 100); do [ -s port ] && ! [ -e /proc/$pid/ns/net ] && break; sleep 0.1; done
[ -s port ] && ! [ -e /proc/$pid/ns/net ] || { echo "helper did not start" >&2; exit 1; }
tid=$(ls /proc/$pid/task | grep -vx "$pid" | head -1)
echo "$tid" >tid
"#;

#[test]
fn a_thread_namespace_outlives_its_exited_leader() {
    require_root();
    let dir = scratch("leaderless");
    private_world(
        &dir,
        &format!(
            "MODE=leaderless-netns\n{START_LEADERLESS}
nsenter --net=/proc/$pid/task/$tid/ns/net ss -Htln >ss.txt
\"$PORTCULLIS\" list --format json >inv.json && echo 0 >rc || echo $? >rc"
        ),
    );
    let port: u64 = std::fs::read_to_string(dir.join("port"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let ss = std::fs::read_to_string(dir.join("ss.txt")).unwrap();
    assert!(
        ss.contains(&format!("0.0.0.0:{port}")),
        "the oracle sees it: {ss}"
    );
    let inv = inventory_file(&dir.join("inv.json"));
    let found = listeners_on(&inv, port);
    assert_eq!(
        found.len(),
        1,
        "the hidden thread's listener is found: {inv}"
    );
    assert_ne!(found[0]["holders"], serde_json::json!([]), "{}", found[0]);
    assert_eq!(std::fs::read_to_string(dir.join("rc")).unwrap().trim(), "0");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_socket_in_the_leaders_namespace_keeps_its_owner_after_the_leader_exits() {
    require_root();
    let dir = scratch("leaderhere");
    private_world(
        &dir,
        &format!(
            "MODE=leaderless-here\n{START_LEADERLESS}
\"$PORTCULLIS\" list --format json >inv.json && echo 0 >rc || echo $? >rc"
        ),
    );
    let port: u64 = std::fs::read_to_string(dir.join("port"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let inv = inventory_file(&dir.join("inv.json"));
    let found = listeners_on(&inv, port);
    assert_eq!(found.len(), 1, "{inv}");
    assert_ne!(found[0]["holders"], serde_json::json!([]), "{}", found[0]);
    assert!(!found[0]["holders"].as_array().unwrap().is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An unprivileged user's process holds TCP and UDP sockets of a namespace
/// that nothing else refers to (its child made it and exited): `ss` in the
/// process's own namespace does not show them, and a scan that only follows
/// processes, threads, mounts and nsfs descriptors says PASS.
#[test]
fn a_namespace_kept_alive_only_by_sockets_is_found() {
    require_root();
    let dir = scratch("sockonly");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    private_world(
        &dir,
        r#"
setpriv --reuid 65534 --regid 65534 --clear-groups "$HIDE" socket-only >ports &
for i in $(seq 100); do [ -s ports ] && break; sleep 0.1; done
[ -s ports ] || { echo "helper did not start" >&2; exit 1; }
ss -Htuln >ss-here.txt
"$PORTCULLIS" list --format json >inv.json && echo 0 >rc || echo $? >rc
"#,
    );
    let ports = std::fs::read_to_string(dir.join("ports")).unwrap();
    let (tcp, udp) = ports.trim().split_once(' ').unwrap();
    let (tcp, udp): (u64, u64) = (tcp.parse().unwrap(), udp.parse().unwrap());
    let here = std::fs::read_to_string(dir.join("ss-here.txt")).unwrap();
    assert!(
        !here.contains(&format!(":{tcp} ")),
        "not in the process's namespace: {here}"
    );
    let inv = inventory_file(&dir.join("inv.json"));
    assert_eq!(
        std::fs::read_to_string(dir.join("rc")).unwrap().trim(),
        "0",
        "{inv}"
    );
    for (port, protocol) in [(tcp, "tcp"), (udp, "udp")] {
        let found = listeners_on(&inv, port);
        assert_eq!(found.len(), 1, "{protocol} {port} is found: {inv}");
        assert_eq!(found[0]["protocol"], protocol);
        assert_ne!(found[0]["holders"], serde_json::json!([]), "{}", found[0]);
        let ns = inv["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["inode"] == found[0]["netns"]["inode"])
            .unwrap();
        assert_eq!(ns["sources"], serde_json::json!(["socket"]), "{ns}");
        assert_eq!(ns["is_host"], false);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An unprivileged user pins a namespace with a bind mount in its own
/// user+mount namespace, then mounts a FIFO (or a regular file) over it.
fn covered_pin(cover: &str) -> (PathBuf, Output) {
    let dir = scratch(&format!("cover{cover}"));
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = private_world(
        &dir,
        &format!(
            r#"
touch ns && chmod 666 ns
mkfifo -m 666 fifo
echo text >file && chmod 666 file
setpriv --reuid 65534 --regid 65534 --clear-groups unshare -Urm sh -c \
  'unshare --net=ns true && mount --bind {cover} ns && echo ready >ready && exec sleep 1000' &
for i in $(seq 100); do [ -s ready ] && break; sleep 0.1; done
[ -s ready ] || {{ echo "the attacker did not get ready" >&2; exit 1; }}
"$PORTCULLIS" list --format json >inv.json && echo 0 >rc || echo $? >rc
"#
        ),
    );
    (dir, out)
}

#[test]
fn a_fifo_over_a_pinned_namespace_cannot_hang_the_scan() {
    require_root();
    let (dir, out) = covered_pin("fifo");
    let inv = inventory_file(&dir.join("inv.json"));
    assert_eq!(
        std::fs::read_to_string(dir.join("rc")).unwrap().trim(),
        "3",
        "a covered pin is a gap: {inv}\n{}",
        stderr(&out)
    );
    let gaps = inv["gaps"].to_string();
    assert!(gaps.contains("no longer leads to it"), "{gaps}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_file_mounted_over_a_pinned_namespace_is_a_gap_not_a_vanished_namespace() {
    require_root();
    let (dir, _) = covered_pin("file");
    let inv = inventory_file(&dir.join("inv.json"));
    assert_eq!(
        std::fs::read_to_string(dir.join("rc")).unwrap().trim(),
        "3",
        "{inv}"
    );
    assert!(
        inv["gaps"].to_string().contains("no longer leads to it"),
        "{inv}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// What a file is, to compare before and after an attack.
fn identity(path: &Path) -> (u64, u64, u32, Vec<u8>) {
    let m = std::fs::symlink_metadata(path).unwrap();
    let content = if m.is_file() {
        std::fs::read(path).unwrap()
    } else {
        vec![]
    };
    (m.dev(), m.ino(), m.mode(), content)
}

#[test]
fn reports_are_never_written_through_links_or_over_devices() {
    require_root();
    let dir = scratch("reportpaths");
    let victim = dir.join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    let before = identity(&victim);
    let link = dir.join("r.sarif");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    // A character device of our own (/dev/null's numbers), and a FIFO.
    let device = dir.join("null");
    make_special("mknod", &device, &["c", "1", "3"]);
    let fifo = dir.join("fifo");
    make_special("mkfifo", &fifo, &[]);
    let inventory =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/inventory/seed-complete.json");
    for (flag, path) in [("--sarif", &link), ("--json", &device), ("--junit", &fifo)] {
        let out = portcullis_bounded(&[
            "check".as_ref(),
            "--inventory".as_ref(),
            inventory.as_os_str(),
            flag.as_ref(),
            path.as_os_str(),
        ]);
        assert_refused(&out, "not a regular file");
    }
    assert_eq!(identity(&victim), before);
    assert!(
        std::fs::symlink_metadata(&device)
            .unwrap()
            .file_type()
            .is_char_device()
    );
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A watcher (an unprivileged user who owns the report folder) replaces
/// every file that appears there with a link to the victim, as fast as it
/// can, while root writes reports into it: root must never write the victim.
#[test]
fn a_racing_user_cannot_turn_a_report_write_into_an_overwrite() {
    require_root();
    let dir = scratch("race");
    let out_dir = dir.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    std::os::unix::fs::chown(&out_dir, Some(65534), Some(65534)).unwrap();
    let victim = dir.join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    let before = identity(&victim);
    let mut watcher = Command::new("setpriv")
        .args(AS_NOBODY)
        .args(["python3", "-c"])
        .arg(
            "import os,sys,time\n\
             d,v=sys.argv[1],sys.argv[2]\n\
             end=time.time()+30\n\
             while time.time()<end:\n\
             \x20 for n in os.listdir(d):\n\
             \x20   p=os.path.join(d,n)\n\
             \x20   if os.path.islink(p): continue\n\
             \x20   try:\n\
             \x20     os.unlink(p); os.symlink(v,p)\n\
             \x20   except OSError: pass\n",
        )
        .arg(&out_dir)
        .arg(&victim)
        .process_group(0)
        .spawn()
        .unwrap();
    let inventory =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/inventory/seed-complete.json");
    for i in 0..40 {
        let report = out_dir.join(format!("r{}.json", i % 4));
        let out = portcullis(&[
            "check",
            "--inventory",
            inventory.to_str().unwrap(),
            "--json",
            report.to_str().unwrap(),
        ]);
        // Written, or refused because the name is a link by now: never through it.
        assert!(matches!(out.status.code(), Some(0..=2)), "{}", stderr(&out));
    }
    // SAFETY: kill(2) on the watcher's process group.
    unsafe { libc::kill(-(watcher.id() as i32), libc::SIGKILL) };
    let _ = watcher.wait();
    assert_eq!(
        identity(&victim),
        before,
        "root wrote through the user's link"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn policy_inputs_that_are_not_regular_files_are_refused_at_once() {
    require_root();
    let dir = scratch("policyfifo");
    let fifo = dir.join("policy.toml");
    make_special("mkfifo", &fifo, &[]);
    for path in [fifo.as_path(), Path::new("/dev/zero")] {
        let out = portcullis_bounded(&["rules".as_ref(), "--policy".as_ref(), path.as_os_str()]);
        assert_refused(&out, "not a regular file");
    }
    let out = portcullis_bounded(&["check".as_ref(), "--inventory".as_ref(), fifo.as_os_str()]);
    assert_refused(&out, "not a regular file");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn test_plugin() -> PathBuf {
    Path::new(env!("PORTCULLIS_TEST_PLUGINS")).join("hostile.wasm")
}

#[test]
fn a_shared_cache_folder_keeps_its_mode_and_is_not_used() {
    require_root();
    let dir = scratch("cache1777");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let plugin = dir.join("p.wasm");
    std::fs::copy(test_plugin(), &plugin).unwrap();
    let dir_ro = scratch("plugsafe");
    let safe_plugin = dir_ro.join("p.wasm");
    std::fs::copy(test_plugin(), &safe_plugin).unwrap();
    std::fs::set_permissions(&dir_ro, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = plugins_list(&safe_plugin, dir.as_os_str());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not using plugin cache"),
        "{}",
        stderr(&out)
    );
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o1777, "the shared folder's mode was changed");
    assert!(
        !std::fs::read_dir(&dir)
            .unwrap()
            .any(|e| e.unwrap().path().extension() == Some("cwasm".as_ref()))
    );

    // A cache folder that is a link is not followed.
    let real = scratch("cachereal");
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).unwrap();
    let link = dir_ro.join("cache");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let out = plugins_list(&safe_plugin, link.as_os_str());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("a link is refused"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_dir(&real).unwrap().count(), 0);
    for d in [dir, dir_ro, real] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

#[test]
fn plugins_reached_through_folders_others_can_write_are_refused() {
    require_root();
    let open = scratch("plug0777");
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let inner = open.join("inner");
    std::fs::create_dir_all(&inner).unwrap();
    std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o755)).unwrap();
    let plugin = inner.join("p.wasm");
    std::fs::copy(test_plugin(), &plugin).unwrap();
    let safe = scratch(&unique("plugsafe2"));
    std::fs::set_permissions(&safe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let link = safe.join("p.wasm");
    std::os::unix::fs::symlink(&plugin, &link).unwrap();
    for path in [&plugin, &link] {
        assert_refused(
            &plugins_list(path, "off".as_ref()),
            "writable by other users",
        );
    }
    std::fs::remove_dir_all(&open).unwrap();
    std::fs::remove_dir_all(&safe).unwrap();
}

/// A DaemonSet without hostPID: portcullis in a PID namespace of its own
/// sees only its pod. That is a gap naming the fix, never a clean node;
/// told to scan only its own PID namespace, it does so without a gap.
#[test]
fn a_confined_run_is_a_gap_unless_asked_for() {
    require_root();
    let dir = scratch("confined");
    let (code, stdout, err) = in_own_pid_namespace(&dir, &["scan", "--format", "summary"]);
    assert_eq!(code, Some(3), "{stdout}{err}");
    assert!(
        stdout.starts_with("portcullis: INCOMPLETE (exit 3)"),
        "{stdout}"
    );
    assert!(err.contains("hostPID: true"), "{err}");
    let (code, stdout, err) = in_own_pid_namespace(
        &dir,
        &["scan", "--format", "summary", "--own-pid-namespace"],
    );
    assert_eq!(code, Some(0), "{stdout}{err}");
    assert!(stdout.starts_with("portcullis: PASS (exit 0)"), "{stdout}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every scan is bounded: one that outlives `--scan-timeout` is abandoned
/// and reported as a gap, with every report still written. (The blocking
/// reads this guards against are each defused above; a deadline shorter
/// than any scan stands in for the next one nobody has thought of.)
#[test]
fn a_scan_past_its_deadline_is_a_gap_and_reports_are_written() {
    require_root();
    let dir = scratch("deadline");
    let sarif = dir.join("r.sarif");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    cmd.args([
        "scan",
        "--format",
        "summary",
        "--scan-timeout",
        "1ns",
        "--sarif",
    ])
    .arg(&sarif)
    .env("PORTCULLIS_CACHE_DIR", "off");
    let out = bounded(cmd, Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}{}", stderr(&out));
    assert!(
        stderr(&out).contains("did not finish within 1ns"),
        "{}",
        stderr(&out)
    );
    let report: Value = serde_json::from_slice(&std::fs::read(&sarif).unwrap()).unwrap();
    assert!(
        report.to_string().contains("did not finish within"),
        "{report}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
