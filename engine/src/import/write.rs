//! Writing an imported table as the generator does: one Parquet file per source file, sorted by
//! the contract's keys with the order declared in the file, zstd, page statistics, dictionaries
//! only for low-cardinality strings. Rows arriving in order are written as they come; a file
//! that arrived out of order is sorted afterwards by DataFusion (spilling to disk past its
//! memory share). Keys are checked unique across the table's files as rows pass.

use super::{ImportError, Reject};
use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch};
use arrow::datatypes::{DataType, Date32Type, SchemaRef};
use arrow::row::{RowConverter, SortField};
use datafusion::common::hash_utils::{QualityRandomState, RandomState, create_hashes};
use fjq_contract::{ColumnType, TableSpec};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use std::collections::HashSet;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Rows per row group, as the generator writes them.
const ROW_GROUP_ROWS: usize = 256 * 1024;

/// The contract's schema as written to the files: column descriptions kept.
pub fn file_schema(spec: &TableSpec) -> SchemaRef {
    spec.schema()
}

/// The generator's file properties (sample-data/src/parquet_out.rs), for imported data: a test
/// compares the two datasets' file metadata.
fn writer_properties(spec: &TableSpec) -> WriterProperties {
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_created_by(format!("fjq import {}", env!("CARGO_PKG_VERSION")))
        .set_sorting_columns(Some(
            spec.sort_order
                .iter()
                .filter_map(|name| spec.columns.iter().position(|c| c.name == *name))
                .map(|i| SortingColumn {
                    column_idx: i as i32,
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

/// What one table's import has seen, shared by the files written in parallel.
pub struct TableState {
    pub spec: &'static TableSpec,
    /// 128-bit hashes of every key written so far (two independent 64-bit hashes: a collision
    /// among 10^8 keys has a chance below 10^-22).
    keys: Mutex<HashSet<u128, BuildPassThrough>>,
    /// Files of the table not yet written: when none is left the key hashes are let go.
    pub files_left: std::sync::atomic::AtomicUsize,
    pub written: Mutex<Written>,
}

#[derive(Default, Clone)]
pub struct Written {
    pub rows: u64,
    pub files: usize,
    pub nulls: Vec<u64>,
    /// Per column, for date columns: the earliest and latest day.
    pub date_range: Vec<Option<(i32, i32)>>,
    /// Files that arrived out of order and were sorted.
    pub sorted_after: usize,
}

/// The keys are hashes already.
#[derive(Default, Clone)]
pub struct BuildPassThrough;
pub struct PassThrough(u64);
impl std::hash::BuildHasher for BuildPassThrough {
    type Hasher = PassThrough;
    fn build_hasher(&self) -> PassThrough {
        PassThrough(0)
    }
}
impl std::hash::Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ *b as u64;
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64;
    }
}

impl TableState {
    /// One more file of the table is written; after the last, its key hashes (hundreds of
    /// megabytes for the largest tables) are freed for the tables still to come.
    pub fn file_done(&self) {
        use std::sync::atomic::Ordering;
        if self.files_left.fetch_sub(1, Ordering::AcqRel) == 1 {
            *self.keys.lock().unwrap_or_else(|p| p.into_inner()) = HashSet::default();
        }
    }

    pub fn new(spec: &'static TableSpec) -> TableState {
        TableState {
            spec,
            keys: Mutex::new(HashSet::default()),
            files_left: std::sync::atomic::AtomicUsize::new(0),
            written: Mutex::new(Written {
                nulls: vec![0; spec.columns.len()],
                date_range: vec![None; spec.columns.len()],
                ..Default::default()
            }),
        }
    }
}

/// One output file being written from one source file.
pub struct FileSink<'a> {
    state: &'a TableState,
    source_name: String,
    path: PathBuf,
    writer: Option<ArrowWriter<BufWriter<File>>>,
    order: RowConverter,
    last_key: Option<arrow::row::OwnedRow>,
    in_order: bool,
    rows: u64,
    key_columns: Vec<usize>,
    sort_columns: Vec<usize>,
}

fn column_index(spec: &TableSpec, name: &str) -> usize {
    spec.columns
        .iter()
        .position(|c| c.name == name)
        .unwrap_or(0)
}

impl<'a> FileSink<'a> {
    pub fn create(
        state: &'a TableState,
        path: PathBuf,
        source_name: &str,
    ) -> Result<FileSink<'a>, ImportError> {
        let spec = state.spec;
        let file = File::create(&path).map_err(|source| ImportError::Io {
            action: "write",
            path: path.clone(),
            source,
        })?;
        let writer = ArrowWriter::try_new(
            BufWriter::with_capacity(1 << 20, file),
            file_schema(spec),
            Some(writer_properties(spec)),
        )
        .map_err(|e| ImportError::Write(path.clone(), e.to_string()))?;
        let sort_columns: Vec<usize> = spec
            .sort_order
            .iter()
            .map(|n| column_index(spec, n))
            .collect();
        let order = RowConverter::new(
            sort_columns
                .iter()
                .map(|&i| SortField::new(spec.columns[i].data_type.arrow()))
                .collect(),
        )
        .map_err(|e| ImportError::Internal(e.to_string()))?;
        Ok(FileSink {
            state,
            source_name: source_name.to_string(),
            path,
            writer: Some(writer),
            order,
            last_key: None,
            in_order: true,
            rows: 0,
            key_columns: spec
                .primary_key
                .iter()
                .map(|n| column_index(spec, n))
                .collect(),
            sort_columns,
        })
    }

    /// Checks the batch's keys (a repeated key is rejected), notes whether rows still arrive in
    /// order, and writes it.
    pub fn push(
        &mut self,
        batch: RecordBatch,
        lines: &[u64],
        reject: &mut dyn FnMut(Reject) -> Result<(), ImportError>,
    ) -> Result<(), ImportError> {
        let batch = self.drop_repeated_keys(batch, lines, reject)?;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if self.in_order {
            let keys: Vec<ArrayRef> = self
                .sort_columns
                .iter()
                .map(|&i| batch.column(i).clone())
                .collect();
            let rows = self
                .order
                .convert_columns(&keys)
                .map_err(|e| ImportError::Internal(e.to_string()))?;
            if let Some(last) = &self.last_key
                && rows.row(0) < last.row()
            {
                self.in_order = false;
            }
            for i in 1..rows.num_rows() {
                if rows.row(i) < rows.row(i - 1) {
                    self.in_order = false;
                    break;
                }
            }
            self.last_key = Some(rows.row(rows.num_rows() - 1).owned());
        }
        {
            let mut w = self.state.written.lock().unwrap_or_else(|p| p.into_inner());
            w.rows += batch.num_rows() as u64;
            for (i, c) in batch.columns().iter().enumerate() {
                w.nulls[i] += c.null_count() as u64;
                if c.data_type() == &DataType::Date32 {
                    let a = c.as_primitive::<Date32Type>();
                    if let (Some(lo), Some(hi)) = (arrow::compute::min(a), arrow::compute::max(a)) {
                        let r = &mut w.date_range[i];
                        *r = Some(match *r {
                            Some((l, h)) => (l.min(lo), h.max(hi)),
                            None => (lo, hi),
                        });
                    }
                }
            }
        }
        self.rows += batch.num_rows() as u64;
        if let Some(w) = self.writer.as_mut() {
            w.write(&batch)
                .map_err(|e| ImportError::Write(self.path.clone(), e.to_string()))?;
        }
        Ok(())
    }

    fn drop_repeated_keys(
        &mut self,
        batch: RecordBatch,
        lines: &[u64],
        reject: &mut dyn FnMut(Reject) -> Result<(), ImportError>,
    ) -> Result<RecordBatch, ImportError> {
        if self.key_columns.is_empty() {
            return Ok(batch);
        }
        let keys: Vec<ArrayRef> = self
            .key_columns
            .iter()
            .map(|&i| batch.column(i).clone())
            .collect();
        let n = batch.num_rows();
        let (mut h1, mut h2) = (vec![0u64; n], vec![0u64; n]);
        let seeds1 = RandomState::with_seed(0x1F0A_2B3C);
        let seeds2 = QualityRandomState::with_seed(0x4D5E_6F70);
        create_hashes(&keys, &seeds1, &mut h1).map_err(|e| ImportError::Internal(e.to_string()))?;
        create_hashes(&keys, &seeds2, &mut h2).map_err(|e| ImportError::Internal(e.to_string()))?;
        let mut keep: Option<Vec<bool>> = None;
        {
            let mut set = self.state.keys.lock().unwrap_or_else(|p| p.into_inner());
            for r in 0..n {
                let h = ((h1[r] as u128) << 64) | h2[r] as u128;
                if !set.insert(h) {
                    keep.get_or_insert_with(|| vec![true; n])[r] = false;
                }
            }
        }
        let Some(keep) = keep else {
            return Ok(batch);
        };
        for (r, k) in keep.iter().enumerate() {
            if !k {
                let described: Vec<String> = self
                    .key_columns
                    .iter()
                    .map(|&i| {
                        let v = arrow::util::display::array_value_to_string(batch.column(i), r)
                            .unwrap_or_default();
                        format!("{} = {v:?}", self.state.spec.columns[i].name)
                    })
                    .collect();
                reject(Reject {
                    file: self.source_name.clone(),
                    line: lines.get(r).copied().unwrap_or(0),
                    column: Some(self.state.spec.primary_key.join(", ")),
                    reason: format!(
                        "duplicated key: {} was already imported from an earlier line",
                        described.join(", ")
                    ),
                    record: String::new(),
                })?;
            }
        }
        arrow::compute::filter_record_batch(&batch, &BooleanArray::from(keep))
            .map_err(|e| ImportError::Internal(e.to_string()))
    }

    /// Closes the file; sorts it if its rows did not arrive in order; removes it if it is empty.
    pub fn finish(mut self, sort_memory: usize) -> Result<(), ImportError> {
        if let Some(w) = self.writer.take() {
            w.close()
                .map_err(|e| ImportError::Write(self.path.clone(), e.to_string()))?;
        }
        if self.rows == 0 {
            let _ = std::fs::remove_file(&self.path);
            return Ok(());
        }
        if !self.in_order {
            sort_file(self.state.spec, &self.path, sort_memory)?;
        }
        let mut w = self.state.written.lock().unwrap_or_else(|p| p.into_inner());
        w.files += 1;
        if !self.in_order {
            w.sorted_after += 1;
        }
        Ok(())
    }
}

/// Rewrites a file in the contract's order with DataFusion's sort, which spills to disk when the
/// file does not fit in `memory` bytes. Runs on a thread of its own with its own runtime, so it
/// works whether or not the caller is inside one.
fn sort_file(spec: &'static TableSpec, path: &Path, memory: usize) -> Result<(), ImportError> {
    let unsorted = path.with_extension("unsorted");
    std::fs::rename(path, &unsorted).map_err(|source| ImportError::Io {
        action: "rename",
        path: path.to_path_buf(),
        source,
    })?;
    let target = path.to_path_buf();
    let from = unsorted.clone();
    let result = std::thread::scope(|s| {
        s.spawn(move || sort_with_datafusion(spec, &from, &target, memory))
            .join()
            .unwrap_or_else(|_| Err(ImportError::Internal("the sort thread failed".to_string())))
    });
    let _ = std::fs::remove_file(&unsorted);
    result
}

fn sort_with_datafusion(
    spec: &'static TableSpec,
    from: &Path,
    to: &Path,
    memory: usize,
) -> Result<(), ImportError> {
    use datafusion::execution::runtime_env::RuntimeEnvBuilder;
    use datafusion::prelude::{SessionConfig, SessionContext, col};
    use futures::StreamExt;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ImportError::Internal(format!("cannot start the sort: {e}")))?;
    let df_error = |e: datafusion::error::DataFusionError| {
        ImportError::Write(to.to_path_buf(), crate::diagnostics::describe(&e))
    };
    runtime.block_on(async {
        let env = RuntimeEnvBuilder::new()
            .with_memory_limit(memory, 1.0)
            .build_arc()
            .map_err(df_error)?;
        let mut config = SessionConfig::new().with_target_partitions(1);
        config
            .options_mut()
            .execution
            .parquet
            .schema_force_view_types = false;
        config.options_mut().execution.sort_spill_reservation_bytes =
            crate::config::merge_reservation(memory);
        let ctx = SessionContext::new_with_config_rt(config, env);
        // Read through a stream of our own, not as a Parquet table: DataFusion would take the
        // file's declared sorting columns at their word, and these rows are not in that order.
        let source = UnsortedFile {
            path: from.to_path_buf(),
            schema: file_schema(spec),
        };
        let table = datafusion::catalog::streaming::StreamingTable::try_new(
            source.schema.clone(),
            vec![Arc::new(source)],
        )
        .map_err(df_error)?;
        let df = ctx.read_table(Arc::new(table)).map_err(df_error)?;
        let order = spec
            .sort_order
            .iter()
            .map(|c| col(*c).sort(true, false))
            .collect();
        let mut stream = df
            .sort(order)
            .map_err(df_error)?
            .execute_stream()
            .await
            .map_err(df_error)?;
        let file = File::create(to).map_err(|source| ImportError::Io {
            action: "write",
            path: to.to_path_buf(),
            source,
        })?;
        let schema: SchemaRef = file_schema(spec);
        let mut writer = ArrowWriter::try_new(
            BufWriter::with_capacity(1 << 20, file),
            schema.clone(),
            Some(writer_properties(spec)),
        )
        .map_err(|e| ImportError::Write(to.to_path_buf(), e.to_string()))?;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(df_error)?;
            // Same columns, the contract's field metadata.
            let batch = RecordBatch::try_new(schema.clone(), batch.columns().to_vec())
                .map_err(|e| ImportError::Internal(e.to_string()))?;
            writer
                .write(&batch)
                .map_err(|e| ImportError::Write(to.to_path_buf(), e.to_string()))?;
        }
        writer
            .close()
            .map_err(|e| ImportError::Write(to.to_path_buf(), e.to_string()))?;
        Ok(())
    })
}

