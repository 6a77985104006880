//! Loading plugins: the built-ins embedded in this binary, and external
//! `.wasm` files. Loading checks the ABI, calls `describe`, and validates
//! what it says; any failure is a [`LoadError`] naming the plugin.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::model::Rule;

use super::abi;
use super::run::{self, State};
use super::served::{self, Pre};
use super::{convert, engine_config};
use crate::model::Limits;

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
    pub reason: LoadReason,
}

/// What is wrong with one plugin.
#[derive(Debug, thiserror::Error)]
pub enum LoadReason {
    #[error("cannot read it: {0}")]
    Read(crate::os::fs::FileError),
    #[error(
        "the file is writable by other users (mode {mode:o}, owner uid {uid}); running as root, portcullis refuses it"
    )]
    Writable { mode: u32, uid: u32 },
    #[error("{0}; running as root, portcullis refuses it")]
    Ancestry(crate::os::fs::AncestryError),
    #[error("cannot resolve where it is: {0}")]
    Resolve(crate::os::fs::FileError),
    #[error(
        "a precompiled native artifact; portcullis loads only .wasm components and compiles them itself"
    )]
    Precompiled,
    #[error("not a WebAssembly file")]
    NotWasm,
    #[error(
        "a core WebAssembly module, not a component: build it with the portcullis-sdk (wasm-component-ld linker)"
    )]
    CoreModule,
    #[error("not a valid component: {0:#}")]
    Invalid(wasmtime::Error),
    #[error(transparent)]
    Abi(#[from] abi::AbiError),
    #[error("{0:#}")]
    Link(wasmtime::Error),
    #[error("describe {0}")]
    Describe(run::CallError),
    #[error(transparent)]
    Description(#[from] DescriptionError),
    #[error("it is named `{name}`, like the plugin from {other}")]
    SameName { name: String, other: Origin },
}

/// What `describe` said that the host cannot accept.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum DescriptionError {
    #[error("its name {0:?} is not kebab-case")]
    NameNotKebab(String),
    #[error("it declares no rules")]
    NoRules,
    #[error("rule id {0:?} is not kebab-case")]
    RuleIdNotKebab(String),
    #[error("it declares rule `{0}` twice")]
    RuleTwice(String),
    #[error("rule `{0}` has no description or help")]
    NoHelp(String),
    #[error("rule `{rule}` has security-severity {value}, outside 0.1 to 10.0")]
    Severity { rule: String, value: f32 },
}

pub struct LoadedPlugin {
    pub name: String,
    pub version: String,
    pub origin: Origin,
    pub rules: Vec<Rule>,
    pub config_schema: Option<String>,
    /// Loaded from native code precompiled at build time (built-ins).
    pub precompiled: bool,
    pub(super) pre: Pre,
    /// The ABI version its imports and exports name.
    abi: String,
}

impl LoadedPlugin {
    /// The ABI version it was built for (`0.1.0` plugins are still served).
    pub fn abi_version(&self) -> &str {
        &self.abi
    }
}

pub struct Loader {
    pub(super) engine: Engine,
    linker: wasmtime::component::Linker<State>,
    cache: Option<PathBuf>,
    /// Where a cache that cannot be used is said.
    diag: crate::diag::Diagnostics,
}

impl Loader {
    pub fn new(cache: Option<PathBuf>, diag: crate::diag::Diagnostics) -> Loader {
        let engine = Engine::new(&engine_config()).expect("the engine config is valid");
        let linker = run::linker(&engine).expect("the ABI links");
        Loader {
            engine,
            linker,
            cache,
            diag,
        }
    }

