//! The `[limits]` tables of a policy file.

use std::num::{NonZeroU32, NonZeroU64};
use std::time::Duration;

use serde::Deserialize;

use crate::model::Limits;

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
