//! Root-only, end to end on a real first boot: a Debian bookworm VM
//! (kernel, systemd as PID 1, cloud-init reading a NoCloud seed, sshd
//! through ssh.socket, a DHCP client), built by ci/support/vm-image.sh and
//! booted with QEMU (KVM when it works, else TCG). The seed carries the
//! project's own ci/examples/cloud-init/user-data.yaml with only the
//! binary's source replaced. The guest reaches no network
//! (`-nic user,restrict=on`); results come back from the serial console and
//! from the disk image (debugfs reads it: no mount, no loop device).
//!
//! Three boots of one image:
//! - stock: must PASS (exit 0) under the example policy, name `ssh.socket`
//!   as the unit of PID 1's `*:22`, equal the guest's own `ss -Htulnp`;
//! - nginx (nginx-light enabled on the kernel command line): must FAIL on
//!   nginx's listeners and nothing else;
//! - ubuntu-shaped (systemd-networkd as the DHCP client, systemd-resolved
//!   with Ubuntu's LLMNR/mDNS defaults, `profile = "ubuntu"` forced by the
//!   policy): must PASS, judged by the ubuntu profile.
//!
//! Each boot's console and reports are kept in target/vm/NAME/; the README
//! quotes the console lines, testdata/inventory/vm/ holds the inventories.

// A test sets up the host it checks: files, processes, namespaces.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::validate::*;
use support::*;

/// A boot that takes longer than this is stuck (one TCG boot takes 2–5
/// minutes, the scan's own --timeout is 5).
const BOOT_DEADLINE: Duration = Duration::from_secs(15 * 60);

