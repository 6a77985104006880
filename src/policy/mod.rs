//! The policy file (`portcullis.toml`): which plugins run with which config
//! and limits, rule overrides, and the allowlist.
//!
//! Parsed, then validated against the loaded plugins, collecting every
//! problem with its position (`FILE:LINE:COL: what is wrong`) instead of
//! stopping at the first. Without a file, an embedded default applies.

pub mod allow;
mod file;
mod limits;

use std::path::{Path, PathBuf};

use toml::Spanned;

pub use allow::Allowance;
use file::RawPolicy;

use crate::model::{Limits, Rule};

const DEFAULT: &str = include_str!("default.toml");
pub const FILE_NAME: &str = "portcullis.toml";

pub struct Policy {
    /// Where it came from, as shown in messages (a path, or `<default policy>`).
    pub name: String,
    pub dir: Option<PathBuf>,
    /// The embedded default: its allow entries are the tool's, not the
    /// user's, so one that matches nothing on this host is not worth a
    /// warning (a host without SSH is no mistake).
    pub built_in: bool,
    text: String,
    /// Byte offset of every line's start: positions are found by binary
    /// search, so thousands of allowlist entries cost no rescans.
    line_starts: Vec<usize>,
    raw: RawPolicy,
}

/// A policy problem with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub location: String,
    pub message: String,
}

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

impl std::error::Error for PolicyError {}

/// A loaded plugin as the policy sees it: its name and the rules it declares.
pub struct PluginFacts<'a> {
    pub name: &'a str,
    pub rules: &'a [Rule],
}

/// What the policy gives one enabled plugin.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginSettings {
    pub name: String,
    /// Its config as JSON text ("{}" when the policy has none).
    pub config: String,
    pub limits: Limits,
}

/// What the policy makes of the loaded plugins: plain data, which the judge
/// pairs with the plugins themselves.
pub struct Configured {
    /// The enabled plugins, in load order; a disabled one is absent.
    pub plugins: Vec<PluginSettings>,
    pub rules: Vec<Rule>,
    pub allow: Vec<Allowance>,
    /// Rules limited to some namespaces: (rule id, namespace selectors).
    pub rule_netns: Vec<(String, Vec<String>)>,
}

/// Whether namespace selector `want` (`host`, `container`, an ip netns name
/// or path, an inode, or a container: its name, id, short id, image or
/// `k8s:NAMESPACE/POD`) names where listener `l` is: its namespace, or a
/// container holding it (one on the host's network too). Shared by the
/// allowlist and rule scoping.
pub fn netns_matches(
    want: &str,
    inv: &crate::model::Inventory,
    ns: &crate::model::Netns,
    l: &crate::model::Listener,
) -> bool {
    let holders = l
        .holders
        .iter()
        .filter_map(|h| h.process.container.as_deref());
    match want {
        "host" => ns.is_host,
        "container" => !ns.hints.containers.is_empty() || holders.count() > 0,
        _ => {
            ns.names.iter().any(|n| n == want)
                || want == ns.id.inode.to_string()
                || ns
                    .hints
                    .containers
                    .iter()
                    .map(String::as_str)
                    .chain(holders)
                    .any(|id| match inv.container(id) {
                        Some(c) => c.is_named(want),
                        None => id == want || id.ends_with(&format!("://{want}")),
                    })
        }
    }
}

impl Policy {
    /// `--policy FILE`, else `./portcullis.toml` if present, else the default.
    pub fn load(explicit: Option<&Path>) -> Result<Policy, Vec<PolicyError>> {
        let path = match explicit {
            Some(p) => Some(p.to_owned()),
            None => Some(PathBuf::from(FILE_NAME)).filter(|p| p.exists()),
        };
        match path {
            None => Policy::parse("<default policy>", None, DEFAULT.to_owned()).map(|mut p| {
                p.built_in = true;
                p
            }),
            Some(path) => {
                let name = path.display().to_string();
                let bytes = crate::os::fs::read_bounded(&path, crate::os::fs::limits::POLICY)
                    .map_err(|e| {
                        vec![PolicyError {
                            location: name.clone(),
                            message: format!("cannot read it: {e}"),
                        }]
                    })?;
                let text = String::from_utf8(bytes).map_err(|e| {
                    let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                    let valid = std::str::from_utf8(valid).expect("the valid prefix");
                    vec![PolicyError {
                        location: position(&name, valid, valid.len()),
                        message: "not UTF-8 text (TOML files are UTF-8)".into(),
                    }]
                })?;
                let dir = path.parent().map(|d| {
                    if d.as_os_str().is_empty() {
                        PathBuf::from(".")
                    } else {
                        d.to_owned()
                    }
                });
                Policy::parse(&name, dir, text)
            }
        }
    }

