//! Per-plugin resource limits: every call into a plugin runs in a fresh store
//! bounded by these.

use std::num::{NonZeroU32, NonZeroU64};
use std::time::Duration;

use serde::Deserialize;

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

/// Limits as written in the policy file; unset fields keep the defaults.
/// A zero budget (but for logs) would fail every call: the parser refuses it
/// at its line and column.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    pub memory_mib: Option<NonZeroU32>,
    pub timeout_ms: Option<NonZeroU64>,
    pub fuel: Option<NonZeroU64>,
    pub log_lines: Option<u32>,
    pub result_mib: Option<NonZeroU32>,
}

impl LimitsSpec {
    pub fn apply(&self, base: Limits) -> Limits {
        Limits {
            memory_bytes: self
                .memory_mib
                .map_or(base.memory_bytes, |m| (m.get() as usize) << 20),
            timeout: self
                .timeout_ms
                .map_or(base.timeout, |t| Duration::from_millis(t.get())),
            fuel: self.fuel.map_or(base.fuel, NonZeroU64::get),
            log_lines: self.log_lines.unwrap_or(base.log_lines),
            result_bytes: self
                .result_mib
                .map_or(base.result_bytes, |m| (m.get() as usize) << 20),
        }
    }
}
