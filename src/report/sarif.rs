//! SARIF 2.1.0 for GitHub code scanning (and any SARIF viewer).
//!
//! Every rule of the catalogue is in `tool.driver.rules`, with the texts
//! GitHub requires. Each failure the allowlist did not accept is a result
//! located at `--sarif-location` (a file in the user's repository: GitHub
//! rejects a whole upload when one result lacks a physical location), with
//! the socket as a logical location, the service's unit file as a related
//! location when known, and a fingerprint from the listener's stable
//! identity so alerts match across runs.
//!
//! Gaps and plugin failures are invocation notifications (the SARIF way) and
//! also results of the host rule `incomplete-scan`, because code scanning
//! ignores notifications and "could not look" must not show as a clean page.
//! Accepted failures are left out of `results` (code scanning does not honour
//! `suppressions` by default and would open alerts for them) and listed in
//! `run.properties.allowed`.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde_json::{Value, json};

use super::identity::{Occurrences, digest, netns_label, stable_key, subject};
pub use super::sarif_types::SCHEMA;
use super::sarif_types::*;
use super::{Report, Reporter, shortfalls, utc};
use crate::model::{Inventory, Level, Listener, Precision, Rule, Verdict};

pub struct Sarif;

/// The host's own rule: coverage gaps and plugin failures.
pub const INCOMPLETE_SCAN: &str = "incomplete-scan";

/// GitHub code scanning's limits on one SARIF upload
/// (docs.github.com, "SARIF support for code scanning", upload limits):
/// more results in a run than this rejects the whole upload.
pub const GITHUB_MAX_RESULTS_PER_RUN: usize = 25_000;
/// Of a run's results, code scanning keeps only this many, the most
/// severe; the rest are dropped without a word.
pub const GITHUB_RESULTS_KEPT: usize = 5_000;
/// Runs one upload may hold (portcullis writes two at most).
pub const GITHUB_MAX_RUNS: usize = 20;

/// Results written per run: what code scanning keeps, so that the file
/// stays small (GitHub also refuses files over 10 MB gzipped) and the
/// choice of what is left out is ours and documented, not the server's.
const RESULTS_PER_RUN: usize = GITHUB_RESULTS_KEPT;
const _: () = assert!(RESULTS_PER_RUN <= GITHUB_MAX_RESULTS_PER_RUN);

/// Where the tool is documented.
pub const INFORMATION_URI: &str = env!("CARGO_PKG_HOMEPAGE");

impl Reporter for Sarif {
    fn write(&self, report: &Report, out: &mut dyn Write) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, &log(report))?;
        out.write_all(b"\n")
    }
}

/// The code-scanning category of the findings: `portcullis/<--category>`,
/// or `portcullis`. The coverage run's is the same with `/coverage`.
fn category(report: &Report) -> String {
    match &report.run.category {
        Some(c) => format!("portcullis/{}", c.trim_matches('/')),
        None => "portcullis".into(),
    }
}

/// Whether this run may speak for the findings category. Code scanning
/// closes every alert of a category that an upload for it no longer
/// contains, so a run that did not look (stopped by an error, or with gaps
/// or failed plugins) must not upload that category, or its silence would
/// close alerts it never checked. `--allow-partial` says gaps are
/// accepted: then what was seen is taken as the truth.
pub fn speaks_for_findings(report: &Report) -> bool {
    report.inventory.is_some()
        && report.run.errors.is_empty()
        && (report.complete() || report.run.allow_partial)
}

/// The whole SARIF log of one run.
pub(crate) fn log(report: &Report) -> Log {
    let mut runs = Vec::with_capacity(2);
    if speaks_for_findings(report) {
        runs.push(findings_run(report));
    }
    runs.push(coverage_run(report));
    Log {
        schema: SCHEMA,
        version: "2.1.0",
        runs,
    }
}

fn driver(rules: Vec<ReportingDescriptor>) -> Tool {
    Tool {
        driver: Driver {
            name: "portcullis",
            version: env!("CARGO_PKG_VERSION"),
            semantic_version: env!("CARGO_PKG_VERSION"),
            information_uri: INFORMATION_URI,
            rules,
        },
    }
}

