//! The plugin ABI as the host sees it: generated bindings for every ABI
//! version the host serves, and the gate that refuses components built for
//! another version or asking for capabilities we do not grant.
//!
//! [`current`] is `plugins/wit/plugin.wit`, what plugins are built for now;
//! [`v0_1`] is the frozen 0.1.0 (`plugins/wit/frozen/0.1.0`), served by
//! converting from the current records (`super::served`).

use wasmtime::Engine;
use wasmtime::component::Component;

/// ABI 0.2: the inventory read through the `inventory` interface.
pub mod current {
    wasmtime::component::bindgen!({
        path: "plugins/wit",
        world: "plugin",
        // Reading the inventory is the host's work, which no fuel counts:
        // the host bounds it and traps past the bound.
        imports: { "portcullis:plugin/inventory": trappable },
    });
}

/// ABI 0.1, frozen: the whole inventory as one record argument.
pub mod v0_1 {
    wasmtime::component::bindgen!({
        path: "plugins/wit/frozen/0.1.0",
        world: "plugin",
    });
}

/// The built-ins' private world (`plugins/builtin/bundle/wit`): every
/// built-in plugin in one component, over the current ABI's imports.
pub mod bundle {
    wasmtime::component::bindgen!({
        path: ["plugins/wit", "plugins/builtin/bundle/wit"],
        world: "portcullis:builtins/builtins",
        with: {
            "portcullis:plugin/types": super::current::portcullis::plugin::types,
            "portcullis:plugin/host": super::current::portcullis::plugin::host,
            "portcullis:plugin/inventory": super::current::portcullis::plugin::inventory,
        },
    });
}

pub use current::portcullis::plugin::types as wit;

/// The ABI version plugins are built for now (the WIT package version).
pub const ABI_VERSION: &str = "0.2.4";
/// Every ABI version this host runs plugins of, newest first.
pub const SERVED: [&str; 2] = [ABI_VERSION, "0.1.0"];
const PACKAGE: &str = "portcullis:plugin/";

/// The ABI a loaded component was built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    V0_1,
    V0_2,
}

impl Served {
    /// Its version, as `SERVED` lists it.
    pub fn version(self) -> &'static str {
        match self {
            Served::V0_1 => SERVED[1],
            Served::V0_2 => SERVED[0],
        }
    }
}

/// Why a component does not fit this host's ABI.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AbiError {
    #[error(
        "it imports `{0}`, a capability portcullis does not grant (plugins get only `{PACKAGE}host`: no WASI, no files, no network)"
    )]
    Capability(String),
    #[error("it exports no `{PACKAGE}rules` interface: not a portcullis plugin")]
    NoRules,
    #[error(
        "it was built for plugin ABI {version} (`{name}`); this portcullis runs plugins of ABI {} and {}: rebuild the plugin against a compatible portcullis-sdk",
        SERVED[0], SERVED[1]
    )]
    Version { name: String, version: String },
    #[error("it names two plugin ABI versions ({0} and {1}): built from mixed bindings")]
    Mixed(&'static str, &'static str),
}

/// Checks a component's imports and exports against the ABIs served, and
/// says which one it was built for.
pub fn check_component(
    engine: &Engine,
    component: &Component,
) -> Result<(Served, String), AbiError> {
    let ty = component.component_type();
    let mut seen: Option<&'static str> = None;
    // The newest version it names: a plugin built for 0.2.1 may still
    // name an interface it takes unchanged from 0.2.0.
    let mut built_for: Option<(u64, u64, u64, String)> = None;
    let mut note = |name: &str, version: &str| -> Result<(), AbiError> {
        let served = served_version(name, version)?;
        let mut parts = version.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
        let key = (
            parts.next().unwrap_or(0),
            parts.next().unwrap_or(0),
            parts.next().unwrap_or(0),
            version.to_owned(),
        );
        if built_for.as_ref().is_none_or(|b| key > *b) {
            built_for = Some(key);
        }
        match seen {
            Some(other) if other != served => Err(AbiError::Mixed(other, served)),
            _ => {
                seen = Some(served);
                Ok(())
            }
        }
    };
    for (name, _) in ty.imports(engine) {
        match interface_version(name) {
            Some((iface, version)) if ["host", "types", "inventory"].contains(&iface) => {
                note(name, version)?
            }
            _ => return Err(AbiError::Capability(name.to_owned())),
        }
    }
    let mut found_rules = false;
    for (name, _) in ty.exports(engine) {
        if let Some((iface, version)) = interface_version(name) {
            note(name, version)?;
            found_rules |= iface == "rules";
        }
    }
    if !found_rules {
        return Err(AbiError::NoRules);
    }
    let served = match seen {
        Some(v) if v == Served::V0_1.version() => Served::V0_1,
        _ => Served::V0_2,
    };
    let version = built_for.map_or_else(|| served.version().to_owned(), |b| b.3);
    Ok((served, version))
}

/// `portcullis:plugin/host@0.1.0` → ("host", "0.1.0").
fn interface_version(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix(PACKAGE)?;
    rest.split_once('@')
}

/// The served version `version` is compatible with: same major, and while
/// the major is 0, same minor (semver); never a pre-release.
fn served_version(name: &str, version: &str) -> Result<&'static str, AbiError> {
    let parse = |v: &str| -> Option<(u64, u64)> {
        let mut parts = v.split('.');
        Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
    };
    let theirs = parse(version).filter(|_| !version.contains('-'));
    SERVED
        .iter()
        .copied()
        .find(|served| {
            let ours = parse(served).expect("valid");
            match theirs {
                Some((0, minor)) => ours == (0, minor),
                Some((major, _)) => major == ours.0,
                None => false,
            }
        })
        .ok_or_else(|| AbiError::Version {
            name: name.to_owned(),
            version: version.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_follow_semver_for_zero_majors() {
        assert_eq!(served_version("x", "0.1.0"), Ok("0.1.0"));
        assert_eq!(served_version("x", "0.1.7"), Ok("0.1.0"));
        assert_eq!(served_version("x", "0.2.0"), Ok("0.2.4"));
        assert_eq!(served_version("x", "0.2.5"), Ok("0.2.4"));
        assert_eq!(
            served_version("x", "0.3.0"),
            Err(AbiError::Version {
                name: "x".into(),
                version: "0.3.0".into()
            })
        );
        assert!(served_version("x", "1.0.0").is_err());
        assert!(served_version("x", "0.2.1-rc1").is_err());
    }

    #[test]
    fn interface_names_split() {
        assert_eq!(
            interface_version("portcullis:plugin/rules@0.1.0"),
            Some(("rules", "0.1.0"))
        );
        assert_eq!(interface_version("wasi:cli/environment@0.2.0"), None);
    }
}
