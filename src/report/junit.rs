//! JUnit XML for GitLab, Jenkins, Azure and the GitHub test-report actions.
//!
//! One `<testsuite>` per rule, one `<testcase>` per rule × listener verdict:
//! classname `portcullis.<rule>` (GitLab shows it as the suite) and name
//! `<netns> <proto> <bind> <process>`, unique and stable across runs (no
//! pids or inodes; twins get `#2`). A failure carries the message, and a body
//! with the socket, its holders and the fix. Accepted failures, skips and
//! rules that do not apply (or found nothing in their scope) are `<skipped>`. A last suite, `coverage`, has an
//! error per gap, plugin failure or setup error, or one passing testcase: a
//! report always holds at least one testcase, so a host with nothing to judge
//! is not mistaken for a broken report.
//!
//! The output validates against both the permissive Jenkins xunit schema and
//! the strict Ant one (required `<properties>`, `<system-out>`,
//! `<system-err>`, zone-less timestamps, no attributes on `<testsuites>`).
//! Written with quick-xml rather than the junit-report crate, which cannot
//! emit `<properties>` or a zone-less timestamp and writes control characters
//! and `]]>` raw into CDATA. Every string passes `sanitize`.

use std::io::{self, Write};

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

use super::identity::{Occurrences, netns_label, subject};
use super::xml::sanitize;
use super::{Report, Reporter, shortfalls, utc};
use crate::model::{Inventory, Listener, Outcome, Rule, Verdict, bounded};

pub struct Junit;

impl Reporter for Junit {
    fn write(&self, report: &Report, out: &mut dyn Write) -> io::Result<()> {
        let suites = suites(report);
        let mut w = Writer::new_with_indent(out, b' ', 2);
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        let timestamp = utc(report.run.started).trim_end_matches('Z').to_owned();
        let hostname = report
            .inventory
            .map(|i| i.host.hostname.as_str())
            .filter(|h| !h.is_empty())
            .or(Some(report.run.hostname.as_str()).filter(|h| !h.is_empty()))
            .unwrap_or("localhost");
        w.create_element("testsuites").write_inner_content(|w| {
            for (id, suite) in suites.iter().enumerate() {
                write_suite(w, id, suite, report, &timestamp, hostname)?;
            }
            Ok(())
        })?;
        w.into_inner().write_all(b"\n")
    }
}

struct Suite {
    name: String,
    properties: Vec<(String, String)>,
    cases: Vec<Case>,
    summary: String,
}

struct Case {
    classname: String,
    name: String,
    result: CaseResult,
}

