//! Loading plugins: the built-ins embedded in this binary, and external
//! `.wasm` files. Loading checks the ABI, calls `describe`, and validates
//! what it says; any failure is a [`LoadError`] naming the plugin.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::model::Rule;

use super::abi::{self, PluginPre};
use super::limits::Limits;
use super::run::{self, State};
use super::{convert, engine_config};

/// A plugin compiled into this binary (see build.rs).
pub struct Builtin {
    pub name: &'static str,
    pub wasm: &'static [u8],
    pub cwasm: Option<&'static [u8]>,
}

include!(concat!(env!("OUT_DIR"), "/builtins.rs"));

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Embedded,
    File(PathBuf),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Embedded => f.write_str("embedded"),
            Origin::File(p) => write!(f, "{}", p.display()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("plugin {origin}: {reason}")]
pub struct LoadError {
    pub origin: String,
    pub reason: String,
}

pub struct LoadedPlugin {
    pub name: String,
    pub version: String,
    pub origin: Origin,
    pub rules: Vec<Rule>,
    pub config_schema: Option<String>,
    /// Loaded from native code precompiled at build time (built-ins).
    pub precompiled: bool,
    pub(super) pre: PluginPre<State>,
}

pub struct Loader {
    pub(super) engine: Engine,
    linker: wasmtime::component::Linker<State>,
    cache: Option<PathBuf>,
}

impl Loader {
    pub fn new(cache: Option<PathBuf>) -> Loader {
        let engine = Engine::new(&engine_config()).expect("the engine config is valid");
        let linker = run::linker(&engine).expect("the ABI links");
        Loader {
            engine,
            linker,
            cache,
        }
    }

    pub fn builtins(&self) -> Result<Vec<LoadedPlugin>, LoadError> {
        BUILTINS.iter().map(|b| self.builtin(b)).collect()
    }

    fn builtin(&self, b: &Builtin) -> Result<LoadedPlugin, LoadError> {
        let err = |reason: String| LoadError {
            origin: format!("{} (embedded)", b.name),
            reason,
        };
        // SAFETY: this artifact was produced by our own build.rs with this
        // engine's configuration and embedded in this binary; it is as
        // trusted as the binary itself. If this CPU lacks a feature it was
        // compiled for, deserialize refuses it and we compile instead.
        let precompiled = b
            .cwasm
            .and_then(|bytes| unsafe { Component::deserialize(&self.engine, bytes) }.ok());
        let was_precompiled = precompiled.is_some();
        let component = match precompiled {
            Some(c) => c,
            None => Component::new(&self.engine, b.wasm).map_err(|e| err(format!("{e:#}")))?,
        };
        let mut plugin = self.finish(component, Origin::Embedded).map_err(err)?;
        plugin.precompiled = was_precompiled;
        Ok(plugin)
    }

    /// Loads a `.wasm` component from a file. Precompiled native artifacts
    /// are refused: only code this binary compiled itself is ever run natively.
    pub fn file(&self, path: &Path) -> Result<LoadedPlugin, LoadError> {
        let err = |reason: String| LoadError {
            origin: path.display().to_string(),
            reason,
        };
        check_ownership(path).map_err(err)?;
        let bytes = std::fs::read(path).map_err(|e| err(format!("cannot read it: {e}")))?;
        if Engine::detect_precompiled(&bytes).is_some() {
            return Err(err("a precompiled native artifact; portcullis loads only .wasm components and compiles them itself".into()));
        }
        if !bytes.starts_with(b"\0asm") {
            return Err(err("not a WebAssembly file".into()));
        }
        if bytes.get(4..8) == Some(&[1, 0, 0, 0]) {
            return Err(err("a core WebAssembly module, not a component: build it with the portcullis-sdk (wasm-component-ld linker)".into()));
        }
        let component = self.compile_cached(&bytes).map_err(err)?;
        self.finish(component, Origin::File(path.to_owned()))
            .map_err(err)
    }

    fn compile_cached(&self, wasm: &[u8]) -> Result<Component, String> {
        let compile = || {
            Component::new(&self.engine, wasm).map_err(|e| format!("not a valid component: {e:#}"))
        };
        let Some(dir) = self.cache.as_deref().filter(|d| usable_cache_dir(d)) else {
            return compile();
        };
        let path = dir.join(format!("{}.cwasm", self.cache_key(wasm)));
        if path.exists() {
            // SAFETY: the cache directory is ours (owned by our euid, mode
            // 0700, checked above), and every file in it was written by this
            // code from a component compiled by this engine; the key covers
            // the wasm bytes, our version and the engine's compatibility hash.
            if let Ok(c) = unsafe { Component::deserialize_file(&self.engine, &path) } {
                return Ok(c);
            }
        }
        let component = compile()?;
        if let Ok(bytes) = component.serialize() {
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            if std::fs::write(&tmp, bytes).is_ok() {
                let _ = std::fs::rename(&tmp, &path);
            }
        }
        Ok(component)
    }

