// The one wasmtime configuration, shared by the runtime and build.rs (which
// `include!`s this file): a precompiled artifact loads only into an engine
// with the same tunables, so they must never drift apart.

/// Engine settings for running plugins: fuel for deterministic CPU budgets,
/// epochs for a wall-clock backstop, a bounded stack, and deterministic
/// floats so the same inventory always gives the same verdicts.
pub fn engine_config() -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config
        .consume_fuel(true)
        .epoch_interruption(true)
        .max_wasm_stack(1 << 20)
        .cranelift_nan_canonicalization(true)
        .wasm_component_model(true);
    config
}
