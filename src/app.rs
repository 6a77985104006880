//! Runs a parsed command: collect, judge, write, and decide the exit code.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::cli::{
    BaselineArgs, CheckArgs, CollectArgs, Command, ExecArgs, Format, JudgeArgs, ListArgs,
    PluginsCommand, PolicyArgs, ReportArgs, ScanArgs,
};
use crate::exit::ExitStatus;
use crate::judge::{Judge, SetupError};
use crate::model::{Evaluation, Inventory, Scope};
use crate::report::{Report, Reporter, RunInfo};
use crate::settle::Settle;
use crate::{collect, exec, report, settle};

pub fn run(command: Command) -> anyhow::Result<ExitStatus> {
    match command {
        Command::List(args) => list(&args),
        Command::Scan(args) => scan(&args),
        Command::Exec(args) => exec(&args),
        Command::Check(args) => check(&args),
        Command::Baseline(args) => baseline(&args),
        Command::Rules(policy) => with_judge(&policy, rules),
        Command::Explain { rule, policy } => with_judge(&policy, |j| explain(j, &rule)),
        Command::Plugins(PluginsCommand::List(policy)) => with_judge(&policy, plugins),
    }
}

fn list(args: &ListArgs) -> anyhow::Result<ExitStatus> {
    let progress = args.format.allows_progress();
    let Some(mut inventory) = collect_or_report(&args.collect, progress) else {
        return Ok(ExitStatus::Error);
    };
    if args.no_loopback {
        inventory.listeners.retain(|l| l.scope != Scope::Loopback);
    }
    report_gaps(&inventory);
    write_stdout(|out| match args.format {
        Format::Table => report::table::write(&inventory, out),
        Format::Json => report::json::write(&inventory, out),
        Format::Summary => writeln!(
            out,
            "portcullis: {} listeners in {} namespaces{}",
            inventory.listeners.len(),
            inventory.namespaces.len(),
            if inventory.is_complete() {
                ""
            } else {
                "; INCOMPLETE"
            }
        ),
    })?;
    Ok(ExitStatus::for_scan(
        ExitStatus::Clean,
        inventory.is_complete(),
        args.collect.allow_partial,
    ))
}

fn scan(args: &ScanArgs) -> anyhow::Result<ExitStatus> {
    judged_run(
        &args.policy,
        &args.report,
        args.collect.allow_partial,
        || {
            let progress = args.report.format.allows_progress();
            collect_inventory(&args.collect, None, progress, &mut || Ok(()))
        },
    )
}

/// `exec`: start COMMAND once the policy is known good, wait for its
/// listeners, stop it, then judge and report.
fn exec(args: &ExecArgs) -> anyhow::Result<ExitStatus> {
    /// A command under test gets this long to open its ports by default.
    const EXEC_SETTLE: Duration = Duration::from_secs(2);
    let scan = &args.scan;
    if args.isolate && !scan.collect.netns.is_empty() {
        eprintln!("portcullis: exec: --isolate scans COMMAND's own namespace; drop --netns");
        return Ok(ExitStatus::Error);
    }
    judged_run(
        &scan.policy,
        &scan.report,
        scan.collect.allow_partial,
        || {
            // Options are checked before COMMAND starts.
            let settle = scan.collect.settle(Some(EXEC_SETTLE))?;
            let mut running = exec::start(&args.command, args.isolate)?;
            let mut request = scan.collect.request();
            if let Some(inode) = running.netns {
                request.selectors = vec![collect::Selector::parse(&inode.to_string())];
            }
            let progress = scan.report.format.allows_progress();
            let inventory = scan_settled(&request, settle, progress, &mut || running.alive())
                // A scan that failed because COMMAND (and its namespace) just
                // went away is reported as COMMAND's early exit.
                .map_err(|e| running.exit_report().unwrap_or(e));
            running.stop(args.grace);
            inventory
        },
    )
}

