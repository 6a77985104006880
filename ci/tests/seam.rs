//! The OS seam holds: outside `src/os`, no source names `libc` or `nix`
//! (src/clippy.toml covers `std::fs` and `std::process`, and `unsafe` is denied
//! by the compiler). Comments are not code and are skipped.

// A test sets up the host it checks: files, processes, namespaces.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `word` in `code` as a path of its own (`nix::`, not `unix::`).
fn names(code: &str, word: &str) -> bool {
    code.match_indices(word).any(|(i, _)| {
        !code[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

#[test]
fn only_the_os_module_names_libc_or_nix() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    let exempt = [src.join("os"), src.join("build.rs")];
    let mut offences = Vec::new();
    for file in &files {
        if exempt.iter().any(|e| file.starts_with(e)) {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if ["libc::", "nix::", "crate libc", "crate nix"]
                .iter()
                .any(|word| names(code, word))
            {
                offences.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(files.len() > 40, "found only {} sources", files.len());
    assert!(
        offences.is_empty(),
        "OS calls outside src/os:\n{}",
        offences.join("\n")
    );
}
