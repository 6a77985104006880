//! The report validators the tests run, installed by ci/test.sh: xmllint
//! (libxml2-utils), and check-jsonschema, rfc3987 and junitparser in
//! ci/.cache/venv (`PORTCULLIS_VALIDATORS` names its bin folder). A missing
//! validator fails the test that needs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The vendored schemas (testdata/schemas/README.md says where each is from).
pub fn schemas() -> PathBuf {
    repo().join("testdata/schemas")
}

/// The folder holding check-jsonschema, junitparser and their python.
pub fn venv_bin() -> PathBuf {
    let bin = std::env::var_os("PORTCULLIS_VALIDATORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("ci/.cache/venv/bin"));
    for tool in ["check-jsonschema", "junitparser", "python"] {
        assert!(
            bin.join(tool).exists(),
            "{} missing: run ci/test.sh, which installs the validators",
            bin.join(tool).display()
        );
    }
    bin
}

pub fn run_tool(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Output {
    let program = program.as_ref().to_owned();
    Command::new(&program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (ci/test.sh installs it)",
                program.to_string_lossy()
            )
        })
}

pub fn must_pass(what: &str, out: Output) {
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The OASIS schema (with URI formats checked), then the subset GitHub
/// code scanning insists on.
pub fn validate_sarif(path: &Path) -> Value {
    let schema = schemas().join("sarif-schema-2.1.0.json");
    must_pass(
        "check-jsonschema",
        run_tool(
            venv_bin().join("check-jsonschema"),
            &[
                "--schemafile",
                schema.to_str().unwrap(),
                path.to_str().unwrap(),
            ],
        ),
    );
    let doc: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    for run in doc["runs"].as_array().unwrap() {
        let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
        for rule in rules {
            for text in [
                &rule["shortDescription"]["text"],
                &rule["fullDescription"]["text"],
                &rule["help"]["text"],
            ] {
                assert!(text.as_str().is_some_and(|t| !t.is_empty()), "{rule}");
            }
            let severity: f64 = rule["properties"]["security-severity"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(severity > 0.0 && severity <= 10.0, "{rule}");
        }
        for result in run["results"].as_array().unwrap() {
            let uri = &result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"];
            let uri = uri.as_str().expect("every result has a physical location");
            assert!(
                !uri.is_empty() && !uri.starts_with('/') && !uri.contains(':'),
                "{uri}"
            );
            assert!(
                result["message"]["text"]
                    .as_str()
                    .is_some_and(|t| !t.is_empty())
            );
            assert!(
                result["partialFingerprints"]["primaryLocationLineHash"]
                    .as_str()
                    .is_some_and(|h| !h.is_empty()),
                "{result}"
            );
            let index = result["ruleIndex"].as_u64().unwrap() as usize;
            assert_eq!(rules[index]["id"], result["ruleId"]);
        }
    }
    doc
}

pub const JUNIT_CASES: &str = "
import sys
from junitparser import JUnitXml
seen = set()
for suite in JUnitXml.fromfile(sys.argv[1]):
    for case in suite:
        key = (case.classname, case.name)
        assert key not in seen, f'duplicate testcase {key}'
        seen.add(key)
assert seen, 'no testcases'
print(len(seen))
";

/// xunitparser reads the file as one suite (it refuses a property name
/// seen twice) and its counts must agree with the elements.
pub const XUNITPARSER: &str = "
import sys, xunitparser
suite, result = xunitparser.parse(open(sys.argv[1]))
cases = list(suite)
assert cases, 'no testcases'
print(len(cases), len(result.failures), len(result.errors), len(result.skipped))
";

/// Both XSDs, then junitparser: parses, has testcases, no duplicate
/// classname + name; then xunitparser. Returns the testcase count.
pub fn validate_junit(path: &Path) -> usize {
    for xsd in ["junit-10.xsd", "JUnit-ant-windyroad.xsd"] {
        let xsd = schemas().join(xsd);
        must_pass(
            &format!("xmllint --schema {}", xsd.display()),
            run_tool(
                "xmllint",
                &[
                    "--noout",
                    "--schema",
                    xsd.to_str().unwrap(),
                    path.to_str().unwrap(),
                ],
            ),
        );
    }
    let out = run_tool(
        venv_bin().join("python"),
        &["-c", JUNIT_CASES, path.to_str().unwrap()],
    );
    must_pass("junitparser", out.clone());
    let cases: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let xunit = run_tool(
        venv_bin().join("python"),
        &["-c", XUNITPARSER, path.to_str().unwrap()],
    );
    must_pass("xunitparser", xunit.clone());
    let counts = String::from_utf8_lossy(&xunit.stdout);
    let xunit_cases: usize = counts.split_whitespace().next().unwrap().parse().unwrap();
    assert_eq!(
        xunit_cases, cases,
        "xunitparser and junitparser agree: {counts}"
    );
    cases
}