/// The cached image folder: `ci/.cache/vm-KEY`, KEY from the builder
/// script's text, so a changed script builds a new image (and older
/// images are removed).
fn image() -> &'static Path {
    static IMAGE: OnceLock<PathBuf> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let script = repo().join("ci/support/vm-image.sh");
        let key = sha256_hex(&std::fs::read(&script).unwrap())[..12].to_owned();
        let cache = repo().join("ci/.cache");
        let dir = cache.join(format!("vm-{key}"));
        for old in std::fs::read_dir(&cache).into_iter().flatten().flatten() {
            let name = old.file_name().to_string_lossy().into_owned();
            if name.starts_with("vm-") && old.path() != dir {
                let _ = std::fs::remove_dir_all(old.path());
            }
        }
        let started = Instant::now();
        let out = Command::new(&script).arg(&dir).output().unwrap();
        assert!(
            out.status.success(),
            "vm-image.sh failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            stderr(&out)
        );
        eprintln!("vm image ready in {:.0?}", started.elapsed());
        dir
    })
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `-accel kvm` when a guest really runs with it (a kernel prints its
/// banner within seconds), else `tcg`: here /dev/kvm exists but guests
/// cannot run on it.
fn accel() -> &'static str {
    static ACCEL: OnceLock<&'static str> = OnceLock::new();
    ACCEL.get_or_init(|| {
        if !Path::new("/dev/kvm").exists() {
            return "tcg";
        }
        let dir = scratch("kvm-probe");
        let console = dir.join("console.log");
        let mut qemu = Command::new("qemu-system-x86_64")
            .args([
                "-accel",
                "kvm",
                "-m",
                "256",
                "-display",
                "none",
                "-no-reboot",
            ])
            .args(["-monitor", "none", "-serial"])
            .arg(format!("file:{}", console.display()))
            .arg("-kernel")
            .arg(image().join("vmlinuz"))
            .args(["-append", "console=ttyS0 panic=-1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("qemu-system-x86_64 (ci/test.sh installs qemu-system-x86)");
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut works = false;
        while Instant::now() < deadline && !works {
            std::thread::sleep(Duration::from_millis(250));
            works = std::fs::read(&console)
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("Linux version"));
            if qemu.try_wait().unwrap().is_some() {
                break;
            }
        }
        let _ = qemu.kill();
        let _ = qemu.wait();
        let accel = if works { "kvm" } else { "tcg" };
        eprintln!("qemu accelerator: {accel}");
        accel
    })
}

/// Where the user-data puts the binary before its runcmd copies it.
const STAGED_BINARY: &str = "/opt/portcullis-x86_64-unknown-linux-musl";

/// The example user-data with only the binary's source replaced: the
/// release URL becomes the staged file, its digest the real one, and the
/// download a copy (the image has no network, and no curl).
fn example_user_data(digest: &str) -> String {
    let text =
        std::fs::read_to_string(repo().join("ci/examples/cloud-init/user-data.yaml")).unwrap();
    let mut replaced = text.clone();
    for (from, to) in [
        (
            &format!("url={}", release_url()),
            format!("url={STAGED_BINARY}"),
        ),
        (
            &"sum=0000000000000000000000000000000000000000000000000000000000000000".to_owned(),
            format!("sum={digest}"),
        ),
        (
            &r#"curl -fsSLo /usr/local/bin/portcullis.new "$url""#.to_owned(),
            r#"cp "$url" /usr/local/bin/portcullis.new"#.to_owned(),
        ),
    ] {
        assert_eq!(
            replaced.matches(from).count(),
            1,
            "the example no longer has `{from}` once"
        );
        replaced = replaced.replace(from, &to);
    }
    replaced
}

struct Variant {
    name: &'static str,
    kernel_args: &'static str,
    /// Files written into the guest's disk before it boots (path, content).
    files: &'static [(&'static str, &'static str)],
    /// Lines added to the example policy (write_files' portcullis.toml).
    policy_extra: &'static str,
}

struct Boot {
    dir: PathBuf,
    console: String,
    took: Duration,
}

impl Boot {
    /// Boots the variant until it powers off. QEMU itself dying by a
    /// signal (TCG has crashed here once in a CI run, SIGSEGV) says
    /// nothing about the guest, so that alone is tried once more, from a
    /// fresh disk; any other outcome is the test's answer.
    fn start(v: &Variant) -> Boot {
        require_root();
        Self::attempt(v).unwrap_or_else(|crash| {
            eprintln!("{}: {crash}; booting once more", v.name);
            Self::attempt(v).unwrap_or_else(|again| panic!("{}: {again}", v.name))
        })
    }

    /// One boot: `Err` only when QEMU was killed by a signal.
    fn attempt(v: &Variant) -> Result<Boot, String> {
        use std::os::unix::process::ExitStatusExt;
        let image = image();
        let dir = repo().join("target/vm").join(v.name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let disk = dir.join("disk.raw");
        run(
            "cp",
            &[
                "--sparse=always",
                image.join("base.raw").to_str().unwrap(),
                disk.to_str().unwrap(),
            ],
        );
        let binary = static_binary();
        let digest = sha256_hex(&std::fs::read(&binary).unwrap());
        let mut commands = format!("write {} {STAGED_BINARY}\n", binary.display());
        for (i, (path, content)) in v.files.iter().enumerate() {
            let local = dir.join(format!("file-{i}"));
            std::fs::write(&local, content).unwrap();
            let parent = Path::new(path).parent().unwrap();
            commands.push_str(&format!(
                "mkdir {}\nwrite {} {path}\n",
                parent.display(),
                local.display()
            ));
        }
        debugfs_write(&disk, &commands);

        let mut user_data = example_user_data(&digest);
        if !v.policy_extra.is_empty() {
            let anchor = "      # Accepted listeners for this image. Each needs a reason.\n";
            assert!(user_data.contains(anchor));
            let extra: String = v
                .policy_extra
                .lines()
                .map(|l| format!("      {l}\n"))
                .collect();
            user_data = user_data.replace(anchor, &format!("{anchor}{extra}"));
        }
        let seed = dir.join("seed");
        std::fs::create_dir_all(&seed).unwrap();
        std::fs::write(seed.join("user-data"), &user_data).unwrap();
        std::fs::write(
            seed.join("meta-data"),
            format!(
                "instance-id: portcullis-{}\nlocal-hostname: portcullis-vm\n",
                v.name
            ),
        )
        .unwrap();
        let iso = dir.join("seed.iso");
        run(
            "genisoimage",
            &[
                "-quiet",
                "-output",
                iso.to_str().unwrap(),
                "-volid",
                "cidata",
                "-joliet",
                "-rock",
                seed.join("user-data").to_str().unwrap(),
                seed.join("meta-data").to_str().unwrap(),
            ],
        );

        let console = dir.join("console.log");
        let started = Instant::now();
        let mut qemu = Command::new("qemu-system-x86_64")
            .args(["-accel", accel(), "-m", "1536", "-smp", "2"])
            .args(["-display", "none", "-no-reboot", "-monitor", "none"])
            .arg("-serial")
            .arg(format!("file:{}", console.display()))
            .arg("-kernel")
            .arg(image.join("vmlinuz"))
            .arg("-initrd")
            .arg(image.join("initrd.img"))
            .arg("-append")
            .arg(format!(
                "root=/dev/vda rw console=ttyS0 panic=-1 {}",
                v.kernel_args
            ))
            .arg("-drive")
            .arg(format!("file={},format=raw,if=virtio", disk.display()))
            .arg("-drive")
            .arg(format!(
                "file={},format=raw,if=virtio,readonly=on",
                iso.display()
            ))
            // A user-mode network that reaches nothing outside the guest.
            .args(["-nic", "user,restrict=on,model=virtio-net-pci"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("qemu.stderr")).unwrap())
            .spawn()
            .expect("qemu-system-x86_64 (ci/test.sh installs qemu-system-x86)");
        let status = loop {
            if let Some(status) = qemu.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > BOOT_DEADLINE {
                let _ = qemu.kill();
                let _ = qemu.wait();
                panic!(
                    "{}: the VM did not power off within {BOOT_DEADLINE:?}; console:\n{}",
                    v.name,
                    tail(&std::fs::read_to_string(&console).unwrap_or_default())
                );
            }
            std::thread::sleep(Duration::from_secs(1));
        };
        let took = started.elapsed();
        let console = String::from_utf8_lossy(&std::fs::read(&console).unwrap()).into_owned();
        if let Some(signal) = status.signal() {
            return Err(format!(
                "qemu was killed by signal {signal} after {took:.0?}; its stderr:\n{}\nconsole:\n{}",
                std::fs::read_to_string(dir.join("qemu.stderr")).unwrap_or_default(),
                tail(&console)
            ));
        }
        assert!(
            status.success(),
            "{}: qemu exited {status}; its stderr:\n{}",
            v.name,
            std::fs::read_to_string(dir.join("qemu.stderr")).unwrap_or_default()
        );
        eprintln!(
            "{}: booted, scanned and powered off in {took:.0?} ({})",
            v.name,
            accel()
        );
        let boot = Boot { dir, console, took };
        assert!(
            boot.console.contains("portcullis-oracle: done"),
            "{}: the oracle did not finish; console:\n{}",
            v.name,
            tail(&boot.console)
        );
        Ok(boot)
    }

    /// A file from the powered-off guest's disk.
    fn file(&self, path: &str) -> Vec<u8> {
        let out = Command::new("debugfs")
            .args(["-R", &format!("cat {path}")])
            .arg(self.dir.join("disk.raw"))
            .output()
            .unwrap();
        assert!(
            out.status.success() && !out.stdout.is_empty(),
            "{path}: {}",
            stderr(&out)
        );
        out.stdout
    }

    fn text(&self, path: &str) -> String {
        String::from_utf8(self.file(path)).unwrap()
    }

    /// Copies a guest file into this boot's folder (for the validators).
    fn keep(&self, path: &str) -> PathBuf {
        let local = self.dir.join(Path::new(path).file_name().unwrap());
        std::fs::write(&local, self.file(path)).unwrap();
        local
    }

    fn report(&self) -> Value {
        serde_json::from_slice(&self.file("/var/log/portcullis/portcullis.json")).unwrap()
    }

    /// The console line the unit printed (journal forwarding prefixes it).
    fn summary(&self) -> &str {
        self.console
            .lines()
            .find_map(|l| {
                l.find("portcullis: ")
                    .filter(|_| l.contains("(exit "))
                    .map(|i| &l[i..])
            })
            .unwrap_or_else(|| panic!("no summary line on the console:\n{}", tail(&self.console)))
    }

    /// How the first-boot unit ended, as the oracle was told: `success`
    /// or `failure`.
    fn unit_result(&self) -> String {
        self.text("/var/log/portcullis-oracle/result.txt")
            .trim()
            .to_owned()
    }

    /// When systemd started the first-boot unit (µs since boot), from its
    /// journal: the unit itself is unloaded once it has finished.
    fn firstboot_started_us(&self) -> u64 {
        let journal = self.text("/var/log/portcullis-oracle/firstboot.journal");
        let line = journal
            .lines()
            .find(|l| l.contains("Starting portcullis-firstboot.service"))
            .unwrap_or_else(|| panic!("no start in the unit's journal:\n{journal}"));
        let seconds: f64 = line
            .trim_start_matches('[')
            .split(']')
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        (seconds * 1e6) as u64
    }

    /// `systemctl show` of a unit, as the oracle recorded it.
    fn unit_property(&self, unit: &str, key: &str) -> String {
        let text = self.text(&format!("/var/log/portcullis-oracle/{unit}.show"));
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("{unit} has no {key}"))
            .to_owned()
    }
}

/// A boot's disk is an 832 MB copy of the image: it goes once the test has
/// read it, so three boots do not hold 2.5 GB of a CI disk. A failed test
/// keeps it to look into.
impl Drop for Boot {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(self.dir.join("disk.raw"));
        }
    }
}

