//! Root-only, end to end on a real Debian image: `debootstrap` builds a
//! minimal bookworm rootfs with openssh-server and nginx-light (kept in
//! ci/.cache between local runs; a clean clone builds it fresh). sshd and
//! nginx start inside fresh network, mount and PID namespaces chrooted into
//! it, the static binary is copied in and runs there, as it would inside a
//! booted image; and `exec --isolate` runs nginx from the rootfs.
//!
//! The static binary comes from ci/build-static.sh, which ci/test.sh runs
//! before the tests. The table each run prints is kept in
//! target/e2e/ (the README quotes it).

// A test sets up the host it checks: files, processes, namespaces.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::validate::*;
use support::*;

fn keep_output(name: &str, text: &str) {
    let dir = repo().join("target/e2e");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), text).unwrap();
}

/// The image "booted": PID 1 of new PID, mount and network namespaces,
/// chrooted into the rootfs, with sshd and nginx started the way their
/// packages' units start them.
struct BootedImage {
    child: Child,
    /// Host pid of the image's PID 1.
    init: i32,
}

impl BootedImage {
    fn start(root: &Path) -> BootedImage {
        let script = "mount -t proc proc /proc && ip link set lo up && mkdir -p /run/sshd \
                      && /usr/sbin/sshd && /usr/sbin/nginx && echo started && exec sleep infinity";
        let mut child = Command::new("unshare")
            .args([
                "--net",
                "--mount",
                "--pid",
                "--fork",
                "--propagation",
                "private",
                "chroot",
            ])
            .arg(root)
            .args(["/bin/sh", "-c", script])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line.trim(), "started", "the image's services did not start");
        // unshare --fork: the image's PID 1 is unshare's child.
        let children =
            std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", child.id())).unwrap();
        let init = children.split_whitespace().next().unwrap().parse().unwrap();
        BootedImage { child, init }
    }

    /// Runs `argv` inside the image: its namespaces, its root.
    fn run(&self, argv: &[&str]) -> Output {
        Command::new("nsenter")
            .args(["--target", &self.init.to_string()])
            .args(["--net", "--mount", "--pid", "--root", "--wd"])
            .args(argv)
            .env("PORTCULLIS_CACHE_DIR", "off")
            // The image's PID namespace is its whole machine here, as a
            // VM's initial one would be.
            .env("PORTCULLIS_OWN_PID_NAMESPACE", "1")
            .output()
            .unwrap()
    }

    fn wait_for_port(&self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let path = format!("/proc/{}/ns/net", self.init);
        while Instant::now() < deadline {
            if ss(Some(&path))
                .unwrap()
                .iter()
                .any(|(_, local)| local.ends_with(&format!(":{port}")))
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("nothing listens on port {port} in the image");
    }
}

impl Drop for BootedImage {
    fn drop(&mut self) {
        // Killing the PID namespace's init ends every process in it.
        let _ = Command::new("kill")
            .args(["-KILL", &self.init.to_string()])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn holders_named(report: &Value, port: u64) -> Vec<String> {
    let mut names: Vec<String> = report["inventory"]["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["port"] == port)
        .flat_map(|l| l["holders"].as_array().unwrap().iter())
        .map(|p| p["comm"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn portcullis_inside_a_debian_image_finds_sshd_and_nginx() {
    require_root();
    let root = debian_rootfs();
    std::fs::copy(static_binary(), root.join("usr/local/bin/portcullis")).unwrap();
    let out_dir = root.join("out");
    let _ = std::fs::remove_dir_all(&out_dir);
    std::fs::create_dir_all(&out_dir).unwrap();
    let image = BootedImage::start(root);
    image.wait_for_port(22);
    image.wait_for_port(80);
    let out = image.run(&[
        "/usr/local/bin/portcullis",
        "scan",
        "--settle",
        "1s",
        "--category",
        "debian-bookworm",
        "--sarif-location",
        "images/debian/portcullis.toml",
        "--json",
        "/out/portcullis.json",
        "--junit",
        "/out/portcullis.xml",
        "--sarif",
        "/out/portcullis.sarif",
        "--color",
        "never",
    ]);
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    keep_output("image-scan.txt", &table);
    assert_eq!(
        out.status.code(),
        Some(1),
        "violations:\n{table}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let report: Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("portcullis.json")).unwrap()).unwrap();
    let inv = &report["inventory"];
    assert_eq!(
        inv["host"]["os_id"], "debian",
        "os-release read inside the image"
    );
    assert!(
        inv["gaps"].as_array().unwrap().is_empty(),
        "complete: {}",
        inv["gaps"]
    );
    assert_eq!(inv["namespaces"].as_array().unwrap().len(), 1);
    // Same sockets as ss sees in the image's namespace.
    let ns_inode = inv["namespaces"][0]["inode"].as_u64().unwrap();
    assert_eq!(
        rows_of(inv, ns_inode),
        ss(Some(&format!("/proc/{}/ns/net", image.init))).unwrap()
    );
    assert_eq!(holders_named(&report, 22), ["sshd"]);
    assert_eq!(holders_named(&report, 80), ["nginx"], "master and workers");

    let failures: Vec<(String, u64)> = report["evaluation"]["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["outcome"] == "fail" && v["allowed_by"].is_null())
        .map(|v| {
            let l = &inv["listeners"][v["listener"].as_u64().unwrap() as usize];
            (
                v["rule"].as_str().unwrap().to_owned(),
                l["port"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        failures.contains(&("wildcard-bind".to_owned(), 80)),
        "nginx's wildcard :80 fails the default policy: {failures:?}"
    );
    assert!(
        table.contains("wildcard-bind") && table.contains(":80 nginx"),
        "{table}"
    );

    let sarif = validate_sarif(&out_dir.join("portcullis.sarif"));
    assert_eq!(
        sarif["runs"][0]["automationDetails"]["id"],
        "portcullis/debian-bookworm/"
    );
    assert!(validate_junit(&out_dir.join("portcullis.xml")) >= 4);
}

#[test]
fn exec_isolate_runs_nginx_from_the_image() {
    require_root();
    let root = debian_rootfs();
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args([
            "exec",
            "--isolate",
            "--settle",
            "1s",
            "--color",
            "never",
            "--",
            "chroot",
        ])
        .arg(root)
        .args(["/usr/sbin/nginx", "-g", "daemon off;"])
        .env("PORTCULLIS_CACHE_DIR", "off")
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    keep_output("image-exec.txt", &table);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{table}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fail = table
        .lines()
        .find(|l| l.starts_with("FAIL") && l.contains("wildcard-bind"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(fail.contains("0.0.0.0:80 nginx("), "{fail}");
}
