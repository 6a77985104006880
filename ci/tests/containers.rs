//! Containers with a real engine: Debian's docker.io, its dockerd started
//! here in a network namespace of the test's own (so its bridge, its
//! docker-proxy and its containers' traffic stay out of the machine's
//! network) under its own data and exec roots, an image imported from the
//! debootstrap rootfs (no registry), and containers made the ways people
//! make them: a published port, `--network host`, and a pod as cri-dockerd
//! makes one (a sandbox and an application container sharing its network,
//! with the Kubernetes labels). `docker inspect` and `ss` in each
//! namespace are the oracles. Every daemon the test starts is stopped.
//!
//! ci/test.sh installs docker.io; the static binary (ci/build-static.sh)
//! is the scanner run inside a DaemonSet-like container.

// A test sets up the host it checks: files, processes, namespaces.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

const IMAGE: &str = "portcullis-test/debian:bookworm";

/// A dockerd of the test's own; stopped, with its containers, on drop.
struct Engine {
    netns: NamedNetns,
    dir: PathBuf,
    daemon: Child,
}

impl Engine {
    /// `tag`: this engine's among the test's (they may run at once).
    fn start(tag: &str) -> Engine {
        let dockerd = Path::new("/usr/sbin/dockerd");
        assert!(
            dockerd.exists(),
            "{}: install Debian's docker.io (ci/test.sh does)",
            dockerd.display()
        );
        let netns = NamedNetns::new(&unique(tag));
        // Short: containerd's socket path must fit in a sockaddr_un.
        let dir = std::env::temp_dir().join(unique(tag));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // nsenter, not `ip netns exec`: that one remounts /sys, hiding the
        // cgroup hierarchies dockerd needs.
        let daemon = Command::new("nsenter")
            .arg(format!("--net={}", netns.path()))
            .arg(dockerd)
            .arg(format!("--data-root={}", dir.join("data").display()))
            .arg(format!("--exec-root={}", dir.join("exec").display()))
            .arg(format!("--pidfile={}", dir.join("docker.pid").display()))
            .arg(format!(
                "--host=unix://{}",
                dir.join("docker.sock").display()
            ))
            .args(["--iptables=false", "--ip6tables=false"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("dockerd.log")).unwrap())
            .spawn()
            .expect("start dockerd");
        let engine = Engine { netns, dir, daemon };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !engine.docker(&["info"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "dockerd did not come up:\n{}",
                std::fs::read_to_string(engine.dir.join("dockerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        engine
    }

    fn docker(&self, args: &[&str]) -> Output {
        // Debian's client, whatever else is on PATH.
        Command::new("/usr/bin/docker")
            .arg(format!(
                "--host=unix://{}",
                self.dir.join("docker.sock").display()
            ))
            .args(args)
            // The classic builder: the examples need no BuildKit.
            .env("DOCKER_BUILDKIT", "0")
            .output()
            .unwrap()
    }

    fn must(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(out.status.success(), "docker {args:?}: {}", stderr(&out));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// The image, from the debootstrap rootfs: `tar | docker import`.
    fn import_image(&self) {
        let mut tar = Command::new("tar")
            .arg("-C")
            .arg(debian_rootfs())
            .args(["-c", "."])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = Command::new("/usr/bin/docker")
            .arg(format!(
                "--host=unix://{}",
                self.dir.join("docker.sock").display()
            ))
            .args(["import", "-", IMAGE])
            .stdin(tar.stdout.take().unwrap())
            .output()
            .unwrap();
        assert!(tar.wait().unwrap().success(), "tar of the rootfs failed");
        assert!(out.status.success(), "docker import: {}", stderr(&out));
    }

    fn inspect(&self, name: &str) -> Value {
        let text = self.must(&["inspect", name]);
        serde_json::from_str::<Value>(&text).unwrap()[0].clone()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let ids = self.docker(&["ps", "-aq"]);
        let ids: Vec<String> = String::from_utf8_lossy(&ids.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids.iter().map(String::as_str));
            let _ = self.docker(&args);
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.daemon.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.daemon.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        // containerd's shims outlive a daemon that did not stop them (that
        // is their design): every process still naming our roots goes.
        let ours = self.dir.to_string_lossy().into_owned();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&ours) {
                let pid = entry.file_name().to_string_lossy().into_owned();
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
            }
        }
        // What dockerd leaves mounted under its roots (its default
        // namespace's bind mount, overlays of a killed daemon), deepest
        // first.
        let mut mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(str::to_owned))
            .filter(|m| Path::new(m).starts_with(&self.dir))
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = Command::new("umount").args(["-l", &m]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = &self.netns;
    }
}

/// `portcullis ARGS` with the JSON inventory on stdout, parsed.
fn scan_json(args: &[&str]) -> Value {
    let mut full = vec!["list", "--format", "json"];
    full.extend(args);
    let out = portcullis(&full);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn container<'a>(inv: &'a Value, id: &str) -> &'a Value {
    inv["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == format!("docker://{id}"))
        .unwrap_or_else(|| panic!("no container {id}: {:#}", inv["containers"]))
}

fn netns_path(pid: i64) -> String {
    format!("/proc/{pid}/ns/net")
}

/// Runs `nginx` in the foreground: the image's own web server.
const NGINX: [&str; 3] = ["nginx", "-g", "daemon off;"];

#[test]
fn containers_are_named_by_their_runtime() {
    require_root();
    let engine = Engine::start("dk");
    engine.import_image();
    // Names of this run's own: another engine on the machine may have a
    // `web` too.
    let tag = unique("");
    let web_name = format!("{tag}-web");
    let hostnet_name = format!("{tag}-hostnet");
    let pod_name = format!("web-{tag}");
    let sandbox_name = format!("k8s_POD_{pod_name}_shop");
    let app_name = format!("k8s_nginx_{pod_name}_shop");
    let run = |args: &[&str], command: &[&str]| {
        engine.must(&[&["run", "-d"][..], args, &[IMAGE], command].concat());
    };
    run(&["--name", &web_name, "-p", "8080:80"], &NGINX);
    run(&["--name", &hostnet_name, "--network", "host"], &NGINX);
    // A pod as cri-dockerd makes one: a sandbox holding the namespace, and
    // the application container joining it, labelled for Kubernetes.
    let pod_label = format!("io.kubernetes.pod.name={pod_name}");
    let pod_labels = [
        "--label",
        &pod_label,
        "--label",
        "io.kubernetes.pod.namespace=shop",
        "--label",
        "io.kubernetes.pod.uid=0f1e2d3c",
    ];
    run(
        &[
            &["--name", &sandbox_name][..],
            &pod_labels,
            &["--label", "io.kubernetes.docker.type=podsandbox"],
        ]
        .concat(),
        &["sleep", "infinity"],
    );
    let joined = format!("container:{sandbox_name}");
    run(
        &[
            &["--name", &app_name, "--network", &joined][..],
            &pod_labels,
            &[
                "--label",
                "io.kubernetes.container.name=nginx",
                "--label",
                "io.kubernetes.docker.type=container",
            ],
        ]
        .concat(),
        &NGINX,
    );
    let web = engine.inspect(&web_name);
    let hostnet = engine.inspect(&hostnet_name);
    let sandbox = engine.inspect(&sandbox_name);
    let app = engine.inspect(&app_name);
    let id = |c: &Value| c["Id"].as_str().unwrap().to_owned();
    let pid = |c: &Value| c["State"]["Pid"].as_i64().unwrap();
    // nginx is listening in each before the scan.
    for c in [&web, &hostnet, &app] {
        let deadline = Instant::now() + Duration::from_secs(20);
        while ss(Some(&netns_path(pid(c))))
            .is_none_or(|rows| rows.iter().all(|(_, l)| !l.ends_with(":80")))
        {
            assert!(
                Instant::now() < deadline,
                "nginx did not start in {}",
                c["Name"]
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    // By name: the container's namespace, named, with its image and where
    // that came from; the listeners are what ss sees there.
    let inv = scan_json(&["--netns", &web_name]);
    let c = container(&inv, &id(&web));
    assert_eq!(c["runtime"], "docker");
    assert_eq!(c["name"], web_name.as_str());
    assert_eq!(c["image"], web["Config"]["Image"]);
    let state = engine
        .dir
        .join(format!("data/containers/{}/config.v2.json", id(&web)));
    assert!(
        c["sources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == state.to_str().unwrap()),
        "{c:#}"
    );
    // Its published ports, as docker inspect lists them.
    let mut want: Vec<Value> = Vec::new();
    for (key, bindings) in web["NetworkSettings"]["Ports"].as_object().unwrap() {
        let (port, protocol) = key.split_once('/').unwrap();
        for b in bindings.as_array().into_iter().flatten() {
            want.push(serde_json::json!({
                "protocol": protocol, "port": port.parse::<u16>().unwrap(),
                "host_ip": b["HostIp"], "host_port": b["HostPort"].as_str().unwrap().parse::<u16>().unwrap(),
            }));
        }
    }
    let mut got = c["published"].as_array().unwrap().clone();
    let key = |v: &Value| v.to_string();
    want.sort_by_key(key);
    got.sort_by_key(key);
    assert_eq!(got, want);
    assert!(!want.is_empty(), "-p 8080:80 is published");
    let ns = inode_of(&netns_path(pid(&web)));
    assert_eq!(inv["namespaces"].as_array().unwrap().len(), 1);
    assert_eq!(rows_of(&inv, ns), ss(Some(&netns_path(pid(&web)))).unwrap());
    assert!(
        inv["gaps"].as_array().unwrap().is_empty(),
        "{:#}",
        inv["gaps"]
    );

    // Its short id selects it too, and the image every container made
    // from it.
    let by_short = scan_json(&["--netns", &id(&web)[..12]]);
    assert_eq!(by_short["namespaces"][0]["inode"], ns);
    let by_image = scan_json(&["--netns", IMAGE]);
    let inodes: Vec<u64> = by_image["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["inode"].as_u64().unwrap())
        .collect();
    for c in [&web, &app] {
        assert!(
            inodes.contains(&inode_of(&netns_path(pid(c)))),
            "{inodes:?}"
        );
    }

    // The pod: selected as k8s:NAMESPACE/POD; the sandbox is marked, the
    // application container carries the pod; findings name the latter.
    let pod_selector = format!("k8s:shop/{pod_name}");
    let pod = scan_json(&["--netns", &pod_selector]);
    assert_eq!(pod["namespaces"].as_array().unwrap().len(), 1);
    assert_eq!(
        pod["namespaces"][0]["inode"],
        inode_of(&netns_path(pid(&sandbox)))
    );
    assert_eq!(container(&pod, &id(&sandbox))["sandbox"], true);
    assert_eq!(
        container(&pod, &id(&app))["pod"],
        serde_json::json!({"namespace": "shop", "name": pod_name, "uid": "0f1e2d3c", "container": "nginx"})
    );
    let empty = validate::repo().join("testdata/empty-policy.toml");
    let empty = empty.to_str().unwrap();
    let out = portcullis(&["scan", "--netns", &pod_selector, "--policy", empty]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains(&format!("in container {pod_selector}/nginx ({IMAGE})")),
        "{table}"
    );
    assert!(
        table.contains(&format!(
            "tcp 0.0.0.0:80 in container {pod_selector}/nginx listens on every address"
        )),
        "{table}"
    );

    // A --network host container: its listener is in dockerd's namespace,
    // and the findings name the container all the same.
    let out = portcullis(&["scan", "--netns", &engine.netns.name, "--policy", empty]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains(&format!(
            "tcp 0.0.0.0:80 in container {hostnet_name} listens on every address"
        )),
        "{table}\n{}",
        stderr(&out)
    );
    // docker-proxy is dockerd's, not a container's.
    assert!(
        table.contains(&format!(
            "tcp 0.0.0.0:8080 in netns {} listens",
            engine.netns.name
        )),
        "{table}"
    );

    // The published port: docker-proxy's listener on dockerd's side says
    // where it forwards, to the container's address (docker inspect's)
    // and its namespace, when both namespaces are scanned.
    let both = scan_json(&["--netns", &engine.netns.name, "--netns", &web_name]);
    let proxy = both["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["address"] == "0.0.0.0" && l["port"] == 8080)
        .expect("docker-proxy's listener");
    assert_eq!(
        proxy["forwards_to"],
        serde_json::json!({
            "address": web["NetworkSettings"]["IPAddress"],
            "port": 80,
            "netns": {"dev": inv["namespaces"][0]["dev"], "inode": ns},
            "container": format!("docker://{}", id(&web)),
        })
    );
    let out = portcullis(&[
        "scan",
        "--netns",
        &engine.netns.name,
        "--netns",
        &web_name,
        "--policy",
        empty,
    ]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains(&format!(
            "publishing container {web_name} ({IMAGE}) port 80"
        )),
        "{table}"
    );

    // An allowlist entry by image (without its tag) accepts what
    // containers of that image do.
    let policy = engine.dir.join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "[[allow]]\nrule = \"wildcard-bind\"\nnetns = \"{}\"\nreason = \"the image's web server\"\n",
            IMAGE.split(':').next().unwrap()
        ),
    )
    .unwrap();
    let out = portcullis(&[
        "scan",
        "--netns",
        &web_name,
        "--format",
        "json",
        "--policy",
        policy.to_str().unwrap(),
    ]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let wildcard: Vec<&Value> = report["evaluation"]["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["rule"] == "wildcard-bind" && v["outcome"] == "fail")
        .collect();
    assert!(!wildcard.is_empty());
    assert!(
        wildcard
            .iter()
            .all(|v| v["allowed_by"] == "the image's web server"),
        "{wildcard:#?}"
    );

    // A scanner in a DaemonSet-like container (the host's PID namespace,
    // the capabilities the example grants, nothing else) sees the same
    // names: it reads the runtime's state through the runtime's processes.
    let bin = static_binary();
    let mount = format!("{}:/portcullis:ro", bin.display());
    let out = engine.must(
        &[
            &["run", "--rm", "--pid", "host", "--cap-drop", "ALL"][..],
            &["--cap-add", "SYS_ADMIN", "--cap-add", "SYS_PTRACE"],
            &["--cap-add", "DAC_READ_SEARCH", "--read-only", "-v", &mount],
            &[IMAGE, "/portcullis", "list", "--format", "json"],
            &["--netns", &web_name],
        ]
        .concat(),
    );
    let seen: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(container(&seen, &id(&web)), container(&inv, &id(&web)));
}

/// The findings' fingerprints of a scan of `netns` (`--category pool`).
fn fingerprints(netns: &str, dir: &Path, tag: &str) -> std::collections::BTreeSet<String> {
    let sarif = dir.join(format!("{tag}.sarif"));
    let out = portcullis(&[
        "scan",
        "--netns",
        netns,
        "--category",
        "pool",
        "--format",
        "summary",
        "--sarif",
        sarif.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let log: Value = serde_json::from_slice(&std::fs::read(&sarif).unwrap()).unwrap();
    let run = log["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["automationDetails"]["id"] == "portcullis/pool/")
        .expect("a findings run");
    let set: std::collections::BTreeSet<String> = run["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["partialFingerprints"]["portcullis/v1"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(!set.is_empty());
    set
}

/// Waits until nginx listens in container `name`'s namespace.
fn nginx_up(engine: &Engine, name: &str) {
    let pid = engine.inspect(name)["State"]["Pid"].as_i64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while ss(Some(&netns_path(pid)))
        .is_none_or(|rows| rows.iter().all(|(_, l)| !l.ends_with(":80")))
    {
        assert!(Instant::now() < deadline, "nginx did not start in {name}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A container removed and made again with the same name and image, and
/// the same container on a second node (another engine, another data
/// root): a new id and a new namespace each time, one identity. The
/// baseline stays clean and the code-scanning fingerprints are the same.
#[test]
fn a_recreated_container_and_a_second_node_keep_its_identity() {
    require_root();
    let name = format!("{}-web", unique("id"));
    let dir = scratch("ident");
    let first = {
        let engine = Engine::start("da");
        engine.import_image();
        let run = || {
            engine.must(&[&["run", "-d", "--name", &name, IMAGE][..], &NGINX].concat());
            nginx_up(&engine, &name);
        };
        run();
        let baseline = dir.join("baseline.json");
        let out = portcullis(&[
            "baseline",
            "--netns",
            &name,
            "--output",
            baseline.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let recorded: Value = serde_json::from_slice(&std::fs::read(&baseline).unwrap()).unwrap();
        assert!(
            recorded["listeners"]
                .as_array()
                .unwrap()
                .iter()
                .all(|l| l["netns"] == format!("container:{name}")),
            "{recorded:#}"
        );
        let first = fingerprints(&name, &dir, "first");
        let old_id = engine.inspect(&name)["Id"].clone();
        engine.must(&["rm", "-f", &name]);
        run();
        assert_ne!(engine.inspect(&name)["Id"], old_id, "a new container");
        let out = portcullis(&[
            "scan",
            "--netns",
            &name,
            "--format",
            "json",
            "--baseline",
            baseline.to_str().unwrap(),
        ]);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let drift: Vec<&Value> = report["evaluation"]["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["rule"] == "baseline-drift" && v["outcome"] == "fail")
            .collect();
        assert!(drift.is_empty(), "{drift:#?}");
        assert_eq!(fingerprints(&name, &dir, "recreated"), first);
        first
    };
    let engine = Engine::start("db");
    engine.import_image();
    engine.must(&[&["run", "-d", "--name", &name, IMAGE][..], &NGINX].concat());
    nginx_up(&engine, &name);
    assert_eq!(fingerprints(&name, &dir, "second-node"), first);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A build context: an example's folder with the static binary beside its
/// Dockerfile, as its comments tell users to put the release binary.
fn context(example: &str, dir: &Path) -> PathBuf {
    let ctx = dir.join(example.replace('/', "-"));
    std::fs::create_dir_all(&ctx).unwrap();
    for entry in std::fs::read_dir(validate::repo().join("ci/examples").join(example)).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, ctx.join(path.file_name().unwrap())).unwrap();
    }
    std::fs::copy(static_binary(), ctx.join("portcullis")).unwrap();
    ctx
}

/// The Docker example, built as its comments say (classic builder, no
/// network: its base comes from the debootstrap rootfs) and run: it passes
/// the image it ships, writes valid reports, and still fails an image that
/// opens one port more. The DaemonSet's scanner image builds and scans.
#[test]
fn the_docker_examples_build_and_judge_their_images() {
    require_root();
    let engine = Engine::start("dx");
    engine.import_image();
    engine.must(&["tag", IMAGE, "debian:bookworm-slim"]);
    let dir = scratch("dx");
    let ctx = context("docker", &dir);
    let ctx = ctx.to_str().unwrap();
    engine.must(&[
        "build",
        "--network",
        "none",
        "--target",
        "portcullis-test",
        "-t",
        "web:ports",
        ctx,
    ]);
    let out_dir = dir.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let volume = format!("{}:/out", out_dir.display());
    let run = |extra: &[&str]| {
        let fixed = ["run", "--rm", "--network", "none", "--user", "0"];
        let caps = ["--cap-add", "SYS_PTRACE", "-v", &volume];
        engine.docker(&[&fixed[..], &caps, extra].concat())
    };
    let out = run(&["web:ports", "--format", "summary"]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{said}{}", stderr(&out));
    assert!(
        said.starts_with("portcullis: PASS (exit 0) 2 listeners"),
        "{said}"
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("portcullis.json")).unwrap()).unwrap();
    let mut binds: Vec<String> = report["inventory"]["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| format!("{}:{}", l["address"].as_str().unwrap(), l["port"]))
        .collect();
    binds.sort();
    // nginx listens on both families, its IPv6 socket v6-only.
    assert_eq!(binds, ["0.0.0.0:80", ":::80"]);
    validate::validate_sarif(&out_dir.join("portcullis.sarif"));
    validate::validate_junit(&out_dir.join("portcullis.xml"));

    // One port more than the image is for: the same gate fails it.
    let more = "printf 'server { listen 8081; }\\n' > /etc/nginx/conf.d/more.conf \
                && exec nginx -g 'daemon off;'";
    let out = run(&[
        "--entrypoint",
        "/usr/local/bin/portcullis",
        "web:ports",
        "exec",
        "--own-pid-namespace",
        "--settle",
        "2s",
        "--policy",
        "/etc/portcullis.toml",
        "--format",
        "summary",
        "--",
        "sh",
        "-c",
        more,
    ]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{said}{}", stderr(&out));
    assert!(
        said.starts_with("portcullis: FAIL (exit 1) 3 listeners"),
        "{said}"
    );

    // The DaemonSet's scanner image, on the suite's base, scanning as the
    // DaemonSet does (host PIDs, its capabilities, a read-only root).
    let scanner = context("kubernetes", &dir);
    let base = format!("BASE={IMAGE}");
    engine.must(&[
        "build",
        "--network",
        "none",
        "--build-arg",
        &base,
        "-t",
        "scanner",
        scanner.to_str().unwrap(),
    ]);
    let web = format!("{}-web", unique("dx"));
    engine.must(&[&["run", "-d", "--name", &web, IMAGE][..], &NGINX].concat());
    nginx_up(&engine, &web);
    // The DaemonSet's privileges but CAP_NET_ADMIN, which is checked apart.
    let daemonset_like = [
        "run",
        "--rm",
        "--pid",
        "host",
        "--cap-drop",
        "ALL",
        "--cap-add",
        "SYS_ADMIN",
        "--cap-add",
        "SYS_PTRACE",
        "--cap-add",
        "DAC_READ_SEARCH",
        "--read-only",
    ];
    let said = engine.must(
        &[
            &daemonset_like[..],
            &["scanner", "list", "--format", "summary", "--netns", &web],
        ]
        .concat(),
    );
    assert_eq!(said, "portcullis: 2 listeners in 1 namespace");
    // Reading a namespace's nftables needs CAP_NET_ADMIN: without it the
    // reachability is unknown, and says why; with it, the container's
    // namespace (no firewall of its own) lets anyone reach nginx.
    let states = |extra: &[&str]| -> Vec<(String, String)> {
        let base = &daemonset_like[..daemonset_like.len() - 1];
        let tail = [
            "--read-only",
            "scanner",
            "list",
            "--format",
            "json",
            "--netns",
            &web,
        ];
        let out = engine.must(&[base, extra, &tail[..]].concat());
        let inv: serde_json::Value = serde_json::from_str(&out).unwrap();
        inv["listeners"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                let r = &l["reachability"];
                let why = r["reason"].as_str().or(r["decided_by"]["why"].as_str());
                (
                    format!(
                        "{} {}",
                        l["address"].as_str().unwrap(),
                        r["state"].as_str().unwrap()
                    ),
                    why.unwrap_or("").to_owned(),
                )
            })
            .collect()
    };
    for (state, reason) in states(&[]) {
        assert!(state.ends_with(" unknown"), "{state}");
        assert!(reason.contains("CAP_NET_ADMIN"), "{reason}");
    }
    let with: Vec<String> = states(&["--cap-add", "NET_ADMIN"])
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    // Docker gives the container no IPv6 address: nothing reaches `::`.
    assert_eq!(with, ["0.0.0.0 open", ":: filtered"]);
    let _ = std::fs::remove_dir_all(&dir);
}
