//! Command-line arguments: what the user typed ([`Cli`]), turned once into
//! validated settings the rest of the program trusts.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::collect::{Request, Selector};
use crate::exit::FailOn;
use crate::settle::Settle;

/// Arguments clap accepts one by one but that do not make sense together,
/// or that no report could carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgError {
    #[error(
        "--sarif-location {}: give a path relative to the repository root (code scanning rejects absolute and empty locations)",
        .0.display()
    )]
    SarifLocation(PathBuf),
    #[error("--timeout bounds --settle; give --settle too")]
    TimeoutWithoutSettle,
    #[error(
        "--timeout {} is shorter than --settle {}",
        humantime::format_duration(*.timeout),
        humantime::format_duration(*.quiet)
    )]
    TimeoutShorterThanSettle { timeout: Duration, quiet: Duration },
    #[error("exec: --isolate scans COMMAND's own namespace; drop --netns")]
    IsolateWithNetns,
}

#[derive(Debug, Parser)]
#[command(
    name = "portcullis",
    version,
    about = "Fails builds on unnecessarily open ports: every listener in every network namespace, judged by rule plugins."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the inventory of listeners without judging it.
    List(ListArgs),
    /// Collect the inventory and judge it under the policy.
    Scan(ScanArgs),
    /// Judge a saved JSON inventory (collected on a target, judged elsewhere).
    Check(CheckArgs),
    /// Start COMMAND (an image's entrypoint or service manager), wait for its
    /// listeners to settle, judge them, stop it. Exits with the scan's code.
    Exec(ExecArgs),
    /// Record the listeners as a baseline for `scan --baseline`.
    Baseline(BaselineArgs),
    /// List every rule: id, plugin, default level, short description.
    Rules(PolicyArgs),
    /// Print a rule's full help, with remediation.
    Explain {
        /// The rule id, as `portcullis rules` lists it.
        rule: String,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Merge many nodes' reports (JSON or SARIF) of one image or node pool
    /// into one SARIF upload and one JSON summary.
    Merge(MergeArgs),
    /// Plugin management.
    #[command(subcommand)]
    Plugins(PluginsCommand),
}

#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// Each plugin: name, version, ABI version, origin (embedded or path).
    List(PolicyArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    /// One line for consoles: on judging commands PASS, FAIL, ERROR or
    /// INCOMPLETE with the exit code and counts; on `list`, the counts.
    Summary,
}

impl Format {
    /// Whether a progress line may go to stderr beside this output: not
    /// beside the one line `summary` promises.
    pub fn allows_progress(self) -> bool {
        self != Format::Summary
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Colour {
    /// On when stdout is a terminal and NO_COLOR is unset or empty.
    Auto,
    Always,
    Never,
}

/// Where the judged run goes and what fails it. Shared by every command
/// that judges.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write the JSON report (inventory and findings) to FILE, atomically.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write a JUnit XML report to FILE, atomically.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a SARIF 2.1.0 report (for code scanning) to FILE, atomically.
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
    /// Write Prometheus metrics (text format 0.0.4) to FILE, atomically: name
    /// it `*.prom` in node_exporter's textfile-collector folder.
    #[arg(long, value_name = "FILE")]
    pub metrics: Option<PathBuf>,
    /// The file in your repository that SARIF results point at, relative to
    /// its root (default: --policy's path when relative, else portcullis.toml).
    #[arg(long, value_name = "PATH")]
    pub sarif_location: Option<PathBuf>,
    /// Code-scanning category, e.g. the image name: SARIF's
    /// automationDetails.id becomes `portcullis/NAME/`.
    #[arg(long, value_name = "NAME")]
    pub category: Option<String>,
    /// The lowest level of an unaccepted failure that exits 1. Reports carry
    /// every finding regardless.
    #[arg(long, value_enum, value_name = "LEVEL", default_value_t = FailOn::Error)]
    pub fail_on: FailOn,
    /// Colour the table on stdout.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = Colour::Auto)]
    pub color: Colour,
}

impl ReportArgs {
    /// Every report file requested, with its format.
    pub fn files(&self) -> Vec<(crate::report::FileFormat, &std::path::Path)> {
        use crate::report::FileFormat;
        [
            (FileFormat::Json, &self.json),
            (FileFormat::Junit, &self.junit),
            (FileFormat::Sarif, &self.sarif),
            (FileFormat::Metrics, &self.metrics),
        ]
        .into_iter()
        .filter_map(|(f, p)| Some((f, p.as_deref()?)))
        .collect()
    }

    /// Whether the stdout table gets colours.
    pub fn colour(&self) -> bool {
        use std::io::IsTerminal;
        match self.color {
            Colour::Always => true,
            Colour::Never => false,
            Colour::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stdout().is_terminal()
            }
        }
    }

    /// The SARIF anchor as a relative URI reference, or why it cannot be one.
    pub fn sarif_uri(&self, policy: Option<&std::path::Path>) -> Result<String, ArgError> {
        let path = match (&self.sarif_location, policy) {
            (Some(p), _) => p.as_path(),
            (None, Some(p)) if p.is_relative() => p,
            _ => std::path::Path::new("portcullis.toml"),
        };
        sarif_uri(path)
    }
}

/// A repository path as the relative URI reference SARIF results point at,
/// or why it cannot be one.
pub fn sarif_uri(path: &std::path::Path) -> Result<String, ArgError> {
    let text = path.to_string_lossy();
    let text = text.trim_start_matches("./");
    if path.is_absolute() || text.is_empty() {
        return Err(ArgError::SarifLocation(path.to_owned()));
    }
    // No `:` kept: in a relative reference it would read as a scheme.
    Ok(crate::report::percent_encode(text, b"/-._~"))
}

