//! Command-line arguments: what the user typed ([`Cli`]), turned once into
//! validated settings the rest of the program trusts.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::collect::{Request, Selector};

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
}

impl CollectArgs {
    pub fn request(&self) -> Request {
        Request {
            selectors: self.netns.iter().map(|s| Selector::parse(s)).collect(),
        }
    }
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
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    #[command(flatten)]
    pub collect: CollectArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// A JSON inventory from `portcullis list --format json`.
    #[arg(long, value_name = "FILE")]
    pub inventory: PathBuf,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Exit 0 (or 1) rather than 3 when the inventory or a plugin is incomplete.
    #[arg(long)]
    pub allow_partial: bool,
    #[command(flatten)]
    pub policy: PolicyArgs,
}