/// `id` as code scanning reads it: everything before the last `/` is the
/// category.
fn automation(category: String) -> AutomationDetails {
    AutomationDetails {
        id: format!("{category}/"),
    }
}

/// Every failure the allowlist did not accept, under the findings category.
fn findings_run(report: &Report) -> Run {
    let rules: Vec<ReportingDescriptor> = report.evaluation.rules.iter().map(descriptor).collect();
    // (severity, rule, stable key) orders what is kept when there are more
    // results than a run may hold; occurrences are counted in inventory
    // order first, so a result's fingerprint does not depend on the cap.
    let mut results: Vec<(Level, String, SarifResult)> = Vec::new();
    let mut fingerprints = Occurrences::default();
    if let Some(inv) = report.inventory {
        for v in report.evaluation.violations() {
            let Some(index) = report
                .evaluation
                .rules
                .iter()
                .position(|r| *r.id == *v.rule)
            else {
                continue;
            };
            let result = finding(report, inv, v, index, &mut fingerprints);
            let key = result.partial_fingerprints["portcullis/v1"].clone();
            results.push((v.level, key, result));
        }
    }
    let total = results.len();
    if total > RESULTS_PER_RUN {
        results.sort_by(|(la, ka, a), (lb, kb, b)| {
            lb.cmp(la)
                .then_with(|| a.rule_id.cmp(&b.rule_id))
                .then_with(|| ka.cmp(kb))
        });
        results.truncate(RESULTS_PER_RUN);
    }
    let mut invocation = invocation(report, false);
    let mut properties = run_properties(report);
    if total > RESULTS_PER_RUN {
        let left_out = total - RESULTS_PER_RUN;
        invocation.tool_execution_notifications.push(Notification {
            level: "warning",
            message: Text {
                text: format!(
                    "{total} findings; the {RESULTS_PER_RUN} most severe (then by rule and listener) are results here and {left_out} are left out, as code scanning keeps no more per run; the JSON report has them all"
                ),
            },
            descriptor: DescriptorReference {
                id: "results-capped".into(),
            },
            properties: BTreeMap::new(),
        });
        properties.insert("resultsTotal", json!(total));
        properties.insert("resultsLeftOut", json!(left_out));
    }
    Run {
        tool: driver(rules),
        automation_details: automation(category(report)),
        invocations: vec![invocation],
        results: results.into_iter().map(|(_, _, r)| r).collect(),
        column_kind: "utf16CodeUnits",
        properties,
    }
}

/// What the run could not look at or judge, as results of the host rule
/// `incomplete-scan`, under a category of its own: every upload has it, so
/// a gap that is fixed closes its alert, and a run that withheld its
/// findings still shows why.
fn coverage_run(report: &Report) -> Run {
    let mut results = Vec::new();
    let mut fingerprints = Occurrences::default();
    for s in shortfalls(report) {
        let key = format!("{}|{}", s.descriptor, s.subject);
        let n = fingerprints.count(&key);
        results.push(SarifResult {
            rule_id: INCOMPLETE_SCAN.into(),
            rule_index: 0,
            level: "error",
            message: Text { text: s.sentence },
            locations: vec![anchor(report, vec![])],
            related_locations: vec![],
            partial_fingerprints: fingerprint(&key, n),
            suppressions: vec![],
            properties: BTreeMap::new(),
        });
    }
    let left_out = results.len().saturating_sub(RESULTS_PER_RUN);
    results.truncate(RESULTS_PER_RUN);
    let findings = category(report);
    let mut properties = BTreeMap::from([
        ("findingsCategory", json!(findings)),
        ("findingsIncluded", json!(speaks_for_findings(report))),
    ]);
    if left_out > 0 {
        properties.insert("resultsLeftOut", json!(left_out));
    }
    if !speaks_for_findings(report) {
        properties.insert(
            "findingsWithheld",
            json!(
                "the run did not look at everything (or did not run): its findings are not uploaded, so the open alerts stay as the last complete run left them"
            ),
        );
    }
    Run {
        tool: driver(vec![incomplete_scan_descriptor()]),
        automation_details: automation(format!("{findings}/coverage")),
        invocations: vec![invocation(report, true)],
        results,
        column_kind: "utf16CodeUnits",
        properties,
    }
}

