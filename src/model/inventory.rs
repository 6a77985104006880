use serde::{Deserialize, Serialize};

use super::{Container, Gap, Listener, Netns, NetnsId};

/// Version of the JSON inventory. Adding a field is compatible and keeps the
/// number; removing, renaming or re-typing one bumps it. 2: namespaces are
/// referred to by `{dev, inode}`; `interface` is `bound_device`, `processes`
/// is `holders`, a namespace's `host` is `is_host`; `interface_scoped` and
/// `owner_unknown` are gone (`bound_device` set, `holders` empty say it).
pub const SCHEMA_VERSION: u32 = 2;

/// Everything one scan saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    #[serde(deserialize_with = "schema_version")]
    pub schema_version: u32,
    pub host: HostFacts,
    pub namespaces: Vec<Netns>,
    #[serde(deserialize_with = "listeners")]
    pub listeners: Vec<Listener>,
    /// The containers that hold listeners or own namespaces, as their
    /// runtimes describe them (by `id`, as `holders[].container` names
    /// them). Inventories from before it have none.
    #[serde(default)]
    pub containers: Vec<Container>,
    /// Ports the firewalls publish with `dnat` or `redirect`, and where
    /// each leads (omitted when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub published: Vec<super::Published>,
    /// What could not be looked at. Non-empty means the scan is incomplete.
    pub gaps: Vec<Gap>,
    /// The scan looked only at the namespaces `--netns` named: what is not
    /// here was not looked for (a baseline compares only what was scanned).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub only_selected: bool,
}

/// Listeners whose holders share each process's details.
fn listeners<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Listener>, D::Error> {
    super::listener::shared::while_reading(|| Vec::<Listener>::deserialize(d))
}

/// Refuses, at its place in the file, an inventory of another version.
fn schema_version<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = u32::deserialize(d)?;
    if v != SCHEMA_VERSION {
        return Err(serde::de::Error::custom(format!(
            "schema_version {v}: this portcullis reads inventories of version {SCHEMA_VERSION}"
        )));
    }
    Ok(v)
}

impl Inventory {
    /// What makes a saved inventory impossible for a real scan, by its JSON
    /// path: no namespace at all without a gap saying why (a scan always
    /// sees its own), or a listener in a namespace that is not listed.
    pub fn inconsistency(&self) -> Option<String> {
        if self.namespaces.is_empty() && self.gaps.is_empty() {
            return Some(
                "namespaces: empty, with no gap saying why (a real scan always has one)".into(),
            );
        }
        self.listeners.iter().enumerate().find_map(|(i, l)| {
            self.namespace(l.netns).is_none().then(|| {
                format!(
                    "listeners[{i}].netns: {} is not among the namespaces",
                    l.netns
                )
            })
        })
    }

    pub fn namespace(&self, id: NetnsId) -> Option<&Netns> {
        self.namespaces.iter().find(|ns| ns.id == id)
    }

    /// What the runtime says of a container id (`runtime://id`).
    pub fn container(&self, id: &str) -> Option<&Container> {
        self.containers.iter().find(|c| c.id == id)
    }

    /// A container as people name it: `web (nginx:1.25)`,
    /// `k8s:shop/web-7d4b9/nginx (nginx:1.25)`, or its short id.
    pub fn container_label(&self, id: &str) -> String {
        match self.container(id) {
            Some(c) => match &c.image {
                Some(image) => format!("{} ({image})", c.display_name()),
                None => c.display_name(),
            },
            None => {
                let bare = id.rsplit("://").next().unwrap_or(id);
                bare[..bare.len().min(12)].to_owned()
            }
        }
    }

    /// Who a namespace belongs to, for people: `host`, the containers whose
    /// processes live in it (a pod's application containers, not its
    /// sandbox: the sandbox only holds the namespace), else its name.
    pub fn netns_display(&self, ns: &Netns) -> String {
        if ns.is_host {
            return "host".into();
        }
        let known: Vec<&str> = ns.hints.containers.iter().map(String::as_str).collect();
        let apps: Vec<&str> = known
            .iter()
            .copied()
            .filter(|id| !self.container(id).is_some_and(|c| c.sandbox))
            .collect();
        let shown = if apps.is_empty() { known } else { apps };
        match shown.as_slice() {
            [] => ns.label(),
            [one] => format!("container {}", self.container_label(one)),
            many => format!(
                "containers {}",
                many.iter()
                    .map(|id| self.container_label(id))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    pub fn is_complete(&self) -> bool {
        self.gaps.is_empty()
    }
}

/// Facts about the machine, for rules that depend on the distribution.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFacts {
    pub hostname: String,
    /// `ID` from os-release (`ubuntu`, `debian`), if readable.
    pub os_id: Option<String>,
    /// `VERSION_ID` from os-release (`24.04`), if readable.
    pub os_version_id: Option<String>,
    pub kernel: String,
    pub arch: String,
}
