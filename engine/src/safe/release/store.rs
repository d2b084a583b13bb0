//! The release directory: a table and its report are written under a hidden name, logged, then
//! renamed, so that a crash at any point leaves either a logged release or nothing visible; the
//! next release finishes or discards what an interrupted one left ([`Store::open`]).

use super::cells::CellTable;
use super::refused;
use crate::safe::analyze::Analysis;
use crate::safe::log::{self, Entry, LogError, LoggedCell};
use crate::safe::report;
use crate::{EngineError, Result};
use datafusion::arrow::array::RecordBatch;
use fjq_udfs::disclosure::{Protection, Rules};
use std::path::{Path, PathBuf};

/// The release directory, opened for one release (the caller holds the releaser's lock).
pub(crate) struct Store {
    dir: PathBuf,
    /// The log's entries, verified.
    all: Vec<Entry>,
    /// The releases among them (not the exceptions recorded for them).
    pub previous: Vec<Entry>,
}

/// What one release wrote.
pub(crate) struct Written {
    pub id: String,
    pub dir: PathBuf,
    pub report: PathBuf,
}

/// Everything a release records.
pub(crate) struct Record<'a> {
    pub sql: &'a str,
    pub rules: &'a Rules,
    pub analysis: &'a Analysis,
    pub cells: &'a CellTable,
    pub logged: Vec<LoggedCell>,
    pub protection: &'a Protection,
    pub table: &'a RecordBatch,
    /// What was done to a survival curve (None for a table).
    pub curve: Option<&'a super::curve::CurveNote>,
}

fn io(action: &'static str, path: &Path, e: std::io::Error) -> EngineError {
    EngineError::io(action, path, e)
}

impl From<LogError> for EngineError {
    /// A log that cannot be read is a fault; one that cannot be trusted stops releases until an
    /// administrator has looked at it.
    fn from(e: LogError) -> Self {
        match e {
            LogError::Io { path, source } => {
                EngineError::io("read or write the release log", path, source)
            }
            other => refused(other.to_string()),
        }
    }
}

impl Store {
    /// Creates the directory if needed, reads and verifies the log, and finishes or discards
    /// what an interrupted release left behind.
    pub fn open(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|e| io("create the release directory", dir, e))?;
        let all = log::read(dir)?;
        recover_interrupted(dir, &all)?;
        let previous = all
            .iter()
            .filter(|e| e.exception.is_none())
            .cloned()
            .collect();
        Ok(Store {
            dir: dir.to_path_buf(),
            all,
            previous,
        })
    }

    /// Writes the table, its report and checksums, logs the release, and gives it its name.
    pub fn write(self, record: Record) -> Result<Written> {
        let number = self.previous.iter().map(|e| e.release).max().unwrap_or(0) + 1;
        let id = format!("release-{number:04}");
        let final_dir = self.dir.join(&id);
        if final_dir.exists() {
            return Err(refused(format!(
                "{} already exists but the release log does not list it; move it aside before releasing again",
                final_dir.display()
            )));
        }
        let staging = staging_dir(&self.dir, &id);
        let write_failed = |path: &Path, e| io("write the release at", path, e);
        std::fs::create_dir_all(&staging).map_err(|e| write_failed(&staging, e))?;
        let csv_path = staging.join("output_0.csv");
        {
            let file = std::fs::File::create(&csv_path).map_err(|e| write_failed(&csv_path, e))?;
            let mut writer = datafusion::arrow::csv::Writer::new(file);
            writer
                .write(record.table)
                .map_err(|e| write_failed(&csv_path, std::io::Error::other(e.to_string())))?;
        }
        let csv_sha = log::sha256_file(&csv_path).map_err(|e| write_failed(&csv_path, e))?;
        let report_path = report::write(
            &staging,
            &report::ReportInput {
                id: &id,
                query: record.sql,
                rules: record.rules,
                analysis: record.analysis,
                cells: record.cells,
                suppressed: &record.protection.suppressed,
                intervals: &record.protection.intervals,
                output_rows: record.table.num_rows(),
                files: vec![("output_0.csv".to_string(), csv_sha.clone())],
                method: record.protection.method,
                curve: record.curve,
            },
        )
        .map_err(|e| write_failed(&staging, e))?;
        let report_sha =
            log::sha256_file(&report_path).map_err(|e| write_failed(&report_path, e))?;
        let report_checksum = staging.join("checksums").join("results.json.txt");
        std::fs::write(&report_checksum, &report_sha)
            .map_err(|e| write_failed(&report_checksum, e))?;
        let cells = record.cells;
        let entry = Entry {
            release: number,
            id: id.clone(),
            timestamp: fjq_contract::calendar::now_iso(),
            query: record.sql.to_string(),
            rules: record.rules.clone(),
            population: record.analysis.population.clone(),
            base: record.analysis.base.clone(),
            dimensions: cells.dimensions.clone(),
            additive: cells.additive_names.clone(),
            exact: cells.exact.clone(),
            cells: record.logged,
            files: vec![
                ("output_0.csv".to_string(), csv_sha),
                ("results.json".to_string(), report_sha),
            ],
            exception: None,
            prev_hash: String::new(),
            hash: String::new(),
        };
        log::append(&self.dir, &self.all, entry)?;
        std::fs::rename(&staging, &final_dir).map_err(|e| write_failed(&final_dir, e))?;
        Ok(Written {
            id,
            report: final_dir.join(report::REPORT_FILE),
            dir: final_dir,
        })
    }
}