fn descriptor(r: &Rule) -> ReportingDescriptor {
    let mut tags = r.tags.clone();
    if !tags.iter().any(|t| t == "security") {
        tags.insert(0, "security".into());
    }
    ReportingDescriptor {
        id: r.id.clone(),
        name: r.name.clone(),
        short_description: Text {
            text: r.short_description.clone(),
        },
        full_description: Text {
            text: r.full_description.clone(),
        },
        help: Help {
            text: plain_text(&r.help_markdown),
            markdown: r.help_markdown.clone(),
        },
        help_uri: r.help_uri.clone(),
        default_configuration: Configuration {
            level: r.level.as_str(),
            enabled: r.enabled,
        },
        properties: RuleProperties {
            tags,
            precision: match r.precision {
                Precision::VeryHigh => "very-high",
                Precision::High => "high",
                Precision::Medium => "medium",
                Precision::Low => "low",
            },
            security_severity: format!("{:.1}", r.security_severity),
            problem_severity: problem_severity(r.level),
        },
    }
}

/// Markdown as plain text, for viewers that show `help.text`: no emphasis
/// marks, no backticks, no code fences, links as `text (url)`.
fn plain_text(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            continue;
        }
        let line = line.replace("**", "").replace("__", "").replace('`', "");
        let mut rest = line.as_str();
        while let Some(open) = rest.find('[') {
            let Some(close) = rest[open..].find("](").map(|i| open + i) else {
                break;
            };
            let Some(end) = rest[close..].find(')').map(|i| close + i) else {
                break;
            };
            out.push_str(&rest[..open]);
            out.push_str(&format!(
                "{} ({})",
                &rest[open + 1..close],
                &rest[close + 2..end]
            ));
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out.push('\n');
    }
    out.truncate(out.trim_end().len());
    out
}

fn problem_severity(level: Level) -> &'static str {
    match level {
        Level::Error => "error",
        Level::Warning => "warning",
        Level::Note => "recommendation",
    }
}

fn incomplete_scan_descriptor() -> ReportingDescriptor {
    let text = "Something could not be looked at, so the absence of findings there proves nothing.";
    ReportingDescriptor {
        id: INCOMPLETE_SCAN.into(),
        name: "IncompleteScan".into(),
        short_description: Text {
            text: "The scan could not look at everything.".into(),
        },
        full_description: Text {
            text: format!(
                "{text} A namespace could not be entered, a process's descriptors could not be read, \
                 or a rule plugin gave no usable answer."
            ),
        },
        help: Help {
            text: "Run portcullis as root (CAP_SYS_ADMIN and CAP_SYS_PTRACE) so it can enter every \
                   network namespace and read every process's descriptors; fix or remove a failing plugin."
                .into(),
            markdown: "Run portcullis as **root** (it needs `CAP_SYS_ADMIN` to enter namespaces and \
                       `CAP_SYS_PTRACE` to read other processes' descriptors). A failing plugin is named \
                       in the message: fix it, raise its limits in the policy, or remove it."
                .into(),
        },
        help_uri: None,
        default_configuration: Configuration {
            level: "error",
            enabled: true,
        },
        properties: RuleProperties {
            tags: vec!["security".into(), "coverage".into()],
            precision: "very-high",
            security_severity: "5.0".into(),
            problem_severity: "error",
        },
    }
}