enum CaseResult {
    Pass,
    /// (element, type, message, body)
    Problem(&'static str, String, String, String),
    Skipped(String),
}

fn suites(report: &Report) -> Vec<Suite> {
    let mut out: Vec<Suite> = report
        .evaluation
        .rules
        .iter()
        .filter(|r| r.enabled)
        .map(|r| rule_suite(report, r))
        .collect();
    out.push(coverage_suite(report));
    out
}

fn rule_suite(report: &Report, rule: &Rule) -> Suite {
    let classname = format!("portcullis.{}", rule.id);
    let mut names = Occurrences::default();
    let mut cases = Vec::new();
    let passes = report
        .evaluation
        .verdicts
        .iter()
        .filter(|v| *v.rule == *rule.id && v.outcome == Outcome::Pass)
        .count();
    // Past the threshold the passes are one testcase that counts them; the
    // failures, skips and accepted failures keep a testcase each.
    let aggregate = passes > super::bounds::PASSES_LISTED;
    if aggregate {
        cases.push(Case {
            classname: classname.clone(),
            name: names.unique(format!("{passes} listeners pass")),
            result: CaseResult::Pass,
        });
    }
    for v in report
        .evaluation
        .verdicts
        .iter()
        .filter(|v| *v.rule == *rule.id && !(aggregate && v.outcome == Outcome::Pass))
    {
        let (name, listener) = match (report.inventory, v.listener) {
            (Some(inv), Some(i)) if i < inv.listeners.len() => {
                let l = &inv.listeners[i];
                (
                    format!("{} {}", netns_label(inv, l.netns), subject(l)),
                    Some((inv, l)),
                )
            }
            // A host-wide verdict (a baseline listener that is gone) is
            // named by its subject, the stable identity the plugin gives it
            // (by what it says, from a plugin that gives none).
            _ => (
                format!(
                    "host-wide {}",
                    bounded(v.subject().unwrap_or(&v.message), super::bounds::NAME)
                ),
                None,
            ),
        };
        cases.push(Case {
            classname: classname.clone(),
            name: names.unique(name),
            result: verdict_result(rule, v, listener),
        });
    }
    if let Some(na) = report
        .evaluation
        .not_applicable
        .iter()
        .find(|n| n.rule == rule.id)
    {
        cases.push(Case {
            classname: classname.clone(),
            name: names.unique("not applicable".into()),
            result: CaseResult::Skipped(na.reason.clone()),
        });
    }
    let failed = report
        .evaluation
        .plugin_failures
        .iter()
        .any(|f| f.rules.contains(&rule.id));
    if cases.is_empty() && !failed && report.inventory.is_some() {
        // Nothing in its scope was there (a host-only rule in a scan of a
        // container's namespace): skipped, not passed.
        cases.push(Case {
            classname,
            name: "nothing to judge".into(),
            result: CaseResult::Skipped(
                "no listener in this rule's scope was found to judge".into(),
            ),
        });
    }
    Suite {
        name: rule.id.clone(),
        // Named after the rule: readers that gather every suite's
        // properties into one map (xunitparser) refuse a name twice.
        properties: vec![
            (format!("{}.name", rule.id), rule.name.clone()),
            (format!("{}.plugin", rule.id), rule.plugin.clone()),
            (format!("{}.level", rule.id), rule.level.as_str().to_owned()),
            (
                format!("{}.description", rule.id),
                rule.short_description.clone(),
            ),
        ],
        summary: rule.short_description.clone(),
        cases,
    }
}

fn verdict_result(
    rule: &Rule,
    v: &Verdict,
    listener: Option<(&Inventory, &Listener)>,
) -> CaseResult {
    match (v.outcome, v.allowed_by()) {
        (Outcome::Pass, _) => CaseResult::Pass,
        (Outcome::Skip, _) => CaseResult::Skipped(v.message.clone()),
        (Outcome::Fail, Some(reason)) => {
            CaseResult::Skipped(format!("allowed by the policy ({reason}): {}", v.message))
        }
        (Outcome::Fail, None) => CaseResult::Problem(
            "failure",
            v.level.as_str().to_owned(),
            bounded(&v.message, super::bounds::MESSAGE).into_owned(),
            failure_body(rule, v, listener),
        ),
    }
}

/// The text a CI page shows for a failure: what, where, who, how to fix.
fn failure_body(rule: &Rule, v: &Verdict, listener: Option<(&Inventory, &Listener)>) -> String {
    use super::bounds;
    let mut body = format!(
        "{}\n\nRule: {} ({}) - {}\n",
        bounded(&v.message, bounds::MESSAGE),
        rule.id,
        v.level.as_str(),
        rule.short_description
    );
    if let Some((inv, l)) = listener {
        body.push_str(&format!(
            "Socket: {} {} in {} (scope {}{})\n",
            l.protocol.as_str(),
            l.local_column(),
            netns_label(inv, l.netns),
            l.scope.as_str(),
            l.bound_device
                .as_ref()
                .map(|i| format!(", bound to device {i}"))
                .unwrap_or_default()
        ));
        if l.holders.is_empty() {
            body.push_str("Held by: unknown\n");
        }
        for h in l.holders.iter().take(bounds::HOLDERS) {
            let p = &h.process;
            body.push_str(&format!(
                "Held by: {} (pid {}, uid {}) exe {}{}{}\n  cmdline: {}\n",
                p.comm.escaped_bounded(bounds::NAME),
                h.pid,
                p.uid.map_or_else(|| "?".to_owned(), |u| u.to_string()),
                p.exe
                    .as_ref()
                    .map_or_else(|| "?".to_owned(), |e| e.escaped_bounded(bounds::PATH)),
                p.unit
                    .as_ref()
                    .map(|u| format!(", unit {}", bounded(u, bounds::NAME)))
                    .unwrap_or_default(),
                p.container
                    .as_ref()
                    .map(|c| format!(", container {}", bounded(c, bounds::NAME)))
                    .unwrap_or_default(),
                command_line(&p.cmdline)
            ));
        }
        if l.holders.len() > bounds::HOLDERS {
            body.push_str(&format!(
                "Held by {} more processes (the JSON report lists them)\n",
                l.holders.len() - bounds::HOLDERS
            ));
        }
    }
    body.push_str(&format!("\nFix:\n{}\n", rule.help_markdown));
    body
}

/// The arguments, escaped and space-separated, at most
/// [`bounds::COMMAND_LINE`](super::bounds::COMMAND_LINE) bytes of them
/// together; the rest is counted.
fn command_line(args: &[crate::model::ByteText]) -> String {
    let mut left = super::bounds::COMMAND_LINE;
    let mut parts = Vec::new();
    let mut cut_bytes = 0;
    for a in args {
        if left == 0 {
            cut_bytes += a.as_bytes().len();
            continue;
        }
        let len = a.as_bytes().len();
        if len <= left {
            parts.push(a.escaped());
            left -= len;
        } else {
            let shown = a.escaped_bounded(left);
            // escaped_bounded marks its own cut; count only what follows.
            parts.push(shown);
            left = 0;
        }
    }
    let mut text = parts.join(" ");
    if cut_bytes > 0 {
        text.push_str(&format!(" …[+{cut_bytes} bytes of further arguments]"));
    }
    text
}

fn coverage_suite(report: &Report) -> Suite {
    let classname = "portcullis.coverage".to_owned();
    let mut names = Occurrences::default();
    let mut cases = Vec::new();
    for s in shortfalls(report) {
        cases.push(Case {
            classname: classname.clone(),
            name: names.unique(s.subject),
            result: CaseResult::Problem("error", s.kind, s.message.clone(), s.message),
        });
    }
    if cases.is_empty() {
        let looked = report.inventory.map_or(0, |i| i.namespaces.len());
        cases.push(Case {
            classname,
            name: "every namespace and process looked at".into(),
            result: CaseResult::Pass,
        });
        return Suite {
            name: "coverage".into(),
            properties: vec![],
            summary: format!("complete: {looked} network namespaces looked at"),
            cases,
        };
    }
    Suite {
        name: "coverage".into(),
        properties: vec![],
        summary: "incomplete: see the errors".into(),
        cases,
    }
}

fn write_suite<W: Write>(
    w: &mut Writer<W>,
    id: usize,
    suite: &Suite,
    report: &Report,
    timestamp: &str,
    hostname: &str,
) -> io::Result<()> {
    let count = |f: fn(&CaseResult) -> bool| suite.cases.iter().filter(|c| f(&c.result)).count();
    let failures = count(|r| matches!(r, CaseResult::Problem("failure", ..)));
    let errors = count(|r| matches!(r, CaseResult::Problem("error", ..)));
    let skipped = count(|r| matches!(r, CaseResult::Skipped(_)));
    // The run's own properties once, on the first suite: the strict Ant
    // schema allows none on <testsuites>, and a name may appear only once.
    let mut properties: Vec<(String, String)> = Vec::new();
    if id == 0 {
        properties.push((
            "portcullis.version".into(),
            env!("CARGO_PKG_VERSION").to_owned(),
        ));
        properties.push((
            "fail-on".into(),
            format!("{:?}", report.run.fail_on).to_lowercase(),
        ));
        if let Some(c) = &report.run.category {
            properties.push(("category".into(), c.clone()));
        }
    }
    properties.extend(suite.properties.iter().cloned());
    w.create_element("testsuite")
        .with_attributes([
            ("id", id.to_string().as_str()),
            ("package", "portcullis"),
            ("name", &sanitize(&suite.name)),
            ("tests", &suite.cases.len().to_string()),
            ("failures", &failures.to_string()),
            ("errors", &errors.to_string()),
            ("skipped", &skipped.to_string()),
            ("time", "0"),
            ("timestamp", timestamp),
            ("hostname", &sanitize(hostname)),
        ])
        .write_inner_content(|w| {
            w.create_element("properties").write_inner_content(|w| {
                for (name, value) in &properties {
                    w.create_element("property")
                        .with_attributes([("name", &*sanitize(name)), ("value", &sanitize(value))])
                        .write_empty()?;
                }
                Ok(())
            })?;
            for case in &suite.cases {
                write_case(w, case)?;
            }
            w.create_element("system-out")
                .write_text_content(BytesText::new(&sanitize(&suite.summary)))?;
            w.create_element("system-err").write_empty()?;
            Ok(())
        })?;
    Ok(())
}

fn write_case<W: Write>(w: &mut Writer<W>, case: &Case) -> io::Result<()> {
    let element = w.create_element("testcase").with_attributes([
        ("classname", &*sanitize(&case.classname)),
        ("name", &sanitize(&case.name)),
        ("time", "0"),
    ]);
    match &case.result {
        CaseResult::Pass => element.write_empty().map(drop),
        CaseResult::Skipped(message) => element
            .write_inner_content(|w| {
                w.create_element("skipped")
                    .with_attribute(("message", &*sanitize(message)))
                    .write_empty()?;
                Ok(())
            })
            .map(drop),
        CaseResult::Problem(tag, kind, message, body) => element
            .write_inner_content(|w| {
                w.create_element(*tag)
                    .with_attributes([("type", &*sanitize(kind)), ("message", &sanitize(message))])
                    .write_text_content(BytesText::new(&sanitize(body)))?;
                Ok(())
            })
            .map(drop),
    }
}
