//! `portcullis merge`: many nodes' reports of one image or node pool made
//! into one SARIF upload and one JSON summary. Pure: the command reads and
//! writes the files (`app`), this module only combines.
//!
//! - **One finding, one alert.** Results are the same finding on two nodes
//!   when their fingerprints match once the node's own category is taken
//!   out (fingerprints hold no host, pid or inode: `report::identity`);
//!   each merged result lists the nodes that reported it.
//! - **Could not look stays visible.** Every node's coverage results are
//!   kept (merged the same way), and the merged findings run is written
//!   only when every node spoke for its findings: code scanning closes the
//!   alerts an upload no longer has, so one node that did not look must
//!   not close what only it could see. `--allow-partial` takes the nodes
//!   that looked as the truth.
//! - **GitHub's limits** hold as for one node (`report::sarif`): at most
//!   5,000 results a run, the most severe kept, and a bounded node list
//!   per result; the JSON summary has everything.

pub mod input;

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;
use serde_json::{Value, json};

pub use input::{InputError, NodeLog, parse};

use crate::exit::ExitStatus;
use crate::report::sarif::GITHUB_RESULTS_KEPT;

/// Nodes named in one merged result's properties; the rest are counted.
pub const NODES_LISTED: usize = 100;
/// Nodes described in a run's properties; the rest are counted.
const NODES_DESCRIBED: usize = 1000;

/// How to merge.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--category`: the merged category; default the nodes' common one.
    pub category: Option<String>,
    /// `--allow-partial`: nodes that did not look neither withhold the
    /// findings of the others nor make the merge exit 3.
    pub allow_partial: bool,
    pub command_line: Vec<String>,
    pub started: String,
    pub finished: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("no report to merge")]
    Empty,
    #[error("{first} and {second} both come from node {node}: merge one report per node")]
    SameNode {
        node: String,
        first: String,
        second: String,
    },
    #[error("the reports have different categories ({}): give --category", .0.join(", "))]
    Categories(Vec<String>),
}

/// What merge makes.
pub struct Merged {
    pub sarif: Value,
    pub summary: Summary,
    pub exit: ExitStatus,
}

/// The merged JSON summary (`merge --json`).
#[derive(Debug, Serialize)]
pub struct Summary {
    pub schema_version: u32,
    pub category: String,
    pub exit_code: i32,
    /// Every node looked at everything.
    pub complete: bool,
    /// The SARIF has a findings run.
    pub findings_included: bool,
    pub nodes: Vec<NodeSummary>,
    pub findings: Vec<MergedResult>,
    pub coverage: Vec<MergedResult>,
}