    pub fn parse(
        name: &str,
        dir: Option<PathBuf>,
        text: String,
    ) -> Result<Policy, Vec<PolicyError>> {
        match toml::from_str::<RawPolicy>(&text) {
            Ok(raw) => Ok(Policy {
                name: name.to_owned(),
                dir,
                built_in: false,
                line_starts: line_starts(&text),
                text,
                raw,
            }),
            Err(e) => {
                let offset = e.span().map(|s| s.start).or_else(|| deepest_key(&text));
                let location = match offset {
                    Some(offset) => position(name, &text, offset),
                    None => name.to_owned(),
                };
                Err(vec![PolicyError {
                    location,
                    message: e.message().trim().to_owned(),
                }])
            }
        }
    }

    fn at<T>(&self, spanned: &Spanned<T>) -> String {
        let offset = spanned.span().start.min(self.text.len());
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let start = self.line_starts[line - 1];
        let col = self.text[start..offset].chars().count() + 1;
        format!("{}:{line}:{col}", self.name)
    }

    fn error<T>(&self, at: &Spanned<T>, message: String) -> PolicyError {
        PolicyError {
            location: self.at(at),
            message,
        }
    }

    pub fn builtins_enabled(&self) -> bool {
        self.raw.builtins.unwrap_or(true)
    }

    /// External plugin files the policy names: (plugin table name, path), and
    /// the plugin folder's `*.wasm` files (name None).
    pub fn plugin_files(&self) -> Result<Vec<(Option<String>, PathBuf)>, Vec<PolicyError>> {
        let mut files = Vec::new();
        for (name, plugin) in &self.raw.plugins {
            if let Some(path) = &plugin.get_ref().path {
                files.push((Some(name.clone()), self.resolve(path.get_ref())));
            }
        }
        if let Some(dir) = &self.raw.plugin_dir {
            let path = self.resolve(dir.get_ref());
            /// More plugins than any policy means; a bound on the folder.
            const PLUGINS_IN_DIR: usize = 10_000;
            let names = crate::os::fs::list_dir(&path, PLUGINS_IN_DIR).map_err(|e| {
                vec![self.error(
                    dir,
                    format!("cannot read plugin_dir {}: {e}", path.display()),
                )]
            })?;
            let mut found: Vec<PathBuf> = names
                .into_iter()
                .map(|n| path.join(n))
                .filter(|p| p.extension() == Some("wasm".as_ref()))
                .collect();
            found.sort();
            files.extend(found.into_iter().map(|p| (None, p)));
        }
        Ok(files)
    }

    fn resolve(&self, path: &str) -> PathBuf {
        match &self.dir {
            Some(dir) if Path::new(path).is_relative() => dir.join(path),
            _ => PathBuf::from(path),
        }
    }

