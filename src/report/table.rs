//! The human table: one block per namespace, rows like `ss -utlnp`.
//!
//! Every byte that came from a process (names) is shown escaped, so a hostile
//! process name cannot move the cursor or forge rows. A namespace with no
//! listeners says so, and one that could not be examined says that instead:
//! the two are never shown alike.

use std::io::{self, Write};

use crate::model::{Gap, Inventory, Listener, Netns};

pub fn write(inventory: &Inventory, out: &mut dyn Write) -> io::Result<()> {
    for (i, ns) in inventory.namespaces.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        writeln!(out, "{}", heading(inventory, ns))?;
        let gaps: Vec<&Gap> = inventory
            .gaps
            .iter()
            .filter(|g| g.netns == Some(ns.id))
            .collect();
        for gap in &gaps {
            writeln!(out, "  ! not fully examined: {}", gap.detail)?;
        }
        let rows: Vec<&Listener> = inventory
            .listeners
            .iter()
            .filter(|l| l.netns == ns.id)
            .collect();
        if rows.is_empty() {
            if gaps.is_empty() {
                writeln!(out, "  (no listeners)")?;
            }
            continue;
        }
        write_rows(&rows, out)?;
    }
    let global: Vec<&Gap> = inventory
        .gaps
        .iter()
        .filter(|g| g.netns.is_none())
        .collect();
    if !global.is_empty() {
        writeln!(out)?;
        for gap in global {
            writeln!(out, "! incomplete: {}", gap.detail)?;
        }
    }
    Ok(())
}

fn heading(inventory: &Inventory, ns: &Netns) -> String {
    let mut line = format!("netns {}", ns.id.inode);
    if ns.is_host {
        line.push_str(" (host)");
    }
    if !ns.names.is_empty() {
        line.push_str(&format!(" {}", ns.names.join(" ")));
    } else if let Some(pid) = ns.pids.first() {
        line.push_str(&format!(" [pid {pid}]"));
    }
    for unit in &ns.hints.units {
        line.push_str(&format!(" {unit}"));
    }
    // Containers by what their runtime calls them; a pod's sandbox says so.
    for id in &ns.hints.containers {
        match inventory.container(id) {
            Some(c) if c.sandbox => {
                line.push_str(&format!(" sandbox of {}", c.display_name()));
            }
            Some(_) => line.push_str(&format!(" container {}", inventory.container_label(id))),
            None => line.push_str(&format!(" {id}")),
        }
    }
    line
}

fn write_rows(rows: &[&Listener], out: &mut dyn Write) -> io::Result<()> {
    let locals: Vec<String> = rows.iter().map(|l| l.local_column()).collect();
    let width = locals
        .iter()
        .map(String::len)
        .max()
        .unwrap_or(0)
        .max("Local Address:Port".len());
    writeln!(
        out,
        "  {:<5} {:<6} {:<width$} Process",
        "Netid", "State", "Local Address:Port"
    )?;
    for (l, local) in rows.iter().zip(&locals) {
        writeln!(
            out,
            "  {:<5} {:<6} {:<width$} {}",
            l.protocol.as_str(),
            l.protocol.listening_state(),
            local,
            holders(l)
        )?;
    }
    Ok(())
}

fn holders(l: &Listener) -> String {
    if l.owner_unknown() {
        return "?(owner unknown)".into();
    }
    let parts: Vec<String> = l
        .holders
        .iter()
        .map(|h| {
            format!(
                "{}(pid={},fd={})",
                h.process.comm.escaped_bounded(super::bounds::NAME),
                h.pid,
                h.fd
            )
        })
        .collect();
    super::some_of(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Inventory {
        serde_json::from_str(include_str!("../../testdata/inventory/seed-example.json")).unwrap()
    }

    fn render(inventory: &Inventory) -> String {
        let mut out = Vec::new();
        write(inventory, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn rows_read_like_ss() {
        let text = render(&fixture());
        assert!(text.contains("netns 4026531840 (host)"), "{text}");
        let row = |needle: &str| {
            text.lines()
                .find(|l| l.contains(needle))
                .unwrap_or_else(|| panic!("no {needle} in\n{text}"))
                .to_owned()
        };
        let web = row("*:80");
        assert!(web.contains("tcp   LISTEN"), "{web}");
        assert!(
            web.contains("apache2(pid=822,fd=4),apache2(pid=821,fd=4)"),
            "{web}"
        );
        assert!(row("192.168.122.37%enp1s0:68").contains("udp   UNCONN"));
        assert!(row("[::1]:631").contains("?(owner unknown)"));
    }

    #[test]
    fn hostile_names_are_escaped() {
        let text = render(&fixture());
        assert!(
            text.contains("evil\\x1b[2J\\x0aname(pid=4242,fd=3)"),
            "{text}"
        );
        assert!(!text.contains('\u{1b}'));
    }

    #[test]
    fn empty_and_unexamined_namespaces_are_told_apart() {
        let text = render(&fixture());
        let blue = text.split("\n\n").find(|b| b.contains(" blue ")).unwrap();
        assert!(blue.contains("(no listeners)"), "{blue}");
        let locked = text.split("\n\n").find(|b| b.contains(" locked ")).unwrap();
        assert!(
            locked.contains("! not fully examined: cannot open"),
            "{locked}"
        );
        assert!(!locked.contains("(no listeners)"), "{locked}");
    }
}
