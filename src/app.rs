//! Runs a parsed command: collect, judge, write, and decide the exit code.

use std::io::Write;

use crate::cli::{
    BaselineArgs, CheckArgs, Command, Format, ListArgs, PluginsCommand, PolicyArgs, ScanArgs,
};
use crate::exit::ExitStatus;
use crate::judge::{Judge, SetupError};
use crate::model::{Evaluation, Inventory, Level, Scope};
use crate::{collect, report};

pub fn run(command: Command) -> anyhow::Result<ExitStatus> {
    match command {
        Command::List(args) => list(&args),
        Command::Scan(args) => scan(&args),
        Command::Check(args) => check(&args),
        Command::Baseline(args) => baseline(&args),
        Command::Rules(policy) => with_judge(&policy, rules),
        Command::Explain { rule, policy } => with_judge(&policy, |j| explain(j, &rule)),
        Command::Plugins(PluginsCommand::List(policy)) => with_judge(&policy, plugins),
    }
}

fn list(args: &ListArgs) -> anyhow::Result<ExitStatus> {
    let Some(mut inventory) = collect_or_report(&args.collect.request())? else {
        return Ok(ExitStatus::Error);
    };
    if args.no_loopback {
        inventory.listeners.retain(|l| l.scope != Scope::Loopback);
    }
    report_gaps(&inventory);
    write_stdout(|out| match args.format {
        Format::Table => report::table::write(&inventory, out),
        Format::Json => report::json::write(&inventory, out),
    })?;
    Ok(ExitStatus::for_scan(
        ExitStatus::Clean,
        inventory.is_complete(),
        args.collect.allow_partial,
    ))
}

fn scan(args: &ScanArgs) -> anyhow::Result<ExitStatus> {
    // The policy and plugins are checked before looking at the host.
    let Some(judge) = setup(&args.policy) else {
        return Ok(ExitStatus::Error);
    };
    let Some(inventory) = collect_or_report(&args.collect.request())? else {
        return Ok(ExitStatus::Error);
    };
    report_gaps(&inventory);
    judged(&judge, &inventory, args.format, args.collect.allow_partial)
}

fn check(args: &CheckArgs) -> anyhow::Result<ExitStatus> {
    let Some(judge) = setup(&args.policy) else {
        return Ok(ExitStatus::Error);
    };
    let inventory: Inventory = match std::fs::read(&args.inventory)
        .map_err(|e| e.to_string())
        .and_then(|bytes| {
            serde_json::from_slice(&bytes).map_err(|e| format!("not a portcullis inventory: {e}"))
        }) {
        Ok(inv) => inv,
        Err(e) => {
            eprintln!("portcullis: {}: {e}", args.inventory.display());
            return Ok(ExitStatus::Error);
        }
    };
    judged(&judge, &inventory, args.format, args.allow_partial)
}

fn baseline(args: &BaselineArgs) -> anyhow::Result<ExitStatus> {
    let Some(inventory) = collect_or_report(&args.collect.request())? else {
        return Ok(ExitStatus::Error);
    };
    report_gaps(&inventory);
    if let Err(e) =
        crate::baseline::write_atomic(&args.output, &crate::baseline::render(&inventory))
    {
        eprintln!(
            "portcullis: {}: cannot write the baseline: {e}",
            args.output.display()
        );
        return Ok(ExitStatus::Error);
    }
    eprintln!(
        "portcullis: recorded {} listeners in {}",
        inventory.listeners.len(),
        args.output.display()
    );
    Ok(ExitStatus::for_scan(
        ExitStatus::Clean,
        inventory.is_complete(),
        args.collect.allow_partial,
    ))
}

fn judged(
    judge: &Judge,
    inventory: &Inventory,
    format: Format,
    allow_partial: bool,
) -> anyhow::Result<ExitStatus> {
    let (evaluation, logs) = judge.judge(inventory);
    for (plugin, line) in &logs {
        eprintln!("portcullis: plugin {plugin}: {line}");
    }
    for failure in &evaluation.plugin_failures {
        eprintln!("portcullis: incomplete: {}", failure.message);
    }
    write_stdout(|out| match format {
        Format::Table => report::findings::write(inventory, &evaluation, out),
        Format::Json => report::json::write(
            &JudgedReport {
                inventory,
                evaluation: &evaluation,
            },
            out,
        ),
    })?;
    Ok(ExitStatus::for_scan(
        verdict(&evaluation),
        complete(inventory, &evaluation),
        allow_partial,
    ))
}

/// `scan --format json`: the inventory and what the rules made of it.
#[derive(serde::Serialize)]
struct JudgedReport<'a> {
    inventory: &'a Inventory,
    evaluation: &'a Evaluation,
}

