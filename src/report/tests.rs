//! Report writers on a fixture inventory with hostile strings. The real
//! validators (xmllint, check-jsonschema, junitparser) run in
//! `ci/tests/reports.rs`; these check the shape of what each writer decides.

use std::time::SystemTime;

use quick_xml::events::Event;

use super::*;
use crate::model::{Level, Outcome, Precision, Rule, Verdict};

const HOSTILE: &str = "msg <&> ]]> \u{1}\u{0}\u{1b}[2J \"quoted\"\n";

fn inventory() -> Inventory {
    serde_json::from_str(include_str!("../../testdata/inventory/seed-complete.json")).unwrap()
}

fn rule(id: &str) -> Rule {
    Rule {
        id: id.into(),
        plugin: "p".into(),
        name: "R".into(),
        short_description: format!("short {HOSTILE}"),
        full_description: "full".into(),
        help_markdown: "help".into(),
        help_uri: None,
        default_level: Level::Error,
        tags: vec!["network".into()],
        enabled_by_default: true,
        enabled: true,
        level: Level::Error,
        security_severity: 7.5,
        precision: Precision::High,
    }
}

fn verdict(rule: &str, listener: usize, outcome: Outcome, allowed: Option<&str>) -> Verdict {
    let mut v = Verdict::new(
        rule.into(),
        "p".into(),
        Some(listener),
        outcome,
        Level::Error,
        HOSTILE.into(),
    );
    if let Some(reason) = allowed {
        v.allow(reason.to_owned());
    }
    v
}

fn run(errors: Vec<String>) -> RunInfo {
    RunInfo {
        command_line: vec!["portcullis".into(), "scan".into()],
        started: SystemTime::UNIX_EPOCH,
        finished: SystemTime::UNIX_EPOCH,
        exit: ExitStatus::Violations,
        fail_on: FailOn::Error,
        errors,
        category: Some("img".into()),
        allow_partial: false,
        hostname: "ci-runner".into(),
        sarif_location: "images/base/portcullis.toml".into(),
    }
}

fn report<'a>(info: &'a RunInfo, inv: &'a Inventory, eval: &'a Evaluation) -> Report<'a> {
    Report {
        run: info,
        inventory: Some(inv),
        evaluation: eval,
    }
}

fn render(reporter: &dyn Reporter, report: &Report) -> String {
    let mut out = Vec::new();
    reporter.write(report, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// (classname, name, child element) of every testcase, parsed back.
fn testcases(xml: &str) -> Vec<(String, String, Option<String>)> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut cases = Vec::new();
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Eof => break,
            Event::Start(e) | Event::Empty(e) => {
                let tag = e.name().as_ref().to_owned();
                let attr = |n: &str| {
                    e.try_get_attribute(n).unwrap().map(|a| {
                        a.normalized_value(quick_xml::XmlVersion::Explicit1_0)
                            .unwrap()
                            .into_owned()
                    })
                };
                if tag == "testcase" {
                    cases.push((attr("classname").unwrap(), attr("name").unwrap(), None));
                } else if ["failure", "error", "skipped"].contains(&tag.as_str()) {
                    cases.last_mut().unwrap().2 = Some(tag);
                }
            }
            _ => {}
        }
    }
    cases
}

#[test]
fn junit_is_well_formed_unique_and_sanitised() {
    let inv = inventory();
    let eval = Evaluation {
        rules: vec![rule("r-one"), rule("r-two")],
        verdicts: vec![
            verdict("r-one", 0, Outcome::Fail, None),
            verdict("r-one", 0, Outcome::Fail, None),
            verdict("r-one", 1, Outcome::Pass, None),
            verdict("r-two", 2, Outcome::Fail, Some("accepted")),
        ],
        ..Evaluation::default()
    };
    let info = run(vec![]);
    let report = report(&info, &inv, &eval);
    let xml = render(&junit::Junit, &report);
    assert!(!xml.contains('\u{1}') && !xml.contains('\u{0}') && !xml.contains('\u{1b}'));
    assert!(xml.contains("\\x01\\x00\\x1b[2J"), "escapes are visible");
    assert!(!xml.contains("]]>"), "no raw CDATA terminator");
    let cases = testcases(&xml);
    let mut keys: Vec<_> = cases.iter().map(|(c, n, _)| (c, n)).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), cases.len(), "classname + name are unique");
    let kinds: Vec<_> = cases.iter().map(|c| c.2.as_deref()).collect();
    assert_eq!(
        kinds,
        [
            Some("failure"),
            Some("failure"),
            None,
            Some("skipped"),
            None
        ],
        "two failures (twins told apart), a pass, an accepted failure as \
         skipped, and the coverage suite's pass: {cases:?}"
    );
    assert!(cases[1].1.ends_with(" #2"));
}

