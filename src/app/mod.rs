//! Runs a parsed command: collect, judge, write, and decide the exit code.
//! Everything said on stderr goes through the one [`Diagnostics`] sink;
//! every exit code follows from an [`ExitStatus`] or a [`RunError`] variant.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::cli::{
    ArgError, BaselineArgs, CheckArgs, Command, ExecArgs, Format, JudgeArgs, ListArgs,
    PluginsCommand, PolicyArgs, ReportArgs, ScanArgs, ScanPlan,
};
use crate::diag::Diagnostics;
use crate::exit::ExitStatus;
use crate::judge::{Judge, SetupError};
use crate::model::{Evaluation, Inventory, Scope};
use crate::report::{Report, Reporter, RunInfo};
use crate::{collect, exec, report, settle};

mod error;
mod merge;

pub use error::{InventoryError, RunError};

pub fn run(command: Command, diag: &Diagnostics) -> anyhow::Result<ExitStatus> {
    match command {
        Command::List(args) => list(&args, diag),
        Command::Scan(args) => scan(&args, diag),
        Command::Exec(args) => exec(&args, diag),
        Command::Check(args) => check(&args, diag),
        Command::Baseline(args) => baseline(&args, diag),
        Command::Rules(policy) => with_judge(&policy, diag, rules),
        Command::Explain { rule, policy } => with_judge(&policy, diag, |j| explain(j, &rule, diag)),
        Command::Plugins(PluginsCommand::List(policy)) => with_judge(&policy, diag, plugins),
        Command::Merge(args) => merge::merge(&args, diag),
    }
}