    /// The embedded plugins: the members of one component, which is
    /// deserialized and described once; they come in its fixed order.
    pub fn builtins(&self) -> Result<Vec<LoadedPlugin>, LoadError> {
        let b = &BUNDLE;
        let err = |reason: LoadReason| LoadError {
            origin: format!("{} (embedded)", b.name),
            reason,
        };
        // SAFETY: this artifact was produced by our own build.rs with this
        // engine's configuration and embedded in this binary; it is as
        // trusted as the binary itself. If this CPU lacks a feature it was
        // compiled for, deserialize refuses it and we compile instead.
        let precompiled = b.cwasm.and_then(|bytes| {
            #[allow(unsafe_code)] // see SAFETY above
            unsafe { Component::deserialize(&self.engine, bytes) }.ok()
        });
        let was_precompiled = precompiled.is_some();
        let component = match precompiled {
            Some(c) => c,
            None => {
                Component::new(&self.engine, b.wasm).map_err(|e| err(LoadReason::Invalid(e)))?
            }
        };
        let bundle = self
            .linker
            .instantiate_pre(&component)
            .and_then(abi::bundle::BuiltinsPre::new)
            .map_err(|e| err(LoadReason::Link(e)))?;
        let bundle = std::sync::Arc::new(bundle);
        let _ticker = run::EpochTicker::start(&self.engine);
        let limits = Limits::default();
        let mut store = run::store(&self.engine, &limits);
        let members = run::call(&mut store, &limits, |s| {
            served::describe_members(&bundle, s)
        })
        .map_err(|e| err(LoadReason::Describe(e)))?;
        let mut plugins: Vec<LoadedPlugin> = Vec::with_capacity(members.len());
        for info in members {
            let name = info.name.clone();
            let origin = || format!("{name} (embedded)");
            if plugins.iter().any(|p| p.name == info.name) {
                return Err(LoadError {
                    origin: origin(),
                    reason: LoadReason::SameName {
                        name: info.name.clone(),
                        other: Origin::Embedded,
                    },
                });
            }
            let pre = Pre::Bundled {
                bundle: bundle.clone(),
                member: info.name.clone(),
            };
            let mut plugin = described(info, Origin::Embedded, pre, abi::ABI_VERSION.into())
                .map_err(|reason| LoadError {
                    origin: origin(),
                    reason: reason.into(),
                })?;
            plugin.precompiled = was_precompiled;
            plugins.push(plugin);
        }
        Ok(plugins)
    }

    /// Loads a `.wasm` component from a file. Precompiled native artifacts
    /// are refused: only code this binary compiled itself is ever run natively.
    pub fn file(&self, path: &Path) -> Result<LoadedPlugin, LoadError> {
        let err = |reason: LoadReason| LoadError {
            origin: path.display().to_string(),
            reason,
        };
        let bytes = read_plugin(path).map_err(err)?;
        if Engine::detect_precompiled(&bytes).is_some() {
            return Err(err(LoadReason::Precompiled));
        }
        if !bytes.starts_with(b"\0asm") {
            return Err(err(LoadReason::NotWasm));
        }
        if bytes.get(4..8) == Some(&[1, 0, 0, 0]) {
            return Err(err(LoadReason::CoreModule));
        }
        let component = self.compile_cached(&bytes).map_err(err)?;
        let _ticker = run::EpochTicker::start(&self.engine);
        self.finish(component, Origin::File(path.to_owned()))
            .map_err(err)
    }

    fn compile_cached(&self, wasm: &[u8]) -> Result<Component, LoadReason> {
        let compile = || Component::new(&self.engine, wasm).map_err(LoadReason::Invalid);
        let Some(dir) =
            self.cache
                .as_deref()
                .and_then(|dir| match crate::os::fs::open_private_dir(dir) {
                    Ok(fd) => Some(fd),
                    Err(why) => {
                        self.diag.note(&format_args!(
                            "not using plugin cache {}: {why}",
                            dir.display()
                        ));
                        None
                    }
                })
        else {
            return compile();
        };
        let name = format!("{}.cwasm", self.cache_key(wasm));
        if let Some(bytes) =
            crate::os::fs::read_own_in(&dir, &name, crate::os::fs::limits::PLUGIN * 8)
        {
            // SAFETY: the cache folder is ours alone (owned by our euid, mode
            // 0700, no one else can change the folders above it, checked on
            // the descriptor we read through), the entry is a regular file of
            // ours, and every entry there was written by this code from a
            // component this engine compiled; the key covers the wasm bytes,
            // our version and the engine's compatibility hash.
            #[allow(unsafe_code)] // see SAFETY above
            let deserialized = unsafe { Component::deserialize(&self.engine, &bytes) };
            if let Ok(c) = deserialized {
                return Ok(c);
            }
        }
        let component = compile()?;
        if let Ok(bytes) = component.serialize() {
            let _ = crate::os::fs::write_atomic_in(&dir, name.as_ref(), &bytes);
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

    /// ABI check, describe, and the description's own checks. The caller
    /// keeps an epoch ticker running (the describe call's backstop).
    fn finish(&self, component: Component, origin: Origin) -> Result<LoadedPlugin, LoadReason> {
        let (served, abi) = abi::check_component(&self.engine, &component)?;
        let pre = Pre::new(&self.linker, &component, served).map_err(LoadReason::Link)?;
        let limits = Limits::default();
        let mut store = run::store(&self.engine, &limits);
        let info =
            run::call(&mut store, &limits, |s| pre.describe(s)).map_err(LoadReason::Describe)?;
        Ok(described(info, origin, pre, abi)?)
    }
}

/// A plugin from what it said it is, once the host accepts that.
fn described(
    info: abi::wit::PluginInfo,
    origin: Origin,
    pre: Pre,
    abi: String,
) -> Result<LoadedPlugin, DescriptionError> {
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
        abi,
    })
}

