//! The exit-code contract, in one place. Documented in the README; scripts
//! depend on it, so a code's meaning never changes.

use std::process::ExitCode;

use crate::model::{Evaluation, Level};

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

/// `--fail-on`: the lowest level at which a failure the allowlist did not
/// accept fails the run. Reports carry every finding whatever this says.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum FailOn {
    #[default]
    Error,
    Warning,
    Note,
    /// Report only; violations never fail the run (gaps still do).
    Never,
}

impl FailOn {
    /// Exit 1 when a violation is at or above the threshold.
    pub fn verdict(self, evaluation: &Evaluation) -> ExitStatus {
        let threshold = match self {
            FailOn::Error => Level::Error,
            FailOn::Warning => Level::Warning,
            FailOn::Note => Level::Note,
            FailOn::Never => return ExitStatus::Clean,
        };
        if evaluation.violations().any(|v| v.level >= threshold) {
            ExitStatus::Violations
        } else {
            ExitStatus::Clean
        }
    }
}

impl ExitStatus {
    /// The status a report's exit code stands for.
    pub fn from_code(code: i32) -> Option<ExitStatus> {
        [
            ExitStatus::Clean,
            ExitStatus::Violations,
            ExitStatus::Error,
            ExitStatus::Incomplete,
        ]
        .into_iter()
        .find(|s| *s as i32 == code)
    }

    /// What the code means, for reports (SARIF's `exitCodeDescription`).
    pub fn describe(self) -> &'static str {
        match self {
            ExitStatus::Clean => "clean: nothing failed the gate",
            ExitStatus::Violations => "violations at or above the --fail-on level",
            ExitStatus::Error => "configuration or output error",
            ExitStatus::Incomplete => "incomplete: something could not be looked at",
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

    #[test]
    fn fail_on_thresholds() {
        use crate::model::{Outcome, Verdict};
        let failing = |level, allowed: Option<&str>| {
            let mut v = Verdict::new(
                "r".into(),
                "p".into(),
                Some(0),
                Outcome::Fail,
                level,
                "m".into(),
            );
            if let Some(reason) = allowed {
                v.allow(reason.to_owned());
            }
            Evaluation {
                verdicts: vec![v],
                ..Evaluation::default()
            }
        };
        let warning = failing(Level::Warning, None);
        assert_eq!(FailOn::Error.verdict(&warning), ExitStatus::Clean);
        assert_eq!(FailOn::Warning.verdict(&warning), ExitStatus::Violations);
        assert_eq!(FailOn::Note.verdict(&warning), ExitStatus::Violations);
        assert_eq!(FailOn::Never.verdict(&warning), ExitStatus::Clean);
        let error = failing(Level::Error, None);
        assert_eq!(FailOn::Error.verdict(&error), ExitStatus::Violations);
        assert_eq!(FailOn::Never.verdict(&error), ExitStatus::Clean);
        let accepted = failing(Level::Error, Some("reason"));
        assert_eq!(FailOn::Note.verdict(&accepted), ExitStatus::Clean);
    }
}