fn list(args: &ListArgs, diag: &Diagnostics) -> anyhow::Result<ExitStatus> {
    let progress = args.format.allows_progress();
    let inventory = args
        .collect
        .plan(None)
        .map_err(RunError::from)
        .and_then(|plan| scan_settled(&plan, progress, diag, &mut || Ok(()), None));
    let mut inventory = match inventory {
        Ok(inventory) => inventory,
        Err(e) => return Ok(stopped(&e, diag)),
    };
    if args.no_loopback {
        inventory.listeners.retain(|l| l.scope != Scope::Loopback);
    }
    report_gaps(&inventory, diag);
    write_stdout(|out| match args.format {
        Format::Table => report::table::write(&inventory, out),
        Format::Json => report::json::write(&inventory, out),
        Format::Summary => writeln!(
            out,
            "portcullis: {} in {}{}",
            report::plural(inventory.listeners.len(), "listener", "listeners"),
            report::plural(inventory.namespaces.len(), "namespace", "namespaces"),
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

fn scan(args: &ScanArgs, diag: &Diagnostics) -> anyhow::Result<ExitStatus> {
    let plan = args.collect.plan(None);
    // The firewalls' dumps run while the policy and plugins load; a scan
    // that settles first reads them later, fresh.
    let early = plan
        .as_ref()
        .ok()
        .filter(|plan| plan.settle.is_none())
        .map(|plan| collect::Prefetch::start(&plan.request));
    judged_run(
        &args.policy,
        &args.report,
        args.collect.allow_partial,
        diag,
        plan.as_ref().err().map(|e| e.clone().into()),
        || {
            let progress = args.report.format.allows_progress();
            let plan = plan.as_ref().expect("validated before the run");
            scan_settled(plan, progress, diag, &mut || Ok(()), early)
        },
    )
}

/// `exec`: start COMMAND once the policy is known good, wait for its
/// listeners, stop it, then judge and report.
fn exec(args: &ExecArgs, diag: &Diagnostics) -> anyhow::Result<ExitStatus> {
    /// A command under test gets this long to open its ports by default.
    const EXEC_SETTLE: Duration = Duration::from_secs(2);
    let scan = &args.scan;
    if args.isolate && !scan.collect.netns.is_empty() {
        return Ok(stopped(&ArgError::IsolateWithNetns.into(), diag));
    }
    // Options are checked before COMMAND starts.
    let plan = scan.collect.plan(Some(EXEC_SETTLE));
    judged_run(
        &scan.policy,
        &scan.report,
        scan.collect.allow_partial,
        diag,
        plan.as_ref().err().map(|e| e.clone().into()),
        || {
            let mut plan = plan.clone().expect("validated before the run");
            let mut running = exec::start(&args.command, args.isolate, diag)?;
            if let Some(inode) = running.netns {
                plan.request.selectors = vec![collect::Selector::parse(&inode.to_string())];
            }
            let progress = scan.report.format.allows_progress();
            let inventory = scan_settled(
                &plan,
                progress,
                diag,
                &mut || running.alive().map_err(RunError::from),
                None,
            )
            // A scan that failed because COMMAND (and its namespace) just
            // went away is reported as COMMAND's early exit.
            .map_err(|e| running.exit_report().map_or(e, RunError::from));
            running.stop(args.grace);
            inventory
        },
    )
}

fn check(args: &CheckArgs, diag: &Diagnostics) -> anyhow::Result<ExitStatus> {
    judged_run(
        &args.policy,
        &args.report,
        args.allow_partial,
        diag,
        None,
        || Ok(error::read_inventory(&args.inventory)?),
    )
}

fn baseline(args: &BaselineArgs, diag: &Diagnostics) -> anyhow::Result<ExitStatus> {
    // Checked before the scan, as report paths are: a typo fails fast.
    if let Err(e) = report::check_path(&args.output) {
        return Ok(stopped(&RunError::BaselinePath(e), diag));
    }
    let inventory = args
        .collect
        .plan(None)
        .map_err(RunError::from)
        .and_then(|plan| scan_settled(&plan, true, diag, &mut || Ok(()), None));
    let inventory = match inventory {
        Ok(inventory) => inventory,
        Err(e) => return Ok(stopped(&e, diag)),
    };
    report_gaps(&inventory, diag);
    if let Err(source) =
        crate::os::fs::write_atomic(&args.output, crate::baseline::render(&inventory).as_bytes())
    {
        let error = RunError::BaselineWrite {
            path: args.output.clone(),
            source,
        };
        return Ok(stopped(&error, diag));
    }
    diag.note(&format_args!(
        "recorded {} listeners in {}",
        inventory.listeners.len(),
        args.output.display()
    ));
    Ok(ExitStatus::for_scan(
        ExitStatus::Clean,
        inventory.is_complete(),
        args.collect.allow_partial,
    ))
}

/// Says what stopped a command that writes no reports; its exit code.
fn stopped(error: &RunError, diag: &Diagnostics) -> ExitStatus {
    diag.error(error);
    error.exit_status()
}

/// Sets up the judge, obtains the inventory, judges it, writes every report
/// and decides the exit code. Whatever stops the run (a malformed policy, an
/// unusable report path, an unreadable inventory) is recorded, and the
/// reports that can be written still are, saying so: a CI step that uploads
/// them `if: always()` finds a report that explains the failure.
/// `invalid`: what validating the command's own arguments found wrong.
pub(crate) fn judged_run(
    policy: &JudgeArgs,
    reports: &ReportArgs,
    allow_partial: bool,
    diag: &Diagnostics,
    invalid: Option<RunError>,
    obtain: impl FnOnce() -> Result<Inventory, RunError>,
) -> anyhow::Result<ExitStatus> {
    let started = SystemTime::now();
    let mut errors: Vec<RunError> = invalid.into_iter().collect();
    let sarif_location = reports
        .sarif_uri(policy.policy.policy.as_deref())
        .unwrap_or_else(|e| {
            errors.push(e.into());
            "portcullis.toml".into()
        });
    let mut usable_files = Vec::new();
    for (format, path) in reports.files() {
        match report::check_path(path) {
            Ok(()) => usable_files.push((format, path)),
            Err(e) => errors.push(e.into()),
        }
    }
    let judge = if errors.is_empty() {
        setup(&policy.policy, policy.baseline.as_deref(), diag)
            .map_err(|e| errors.extend(e))
            .ok()
    } else {
        None
    };
    let inventory = judge
        .as_ref()
        .and_then(|_| obtain().map_err(|e| errors.push(e)).ok())
        .map(std::sync::Arc::new);
    let evaluation = match (&judge, &inventory) {
        (Some(judge), Some(inventory)) => {
            report_gaps(inventory, diag);
            judge_reporting_logs(judge, inventory, diag)
        }
        _ => Evaluation::default(),
    };
    for e in &errors {
        diag.error(e);
    }
    let exit = match (errors.first(), &inventory) {
        (Some(e), _) => e.exit_status(),
        (None, Some(inv)) => ExitStatus::for_scan(
            reports.fail_on.verdict(&evaluation),
            evaluation.is_complete_for(inv),
            allow_partial,
        ),
        (None, None) => ExitStatus::Error,
    };
    let mut run = RunInfo {
        command_line: std::env::args_os()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
        started,
        finished: SystemTime::now(),
        exit,
        fail_on: reports.fail_on,
        errors: errors.iter().map(ToString::to_string).collect(),
        category: reports.category.clone(),
        allow_partial,
        hostname: crate::os::host::hostname(),
        sarif_location,
    };
    let failed = write_reports(&run, inventory.as_deref(), &evaluation, &usable_files, diag);
    if !failed.is_empty() {
        // The run failed after all: the reports that were written must say
        // so, and a report left over from an earlier run must not be
        // uploaded as this one's.
        run.exit = ExitStatus::Error;
        run.errors.extend(failed.iter().map(ToString::to_string));
        let written: Vec<_> = usable_files
            .iter()
            .filter(|(_, path)| !failed.iter().any(|e| e.path() == Some(path)))
            .copied()
            .collect();
        for again in write_reports(&run, inventory.as_deref(), &evaluation, &written, diag) {
            run.errors.push(again.to_string());
        }
        for error in &failed {
            if let Some(path) = error.path() {
                crate::os::fs::remove_stale(path);
            }
        }
    }
    let report = Report {
        run: &run,
        inventory: inventory.as_deref(),
        evaluation: &evaluation,
    };
    let status = run.exit;
    write_stdout(|out| match reports.format {
        Format::Table => report::findings::Table {
            colour: reports.colour(),
        }
        .write(&report, out),
        Format::Json => report::json::Json.write(&report, out),
        Format::Summary => report::findings::Summary.write(&report, out),
    })?;
    // The process exits next: freeing a fleet's inventory and verdicts
    // piece by piece would only cost time (a tenth of a large check's).
    std::mem::forget((inventory, evaluation));
    Ok(status)
}

/// Writes each report file, saying on stderr which could not be written.
fn write_reports(
    run: &RunInfo,
    inventory: Option<&Inventory>,
    evaluation: &Evaluation,
    files: &[(report::FileFormat, &Path)],
    diag: &Diagnostics,
) -> Vec<RunError> {
    let report = Report {
        run,
        inventory,
        evaluation,
    };
    let mut failed = Vec::new();
    for &(format, path) in files {
        if let Err(source) = report::write_file(path, format.reporter(), &report) {
            let error = RunError::ReportWrite {
                path: path.to_owned(),
                source,
            };
            diag.error(&error);
            failed.push(error);
        }
    }
    failed
}

fn judge_reporting_logs(
    judge: &Judge,
    inventory: &std::sync::Arc<Inventory>,
    diag: &Diagnostics,
) -> Evaluation {
    let (evaluation, logs) = judge.judge(inventory);
    for (plugin, line) in &logs {
        diag.plugin_log(plugin, line);
    }
    for failure in &evaluation.plugin_failures {
        diag.plugin_failure(failure);
    }
    evaluation
}

/// The judge, or every reason it could not be set up (exit 2).
fn setup(
    policy: &PolicyArgs,
    baseline: Option<&Path>,
    diag: &Diagnostics,
) -> Result<Judge, Vec<RunError>> {
    Judge::new(policy.policy.as_deref(), &policy.plugins, baseline, diag).map_err(|e| match e {
        SetupError::Policy(errors) => errors.into_iter().map(RunError::Policy).collect(),
        SetupError::Load(e) => vec![RunError::Load(e)],
    })
}

fn with_judge(
    policy: &PolicyArgs,
    diag: &Diagnostics,
    f: impl FnOnce(&Judge) -> anyhow::Result<ExitStatus>,
) -> anyhow::Result<ExitStatus> {
    match setup(policy, None, diag) {
        Ok(judge) => f(&judge),
        Err(errors) => {
            for e in &errors {
                diag.error(e);
            }
            Ok(errors
                .first()
                .map_or(ExitStatus::Error, RunError::exit_status))
        }
    }
}

fn rules(judge: &Judge) -> anyhow::Result<ExitStatus> {
    write_stdout(|out| report::catalogue::rules(&judge.configured.rules, out))?;
    Ok(ExitStatus::Clean)
}

fn explain(judge: &Judge, id: &str, diag: &Diagnostics) -> anyhow::Result<ExitStatus> {
    let Some(rule) = judge.configured.rules.iter().find(|r| r.id == id) else {
        let error = RunError::UnknownRule(id.to_owned());
        diag.error(&error);
        return Ok(error.exit_status());
    };
    write_stdout(|out| report::catalogue::explain(rule, out))?;
    Ok(ExitStatus::Clean)
}

fn plugins(judge: &Judge) -> anyhow::Result<ExitStatus> {
    let rows: Vec<_> = judge
        .plugins()
        .map(|a| report::catalogue::PluginRow {
            name: &a.plugin.name,
            version: &a.plugin.version,
            abi: a.plugin.abi_version(),
            rules: a.plugin.rules.len(),
            origin: a.plugin.origin.to_string(),
        })
        .collect();
    write_stdout(|out| report::catalogue::plugins(&rows, out))?;
    Ok(ExitStatus::Clean)
}

/// `progress`: the command's output allows a progress line (not
/// `--format summary`); the sink draws it only on a terminal.
/// The inventory a scan plan asks for (settled if asked), or why it cannot
/// be had. `alive` can end a settle wait early. `early`: firewall reads
/// begun for a scan that does not settle.
fn scan_settled(
    plan: &ScanPlan,
    progress: bool,
    diag: &Diagnostics,
    alive: &mut dyn FnMut() -> Result<(), RunError>,
    early: Option<collect::Prefetch>,
) -> Result<Inventory, RunError> {
    let Some(settle) = plan.settle else {
        alive()?;
        return collect::collect_after(&plan.request, early).map_err(RunError::from);
    };
    let mut scan = || collect::collect(&plan.request).map_err(RunError::from);
    let mut line = |p: settle::Progress| {
        if progress {
            diag.progress(Some(&format_args!(
                "settling: {} listener change{} in the last scan; unchanged for {:.1}s of {}; {:.0}s left",
                p.changed,
                if p.changed == 1 { "" } else { "s" },
                p.unchanged_for.as_secs_f64(),
                humantime::format_duration(settle.quiet),
                p.left.as_secs_f64(),
            )));
        }
    };
    let result = settle::settle(
        settle,
        &mut settle::Wall::start(),
        &mut scan,
        alive,
        &mut line,
    );
    diag.progress(None);
    result
}

/// Writes to a block-buffered stdout (pretty output of a large inventory is
/// many lines); a closed pipe (`| head`) is the reader's choice, not an error.
pub(crate) fn write_stdout(
    f: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    match f(&mut out).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(anyhow::Error::new(e).context("writing to stdout")),
    }
}

/// Every gap is said, whatever the output format.
fn report_gaps(inventory: &Inventory, diag: &Diagnostics) {
    for gap in &inventory.gaps {
        diag.gap(gap);
    }
}
