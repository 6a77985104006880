//! Per-plugin resource limits: every call into a plugin runs in a fresh store
//! bounded by these. Plain data: the policy sets them, the plugin host
//! enforces them.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory a plugin may grow to.
    pub memory_bytes: usize,
    /// Wall clock for one call (epoch deadline): a backstop against the
    /// host stalling, not a verdict on the plugin. Whether a plugin
    /// finishes is decided by fuel and memory, which do not depend on how
    /// busy the machine is.
    pub timeout: Duration,
    /// Deterministic instruction budget for one call: what stops a runaway.
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
            // Far beyond any plugin that stays within its fuel on a loaded
            // machine: the same inventory must give the same verdicts on an
            // idle and on a saturated runner.
            timeout: Duration::from_secs(120),
            // ~4k fuel per listener for simple rules (measured): ample for
            // a million listeners, and still a bound on runaway loops.
            fuel: 20_000_000_000,
            log_lines: 1000,
            result_bytes: 16 << 20,
        }
    }
}