fn check_description(name: &str, rules: &[Rule]) -> Result<(), DescriptionError> {
    let kebab = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if !kebab(name) {
        return Err(DescriptionError::NameNotKebab(name.to_owned()));
    }
    if rules.is_empty() {
        return Err(DescriptionError::NoRules);
    }
    for (i, r) in rules.iter().enumerate() {
        if !kebab(&r.id) {
            return Err(DescriptionError::RuleIdNotKebab(r.id.clone()));
        }
        if rules[..i].iter().any(|o| o.id == r.id) {
            return Err(DescriptionError::RuleTwice(r.id.clone()));
        }
        if r.short_description.is_empty() || r.help_markdown.is_empty() {
            return Err(DescriptionError::NoHelp(r.id.clone()));
        }
        // Code scanning drops a score outside (0, 10] without a word.
        if !(r.security_severity > 0.0 && r.security_severity <= 10.0) {
            return Err(DescriptionError::Severity {
                rule: r.id.clone(),
                value: r.security_severity,
            });
        }
    }
    Ok(())
}

/// A plugin file, read the way root must (see [`crate::os::fs::read_trusted`]).
fn read_plugin(path: &Path) -> Result<Vec<u8>, LoadReason> {
    use crate::os::fs::{TrustError, limits, read_trusted};
    read_trusted(path, limits::PLUGIN).map_err(|e| match e {
        TrustError::Read(e) => LoadReason::Read(e),
        TrustError::Writable { mode, uid } => LoadReason::Writable { mode, uid },
        TrustError::Resolve(e) => LoadReason::Resolve(e),
        TrustError::Ancestry(e) => LoadReason::Ancestry(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every embedded plugin loads from its build-time artifact (so a drift
    /// between build.rs's and the runtime's engine config fails here, not in
    /// users' scans) and describes itself sensibly.
    #[test]
    fn every_builtin_loads_precompiled_and_describes_itself() {
        let loader = Loader::new(None, crate::diag::Diagnostics::capture().0);
        let plugins = loader.builtins().unwrap();
        let names: Vec<&str> = plugins.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            ["baseline", "expected", "exposure", "profiles", "services"]
        );
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
        assert_eq!(
            check_description("p", std::slice::from_ref(&rule)),
            Err(DescriptionError::RuleIdNotKebab("Bad_Id".into()))
        );
        rule.id = "ok-id".into();
        rule.security_severity = 11.0;
        assert_eq!(
            check_description("p", std::slice::from_ref(&rule)),
            Err(DescriptionError::Severity {
                rule: "ok-id".into(),
                value: 11.0
            })
        );
        rule.security_severity = 5.0;
        assert_eq!(
            check_description("p", &[rule.clone(), rule]),
            Err(DescriptionError::RuleTwice("ok-id".into()))
        );
        assert_eq!(
            check_description("P", &[]),
            Err(DescriptionError::NameNotKebab("P".into()))
        );
    }
}