#[derive(Debug, Args)]
pub struct CollectArgs {
    /// Only these namespaces: an `ip netns` name, a path to any nsfs file
    /// (/run/netns/x, /proc/PID/ns/net, /proc/PID/fd/N, a bind mount) or an
    /// inode number. Repeatable; default all.
    #[arg(long = "netns", value_name = "SELECTOR")]
    pub netns: Vec<String>,
    /// Exit 0 (or 1) rather than 3 when something could not be looked at.
    #[arg(long)]
    pub allow_partial: bool,
    /// Scan only what this PID namespace shows: a container scanning itself,
    /// or a sandbox. Without it, running in a PID namespace other than the
    /// host's (a DaemonSet without hostPID) is a gap, exit 3.
    #[arg(
        long,
        env = "PORTCULLIS_OWN_PID_NAMESPACE",
        value_parser = clap::builder::FalseyValueParser::new()
    )]
    pub own_pid_namespace: bool,
    /// The longest one scan may take (default 5m); past it the scan is
    /// abandoned and reported as a gap (exit 3), so nothing a local user
    /// controls can hang it.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "5m")]
    pub scan_timeout: Duration,
    /// Re-scan until the listeners are unchanged for DURATION (`5s`,
    /// `1m`): services still starting are waited for.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub settle: Option<Duration>,
    /// The longest --settle waits (default 2m). Hitting it is a coverage
    /// gap (exit 3), not a pass.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub timeout: Option<Duration>,
}

/// A scan's arguments, validated: what to collect, and how long to settle.
#[derive(Debug, Clone)]
pub struct ScanPlan {
    pub request: Request,
    pub settle: Option<Settle>,
}

impl CollectArgs {
    /// Validates the collect options once, before anything runs; `default`
    /// is the settle period when --settle is not given.
    pub fn plan(&self, default: Option<Duration>) -> Result<ScanPlan, ArgError> {
        Ok(ScanPlan {
            request: self.request(),
            settle: self.settle(default)?,
        })
    }

    fn request(&self) -> Request {
        Request {
            selectors: self.netns.iter().map(|s| Selector::parse(s)).collect(),
            own_pid_namespace: self.own_pid_namespace,
            deadline: Some(self.scan_timeout),
        }
    }

    /// The settle loop's settings; `default` is the settle period when
    /// --settle is not given (none for a one-shot scan).
    fn settle(&self, default: Option<Duration>) -> Result<Option<Settle>, ArgError> {
        let Some(quiet) = self.settle.or(default) else {
            return match self.timeout {
                Some(_) => Err(ArgError::TimeoutWithoutSettle),
                None => Ok(None),
            };
        };
        let timeout = self.timeout.unwrap_or(DEFAULT_SETTLE_TIMEOUT);
        if timeout < quiet {
            return Err(ArgError::TimeoutShorterThanSettle { timeout, quiet });
        }
        Ok(Some(Settle { quiet, timeout }))
    }
}

/// How long --settle waits at most unless --timeout says otherwise.
pub const DEFAULT_SETTLE_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Run COMMAND in a fresh network namespace with loopback up: only its
    /// listeners are judged, and none of the host's ports are in the way.
    #[arg(long)]
    pub isolate: bool,
    /// How long COMMAND's process group gets after SIGTERM before SIGKILL.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "10s")]
    pub grace: Duration,
    #[command(flatten)]
    pub scan: ScanArgs,
    /// The command to run, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Leave out listeners bound to loopback addresses (127/8, ::1, ::ffff:127/104).
    #[arg(long)]
    pub no_loopback: bool,
    #[command(flatten)]
    pub collect: CollectArgs,
}

#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// The policy file (default: ./portcullis.toml if present, else the embedded default).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Also load this plugin (a .wasm component). Repeatable.
    #[arg(long = "plugin", value_name = "PATH")]
    pub plugins: Vec<PathBuf>,
}

/// What the judging commands take beyond the policy: `rules`, `explain` and
/// `plugins list` judge nothing, so they have no baseline.
#[derive(Debug, Args)]
pub struct JudgeArgs {
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Fail on listeners that differ from this baseline (`portcullis baseline`).
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BaselineArgs {
    /// Where to write the baseline (atomically).
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,
    #[command(flatten)]
    pub collect: CollectArgs,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    #[command(flatten)]
    pub report: ReportArgs,
    #[command(flatten)]
    pub collect: CollectArgs,
    #[command(flatten)]
    pub policy: JudgeArgs,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// A JSON inventory from `portcullis list --format json`.
    #[arg(long, value_name = "FILE")]
    pub inventory: PathBuf,
    #[command(flatten)]
    pub report: ReportArgs,
    /// Exit 0 (or 1) rather than 3 when the inventory or a plugin is incomplete.
    #[arg(long)]
    pub allow_partial: bool,
    #[command(flatten)]
    pub policy: JudgeArgs,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The nodes' reports: `--json` reports or `--sarif` logs of scan,
    /// check or exec, one per node.
    #[arg(required = true, value_name = "REPORT")]
    pub reports: Vec<PathBuf>,
    /// Write the merged SARIF (one findings and one coverage run) to FILE.
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
    /// Write the merged JSON summary to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// The merged code-scanning category, e.g. the node pool (default: the
    /// reports' common `--category`).
    #[arg(long, value_name = "NAME")]
    pub category: Option<String>,
    /// Where results of JSON reports point in your repository (SARIF logs
    /// keep their own).
    #[arg(long, value_name = "PATH", default_value = "portcullis.toml")]
    pub sarif_location: PathBuf,
    /// Nodes that did not look at everything neither withhold the others'
    /// findings nor make the merge exit 3.
    #[arg(long)]
    pub allow_partial: bool,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}
