//! What the container runtimes say of the containers that hold listeners or
//! own namespaces: names, images and Kubernetes pods, read from the
//! runtimes' own state on disk (never their APIs).

use serde::{Deserialize, Serialize};

/// One container, as its runtime recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    /// As holders and namespace hints name it: `runtime://id` (the cgroup's
    /// id), so `holders[].container` finds it here.
    pub id: String,
    /// `docker`, `containerd`, `cri-o` or `podman`.
    pub runtime: String,
    /// The runtime's name for it (`docker run --name`, the pod's container
    /// name for Kubernetes).
    pub name: Option<String>,
    /// The image it was created from, as given (`nginx:1.25`).
    pub image: Option<String>,
    /// Its Kubernetes pod, when a CRI runtime created it.
    pub pod: Option<Pod>,
    /// A pod's sandbox ("pause") container: it holds the pod's namespaces
    /// and nothing else; the pod's application containers are named
    /// instead of it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sandbox: bool,
    /// The file each fact came from (a bundle's `config.json`, Docker's
    /// `config.v2.json`, or conmon's command line).
    pub sources: Vec<String>,
    /// The ports its runtime publishes on the host (Docker's port map,
    /// `-p 8080:80`), whether a proxy listens for them or only DNAT rules
    /// forward them (`--userland-proxy=false`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub published: Vec<PublishedPort>,
    /// The uid of the runtime process its facts came from, when not root:
    /// a user's own (rootless) runtime, whose names are that user's word.
    /// Such a container is matched by its id only, never by a name, image
    /// or pod a policy trusts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rootless_uid: Option<u32>,
}

/// One port a runtime publishes: `host_ip:host_port` → the container's
/// `port`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPort {
    pub protocol: String,
    /// The container's port.
    pub port: u16,
    /// Empty for every address.
    pub host_ip: String,
    pub host_port: u16,
}

/// A Kubernetes pod, from the CRI annotations of the container's bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub uid: Option<String>,
    /// The container's name in the pod spec (none for the sandbox).
    pub container: Option<String>,
}

impl Container {
    /// The 12-digit short id Docker prints.
    pub fn short_id(&self) -> &str {
        let bare = self.id.rsplit("://").next().unwrap_or(&self.id);
        &bare[..bare.len().min(12)]
    }

    /// Whether `want` names it, as `--netns` and policies may: its name, its
    /// id (whole, `runtime://id`, or Docker's 12-digit short id), its image
    /// (`nginx:1.25`, or `nginx` for any tag), or its pod
    /// (`k8s:NAMESPACE/POD`, `k8s:NAMESPACE/POD/CONTAINER`).
    pub fn is_named(&self, want: &str) -> bool {
        let bare = self.id.rsplit("://").next().unwrap_or(&self.id);
        let by_id = want == self.id || want == bare || (want.len() == 12 && bare.starts_with(want));
        if self.rootless_uid.is_some() {
            // A user who runs their own runtime says what its containers
            // are called; a policy must not take their word for it.
            return by_id;
        }
        if let Some(pod) = want.strip_prefix("k8s:") {
            return self.pod.as_ref().is_some_and(|p| {
                let mut parts = pod.splitn(3, '/');
                parts.next() == Some(p.namespace.as_str())
                    && parts.next() == Some(p.name.as_str())
                    && parts
                        .next()
                        .is_none_or(|c| p.container.as_deref() == Some(c))
            });
        }
        self.name.as_deref() == Some(want)
            || by_id
            || self
                .image
                .as_deref()
                .is_some_and(|image| image == want || image_repository(image) == want)
    }

    /// How people name it: `k8s:NAMESPACE/POD/CONTAINER`, the runtime's
    /// name, else the short id.
    pub fn display_name(&self) -> String {
        match (&self.pod, &self.name) {
            (Some(pod), _) => match &pod.container {
                Some(c) => format!("k8s:{}/{}/{c}", pod.namespace, pod.name),
                None => format!("k8s:{}/{}", pod.namespace, pod.name),
            },
            (None, Some(name)) => name.clone(),
            (None, None) => self.short_id().to_owned(),
        }
    }
}

/// An image reference without its tag or digest: `nginx:1.25` → `nginx`,
/// `registry:5000/app:2` → `registry:5000/app`.
fn image_repository(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => image,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web() -> Container {
        Container {
            id: format!("docker://{}", "ab12".repeat(16)),
            runtime: "docker".into(),
            name: Some("web".into()),
            image: Some("registry:5000/shop/web:2.1".into()),
            pod: None,
            sandbox: false,
            sources: vec![],
            published: vec![],
            rootless_uid: None,
        }
    }

    /// A user's own runtime can call its container anything: only its id
    /// names it.
    #[test]
    fn a_rootless_container_is_named_by_its_id_only() {
        let c = Container {
            rootless_uid: Some(1000),
            ..web()
        };
        assert!(!c.is_named("web"));
        assert!(!c.is_named("registry:5000/shop/web"));
        assert!(c.is_named("ab12ab12ab12"));
    }

    #[test]
    fn named_by_name_id_short_id_and_image() {
        let c = web();
        for want in [
            "web",
            "ab12ab12ab12",
            &"ab12".repeat(16),
            &c.id.clone(),
            "registry:5000/shop/web:2.1",
            "registry:5000/shop/web",
        ] {
            assert!(c.is_named(want), "{want}");
        }
        for not in [
            "we",
            "ab12ab",
            "registry:5000/shop",
            "k8s:default/web",
            "2.1",
        ] {
            assert!(!c.is_named(not), "{not}");
        }
    }

    #[test]
    fn named_by_pod() {
        let c = Container {
            pod: Some(Pod {
                namespace: "shop".into(),
                name: "web-7d4b9c-x2k4p".into(),
                uid: None,
                container: Some("nginx".into()),
            }),
            ..web()
        };
        assert!(c.is_named("k8s:shop/web-7d4b9c-x2k4p"));
        assert!(c.is_named("k8s:shop/web-7d4b9c-x2k4p/nginx"));
        assert!(!c.is_named("k8s:shop/web-7d4b9c-x2k4p/sidecar"));
        assert!(!c.is_named("k8s:default/web-7d4b9c-x2k4p"));
        assert_eq!(c.display_name(), "k8s:shop/web-7d4b9c-x2k4p/nginx");
    }
}
