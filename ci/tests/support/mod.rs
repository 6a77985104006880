//! Shared fixtures for the root-only integration tests: real namespaces, real
//! listener processes, and the independent oracles (`ss` run inside each
//! namespace, and a separate walk of `/proc/*/fd`).
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

pub mod validate;

/// Shell lines that unmount every namespace file mounted in the current
/// mount namespace (`ip netns`'s, a container engine's). A private world
/// made with `unshare --mount` starts with a copy of the machine's mounts,
/// and would otherwise see the machine's namespaces (another test's
/// containers, say) as its own.
pub const FORGET_NAMESPACE_MOUNTS: &str = "grep ' - nsfs ' /proc/self/mountinfo | cut -d' ' -f5 \
     | while read -r m; do umount -l \"$m\" 2>/dev/null || true; done\n";

/// Fails (never skips) when not root: CI runs as root, and a skipped
/// namespace test would pass without proving anything.
pub fn require_root() {
    let uid = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap();
    assert_eq!(
        uid, 0,
        "this test creates network namespaces and must run as root (CI does; locally: sudo ci/test.sh)"
    );
}

/// A short name unique to this test process and tag (interface names max 15 bytes).
pub fn unique(tag: &str) -> String {
    format!("pc{}{tag}", std::process::id() % 100_000)
}

/// A fresh folder under the temporary directory, unique to this test.
pub fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique(tag));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A command's stderr, as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn run(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A named namespace (`ip netns add`) with loopback up; deleted on drop.
pub struct NamedNetns {
    pub name: String,
}

impl NamedNetns {
    pub fn new(name: &str) -> Self {
        let _ = Command::new("ip").args(["netns", "del", name]).output();
        run("ip", &["netns", "add", name]);
        run("ip", &["-n", name, "link", "set", "lo", "up"]);
        NamedNetns {
            name: name.to_owned(),
        }
    }

    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }

    pub fn ip(&self, args: &str) {
        let mut full = vec!["-n", &self.name];
        full.extend(args.split_whitespace());
        run("ip", &full);
    }

    pub fn inode(&self) -> u64 {
        inode_of(&self.path())
    }
}

impl Drop for NamedNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// A namespace pinned only by a bind mount at a non-standard path.
pub struct MountedNetns {
    pub dir: PathBuf,
    pub path: PathBuf,
}

impl MountedNetns {
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(unique(tag));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pinned ns");
        std::fs::write(&path, b"").unwrap();
        let arg = format!("--net={}", path.display());
        run("unshare", &[&arg, "true"]);
        run("nsenter", &[&arg, "ip", "link", "set", "lo", "up"]);
        MountedNetns { dir, path }
    }

    pub fn inode(&self) -> u64 {
        inode_of(self.path.to_str().unwrap())
    }
}

impl Drop for MountedNetns {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn inode_of(path: &str) -> u64 {
    std::os::unix::fs::MetadataExt::ino(
        &std::fs::metadata(path).unwrap_or_else(|e| panic!("{path}: {e}")),
    )
}

/// A running `ci/support/listen.py`, killed with its process group on drop.
pub struct Helper {
    child: Child,
    pub report: Value,
}

impl Helper {
    /// Runs the helper behind `prefix` (e.g. `ip netns exec NAME`).
    pub fn spawn(prefix: &[&str], spec: Value) -> Helper {
        Helper::spawn_with_args(prefix, spec, &[])
    }