#[test]
fn junit_without_verdicts_still_has_a_testcase() {
    let inv = inventory();
    let eval = Evaluation::default();
    let info = run(vec![]);
    let cases = testcases(&render(&junit::Junit, &report(&info, &inv, &eval)));
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0].2, None);
    // A rule that found nothing in its scope is skipped, not passed.
    let eval = Evaluation {
        rules: vec![rule("r-one")],
        ..Evaluation::default()
    };
    let cases = testcases(&render(&junit::Junit, &report(&info, &inv, &eval)));
    let nothing = cases.iter().find(|c| c.0 == "portcullis.r-one").unwrap();
    assert_eq!(
        (nothing.1.as_str(), nothing.2.as_deref()),
        ("nothing to judge", Some("skipped"))
    );
}

#[test]
fn a_run_that_did_not_start_says_so_in_every_format() {
    let eval = Evaluation::default();
    let info = run(vec!["policy.toml:3:1: unknown field `rulez`".into()]);
    let report = Report {
        run: &info,
        inventory: None,
        evaluation: &eval,
    };
    let cases = testcases(&render(&junit::Junit, &report));
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0].2.as_deref(), Some("error"));

    let sarif: serde_json::Value = serde_json::from_str(&render(&sarif::Sarif, &report)).unwrap();
    let run = &sarif["runs"][0];
    assert_eq!(run["invocations"][0]["executionSuccessful"], false);
    assert_eq!(run["results"][0]["ruleId"], sarif::INCOMPLETE_SCAN);

    let json: serde_json::Value = serde_json::from_str(&render(&json::Json, &report)).unwrap();
    assert!(json["inventory"].is_null());
    assert_eq!(json["run"]["complete"], false);
    assert_eq!(render(&findings::Table { colour: false }, &report), "");
}