fn debugfs_write(disk: &Path, commands: &str) {
    let mut child = Command::new("debugfs")
        .args(["-w", "-f", "-"])
        .arg(disk)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("debugfs (e2fsprogs)");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), commands.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "debugfs: {}", stderr(&out));
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// `ss -Htulnp` rows: (netid, local address) and the (name, pid) holders.
fn ss_rows_and_holders(text: &str) -> (BTreeSet<SsRow>, BTreeSet<(String, i64)>) {
    let mut holders = BTreeSet::new();
    for line in text.lines() {
        let users = line.split_whitespace().nth(6).unwrap_or("");
        for entry in users.split("((").nth(1).unwrap_or("").split("),(") {
            let mut parts = entry.trim_end_matches("))").split(',');
            let (Some(name), Some(pid)) = (parts.next(), parts.next()) else {
                continue;
            };
            let pid = pid.trim_start_matches("pid=").parse().unwrap();
            holders.insert((name.trim_matches('"').to_owned(), pid));
        }
    }
    (ss_rows(text), holders)
}

fn inventory_holders(inv: &Value) -> BTreeSet<(String, i64)> {
    inv["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l["holders"].as_array().unwrap().iter())
        .map(|h| {
            (
                h["comm"].as_str().unwrap().to_owned(),
                h["pid"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// What every boot must show, whatever it runs.
fn check_common(boot: &Boot) -> Value {
    let report = boot.report();
    let inv = &report["inventory"];
    assert_eq!(report["run"]["complete"], true, "{:#}", report["run"]);

    // The first-boot unit started after cloud-final had finished.
    let final_done: u64 = boot
        .unit_property("cloud-final.service", "ActiveEnterTimestampMonotonic")
        .parse()
        .unwrap();
    let scan_started = boot.firstboot_started_us();
    assert!(
        final_done > 0 && scan_started >= final_done,
        "portcullis-firstboot started at {scan_started} µs, cloud-final finished at {final_done} µs"
    );

    // The same sockets and holders as the guest's own ss -Htulnp.
    let (ss, ss_holders) = ss_rows_and_holders(&boot.text("/var/log/portcullis-oracle/ss.txt"));
    let host = inv["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["is_host"] == true)
        .unwrap()["inode"]
        .as_u64()
        .unwrap();
    assert_eq!(inv["namespaces"].as_array().unwrap().len(), 1);
    assert_eq!(rows_of(inv, host), ss);
    assert_eq!(inventory_holders(inv), ss_holders);

    // Trailing NUL padding of rewritten titles is not kept as arguments.
    for h in inv["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l["holders"].as_array().unwrap())
    {
        let args = h["cmdline"].as_array().unwrap();
        assert!(args.last().is_none_or(|a| a != ""), "{h}");
    }

    // The reports validate.
    validate_sarif(&boot.keep("/var/log/portcullis/portcullis.sarif"));
    validate_junit(&boot.keep("/var/log/portcullis/portcullis.xml"));
    std::fs::write(
        boot.dir.join("inventory.json"),
        serde_json::to_string_pretty(inv).unwrap(),
    )
    .unwrap();
    std::fs::write(
        boot.dir.join("summary.txt"),
        format!("{}\n", boot.summary()),
    )
    .unwrap();
    eprintln!("{}: {}", boot.dir.display(), boot.summary());
    report
}

fn listener<'a>(inv: &'a Value, protocol: &str, address: &str, port: u64) -> &'a Value {
    inv["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["protocol"] == protocol && l["address"] == address && l["port"] == port)
        .unwrap_or_else(|| panic!("no {protocol} {address}:{port} in {:#}", inv["listeners"]))
}

fn violations(report: &Value) -> Vec<&Value> {
    report["evaluation"]["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["outcome"] == "fail" && v["allowed_by"].is_null() && v["level"] == "error")
        .collect()
}

fn assert_passed(boot: &Boot, report: &Value) {
    assert!(
        boot.summary().starts_with("portcullis: PASS (exit 0)"),
        "{}\n{:#?}",
        boot.summary(),
        violations(report)
    );
    assert_eq!(report["run"]["exit_code"], 0);
    assert_eq!(boot.unit_result(), "success");
}

#[test]
fn a_stock_image_passes_its_first_boot_and_names_ssh_socket() {
    let boot = Boot::start(&Variant {
        name: "stock",
        kernel_args: "",
        files: &[],
        policy_extra: "",
    });
    let report = check_common(&boot);
    assert_passed(&boot, &report);
    let inv = &report["inventory"];
    let ssh = listener(inv, "tcp", "*", 22);
    let init = &ssh["holders"][0];
    assert_eq!(
        (&init["pid"], &init["comm"], &init["unit"]),
        (
            &Value::from(1),
            &Value::from("systemd"),
            &Value::from("ssh.socket")
        ),
        "{ssh:#}"
    );
    assert_eq!(init["unit_file"], "/usr/lib/systemd/system/ssh.socket");
    assert_eq!(init["activates"], "ssh.service", "Debian 12: Accept=no");
    // The DHCP client's wildcard is its protocol: it passes.
    let dhcp = listener(inv, "udp", "0.0.0.0", 68);
    assert_eq!(dhcp["holders"][0]["comm"], "dhclient");
    eprintln!("stock boot: {:.0?}", boot.took);
}

#[test]
fn nginx_fails_the_first_boot_and_nothing_else_does() {
    let boot = Boot::start(&Variant {
        name: "nginx",
        kernel_args: "systemd.wants=nginx.service",
        files: &[],
        policy_extra: "",
    });
    let report = check_common(&boot);
    assert!(
        boot.summary().starts_with("portcullis: FAIL (exit 1)"),
        "{}",
        boot.summary()
    );
    assert_eq!(
        boot.unit_result(),
        "failure",
        "a failing scan fails its unit"
    );
    let inv = &report["inventory"];
    let failing = violations(&report);
    assert!(!failing.is_empty());
    for v in failing {
        let l = &inv["listeners"][v["listener"].as_u64().unwrap() as usize];
        let names: BTreeSet<&str> = l["holders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["comm"].as_str().unwrap())
            .collect();
        assert_eq!(names, BTreeSet::from(["nginx"]), "{v:#}");
    }
    // The remedy is nginx's own.
    let web = inv["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .position(|l| l["protocol"] == "tcp" && l["address"] == "0.0.0.0" && l["port"] == 80)
        .expect("nginx on 0.0.0.0:80");
    let wildcard = report["evaluation"]["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["rule"] == "wildcard-bind" && v["listener"] == web)
        .unwrap();
    assert!(
        wildcard["message"]
            .as_str()
            .unwrap()
            .contains("listen 127.0.0.1:80;"),
        "{wildcard:#}"
    );
}

#[test]
fn an_ubuntu_shaped_boot_passes_the_ubuntu_profile() {
    let boot = Boot::start(&Variant {
        name: "ubuntu",
        kernel_args: "systemd.mask=networking.service systemd.wants=systemd-networkd.service systemd.wants=systemd-resolved.service",
        files: &[
            (
                "/etc/cloud/cloud.cfg.d/91-ubuntu-shape.cfg",
                "system_info:\n  network:\n    renderers: [networkd]\n",
            ),
            // Ubuntu builds systemd-resolved without LLMNR and mDNS
            // responders; Debian's answers LLMNR on every address.
            (
                "/etc/systemd/resolved.conf.d/ubuntu-defaults.conf",
                "[Resolve]\nLLMNR=no\nMulticastDNS=no\n",
            ),
        ],
        policy_extra: "[plugins.profiles.config]\nprofile = \"ubuntu\"\n",
    });
    let report = check_common(&boot);
    assert_passed(&boot, &report);
    let inv = &report["inventory"];
    let comms = inventory_holders(inv);
    for program in ["systemd-resolve", "systemd-network"] {
        assert!(comms.iter().any(|(c, _)| c == program), "{comms:?}");
    }
    let profile_judged = report["evaluation"]["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["rule"] == "os-profile")
        .count();
    assert_eq!(profile_judged, inv["listeners"].as_array().unwrap().len());
}
