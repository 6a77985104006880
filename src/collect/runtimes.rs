//! Names, images and pods of containers, from the runtimes' own state on
//! disk, never their APIs (a scanner in a DaemonSet has no socket to them,
//! and an API can hang).
//!
//! A container's processes have a runtime manager among their ancestors: a
//! containerd shim (Docker's and Kubernetes' containerd) or conmon (podman,
//! CRI-O). The manager leads to the container's OCI bundle: a shim runs in
//! its bundle folder (for a Kubernetes pod, one shim serves the pod and
//! the containers' bundles are siblings of the sandbox's), conmon is told
//! it with `-b`. The bundle's `config.json` carries the CRI annotations
//! (pod, namespace, uid, container name, image); Docker keeps names and
//! images in `<data root>/containers/<id>/config.v2.json`, which its
//! bundle's mounts name, so a non-default data root is found too. Every
//! path is opened through the manager's own `/proc/PID/cwd` or `root`, so
//! it is the manager's view of the filesystem (a scanner in a container
//! sees the node's), links are never followed out of it, and each file
//! must be regular, bounded and owned by the manager's user.
//!
//! A container whose runtime state cannot be read is a gap, and is still
//! listed by its id.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::model::{Container, Gap, GapKind, Pod};
use crate::os::proc::{ProcDir, ProcRoot};

/// Ancestors looked at above a container process for its manager.
const MAX_DEPTH: usize = 8;
/// Processes of one container tried before giving up on it.
const PIDS_TRIED: usize = 4;
/// Containers described in one scan; the rest are listed by id only.
const MAX_CONTAINERS: usize = 4096;
/// An OCI `config.json` or Docker `config.v2.json`.
const STATE_BYTES: usize = 4 << 20;
const SMALL: usize = 64 << 10;

/// Describes each container id (`runtime://id`, or a bare id) from
/// processes its cgroup says run in it. `confined`: the scan sees only its
/// own PID namespace on purpose (a container judging itself), so a
/// container with no runtime process in sight is no gap.
pub fn describe(
    root: &ProcRoot,
    wanted: &BTreeMap<String, Vec<i32>>,
    confined: bool,
) -> (Vec<Container>, Vec<Gap>) {
    let mut containers = Vec::new();
    let mut unreadable: Vec<(String, Vec<i32>)> = Vec::new();
    for (id, pids) in wanted.iter().take(MAX_CONTAINERS) {
        match describe_one(root, id, pids) {
            Ok(c) => containers.push(c),
            Err(Unknown::NoManager(_)) if confined => containers.push(bare(id)),
            Err(Unknown::NoManager(why) | Unknown::Unreadable(why)) => {
                unreadable.push((why, pids.clone()));
                containers.push(bare(id));
            }
        }
    }
    let gaps = unreadable
        .into_iter()
        .map(|(why, pids)| Gap {
            kind: GapKind::ContainerStateUnreadable,
            netns: None,
            pids: pids.into_iter().take(16).collect(),
            detail: why,
        })
        .collect();
    (containers, gaps)
}

/// A container known only by its id.
fn bare(id: &str) -> Container {
    Container {
        id: id.to_owned(),
        runtime: id
            .split_once("://")
            .map_or("unknown", |(r, _)| r)
            .to_owned(),
        name: None,
        image: None,
        pod: None,
        sandbox: false,
        sources: vec![],
        published: vec![],
        rootless_uid: None,
    }
}

/// Why a container is known by its id only.
enum Unknown {
    /// No runtime process above its processes.
    NoManager(String),
    /// Its runtime's state could not be read.
    Unreadable(String),
}

