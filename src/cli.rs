//! Command-line arguments: what the user typed ([`Cli`]), turned once into
//! validated settings the rest of the program trusts.

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::collect::{Request, Selector};

#[derive(Debug, Parser)]
#[command(
    name = "portcullis",
    version,
    about = "Finds every listening socket in every network namespace."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the inventory of listeners without judging it.
    List(ListArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Only these namespaces: an `ip netns` name, a path to any nsfs file
    /// (/run/netns/x, /proc/PID/ns/net, /proc/PID/fd/N, a bind mount) or an
    /// inode number. Repeatable; default all.
    #[arg(long = "netns", value_name = "SELECTOR")]
    pub netns: Vec<String>,
    /// Leave out listeners bound to loopback addresses (127/8, ::1, ::ffff:127/104).
    #[arg(long)]
    pub no_loopback: bool,
    /// Exit 0 rather than 3 when something could not be looked at.
    #[arg(long)]
    pub allow_partial: bool,
}

/// Validated settings for `list`.
#[derive(Debug, Clone)]
pub struct ListSettings {
    pub format: Format,
    pub request: Request,
    pub no_loopback: bool,
    pub allow_partial: bool,
}

impl From<ListArgs> for ListSettings {
    fn from(args: ListArgs) -> Self {
        ListSettings {
            format: args.format,
            request: Request {
                selectors: args.netns.iter().map(|s| Selector::parse(s)).collect(),
            },
            no_loopback: args.no_loopback,
            allow_partial: args.allow_partial,
        }
    }
}