#[derive(Debug, Serialize)]
pub struct NodeSummary {
    pub node: String,
    pub report: String,
    pub exit_code: i64,
    pub complete: bool,
    pub findings_included: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct MergedResult {
    pub rule: String,
    pub level: String,
    pub message: String,
    /// The host-free fingerprint (`partialFingerprints["portcullis/v1"]`).
    pub fingerprint: String,
    /// The socket (or subject) it is about, when there is one.
    pub location: Option<String>,
    pub nodes: Vec<String>,
}

pub fn merge(mut nodes: Vec<NodeLog>, options: &Options) -> Result<Merged, MergeError> {
    if nodes.is_empty() {
        return Err(MergeError::Empty);
    }
    nodes.sort_by(|a, b| a.node.cmp(&b.node));
    for pair in nodes.windows(2) {
        if pair[0].node == pair[1].node {
            return Err(MergeError::SameNode {
                node: pair[0].node.clone(),
                first: pair[0].source.clone(),
                second: pair[1].source.clone(),
            });
        }
    }
    let category = match &options.category {
        Some(c) => format!("portcullis/{}", c.trim_matches('/')),
        None => {
            let all: BTreeSet<&str> = nodes.iter().map(|n| n.category.as_str()).collect();
            if all.len() > 1 {
                return Err(MergeError::Categories(
                    all.into_iter().map(str::to_owned).collect(),
                ));
            }
            nodes[0].category.clone()
        }
    };
    let looked = |n: &NodeLog| n.complete || options.allow_partial;
    let withheld: Vec<&NodeLog> = nodes.iter().filter(|n| n.findings.is_none()).collect();
    let speaking: Vec<&NodeLog> = nodes.iter().filter(|n| n.findings.is_some()).collect();
    let included = !speaking.is_empty() && (withheld.is_empty() || options.allow_partial);
    let exit = if !nodes.iter().all(looked) {
        ExitStatus::Incomplete
    } else if nodes
        .iter()
        .any(|n| n.exit_code == ExitStatus::Violations as i64)
    {
        ExitStatus::Violations
    } else {
        ExitStatus::Clean
    };
    let complete = nodes.iter().all(|n| n.complete);
    let node_list = |runs: &[&NodeLog]| -> Vec<Value> {
        runs.iter()
            .take(NODES_DESCRIBED)
            .map(|n| {
                json!({"node": n.node, "exitCode": n.exit_code, "complete": n.complete,
                       "findingsIncluded": n.findings.is_some()})
            })
            .collect()
    };
    let all: Vec<&NodeLog> = nodes.iter().collect();
    let invocation = json!({
        "executionSuccessful": complete,
        "exitCode": exit as i32,
        "exitCodeDescription": exit.describe(),
        "commandLine": options.command_line.join(" "),
        "arguments": options.command_line.iter().skip(1).collect::<Vec<_>>(),
        "startTimeUtc": options.started,
        "endTimeUtc": options.finished,
        "toolExecutionNotifications": nodes.iter().filter(|n| !n.complete).map(|n| json!({
            "level": "error",
            "message": {"text": format!("node {} did not look at everything (exit {}): see its coverage results", n.node, n.exit_code)},
            "descriptor": {"id": "node-incomplete"},
        })).collect::<Vec<_>>(),
    });
    let mut runs = Vec::with_capacity(2);
    let mut findings = Vec::new();
    if !speaking.is_empty() {
        // The summary lists what the nodes that looked found even when the
        // SARIF withholds it.
        let (mut run, merged) = findings_run(&speaking, &category, &invocation);
        findings = merged;
        if included {
            run["properties"] = json!({
                "nodes": node_list(&speaking),
                "nodeCount": speaking.len(),
            });
            runs.push(run);
        }
    }
    let (mut coverage_run, coverage) = coverage_run(&all, &category, &invocation);
    let mut properties = json!({
        "findingsCategory": category,
        "findingsIncluded": included,
        "nodes": node_list(&all),
        "nodeCount": all.len(),
    });
    if !withheld.is_empty() {
        let names: Vec<&str> = withheld.iter().map(|n| n.node.as_str()).collect();
        properties["findingsWithheld"] = json!({
            "nodes": names.iter().take(NODES_LISTED).collect::<Vec<_>>(),
            "nodeCount": names.len(),
            "why": if included {
                "these nodes did not look at everything; --allow-partial took the other nodes' findings as the truth"
            } else {
                "these nodes did not look at everything: the merged findings are not uploaded, so the open alerts stay as the last complete merge left them"
            },
        });
    }
    coverage_run["properties"] = properties;
    runs.push(coverage_run);
    let sarif = json!({
        "$schema": crate::report::sarif::SCHEMA,
        "version": "2.1.0",
        "runs": runs,
    });
    let summary = Summary {
        schema_version: 1,
        category: category.clone(),
        exit_code: exit as i32,
        complete,
        findings_included: included,
        nodes: nodes
            .iter()
            .map(|n| NodeSummary {
                node: n.node.clone(),
                report: n.source.clone(),
                exit_code: n.exit_code,
                complete: n.complete,
                findings_included: n.findings.is_some(),
            })
            .collect(),
        findings,
        coverage,
    };
    Ok(Merged {
        sarif,
        summary,
        exit,
    })
}

/// Results of many runs, one per fingerprint, with the nodes that had it.
#[derive(Default)]
struct Grouped {
    index: HashMap<String, usize>,
    results: Vec<(Value, Vec<String>)>,
}

impl Grouped {
    fn add(&mut self, fingerprint: String, result: Value, node: &str) {
        match self.index.get(&fingerprint) {
            Some(&i) => self.results[i].1.push(node.to_owned()),
            None => {
                self.index.insert(fingerprint, self.results.len());
                self.results.push((result, vec![node.to_owned()]));
            }
        }
    }

