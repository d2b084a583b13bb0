//! `fjq import`: a secure environment's delimited exports (Db2 `EXPORT ... OF DEL`, or CSV with a
//! header from a SQL client) turned into a dataset fjq opens, through a layout file that maps the
//! source tables and columns to the contract ([`layout`]).
//!
//! Each source file is read as a stream ([`read`]): fields decoded, trimmed, recoded and parsed to
//! the contract's types, derived columns computed by their SQL expressions, and written as one
//! Parquet file laid out as the generator lays it out ([`write`]). Files are taken two at a time
//! (largest first) on the machine's two cores. A row that fails goes to `OUT.rejects.csv` with
//! its file, line, field and reason; `--max-rejects` decides whether the import succeeds. The
//! dataset is built in a hidden folder beside OUT and renamed to OUT only when everything has
//! succeeded, so a failed import leaves no output folder.

pub mod export;
pub mod layout;
mod read;
pub mod text;
mod write;

use fjq_contract::{Coverage, DatasetInfo, TableInfo, TableSpec, Window, calendar::iso};
use layout::Layout;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The layout file is wrong (named where).
    #[error("{0}")]
    Layout(String),
    /// A source file cannot be read as the layout says.
    #[error("{file}, line {line}{}: {message}", .column.as_ref().map(|c| format!(", field {c}")).unwrap_or_default())]
    Source {
        file: String,
        line: u64,
        column: Option<String>,
        message: String,
    },
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {0}: {1}")]
    Write(PathBuf, String),
    #[error(
        "{0} already exists: fjq import writes a new folder and never into an existing one; remove it or choose another --out"
    )]
    OutputExists(PathBuf),
    #[error("no file in {dir} matches {pattern:?}, the layout's files for table {table}")]
    NoFiles {
        dir: PathBuf,
        pattern: String,
        table: String,
    },
    #[error(
        "{rejected} row{} rejected, more than --max-rejects {allowed} allows{}; the first: {first}. Every rejected row is in {}, with its reason. No dataset was written.",
        if *.rejected == 1 { " was" } else { "s were" },
        if *.stopped { " (the import stopped early)" } else { "" },
        .rejects.display()
    )]
    TooManyRejects {
        rejected: u64,
        allowed: u64,
        stopped: bool,
        first: String,
        rejects: PathBuf,
    },
    #[error("internal error in fjq import: {0}")]
    Internal(String),
    /// Another file's failure stopped this one (never shown: the first failure is).
    #[error("stopped")]
    Stopped,
}

