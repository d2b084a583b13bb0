//! Writing contract tables to Parquet, laid out for the queries researchers run.
//!
//! Rows are appended column by column through a cursor that checks each value's type against the
//! contract, batches are flushed at a fixed size so memory stays flat at any scale, and the file
//! properties are chosen for reading speed: zstd, row groups small enough for pruning, page-level
//! statistics and the page index, dictionary encoding only for low-cardinality strings (ids are
//! unique or nearly so, where a dictionary is pure cost), and the sort order recorded in the file.

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int32Builder, Int64Builder,
    StringBuilder,
};
use arrow::record_batch::RecordBatch;
use fjq_contract::{ColumnType, TableSpec};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Rows per record batch handed to the Parquet writer.
const BATCH_ROWS: usize = 64 * 1024;
/// Rows per row group: small enough that statistics prune, large enough to scan fast.
pub const ROW_GROUP_ROWS: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write Parquet file {path}: {source}")]
    Parquet {
        path: PathBuf,
        source: parquet::errors::ParquetError,
    },
    #[error("cannot build a batch for {table}: {source}")]
    Arrow {
        table: String,
        source: arrow::error::ArrowError,
    },
}

enum Column {
    Utf8(StringBuilder),
    Date32(Date32Builder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float64(Float64Builder),
    Boolean(BooleanBuilder),
}

impl Column {
    fn new(t: ColumnType) -> Column {
        match t {
            ColumnType::Utf8 => {
                Column::Utf8(StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 12))
            }
            ColumnType::Date32 => Column::Date32(Date32Builder::with_capacity(BATCH_ROWS)),
            ColumnType::Int32 => Column::Int32(Int32Builder::with_capacity(BATCH_ROWS)),
            ColumnType::Int64 => Column::Int64(Int64Builder::with_capacity(BATCH_ROWS)),
            ColumnType::Float64 => Column::Float64(Float64Builder::with_capacity(BATCH_ROWS)),
            ColumnType::Boolean => Column::Boolean(BooleanBuilder::with_capacity(BATCH_ROWS)),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Column::Utf8(b) => Arc::new(b.finish()),
            Column::Date32(b) => Arc::new(b.finish()),
            Column::Int32(b) => Arc::new(b.finish()),
            Column::Int64(b) => Arc::new(b.finish()),
            Column::Float64(b) => Arc::new(b.finish()),
            Column::Boolean(b) => Arc::new(b.finish()),
        }
    }
}

/// A Parquet file of one contract table being written.
pub struct TableFile {
    spec: &'static TableSpec,
    path: PathBuf,
    columns: Vec<Column>,
    rows_in_batch: usize,
    cursor: usize,
    writer: ArrowWriter<BufWriter<File>>,
    pub rows: u64,
}

fn writer_properties(spec: &TableSpec) -> WriterProperties {
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("zstd level 1 is valid"),
        ))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_created_by(format!("fjq-sample-data {}", env!("CARGO_PKG_VERSION")))
        .set_sorting_columns(Some(
            spec.sort_order
                .iter()
                .map(|name| SortingColumn {
                    column_idx: spec
                        .columns
                        .iter()
                        .position(|c| c.name == *name)
                        .expect("sort column in spec") as i32,
                    descending: false,
                    nulls_first: false,
                })
                .collect(),
        ));
    for c in spec.columns {
        // Identifiers are unique or nearly so: a dictionary would be pure cost.
        if c.data_type == ColumnType::Utf8 && c.is_identifier() {
            props = props.set_column_dictionary_enabled(ColumnPath::from(c.name), false);
        }
    }
    props.build()
}

impl TableFile {
    /// Creates `dir/<table>/<file_name>`.
    pub fn create(
        dir: &Path,
        spec: &'static TableSpec,
        file_name: &str,
    ) -> Result<TableFile, WriteError> {
        let table_dir = dir.join(spec.name);
        std::fs::create_dir_all(&table_dir).map_err(|source| WriteError::Io {
            path: table_dir.clone(),
            source,
        })?;
        let path = table_dir.join(file_name);
        let file = File::create(&path).map_err(|source| WriteError::Io {
            path: path.clone(),
            source,
        })?;
        let writer = ArrowWriter::try_new(
            BufWriter::with_capacity(1 << 20, file),
            spec.schema(),
            Some(writer_properties(spec)),
        )
        .map_err(|source| WriteError::Parquet {
            path: path.clone(),
            source,
        })?;
        Ok(TableFile {
            spec,
            path,
            columns: spec
                .columns
                .iter()
                .map(|c| Column::new(c.data_type))
                .collect(),
            rows_in_batch: 0,
            cursor: 0,
            writer,
            rows: 0,
        })
    }

