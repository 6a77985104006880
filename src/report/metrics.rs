//! Prometheus metrics for node_exporter's textfile collector (`--metrics
//! FILE`): the text exposition format 0.0.4, which the collector reads (it
//! rejects OpenMetrics and timestamps). Written atomically like every report,
//! through a temporary name that does not end in `.prom`, so the collector
//! never reads half a file.
//!
//! Labels are chosen for a fleet's time series database: what a listener
//! *is* (rule, protocol, port, bind scope, program, namespace label), never
//! what changes every run (pids, inodes, command lines, ephemeral ports).
//! Every value is bounded and escaped; series with the same labels are one
//! series whose value counts them, so the file never repeats a series (one
//! repeat fails the whole scrape). A run that stopped before looking writes
//! no listener counts at all, rather than zeros that would read as an empty
//! host. The README ("Metrics") documents every series.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::UNIX_EPOCH;

use super::{Report, Reporter};
use crate::model::{GapKind, Inventory, Level, Listener, Scope};

pub struct Metrics;

/// Violation series written at most; the most severe are kept and the rest
/// counted in `portcullis_violation_series_dropped`, so one host with
/// thousands of failures cannot swamp a fleet's database.
pub const MAX_VIOLATION_SERIES: usize = 1000;

/// A label value's longest length, in bytes, before it is cut.
const LABEL_VALUE: usize = 256;

const PROTOCOLS: [&str; 2] = ["tcp", "udp"];

/// What kind of namespace a listener is in, from its stable label.
const NETNS_KINDS: [&str; 4] = ["host", "container", "named", "anonymous"];

impl Reporter for Metrics {
    fn write(&self, report: &Report, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(render(report).as_bytes())
    }
}

/// The whole file.
pub fn render(report: &Report) -> String {
    let mut file = Exposition::default();
    let run = report.run;
    file.family(
        "portcullis_build_info",
        "The portcullis that wrote this file; always 1.",
    )
    .sample(&[("version", env!("CARGO_PKG_VERSION"))], 1.0);
    file.family(
        "portcullis_last_run_timestamp_seconds",
        "When the run that wrote this file finished, in seconds since the Unix epoch.",
    )
    .sample(&[], seconds(run.finished));
    file.family(
        "portcullis_run_duration_seconds",
        "How long the run took, collection and judging together.",
    )
    .sample(
        &[],
        run.finished
            .duration_since(run.started)
            .map_or(0.0, |d| d.as_secs_f64()),
    );
    file.family(
        "portcullis_exit_code",
        "The run's exit code: 0 clean, 1 violations, 2 error, 3 incomplete.",
    )
    .sample(&[], f64::from(run.exit as i32));
    file.family(
        "portcullis_scan_complete",
        "1 when everything was looked at and every rule plugin answered, else 0.",
    )
    .sample(&[], if report.complete() { 1.0 } else { 0.0 });
    file.family(
        "portcullis_setup_errors",
        "What stopped the run before it could judge (malformed policy, unusable report path).",
    )
    .sample(&[], run.errors.len() as f64);
    file.family(
        "portcullis_plugin_failures",
        "Rule plugins that gave no usable answer: their rules were not judged.",
    )
    .sample(&[], report.evaluation.plugin_failures.len() as f64);
    if let Some(inv) = report.inventory {
        inventory_series(&mut file, report, inv);
    }
    file.text
}

fn inventory_series(file: &mut Exposition, report: &Report, inv: &Inventory) {
    let gaps = file.family(
        "portcullis_gaps",
        "Things the scan could not look at, by kind (README, \"Gaps\").",
    );
    for kind in GapKind::ALL {
        let n = inv.gaps.iter().filter(|g| g.kind == kind).count();
        gaps.sample(&[("kind", kind.as_str())], n as f64);
    }
    // Each namespace's kind, once (listeners are many, namespaces few).
    let kinds: std::collections::HashMap<crate::model::NetnsId, &'static str> = inv
        .namespaces
        .iter()
        .map(|ns| (ns.id, netns_kind(&crate::baseline::label_of(inv, ns))))
        .collect();
    let mut namespaces: BTreeMap<&str, usize> = NETNS_KINDS.iter().map(|k| (*k, 0)).collect();
    for kind in kinds.values() {
        *namespaces.entry(kind).or_default() += 1;
    }
    let family = file.family(
        "portcullis_namespaces",
        "Network namespaces scanned, by kind.",
    );
    for (kind, n) in namespaces {
        family.sample(&[("netns_kind", kind)], n as f64);
    }
    let mut listeners: BTreeMap<(&str, &str, &str), usize> = BTreeMap::new();
    for kind in NETNS_KINDS {
        for scope in Scope::ALL {
            for protocol in PROTOCOLS {
                listeners.insert((kind, scope.as_str(), protocol), 0);
            }
        }
    }
    for l in &inv.listeners {
        let kind = kinds.get(&l.netns).copied().unwrap_or("anonymous");
        let key = (kind, l.scope.as_str(), l.protocol.as_str());
        *listeners.entry(key).or_default() += 1;
    }
    let family = file.family(
        "portcullis_listeners",
        "Listening TCP and bound UDP sockets, by namespace kind, bind scope and protocol.",
    );
    for ((kind, scope, protocol), n) in listeners {
        family.sample(
            &[
                ("netns_kind", kind),
                ("scope", scope),
                ("protocol", protocol),
            ],
            n as f64,
        );
    }
    rule_series(file, report);
    violation_series(file, report, inv);
}

