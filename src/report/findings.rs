//! The judged scan for people: failures first, then what was accepted, what
//! could not be judged, and a summary line. Coloured on a terminal.

use std::io::{self, Write};

use super::{Report, Reporter};
use crate::exit::ExitStatus;
use crate::model::{Evaluation, Inventory, Level, Listener, Outcome};

/// The findings table; `colour` adds ANSI colours (the caller decides from
/// `--color`, `NO_COLOR` and whether stdout is a terminal).
pub struct Table {
    pub colour: bool,
}

impl Reporter for Table {
    fn write(&self, report: &Report, out: &mut dyn Write) -> io::Result<()> {
        // A run that stopped before collecting has said why on stderr; an
        // empty table here would read as "nothing listening".
        let Some(inv) = report.inventory else {
            return Ok(());
        };
        write(inv, report.evaluation, self.paint(), out)
    }
}

impl Table {
    fn paint(&self) -> Paint {
        Paint(self.colour)
    }
}

/// ANSI SGR colours, or plain text.
#[derive(Clone, Copy)]
struct Paint(bool);

impl Paint {
    fn paint(self, code: &str, text: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn level(self, level: Level, text: &str) -> String {
        match level {
            Level::Error => self.paint("1;31", text),
            Level::Warning => self.paint("33", text),
            Level::Note => self.paint("36", text),
        }
    }
}

fn write(inv: &Inventory, eval: &Evaluation, paint: Paint, out: &mut dyn Write) -> io::Result<()> {
    let subject = |i: Option<usize>| {
        i.and_then(|i| inv.listeners.get(i))
            .map_or_else(|| "host".to_owned(), |l| describe(inv, l))
    };
    let mut failures: Vec<_> = eval.violations().collect();
    failures.sort_by_key(|v| (std::cmp::Reverse(v.level), v.rule.clone(), v.listener));
    for v in &failures {
        writeln!(
            out,
            "{} {} {:<22} {}",
            paint.level(v.level, "FAIL"),
            paint.level(v.level, &format!("{:<7}", v.level.as_str())),
            v.rule,
            subject(v.listener)
        )?;
        writeln!(out, "     {}", v.message)?;
    }
    for v in eval.verdicts.iter().filter(|v| v.allowed_by().is_some()) {
        writeln!(
            out,
            "{} allowed {:<22} {} ({})",
            paint.paint("32", "ok  "),
            v.rule,
            subject(v.listener),
            v.allowed_by().unwrap_or("")
        )?;
    }
    for f in &eval.plugin_failures {
        writeln!(out, "{} {}", paint.paint("1;35", "!"), f.message)?;
    }
    for u in &eval.unused_allowances {
        writeln!(
            out,
            "{} {}: allow entry matched nothing (reason: {})",
            paint.paint("33", "!"),
            u.location,
            u.reason
        )?;
    }
    for gap in &inv.gaps {
        writeln!(
            out,
            "{} incomplete: {}",
            paint.paint("1;35", "!"),
            gap.detail
        )?;
    }
    writeln!(out, "{}{}", counts(inv, eval), incomplete_mark(inv, eval))
}

/// `; INCOMPLETE` when something was not looked at.
fn incomplete_mark(inv: &Inventory, eval: &Evaluation) -> &'static str {
    if eval.is_complete_for(inv) {
        ""
    } else {
        "; INCOMPLETE"
    }
}

/// `11 listeners in 2 namespaces, 8 rules: 1 failed, …`.
fn counts(inv: &Inventory, eval: &Evaluation) -> String {
    // One pass: a fleet's verdicts are tens of megabytes.
    let (mut failed, mut allowed, mut passed, mut skipped) = (0, 0, 0, 0);
    for v in &eval.verdicts {
        match v.outcome {
            _ if v.allowed_by().is_some() => allowed += 1,
            Outcome::Fail => failed += 1,
            Outcome::Pass => passed += 1,
            Outcome::Skip => skipped += 1,
        }
    }
    let enabled = eval.rules.iter().filter(|r| r.enabled).count();
    let of = super::plural;
    format!(
        "{} in {}, {}: {failed} failed, {allowed} allowed, {passed} passed, {skipped} skipped",
        of(inv.listeners.len(), "listener", "listeners"),
        of(inv.namespaces.len(), "namespace", "namespaces"),
        of(enabled, "rule", "rules"),
    )
}

/// One grep-able line for consoles (first boot, fleet jobs):
/// `portcullis: FAIL (exit 1) 11 listeners in …`.
pub struct Summary;

impl Reporter for Summary {
    fn write(&self, report: &Report, out: &mut dyn Write) -> io::Result<()> {
        let word = match report.run.exit {
            ExitStatus::Clean => "PASS",
            ExitStatus::Violations => "FAIL",
            ExitStatus::Error => "ERROR",
            ExitStatus::Incomplete => "INCOMPLETE",
        };
        let detail = match (report.inventory, report.run.errors.first()) {
            // The word says INCOMPLETE already; a partial run that was
            // allowed to pass still says so once.
            (Some(inv), None) if report.run.exit == ExitStatus::Incomplete => {
                counts(inv, report.evaluation)
            }
            (Some(inv), None) => {
                counts(inv, report.evaluation) + incomplete_mark(inv, report.evaluation)
            }
            (_, Some(e)) => e.replace('\n', " "),
            (None, None) => String::new(),
        };
        writeln!(
            out,
            "portcullis: {word} (exit {}) {detail}",
            report.run.exit as i32
        )
    }
}

/// `tcp *:80 nginx(822) in host` style.
fn describe(inv: &Inventory, l: &Listener) -> String {
    let mut names: Vec<String> = l
        .holders
        .iter()
        .map(|h| {
            format!(
                "{}({})",
                h.process.comm.escaped_bounded(super::bounds::NAME),
                h.pid
            )
        })
        .collect();
    names.dedup();
    let holders = if names.is_empty() {
        "?".to_owned()
    } else {
        super::some_of(names)
    };
    // The containers holding it are named, whatever namespace they are in
    // (`--network host` too); else its namespace, by the containers that
    // own it if any.
    let mut held_by: Vec<String> = l
        .holders
        .iter()
        .filter_map(|h| h.process.container.as_deref())
        .map(|c| inv.container_label(c))
        .collect();
    held_by.dedup();
    let ns = match inv.namespace(l.netns) {
        None => l.netns.to_string(),
        Some(n) if n.is_host => "host".into(),
        Some(n) if held_by.is_empty() => inv.netns_display(n),
        Some(n) => n.label(),
    };
    let ns = match held_by.as_slice() {
        [] => ns,
        [one] if ns != "host" => format!("container {one}"),
        _ => format!("{ns}, container {}", held_by.join(", ")),
    };
    // A publishing proxy's listener is the container's port, on the host.
    let forwards = match &l.forwards_to {
        Some(f) => {
            let to = f.container.as_deref().map_or_else(
                || f.address.clone(),
                |c| format!("container {}", inv.container_label(c)),
            );
            format!(", publishing {to} port {}", f.port)
        }
        None => String::new(),
    };
    format!(
        "{} {} {holders} in {ns}{forwards}",
        l.protocol.as_str(),
        l.local_column()
    )
}