fn finding(
    report: &Report,
    inv: &Inventory,
    v: &Verdict,
    rule_index: usize,
    fingerprints: &mut Occurrences,
) -> SarifResult {
    let listener = v.listener.and_then(|i| inv.listeners.get(i));
    let (key, logical, related, properties) = match listener {
        Some(l) => (
            stable_key(&v.rule, inv, l),
            vec![logical_location(inv, l)],
            related_locations(l),
            listener_properties(inv, l),
        ),
        // A host-wide verdict about something that is not a listener now
        // (a baseline entry that is gone) is known by its subject, the
        // stable identity the plugin gives it: the same change is the same
        // alert on every run. A plugin that gives none (ABI 0.1) is known
        // by what it says.
        None => match v.subject() {
            Some(subject) => {
                let subject = crate::model::bounded(subject, super::bounds::NAME).into_owned();
                (
                    format!("{}|subject|{subject}", v.rule),
                    vec![LogicalLocation {
                        name: subject.clone(),
                        fully_qualified_name: format!("host-wide/{subject}"),
                        kind: "resource",
                    }],
                    vec![],
                    BTreeMap::from([("subject", subject.into())]),
                )
            }
            None => (
                format!(
                    "{}|host-wide|{}",
                    v.rule,
                    crate::model::bounded(&v.message, 512)
                ),
                vec![],
                vec![],
                BTreeMap::new(),
            ),
        },
    };
    let key = match &report.run.category {
        Some(c) => format!("{}|{key}", c.trim_matches('/')),
        None => key,
    };
    let n = fingerprints.count(&key);
    let message = crate::model::bounded(&v.message, super::bounds::MESSAGE);
    // Where it is, unless the rule's message says so already.
    let text = match listener {
        Some(l) => {
            let label = netns_label(inv, l.netns);
            let named = label.strip_prefix("netns:").unwrap_or(&label);
            if message.contains(&label) || message.contains(&format!("netns {named}")) {
                message.into_owned()
            } else {
                format!("{message} [in {label}]")
            }
        }
        None => message.into_owned(),
    };
    SarifResult {
        rule_id: v.rule.to_string(),
        rule_index,
        level: v.level.as_str(),
        message: Text { text },
        locations: vec![anchor(report, logical)],
        related_locations: related,
        partial_fingerprints: fingerprint(&key, n),
        suppressions: vec![],
        properties,
    }
}

/// The repository file every result points at, line 1.
fn anchor(report: &Report, logical: Vec<LogicalLocation>) -> Location {
    Location {
        physical_location: Some(PhysicalLocation {
            artifact_location: ArtifactLocation {
                uri: report.run.sarif_location.clone(),
                uri_base_id: Some("%SRCROOT%"),
            },
            region: Some(Region {
                start_line: 1,
                start_column: 1,
            }),
        }),
        logical_locations: logical,
        ..Location::default()
    }
}

fn fingerprint(key: &str, occurrence: usize) -> BTreeMap<&'static str, String> {
    let hash = digest(key);
    BTreeMap::from([
        ("primaryLocationLineHash", format!("{hash}:{occurrence}")),
        ("portcullis/v1", format!("{key}#{occurrence}")),
    ])
}

fn logical_location(inv: &Inventory, l: &Listener) -> LogicalLocation {
    LogicalLocation {
        name: format!("{}/{}", l.local_column(), l.protocol.as_str()),
        fully_qualified_name: format!("{}/{}", netns_label(inv, l.netns), subject(l)),
        kind: "resource",
    }
}

/// Each distinct unit file of the holders, as an absolute `file:` URI (it
/// lives in the image, not the repository).
fn related_locations(l: &Listener) -> Vec<Location> {
    let mut files: Vec<(&str, &str)> = l
        .holders
        .iter()
        .filter_map(|h| Some((h.process.unit_file.as_deref()?, h.process.unit.as_deref()?)))
        .collect();
    files.sort();
    files.dedup();
    files
        .into_iter()
        .take(super::bounds::HOLDERS)
        .enumerate()
        .map(|(i, (file, unit))| Location {
            id: Some(i + 1),
            physical_location: Some(PhysicalLocation {
                artifact_location: ArtifactLocation {
                    uri: file_uri(file),
                    uri_base_id: None,
                },
                region: None,
            }),
            message: Some(Text {
                text: format!("systemd unit {unit}"),
            }),
            ..Location::default()
        })
        .collect()
}

/// `file://` + the path, percent-encoding what a URI may not hold.
fn file_uri(path: &str) -> String {
    format!("file://{}", super::percent_encode(path, b"/-._~@:+"))
}

