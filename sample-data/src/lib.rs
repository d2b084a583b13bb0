//! fjq's synthetic Data First family court – Cafcass linked dataset.
//!
//! The real dataset is restricted to a trusted research environment, so fjq ships a generator
//! with the same shape (design/DATA.md): it simulates families entering and re-entering the
//! family court and Cafcass over time (`simulate`), then writes what the systems would have
//! recorded, imperfections included (`court`, `cafcass`, `persons`, `identity`), as Parquet laid
//! out for fast queries (`parquet_out`), plus `dataset.json` and the ground truth in `_truth/`.
//! Output is a pure function of (seed, scale): byte-identical whatever the thread count.
//!
//! This crate writes the data contract (`fjq-contract`) and knows nothing of SQL, shells or servers.

pub mod cafcass;
pub mod court;
pub mod events;
pub mod geography;
pub mod identity;
pub mod parquet_out;
pub mod persons;
pub mod rng;
pub mod simulate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

pub use fjq_contract::DatasetInfo;
use fjq_contract::{self as contract, GeneratorInfo, TableInfo};
pub use parquet_out::WriteError;

/// The version written into `dataset.json`, and part of the cached sample's folder name: the
/// package version and a data revision, bumped whenever the same seed would give other data
/// (revision 2: guardian allocation waits and `_truth/case_links`; revision 3: tables of more
/// than one file written in a multiple of four equal files).
pub const GENERATOR_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "-data3");
/// The scale of the default sample fjq opens when given no data directory.
pub const DEFAULT_SAMPLE_SCALE: f64 = 0.01;
pub const DEFAULT_SEED: u64 = 42;
/// Largest scale accepted (10x the England and Wales volume).
pub const MAX_SCALE: f64 = 10.0;

const COURT_CASES_PER_PART: usize = 400_000;
const CAFCASS_CASES_PER_PART: usize = 250_000;
const TRUTH_ROWS_PER_PART: usize = 3_000_000;

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("scale must be a number above 0 and at most {MAX_SCALE}, got {0}")]
    BadScale(f64),
    #[error(
        "refusing to write into {0}: it is not empty and holds no fjq dataset (no dataset.json); choose an empty or new directory"
    )]
    NotADatasetDirectory(PathBuf),
    #[error("cannot prepare {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Options {
    pub scale: f64,
    pub seed: u64,
    pub out: PathBuf,
    /// Writer threads; None = the machine's cores.
    pub threads: Option<usize>,
    /// At most this many court and Cafcass cases per file of their tables; None = 400,000
    /// court and 250,000 Cafcass cases. Tests write small datasets in many files with it, as
    /// the full-size data is written.
    pub cases_per_file: Option<usize>,
}