    #[inline]
    fn next_column(&mut self) -> &mut Column {
        let i = self.cursor;
        self.cursor += 1;
        &mut self.columns[i]
    }

    #[inline]
    pub fn str(&mut self, v: &str) -> &mut Self {
        match self.next_column() {
            Column::Utf8(b) => b.append_value(v),
            _ => unreachable!(
                "column {} of {} is not Utf8",
                self.cursor - 1,
                self.spec.name
            ),
        }
        self
    }

    #[inline]
    pub fn opt_str(&mut self, v: Option<&str>) -> &mut Self {
        match self.next_column() {
            Column::Utf8(b) => b.append_option(v),
            _ => unreachable!(
                "column {} of {} is not Utf8",
                self.cursor - 1,
                self.spec.name
            ),
        }
        self
    }

    #[inline]
    pub fn date(&mut self, v: i32) -> &mut Self {
        self.opt_date(Some(v))
    }

    #[inline]
    pub fn opt_date(&mut self, v: Option<i32>) -> &mut Self {
        match self.next_column() {
            Column::Date32(b) => b.append_option(v),
            _ => unreachable!(
                "column {} of {} is not Date32",
                self.cursor - 1,
                self.spec.name
            ),
        }
        self
    }

    #[inline]
    pub fn i32(&mut self, v: i32) -> &mut Self {
        self.opt_i32(Some(v))
    }

    #[inline]
    pub fn opt_i32(&mut self, v: Option<i32>) -> &mut Self {
        match self.next_column() {
            Column::Int32(b) => b.append_option(v),
            _ => unreachable!(
                "column {} of {} is not Int32",
                self.cursor - 1,
                self.spec.name
            ),
        }
        self
    }

    #[inline]
    pub fn opt_i64(&mut self, v: Option<i64>) -> &mut Self {
        match self.next_column() {
            Column::Int64(b) => b.append_option(v),
            _ => unreachable!(
                "column {} of {} is not Int64",
                self.cursor - 1,
                self.spec.name
            ),
        }
        self
    }

    #[inline]
    pub fn f64(&mut self, v: f64) -> &mut Self {
        match self.next_column() {
            Column::Float64(b) => b.append_value(v),
            _ => unreachable!(
                "column {} of {} is not Float64",
                self.cursor - 1,
                self.spec.name
            ),
        }
        self
    }

    #[inline]
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.opt_bool(Some(v))
    }

    #[inline]
    pub fn opt_bool(&mut self, v: Option<bool>) -> &mut Self {
        match self.next_column() {
            Column::Boolean(b) => b.append_option(v),
            _ => unreachable!(
                "column {} of {} is not Boolean",
                self.cursor - 1,
                self.spec.name
            ),
        }
        self
    }

    /// Ends the current row (every column must have been given a value).
    #[inline]
    pub fn end_row(&mut self) -> Result<(), WriteError> {
        debug_assert_eq!(
            self.cursor,
            self.columns.len(),
            "row of {} has the wrong number of values",
            self.spec.name
        );
        self.cursor = 0;
        self.rows_in_batch += 1;
        self.rows += 1;
        if self.rows_in_batch == BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), WriteError> {
        if self.rows_in_batch == 0 {
            return Ok(());
        }
        let arrays: Vec<ArrayRef> = self.columns.iter_mut().map(Column::finish).collect();
        let batch = RecordBatch::try_new(self.spec.schema(), arrays).map_err(|source| {
            WriteError::Arrow {
                table: self.spec.name.to_string(),
                source,
            }
        })?;
        self.writer
            .write(&batch)
            .map_err(|source| WriteError::Parquet {
                path: self.path.clone(),
                source,
            })?;
        self.rows_in_batch = 0;
        Ok(())
    }

    /// Flushes and closes the file; returns rows and bytes written.
    pub fn finish(mut self) -> Result<(u64, u64), WriteError> {
        self.flush()?;
        let path = self.path.clone();
        self.writer.close().map_err(|source| WriteError::Parquet {
            path: path.clone(),
            source,
        })?;
        let bytes = std::fs::metadata(&path)
            .map_err(|source| WriteError::Io { path, source })?
            .len();
        Ok((self.rows, bytes))
    }
}

/// Formats a 64-bit key as 16 upper-case hex digits after a prefix, into a reusable buffer.
#[inline]
pub fn hex_id<'a>(buf: &'a mut String, prefix: &str, key: u64) -> &'a str {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    buf.clear();
    buf.push_str(prefix);
    for shift in (0..16).rev() {
        buf.push(HEX[((key >> (shift * 4)) & 0xF) as usize] as char);
    }
    buf.as_str()
}
