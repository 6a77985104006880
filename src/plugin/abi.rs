//! The plugin ABI as the host sees it: generated bindings for
//! `plugins/wit/plugin.wit`, and the gate that refuses components built for
//! another ABI version or asking for capabilities we do not grant.

use wasmtime::Engine;
use wasmtime::component::Component;

wasmtime::component::bindgen!({
    path: "plugins/wit",
    world: "plugin",
});

pub use self::portcullis::plugin::types as wit;

/// The ABI version this host implements (the WIT package version).
pub const ABI_VERSION: &str = "0.1.0";
const PACKAGE: &str = "portcullis:plugin/";

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
        "it was built for plugin ABI {version} (`{name}`); this portcullis implements ABI {ABI_VERSION}: rebuild the plugin against a compatible portcullis-sdk"
    )]
    Version { name: String, version: String },
}

/// Checks a component's imports and exports against the ABI.
pub fn check_component(engine: &Engine, component: &Component) -> Result<(), AbiError> {
    let ty = component.component_type();
    for (name, _) in ty.imports(engine) {
        match interface_version(name) {
            Some((iface, version)) if iface == "host" || iface == "types" => {
                check_version(name, version)?
            }
            _ => return Err(AbiError::Capability(name.to_owned())),
        }
    }
    let mut found_rules = false;
    for (name, _) in ty.exports(engine) {
        if let Some((iface, version)) = interface_version(name) {
            check_version(name, version)?;
            found_rules |= iface == "rules";
        }
    }
    if !found_rules {
        return Err(AbiError::NoRules);
    }
    Ok(())
}

/// `portcullis:plugin/host@0.1.0` → ("host", "0.1.0").
fn interface_version(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix(PACKAGE)?;
    rest.split_once('@')
}

/// Compatible: same major, and while the major is 0, same minor (semver).
fn check_version(name: &str, version: &str) -> Result<(), AbiError> {
    let parse = |v: &str| -> Option<(u64, u64)> {
        let mut parts = v.split('.');
        Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
    };
    let (ours, theirs) = (parse(ABI_VERSION).expect("valid"), parse(version));
    let compatible = match theirs {
        Some((0, minor)) => ours.0 == 0 && ours.1 == minor && !version.contains('-'),
        Some((major, _)) => major == ours.0 && !version.contains('-'),
        None => false,
    };
    if compatible {
        Ok(())
    } else {
        Err(AbiError::Version {
            name: name.to_owned(),
            version: version.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_follow_semver_for_zero_majors() {
        assert!(check_version("x", "0.1.0").is_ok());
        assert!(check_version("x", "0.1.7").is_ok());
        assert_eq!(
            check_version("x", "0.2.0"),
            Err(AbiError::Version {
                name: "x".into(),
                version: "0.2.0".into()
            })
        );
        assert!(check_version("x", "1.0.0").is_err());
        assert!(check_version("x", "0.1.1-rc1").is_err());
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
