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

#[test]
fn zero_limits_point_at_the_value() {
    let e = first_error("[limits]\nmemory_mib = 0\n");
    assert!(e.starts_with("p.toml:2:14: "), "{e}");
    let e = first_error("[plugins.exposure]\nlimits = { timeout_ms = 0 }\n");
    assert!(e.starts_with("p.toml:2:"), "{e}");
}

#[test]
fn a_key_nested_past_the_parsers_limit_still_has_a_place() {
    let deep = format!(
        "ok = 1\n[plugins.exposure]\nconfig = {{ a{} = 1 }}\n",
        ".b".repeat(300)
    );
    let e = first_error(&deep);
    assert!(e.starts_with("p.toml:3:"), "{e}");
}

fn allowance(entry: &str) -> Result<allow::Allowance, PolicyError> {
    let policy = parse(&format!("[[allow]]\nreason = \"r\"\n{entry}\n")).unwrap();
    allow::Allowance::new(&policy, &policy.raw.allow[0], &[])
}

#[test]
fn allow_ports_and_addresses_are_checked_where_written() {
    let e = allowance("port = 70000").unwrap_err().to_string();
    assert!(
        e.starts_with("p.toml:3:8: ") && e.contains("70000 is not in 0-65535"),
        "{e}"
    );
    let e = allowance("address = \"999.1.1.1\"")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("p.toml:3:11: ") && e.contains("CIDR"), "{e}");
    let e = allowance("address = \"10.0.0.0/33\"")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("p.toml:3:11: "), "{e}");
    assert!(allowance("address = \"10.0.0.0/8\"").is_ok());
    assert!(allowance("address = \"*\"").is_ok());
}

#[test]
fn cidr_blocks_match_the_addresses_in_them() {
    use allow::AddressMatch;
    let block = AddressMatch::parse("10.0.0.0/8").unwrap();
    assert!(block.matches("10.1.2.3"));
    assert!(block.matches("::ffff:10.1.2.3"));
    assert!(!block.matches("11.0.0.1"));
    assert!(!block.matches("*"));
    let v6 = AddressMatch::parse("fd00::/8").unwrap();
    assert!(v6.matches("fd12::1") && !v6.matches("fe80::1"));
    assert!(AddressMatch::parse("0.0.0.0/0").unwrap().matches("8.8.8.8"));
    assert!(AddressMatch::parse("::").unwrap().matches("::"));
    assert!(AddressMatch::parse("*").unwrap().matches("*"));
    assert!(!AddressMatch::parse("0.0.0.0").unwrap().matches("*"));
}

#[test]
fn positions_from_line_starts_equal_a_scan_from_the_top() {
    let text: String = (0..500)
        .map(|i| format!("[[allow]] # é{i}\nreason = \"r{i}\"\nport = {i}\n"))
        .collect();
    let policy = parse(&text).unwrap();
    for entry in &policy.raw.allow {
        let port = entry.get_ref().port.as_ref().unwrap();
        assert_eq!(
            policy.at(port),
            position("p.toml", &text, port.span().start)
        );
    }
}

#[allow(clippy::disallowed_methods)] // the file under test is made here
#[test]
fn invalid_utf8_is_placed_by_characters() {
    let path = std::env::temp_dir().join(format!("pc-utf8-{}.toml", std::process::id()));
    std::fs::write(&path, b"# \xc3\xa9\nkey = \"\xff\"\n").unwrap();
    let Err(errors) = Policy::load(Some(&path)) else {
        panic!("accepted")
    };
    let e = errors[0].to_string();
    std::fs::remove_file(&path).unwrap();
    assert!(e.contains(".toml:2:8: not UTF-8"), "{e}");
}
