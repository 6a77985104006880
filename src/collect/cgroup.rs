//! What a process's cgroup path says about who runs it: its systemd unit and,
//! when it runs in a container, the container's id.

/// Suffixes of systemd unit names that can own processes.
const UNIT_SUFFIXES: [&str; 3] = [".service", ".scope", ".socket"];

/// Container runtimes' cgroup name prefixes (systemd cgroup driver) and the
/// scheme their ids are reported under, as Kubernetes writes `containerID`.
const RUNTIME_PREFIXES: [(&str, &str); 5] = [
    ("docker-", "docker"),
    ("cri-containerd-", "containerd"),
    ("crio-", "cri-o"),
    ("libpod-", "podman"),
    ("containerd-", "containerd"),
];

/// The cgroup path to read: the unified (v2) hierarchy's, else the
/// `name=systemd` v1 hierarchy's, from a `/proc/PID/cgroup` file.
pub fn systemd_path(cgroup_file: &str) -> Option<&str> {
    let mut v1 = None;
    for line in cgroup_file.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(hier), Some(ctrl), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if hier == "0" && ctrl.is_empty() {
            return Some(path);
        }
        if ctrl == "name=systemd" {
            v1 = Some(path);
        }
    }
    v1
}

/// The innermost systemd unit in a cgroup path (`nginx.service`,
/// `session-2.scope`, `docker-<id>.scope`).
pub fn unit(path: &str) -> Option<String> {
    path.split('/')
        .rev()
        .find(|c| {
            UNIT_SUFFIXES
                .iter()
                .any(|s| c.ends_with(s) && c.len() > s.len())
        })
        .map(str::to_owned)
}

/// The container id in a cgroup path, as `runtime://id`, or the bare id when
/// the runtime cannot be told (`/kubepods/…/<id>` with the cgroupfs driver).
pub fn container(path: &str) -> Option<String> {
    for comp in path.split('/').rev() {
        let comp = comp.strip_suffix(".scope").unwrap_or(comp);
        for (prefix, runtime) in RUNTIME_PREFIXES {
            if let Some(id) = comp.strip_prefix(prefix).filter(|id| is_container_id(id)) {
                return Some(format!("{runtime}://{id}"));
            }
        }
        if is_container_id(comp) {
            let parent_is_docker = path.split('/').any(|c| c == "docker");
            return Some(if parent_is_docker {
                format!("docker://{comp}")
            } else {
                comp.to_owned()
            });
        }
        if let Some(name) = comp.strip_prefix("lxc.payload.") {
            return Some(format!("lxc://{name}"));
        }
    }
    None
}

fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4f8bd0c8e3a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b";

    #[test]
    fn prefers_the_unified_hierarchy() {
        assert_eq!(
            systemd_path("0::/system.slice/nginx.service\n"),
            Some("/system.slice/nginx.service")
        );
        let v1 = "12:pids:/\n1:name=systemd:/system.slice/ssh.service\n";
        assert_eq!(systemd_path(v1), Some("/system.slice/ssh.service"));
        assert_eq!(systemd_path("4:memory:/x\n"), None);
    }

    #[test]
    fn innermost_unit() {
        assert_eq!(
            unit("/system.slice/nginx.service").as_deref(),
            Some("nginx.service")
        );
        assert_eq!(
            unit("/user.slice/user-1000.slice/session-2.scope").as_deref(),
            Some("session-2.scope")
        );
        assert_eq!(unit("/init.scope").as_deref(), Some("init.scope"));
        assert_eq!(
            unit("/system.slice/docker.service/sub").as_deref(),
            Some("docker.service")
        );
        assert_eq!(unit("/"), None);
        assert_eq!(unit("/process_api/82b4"), None);
    }

    #[test]
    fn container_ids_from_every_driver() {
        let sd = format!("/system.slice/docker-{ID}.scope");
        assert_eq!(container(&sd), Some(format!("docker://{ID}")));
        let k8s = format!("/kubepods.slice/kubepods-besteffort.slice/x/cri-containerd-{ID}.scope");
        assert_eq!(container(&k8s), Some(format!("containerd://{ID}")));
        assert_eq!(
            container(&format!("/docker/{ID}")),
            Some(format!("docker://{ID}"))
        );
        assert_eq!(
            container(&format!("/kubepods/besteffort/pod1234/{ID}")),
            Some(ID.to_owned())
        );
        assert_eq!(
            container(&format!("/machine.slice/libpod-{ID}.scope/container")),
            Some(format!("podman://{ID}"))
        );
        assert_eq!(
            container("/lxc.payload.web/init.scope"),
            Some("lxc://web".to_owned())
        );
        assert_eq!(container("/system.slice/nginx.service"), None);
        assert_eq!(container("/docker-notanid.scope"), None);
    }
}