/// A Parquet file read in the order its rows were written, as one partition.
#[derive(Debug)]
struct UnsortedFile {
    path: PathBuf,
    schema: SchemaRef,
}

impl datafusion::physical_plan::streaming::PartitionStream for UnsortedFile {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(
        &self,
        _ctx: Arc<datafusion::execution::TaskContext>,
    ) -> datafusion::execution::SendableRecordBatchStream {
        use datafusion::error::DataFusionError;
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let schema = self.schema.clone();
        let batches: Box<dyn Iterator<Item = datafusion::error::Result<RecordBatch>> + Send> =
            match File::open(&self.path)
                .map_err(DataFusionError::IoError)
                .and_then(|f| {
                    ParquetRecordBatchReaderBuilder::try_new(f)
                        .and_then(|b| b.with_batch_size(64 * 1024).build())
                        .map_err(|e| DataFusionError::External(Box::new(e)))
                }) {
                Ok(reader) => {
                    let schema = schema.clone();
                    Box::new(reader.map(move |b| {
                        b.map_err(|e| DataFusionError::ArrowError(Box::new(e), None))
                            .and_then(|b| {
                                RecordBatch::try_new(schema.clone(), b.columns().to_vec())
                                    .map_err(|e| DataFusionError::ArrowError(Box::new(e), None))
                            })
                    }))
                }
                Err(e) => Box::new(std::iter::once(Err(e))),
            };
        Box::pin(
            datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
                schema,
                futures::stream::iter(batches),
            ),
        )
    }
}
