//! Running every active plugin over one inventory. Plugins run in parallel,
//! each in a fresh store under its limits; one that fails becomes a
//! [`PluginFailure`] covering its rules, and the others are unaffected.

use std::sync::Arc;

use crate::model::{Inventory, NotApplicable, PluginFailure, Rule};

use super::abi::wit::PluginError;
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
    /// Each plugin's verdicts, in plugin order, plain passes still compact:
    /// on a fleet they are tens of megabytes as verdicts, and the caller
    /// makes them once, as it filters them.
    pub batches: Vec<convert::Batch>,
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
/// Built-ins that would run together are asked in one instance too.
pub fn validate_configs(loader: &Loader, active: &[ActivePlugin]) -> Vec<(String, PluginFault)> {
    let _ticker = run::EpochTicker::start(&loader.engine);
    let mut answers: Vec<Option<Result<Result<(), PluginError>, CallError>>> =
        active.iter().map(|_| None).collect();
    for job in jobs(active) {
        if let Some(together) = validate_together(loader, active, &job) {
            for (&i, answer) in job.iter().zip(together) {
                answers[i] = Some(Ok(answer));
            }
            continue;
        }
        for i in job {
            let a = &active[i];
            let mut store = run::store(&loader.engine, &a.limits);
            answers[i] = Some(run::call(&mut store, &a.limits, |s| {
                a.plugin.pre.validate_config(s, &a.config)
            }));
        }
    }
    let mut problems = Vec::new();
    for (a, answer) in active.iter().zip(answers) {
        match answer {
            Some(Ok(Ok(()))) | None => {}
            Some(Ok(Err(e))) => problems.push((
                a.plugin.name.clone(),
                PluginFault::ConfigRejected(plugin_error_text(&e)),
            )),
            Some(Err(e)) => problems.push((a.plugin.name.clone(), PluginFault::ValidateConfig(e))),
        }
    }
    problems
}

/// Several built-ins' answers from one instance, or None (one plugin, or
/// the call failed: then each is asked alone, under its own limits).
fn validate_together(
    loader: &Loader,
    active: &[ActivePlugin],
    job: &[usize],
) -> Option<Vec<Result<(), PluginError>>> {
    let first = &active[*job.first()?];
    let bundle = first.plugin.pre.bundle().filter(|_| job.len() > 1)?;
    let limits = together(first.limits, job.len());
    let named: Vec<(String, String)> = job
        .iter()
        .map(|&i| (active[i].plugin.name.clone(), active[i].config.clone()))
        .collect();
    let mut store = run::store(&loader.engine, &limits);
    run::call(&mut store, &limits, |s| {
        super::served::validate_members(bundle, s, &named)
    })
    .ok()
}

/// The limits of `n` plugins that share one call: the sum of theirs.
fn together(each: Limits, n: usize) -> Limits {
    Limits {
        memory_bytes: each.memory_bytes.saturating_mul(n),
        fuel: each.fuel.saturating_mul(n as u64),
        log_lines: each.log_lines.saturating_mul(n as u32),
        ..each
    }
}

