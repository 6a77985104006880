//! The judged scan for people: failures first, then what was accepted, what
//! could not be judged, and a summary line.

use std::io::{self, Write};

use crate::model::{Evaluation, Inventory, Listener, Outcome};

pub fn write(inv: &Inventory, eval: &Evaluation, out: &mut dyn Write) -> io::Result<()> {
    let subject = |i: Option<usize>| {
        i.and_then(|i| inv.listeners.get(i))
            .map_or_else(|| "host".to_owned(), |l| describe(inv, l))
    };
    let mut failures: Vec<_> = eval.violations().collect();
    failures.sort_by_key(|v| (std::cmp::Reverse(v.level), v.rule.clone(), v.listener));
    for v in &failures {
        writeln!(
            out,
            "FAIL {:<7} {:<22} {}",
            v.level.as_str(),
            v.rule,
            subject(v.listener)
        )?;
        writeln!(out, "     {}", v.message)?;
    }
    for v in eval.verdicts.iter().filter(|v| v.allowed_by.is_some()) {
        writeln!(
            out,
            "ok   allowed {:<22} {} ({})",
            v.rule,
            subject(v.listener),
            v.allowed_by.as_deref().unwrap_or("")
        )?;
    }
    for f in &eval.plugin_failures {
        writeln!(out, "! {}", f.message)?;
    }
    for u in &eval.unused_allowances {
        writeln!(
            out,
            "! {}: allow entry matched nothing (reason: {})",
            u.location, u.reason
        )?;
    }
    for gap in &inv.gaps {
        writeln!(out, "! incomplete: {}", gap.detail)?;
    }
    let count = |o: Outcome| eval.verdicts.iter().filter(|v| v.outcome == o).count();
    let enabled = eval.rules.iter().filter(|r| r.enabled).count();
    writeln!(
        out,
        "{} listeners in {} namespaces, {enabled} rules: {} failed, {} allowed, {} passed, {} skipped{}",
        inv.listeners.len(),
        inv.namespaces.len(),
        failures.len(),
        eval.verdicts
            .iter()
            .filter(|v| v.allowed_by.is_some())
            .count(),
        count(Outcome::Pass),
        count(Outcome::Skip),
        if eval.plugin_failures.is_empty() && inv.gaps.is_empty() {
            ""
        } else {
            "; INCOMPLETE"
        }
    )
}

/// `tcp *:80 nginx(822) in host` style.
fn describe(inv: &Inventory, l: &Listener) -> String {
    let mut names: Vec<String> = l
        .processes
        .iter()
        .map(|h| format!("{}({})", h.process.comm.escaped(), h.pid))
        .collect();
    names.dedup();
    let holders = if names.is_empty() {
        "?".to_owned()
    } else {
        names.join(",")
    };
    let ns = inv.namespace(l.netns).map_or_else(
        || l.netns.to_string(),
        |n| if n.host { "host".into() } else { n.label() },
    );
    format!(
        "{} {} {holders} in {ns}",
        l.protocol.as_str(),
        l.local_column()
    )
}
