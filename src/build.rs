//! Builds the rule plugins under `plugins/` into WebAssembly components and
//! embeds the built-ins in the binary, precompiled for this target.
//!
//! A nested cargo builds the `plugins` workspace for `wasm32-unknown-unknown`
//! into a target directory of its own (no lock shared with this build). The
//! built-ins (`plugins/builtin/*`, members of the one component built from
//! `plugins/builtin/bundle`) are then precompiled with the runtime's
//! engine configuration for the baseline of the target architecture, so a
//! scan deserialises native code (~0.2 ms) instead of running Cranelift
//! (~100 ms). Test plugins (`plugins/testing/*`) are built too, and their
//! folder is handed to the tests as `PORTCULLIS_TEST_PLUGINS`.

// The build runs on the build machine, not on the host portcullis inspects:
// the OS seam's rules (src/clippy.toml) are for the binary.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::path::{Path, PathBuf};
use std::process::Command;

include!("plugin/engine_config.rs");

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let plugins = manifest_dir.join("plugins");
    // The plugin sources only: `plugins/target` (where `cargo test` of the
    // plugin workspace writes) must not make this script, and so the static
    // binary, rebuild.
    for source in [
        "Cargo.toml",
        "Cargo.lock",
        "sdk",
        "shared",
        "builtin",
        "testing",
        "wit",
    ] {
        println!("cargo:rerun-if-changed=plugins/{source}");
    }
    println!("cargo:rerun-if-changed=src/plugin/engine_config.rs");

    // A relative CARGO_TARGET_DIR is the invoking shell's, most often the
    // repository root; the nested cargo runs in `plugins/`, so it gets an
    // absolute path.
    let target_dir = manifest_dir
        .join(
            std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| "target".into()),
        )
        .join("plugins");
    build_plugins(&plugins, &target_dir);
    let wasm_dir = target_dir.join("wasm32-unknown-unknown/release");
    println!(
        "cargo:rustc-env=PORTCULLIS_TEST_PLUGINS={}",
        wasm_dir.display()
    );

    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    // Every built-in is a member of one component (plugins/builtin/bundle).
    let wasm = wasm_dir.join("builtins.wasm");
    let cwasm = precompile(&wasm, &out_dir.join("builtins.cwasm"));
    let cwasm = match &cwasm {
        Some(path) => format!("Some(include_bytes!({:?}))", path.display().to_string()),
        None => "None".into(),
    };
    let table = format!(
        "pub static BUNDLE: Builtin = Builtin {{ name: \"builtins\", wasm: include_bytes!({:?}), cwasm: {cwasm} }};\n",
        wasm.display().to_string()
    );
    println!(
        "cargo:rustc-env=PORTCULLIS_TEST_PRECOMPILED={}",
        out_dir.join("builtins.cwasm").display()
    );
    std::fs::write(out_dir.join("builtins.rs"), table).unwrap();
}

/// Stops the build with one line naming the fix, not a panic's backtrace.
fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1)
}

const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Makes sure the toolchain building us has the wasm target's standard
/// library. rust-toolchain.toml names it, but rustup adds a named target
/// only when it installs the toolchain, and not at all with
/// `RUSTUP_AUTO_INSTALL=0`; so a missing target is added here, once,
/// explicitly (idempotent: an installed target is not touched).
fn ensure_wasm_target() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    let has_target = |root: &Path| {
        root.join("lib/rustlib")
            .join(WASM_TARGET)
            .join("lib")
            .is_dir()
    };
    if sysroot.as_deref().is_some_and(has_target) {
        return;
    }
    let toolchain = std::env::var("RUSTUP_TOOLCHAIN").ok();
    let mut rustup = Command::new("rustup");
    rustup.args(["target", "add", WASM_TARGET]);
    if let Some(toolchain) = &toolchain {
        rustup.args(["--toolchain", toolchain]);
    }
    println!(
        "cargo:warning=installing the {WASM_TARGET} target with rustup (the rule plugins are built for it)"
    );
    match rustup.status() {
        Ok(status) if status.success() => {}
        _ => fail(&format!(
            "the {WASM_TARGET} target is not installed and rustup could not add it; run: rustup target add {WASM_TARGET}{}",
            toolchain
                .map(|t| format!(" --toolchain {t}"))
                .unwrap_or_default()
        )),
    }
}

fn build_plugins(plugins: &Path, target_dir: &Path) {
    ensure_wasm_target();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(plugins)
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            "wasm32-unknown-unknown",
            "--target-dir",
        ])
        .arg(target_dir);
    // This build's flags are for the host target, not for wasm.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        cmd.env_remove(var);
    }
    match cmd.status() {
        Ok(status) if status.success() => {}
        _ => fail(&format!(
            "building the plugins in {} failed (see above)",
            plugins.display()
        )),
    }
}

/// Precompiles for the target's architecture baseline (no CPU features of the
/// build machine), or returns None where this wasmtime cannot target it; the
/// runtime then compiles the embedded component instead.
fn precompile(wasm: &Path, out: &Path) -> Option<PathBuf> {
    let target = std::env::var("TARGET").unwrap();
    let mut config = engine_config();
    config.target(&target).ok()?;
    let engine = wasmtime::Engine::new(&config).ok()?;
    let bytes = std::fs::read(wasm).expect("the plugin was just built");
    let artifact = engine
        .precompile_component(&bytes)
        .unwrap_or_else(|e| panic!("precompiling {}: {e:#}", wasm.display()));
    std::fs::write(out, artifact).unwrap();
    Some(out.to_path_buf())
}
