//! The engine's errors: each names what is wrong in the user's terms (the table, the column,
//! the file, what was expected and what was found), and says which kind of failure it is, so
//! that a front end can choose an exit code or a Flight status without reading the text.
//!
//! DataFusion's own errors are kept as they are and worded for users in one place,
//! [`crate::diagnostics::describe`], when they are displayed: front ends print an
//! `EngineError` and never parse DataFusion's text.

use datafusion::error::DataFusionError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("data directory {0} does not exist")]
    DataDirMissing(PathBuf),
    #[error(
        "{0} is not a directory: point --data at a dataset folder holding one folder per table"
    )]
    NotADirectory(PathBuf),
    #[error(
        "{path} is missing: every data directory carries a dataset.json with its coverage windows (see design/DATA.md); `fjq generate` writes one"
    )]
    DatasetJsonMissing { path: PathBuf },
    #[error("{path} is not a valid dataset.json: {message}")]
    DatasetJsonInvalid { path: PathBuf, message: String },
    #[error("table `{table}` is missing: expected a folder {path} holding its Parquet files")]
    TableMissing { table: String, path: PathBuf },
    #[error(
        "table `{table}` is not in this dataset: its dataset.json lists only {present}, as an extract approved for part of the data would; a query that reads {table} (directly or through a view) cannot run on it"
    )]
    NotInDataset { table: String, present: String },
    #[error("table `{table}` has no Parquet files: {path} holds no *.parquet file")]
    NoParquetFiles { table: String, path: PathBuf },
    #[error("table `{table}`: {file} is not a readable Parquet file ({message})")]
    CorruptParquet {
        table: String,
        file: PathBuf,
        message: String,
    },
    #[error(
        "table `{table}`: column `{column}` is missing from {file} (the contract expects {expected})"
    )]
    ColumnMissing {
        table: String,
        column: String,
        file: PathBuf,
        expected: String,
    },
    #[error(
        "table `{table}`: column `{column}` in {file} has type {found}, the contract expects {expected}"
    )]
    WrongType {
        table: String,
        column: String,
        file: PathBuf,
        expected: String,
        found: String,
    },
    /// A decision of the disclosure policy or the release checks (never a fault); the message
    /// says why and what to do instead.
    #[error("{0}")]
    Refused(String),
    /// A setting or option the user gave is not valid.
    #[error("invalid setting: {0}")]
    Config(String),
    /// A request that cannot be carried out as asked (an unknown release, say).
    #[error("{0}")]
    Invalid(String),
    /// A file fjq had to read or write (a release, an export, a spill) could not be.
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A fault inside fjq: a state its own code should never reach.
    #[error("internal error in fjq: {0}")]
    Internal(String),
    /// An error that arose while a query ran under the safe policy, its values taken out
    /// ([`crate::diagnostics::redact`]).
    #[error("{0} (values from the data are not shown in errors under the safe policy)")]
    Redacted(String),
    /// An error from DataFusion (the user's SQL, a function's argument, running out of memory),
    /// worded for users by [`crate::diagnostics::describe`].
    #[error("{}", crate::diagnostics::describe(.0))]
    DataFusion(DataFusionError),
    #[error("{0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
}

/// What kind of failure an error is, for exit codes and Flight statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The data directory does not match the contract, or a file in it is damaged.
    Data,
    /// The disclosure policy refused it.
    Refused,
    /// The user's SQL, arguments or settings are wrong.
    Invalid,
    /// The query needs more memory than its limit allows.
    OutOfMemory,
    /// Reading or writing a file failed on the machine fjq runs on.
    Io,
    /// A fault in fjq or DataFusion.
    Internal,
}

impl EngineError {
    pub fn kind(&self) -> ErrorKind {
        use EngineError::*;
        match self {
            DataDirMissing(_)
            | NotADirectory(_)
            | DatasetJsonMissing { .. }
            | DatasetJsonInvalid { .. }
            | TableMissing { .. }
            | NotInDataset { .. }
            | NoParquetFiles { .. }
            | CorruptParquet { .. }
            | ColumnMissing { .. }
            | WrongType { .. } => ErrorKind::Data,
            Refused(_) => ErrorKind::Refused,
            Config(_) | Invalid(_) => ErrorKind::Invalid,
            Io { .. } => ErrorKind::Io,
            Internal(_) => ErrorKind::Internal,
            Arrow(_) | Redacted(_) => ErrorKind::Invalid,
            DataFusion(e) => match e.find_root() {
                DataFusionError::ResourcesExhausted(_) => ErrorKind::OutOfMemory,
                DataFusionError::Internal(_) => ErrorKind::Internal,
                DataFusionError::IoError(_) => ErrorKind::Io,
                _ => ErrorKind::Invalid,
            },
        }
    }

    /// An I/O failure on `path` while doing `action` ("write the release at", "create").
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EngineError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

impl From<DataFusionError> for EngineError {
    /// An engine error that travelled through DataFusion (from inside an operator such as
    /// `safe_table`'s) comes back out as itself, with its own kind.
    fn from(e: DataFusionError) -> Self {
        match e {
            DataFusionError::External(inner) => match inner.downcast::<EngineError>() {
                Ok(engine) => *engine,
                Err(other) => EngineError::DataFusion(DataFusionError::External(other)),
            },
            DataFusionError::Context(context, inner) => match EngineError::from(*inner) {
                EngineError::DataFusion(inner) => {
                    EngineError::DataFusion(DataFusionError::Context(context, Box::new(inner)))
                }
                engine => engine,
            },
            DataFusionError::Shared(shared) => match std::sync::Arc::try_unwrap(shared) {
                Ok(inner) => EngineError::from(inner),
                Err(shared) => match shared.find_root() {
                    DataFusionError::External(inner) => match inner.downcast_ref::<EngineError>() {
                        // An error shared between partitions: keep its words and its kind.
                        Some(engine) => engine.shared_copy(),
                        None => EngineError::DataFusion(DataFusionError::Shared(shared)),
                    },
                    _ => EngineError::DataFusion(DataFusionError::Shared(shared)),
                },
            },
            other => EngineError::DataFusion(other),
        }
    }
}

impl EngineError {
    /// A copy of an error that is shared and cannot be moved out: same kind, same words.
    fn shared_copy(&self) -> EngineError {
        let text = self.to_string();
        match self.kind() {
            ErrorKind::Refused => EngineError::Refused(text),
            ErrorKind::Io | ErrorKind::Internal => EngineError::Internal(text),
            _ => EngineError::DataFusion(DataFusionError::Execution(text)),
        }
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
