//! Per-plugin resource limits: every call into a plugin runs in a fresh store
//! bounded by these. Plain data: the policy sets them, the plugin host
//! enforces them.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory a plugin may grow to.
    pub memory_bytes: usize,
    /// Wall clock for one call (epoch deadline).
    pub timeout: Duration,
    /// Deterministic instruction budget for one call.
    pub fuel: u64,
    /// Log lines kept per call; further ones are dropped and counted.
    pub log_lines: u32,
    /// Bytes of verdict text accepted from one evaluation.
    pub result_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 << 20,
            timeout: Duration::from_secs(5),
            // ~4k fuel per listener for simple rules (measured): ample for
            // a million listeners, and still a bound on runaway loops.
            fuel: 20_000_000_000,
            log_lines: 1000,
            result_bytes: 16 << 20,
        }
    }
}
