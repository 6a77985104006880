//! Running every active plugin over one inventory. Plugins run in parallel,
//! each in a fresh store under its limits; one that fails becomes a
//! [`PluginFailure`] covering its rules, and the others are unaffected.

use crate::model::{Inventory, NotApplicable, PluginFailure, Rule, Verdict};

use super::convert;
use super::load::{LoadedPlugin, Loader};
use super::run::{self, CallError};
use crate::model::Limits;

/// A loaded plugin with what the policy gives it.
pub struct ActivePlugin {
    pub plugin: LoadedPlugin,
    /// Its config as JSON text ("{}" when the policy has none).
    pub config: String,
    pub limits: Limits,
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub verdicts: Vec<Verdict>,
    pub not_applicable: Vec<NotApplicable>,
    pub failures: Vec<PluginFailure>,
    /// (plugin, line) log lines, warnings first.
    pub logs: Vec<(String, String)>,
}

/// How one plugin's call went wrong.
#[derive(Debug, thiserror::Error)]
pub enum PluginFault {
    /// The plugin returned its own error.
    #[error("reported an error: {0}")]
    Reported(String),
    /// The plugin said its config is wrong, and how.
    #[error("{0}")]
    ConfigRejected(String),
    #[error("validate-config {0}")]
    ValidateConfig(CallError),
    #[error(transparent)]
    Evaluate(CallError),
    #[error(transparent)]
    Results(#[from] convert::ResultError),
    #[error("crashed the host thread")]
    Crashed,
}

/// Asks each plugin whether it accepts its config; errors name the plugin.
pub fn validate_configs(loader: &Loader, active: &[ActivePlugin]) -> Vec<(String, PluginFault)> {
    let _ticker = run::EpochTicker::start(&loader.engine);
    let mut problems = Vec::new();
    for a in active {
        let mut store = run::store(&loader.engine, &a.limits);
        let result = run::call(&mut store, &a.limits, |s| {
            a.plugin.pre.validate_config(s, &a.config)
        });
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => problems.push((
                a.plugin.name.clone(),
                PluginFault::ConfigRejected(plugin_error_text(&e)),
            )),
            Err(e) => problems.push((a.plugin.name.clone(), PluginFault::ValidateConfig(e))),
        }
    }
    problems
}

/// Runs every plugin; `configs[i]` is what `active[i]` gets as its config
/// for this inventory.
pub fn evaluate(
    loader: &Loader,
    active: &[ActivePlugin],
    configs: &[&str],
    rules: &[Rule],
    inventory: &Inventory,
) -> Outcome {
    let input = std::sync::Arc::new(convert::inventory(inventory));
    let _ticker = run::EpochTicker::start(&loader.engine);
    let results: Vec<_> = std::thread::scope(|scope| {
        let threads: Vec<_> = active
            .iter()
            .zip(configs)
            .map(|(a, config)| {
                let input = &input;
                scope.spawn(move || {
                    run_one(loader, a, config, rules, input, inventory.listeners.len())
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().unwrap_or(Err(PluginFault::Crashed)))
            .collect()
    });
    let mut out = Outcome::default();
    for (a, result) in active.iter().zip(results) {
        match result {
            Ok((verdicts, na, logs)) => {
                out.verdicts.extend(verdicts);
                out.not_applicable.extend(na);
                out.logs
                    .extend(logs.into_iter().map(|l| (a.plugin.name.clone(), l)));
            }
            Err(fault) => out.failures.push(PluginFailure {
                plugin: a.plugin.name.clone(),
                rules: a.plugin.rules.iter().map(|r| r.id.clone()).collect(),
                message: format!(
                    "plugin {} ({}) {fault}; its rules were not evaluated",
                    a.plugin.name, a.plugin.origin
                ),
            }),
        }
    }
    out
}

type RunResult = Result<(Vec<Verdict>, Vec<NotApplicable>, Vec<String>), PluginFault>;

fn run_one(
    loader: &Loader,
    a: &ActivePlugin,
    config: &str,
    rules: &[Rule],
    input: &std::sync::Arc<super::served::Records>,
    listeners: usize,
) -> RunResult {
    let own_rules: Vec<Rule> = rules
        .iter()
        .filter(|r| r.plugin == a.plugin.name)
        .cloned()
        .collect();
    let mut store = run::store(&loader.engine, &a.limits);
    // What the host copies out of the plugin is bounded while it is copied
    // (wasmtime's hostcall fuel), not after: lists that alias one buffer
    // could otherwise claim far more than the plugin's memory.
    store.set_hostcall_fuel(result_copy_budget(&a.limits, listeners, own_rules.len()));
    let result = run::call(&mut store, &a.limits, |s| {
        a.plugin.pre.evaluate(s, config, input)
    });
    let state = store.data();
    let mut logs: Vec<String> = state
        .logs
        .iter()
        .map(|(level, line)| format!("{level:?}: {line}"))
        .collect();
    if state.logs_dropped > 0 {
        logs.push(format!(
            "{} further log lines dropped (limit {})",
            state.logs_dropped, a.limits.log_lines
        ));
    }
    let evaluation = match result {
        Ok(Ok(evaluation)) => evaluation,
        Ok(Err(e)) => return Err(PluginFault::Reported(plugin_error_text(&e))),
        Err(e) => return Err(PluginFault::Evaluate(e)),
    };
    let (verdicts, na) = convert::evaluation(
        &a.plugin.name,
        evaluation,
        &own_rules,
        listeners,
        a.limits.result_bytes,
    )?;
    Ok((verdicts, na, logs))
}

/// The bytes the host may copy out of one evaluation: the text budget
/// (`result_mib`), plus room for one verdict record per rule and listener,
/// the most a plugin can honestly return, plus a little for host-wide ones.
fn result_copy_budget(limits: &Limits, listeners: usize, rules: usize) -> usize {
    let per_verdict = std::mem::size_of::<super::abi::wit::Verdict>() + 4;
    limits
        .result_bytes
        .saturating_add(
            per_verdict
                .saturating_mul(listeners.saturating_add(1))
                .saturating_mul(rules.max(1)),
        )
        .saturating_add(64 << 10)
}

fn plugin_error_text(e: &super::abi::wit::PluginError) -> String {
    match e {
        super::abi::wit::PluginError::InvalidConfig(m) => format!("invalid config: {m}"),
        super::abi::wit::PluginError::Internal(m) => m.clone(),
    }
}
