//! Checks a data directory against the data contract before anything is registered, so that a
//! wrong extract fails at open with a message naming the table, column, types and file, rather
//! than later in the middle of a query.

use crate::error::{EngineError, Result};
use crate::file_ranges::{KeyRange, key_range};
use fjq_contract::TableSpec;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use std::fs::File;
use std::path::{Path, PathBuf};

/// The Parquet files of one table, in name order.
pub fn table_files(data_dir: &Path, spec: &TableSpec) -> Result<Vec<PathBuf>> {
    let dir = data_dir.join(spec.name);
    if !dir.is_dir() {
        return Err(EngineError::TableMissing {
            table: spec.name.to_string(),
            path: dir,
        });
    }
    let entries = std::fs::read_dir(&dir).map_err(|e| EngineError::CorruptParquet {
        table: spec.name.to_string(),
        file: dir.clone(),
        message: e.to_string(),
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(EngineError::NoParquetFiles {
            table: spec.name.to_string(),
            path: dir,
        });
    }
    Ok(files)
}

/// Reads each file's footer and checks every contract column is present with an accepted type.
/// Extra columns are allowed (a real extract may carry more); they are not registered. Returns
/// each file's range of the table's first sort column, where its statistics give one
/// (`file_ranges`).
pub fn check_files(spec: &TableSpec, files: &[PathBuf]) -> Result<Vec<Option<KeyRange>>> {
    let mut ranges = Vec::with_capacity(files.len());
    for file in files {
        let corrupt = |message: String| EngineError::CorruptParquet {
            table: spec.name.to_string(),
            file: file.clone(),
            message,
        };
        let f = File::open(file).map_err(|e| corrupt(e.to_string()))?;
        // Read the types through the embedded Arrow schema, as DataFusion's scan does: it decides
        // how a Parquet column comes back (a dictionary, a large or view string), and the
        // contract accepts each of Arrow's encodings of its types.
        let options = ArrowReaderOptions::new().with_skip_arrow_metadata(false);
        let meta = ArrowReaderMetadata::load(&f, options).map_err(|e| corrupt(e.to_string()))?;
        let schema = meta.schema();
        for column in spec.columns {
            match schema.field_with_name(column.name) {
                Err(_) => {
                    return Err(EngineError::ColumnMissing {
                        table: spec.name.to_string(),
                        column: column.name.to_string(),
                        file: file.clone(),
                        expected: column.data_type.arrow().to_string(),
                    });
                }
                Ok(field) if !column.data_type.accepts(field.data_type()) => {
                    return Err(EngineError::WrongType {
                        table: spec.name.to_string(),
                        column: column.name.to_string(),
                        file: file.clone(),
                        expected: column.data_type.arrow().to_string(),
                        found: field.data_type().to_string(),
                    });
                }
                Ok(_) => {}
            }
        }
        ranges.push(key_range(spec, &meta));
    }
    Ok(ranges)
}

/// After a query failed while reading, finds the file to blame: a table folder or file that
/// has gone, a footer or schema that no longer matches (checked as at open), or a data page
/// that no longer decodes (every row group of the tables in question is read). `None` when
/// every file reads cleanly, so the failure was something else.
pub fn find_damage(data_dir: &Path, specs: &[&TableSpec]) -> Option<EngineError> {
    let mut all = Vec::new();
    for spec in specs {
        let files = match table_files(data_dir, spec) {
            Ok(files) => files,
            Err(e) => return Some(e),
        };
        if let Err(e) = check_files(spec, &files) {
            return Some(e);
        }
        all.push((spec, files));
    }
    for (spec, files) in all {
        for file in files {
            let damaged = |message: String| EngineError::CorruptParquet {
                table: spec.name.to_string(),
                file: file.clone(),
                message,
            };
            let reader = File::open(&file).map_err(|e| e.to_string()).and_then(|f| {
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
                    .and_then(|b| b.build())
                    .map_err(|e| e.to_string())
            });
            match reader {
                Err(e) => return Some(damaged(e)),
                Ok(reader) => {
                    for batch in reader {
                        if let Err(e) = batch {
                            return Some(damaged(format!("a data page does not decode: {e}")));
                        }
                    }
                }
            }
        }
    }
    None
}

/// A Parquet file with its size and modification time.
pub type FileStamp = (PathBuf, u64, Option<std::time::SystemTime>);

/// Each table's Parquet files with their size and modification time.
pub type Snapshot = std::collections::HashMap<&'static str, Vec<FileStamp>>;

/// The files of `specs` as they are now (a table whose folder cannot be read has none).
pub fn snapshot(data_dir: &Path, specs: &[&'static TableSpec]) -> Snapshot {
    specs
        .iter()
        .map(|spec| {
            let files = table_files(data_dir, spec).unwrap_or_default();
            let stats = files
                .into_iter()
                .map(|f| {
                    let meta = std::fs::metadata(&f).ok();
                    let len = meta.as_ref().map_or(0, |m| m.len());
                    let modified = meta.and_then(|m| m.modified().ok());
                    (f, len, modified)
                })
                .collect();
            (spec.name, stats)
        })
        .collect()
}