    fn cache_key(&self, wasm: &[u8]) -> String {
        use std::hash::{Hash, Hasher};
        let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut engine_hash);
        let mut h = Sha256::new();
        h.update(wasm);
        h.update(env!("CARGO_PKG_VERSION").as_bytes());
        h.update(engine_hash.finish().to_le_bytes());
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// ABI check, describe, and the description's own checks.
    fn finish(&self, component: Component, origin: Origin) -> Result<LoadedPlugin, String> {
        abi::check_component(&self.engine, &component)?;
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| format!("{e:#}"))?;
        let pre = PluginPre::new(instance_pre).map_err(|e| format!("{e:#}"))?;
        let limits = Limits::default();
        let mut store = run::store(&self.engine, &limits);
        let _ticker = run::EpochTicker::start(&self.engine);
        let info = run::call(&pre, &mut store, &limits, |p, s| {
            p.portcullis_plugin_rules().call_describe(s)
        })
        .map_err(|e| format!("describe {e}"))?;
        let rules: Vec<Rule> = info
            .rules
            .into_iter()
            .map(|r| convert::rule(&info.name, r))
            .collect();
        check_description(&info.name, &rules)?;
        Ok(LoadedPlugin {
            name: info.name,
            version: info.version,
            origin,
            rules,
            config_schema: info.config_schema,
            precompiled: false,
            pre,
        })
    }
}

fn check_description(name: &str, rules: &[Rule]) -> Result<(), String> {
    let kebab = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if !kebab(name) {
        return Err(format!("its name {name:?} is not kebab-case"));
    }
    if rules.is_empty() {
        return Err("it declares no rules".into());
    }
    for (i, r) in rules.iter().enumerate() {
        if !kebab(&r.id) {
            return Err(format!("rule id {:?} is not kebab-case", r.id));
        }
        if rules[..i].iter().any(|o| o.id == r.id) {
            return Err(format!("it declares rule `{}` twice", r.id));
        }
        if r.short_description.is_empty() || r.help_markdown.is_empty() {
            return Err(format!("rule `{}` has no description or help", r.id));
        }
        // Code scanning drops a score outside (0, 10] without a word.
        if !(r.security_severity > 0.0 && r.security_severity <= 10.0) {
            return Err(format!(
                "rule `{}` has security-severity {}, outside 0.1 to 10.0",
                r.id, r.security_severity
            ));
        }
    }
    Ok(())
}

/// When running as root, a plugin file (or its folder) that another user can
/// write would let that user run code in our process: refuse it.
fn check_ownership(path: &Path) -> Result<(), String> {
    let euid = nix::unistd::geteuid().as_raw();
    if euid != 0 {
        return Ok(());
    }
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read it: {e}"))?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir_meta = std::fs::metadata(dir).map_err(|e| format!("cannot read its folder: {e}"))?;
    for (what, m) in [("the file", &meta), ("its folder", &dir_meta)] {
        let mode = m.permissions().mode();
        let sticky_dir = what == "its folder" && mode & 0o1000 != 0 && meta.uid() == euid;
        if (m.uid() != 0 && m.uid() != euid) || (mode & 0o022 != 0 && !sticky_dir) {
            return Err(format!(
                "{what} is writable by other users (mode {:o}, owner uid {}); running as root, portcullis refuses it",
                mode & 0o7777,
                m.uid()
            ));
        }
    }
    Ok(())
}

/// The cache folder must be ours alone; created 0700 if missing.
fn usable_cache_dir(dir: &Path) -> bool {
    if std::fs::create_dir_all(dir).is_err() {
        return false;
    }
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    let Ok(meta) = std::fs::metadata(dir) else {
        return false;
    };
    let ok =
        meta.uid() == nix::unistd::geteuid().as_raw() && meta.permissions().mode() & 0o077 == 0;
    if !ok {
        eprintln!(
            "portcullis: not using plugin cache {}: it is not private to this user",
            dir.display()
        );
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every embedded plugin loads from its build-time artifact (so a drift
    /// between build.rs's and the runtime's engine config fails here, not in
    /// users' scans) and describes itself sensibly.
    #[test]
    fn every_builtin_loads_precompiled_and_describes_itself() {
        let loader = Loader::new(None);
        let plugins = loader.builtins().unwrap();
        assert_eq!(plugins.len(), BUILTINS.len());
        assert!(!plugins.is_empty());
        for p in &plugins {
            assert!(p.precompiled, "{} fell back to compiling", p.name);
            assert_eq!(p.origin, Origin::Embedded);
            assert!(!p.version.is_empty());
            let schema: serde_json::Value =
                serde_json::from_str(p.config_schema.as_deref().unwrap()).unwrap();
            assert_eq!(schema["type"], "object", "{}", p.name);
            for r in &p.rules {
                assert!(
                    !r.full_description.is_empty() && !r.help_markdown.is_empty(),
                    "{}",
                    r.id
                );
                assert!(
                    r.name
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_uppercase()),
                    "{} is PascalCase",
                    r.name
                );
            }
        }
    }

    #[test]
    fn description_checks_catch_bad_ids() {
        let mut rule = convert::rule(
            "p",
            super::super::abi::wit::RuleInfo {
                id: "Bad_Id".into(),
                name: "X".into(),
                short_description: "s".into(),
                full_description: "f".into(),
                help_markdown: "h".into(),
                help_uri: None,
                default_level: super::super::abi::wit::Level::Note,
                tags: vec![],
                enabled_by_default: true,
                security_severity: 5.0,
                precision: super::super::abi::wit::Precision::High,
            },
        );
        assert!(
            check_description("p", std::slice::from_ref(&rule))
                .unwrap_err()
                .contains("kebab")
        );
        rule.id = "ok-id".into();
        rule.security_severity = 11.0;
        assert!(
            check_description("p", std::slice::from_ref(&rule))
                .unwrap_err()
                .contains("security-severity")
        );
        rule.security_severity = 5.0;
        assert!(
            check_description("p", &[rule.clone(), rule])
                .unwrap_err()
                .contains("twice")
        );
        assert!(check_description("P", &[]).unwrap_err().contains("kebab"));
    }
}
