//! A plugin that misbehaves on demand, for the host's tests. The config is
//! `{"mode": "…"}` with one of: loop | memory | trap | panic | oversized | unknown-rule |
//! unknown-listener | log-flood | hostile-text | reread | error | ok. Wasm only.
#![cfg(target_arch = "wasm32")]

use portcullis_sdk::{
    Evaluation, Inventory, Level, LogLevel, Plugin, PluginError, PluginInfo, Precision, RuleInfo,
    verdicts,
};

struct Hostile;

impl Plugin for Hostile {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "hostile".into(),
            version: "0.0.1".into(),
            rules: vec![RuleInfo {
                id: "hostile-rule".into(),
                name: "HostileRule".into(),
                short_description: "Misbehaves on demand.".into(),
                full_description: "Test plugin.".into(),
                help_markdown: "Test plugin.".into(),
                help_uri: None,
                default_level: Level::Error,
                tags: vec![],
                enabled_by_default: true,
                security_severity: 1.0,
                precision: Precision::Low,
            }],
            config_schema: None,
        }
    }

    fn validate_config(_config: String) -> Result<(), PluginError> {
        Ok(())
    }

    fn evaluate(config: String, inventory: &Inventory) -> Result<Evaluation, PluginError> {
        let mode = mode(&config);
        let mut out = Evaluation {
            verdicts: vec![],
            passed: vec![],
            not_applicable: vec![],
        };
        match mode {
            "loop" => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "trap" => core::arch::wasm32::unreachable(),
            // Asks the host for the inventory again and again: the host's
            // work, which no fuel counts, must still be bounded.
            "reread" => loop {
                std::hint::black_box(portcullis_sdk::Inventory::fetch());
                std::hint::black_box(inventory.cmdline(0));
            },
            "panic" => panic!("hostile plugin panicked on purpose"),
            "oversized" => {
                let big = "x".repeat(1 << 20);
                for _ in 0..64 {
                    out.verdicts.push(portcullis_sdk::Verdict {
                        rule_id: "hostile-rule".into(),
                        listener: None,
                        outcome: portcullis_sdk::Outcome::Fail,
                        message: big.clone(),
                        level: None,
                        related: vec![],
                        subject: None,
                    });
                }
            }
            "unknown-rule" | "unknown-listener" => {
                if let Some(l) = inventory.listeners.first() {
                    let mut v = verdicts::fail("hostile-rule", l, "bad reference");
                    if mode == "unknown-rule" {
                        v.rule_id = "no-such-rule".into()
                    } else {
                        v.listener = Some(u32::MAX)
                    }
                    out.verdicts.push(v);
                }
            }
            // Ten million ids for one rule (40 MB, within its memory):
            // the host must refuse to copy them, not build a verdict each.
            "pass-flood" => {
                out.passed.push(portcullis_sdk::Passed {
                    rule_id: "hostile-rule".into(),
                    listeners: vec![0; 10_000_000],
                });
            }
            "duplicate-pass" => {
                out.passed.push(portcullis_sdk::Passed {
                    rule_id: "hostile-rule".into(),
                    listeners: vec![0, 0],
                });
            }
            "log-flood" => {
                for i in 0..100_000 {
                    portcullis_sdk::log(LogLevel::Info, &format!("line {i} {}", "y".repeat(1000)));
                }
            }
            "hostile-text" => {
                // What a buggy plugin could say: text XML 1.0 forbids, CDATA
                // terminators, markup and terminal escapes.
                let text =
                    "nul\u{0} bell\u{7} esc\u{1b}[2J <b>&amp; ]]> \u{fffe}\u{ffff} \"q\"\nend";
                for l in &inventory.listeners {
                    out.verdicts.push(verdicts::fail("hostile-rule", l, text));
                }
            }
            "error" => {
                return Err(PluginError::Internal(
                    "hostile plugin reports an error".into(),
                ));
            }
            _ => {
                for l in &inventory.listeners {
                    out.verdicts.push(verdicts::pass("hostile-rule", l, "fine"));
                }
            }
        }
        Ok(out)
    }
}

portcullis_sdk::export_plugin!(Hostile);

/// `{"mode":"loop"}` → "loop", without a JSON dependency.
fn mode(config: &str) -> &str {
    let Some(start) = config.find("\"mode\"") else {
        return "ok";
    };
    let rest = &config[start + 6..];
    let rest = rest.trim_start().trim_start_matches(':').trim_start();
    rest.strip_prefix('"')
        .and_then(|r| r.split('"').next())
        .unwrap_or("ok")
}
