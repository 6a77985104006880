//! Any text as a policy file: a positioned error or a policy, never a panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(errors) = portcullis::policy::Policy::parse("f.toml", None, text.to_owned()) {
            for e in errors {
                assert!(e.location.starts_with("f.toml"), "{e}");
            }
        }
    }
});
