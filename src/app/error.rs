//! What stops a command, and the one input a command reads whole: a saved
//! inventory.

use std::path::{Path, PathBuf};

use crate::cli::ArgError;
use crate::collect::CollectError;
use crate::exec::ExecError;
use crate::exit::ExitStatus;
use crate::model::Inventory;
use crate::os::fs::FileError;
use crate::plugin::load::LoadError;
use crate::policy::PolicyError;
use crate::report;

/// What stops a command: each is a usage, configuration or output error
/// (exit 2), recorded in whichever reports can still be written.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Args(#[from] ArgError),
    #[error(transparent)]
    ReportPath(#[from] report::PathError),
    #[error(transparent)]
    Policy(PolicyError),
    #[error(transparent)]
    Load(LoadError),
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    #[error(transparent)]
    Collect(#[from] CollectError),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error("{}: cannot write the report: {source}", path.display())]
    ReportWrite { path: PathBuf, source: FileError },
    #[error("cannot write the baseline: {0}")]
    BaselinePath(report::PathError),
    #[error("{}: cannot write the baseline: {source}", path.display())]
    BaselineWrite { path: PathBuf, source: FileError },
    #[error("no rule `{0}` (see `portcullis rules`)")]
    UnknownRule(String),
    #[error("{}: cannot read the report: {source}", path.display())]
    MergeRead { path: PathBuf, source: FileError },
    #[error(transparent)]
    MergeInput(#[from] crate::merge::InputError),
    #[error(transparent)]
    Merge(#[from] crate::merge::MergeError),
}

impl RunError {
    /// The report file this error is about, if it is about one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            RunError::ReportWrite { path, .. } => Some(path),
            _ => None,
        }
    }

    /// The exit code a run stopped by this ends with.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            RunError::Args(_)
            | RunError::ReportPath(_)
            | RunError::Policy(_)
            | RunError::Load(_)
            | RunError::Inventory(_)
            | RunError::Collect(_)
            | RunError::Exec(_)
            | RunError::ReportWrite { .. }
            | RunError::BaselinePath(_)
            | RunError::BaselineWrite { .. }
            | RunError::UnknownRule(_)
            | RunError::MergeRead { .. }
            | RunError::MergeInput(_)
            | RunError::Merge(_) => ExitStatus::Error,
        }
    }
}

/// Why a saved inventory cannot be judged.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("{}: cannot read it: {source}", path.display())]
    Read { path: PathBuf, source: FileError },
    #[error("{}: not a portcullis inventory: {source}", path.display())]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{}: not an inventory a scan could make: {why}", path.display())]
    Impossible { path: PathBuf, why: String },
}

/// A saved inventory: `list --format json` output, or a JSON report (whose
/// `inventory` is one).
pub(super) fn read_inventory(path: &Path) -> Result<Inventory, InventoryError> {
    #[derive(serde::Deserialize)]
    struct JsonReport {
        inventory: Inventory,
    }
    let bytes =
        crate::os::fs::read_bounded(path, crate::os::fs::limits::INVENTORY).map_err(|source| {
            InventoryError::Read {
                path: path.to_owned(),
                source,
            }
        })?;
    let inventory = serde_json::from_slice::<Inventory>(&bytes)
        .or_else(|e| {
            serde_json::from_slice::<JsonReport>(&bytes)
                .map(|r| r.inventory)
                .map_err(|_| e)
        })
        .map_err(|source| InventoryError::Parse {
            path: path.to_owned(),
            source,
        })?;
    match inventory.inconsistency() {
        Some(why) => Err(InventoryError::Impossible {
            path: path.to_owned(),
            why,
        }),
        None => Ok(inventory),
    }
}