fn check(args: &CheckArgs) -> anyhow::Result<ExitStatus> {
    judged_run(&args.policy, &args.report, args.allow_partial, || {
        read_inventory(&args.inventory)
    })
}

fn baseline(args: &BaselineArgs) -> anyhow::Result<ExitStatus> {
    // Checked before the scan, as report paths are: a typo fails fast.
    if let Err(e) = report::check_path(&args.output) {
        eprintln!("portcullis: cannot write the baseline: {e}");
        return Ok(ExitStatus::Error);
    }
    let Some(inventory) = collect_or_report(&args.collect, true) else {
        return Ok(ExitStatus::Error);
    };
    report_gaps(&inventory);
    if let Err(e) =
        crate::safefs::write_atomic(&args.output, crate::baseline::render(&inventory).as_bytes())
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

/// A saved inventory: `list --format json` output, or a JSON report (whose
/// `inventory` is one).
fn read_inventory(path: &Path) -> Result<Inventory, String> {
    #[derive(serde::Deserialize)]
    struct JsonReport {
        inventory: Inventory,
    }
    let bytes = crate::safefs::read_bounded(path, crate::safefs::limits::INVENTORY)
        .map_err(|e| format!("{}: cannot read it: {e}", path.display()))?;
    serde_json::from_slice::<Inventory>(&bytes)
        .or_else(|e| {
            serde_json::from_slice::<JsonReport>(&bytes)
                .map(|r| r.inventory)
                .map_err(|_| e)
        })
        .map_err(|e| format!("{}: not a portcullis inventory: {e}", path.display()))
        .and_then(|inv| match inv.inconsistency() {
            Some(why) => Err(format!(
                "{}: not an inventory a scan could make: {why}",
                path.display()
            )),
            None => Ok(inv),
        })
}

/// Sets up the judge, obtains the inventory, judges it, writes every report
/// and decides the exit code. Whatever stops the run (a malformed policy, an
/// unusable report path, an unreadable inventory) is recorded, and the
/// reports that can be written still are, saying so: a CI step that uploads
/// them `if: always()` finds a report that explains the failure.
pub(crate) fn judged_run(
    policy: &JudgeArgs,
    reports: &ReportArgs,
    allow_partial: bool,
    obtain: impl FnOnce() -> Result<Inventory, String>,
) -> anyhow::Result<ExitStatus> {
    let started = SystemTime::now();
    let mut errors = Vec::new();
    let sarif_location = reports
        .sarif_uri(policy.policy.policy.as_deref())
        .unwrap_or_else(|e| {
            errors.push(e);
            "portcullis.toml".into()
        });
    let mut usable_files = Vec::new();
    for (format, path) in reports.files() {
        match report::check_path(path) {
            Ok(()) => usable_files.push((format, path)),
            Err(e) => errors.push(e),
        }
    }
    let judge = if errors.is_empty() {
        setup(&policy.policy, policy.baseline.as_deref())
            .map_err(|e| errors.extend(e))
            .ok()
    } else {
        None
    };
    let inventory = judge
        .as_ref()
        .and_then(|_| obtain().map_err(|e| errors.push(e)).ok());
    let evaluation = match (&judge, &inventory) {
        (Some(judge), Some(inventory)) => {
            report_gaps(inventory);
            judge_reporting_logs(judge, inventory)
        }
        _ => Evaluation::default(),
    };
    for e in &errors {
        eprintln!("portcullis: {e}");
    }
    let exit = match &inventory {
        Some(inv) if errors.is_empty() => ExitStatus::for_scan(
            reports.fail_on.verdict(&evaluation),
            evaluation.is_complete_for(inv),
            allow_partial,
        ),
        _ => ExitStatus::Error,
    };
    let run = RunInfo {
        command_line: std::env::args_os()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
        started,
        finished: SystemTime::now(),
        exit,
        fail_on: reports.fail_on,
        errors,
        category: reports.category.clone(),
        sarif_location,
    };
    let report = Report {
        run: &run,
        inventory: inventory.as_ref(),
        evaluation: &evaluation,
    };
    let mut status = exit;
    for (format, path) in usable_files {
        if let Err(e) = report::write_file(path, format.reporter(), &report) {
            eprintln!(
                "portcullis: {}: cannot write the report: {e}",
                path.display()
            );
            status = ExitStatus::Error;
        }
    }
    write_stdout(|out| match reports.format {
        Format::Table => report::findings::Table {
            colour: reports.colour(),
        }
        .write(&report, out),
        Format::Json => report::json::Json.write(&report, out),
        Format::Summary => report::findings::Summary.write(&report, out),
    })?;
    Ok(status)
}

fn judge_reporting_logs(judge: &Judge, inventory: &Inventory) -> Evaluation {
    let (evaluation, logs) = judge.judge(inventory);
    for (plugin, line) in &logs {
        eprintln!("portcullis: plugin {plugin}: {line}");
    }
    for failure in &evaluation.plugin_failures {
        eprintln!("portcullis: incomplete: {}", failure.message);
    }
    evaluation
}

/// The judge, or every reason it could not be set up (exit 2).
fn setup(policy: &PolicyArgs, baseline: Option<&Path>) -> Result<Judge, Vec<String>> {
    Judge::new(policy.policy.as_deref(), &policy.plugins, baseline).map_err(|e| match e {
        SetupError::Policy(errors) => errors.iter().map(ToString::to_string).collect(),
        SetupError::Load(e) => vec![e.to_string()],
    })
}

fn with_judge(
    policy: &PolicyArgs,
    f: impl FnOnce(&Judge) -> anyhow::Result<ExitStatus>,
) -> anyhow::Result<ExitStatus> {
    match setup(policy, None) {
        Ok(judge) => f(&judge),
        Err(errors) => {
            for e in errors {
                eprintln!("portcullis: {e}");
            }
            Ok(ExitStatus::Error)
        }
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
/// The inventory the collect options ask for (settled if asked), or why
/// it cannot be had. `alive` can end a settle wait early.
fn collect_inventory(
    args: &CollectArgs,
    default_settle: Option<Duration>,
    progress: bool,
    alive: &mut dyn FnMut() -> Result<(), String>,
) -> Result<Inventory, String> {
    let settle = args.settle(default_settle)?;
    scan_settled(&args.request(), settle, progress, alive)
}

/// `progress`: the command's output allows a progress line (not
/// `--format summary`); it is drawn only when stderr is a terminal.
fn scan_settled(
    request: &collect::Request,
    settle: Option<Settle>,
    progress: bool,
    alive: &mut dyn FnMut() -> Result<(), String>,
) -> Result<Inventory, String> {
    let mut scan = || collect::collect(request).map_err(|e| e.to_string());
    match settle {
        Some(settle) => {
            use std::io::IsTerminal;
            let draw = progress && std::io::stderr().is_terminal();
            let mut line = |p: settle::Progress| {
                if draw {
                    eprint!(
                        "\r\x1b[Kportcullis: settling: {} listener change{} in the last scan; unchanged for {:.1}s of {}; {:.0}s left",
                        p.changed,
                        if p.changed == 1 { "" } else { "s" },
                        p.unchanged_for.as_secs_f64(),
                        humantime::format_duration(settle.quiet),
                        p.left.as_secs_f64(),
                    );
                }
            };
            let result = settle::settle(
                settle,
                &mut settle::Wall::start(),
                &mut scan,
                alive,
                &mut line,
            );
            if draw {
                eprint!("\r\x1b[K");
            }
            result
        }
        None => {
            alive()?;
            scan()
        }
    }
}

/// For commands that do not write reports: the inventory, or None after
/// saying on stderr why not (exit 2).
fn collect_or_report(args: &CollectArgs, progress: bool) -> Option<Inventory> {
    match collect_inventory(args, None, progress, &mut || Ok(())) {
        Ok(inventory) => Some(inventory),
        Err(e) => {
            eprintln!("portcullis: {e}");
            None
        }
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
