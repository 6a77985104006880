//! What `rules`, `explain` and `plugins list` print: the rule catalogue and
//! the loaded plugins, as the policy configures them.

use std::io::{self, Write};

use crate::model::Rule;

/// `portcullis rules`: one row per rule.
pub fn rules(rules: &[Rule], out: &mut dyn Write) -> io::Result<()> {
    // As wide as the longest id, so external plugins' ids line up too.
    let width = rules.iter().map(|r| r.id.len()).max().unwrap_or(0).max(24);
    writeln!(
        out,
        "{:<width$} {:<12} {:<8} {:<8} DESCRIPTION",
        "RULE", "PLUGIN", "LEVEL", "ENABLED"
    )?;
    for r in rules {
        let enabled = if r.enabled { "yes" } else { "no" };
        writeln!(
            out,
            "{:<width$} {:<12} {:<8} {:<8} {}",
            r.id,
            r.plugin,
            r.level.as_str(),
            enabled,
            r.short_description
        )?;
    }
    Ok(())
}

/// `portcullis explain RULE`: everything the rule says of itself.
pub fn explain(r: &Rule, out: &mut dyn Write) -> io::Result<()> {
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
}

/// One loaded plugin, as `plugins list` shows it.
pub struct PluginRow<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub abi: &'a str,
    pub rules: usize,
    pub origin: String,
}

/// `portcullis plugins list`.
pub fn plugins(rows: &[PluginRow<'_>], out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "{:<16} {:<10} {:<6} {:<6} ORIGIN",
        "PLUGIN", "VERSION", "ABI", "RULES"
    )?;
    for p in rows {
        writeln!(
            out,
            "{:<16} {:<10} {:<6} {:<6} {}",
            p.name, p.version, p.abi, p.rules, p.origin
        )?;
    }
    Ok(())
}
