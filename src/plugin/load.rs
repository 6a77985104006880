//! Loading plugins: the built-ins embedded in this binary, and external
//! `.wasm` files. Loading checks the ABI, calls `describe`, and validates
//! what it says; any failure is a [`LoadError`] naming the plugin.

use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
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
        let bytes = read_plugin(path).map_err(err)?;
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
        let Some(dir) = self.cache.as_deref().and_then(open_cache_dir) else {
            return compile();
        };
        let name = format!("{}.cwasm", self.cache_key(wasm));
        if let Some(bytes) = read_cache_entry(&dir, &name) {
            // SAFETY: the cache folder is ours alone (owned by our euid, mode
            // 0700, no one else can change the folders above it, checked on
            // the descriptor we read through), the entry is a regular file of
            // ours, and every entry there was written by this code from a
            // component this engine compiled; the key covers the wasm bytes,
            // our version and the engine's compatibility hash.
            if let Ok(c) = unsafe { Component::deserialize(&self.engine, &bytes) } {
                return Ok(c);
            }
        }
        let component = compile()?;
        if let Ok(bytes) = component.serialize() {
            let _ = crate::safefs::write_atomic_in(&dir, name.as_ref(), &bytes);
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
/// Reads a plugin file the way root must: opened once (never blocking on a
/// FIFO), checked on that descriptor, its real path's every ancestor checked,
/// and read from the descriptor that was checked, so swapping the file, or
/// a link into a folder others can write, cannot slip another file in.
/// Running as another user, only the regular-file and size checks apply.
fn read_plugin(path: &Path) -> Result<Vec<u8>, String> {
    let file = crate::safefs::open_regular(path).map_err(|e| format!("cannot read it: {e}"))?;
    let euid = nix::unistd::geteuid().as_raw();
    if euid == 0 {
        let refuse = |why: String| format!("{why}; running as root, portcullis refuses it");
        let meta = file
            .metadata()
            .map_err(|e| format!("cannot read it: {e}"))?;
        let mode = meta.permissions().mode() & 0o7777;
        if meta.uid() != 0 || mode & 0o022 != 0 {
            return Err(refuse(format!(
                "the file is writable by other users (mode {mode:o}, owner uid {})",
                meta.uid()
            )));
        }
        let real = crate::safefs::real_path(&file)
            .map_err(|e| format!("cannot resolve where it is: {e}"))?;
        crate::safefs::check_ancestry(&real, meta.uid()).map_err(refuse)?;
    }
    crate::safefs::read_to_limit(file, crate::safefs::limits::PLUGIN)
        .map_err(|e| format!("cannot read it: {e}"))
}

/// Opens the cache folder, creating it 0700 if it is missing, and keeps it
/// only if it is private to us: owned by our euid, mode 0700 or stricter,
/// not a link, under folders no one else can change. Checked on the opened
/// descriptor, which every later access goes through. A folder portcullis
/// did not create never has its mode changed.
fn open_cache_dir(dir: &Path) -> Option<OwnedFd> {
    use std::os::unix::fs::DirBuilderExt;
    let euid = nix::unistd::geteuid().as_raw();
    let _ = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir);
    let refuse = |why: String| {
        eprintln!(
            "portcullis: not using plugin cache {}: {why}",
            dir.display()
        );
    };
    let fd = match nix::fcntl::open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(e) => {
            refuse(format!(
                "cannot open it as a folder (a link is refused): {e}"
            ));
            return None;
        }
    };
    let stat = nix::sys::stat::fstat(&fd).ok()?;
    if stat.st_uid != euid || stat.st_mode & 0o077 != 0 {
        refuse(format!(
            "it is not private to this user (mode {:o}, owner uid {})",
            stat.st_mode & 0o7777,
            stat.st_uid
        ));
        return None;
    }
    let ancestry = crate::safefs::real_path(&fd)
        .map_err(|e| e.to_string())
        .and_then(|real| crate::safefs::check_ancestry(&real, stat.st_uid));
    if let Err(why) = ancestry {
        refuse(why);
        return None;
    }
    Some(fd)
}

/// A cache entry's bytes: a regular file of ours in the cache folder, not a link.
fn read_cache_entry(dir: &OwnedFd, name: &str) -> Option<Vec<u8>> {
    let file = crate::safefs::open_regular_in(dir, name).ok()?;
    if file.metadata().ok()?.uid() != nix::unistd::geteuid().as_raw() {
        return None;
    }
    crate::safefs::read_to_limit(file, crate::safefs::limits::PLUGIN * 8).ok()
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
