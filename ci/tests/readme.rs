//! The README cannot drift from the binary: its snippets are run here.
//!
//! - Every ` ```toml ` block is a policy: it must load (`portcullis rules
//!   --policy BLOCK`, exit 0), in a folder holding the `plugins.d` it names.
//! - Every ` ```sh ` block is run, unless its info string says `no-run`:
//!   each line is a `portcullis` command (`cargo run --release -- ARGS`
//!   counts as `portcullis ARGS`), run in order in one scratch folder, in a
//!   private PID, mount and network namespace (so it looks at a host of its
//!   own: no other tests' namespaces, a readable PID 1; its PID namespace
//!   is the whole machine, `PORTCULLIS_OWN_PID_NAMESPACE=1`), and must exit 0.
//! - A `no-run` block's programs must exist: a path in this repository, or
//!   a tool the README tells users to have (cargo, docker).
//! - Every subcommand of `portcullis --help` is in the Commands table, and
//!   every "N rules:" in sample output is the default policy's rule count.
//!
//! Root: the namespaces are real.

// A test sets up the host it checks: files, processes, namespaces.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::path::Path;
use std::process::Command;

use support::{FORGET_NAMESPACE_MOUNTS, require_root, scratch, stderr};

struct Block {
    info: String,
    line: usize,
    text: String,
}

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap()
}

fn blocks(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut open, fence) {
            (None, Some(info)) => {
                open = Some(Block {
                    info: info.trim().to_string(),
                    line: i + 1,
                    text: String::new(),
                })
            }
            (Some(_), Some(_)) => blocks.push(open.take().unwrap()),
            (Some(block), None) => {
                block.text.push_str(line);
                block.text.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "README.md has an unclosed fence");
    blocks
}

fn language(block: &Block) -> &str {
    block.info.split_whitespace().next().unwrap_or("")
}

/// The commands of a shell block: comments and `# …` tails dropped.
fn commands(block: &Block) -> Vec<String> {
    block
        .text
        .lines()
        .map(|l| match l.find(" #") {
            Some(i) => &l[..i],
            None => l,
        })
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

fn portcullis_bin() -> &'static str {
    env!("CARGO_BIN_EXE_portcullis")
}

#[test]
fn every_policy_block_loads() {
    let blocks = blocks(&readme());
    let policies: Vec<_> = blocks.iter().filter(|b| language(b) == "toml").collect();
    assert!(!policies.is_empty(), "the README shows a policy");
    for block in policies {
        let dir = scratch(&format!("rt{}", block.line));
        std::fs::create_dir_all(dir.join("plugins.d")).unwrap();
        let policy = dir.join("portcullis.toml");
        std::fs::write(&policy, &block.text).unwrap();
        let out = Command::new(portcullis_bin())
            .args(["rules", "--policy", policy.to_str().unwrap()])
            .env("PORTCULLIS_CACHE_DIR", "off")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "README.md:{}: the policy does not load: {}",
            block.line,
            stderr(&out)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn every_shell_block_runs() {
    require_root();
    let blocks = blocks(&readme());
    let shell: Vec<_> = blocks.iter().filter(|b| language(b) == "sh").collect();
    assert!(shell.len() >= 3, "the README has shell blocks");
    let bin_dir = scratch("rbin");
    let link = bin_dir.join("portcullis");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(portcullis_bin(), &link).unwrap();
    let mut ran = 0;
    for block in shell {
        let lines = commands(block);
        if block.info.split_whitespace().any(|w| w == "no-run") {
            for line in &lines {
                let program = line.split_whitespace().next().unwrap();
                let known = ["cargo", "docker"].contains(&program)
                    || Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join(program)
                        .is_file();
                assert!(
                    known,
                    "README.md:{}: `{program}` is neither a repository path nor a tool the README names",
                    block.line
                );
            }
            continue;
        }
        let dir = scratch(&format!("rs{}", block.line));
        let script: String = lines
            .iter()
            .map(|l| {
                let l = l
                    .strip_prefix("cargo run --release -- ")
                    .map(|rest| format!("portcullis {rest}"))
                    .unwrap_or_else(|| l.clone());
                assert!(
                    l.starts_with("portcullis "),
                    "README.md:{}: `{l}` in a runnable block is not a portcullis command (mark the block `sh no-run`)",
                    block.line
                );
                format!("{l} || {{ echo \"exit $?: {}\" >&2; exit 1; }}\n", l.replace('"', "'"))
            })
            .collect();
        let out = Command::new("unshare")
            .args([
                "--pid",
                "--fork",
                "--mount-proc",
                "--net",
                "--mount",
                "sh",
                "-ec",
            ])
            .arg(format!(
                "{FORGET_NAMESPACE_MOUNTS}ip link set lo up\n{script}"
            ))
            .current_dir(&dir)
            .env(
                "PATH",
                format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap()),
            )
            .env("PORTCULLIS_CACHE_DIR", "off")
            // The private PID namespace is this world's whole machine.
            .env("PORTCULLIS_OWN_PID_NAMESPACE", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "README.md:{}: the block failed: {}\n{}",
            block.line,
            stderr(&out),
            String::from_utf8_lossy(&out.stdout)
        );
        ran += lines.len();
        std::fs::remove_dir_all(&dir).unwrap();
    }
    assert!(ran >= 3, "README commands were run ({ran})");
}

#[test]
fn commands_table_and_sample_counts_match_the_binary() {
    let text = readme();
    let help = Command::new(portcullis_bin())
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let subcommands: Vec<&str> = help
        .split("Commands:")
        .nth(1)
        .expect("--help lists commands")
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(subcommands.len() >= 6, "{help}");
    for command in subcommands {
        assert!(
            text.contains(&format!("| `portcullis {command}")),
            "the README's Commands table lacks `portcullis {command}`"
        );
    }

    let rules = Command::new(portcullis_bin())
        .arg("rules")
        .env("PORTCULLIS_CACHE_DIR", "off")
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    assert!(rules.status.success(), "{}", stderr(&rules));
    let count = String::from_utf8_lossy(&rules.stdout)
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .count();
    for (i, line) in text.lines().enumerate() {
        if let Some(at) = line.find(" rules: ") {
            let n: usize = line[..at]
                .rsplit(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap_or_else(|_| panic!("README.md:{}: {line}", i + 1));
            assert_eq!(
                n,
                count,
                "README.md:{}: sample output says {n} rules; the default policy has {count}",
                i + 1
            );
        }
    }
}
