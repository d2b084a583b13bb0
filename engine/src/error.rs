//! The engine's errors: each names what is wrong in the user's terms (the table, the column,
//! the file, what was expected and what was found).

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
    /// Refused by the disclosure policy or the release checks; the message says why.
    #[error("{0}")]
    Refused(String),
    #[error("invalid setting: {0}")]
    Config(String),
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error(transparent)]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
