//! Judging an inventory: load plugins under the policy, run them, apply the
//! policy's rule overrides and allowlist. Produces an [`Evaluation`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::model::{Evaluation, Inventory, Rule, Verdict};
use crate::plugin::convert::Batch;
use crate::plugin::evaluate::{self, ActivePlugin};
use crate::plugin::load::{LoadError, LoadReason, LoadedPlugin, Loader};
use crate::policy::{self, Configured, PluginFacts, Policy, PolicyError};

/// Why judging could not start: all are configuration errors (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{}", join(.0))]
    Policy(Vec<PolicyError>),
    #[error(transparent)]
    Load(#[from] LoadError),
}

fn join(errors: &[PolicyError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Plugins loaded and configured, configs accepted by their plugins.
pub struct Judge {
    loader: Loader,
    /// The enabled plugins with what the policy gives them.
    active: Vec<ActivePlugin>,
    pub policy: Policy,
    pub configured: Configured,
}

impl Judge {
    /// Loads the policy and every plugin it and `extra` name; validates all
    /// of it before any scan.
    pub fn new(
        policy_path: Option<&Path>,
        extra: &[PathBuf],
        baseline: Option<&Path>,
        diag: &crate::diag::Diagnostics,
    ) -> Result<Judge, SetupError> {
        let policy = Policy::load(policy_path).map_err(SetupError::Policy)?;
        let loader = Loader::new(cache_dir(), diag.clone());
        let mut plugins: Vec<LoadedPlugin> = if policy.builtins_enabled() {
            loader.builtins()?
        } else {
            vec![]
        };
        let mut named = Vec::new();
        let files = policy.plugin_files().map_err(SetupError::Policy)?;
        for (table, path) in files
            .into_iter()
            .chain(extra.iter().map(|p| (None, p.clone())))
        {
            let plugin = loader.file(&path)?;
            if let Some(existing) = plugins.iter().find(|p| p.name == plugin.name) {
                return Err(LoadError {
                    origin: path.display().to_string(),
                    reason: LoadReason::SameName {
                        name: plugin.name.clone(),
                        other: existing.origin.clone(),
                    },
                }
                .into());
            }
            if let Some(table) = table {
                named.push((table, plugin.name.clone()));
            }
            plugins.push(plugin);
        }
        let facts: Vec<PluginFacts<'_>> = plugins
            .iter()
            .map(|p| PluginFacts {
                name: &p.name,
                rules: &p.rules,
            })
            .collect();
        let configured = policy
            .configure(&facts, &named)
            .map_err(SetupError::Policy)?;
        let mut active: Vec<ActivePlugin> = plugins
            .into_iter()
            .filter_map(|plugin| {
                let settings = configured.plugins.iter().find(|s| s.name == plugin.name)?;
                Some(ActivePlugin {
                    config: settings.config.clone(),
                    limits: settings.limits,
                    plugin,
                })
            })
            .collect();
        if let Some(path) = baseline {
            let config = crate::baseline::plugin_config(path).map_err(|e| {
                SetupError::Policy(vec![PolicyError {
                    location: path.display().to_string(),
                    message: e.to_string(),
                }])
            })?;
            match active.iter_mut().find(|a| a.plugin.name == "baseline") {
                Some(plugin) => plugin.config = config,
                None => {
                    return Err(SetupError::Policy(vec![PolicyError {
                        location: policy.name.clone(),
                        message: "--baseline needs the built-in baseline plugin, which this policy disables".into(),
                    }]));
                }
            }
        }
        let problems = evaluate::validate_configs(&loader, &active);
        if !problems.is_empty() {
            let errors = problems
                .into_iter()
                .map(|(plugin, message)| PolicyError {
                    location: policy.config_location(&plugin),
                    message: format!("plugin `{plugin}` rejects its config: {message}"),
                })
                .collect();
            return Err(SetupError::Policy(errors));
        }
        Ok(Judge {
            loader,
            active,
            policy,
            configured,
        })
    }

    pub fn plugins(&self) -> impl Iterator<Item = &ActivePlugin> {
        self.active.iter()
    }

    /// Runs every plugin over the inventory and applies the policy.
    /// The inventory is shared with the plugins' stores, which read it as
    /// they ask for its parts.
    pub fn judge(&self, inventory: &Arc<Inventory>) -> (Evaluation, Vec<(String, String)>) {
        let rules = &self.configured.rules;
        let configs: Vec<std::borrow::Cow<'_, str>> = self
            .active
            .iter()
            .map(|a| config_for(a, inventory))
            .collect();
        let configs: Vec<&str> = configs.iter().map(AsRef::as_ref).collect();
        let outcome = evaluate::evaluate(&self.loader, &self.active, &configs, rules, inventory);
        let mut allowlist = policy::allow::Marker::new(&self.configured.allow);
        let verdicts = self.kept(outcome.batches, inventory, &mut allowlist);
        let unused_allowances = allowlist.unused();
        let evaluation = Evaluation {
            rules: rules.clone(),
            verdicts,
            not_applicable: outcome.not_applicable,
            plugin_failures: outcome.failures,
            unused_allowances,
        };
        (evaluation, outcome.logs)
    }
}

impl Judge {
    /// The verdicts the policy keeps, at the levels it gives them and
    /// marked by its allowlist, in plugin order. Made once, into one list
    /// of the right size: on a fleet they are tens of megabytes, and every
    /// further copy (a second list, a list that grows) was a tenth of the
    /// plugin stage.
    fn kept(
        &self,
        batches: Vec<Batch>,
        inventory: &Inventory,
        allowlist: &mut policy::allow::Marker,
    ) -> Vec<Verdict> {
        let rules: HashMap<&str, &Rule> = self
            .configured
            .rules
            .iter()
            .map(|r| (r.id.as_str(), r))
            .collect();
        let enabled = |id: &str| rules.get(id).copied().filter(|r| r.enabled);
        let mut kept = Vec::with_capacity(batches.iter().map(Batch::verdict_count).sum());
        for batch in batches {
            // A rule's verdicts share one name and mostly come in a row:
            // its entry is looked up again only when the name changes.
            let mut last: Option<(Arc<str>, Option<&Rule>)> = None;
            for mut v in batch.verdicts {
                let rule = match &last {
                    Some((name, rule)) if Arc::ptr_eq(name, &v.rule) => *rule,
                    _ => {
                        let rule = enabled(&v.rule);
                        last = Some((v.rule.clone(), rule));
                        rule
                    }
                };
                let Some(rule) = rule else {
                    continue;
                };
                if !self.in_scope(&v.rule, v.listener, inventory) {
                    continue;
                }
                if rule.level != rule.default_level {
                    v.level = rule.level; // the policy's override wins
                }
                allowlist.mark(&mut v, inventory);
                kept.push(v);
            }
            // Passes take their rule's level, and no allowlist applies.
            for group in batch.passed {
                let Some(rule) = enabled(&group.rule) else {
                    continue;
                };
                for &id in &group.listeners {
                    if self.in_scope(&group.rule, Some(id as usize), inventory) {
                        kept.push(group.verdict(id, rule.level));
                    }
                }
            }
        }
        kept
    }

    /// A verdict is in scope unless its rule is limited to namespaces its
    /// listener is not in.
    fn in_scope(&self, rule: &str, listener: Option<usize>, inventory: &Inventory) -> bool {
        let Some((_, selectors)) = self.configured.rule_netns.iter().find(|(id, _)| id == rule)
        else {
            return true;
        };
        let Some(l) = listener.and_then(|i| inventory.listeners.get(i)) else {
            return true;
        };
        let Some(ns) = inventory.namespace(l.netns) else {
            return true;
        };
        selectors
            .iter()
            .any(|want| policy::netns_matches(want, inventory, ns, l))
    }
}

/// A plugin's config for this inventory. The baseline plugin is told when
/// the scan looked only at the namespaces `--netns` named, so that it does
/// not call the others' baseline entries gone.
fn config_for<'a>(a: &'a ActivePlugin, inventory: &Inventory) -> std::borrow::Cow<'a, str> {
    if !inventory.only_selected || a.plugin.name != "baseline" {
        return a.config.as_str().into();
    }
    match serde_json::from_str::<serde_json::Value>(&a.config) {
        Ok(serde_json::Value::Object(mut map)) if map.contains_key("baseline") => {
            map.insert("scanned_only".into(), true.into());
            serde_json::Value::Object(map).to_string().into()
        }
        _ => a.config.as_str().into(),
    }
}

/// Where compiled external plugins are cached: `$PORTCULLIS_CACHE_DIR`
/// (`off` disables), else the XDG cache folder. Built-ins never need it.
fn cache_dir() -> Option<PathBuf> {
    match std::env::var_os("PORTCULLIS_CACHE_DIR") {
        Some(v) if v == "off" || v.is_empty() => None,
        Some(v) => Some(PathBuf::from(v)),
        None => std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .map(|base| base.join("portcullis").join("plugins")),
    }
}
