use portcullis_sdk::testing::Host;

use portcullis_sdk::verdicts::failure_messages;

use super::*;

fn config(json: &str) -> Config {
    Expected::validate_config(json.into()).unwrap();
    config::parse(json).unwrap()
}

fn inv() -> Inventory {
    Host::new()
        .listen("tcp", "0.0.0.0", 22, "sshd")
        .listen("tcp", "*", 443, "nginx")
        .listen("tcp", "0.0.0.0", 8080, "debug-server")
        .listen("tcp", "127.0.0.1", 5432, "postgres")
        .in_netns(4026532001, "web", Some("docker://abc"))
        .listen("tcp", "0.0.0.0", 3000, "app")
        .build()
}

#[test]
fn anything_not_expected_fails_and_loopback_is_left_alone() {
    let c = config(
        r#"{"expected":[{"protocol":"tcp","port":22,"process":"sshd"},{"port":[443,"8443-8444"],"unit":"nginx.service"},{"netns":"container","port":3000}]}"#,
    );
    let eval = evaluate(&c, &inv());
    let f = failure_messages(&eval);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].contains("0.0.0.0:8080 (debug-server) is not an expected listener"),
        "{f:?}"
    );
    assert_eq!(
        portcullis_sdk::verdicts::all(&eval).len(),
        4,
        "loopback postgres not judged"
    );
}

#[test]
fn entries_that_match_nothing_are_reported() {
    let c = config(
        r#"{"expected":[{"port":22},{"port":25,"process":"master","note":"mail relay"}],"include_loopback":true}"#,
    );
    let eval = evaluate(&c, &inv());
    let stale: Vec<&Verdict> = eval
        .verdicts
        .iter()
        .filter(|v| v.listener.is_none())
        .collect();
    assert_eq!(stale.len(), 1);
    assert!(
        stale[0].message.contains("process=master") && stale[0].message.contains("(mail relay)"),
        "{}",
        stale[0].message
    );
    assert_eq!(stale[0].level, Some(Level::Warning));
    assert!(
        failure_messages(&eval).iter().any(|m| m.contains("5432")),
        "loopback judged when asked"
    );
}

#[test]
fn namespaces_scope_entries() {
    let c = config(r#"{"expected":[{"netns":"host","port":3000}]}"#);
    assert!(
        failure_messages(&evaluate(&c, &inv()))
            .iter()
            .any(|m| m.contains(":3000")),
        "3000 lives in the container, not the host"
    );
}

#[test]
fn without_expectations_the_rule_does_not_apply() {
    let eval = evaluate(&Config::default(), &inv());
    assert!(portcullis_sdk::verdicts::all(&eval).is_empty() && eval.not_applicable.len() == 1);
}

#[test]
fn bad_entries_are_config_errors() {
    assert!(Expected::validate_config(r#"{"expected":[{"protocol":"sctp"}]}"#.into()).is_err());
    assert!(Expected::validate_config(r#"{"expected":[{"scope":"galaxy"}]}"#.into()).is_err());
    assert!(Expected::validate_config(r#"{"expected":[{"prot":"tcp"}]}"#.into()).is_err());
}