/// A row that could not be imported.
#[derive(Debug, Clone)]
pub struct Reject {
    pub file: String,
    pub line: u64,
    pub column: Option<String>,
    pub reason: String,
    /// The fields as read, joined by the delimiter (empty where the row was already typed).
    pub record: String,
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{}, line {}", self.file, self.line)?;
        if let Some(c) = &self.column {
            write!(f, ", field {c}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

pub struct ImportOptions {
    pub layout: Layout,
    pub from: PathBuf,
    pub out: PathBuf,
    pub max_rejects: u64,
    /// Files read at once (default: the cores).
    pub threads: usize,
    /// Memory for sorting files that arrive out of order, shared by the threads.
    pub sort_memory: usize,
}

/// What the import tells a progress display.
pub enum ImportProgress {
    /// The files found: their count and total size.
    Planned { files: usize, bytes: u64 },
    /// More bytes read.
    Read(u64),
}

#[derive(Debug, Clone)]
pub struct TableSummary {
    pub name: &'static str,
    pub source_files: usize,
    pub rows_read: u64,
    pub rows_written: u64,
    pub rejected: u64,
    /// Source files whose rows arrived out of the contract's order and were sorted.
    pub sorted_after: usize,
    /// Per column with a code list: values recoded.
    pub recoded: Vec<(&'static str, u64)>,
    /// Per column: the share of NULLs written.
    pub null_share: Vec<(&'static str, f64)>,
}

#[derive(Debug, Clone)]
pub struct ImportSummary {
    pub out: PathBuf,
    pub tables: Vec<TableSummary>,
    pub rejected: u64,
    pub rejects_file: Option<PathBuf>,
    pub coverage: Coverage,
    /// Whether the coverage windows were taken from the data (the layout gave none).
    pub coverage_from_data: bool,
    pub seconds: f64,
}

/// A source file to read.
struct Job {
    table: usize,
    path: PathBuf,
    name: String,
    size: u64,
    part: usize,
}

#[derive(Default)]
struct TableCounts {
    rows_read: u64,
    rejected: u64,
    recoded: Vec<u64>,
}

/// The rejects file, opened at the first rejected row.
struct Rejects {
    path: PathBuf,
    writer: Option<csv::Writer<std::fs::File>>,
    count: u64,
    first: Option<String>,
}

impl Rejects {
    fn add(&mut self, table: &str, r: &Reject) -> Result<(), ImportError> {
        let io = |path: &Path, e: csv::Error| ImportError::Write(path.to_path_buf(), e.to_string());
        if self.writer.is_none() {
            let mut w = csv::Writer::from_path(&self.path).map_err(|e| io(&self.path, e))?;
            w.write_record(["table", "file", "line", "field", "reason", "record"])
                .map_err(|e| io(&self.path, e))?;
            self.writer = Some(w);
        }
        if let Some(w) = self.writer.as_mut() {
            w.write_record([
                table,
                &r.file,
                &r.line.to_string(),
                r.column.as_deref().unwrap_or(""),
                &r.reason,
                &r.record,
            ])
            .map_err(|e| io(&self.path, e))?;
        }
        self.count += 1;
        if self.first.is_none() {
            self.first = Some(r.to_string());
        }
        Ok(())
    }
}

/// Where the rejects of an import into `out` go: `OUT.rejects.csv`, beside it.
pub fn rejects_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".rejects.csv");
    out.with_file_name(name)
}

fn staging_path(out: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(out.file_name().unwrap_or_default());
    name.push(".importing");
    out.with_file_name(name)
}

/// The source files of a table: every file in `from` whose name matches the pattern, by name.
fn table_files(
    from: &Path,
    table: &layout::TableLayout,
) -> Result<Vec<(PathBuf, String, u64)>, ImportError> {
    let entries = std::fs::read_dir(from).map_err(|source| ImportError::Io {
        action: "read the folder",
        path: from.to_path_buf(),
        source,
    })?;
    let mut files = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if layout::matches(&table.files, &name) && e.path().is_file() {
            let size = e.metadata().map(|m| m.len()).unwrap_or(0);
            files.push((e.path(), name, size));
        }
    }
    if files.is_empty() {
        return Err(ImportError::NoFiles {
            dir: from.to_path_buf(),
            pattern: table.files.clone(),
            table: table.spec.name.to_string(),
        });
    }
    files.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(files)
}

/// Runs an import. On any failure the staging folder is removed and OUT does not appear.
pub fn run(
    options: &ImportOptions,
    progress: &(dyn Fn(ImportProgress) + Sync),
) -> Result<ImportSummary, ImportError> {
    let started = Instant::now();
    if options.out.exists() {
        return Err(ImportError::OutputExists(options.out.clone()));
    }
    if !options.from.is_dir() {
        return Err(ImportError::Io {
            action: "read the folder",
            path: options.from.clone(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such folder"),
        });
    }
    let staging = staging_path(&options.out);
    let _ = std::fs::remove_dir_all(&staging);
    let result = import_into(options, &staging, progress, started);
    match result {
        Ok(summary) => {
            std::fs::rename(&staging, &options.out).map_err(|source| {
                let _ = std::fs::remove_dir_all(&staging);
                ImportError::Io {
                    action: "move the dataset into place at",
                    path: options.out.clone(),
                    source,
                }
            })?;
            Ok(summary)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(e)
        }
    }
}

fn import_into(
    options: &ImportOptions,
    staging: &Path,
    progress: &(dyn Fn(ImportProgress) + Sync),
    started: Instant,
) -> Result<ImportSummary, ImportError> {
    let layout = &options.layout;
    let mk = |p: &Path| {
        std::fs::create_dir_all(p).map_err(|source| ImportError::Io {
            action: "create",
            path: p.to_path_buf(),
            source,
        })
    };
    mk(staging)?;
    let mut jobs = Vec::new();
    for (ti, t) in layout.tables.iter().enumerate() {
        mk(&staging.join(t.spec.name))?;
        for (part, (path, name, size)) in table_files(&options.from, t)?.into_iter().enumerate() {
            jobs.push(Job {
                table: ti,
                path,
                name,
                size,
                part,
            });
        }
    }
    // A file two tables' patterns match would be read twice, as rows of both.
    for (i, a) in jobs.iter().enumerate() {
        if let Some(b) = jobs[..i].iter().find(|b| b.path == a.path) {
            return Err(ImportError::Layout(format!(
                "{} matches the files of both {} ({:?}) and {} ({:?}): make the patterns tell them apart",
                a.name,
                layout.tables[b.table].spec.name,
                layout.tables[b.table].files,
                layout.tables[a.table].spec.name,
                layout.tables[a.table].files
            )));
        }
    }
    // Table by table, largest first, so the threads finish together and hold the key hashes of
    // one table (two at the turn) rather than of all.
    let table_bytes: Vec<u64> = (0..layout.tables.len())
        .map(|ti| jobs.iter().filter(|j| j.table == ti).map(|j| j.size).sum())
        .collect();
    jobs.sort_by(|a, b| {
        (table_bytes[b.table], b.table, b.size).cmp(&(table_bytes[a.table], a.table, a.size))
    });
    progress(ImportProgress::Planned {
        files: jobs.len(),
        bytes: jobs.iter().map(|j| j.size).sum(),
    });

    let rejects_file = rejects_path(&options.out);
    let _ = std::fs::remove_file(&rejects_file);
    let rejects = Mutex::new(Rejects {
        path: rejects_file.clone(),
        writer: None,
        count: 0,
        first: None,
    });
    let states: Vec<write::TableState> = layout
        .tables
        .iter()
        .map(|t| write::TableState::new(t.spec))
        .collect();
    for job in &jobs {
        states[job.table].files_left.fetch_add(1, Ordering::Relaxed);
    }
    let counts: Vec<Mutex<TableCounts>> = layout
        .tables
        .iter()
        .map(|t| {
            Mutex::new(TableCounts {
                recoded: vec![0; t.columns.len()],
                ..Default::default()
            })
        })
        .collect();
    let source_files: Vec<usize> = (0..layout.tables.len())
        .map(|ti| jobs.iter().filter(|j| j.table == ti).count())
        .collect();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let stopped_for_rejects = AtomicBool::new(false);
    let failure: Mutex<Option<ImportError>> = Mutex::new(None);
    let total_rejected = AtomicU64::new(0);
    // Past this many rejects the layout is most likely wrong: stop reading.
    let give_up_after = options.max_rejects.saturating_add(1000);
    let threads = options.threads.clamp(1, jobs.len().max(1));
    let sort_memory = (options.sort_memory / threads).max(32 << 20);

    let worker = || {
        loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(job) = jobs.get(i) else {
                return;
            };
            let table = &layout.tables[job.table];
            let state = &states[job.table];
            let result = read_and_write(
                table,
                state,
                job,
                staging,
                sort_memory,
                &stop,
                &counts[job.table],
                &|r: Reject| -> Result<(), ImportError> {
                    rejects
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .add(table.spec.name, &r)?;
                    counts[job.table]
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .rejected += 1;
                    if total_rejected.fetch_add(1, Ordering::Relaxed) + 1 > give_up_after {
                        stopped_for_rejects.store(true, Ordering::Relaxed);
                        return Err(ImportError::Stopped);
                    }
                    Ok(())
                },
                progress,
            );
            if let Err(e) = result {
                stop.store(true, Ordering::Relaxed);
                if !matches!(e, ImportError::Stopped) {
                    let mut f = failure.lock().unwrap_or_else(|p| p.into_inner());
                    if f.is_none() {
                        *f = Some(e);
                    }
                }
                return;
            }
        }
    };
    std::thread::scope(|s| {
        for _ in 1..threads {
            s.spawn(worker);
        }
        worker();
    });
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let mut rejects = rejects.into_inner().unwrap_or_else(|p| p.into_inner());
    if let Some(w) = rejects.writer.as_mut() {
        w.flush().map_err(|source| ImportError::Io {
            action: "write",
            path: rejects.path.clone(),
            source,
        })?;
    }
    if rejects.count > options.max_rejects || stopped_for_rejects.load(Ordering::Relaxed) {
        return Err(ImportError::TooManyRejects {
            rejected: rejects.count,
            allowed: options.max_rejects,
            stopped: stopped_for_rejects.load(Ordering::Relaxed),
            first: rejects.first.clone().unwrap_or_default(),
            rejects: rejects.path.clone(),
        });
    }

    // The summary and dataset.json.
    let mut tables = Vec::new();
    let mut infos = BTreeMap::new();
    let mut written_by_table: Vec<(&'static TableSpec, write::Written)> = Vec::new();
    for (ti, t) in layout.tables.iter().enumerate() {
        let written = states[ti]
            .written
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let c = counts[ti].lock().unwrap_or_else(|p| p.into_inner());
        if written.files == 0 {
            return Err(ImportError::Source {
                file: t.files.clone(),
                line: 0,
                column: None,
                message: format!(
                    "the files hold no rows of {}: a table cannot be empty",
                    t.spec.name
                ),
            });
        }
        infos.insert(
            t.spec.name.to_string(),
            TableInfo {
                rows: written.rows,
                files: written.files,
            },
        );
        tables.push(TableSummary {
            name: t.spec.name,
            source_files: source_files[ti],
            rows_read: c.rows_read,
            rows_written: written.rows,
            rejected: c.rejected,
            sorted_after: written.sorted_after,
            recoded: t
                .columns
                .iter()
                .zip(&c.recoded)
                .filter(|(col, _)| col.codes.is_some())
                .map(|(col, n)| (col.name, *n))
                .collect(),
            null_share: t
                .spec
                .columns
                .iter()
                .zip(&written.nulls)
                .map(|(col, n)| (col.name, *n as f64 / written.rows.max(1) as f64))
                .collect(),
        });
        written_by_table.push((t.spec, written));
    }
    let (coverage, from_data) = match &layout.coverage {
        Some(c) => (c.clone(), false),
        None => (coverage_from_data(&written_by_table), true),
    };
    let info = DatasetInfo {
        dataset: layout
            .description
            .clone()
            .unwrap_or_else(|| "Data First family court - Cafcass extract".to_string()),
        coverage: coverage.clone(),
        generator: None,
        tables: infos,
    };
    let json =
        serde_json::to_string_pretty(&info).map_err(|e| ImportError::Internal(e.to_string()))?;
    let json_path = staging.join(DatasetInfo::FILE_NAME);
    std::fs::write(&json_path, json + "\n").map_err(|source| ImportError::Io {
        action: "write",
        path: json_path,
        source,
    })?;
    Ok(ImportSummary {
        out: options.out.clone(),
        tables,
        rejected: rejects.count,
        rejects_file: (rejects.count > 0).then(|| rejects.path.clone()),
        coverage,
        coverage_from_data: from_data,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Reads one source file into its Parquet file.
#[allow(clippy::too_many_arguments)]
fn read_and_write(
    table: &layout::TableLayout,
    state: &write::TableState,
    job: &Job,
    staging: &Path,
    sort_memory: usize,
    stop: &AtomicBool,
    counts: &Mutex<TableCounts>,
    on_reject: &dyn Fn(Reject) -> Result<(), ImportError>,
    progress: &(dyn Fn(ImportProgress) + Sync),
) -> Result<(), ImportError> {
    let out = staging
        .join(table.spec.name)
        .join(format!("part-{:05}.parquet", job.part));
    let mut sink = write::FileSink::create(state, out, &job.name)?;
    let mut read_counts = read::ReadCounts::default();
    let mut emit = |b: read::Batch| -> Result<(), ImportError> {
        if stop.load(Ordering::Relaxed) {
            return Err(ImportError::Stopped);
        }
        sink.push(b.batch, &b.lines, &mut |r| on_reject(r))
    };
    read::read_file(
        table,
        &job.path,
        &job.name,
        &mut read_counts,
        &mut emit,
        &mut |r| on_reject(r),
        &mut |n| progress(ImportProgress::Read(n)),
    )?;
    sink.finish(sort_memory)?;
    state.file_done();
    let mut c = counts.lock().unwrap_or_else(|p| p.into_inner());
    c.rows_read += read_counts.rows_read;
    for (i, n) in read_counts.recoded.iter().enumerate() {
        if let Some(slot) = c.recoded.get_mut(i) {
            *slot += n;
        }
    }
    Ok(())
}

/// Coverage windows read from the data, where the layout gives none: the court's from the first
/// case start to the latest date in any court table, Cafcass's from the first case received to
/// the latest date in any Cafcass table. A side with no table keeps the contract's window.
fn coverage_from_data(written: &[(&'static TableSpec, write::Written)]) -> Coverage {
    let mut coverage = Coverage::default();
    let side = |tables: &[&str], start: (&str, &str)| -> Option<Window> {
        let mut from = None;
        let mut to: Option<i32> = None;
        for (spec, w) in written {
            if !tables.contains(&spec.name) {
                continue;
            }
            for (i, c) in spec.columns.iter().enumerate() {
                if let Some((lo, hi)) = w.date_range[i] {
                    to = Some(to.map_or(hi, |t| t.max(hi)));
                    if spec.name == start.0 && c.name == start.1 {
                        from = Some(lo);
                    }
                }
            }
        }
        Some(Window {
            from: iso(from?),
            to: iso(to?),
        })
    };
    if let Some(w) = side(
        &["cases", "case_links", "events", "people", "persons"],
        ("cases", "start_date"),
    ) {
        coverage.family_court = w;
    }
    if let Some(w) = side(
        &["cafcass_cases", "cafcass_people", "cafcass_work"],
        ("cafcass_cases", "received_date"),
    ) {
        coverage.cafcass = w;
    }
    coverage
}

/// The tables a layout writes, for messages.
pub fn table_names(layout: &Layout) -> Vec<&'static str> {
    layout.tables.iter().map(|t| t.spec.name).collect()
}