fn listener_properties(inv: &Inventory, l: &Listener) -> BTreeMap<&'static str, Value> {
    use super::bounds;
    let holders: Vec<Value> = l
        .holders
        .iter()
        .take(bounds::HOLDERS)
        .map(|h| {
            let p = &h.process;
            json!({
                "pid": h.pid,
                "comm": p.comm.escaped_bounded(bounds::NAME),
                "exe": p.exe.as_ref().map(|e| e.escaped_bounded(bounds::PATH)),
                "uid": p.uid,
                "unit": p.unit.as_deref().map(|u| crate::model::bounded(u, bounds::NAME)),
                "container": p.container.as_deref().map(|c| crate::model::bounded(c, bounds::NAME)),
            })
        })
        .collect();
    let mut properties = BTreeMap::from([
        ("netns", json!(netns_label(inv, l.netns))),
        ("netnsInode", json!(l.netns.inode)),
        ("protocol", json!(l.protocol.as_str())),
        ("address", json!(l.address)),
        ("port", json!(l.port)),
        ("bound_device", json!(l.bound_device)),
        ("scope", json!(l.scope.as_str())),
        ("holders", Value::Array(holders)),
        ("holderCount", json!(l.holders.len())),
    ]);
    if let Some(forward) = &l.forwards_to {
        properties.insert("forwardsTo", json!(forward));
    }
    // What the firewall does, and the rule that decided it: what a reviewer
    // opens first when an alert says a port is exposed.
    if let Some(r) = &l.reachability {
        properties.insert(
            "reachability",
            json!({
                "state": r.state.as_str(),
                "interfaces": r.interfaces.iter().take(bounds::HOLDERS).collect::<Vec<_>>(),
                "sources": r.sources.iter().take(bounds::HOLDERS).collect::<Vec<_>>(),
                "decidedBy": r.decided_by.as_ref().map(ToString::to_string),
                "decider": r.decided_by,
                "reason": r.reason.as_deref().map(|t| crate::model::bounded(t, bounds::PATH)),
            }),
        );
    }
    properties
}

/// How the run went; with `notifications`, also the gaps, plugin failures
/// and unused allowlist entries (the coverage run carries them).
fn invocation(report: &Report, notifications: bool) -> Invocation {
    let notifications = if notifications {
        let mut list: Vec<Notification> = shortfalls(report)
            .into_iter()
            .map(|s| Notification {
                level: "error",
                message: Text { text: s.message },
                descriptor: DescriptorReference { id: s.descriptor },
                properties: s.properties,
            })
            .collect();
        list.extend(
            report
                .evaluation
                .unused_allowances
                .iter()
                .map(|u| Notification {
                    level: "warning",
                    message: Text {
                        text: format!(
                            "{}: allow entry matched nothing (reason: {})",
                            u.location, u.reason
                        ),
                    },
                    descriptor: DescriptorReference {
                        id: "unused-allowance".into(),
                    },
                    properties: BTreeMap::new(),
                }),
        );
        list
    } else {
        vec![]
    };
    let args = &report.run.command_line;
    Invocation {
        execution_successful: report.complete(),
        exit_code: report.run.exit as i32,
        exit_code_description: report.run.exit.describe(),
        command_line: args.join(" "),
        arguments: args.iter().skip(1).cloned().collect(),
        start_time_utc: utc(report.run.started),
        end_time_utc: utc(report.run.finished),
        machine: report
            .inventory
            .map_or_else(|| report.run.hostname.clone(), |i| i.host.hostname.clone()),
        tool_execution_notifications: notifications,
    }
}

fn run_properties(report: &Report) -> BTreeMap<&'static str, Value> {
    let mut props = BTreeMap::from([("failOn", json!(report.run.fail_on))]);
    if let Some(inv) = report.inventory {
        let allowed: Vec<Value> = report
            .evaluation
            .verdicts
            .iter()
            .filter(|v| v.allowed_by().is_some())
            .map(|v| {
                let l = v.listener.and_then(|i| inv.listeners.get(i));
                json!({
                    "ruleId": v.rule,
                    "subject": l.map(subject),
                    "netns": l.map(|l| netns_label(inv, l.netns)),
                    "message": v.message,
                    "reason": v.allowed_by(),
                })
            })
            .collect();
        props.insert("allowed", Value::Array(allowed));
        props.insert("listeners", json!(inv.listeners.len()));
        props.insert("namespaces", json!(inv.namespaces.len()));
        props.insert("os", json!(inv.host.os_id));
        props.insert("kernel", json!(inv.host.kernel));
    }
    props
}