fn describe_one(root: &ProcRoot, id: &str, pids: &[i32]) -> Result<Container, Unknown> {
    let bare_id = id.rsplit("://").next().unwrap_or(id);
    if let Some(name) = id.strip_prefix("lxc://") {
        // LXC names its containers in the cgroup itself.
        return Ok(Container {
            name: Some(name.to_owned()),
            ..bare(id)
        });
    }
    let manager = pids
        .iter()
        .take(PIDS_TRIED)
        .find_map(|&pid| manager_of(root, pid))
        .ok_or_else(|| {
            Unknown::NoManager(format!(
                "container {}: no runtime process (containerd shim, conmon) above its processes: its name, image and pod are unknown",
                short(bare_id)
            ))
        })?;
    let unreadable = |what: &str, e: &dyn std::fmt::Display| {
        Unknown::Unreadable(format!(
            "container {}: cannot read {what} of {} (pid {}): {e}: its name, image and pod are unknown",
            short(bare_id),
            manager.kind.name(),
            manager.pid
        ))
    };
    let dir = root
        .process(manager.pid)
        .map_err(|e| unreadable("the runtime process", &e.desc()))?;
    let (spec, spec_path) = match manager.kind {
        Kind::Shim => {
            let cwd = dir
                .open_dir(c"cwd")
                .map_err(|e| unreadable("the bundle", &e.desc()))?;
            let name = CString::new(bare_id).map_err(|e| unreadable("the bundle", &e))?;
            let bundle = cwd
                .open_dir(c"..")
                .and_then(|parent| parent.open_dir_nofollow(&name))
                .map_err(|e| unreadable("the bundle", &e.desc()))?;
            let bytes = owned_by(
                bundle.read_regular(c"config.json", STATE_BYTES),
                manager.uid,
            )
            .map_err(|e| unreadable("the bundle's config.json", &e))?;
            let folder = dir
                .readlink_owned(c"cwd")
                .ok()
                .map(|p| PathBuf::from(String::from_utf8_lossy(&p).into_owned()))
                .and_then(|p| Some(p.parent()?.join(bare_id)))
                .unwrap_or_else(|| PathBuf::from(bare_id));
            (bytes, folder.join("config.json"))
        }
        Kind::Conmon => {
            let path = manager
                .bundle
                .clone()
                .ok_or_else(|| unreadable("the bundle", &"conmon was given no -b"))?
                .join("config.json");
            let bytes = dir
                .open_dir(c"root")
                .map_err(|e| e.desc().to_owned())
                .and_then(|r| owned_by(r.read_beneath(&path, STATE_BYTES), manager.uid))
                .map_err(|e| unreadable("the bundle's config.json", &e))?;
            (bytes, path)
        }
    };
    let spec: Value = serde_json::from_slice(&spec)
        .map_err(|e| unreadable(&spec_path.display().to_string(), &e))?;
    let mut container = bare(id);
    container.rootless_uid = (manager.uid != 0).then_some(manager.uid);
    container.sources.push(spec_path.display().to_string());
    if let Some(cri) = CRI
        .iter()
        .find(|k| spec["annotations"].get(k.pod_name).is_some())
    {
        cri.fill(&spec["annotations"], &mut container);
    } else if let Some(state) = docker_state_dir(&spec, bare_id) {
        docker(&dir, &state, manager.uid, &mut container)
            .map_err(|e| unreadable(&state.join("config.v2.json").display().to_string(), &e))?;
    } else if manager.kind == Kind::Conmon {
        container.runtime = "podman".into();
        container.name = manager.name.clone();
        container
            .sources
            .push(format!("conmon (pid {}) -n", manager.pid));
    }
    Ok(container)
}

/// The annotations a CRI runtime writes into a Kubernetes container's
/// bundle.
struct CriKeys {
    runtime: &'static str,
    pod_name: &'static str,
    pod_namespace: &'static str,
    pod_uid: &'static str,
    container_name: &'static str,
    /// `sandbox` or `container`.
    container_type: &'static str,
    image: &'static str,
}

const CRI: [CriKeys; 2] = [
    CriKeys {
        runtime: "containerd",
        pod_name: "io.kubernetes.cri.sandbox-name",
        pod_namespace: "io.kubernetes.cri.sandbox-namespace",
        pod_uid: "io.kubernetes.cri.sandbox-uid",
        container_name: "io.kubernetes.cri.container-name",
        container_type: "io.kubernetes.cri.container-type",
        image: "io.kubernetes.cri.image-name",
    },
    CriKeys {
        runtime: "cri-o",
        pod_name: "io.kubernetes.pod.name",
        pod_namespace: "io.kubernetes.pod.namespace",
        pod_uid: "io.kubernetes.pod.uid",
        container_name: "io.kubernetes.container.name",
        container_type: "io.kubernetes.cri-o.ContainerType",
        image: "io.kubernetes.cri-o.ImageName",
    },
];