    /// Checks the policy against the loaded plugins and builds the active set.
    /// `named` maps plugin tables with a `path` to the name their file declared.
    pub fn configure(
        &self,
        plugins: &[PluginFacts<'_>],
        named: &[(String, String)],
    ) -> Result<Configured, Vec<PolicyError>> {
        let mut errors = Vec::new();
        for (table, declared) in named {
            if table != declared {
                let at = &self.raw.plugins[table];
                errors.push(self.error(at, format!("plugins.{table}: its file is plugin `{declared}`; name the table [plugins.{declared}]")));
            }
        }
        for (name, plugin) in &self.raw.plugins {
            if !plugins.iter().any(|p| p.name == name) {
                let known: Vec<&str> = plugins.iter().map(|p| p.name).collect();
                errors.push(self.error(
                    plugin,
                    format!(
                        "no plugin named `{name}` is loaded (loaded: {})",
                        known.join(", ")
                    ),
                ));
            }
        }
        let mut rules: Vec<Rule> = Vec::new();
        for p in plugins {
            for r in p.rules {
                if let Some(other) = rules.iter().find(|o| o.id == r.id) {
                    errors.push(PolicyError {
                        location: self.name.clone(),
                        message: format!(
                            "rule `{}` is declared by both plugin `{}` and plugin `{}`",
                            r.id, other.plugin, p.name
                        ),
                    });
                }
                rules.push(r.clone());
            }
        }
        for (id, over) in &self.raw.rules {
            match rules.iter_mut().find(|r| &r.id == id) {
                Some(rule) => {
                    rule.enabled = over.get_ref().enabled.unwrap_or(rule.enabled);
                    rule.level = over.get_ref().level.unwrap_or(rule.level);
                }
                None => errors.push(self.error(
                    over,
                    format!("rules.{id}: no loaded plugin has a rule `{id}`"),
                )),
            }
        }
        let rule_netns: Vec<(String, Vec<String>)> = self
            .raw
            .rules
            .iter()
            .filter_map(|(id, over)| over.get_ref().netns.clone().map(|n| (id.clone(), n)))
            .collect();
        let allow = self
            .raw
            .allow
            .iter()
            .map(|a| Allowance::new(self, a, &rules))
            .collect::<Vec<_>>();
        let allow: Vec<Allowance> = allow
            .into_iter()
            .filter_map(|a| a.map_err(|e| errors.push(e)).ok())
            .collect();
        let base = self.raw.limits.apply(Limits::default());
        let mut settings = Vec::new();
        for plugin in plugins {
            let table = self.raw.plugins.get(plugin.name).map(Spanned::get_ref);
            if table.and_then(|t| t.enabled) == Some(false) {
                rules.retain(|r| r.plugin != plugin.name);
                continue;
            }
            let config = table
                .and_then(|t| t.config.as_ref())
                .map(|c| serde_json::to_string(c.get_ref()));
            let config = match config {
                Some(Ok(json)) => json,
                Some(Err(e)) => {
                    errors.push(PolicyError {
                        location: self.name.clone(),
                        message: format!("plugins.{}.config: {e}", plugin.name),
                    });
                    continue;
                }
                None => "{}".to_owned(),
            };
            let limits = table
                .and_then(|t| t.limits.as_ref())
                .map_or(base, |l| l.apply(base));
            settings.push(PluginSettings {
                name: plugin.name.to_owned(),
                config,
                limits,
            });
        }
        if errors.is_empty() {
            Ok(Configured {
                plugins: settings,
                rules,
                allow,
                rule_netns,
            })
        } else {
            Err(errors)
        }
    }

    /// Where a plugin's config problems point: its config table, else its
    /// table, else the file.
    pub fn config_location(&self, plugin: &str) -> String {
        match self.raw.plugins.get(plugin) {
            Some(p) => match &p.get_ref().config {
                Some(c) => self.at(c),
                None => self.at(p),
            },
            None => self.name.clone(),
        }
    }
}

fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

/// Where a parse error without a span most likely is: the parser gives none
/// when a key nests past its recursion limit (a hundred-odd dotted parts),
/// so point at the line with the most dots.
fn deepest_key(text: &str) -> Option<usize> {
    let mut best = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let depth = line.matches('.').count();
        if depth > 0 && best.is_none_or(|(d, _)| depth > d) {
            best = Some((depth, offset));
        }
        offset += line.len();
    }
    best.map(|(_, at)| at)
}

/// `NAME:LINE:COL` (1-based) of a byte offset.
fn position(name: &str, text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(before.chars().count(), |nl| {
        before[nl + 1..].chars().count()
    }) + 1;
    format!("{name}:{line}:{col}")
}

#[cfg(test)]
mod tests;