/// Progress reports, for a front end to show.
#[derive(Debug, Clone)]
pub enum Progress {
    /// A phase began.
    Phase(&'static str),
    /// The files to write are known.
    FilesPlanned(usize),
    /// One more group of files is written.
    FileWritten { table: &'static str, rows: u64 },
}

#[derive(Debug, Clone)]
pub struct TableSummary {
    pub name: String,
    pub rows: u64,
    pub bytes: u64,
    pub files: usize,
}

#[derive(Debug, Clone)]
pub struct Summary {
    pub out: PathBuf,
    pub tables: Vec<TableSummary>,
    pub seconds: f64,
}

type Job<'a> = Box<dyn FnOnce() -> Result<court::FileStats, WriteError> + Send + 'a>;

/// Generates a dataset into `options.out`.
pub fn generate(
    options: &Options,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Summary, GenerateError> {
    let started = Instant::now();
    if !(options.scale > 0.0 && options.scale <= MAX_SCALE) {
        return Err(GenerateError::BadScale(options.scale));
    }
    prepare_output(&options.out)?;
    let out = options.out.as_path();

    progress(Progress::Phase("simulating families"));
    let world = simulate::simulate(options.seed, options.scale);
    let ids = identity::build(&world);

    progress(Progress::Phase("indexing"));
    let mut court_order: Vec<(u64, u32)> = world
        .cases
        .iter()
        .filter(|c| c.in_court_window())
        .map(|c| {
            (
                simulate::id_key(world.seed, simulate::id_kind::CASE, c.seq as u64),
                c.seq,
            )
        })
        .collect();
    court_order.sort_unstable();
    let court_order: Vec<u32> = court_order.into_iter().map(|(_, s)| s).collect();
    let mut cafcass_order: Vec<(u64, u32)> = world
        .cases
        .iter()
        .filter(|c| {
            c.case_type.is_children_act()
                && identity::in_cafcass_window(identity::cafcass_received(c.start, c.seq))
        })
        .map(|c| {
            (
                simulate::id_key(world.seed, simulate::id_kind::CAFCASS_CASE, c.seq as u64),
                c.seq,
            )
        })
        .collect();
    cafcass_order.sort_unstable();
    let cafcass_order: Vec<u32> = cafcass_order.into_iter().map(|(_, s)| s).collect();
    let index = persons::index(&world, &ids);

    let (world, ids, index) = (&world, &ids, &index);
    let court_per_part = options
        .cases_per_file
        .unwrap_or(COURT_CASES_PER_PART)
        .max(1);
    let cafcass_per_part = options
        .cases_per_file
        .unwrap_or(CAFCASS_CASES_PER_PART)
        .max(1);
    let mut jobs: Vec<Job> = Vec::new();
    for (part, chunk) in chunks(&court_order, court_per_part).enumerate() {
        jobs.push(Box::new(move || {
            court::write_part(world, ids, chunk, part, out)
        }));
    }
    for (part, chunk) in chunks(&cafcass_order, cafcass_per_part).enumerate() {
        jobs.push(Box::new(move || {
            cafcass::write_part(world, ids, chunk, part, out)
        }));
    }
    jobs.push(Box::new(move || {
        persons::write_persons(world, ids, index, out)
    }));
    for part in 0..2 {
        jobs.push(Box::new(move || {
            persons::write_linkage(world, ids, index, part, out)
        }));
    }
    for (part, chunk) in chunks(&index.entries, TRUTH_ROWS_PER_PART).enumerate() {
        jobs.push(Box::new(move || {
            persons::write_entries(world, chunk, part, out)
        }));
    }
    let n_persons = world.persons.len();
    for part in 0..n_persons.div_ceil(TRUTH_ROWS_PER_PART).max(1) {
        let range = part * TRUTH_ROWS_PER_PART..((part + 1) * TRUTH_ROWS_PER_PART).min(n_persons);
        jobs.push(Box::new(move || {
            persons::write_persons_truth(world, range, part, out)
        }));
    }

    progress(Progress::Phase("writing Parquet"));
    progress(Progress::FilesPlanned(jobs.len()));
    let threads = options
        .threads
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
        .clamp(1, jobs.len().max(1));
    let stats = run_jobs(jobs, threads, progress)?;

    let mut tables: BTreeMap<String, TableSummary> = BTreeMap::new();
    for (name, rows, bytes) in stats.into_iter().flatten() {
        let t = tables.entry(name.to_string()).or_insert(TableSummary {
            name: name.to_string(),
            rows: 0,
            bytes: 0,
            files: 0,
        });
        t.rows += rows;
        t.bytes += bytes;
        t.files += 1;
    }
    let info = DatasetInfo {
        dataset: "Data First family court - Cafcass linked dataset (synthetic)".to_string(),
        coverage: Default::default(),
        generator: Some(GeneratorInfo {
            name: "fjq-sample-data".to_string(),
            version: GENERATOR_VERSION.to_string(),
            seed: options.seed,
            scale: options.scale,
        }),
        tables: tables
            .values()
            .filter(|t| !t.name.starts_with('_'))
            .map(|t| {
                (
                    t.name.clone(),
                    TableInfo {
                        rows: t.rows,
                        files: t.files,
                    },
                )
            })
            .collect(),
    };
    let json_path = out.join(DatasetInfo::FILE_NAME);
    let json = serde_json::to_string_pretty(&info).expect("dataset.json serialises");
    std::fs::write(&json_path, json + "\n").map_err(|source| GenerateError::Io {
        path: json_path,
        source,
    })?;

    // Contract tables first, in catalogue order, then the truth tables.
    let mut ordered: Vec<TableSummary> = Vec::new();
    for spec in contract::TABLES {
        if let Some(t) = tables.remove(spec.name) {
            ordered.push(t);
        }
    }
    ordered.extend(tables.into_values());
    Ok(Summary {
        out: options.out.clone(),
        tables: ordered,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Parts of at most `size` items: one when they fit, else a multiple of four parts of equal
/// size, so that two or four threads each scan an equal run of whole files (fjq declares a
/// table's scan range-partitioned in such runs, `fjq_engine::file_ranges`).
fn chunks<T>(items: &[T], size: usize) -> impl Iterator<Item = &[T]> {
    // Always at least one (possibly empty) part, so every table has a file.
    let n = match items.len().div_ceil(size) {
        0 | 1 => 1,
        n => n.next_multiple_of(4),
    };
    let size = items.len().div_ceil(n).max(1);
    (0..n).map(move |i| &items[(i * size).min(items.len())..((i + 1) * size).min(items.len())])
}

fn run_jobs(
    jobs: Vec<Job>,
    threads: usize,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Vec<court::FileStats>, WriteError> {
    let n = jobs.len();
    let slots: Vec<Mutex<Option<Job>>> = jobs.into_iter().map(|j| Mutex::new(Some(j))).collect();
    let results: Vec<Mutex<Option<Result<court::FileStats, WriteError>>>> =
        (0..n).map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let job = slots[i]
                        .lock()
                        .expect("job slot")
                        .take()
                        .expect("each job runs once");
                    let result = job();
                    if let Ok(stats) = &result {
                        for (table, rows, _) in stats {
                            progress(Progress::FileWritten { table, rows: *rows });
                        }
                    }
                    *results[i].lock().expect("result slot") = Some(result);
                }
            });
        }
    });
    results
        .into_iter()
        .map(|r| r.into_inner().expect("result slot").expect("every job ran"))
        .collect()
}

/// Makes `out` ready: created if missing; a previous dataset's tables removed (so no stale part
/// of a larger scale survives); anything else refused rather than overwritten.
fn prepare_output(out: &Path) -> Result<(), GenerateError> {
    let io = |source| GenerateError::Io {
        path: out.to_path_buf(),
        source,
    };
    if out.exists() {
        let has_entries = std::fs::read_dir(out).map_err(io)?.next().is_some();
        if has_entries {
            if !out.join(DatasetInfo::FILE_NAME).exists() {
                return Err(GenerateError::NotADatasetDirectory(out.to_path_buf()));
            }
            for name in contract::TABLES.iter().map(|t| t.name).chain(["_truth"]) {
                let dir = out.join(name);
                if dir.exists() {
                    std::fs::remove_dir_all(&dir).map_err(|source| GenerateError::Io {
                        path: dir.clone(),
                        source,
                    })?;
                }
            }
            let json = out.join(DatasetInfo::FILE_NAME);
            std::fs::remove_file(&json).map_err(|source| GenerateError::Io {
                path: json.clone(),
                source,
            })?;
        }
    }
    std::fs::create_dir_all(out).map_err(io)
}