impl CriKeys {
    /// The pod, name, image and sandbox mark these annotations give.
    fn fill(&self, annotations: &Value, c: &mut Container) {
        let text = |key: &str| {
            annotations
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        c.runtime = self.runtime.into();
        c.sandbox = text(self.container_type).as_deref() == Some("sandbox");
        // A sandbox has no container name of its own (CRI-O gives it "POD").
        let name = text(self.container_name).filter(|_| !c.sandbox);
        c.pod = Some(Pod {
            namespace: text(self.pod_namespace).unwrap_or_default(),
            name: text(self.pod_name).unwrap_or_default(),
            uid: text(self.pod_uid),
            container: name.clone(),
        });
        c.name = name;
        c.image = text(self.image);
    }
}

/// Docker's names, image and (for cri-dockerd) pod labels.
fn docker(manager: &ProcDir, state: &Path, uid: u32, c: &mut Container) -> Result<(), String> {
    let path = state.join("config.v2.json");
    let bytes = manager
        .open_dir(c"root")
        .map_err(|e| e.desc().to_owned())
        .and_then(|r| owned_by(r.read_beneath(&path, STATE_BYTES), uid))?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    c.runtime = "docker".into();
    c.sources.push(path.display().to_string());
    c.name = v["Name"]
        .as_str()
        .map(|n| n.trim_start_matches('/').to_owned());
    c.image = v["Config"]["Image"].as_str().map(str::to_owned);
    c.published = published_ports(&v["NetworkSettings"]["Ports"]);
    let labels = &v["Config"]["Labels"];
    let label = |k: &str| labels.get(k).and_then(Value::as_str).map(str::to_owned);
    if let Some(pod) = label("io.kubernetes.pod.name") {
        c.sandbox = label("io.kubernetes.docker.type").as_deref() == Some("podsandbox");
        c.pod = Some(Pod {
            namespace: label("io.kubernetes.pod.namespace").unwrap_or_default(),
            name: pod,
            uid: label("io.kubernetes.pod.uid"),
            container: label("io.kubernetes.container.name").filter(|_| !c.sandbox),
        });
    }
    Ok(())
}

/// Docker's port map (`{"80/tcp": [{"HostIp": "0.0.0.0", "HostPort":
/// "8080"}]}`), in order.
fn published_ports(ports: &Value) -> Vec<crate::model::PublishedPort> {
    let mut out = Vec::new();
    for (key, bindings) in ports.as_object().into_iter().flatten() {
        let Some((port, protocol)) = key.split_once('/') else {
            continue;
        };
        let Ok(port) = port.parse() else { continue };
        for b in bindings.as_array().into_iter().flatten() {
            let Some(host_port) = b["HostPort"].as_str().and_then(|p| p.parse().ok()) else {
                continue;
            };
            out.push(crate::model::PublishedPort {
                protocol: protocol.to_owned(),
                port,
                host_ip: b["HostIp"].as_str().unwrap_or_default().to_owned(),
                host_port,
            });
        }
    }
    out.sort_by(|a, b| {
        (a.host_port, &a.host_ip, &a.protocol).cmp(&(b.host_port, &b.host_ip, &b.protocol))
    });
    out
}

/// The folder Docker keeps a container's state in, from the bind mounts
/// of its bundle (`<data root>/containers/<id>/hostname`; a container on
/// another's network mounts that one's files, in the same data root).
fn docker_state_dir(spec: &Value, id: &str) -> Option<PathBuf> {
    spec["mounts"].as_array()?.iter().find_map(|m| {
        let source = Path::new(m["source"].as_str()?);
        let name = source.file_name()?;
        let containers = source.parent()?.parent()?;
        let docker_file = ["hostname", "hosts", "resolv.conf"]
            .iter()
            .any(|f| name == *f);
        (docker_file && containers.file_name()? == "containers").then(|| containers.join(id))
    })
}

/// The bytes, if their file belongs to `uid` (the runtime's user): a file
/// anybody else could have put there says nothing about the container.
fn owned_by(read: Result<(Vec<u8>, u32), crate::os::Errno>, uid: u32) -> Result<Vec<u8>, String> {
    match read {
        Ok((bytes, owner)) if owner == uid => Ok(bytes),
        Ok((_, owner)) => Err(format!(
            "it belongs to uid {owner}, not to the runtime's uid {uid}"
        )),
        Err(e) => Err(e.desc().to_owned()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Shim,
    Conmon,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Shim => "its containerd shim",
            Kind::Conmon => "its conmon",
        }
    }
}

struct Manager {
    pid: i32,
    kind: Kind,
    uid: u32,
    /// conmon's `-b` and `-n`.
    bundle: Option<PathBuf>,
    name: Option<String>,
}

/// The runtime process above `pid`, if one is within reach.
fn manager_of(root: &ProcRoot, pid: i32) -> Option<Manager> {
    let mut current = pid;
    for _ in 0..MAX_DEPTH {
        let parent = parent_of(root, current)?;
        if parent <= 1 {
            return None;
        }
        let dir = root.process(parent).ok()?;
        let comm = dir.read(c"comm", SMALL).ok()?;
        let comm = comm.strip_suffix(b"\n").unwrap_or(&comm);
        let kind = if comm.starts_with(b"containerd-shim") || comm.starts_with(b"docker-containe") {
            Some(Kind::Shim)
        } else if comm == b"conmon" {
            Some(Kind::Conmon)
        } else {
            None
        };
        if let Some(kind) = kind {
            let uid = dir
                .read(c"status", SMALL)
                .ok()
                .and_then(|s| super::holders::effective_uid(&s))?;
            let (bundle, name) = match kind {
                Kind::Conmon => conmon_args(&dir.read(c"cmdline", SMALL).ok()?),
                Kind::Shim => (None, None),
            };
            return Some(Manager {
                pid: parent,
                kind,
                uid,
                bundle,
                name,
            });
        }
        current = parent;
    }
    None
}

/// `-b BUNDLE` and `-n NAME` of conmon's command line.
fn conmon_args(cmdline: &[u8]) -> (Option<PathBuf>, Option<String>) {
    let args: Vec<String> = cmdline
        .split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let value = |short: &str, long: &str| {
        args.iter()
            .position(|a| a == short || a == long)
            .and_then(|i| args.get(i + 1).cloned())
    };
    (
        value("-b", "--bundle").map(PathBuf::from),
        value("-n", "--name"),
    )
}

/// The parent pid, from `/proc/PID/stat` (after the command name, which
/// may hold spaces and parentheses).
fn parent_of(root: &ProcRoot, pid: i32) -> Option<i32> {
    let stat = root.process(pid).ok()?.read(c"stat", SMALL).ok()?;
    let after = stat.iter().rposition(|&b| b == b')')?;
    let mut fields = stat[after + 1..]
        .split(|&b| b == b' ')
        .filter(|f| !f.is_empty());
    let _state = fields.next()?;
    std::str::from_utf8(fields.next()?).ok()?.parse().ok()
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

#[cfg(test)]
mod tests {
    // The test records a host: files and links in a temporary folder.
    #![allow(clippy::disallowed_methods, clippy::disallowed_types)]

    use std::os::unix::fs::{MetadataExt, symlink};

    use super::*;

    const SANDBOX: &str = "5d8e2f0c1b7a4c9e8f3d2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d";
    const APP: &str = "9a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";

    fn bundles() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/containers/containerd")
    }

    /// A pod's shim (pid 1990, running in the sandbox's bundle, as uid
    /// `shim_uid`) with the pause process (2000) and nginx (2001) below it.
    fn pod_host(tag: &str, shim_uid: u32) -> PathBuf {
        let proc = std::env::temp_dir().join(format!("pc-runtimes-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&proc);
        let write = |pid: u32, name: &str, text: &str| {
            let dir = proc.join(pid.to_string());
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(name), text).unwrap();
        };
        write(1990, "comm", "containerd-shim\n");
        write(1990, "stat", "1990 (containerd-shim) S 1 1990 1 0 -1\n");
        let u = shim_uid;
        write(
            1990,
            "status",
            &format!("Name:\tcontainerd-shim\nUid:\t{u}\t{u}\t{u}\t{u}\n"),
        );
        symlink(bundles().join(SANDBOX), proc.join("1990/cwd")).unwrap();
        symlink("/", proc.join("1990/root")).unwrap();
        let slice =
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod6f0c1a2b.slice";
        for (pid, comm, id) in [(2000, "pause", SANDBOX), (2001, "nginx", APP)] {
            write(
                pid,
                "stat",
                &format!("{pid} ({comm}) S 1990 {pid} 1 0 -1\n"),
            );
            write(
                pid,
                "cgroup",
                &format!("0::{slice}/cri-containerd-{id}.scope\n"),
            );
        }
        proc
    }

    fn wanted() -> BTreeMap<String, Vec<i32>> {
        BTreeMap::from([
            (format!("containerd://{SANDBOX}"), vec![2000]),
            (format!("containerd://{APP}"), vec![2001]),
        ])
    }

    fn owner() -> u32 {
        std::fs::metadata(bundles().join(APP).join("config.json"))
            .unwrap()
            .uid()
    }

    #[test]
    fn a_pods_containers_are_read_from_their_cri_bundles() {
        let proc = pod_host("cri", owner());
        let root = ProcRoot::fixture(&proc).unwrap();
        let (containers, gaps) = describe(&root, &wanted(), false);
        assert!(gaps.is_empty(), "{gaps:?}");
        let pod = |container: Option<&str>| Pod {
            namespace: "shop".into(),
            name: "web-7d4b9c-x2k4p".into(),
            uid: Some("6f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b".into()),
            container: container.map(str::to_owned),
        };
        let app = containers.iter().find(|c| c.id.ends_with(APP)).unwrap();
        assert_eq!(app.runtime, "containerd");
        assert_eq!(app.name.as_deref(), Some("nginx"));
        assert_eq!(app.image.as_deref(), Some("docker.io/library/nginx:1.25"));
        assert_eq!(app.pod, Some(pod(Some("nginx"))));
        assert!(!app.sandbox);
        assert_eq!(
            app.sources,
            [bundles()
                .join(APP)
                .join("config.json")
                .display()
                .to_string()]
        );
        let sandbox = containers.iter().find(|c| c.id.ends_with(SANDBOX)).unwrap();
        assert!(sandbox.sandbox);
        assert_eq!(sandbox.pod, Some(pod(None)));
        assert_eq!(sandbox.display_name(), "k8s:shop/web-7d4b9c-x2k4p");
        let _ = std::fs::remove_dir_all(&proc);
    }

    /// A bundle that is not the runtime's user's says nothing about the
    /// container: it is known by its id only, and the scan says why.
    #[test]
    fn state_owned_by_someone_else_is_a_gap() {
        let proc = pod_host("owner", owner() + 1);
        let root = ProcRoot::fixture(&proc).unwrap();
        let (containers, gaps) = describe(&root, &wanted(), false);
        assert!(
            containers
                .iter()
                .all(|c| c.name.is_none() && c.pod.is_none())
        );
        assert_eq!(gaps.len(), 2);
        assert!(
            gaps.iter()
                .all(|g| g.kind == GapKind::ContainerStateUnreadable)
        );
        assert!(
            gaps[0].detail.contains("belongs to uid"),
            "{}",
            gaps[0].detail
        );
        let _ = std::fs::remove_dir_all(&proc);
    }

    #[test]
    fn dockers_port_map_is_read_in_order() {
        let ports = serde_json::json!({
            "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}],
            "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}],
            "9000/tcp": null,
        });
        let got: Vec<(String, u16, String, u16)> = published_ports(&ports)
            .into_iter()
            .map(|p| (p.protocol, p.port, p.host_ip, p.host_port))
            .collect();
        assert_eq!(
            got,
            [
                ("udp".into(), 53, "127.0.0.1".into(), 5353),
                ("tcp".into(), 80, "0.0.0.0".into(), 8080),
                ("tcp".into(), 80, "::".into(), 8080),
            ]
        );
    }

    #[test]
    fn conmon_names_its_bundle_and_container() {
        let args = b"/usr/bin/conmon\0--api-version\x001\0-c\0abc\0-n\0web\0-b\0/var/lib/containers/storage/overlay-containers/abc/userdata\0";
        let (bundle, name) = conmon_args(args);
        assert_eq!(
            bundle,
            Some(PathBuf::from(
                "/var/lib/containers/storage/overlay-containers/abc/userdata"
            ))
        );
        assert_eq!(name.as_deref(), Some("web"));
    }
}
