//! The exit-code contract, in one place. Documented in the README; scripts
//! depend on it, so a code's meaning never changes.

use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitStatus {
    /// Everything was looked at and nothing failed the gate.
    Clean = 0,
    /// Policy violations at or above the failure threshold.
    Violations = 1,
    /// Usage or configuration error, or a failure to produce output.
    Error = 2,
    /// The scan is incomplete: something could not be looked at (see the
    /// report's gaps). `--allow-partial` turns this into the code otherwise due.
    Incomplete = 3,
}

impl ExitStatus {
    /// The code for a run whose verdict is `verdict` and whose coverage is
    /// complete or not. An incomplete scan outranks a clean or failing verdict
    /// unless partial scans are allowed: "could not look" must not pass as
    /// "nothing there".
    pub fn for_scan(verdict: ExitStatus, complete: bool, allow_partial: bool) -> ExitStatus {
        if !complete && !allow_partial && verdict != ExitStatus::Error {
            ExitStatus::Incomplete
        } else {
            verdict
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> ExitCode {
        ExitCode::from(status as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incomplete_wins_unless_allowed() {
        use ExitStatus::*;
        assert_eq!(ExitStatus::for_scan(Clean, true, false), Clean);
        assert_eq!(ExitStatus::for_scan(Clean, false, false), Incomplete);
        assert_eq!(ExitStatus::for_scan(Violations, false, false), Incomplete);
        assert_eq!(ExitStatus::for_scan(Clean, false, true), Clean);
        assert_eq!(ExitStatus::for_scan(Violations, false, true), Violations);
        assert_eq!(ExitStatus::for_scan(Error, false, false), Error);
    }
}