impl Store {
    /// Records the researcher's exception for release `id`: its report's `exception` is set to
    /// `reason` (ACRO's `add_exception`), its checksum rewritten, and the change logged.
    pub fn record_exception(self, id: &str, reason: &str) -> Result<()> {
        let Some(release) = self.previous.iter().find(|e| e.id == id) else {
            let ids: Vec<&str> = self.previous.iter().map(|e| e.id.as_str()).collect();
            return Err(EngineError::Invalid(format!(
                "no release {id} in {}; {}",
                self.dir.display(),
                if ids.is_empty() {
                    "nothing has been released there yet".to_string()
                } else {
                    format!("its releases are {}", ids.join(", "))
                }
            )));
        };
        let folder = self.dir.join(id);
        let path = folder.join(report::REPORT_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| io("read the report", &path, e))?;
        let mut report: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            refused(format!(
                "{} is not a report fjq wrote ({e}); it may have been edited",
                path.display()
            ))
        })?;
        let Some(outputs) = report["results"].as_object_mut() else {
            return Err(refused(format!("{} has no results", path.display())));
        };
        // The same exception again (a function called once per row, say) changes nothing.
        if outputs.values().all(|o| o["exception"] == reason) {
            return Ok(());
        }
        for output in outputs.values_mut() {
            if output["status"] != "review" {
                return Err(EngineError::Invalid(format!(
                    "{id} passed the rules (status {}): an exception is the case for an output in review, and this one needs none",
                    output["status"]
                )));
            }
            output["exception"] = serde_json::Value::String(reason.to_string());
        }
        let staged = folder.join(format!(".{}.partial", report::REPORT_FILE));
        let body = serde_json::to_string_pretty(&report).expect("json");
        std::fs::write(&staged, body).map_err(|e| io("write the report", &staged, e))?;
        std::fs::rename(&staged, &path).map_err(|e| io("write the report", &path, e))?;
        let sha = log::sha256_file(&path).map_err(|e| io("read the report", &path, e))?;
        let checksum = folder.join("checksums").join("results.json.txt");
        std::fs::write(&checksum, &sha).map_err(|e| io("write the checksum", &checksum, e))?;
        let entry = Entry {
            release: release.release,
            id: id.to_string(),
            timestamp: fjq_contract::calendar::now_iso(),
            query: String::new(),
            rules: release.rules.clone(),
            population: String::new(),
            base: String::new(),
            dimensions: Vec::new(),
            additive: Vec::new(),
            exact: Vec::new(),
            cells: Vec::new(),
            files: vec![(report::REPORT_FILE.to_string(), sha)],
            exception: Some(reason.to_string()),
            prev_hash: String::new(),
            hash: String::new(),
        };
        log::append(&self.dir, &self.all, entry)?;
        Ok(())
    }
}

fn staging_dir(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!(".{id}.partial"))
}

/// Finishes or discards what an interrupted release left behind. A release whose log line was
/// written is complete: its files take their final name. One whose line was not written never
/// happened: its files are removed, so nothing unlogged can leave the release directory.
fn recover_interrupted(dir: &Path, logged: &[Entry]) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| io("read the release directory", dir, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(id) = name
            .strip_prefix('.')
            .and_then(|n| n.strip_suffix(".partial"))
        else {
            continue;
        };
        let path = entry.path();
        let target = dir.join(id);
        if logged.iter().any(|e| e.id == id) && !target.exists() {
            std::fs::rename(&path, &target)
                .map_err(|e| io("finish the interrupted release at", &target, e))?;
        } else {
            std::fs::remove_dir_all(&path)
                .map_err(|e| io("remove the interrupted release at", &path, e))?;
        }
    }
    Ok(())
}