    pub fn spawn_with_args(prefix: &[&str], spec: Value, extra: &[OsString]) -> Helper {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("ci/support/listen.py");
        let mut argv: Vec<OsString> = prefix.iter().map(OsString::from).collect();
        argv.extend([
            OsString::from("python3"),
            script.into(),
            spec.to_string().into(),
        ]);
        argv.extend(extra.iter().cloned());
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .expect("spawn listen.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let report = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("helper did not start ({e}): {line:?}"));
        Helper { child, report }
    }

    pub fn pid(&self) -> i64 {
        self.report["pid"].as_i64().unwrap()
    }

    pub fn port(&self, i: usize) -> u64 {
        self.report["sockets"][i]["port"].as_u64().unwrap()
    }

    pub fn pids(&self) -> BTreeSet<i64> {
        let mut pids: BTreeSet<i64> = self.report["children"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_i64().unwrap())
            .collect();
        pids.insert(self.pid());
        pids
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let pgid = self.child.id() as i32;
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pgid}")])
            .output();
        let _ = self.child.wait();
    }
}

pub fn portcullis(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .output()
        .expect("run portcullis")
}

/// `portcullis list --format json ARGS`, parsed; panics on exit codes other than `allowed`.
pub fn inventory(args: &[&str], allowed: &[i32]) -> Value {
    let mut full = vec!["list", "--format", "json"];
    full.extend(args);
    let out = portcullis(&full);
    let code = out.status.code().unwrap();
    assert!(
        allowed.contains(&code),
        "exit {code}; stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A listener as `ss -Htuln` would print it: (netid, local column).
pub type SsRow = (String, String);

/// The listener rows of one namespace in an inventory, formatted like `ss -n`,
/// independently of the crate's own formatting code.
pub fn rows_of(inv: &Value, netns: u64) -> BTreeSet<SsRow> {
    listeners_in(inv, netns).map(ss_row).collect()
}

pub fn ss_row(l: &Value) -> SsRow {
    let addr = l["address"].as_str().unwrap();
    let mut local = if l["family"] == "ipv6" && addr != "*" {
        format!("[{addr}]")
    } else {
        addr.to_owned()
    };
    if let Some(iface) = l["bound_device"].as_str() {
        local.push('%');
        local.push_str(iface);
    }
    local.push_str(&format!(":{}", l["port"]));
    (l["protocol"].as_str().unwrap().to_owned(), local)
}

pub fn listeners_in(inv: &Value, netns: u64) -> impl Iterator<Item = &Value> {
    inv["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .filter(move |l| l["netns"]["inode"].as_u64() == Some(netns))
}

pub fn namespace(inv: &Value, inode: u64) -> &Value {
    inv["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["inode"].as_u64() == Some(inode))
        .unwrap_or_else(|| {
            panic!(
                "namespace {inode} not in inventory: {:#}",
                inv["namespaces"]
            )
        })
}

/// `ss -Htuln` inside the namespace at `path` (our own when `None`).
pub fn ss(path: Option<&str>) -> Option<BTreeSet<SsRow>> {
    let out = match path {
        None => Command::new("ss").arg("-Htuln").output(),
        Some(p) => Command::new("nsenter")
            .arg(format!("--net={p}"))
            .args(["ss", "-Htuln"])
            .output(),
    }
    .unwrap();
    if !out.status.success() {
        return None;
    }
    Some(ss_rows(&String::from_utf8(out.stdout).unwrap()))
}

/// The (netid, local address) rows of `ss -Htuln` (or `-Htulnp`) output.
pub fn ss_rows(text: &str) -> BTreeSet<SsRow> {
    text.lines()
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            Some((cols.first()?.to_string(), cols.get(4)?.to_string()))
        })
        .collect()
}

/// socket inode -> pids holding it, by a plain walk of /proc/*/fd (std only).
pub fn independent_holders() -> BTreeMap<u64, BTreeSet<i64>> {
    let mut map: BTreeMap<u64, BTreeSet<i64>> = BTreeMap::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i64>() else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let t = target.to_string_lossy();
            if let Some(inode) = t.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']')) {
                map.entry(inode.parse().unwrap()).or_default().insert(pid);
            }
        }
    }
    map
}

/// The release URL every example downloads from, built from the one place
/// that says where releases live: Cargo.toml's `repository` and `version`
/// (the SARIF `informationUri` is Cargo's `homepage`).
pub fn release_url() -> String {
    format!(
        "{}/releases/download/v{}/portcullis-x86_64-unknown-linux-musl",
        env!("CARGO_PKG_REPOSITORY"),
        env!("CARGO_PKG_VERSION")
    )
}

/// The static release binary ci/build-static.sh builds (ci/test.sh runs it
/// before the tests), for tests that copy it into an image.
pub fn static_binary() -> PathBuf {
    let bin = validate::repo().join("target/x86_64-unknown-linux-musl/release/portcullis");
    assert!(
        bin.exists(),
        "{}: run ci/build-static.sh first (ci/test.sh does)",
        bin.display()
    );
    bin
}

const MIRROR: &str = "http://deb.debian.org/debian";

/// A minimal Debian bookworm rootfs (debootstrap, with openssh-server,
/// nginx-light and iproute2), built once per cache under ci/.cache
/// (concurrent tests wait for it): the image test boots it, the container
/// test imports it as a Docker image.
pub fn debian_rootfs() -> &'static Path {
    static ROOTFS: OnceLock<PathBuf> = OnceLock::new();
    ROOTFS.get_or_init(|| {
        let root = validate::repo().join("ci/.cache/rootfs-bookworm");
        if root.join(".portcullis-complete").exists() {
            return root;
        }
        let partial = validate::repo().join("ci/.cache/rootfs-bookworm.partial");
        let _ = std::fs::remove_dir_all(&partial);
        let _ = std::fs::remove_dir_all(&root);
        let out = Command::new("debootstrap")
            .args([
                "--variant=minbase",
                "--include=openssh-server,nginx-light,iproute2",
            ])
            .args(["bookworm", partial.to_str().unwrap(), MIRROR])
            .output()
            .expect("debootstrap (ci/test.sh installs it)");
        assert!(
            out.status.success(),
            "debootstrap failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(partial.join(".portcullis-complete"), "").unwrap();
        std::fs::rename(&partial, &root).unwrap();
        root
    })
}
