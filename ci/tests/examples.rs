//! The pipeline examples under ci/examples/ are checked the way their
//! platforms would: the GitHub workflow and GitLab file against
//! check-jsonschema's vendored SchemaStore schemas, the cloud-config with
//! cloud-init's own `schema` command (Debian's package, unpacked by
//! ci/test.sh), every YAML parses. The policies they ship load, the unit
//! inside the cloud-config is the standalone unit, and the unit's command
//! line runs for real (root) and writes valid reports.

// A test sets up the host it checks: files, processes, namespaces.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;
use support::validate::*;
use support::*;

fn example(path: &str) -> PathBuf {
    repo().join("ci/examples").join(path)
}

fn python(args: &[&str], pythonpath: Option<&str>) -> std::process::Output {
    let mut cmd = Command::new(venv_bin().join("python"));
    cmd.args(args);
    if let Some(p) = pythonpath {
        cmd.env("PYTHONPATH", p);
    }
    cmd.output().unwrap()
}

const LOAD_YAML: &str = "import sys, yaml, json
print(json.dumps([list(yaml.safe_load_all(open(p))) for p in sys.argv[1:]]))";

/// Every `*.yml` / `*.yaml` under ci/examples, parsed.
fn yaml_documents() -> Vec<(PathBuf, serde_json::Value)> {
    let mut files = Vec::new();
    for dir in std::fs::read_dir(repo().join("ci/examples"))
        .unwrap()
        .flatten()
    {
        for f in std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let p = f.path();
            if p.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    let mut args = vec!["-c", LOAD_YAML];
    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    args.extend(names.iter().map(String::as_str));
    let out = python(&args, None);
    must_pass("yaml.safe_load_all", out.clone());
    let docs: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    files.into_iter().zip(docs).collect()
}

/// The DaemonSet and its namespace against Kubernetes' own schemas, with
/// no unknown field (`--strict`).
#[test]
fn the_kubernetes_manifest_validates() {
    let manifest = example("kubernetes/daemonset.yaml");
    let out = run_tool(
        venv_bin().join("kubernetes-validate"),
        &["--strict", manifest.to_str().unwrap()],
    );
    must_pass("kubernetes-validate --strict", out.clone());
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    for resource in ["namespace/portcullis", "daemonset/portcullis"] {
        assert!(
            said.contains(&format!("passed for resource {resource}")),
            "{said}"
        );
    }
}

#[test]
fn ci_files_pass_their_platform_schemas() {
    for (file, schema) in [
        ("github/portcullis.yml", "vendor.github-workflows"),
        ("gitlab/.gitlab-ci.yml", "vendor.gitlab-ci"),
    ] {
        must_pass(
            file,
            run_tool(
                venv_bin().join("check-jsonschema"),
                &["--builtin-schema", schema, example(file).to_str().unwrap()],
            ),
        );
    }
    let docs = yaml_documents();
    let gitlab = &docs
        .iter()
        .find(|(p, _)| p.ends_with(".gitlab-ci.yml"))
        .unwrap()
        .1[0];
    let job = &gitlab["open-ports"];
    assert_eq!(job["artifacts"]["when"], "always");
    assert_eq!(job["artifacts"]["reports"]["junit"], "out/portcullis.xml");
    let github = &docs
        .iter()
        .find(|(p, _)| p.ends_with("portcullis.yml"))
        .unwrap()
        .1[0];
    assert_eq!(github["permissions"]["security-events"], "write");
    let steps = github["jobs"]["ports"]["steps"].as_array().unwrap();
    let upload = steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("github/codeql-action/upload-sarif"))
        })
        .expect("an upload-sarif step");
    assert_eq!(
        upload["if"], "always()",
        "uploaded even when the scan fails or is clean"
    );
    let kube = &docs
        .iter()
        .find(|(p, _)| p.ends_with("daemonset.yaml"))
        .unwrap()
        .1;
    let ds = kube
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == "DaemonSet")
        .unwrap();
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["hostPID"], true);
    let namespace = kube
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == "Namespace")
        .unwrap();
    assert_eq!(
        namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "privileged"
    );
    // The metrics go where the volume for node_exporter's textfile folder
    // is mounted, under a name the collector reads.
    let script = pod["containers"][0]["args"][0].as_str().unwrap();
    assert!(
        script.contains("--metrics /textfile/portcullis.prom"),
        "{script}"
    );
    let mount = pod["containers"][0]["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == "/textfile")
        .expect("the textfile folder is mounted");
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap();
    assert_eq!(
        volume["hostPath"]["path"],
        "/var/lib/node_exporter/textfile_collector"
    );
}

