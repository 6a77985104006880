use super::*;

fn parse(text: &str) -> Result<Policy, Vec<PolicyError>> {
    Policy::parse("p.toml", None, text.to_owned())
}

fn first_error(text: &str) -> String {
    match parse(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(errors) => errors[0].to_string(),
    }
}

#[test]
fn the_default_policy_parses() {
    let policy = Policy::parse("<default policy>", None, DEFAULT.to_owned()).unwrap();
    assert!(policy.builtins_enabled());
}

#[test]
fn unknown_keys_are_positioned_errors() {
    let e = first_error("[limits]\nmemory_mib = 8\ntimeout = 5\n");
    assert!(e.starts_with("p.toml:3:1: "), "{e}");
    assert!(e.contains("unknown field `timeout`"), "{e}");
    let e = first_error("[[allow]]\nreason = \"x\"\nprotcol = \"tcp\"\n");
    assert!(
        e.starts_with("p.toml:3:1: ") && e.contains("protcol"),
        "{e}"
    );
}

#[test]
fn bad_values_point_at_the_value() {
    let e = first_error("[rules.wildcard-bind]\nlevel = \"fatal\"\n");
    assert!(e.starts_with("p.toml:2:9: "), "{e}");
    assert!(e.contains("fatal"), "{e}");
    let e = first_error("[[allow]]\nreason = \"x\"\nprotocol = \"sctp\"\n");
    assert!(e.starts_with("p.toml:3:12: "), "{e}");
}

#[test]
fn syntax_errors_are_positioned() {
    let e = first_error("[plugins.exposure\nenabled = true\n");
    assert!(e.starts_with("p.toml:1:"), "{e}");
}

#[test]
fn positions_count_characters_not_bytes() {
    assert_eq!(position("f", "é=1\nab", 6), "f:2:2");
    assert_eq!(position("f", "ab", 0), "f:1:1");
}
