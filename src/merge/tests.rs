use serde_json::{Value, json};

use super::*;
use crate::report::sarif::INCOMPLETE_SCAN;

fn result(rule: &str, key: &str, level: &str) -> Value {
    json!({
        "ruleId": rule, "ruleIndex": 0, "level": level,
        "message": {"text": format!("{rule} on {key}")},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": "portcullis.toml"}}}],
        "partialFingerprints": {"primaryLocationLineHash": "x:1", "portcullis/v1": format!("{key}#1")},
        "properties": {},
    })
}

fn node(name: &str, category: &str, results: Vec<Value>, complete: bool) -> NodeLog {
    let rules: Vec<Value> = ["a-rule", "b-rule"]
        .iter()
        .map(|id| json!({"id": id}))
        .collect();
    NodeLog {
        source: format!("{name}.sarif"),
        node: name.into(),
        category: category.into(),
        exit_code: if complete { 1 } else { 3 },
        complete,
        findings: complete.then(|| {
            json!({"tool": {"driver": {"name": "portcullis", "rules": rules}}, "results": results})
        }),
        coverage: json!({
            "tool": {"driver": {"name": "portcullis", "rules": [{"id": INCOMPLETE_SCAN}]}},
            "results": if complete { vec![] } else {
                vec![result(INCOMPLETE_SCAN, "gap/netns_not_enterable|host-wide netns_not_enterable", "error")]
            },
        }),
    }
}

fn merged(nodes: Vec<NodeLog>, options: &Options) -> Merged {
    merge(nodes, options).unwrap()
}

#[test]
fn the_same_finding_on_two_nodes_is_one_result_naming_both() {
    let a = node(
        "a",
        "portcullis/node/a",
        vec![result(
            "a-rule",
            "node/a|a-rule|host|tcp|wildcard|80|/usr/sbin/nginx",
            "error",
        )],
        true,
    );
    let b = node(
        "b",
        "portcullis/node/b",
        vec![
            result(
                "a-rule",
                "node/b|a-rule|host|tcp|wildcard|80|/usr/sbin/nginx",
                "error",
            ),
            result(
                "b-rule",
                "node/b|b-rule|host|udp|wildcard|161|/usr/sbin/snmpd",
                "warning",
            ),
        ],
        true,
    );
    let options = Options {
        category: Some("pool/web".into()),
        ..Options::default()
    };
    let m = merged(vec![b, a], &options);
    let run = &m.sarif["runs"][0];
    assert_eq!(run["automationDetails"]["id"], "portcullis/pool/web/");
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(
        results[0]["partialFingerprints"]["portcullis/v1"],
        "pool/web|a-rule|host|tcp|wildcard|80|/usr/sbin/nginx#1"
    );
    assert_eq!(
        results[0]["partialFingerprints"]["primaryLocationLineHash"],
        format!(
            "{}:1",
            crate::report::digest("pool/web|a-rule|host|tcp|wildcard|80|/usr/sbin/nginx")
        )
    );
    assert_eq!(results[0]["properties"]["nodes"], json!(["a", "b"]));
    assert_eq!(results[1]["properties"]["nodes"], json!(["b"]));
    assert_eq!(results[1]["ruleIndex"], 1);
    assert!(
        results[1]["message"]["text"]
            .as_str()
            .unwrap()
            .ends_with("(on 1 of 2 nodes)")
    );
    assert_eq!(m.exit, ExitStatus::Violations);
    assert_eq!(m.summary.findings.len(), 2);
}

#[test]
fn a_node_that_did_not_look_withholds_the_findings_unless_partial_is_allowed() {
    let a = node(
        "a",
        "portcullis/pool",
        vec![result(
            "a-rule",
            "pool|a-rule|host|tcp|wildcard|80|x",
            "error",
        )],
        true,
    );
    let b = node("b", "portcullis/pool", vec![], false);
    let m = merged(vec![a.clone(), b.clone()], &Options::default());
    let runs = m.sarif["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "only the coverage run");
    assert_eq!(
        runs[0]["automationDetails"]["id"],
        "portcullis/pool/coverage/"
    );
    assert_eq!(
        runs[0]["properties"]["findingsWithheld"]["nodes"],
        json!(["b"])
    );
    assert_eq!(runs[0]["results"][0]["properties"]["nodes"], json!(["b"]));
    assert_eq!(m.exit, ExitStatus::Incomplete);
    assert!(!m.summary.findings_included);
    assert_eq!(m.summary.findings[0].nodes, ["a"], "the summary still says");

    let partial = Options {
        allow_partial: true,
        ..Options::default()
    };
    let m = merged(vec![a, b], &partial);
    assert_eq!(m.sarif["runs"].as_array().unwrap().len(), 2);
    assert_eq!(m.exit, ExitStatus::Violations);
}

#[test]
fn different_categories_need_a_category_and_one_node_one_report() {
    let a = node("a", "portcullis/x", vec![], true);
    let b = node("b", "portcullis/y", vec![], true);
    assert!(matches!(
        merge(vec![a.clone(), b], &Options::default()),
        Err(MergeError::Categories(c)) if c == ["portcullis/x", "portcullis/y"]
    ));
    let again = NodeLog {
        source: "again.json".into(),
        ..a.clone()
    };
    assert!(matches!(
        merge(vec![a, again], &Options::default()),
        Err(MergeError::SameNode { node, .. }) if node == "a"
    ));
    assert!(matches!(
        merge(vec![], &Options::default()),
        Err(MergeError::Empty)
    ));
}

/// More distinct findings than code scanning keeps: the most severe are
/// kept, the cut is said, the summary has every one.
#[test]
fn merged_runs_keep_what_code_scanning_keeps() {
    let many = |name: &str, level: &str, from: usize| {
        let results = (from..from + 3000)
            .map(|i| result("a-rule", &format!("a-rule|host|tcp|wildcard|{i}|x"), level))
            .collect();
        node(name, "portcullis", results, true)
    };
    let m = merged(
        vec![many("a", "warning", 0), many("b", "error", 3000)],
        &Options::default(),
    );
    let run = &m.sarif["runs"][0];
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), GITHUB_RESULTS_KEPT);
    assert!(results[..3000].iter().all(|r| r["level"] == "error"));
    assert_eq!(
        run["invocations"][0]["toolExecutionNotifications"][0]["descriptor"]["id"],
        "results-capped"
    );
    assert_eq!(m.summary.findings.len(), 6000);
}