    /// Every result with its nodes named, most severe first, then by rule
    /// and fingerprint; and what the JSON summary says of each.
    fn finish(self, of: usize) -> Vec<(Value, MergedResult)> {
        let mut out: Vec<(Value, MergedResult)> = self
            .results
            .into_iter()
            .map(|(mut result, nodes)| {
                let text = |p: &str| result.pointer(p).and_then(Value::as_str).map(str::to_owned);
                let merged = MergedResult {
                    rule: text("/ruleId").unwrap_or_default(),
                    level: text("/level").unwrap_or_else(|| "warning".into()),
                    message: text("/message/text").unwrap_or_default(),
                    fingerprint: text("/partialFingerprints/portcullis~1v1").unwrap_or_default(),
                    location: text("/locations/0/logicalLocations/0/fullyQualifiedName"),
                    nodes: nodes.clone(),
                };
                result["message"]["text"] = json!(format!(
                    "{} (on {} of {of} nodes)",
                    merged.message,
                    nodes.len()
                ));
                if !result["properties"].is_object() {
                    result["properties"] = json!({});
                }
                result["properties"]["nodes"] =
                    json!(nodes.iter().take(NODES_LISTED).collect::<Vec<_>>());
                result["properties"]["nodeCount"] = json!(nodes.len());
                (result, merged)
            })
            .collect();
        out.sort_by(|(_, a), (_, b)| {
            severity(&b.level)
                .cmp(&severity(&a.level))
                .then_with(|| a.rule.cmp(&b.rule))
                .then_with(|| a.fingerprint.cmp(&b.fingerprint))
        });
        out
    }
}

fn severity(level: &str) -> u8 {
    match level {
        "error" => 3,
        "warning" => 2,
        "note" => 1,
        _ => 0,
    }
}

/// The nodes' findings, re-keyed to the merged category and grouped.
fn findings_run(
    nodes: &[&NodeLog],
    category: &str,
    invocation: &Value,
) -> (Value, Vec<MergedResult>) {
    let mut rules: Vec<Value> = Vec::new();
    let mut rule_index: HashMap<String, usize> = HashMap::new();
    let mut grouped = Grouped::default();
    let mut driver = Value::Null;
    for node in nodes {
        let Some(run) = &node.findings else { continue };
        if driver.is_null() {
            driver = run["tool"]["driver"].clone();
        }
        for rule in run["tool"]["driver"]["rules"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let id = rule["id"].as_str().unwrap_or_default().to_owned();
            rule_index.entry(id).or_insert_with(|| {
                rules.push(rule.clone());
                rules.len() - 1
            });
        }
        for result in run["results"].as_array().into_iter().flatten() {
            let mut result = result.clone();
            let fingerprint = rekey(&mut result, &node.category, category);
            grouped.add(fingerprint, result, &node.node);
        }
    }
    let mut results = grouped.finish(nodes.len());
    for (result, _) in &mut results {
        if let Some(&i) = result["ruleId"].as_str().and_then(|id| rule_index.get(id)) {
            result["ruleIndex"] = json!(i);
        }
    }
    driver["rules"] = Value::Array(rules);
    assemble(driver, category.to_owned(), invocation, results)
}

/// Every node's coverage results, grouped (their fingerprints hold no
/// category or host: `descriptor|subject`).
fn coverage_run(
    nodes: &[&NodeLog],
    category: &str,
    invocation: &Value,
) -> (Value, Vec<MergedResult>) {
    let mut grouped = Grouped::default();
    let mut driver = Value::Null;
    for node in nodes {
        if driver.is_null() {
            driver = node.coverage["tool"]["driver"].clone();
        }
        for result in node.coverage["results"].as_array().into_iter().flatten() {
            let key = result
                .pointer("/partialFingerprints/portcullis~1v1")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            grouped.add(key, result.clone(), &node.node);
        }
    }
    let results = grouped.finish(nodes.len());
    assemble(driver, format!("{category}/coverage"), invocation, results)
}

/// A run of `results`, capped as code scanning keeps them.
fn assemble(
    driver: Value,
    category: String,
    invocation: &Value,
    results: Vec<(Value, MergedResult)>,
) -> (Value, Vec<MergedResult>) {
    let total = results.len();
    let mut invocation = invocation.clone();
    if total > GITHUB_RESULTS_KEPT {
        let left_out = total - GITHUB_RESULTS_KEPT;
        invocation["toolExecutionNotifications"]
            .as_array_mut()
            .expect("built as a list")
            .push(json!({
                "level": "warning",
                "message": {"text": format!("{total} merged results; the {GITHUB_RESULTS_KEPT} most severe (then by rule and fingerprint) are here and {left_out} are left out, as code scanning keeps no more per run; the JSON summary has them all")},
                "descriptor": {"id": "results-capped"},
            }));
    }
    let (sarif_results, merged): (Vec<Value>, Vec<MergedResult>) = results.into_iter().unzip();
    let run = json!({
        "tool": {"driver": driver},
        "automationDetails": {"id": format!("{category}/")},
        "invocations": [invocation],
        "results": sarif_results.into_iter().take(GITHUB_RESULTS_KEPT).collect::<Vec<_>>(),
        "columnKind": "utf16CodeUnits",
    });
    (run, merged)
}

/// Makes a result's fingerprint the merged category's: the node's own
/// category (`node/a|…`) is taken out of the key and the merged one put in,
/// and the line hash is recomputed from it. Returns the new fingerprint.
fn rekey(result: &mut Value, node_category: &str, category: &str) -> String {
    let Some(old) = result
        .pointer("/partialFingerprints/portcullis~1v1")
        .and_then(Value::as_str)
    else {
        return String::new();
    };
    let (key, occurrence) = old.rsplit_once('#').unwrap_or((old, "1"));
    let prefix = |c: &str| c.strip_prefix("portcullis/").map(|c| format!("{c}|"));
    let bare = match prefix(node_category) {
        Some(p) => key.strip_prefix(&p).unwrap_or(key),
        None => key,
    };
    let key = match prefix(category) {
        Some(p) => format!("{p}{bare}"),
        None => bare.to_owned(),
    };
    let fingerprint = format!("{key}#{occurrence}");
    result["partialFingerprints"] = json!({
        "primaryLocationLineHash": format!("{}:{occurrence}", crate::report::digest(&key)),
        "portcullis/v1": fingerprint,
    });
    fingerprint
}

#[cfg(test)]
mod tests;