/// Runs every plugin; `configs[i]` is what `active[i]` gets as its config
/// for this inventory. Built-ins that share their limits run together in
/// one instance (see [`run_together`]); every other plugin runs alone.
pub fn evaluate(
    loader: &Loader,
    active: &[ActivePlugin],
    configs: &[&str],
    rules: &[Rule],
    inventory: &Arc<Inventory>,
) -> Outcome {
    if active.is_empty() {
        return Outcome::default();
    }
    let input = Arc::new(convert::inventory(inventory.clone()));
    let _ticker = run::EpochTicker::start(&loader.engine);
    let listeners = inventory.listeners.len();
    let jobs: Vec<Vec<usize>> = jobs(active);
    let mut results: Vec<(usize, RunResult)> = std::thread::scope(|scope| {
        let threads: Vec<_> = jobs
            .iter()
            .map(|job| {
                let input = &input;
                scope.spawn(move || {
                    let members: Vec<(&ActivePlugin, &str)> =
                        job.iter().map(|&i| (&active[i], configs[i])).collect();
                    let answers = match members.as_slice() {
                        [(a, config)] => vec![run_one(loader, a, config, rules, input, listeners)],
                        _ => run_together(loader, &members, rules, input, listeners),
                    };
                    job.iter().copied().zip(answers).collect::<Vec<_>>()
                })
            })
            .collect();
        threads
            .into_iter()
            .zip(&jobs)
            .flat_map(|(t, job)| {
                t.join().unwrap_or_else(|_| {
                    job.iter()
                        .map(|&i| (i, Err(PluginFault::Crashed)))
                        .collect()
                })
            })
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    let mut out = Outcome::default();
    for (a, (_, result)) in active.iter().zip(results) {
        match result {
            Ok((verdicts, na, logs)) => {
                out.batches.push(verdicts);
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

/// Which plugins run in one call: built-ins of the same component under
/// the same limits share one, in their order; every other plugin (and a
/// built-in the policy gives limits of its own) runs alone.
fn jobs(active: &[ActivePlugin]) -> Vec<Vec<usize>> {
    let mut jobs: Vec<Vec<usize>> = Vec::new();
    for (i, a) in active.iter().enumerate() {
        let together = jobs.iter_mut().find(|job| {
            let first = &active[job[0]];
            first.limits == a.limits && first.plugin.pre.bundled_with(&a.plugin.pre)
        });
        match together {
            Some(job) => job.push(i),
            None => jobs.push(vec![i]),
        }
    }
    jobs
}

/// Built-ins in one instance, which reads the inventory once for all of
/// them, under the sum of their limits (each member's verdicts are still
/// checked against its own). If the call itself fails (out of fuel or
/// memory, a trap), each member runs again alone under its own limits, so
/// a failure is the failing member's and the others still judge.
fn run_together(
    loader: &Loader,
    members: &[(&ActivePlugin, &str)],
    rules: &[Rule],
    input: &Arc<super::served::Records>,
    listeners: usize,
) -> Vec<RunResult> {
    let alone = || {
        members
            .iter()
            .map(|(a, config)| run_one(loader, a, config, rules, input, listeners))
            .collect()
    };
    let Some(bundle) = members[0].0.plugin.pre.bundle() else {
        return alone();
    };
    let each = members[0].0.limits;
    let n = members.len();
    let limits = together(each, n);
    let own_rules: Vec<Vec<Rule>> = members.iter().map(|(a, _)| rules_of(a, rules)).collect();
    let mut store = run::store(&loader.engine, &limits);
    store.set_hostcall_fuel(
        own_rules
            .iter()
            .map(|r| result_copy_budget(&each, listeners, r.len()))
            .fold(0usize, usize::saturating_add),
    );
    let named: Vec<(String, String)> = members
        .iter()
        .map(|(a, config)| (a.plugin.name.clone(), (*config).to_owned()))
        .collect();
    let answers = run::call(&mut store, &limits, |s| {
        super::served::evaluate_members(bundle, s, &named, input)
    });
    let answers = match answers {
        Ok(answers) => answers,
        // A stall of the host is not any member's doing, and running them
        // again would only wait it out again.
        Err(CallError::Timeout(after)) => {
            return members
                .iter()
                .map(|_| Err(PluginFault::Evaluate(CallError::Timeout(after))))
                .collect();
        }
        Err(_) => return alone(),
    };
    // The members log into one store: their lines go to the first.
    let mut logs = Some(logs_of(store.data(), &limits));
    // The instance's memory holds a copy of the inventory: gone before
    // the answers become verdicts, which is when the plugin stage peaks.
    drop(store);
    members
        .iter()
        .zip(own_rules)
        .zip(answers)
        .map(|(((a, _), own_rules), answer)| {
            judged(
                a,
                answer,
                &own_rules,
                listeners,
                logs.take().unwrap_or_default(),
            )
        })
        .collect()
}

/// One plugin's answer as the host keeps it: its verdicts checked against
/// its own rules and limits, with its log lines.
fn judged(
    a: &ActivePlugin,
    answer: Result<super::abi::wit::Evaluation, PluginError>,
    own_rules: &[Rule],
    listeners: usize,
    logs: Vec<String>,
) -> RunResult {
    let evaluation = answer.map_err(|e| PluginFault::Reported(plugin_error_text(&e)))?;
    let (verdicts, na) = convert::evaluation(
        &a.plugin.name,
        evaluation,
        own_rules,
        listeners,
        a.limits.result_bytes,
    )?;
    Ok((verdicts, na, logs))
}

fn rules_of(a: &ActivePlugin, rules: &[Rule]) -> Vec<Rule> {
    rules
        .iter()
        .filter(|r| r.plugin == a.plugin.name)
        .cloned()
        .collect()
}

fn logs_of(state: &run::State, limits: &Limits) -> Vec<String> {
    let mut logs: Vec<String> = state
        .logs
        .iter()
        .map(|(level, line)| format!("{level:?}: {line}"))
        .collect();
    if state.logs_dropped > 0 {
        logs.push(format!(
            "{} further log lines dropped (limit {})",
            state.logs_dropped, limits.log_lines
        ));
    }
    logs
}

type RunResult = Result<(convert::Batch, Vec<NotApplicable>, Vec<String>), PluginFault>;

fn run_one(
    loader: &Loader,
    a: &ActivePlugin,
    config: &str,
    rules: &[Rule],
    input: &Arc<super::served::Records>,
    listeners: usize,
) -> RunResult {
    let own_rules = rules_of(a, rules);
    let mut store = run::store(&loader.engine, &a.limits);
    // What the host copies out of the plugin is bounded while it is copied
    // (wasmtime's hostcall fuel), not after: lists that alias one buffer
    // could otherwise claim far more than the plugin's memory.
    store.set_hostcall_fuel(result_copy_budget(&a.limits, listeners, own_rules.len()));
    let result = run::call(&mut store, &a.limits, |s| {
        a.plugin.pre.evaluate(s, config, input)
    });
    let logs = logs_of(store.data(), &a.limits);
    drop(store);
    let answer = result.map_err(PluginFault::Evaluate)?;
    judged(a, answer, &own_rules, listeners, logs)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Level, Verdict};

    fn seed() -> Arc<Inventory> {
        Arc::new(
            serde_json::from_str(include_str!("../../testdata/inventory/seed-complete.json"))
                .unwrap(),
        )
    }

    fn builtins(loader: &Loader, limits: Limits) -> (Vec<ActivePlugin>, Vec<Rule>) {
        let active: Vec<ActivePlugin> = loader
            .builtins()
            .unwrap()
            .into_iter()
            .map(|plugin| ActivePlugin {
                plugin,
                config: "{}".into(),
                limits,
            })
            .collect();
        let rules = active.iter().flat_map(|a| a.plugin.rules.clone()).collect();
        (active, rules)
    }

    /// Every verdict, passes made at one level for all (the judge gives
    /// them their rule's; these tests compare members, not levels).
    fn all(batch: &convert::Batch) -> Vec<Verdict> {
        let passes = batch
            .passed
            .iter()
            .flat_map(|g| g.listeners.iter().map(|&id| g.verdict(id, Level::Note)));
        batch.verdicts.iter().cloned().chain(passes).collect()
    }

    fn verdicts(out: &Outcome) -> impl Iterator<Item = Verdict> {
        out.batches.iter().flat_map(all)
    }

    fn loader() -> Loader {
        Loader::new(None, crate::diag::Diagnostics::capture().0)
    }

    #[test]
    fn builtins_judged_together_say_what_each_says_alone() {
        let (loader, inventory) = (loader(), seed());
        let (active, rules) = builtins(&loader, Limits::default());
        assert_eq!(jobs(&active), [[0, 1, 2, 3, 4]]);
        let configs = vec!["{}"; active.len()];
        let together = evaluate(&loader, &active, &configs, &rules, &inventory);
        assert!(together.failures.is_empty(), "{:?}", together.failures);
        let input = Arc::new(convert::inventory(inventory.clone()));
        let _ticker = run::EpochTicker::start(&loader.engine);
        let alone: Vec<Verdict> = active
            .iter()
            .flat_map(|a| {
                all(
                    &run_one(&loader, a, "{}", &rules, &input, inventory.listeners.len())
                        .unwrap()
                        .0,
                )
            })
            .collect();
        assert!(alone.len() > 20, "{}", alone.len());
        assert_eq!(verdicts(&together).collect::<Vec<_>>(), alone);
    }

    #[test]
    fn a_member_that_errors_fails_alone_in_the_shared_call() {
        let (loader, inventory) = (loader(), seed());
        let (active, rules) = builtins(&loader, Limits::default());
        let mut configs = vec!["{}"; active.len()];
        configs[2] = r#"{"no-such-setting": 1}"#;
        let out = evaluate(&loader, &active, &configs, &rules, &inventory);
        let failed: Vec<&str> = out.failures.iter().map(|f| f.plugin.as_str()).collect();
        assert_eq!(failed, ["exposure"], "{:?}", out.failures);
        assert!(verdicts(&out).any(|v| &*v.plugin == "profiles"));
        assert!(!verdicts(&out).any(|v| &*v.plugin == "exposure"));
    }

    #[test]
    fn configs_checked_in_one_instance_are_each_member_s_own() {
        let loader = loader();
        let (mut active, _) = builtins(&loader, Limits::default());
        active[2].config = r#"{"bogus": 1}"#.into();
        active[4].config = r#"{"nope": 2}"#.into();
        let problems = validate_configs(&loader, &active);
        let named: Vec<(&str, bool)> = problems
            .iter()
            .map(|(p, f)| (p.as_str(), matches!(f, PluginFault::ConfigRejected(_))))
            .collect();
        assert_eq!(named, [("exposure", true), ("services", true)]);
    }

    #[test]
    fn a_failed_shared_call_reports_every_member_by_name() {
        let (loader, inventory) = (loader(), seed());
        let limits = Limits {
            fuel: 1000,
            ..Limits::default()
        };
        let (active, rules) = builtins(&loader, limits);
        let configs = vec!["{}"; active.len()];
        let out = evaluate(&loader, &active, &configs, &rules, &inventory);
        let failed: Vec<&str> = out.failures.iter().map(|f| f.plugin.as_str()).collect();
        assert_eq!(
            failed,
            ["baseline", "expected", "exposure", "profiles", "services"]
        );
        for f in &out.failures {
            assert!(
                f.message
                    .contains("(embedded) ran out of fuel (budget 1000)"),
                "{}",
                f.message
            );
        }
    }
}