/// Exit 1 when an error-level failure is not accepted by the allowlist.
fn verdict(evaluation: &Evaluation) -> ExitStatus {
    if evaluation.violations().any(|v| v.level >= Level::Error) {
        ExitStatus::Violations
    } else {
        ExitStatus::Clean
    }
}

fn complete(inventory: &Inventory, evaluation: &Evaluation) -> bool {
    inventory.is_complete() && evaluation.plugin_failures.is_empty()
}

fn setup(policy: &PolicyArgs) -> Option<Judge> {
    match Judge::new(
        policy.policy.as_deref(),
        &policy.plugins,
        policy.baseline.as_deref(),
    ) {
        Ok(judge) => Some(judge),
        Err(SetupError::Policy(errors)) => {
            for e in errors {
                eprintln!("{e}");
            }
            None
        }
        Err(SetupError::Load(e)) => {
            eprintln!("portcullis: {e}");
            None
        }
    }
}

fn with_judge(
    policy: &PolicyArgs,
    f: impl FnOnce(&Judge) -> anyhow::Result<ExitStatus>,
) -> anyhow::Result<ExitStatus> {
    match setup(policy) {
        Some(judge) => f(&judge),
        None => Ok(ExitStatus::Error),
    }
}

fn rules(judge: &Judge) -> anyhow::Result<ExitStatus> {
    write_stdout(|out| {
        writeln!(
            out,
            "{:<24} {:<12} {:<8} {:<8} DESCRIPTION",
            "RULE", "PLUGIN", "LEVEL", "ENABLED"
        )?;
        for r in &judge.configured.rules {
            let enabled = if r.enabled { "yes" } else { "no" };
            writeln!(
                out,
                "{:<24} {:<12} {:<8} {:<8} {}",
                r.id,
                r.plugin,
                r.level.as_str(),
                enabled,
                r.short_description
            )?;
        }
        Ok(())
    })?;
    Ok(ExitStatus::Clean)
}

fn explain(judge: &Judge, id: &str) -> anyhow::Result<ExitStatus> {
    let Some(r) = judge.configured.rules.iter().find(|r| r.id == id) else {
        eprintln!("portcullis: no rule `{id}` (see `portcullis rules`)");
        return Ok(ExitStatus::Error);
    };
    write_stdout(|out| {
        writeln!(
            out,
            "{} ({}) — plugin {}, level {}{}",
            r.id,
            r.name,
            r.plugin,
            r.level.as_str(),
            if r.enabled { "" } else { ", disabled" }
        )?;
        writeln!(
            out,
            "\n{}\n\n{}\n\n{}",
            r.short_description, r.full_description, r.help_markdown
        )?;
        if let Some(uri) = &r.help_uri {
            writeln!(out, "\nMore: {uri}")?;
        }
        if !r.tags.is_empty() {
            writeln!(out, "Tags: {}", r.tags.join(", "))?;
        }
        Ok(())
    })?;
    Ok(ExitStatus::Clean)
}

fn plugins(judge: &Judge) -> anyhow::Result<ExitStatus> {
    write_stdout(|out| {
        writeln!(
            out,
            "{:<16} {:<10} {:<6} {:<6} ORIGIN",
            "PLUGIN", "VERSION", "ABI", "RULES"
        )?;
        for a in judge.plugins() {
            let p = &a.plugin;
            writeln!(
                out,
                "{:<16} {:<10} {:<6} {:<6} {}",
                p.name,
                p.version,
                crate::plugin::abi::ABI_VERSION,
                p.rules.len(),
                p.origin
            )?;
        }
        Ok(())
    })?;
    Ok(ExitStatus::Clean)
}

/// Collects, or prints why the selection is wrong and returns None (exit 2).
fn collect_or_report(request: &collect::Request) -> anyhow::Result<Option<Inventory>> {
    match collect::collect(request) {
        Ok(inventory) => Ok(Some(inventory)),
        Err(collect::CollectError::Select(e)) => {
            eprintln!("portcullis: {e}");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Writes to a block-buffered stdout (pretty output of a large inventory is
/// many lines); a closed pipe (`| head`) is the reader's choice, not an error.
fn write_stdout(f: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    match f(&mut out).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(anyhow::Error::new(e).context("writing to stdout")),
    }
}

/// Every gap goes to stderr, whatever the output format.
fn report_gaps(inventory: &Inventory) {
    for gap in &inventory.gaps {
        let scope = gap
            .netns
            .map(|n| format!(" in net:[{n}]"))
            .unwrap_or_default();
        eprintln!("portcullis: incomplete{scope}: {}", gap.detail);
    }
}