#[test]
fn cloud_config_passes_cloud_init_schema() {
    let cloudinit = std::env::var("PORTCULLIS_CLOUD_INIT").unwrap_or_else(|_| {
        repo()
            .join("ci/.cache/cloud-init/usr/lib/python3/dist-packages")
            .display()
            .to_string()
    });
    assert!(
        Path::new(&cloudinit).join("cloudinit").is_dir(),
        "{cloudinit}: run ci/test.sh, which unpacks Debian's cloud-init"
    );
    let user_data = example("cloud-init/user-data.yaml");
    let out = python(
        &[
            "-m",
            "cloudinit.cmd.main",
            "schema",
            "--config-file",
            user_data.to_str().unwrap(),
        ],
        Some(&cloudinit),
    );
    must_pass("cloud-init schema", out.clone());
    assert!(String::from_utf8_lossy(&out.stdout).contains("Valid cloud-config"));

    // And it can fail: a runcmd that is a string, a write_files without path.
    let broken = std::env::temp_dir().join(unique("broken-user-data.yaml"));
    std::fs::write(
        &broken,
        "#cloud-config\nruncmd: portcullis scan\nwrite_files:\n  - content: x\n",
    )
    .unwrap();
    let out = python(
        &[
            "-m",
            "cloudinit.cmd.main",
            "schema",
            "--config-file",
            broken.to_str().unwrap(),
        ],
        Some(&cloudinit),
    );
    assert!(
        !out.status.success(),
        "cloud-init schema rejects a broken file"
    );
    std::fs::remove_file(broken).unwrap();
}

/// The cloud-config's files, by path.
fn written_file(path: &str) -> String {
    let docs = yaml_documents();
    let user_data = &docs
        .iter()
        .find(|(p, _)| p.ends_with("user-data.yaml"))
        .unwrap()
        .1[0];
    user_data["write_files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("user-data writes {path}"))["content"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Lines that are not comments or blank.
fn significant(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

#[test]
fn the_cloud_config_carries_the_standalone_unit_and_a_valid_policy() {
    let unit = std::fs::read_to_string(example("systemd/portcullis-firstboot.service")).unwrap();
    let embedded = written_file("/etc/systemd/system/portcullis-firstboot.service");
    assert_eq!(significant(&embedded), significant(&unit));
    let dir = scratch("policies");
    let cloud_policy = dir.join("portcullis.toml");
    std::fs::write(
        &cloud_policy,
        written_file("/etc/portcullis/portcullis.toml"),
    )
    .unwrap();
    for policy in [cloud_policy.clone(), example("docker/portcullis.toml")] {
        let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(["rules", "--policy"])
            .arg(&policy)
            .env("PORTCULLIS_CACHE_DIR", "off")
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            policy.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// The first-boot unit's own command line, run on a namespace of this test
/// (paths moved into a temporary folder, the settle period shortened).
#[test]
fn the_first_boot_command_line_runs_and_writes_valid_reports() {
    require_root();
    let unit = std::fs::read_to_string(example("systemd/portcullis-firstboot.service")).unwrap();
    let exec_start = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap();
    let dir = scratch("firstboot");
    let policy = dir.join("portcullis.toml");
    std::fs::write(&policy, written_file("/etc/portcullis/portcullis.toml")).unwrap();
    let argv: Vec<String> = exec_start
        .replace("/var/log/portcullis", dir.to_str().unwrap())
        .replace("/etc/portcullis/portcullis.toml", policy.to_str().unwrap())
        .replace("--settle 30s", "--settle 1s")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    assert_eq!(argv[0], "/usr/local/bin/portcullis");
    let ns = NamedNetns::new(&unique("boot"));
    let _sshd_like = Helper::spawn(
        &["ip", "netns", "exec", &ns.name],
        json!({"sockets": [{"proto": "tcp", "addr": "0.0.0.0", "port": 22}, {"proto": "tcp", "addr": "127.0.0.1"}]}),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(&argv[1..])
        .args(["--netns", &ns.name])
        .env("PORTCULLIS_CACHE_DIR", "off")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The README quotes this line.
    std::fs::create_dir_all(repo().join("target/e2e")).unwrap();
    std::fs::write(repo().join("target/e2e/firstboot.txt"), stdout.as_bytes()).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.lines().count(),
        1,
        "one line for the console: {stdout}"
    );
    assert!(
        stdout.starts_with("portcullis: PASS (exit 0) 2 listeners in 1 namespace"),
        "{stdout}"
    );
    validate_sarif(&dir.join("portcullis.sarif"));
    validate_junit(&dir.join("portcullis.xml"));
    assert!(dir.join("portcullis.json").exists());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn every_example_downloads_the_release_cargo_toml_names() {
    let mut seen = 0;
    for entry in walk(&repo().join("ci/examples")) {
        let text = std::fs::read_to_string(&entry).unwrap_or_default();
        for (at, _) in text.match_indices("/releases/download/") {
            let start = text[..at]
                .rfind(|c: char| c.is_whitespace() || c == '=')
                .unwrap()
                + 1;
            let end = at
                + text[at..]
                    .find(|c: char| c.is_whitespace())
                    .unwrap_or(text.len() - at);
            assert_eq!(
                &text[start..end],
                release_url(),
                "{}: a release URL that Cargo.toml does not name",
                entry.display()
            );
            seen += 1;
        }
    }
    assert!(
        seen >= 3,
        "the Dockerfile, the workflow and the user-data download it"
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