/// Per enabled rule: failures counted against the run, and failures the
/// allowlist accepted. Every rule has both series, 0 included, so an alert
/// on a rule does not depend on it having failed once.
fn rule_series(file: &mut Exposition, report: &Report) {
    let eval = report.evaluation;
    let count = |rule: &str, accepted: bool| {
        eval.verdicts
            .iter()
            .filter(|v| *v.rule == *rule && v.outcome == crate::model::Outcome::Fail)
            .filter(|v| v.allowed_by().is_some() == accepted)
            .count() as f64
    };
    let rules: Vec<_> = eval.rules.iter().filter(|r| r.enabled).collect();
    let family = file.family(
        "portcullis_rule_failures",
        "Failures of each rule that the allowlist did not accept.",
    );
    for r in &rules {
        family.sample(
            &[("rule", &r.id), ("level", r.level.as_str())],
            count(&r.id, false),
        );
    }
    let family = file.family(
        "portcullis_rule_accepted",
        "Failures of each rule that the policy's allowlist accepted.",
    );
    for r in &rules {
        family.sample(&[("rule", &r.id)], count(&r.id, true));
    }
}

/// The labels of one violation series, in the order they are written.
type ViolationLabels = [(&'static str, String); 9];

fn violation_series(file: &mut Exposition, report: &Report, inv: &Inventory) {
    let mut series: BTreeMap<(std::cmp::Reverse<Level>, ViolationLabels), usize> = BTreeMap::new();
    for v in report.evaluation.violations() {
        let listener = v.listener.and_then(|i| inv.listeners.get(i));
        let labels = violation_labels(&v.rule, v.level, inv, listener, v.subject());
        *series
            .entry((std::cmp::Reverse(v.level), labels))
            .or_default() += 1;
    }
    let dropped = series.len().saturating_sub(MAX_VIOLATION_SERIES);
    let family = file.family(
        "portcullis_violation",
        "An unaccepted failure: 1 per listener and rule (more when listeners share every label).",
    );
    for ((_, labels), n) in series.iter().take(MAX_VIOLATION_SERIES) {
        let pairs: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        family.sample(&pairs, *n as f64);
    }
    file.family(
        "portcullis_violation_series_dropped",
        "Violation series left out of this file past the cap (the JSON report has them all).",
    )
    .sample(&[], dropped as f64);
}

/// A listener's violation in stable terms: its baseline identity (no pid,
/// no inode, `ephemeral` for a client's UDP port). A host-wide verdict has
/// only its rule, level and the subject its plugin names.
fn violation_labels(
    rule: &str,
    level: Level,
    inv: &Inventory,
    listener: Option<&Listener>,
    subject: Option<&str>,
) -> ViolationLabels {
    let (protocol, port, scope, program, netns) = match listener {
        Some(l) => {
            let id = crate::baseline::identity_of(inv, l);
            (
                id.protocol,
                id.port,
                l.scope.as_str().to_owned(),
                id.program,
                id.netns,
            )
        }
        None => Default::default(),
    };
    let kind = if listener.is_some() {
        netns_kind(&netns).to_owned()
    } else {
        String::new()
    };
    [
        ("rule", rule.to_owned()),
        ("level", level.as_str().to_owned()),
        ("protocol", protocol),
        ("port", port),
        ("bind_scope", scope),
        ("program", program),
        ("netns_kind", kind),
        ("netns", netns),
        ("subject", subject.unwrap_or_default().to_owned()),
    ]
}

/// `host`, `container`, `named` or `anonymous`, from a stable namespace
/// label (`crate::baseline::netns_label`).
fn netns_kind(label: &str) -> &'static str {
    if label == "host" {
        "host"
    } else if label.starts_with("container:") || label.starts_with("k8s:") {
        "container"
    } else if label.starts_with("netns:") {
        "named"
    } else {
        "anonymous"
    }
}

fn seconds(t: std::time::SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The file being written: families one after another, each with its HELP
/// and TYPE lines before its samples (every portcullis series is a gauge:
/// each file is one run's state, not a running total).
#[derive(Default)]
struct Exposition {
    text: String,
    family: &'static str,
}

impl Exposition {
    fn family(&mut self, name: &'static str, help: &str) -> &mut Self {
        let _ = writeln!(self.text, "# HELP {name} {}", escape(help, false));
        let _ = writeln!(self.text, "# TYPE {name} gauge");
        self.family = name;
        self
    }

    fn sample(&mut self, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.text.push_str(self.family);
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| {
                let v = crate::model::bounded(v, LABEL_VALUE);
                format!("{k}=\"{}\"", escape(&v, true))
            })
            .collect();
        if !labels.is_empty() {
            let _ = write!(self.text, "{{{}}}", labels.join(","));
        }
        let _ = writeln!(self.text, " {value}");
        self
    }
}

/// Escapes as the format asks: `\` and newline everywhere, `"` in label
/// values.
fn escape(text: &str, quote: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_the_format_requires() {
        assert_eq!(escape("a\\b\n\"c\"", true), "a\\\\b\\n\\\"c\\\"");
        assert_eq!(escape("say \"hi\"\n", false), "say \"hi\"\\n");
    }

    #[test]
    fn namespace_kinds_follow_the_stable_label() {
        assert_eq!(netns_kind("host"), "host");
        assert_eq!(netns_kind("container:abc"), "container");
        assert_eq!(netns_kind("k8s:shop/web"), "container");
        assert_eq!(netns_kind("netns:web"), "named");
        assert_eq!(netns_kind("anonymous"), "anonymous");
    }
}
