//! Shared fixtures: datasets generated once per test process into cargo's scratch directory,
//! and small helpers to run SQL and read single values.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::arrow::record_batch::RecordBatch;
use fjq_engine::{Engine, EngineConfig};
use fjq_sample_data::Options;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Scale of the calibration dataset: about 130 thousand cases, large enough for the
/// tolerances below, small enough to write in seconds in a debug build.
pub const CALIBRATION_SCALE: f64 = 0.05;
/// Scale of the small datasets the validation tests copy and damage.
pub const SMALL_SCALE: f64 = 0.002;

pub fn scratch(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

pub fn generate(scale: f64, seed: u64, out: &Path, threads: Option<usize>) {
    write_dataset(Options {
        scale,
        seed,
        out: out.to_path_buf(),
        threads,
        cases_per_file: None,
    });
}

/// A dataset written with `cases_per_file` court and Cafcass cases to a file of their tables.
pub fn generate_in_files(scale: f64, seed: u64, out: &Path, cases_per_file: usize) {
    write_dataset(Options {
        scale,
        seed,
        out: out.to_path_buf(),
        threads: None,
        cases_per_file: Some(cases_per_file),
    });
}

fn write_dataset(options: Options) {
    fjq_sample_data::generate(&options, &|_| {}).expect("generation succeeds");
}

fn fixture(cell: &'static OnceLock<PathBuf>, name: &str, scale: f64) -> &'static Path {
    cell.get_or_init(|| {
        let dir = scratch(name);
        let _ = std::fs::remove_dir_all(&dir);
        generate(scale, 42, &dir, None);
        dir
    })
}

/// The calibration dataset (scale 0.05, seed 42), generated once per run.
pub fn calibration_dataset() -> &'static Path {
    static CELL: OnceLock<PathBuf> = OnceLock::new();
    fixture(&CELL, "calibration-0.05", CALIBRATION_SCALE)
}

/// A small dataset (scale 0.002, seed 42), generated once per run; copy it before damaging it.
pub fn small_dataset() -> &'static Path {
    static CELL: OnceLock<PathBuf> = OnceLock::new();
    fixture(&CELL, "small-0.002", SMALL_SCALE)
}

pub async fn open_with_truth(dir: &Path) -> Engine {
    Engine::open(
        dir,
        EngineConfig {
            register_truth: true,
            ..EngineConfig::default()
        },
    )
    .await
    .expect("the generated dataset opens")
}

pub async fn query(engine: &Engine, sql: &str) -> Vec<RecordBatch> {
    engine
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("planning {sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("running {sql}: {e}"))
}

/// The single value a query returns, as f64.
pub async fn value(engine: &Engine, sql: &str) -> f64 {
    let batches = query(engine, sql).await;
    let batch = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .unwrap_or_else(|| panic!("no rows from {sql}"));
    let column = cast(batch.column(0), &DataType::Float64).expect("numeric result");
    let column = column.as_primitive::<Float64Type>();
    assert!(!column.is_null(0), "NULL from {sql}");
    column.value(0)
}

/// (key, value) rows of a two-column query, the key cast to i64.
pub async fn pairs(engine: &Engine, sql: &str) -> Vec<(i64, f64)> {
    let mut out = Vec::new();
    for batch in query(engine, sql).await {
        let k = cast(batch.column(0), &DataType::Int64).expect("integer key");
        let v = cast(batch.column(1), &DataType::Float64).expect("numeric value");
        let (k, v) = (
            k.as_primitive::<Int64Type>(),
            v.as_primitive::<Float64Type>(),
        );
        for i in 0..batch.num_rows() {
            out.push((k.value(i), v.value(i)));
        }
    }
    out
}

/// Copies a dataset directory tree (for tests that damage it).
pub fn copy_dataset(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    copy_tree(from, to);
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create copy");
    for entry in std::fs::read_dir(from).expect("read dataset") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// Every file under `dir`, recursively, in name order (none if it does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files.sort();
    files
}