#[test]
fn sarif_results_are_located_fingerprinted_and_indexed() {
    let inv = inventory();
    let eval = Evaluation {
        rules: vec![rule("r-one"), rule("r-two")],
        verdicts: vec![
            verdict("r-two", 0, Outcome::Fail, None),
            verdict("r-two", 0, Outcome::Fail, None),
            verdict("r-one", 1, Outcome::Fail, Some("accepted")),
        ],
        ..Evaluation::default()
    };
    let info = run(vec![]);
    let report = report(&info, &inv, &eval);
    let sarif: serde_json::Value = serde_json::from_str(&render(&sarif::Sarif, &report)).unwrap();
    let run = &sarif["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "the accepted failure is not an alert");
    assert_eq!(run["properties"]["allowed"].as_array().unwrap().len(), 1);
    for r in results {
        let index = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], r["ruleId"]);
        let loc = &r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"];
        assert_eq!(loc, "images/base/portcullis.toml");
    }
    let hashes: Vec<_> = results
        .iter()
        .map(|r| {
            r["partialFingerprints"]["primaryLocationLineHash"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_ne!(hashes[0], hashes[1], "twins get distinct fingerprints");
    assert_eq!(hashes[0].split(':').next(), hashes[1].split(':').next());
    assert_eq!(run["automationDetails"]["id"], "portcullis/img/");
    assert_eq!(rules[0]["properties"]["security-severity"], "7.5");
}

#[test]
fn fingerprints_ignore_pids_and_inodes() {
    let inv = inventory();
    let mut moved = inv.clone();
    for l in &mut moved.listeners {
        l.inode += 1000;
        for h in &mut l.holders {
            h.pid += 1000;
        }
    }
    for (a, b) in inv.listeners.iter().zip(&moved.listeners) {
        assert_eq!(
            identity::stable_key("r", &inv, a),
            identity::stable_key("r", &moved, b)
        );
    }
}

#[test]
fn report_paths_are_checked_before_the_run() {
    let error = check_path(Path::new("/nonexistent-dir/x.sarif")).unwrap_err();
    assert_eq!(error.path, Path::new("/nonexistent-dir/x.sarif"));
    assert!(matches!(error.source, crate::os::fs::FileError::Folder(_)));
    assert!(check_path(Path::new("/etc/hostname/x.sarif")).is_err());
    assert!(check_path(Path::new("x.sarif")).is_ok());
}

/// The categories (`automationDetails.id` up to its last `/`) of a SARIF
/// log's runs, with their result counts.
fn sarif_categories(report: &Report) -> Vec<(String, usize)> {
    let sarif: serde_json::Value = serde_json::from_str(&render(&sarif::Sarif, report)).unwrap();
    sarif["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let id = r["automationDetails"]["id"].as_str().unwrap();
            let category = id.rsplit_once('/').unwrap().0.to_owned();
            (category, r["results"].as_array().unwrap().len())
        })
        .collect()
}

/// Code scanning closes the alerts of a category that an upload for it no
/// longer contains: a run that did not look must never upload the
/// findings category, and a good run must (with coverage beside it).
#[test]
fn only_a_run_that_looked_speaks_for_the_findings_category() {
    let inv = inventory();
    let eval = Evaluation {
        rules: vec![rule("r-one")],
        verdicts: vec![verdict("r-one", 0, Outcome::Fail, None)],
        ..Evaluation::default()
    };
    let good = run(vec![]);
    let good_runs = sarif_categories(&report(&good, &inv, &eval));
    assert_eq!(
        good_runs,
        [
            ("portcullis/img".to_owned(), 1),
            ("portcullis/img/coverage".to_owned(), 0)
        ],
        "findings, and a clean coverage run that closes fixed gaps"
    );

    let failed = run(vec!["policy.toml:3:1: unknown field".into()]);
    let no_inventory = Evaluation::default();
    let failed_runs = sarif_categories(&Report {
        run: &failed,
        inventory: None,
        evaluation: &no_inventory,
    });
    assert_eq!(failed_runs, [("portcullis/img/coverage".to_owned(), 1)]);
    assert!(
        failed_runs.iter().all(|(c, _)| good_runs[0].0 != *c),
        "a failed run shares no findings category with a good one"
    );

    let mut partial = inv.clone();
    partial.gaps.push(crate::model::Gap {
        kind: crate::model::GapKind::NetnsNotEnterable,
        netns: None,
        pids: vec![],
        detail: "setns: EPERM".into(),
    });
    let withheld = sarif_categories(&report(&good, &partial, &eval));
    assert_eq!(withheld, [("portcullis/img/coverage".to_owned(), 1)]);
    let accepted = RunInfo {
        allow_partial: true,
        ..good.clone()
    };
    assert_eq!(
        sarif_categories(&report(&accepted, &partial, &eval)),
        [
            ("portcullis/img".to_owned(), 1),
            ("portcullis/img/coverage".to_owned(), 1)
        ],
        "--allow-partial: what was seen is the truth, and the gap is shown"
    );
}

/// More findings than code scanning keeps: the most severe are kept (then
/// by rule and listener), the run says how many were left out, and the
/// JSON keeps them all.
#[test]
fn sarif_keeps_the_most_severe_findings_within_githubs_limit() {
    let mut inv = inventory();
    let template = inv.listeners[0].clone();
    inv.listeners = (0..6_000u16)
        .map(|i| crate::model::Listener {
            port: 10_000 + i,
            inode: u64::from(i),
            ..template.clone()
        })
        .collect();
    let mut verdicts = Vec::new();
    for i in 0..6_000 {
        let mut v = verdict(
            if i % 3 == 0 { "r-one" } else { "r-two" },
            i,
            Outcome::Fail,
            None,
        );
        v.level = if i % 2 == 0 {
            Level::Warning
        } else {
            Level::Error
        };
        verdicts.push(v);
    }
    let eval = Evaluation {
        rules: vec![rule("r-one"), rule("r-two")],
        verdicts,
        ..Evaluation::default()
    };
    let info = run(vec![]);
    let report = report(&info, &inv, &eval);
    let sarif: serde_json::Value = serde_json::from_str(&render(&sarif::Sarif, &report)).unwrap();
    let findings = &sarif["runs"][0];
    let results = findings["results"].as_array().unwrap();
    assert_eq!(results.len(), sarif::GITHUB_RESULTS_KEPT);
    assert!(results.len() <= sarif::GITHUB_MAX_RESULTS_PER_RUN);
    assert_eq!(findings["properties"]["resultsTotal"], 6_000);
    assert_eq!(findings["properties"]["resultsLeftOut"], 1_000);
    let levels: Vec<&str> = results
        .iter()
        .map(|r| r["level"].as_str().unwrap())
        .collect();
    assert_eq!(
        levels.iter().filter(|l| **l == "error").count(),
        3_000,
        "every error is kept before any warning"
    );
    assert!(levels[..3_000].iter().all(|l| *l == "error"));
    let rules: Vec<&str> = results[..3_000]
        .iter()
        .map(|r| r["ruleId"].as_str().unwrap())
        .collect();
    assert!(rules.windows(2).all(|w| w[0] <= w[1]), "then by rule");
    let notes = findings["invocations"][0]["toolExecutionNotifications"]
        .as_array()
        .unwrap();
    assert_eq!(notes[0]["descriptor"]["id"], "results-capped");
    let json: serde_json::Value = serde_json::from_str(&render(&json::Json, &report)).unwrap();
    assert_eq!(
        json["evaluation"]["verdicts"].as_array().unwrap().len(),
        6_000
    );
}

/// Above the threshold, a rule's passes are one testcase that counts them;
/// every failure keeps its own.
#[test]
fn junit_counts_many_passes_in_one_testcase() {
    let mut inv = inventory();
    let template = inv.listeners[0].clone();
    let n = super::bounds::PASSES_LISTED + 500;
    inv.listeners = (0..n)
        .map(|i| crate::model::Listener {
            port: 10_000 + i as u16,
            inode: i as u64,
            ..template.clone()
        })
        .collect();
    let verdicts: Vec<Verdict> = (0..n)
        .map(|i| {
            let outcome = if i < 3 { Outcome::Fail } else { Outcome::Pass };
            verdict("r-one", i, outcome, None)
        })
        .collect();
    let eval = Evaluation {
        rules: vec![rule("r-one")],
        verdicts,
        ..Evaluation::default()
    };
    let info = run(vec![]);
    let cases = testcases(&render(&junit::Junit, &report(&info, &inv, &eval)));
    let rule_cases: Vec<_> = cases.iter().filter(|c| c.0 == "portcullis.r-one").collect();
    assert_eq!(rule_cases.len(), 4, "three failures and one count");
    assert_eq!(rule_cases[0].1, format!("{} listeners pass", n - 3));
    assert_eq!(rule_cases[0].2, None);
    assert!(
        rule_cases[1..]
            .iter()
            .all(|c| c.2.as_deref() == Some("failure"))
    );
}

#[test]
fn plain_help_has_no_markdown() {
    let sarif: serde_json::Value = {
        let inv = inventory();
        let mut r = rule("r-one");
        r.help_markdown =
            "**Fix:** bind to `127.0.0.1`; see [the guide](https://example.org/g).\n```toml\nx = 1\n```"
                .into();
        let eval = Evaluation {
            rules: vec![r],
            ..Evaluation::default()
        };
        let info = run(vec![]);
        serde_json::from_str(&render(&sarif::Sarif, &report(&info, &inv, &eval))).unwrap()
    };
    let help = &sarif["runs"][0]["tool"]["driver"]["rules"][0]["help"];
    assert_eq!(
        help["text"],
        "Fix: bind to 127.0.0.1; see the guide (https://example.org/g).\nx = 1"
    );
    assert_ne!(help["text"], help["markdown"]);
}

/// A run that stopped before it looked says so in its metrics, and writes
/// no counts that would read as an empty host.
#[test]
fn metrics_of_a_run_that_did_not_look_have_no_counts() {
    let mut info = run(vec!["policy.toml:3:1: unknown key".into()]);
    info.exit = ExitStatus::Error;
    let eval = Evaluation::default();
    let text = metrics::render(&Report {
        run: &info,
        inventory: None,
        evaluation: &eval,
    });
    for line in [
        "portcullis_scan_complete 0",
        "portcullis_exit_code 2",
        "portcullis_setup_errors 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line}\n{text}");
    }
    for absent in [
        "portcullis_listeners",
        "portcullis_violation{",
        "portcullis_gaps",
    ] {
        assert!(!text.contains(absent), "{absent}\n{text}");
    }
}

/// Listeners that share every label (an SO_REUSEPORT group) are one
/// series counting them: a repeated series would fail the whole scrape.
#[test]
fn metrics_never_repeat_a_series() {
    let mut inv = inventory();
    let twin = inv.listeners[0].clone();
    inv.listeners.push(twin);
    let last = inv.listeners.len() - 1;
    let eval = Evaluation {
        rules: vec![rule("wildcard-bind")],
        verdicts: vec![
            verdict("wildcard-bind", 0, Outcome::Fail, None),
            verdict("wildcard-bind", last, Outcome::Fail, None),
        ],
        ..Evaluation::default()
    };
    let info = run(vec![]);
    let text = metrics::render(&report(&info, &inv, &eval));
    let series: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    let names: std::collections::BTreeSet<&str> = series
        .iter()
        .map(|l| l.rsplit_once(' ').unwrap().0)
        .collect();
    assert_eq!(names.len(), series.len(), "{text}");
    let violations: Vec<&&str> = series
        .iter()
        .filter(|l| l.starts_with("portcullis_violation{"))
        .collect();
    assert_eq!(violations.len(), 1, "{text}");
    assert!(violations[0].ends_with(" 2"), "{text}");
}
