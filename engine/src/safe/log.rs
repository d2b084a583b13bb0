//! The release log: one JSON line per released table (or per exception recorded for one),
//! append-only, hash-chained.
//!
//! Each entry carries the query, the rules in force, the table's population, dimensions and
//! measures, every cell (key, values, whether published, which rules it failed) and the files
//! released with their SHA-256. `prev_hash` is the previous entry's `hash`; `hash` is the SHA-256
//! of the previous hash and the entry's canonical JSON without its own hash, so changing,
//! removing or reordering any line breaks the chain from there on, and reading the log says
//! where. The log keeps suppressed cells' true values (the differencing check needs them), so
//! it is as confidential as the data and stays inside the environment; the reports that leave
//! carry only published values and intervals.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

pub const LOG_FILE: &str = "release-log.jsonl";
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One cell as logged.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LoggedCell {
    /// One value per dimension as text; None where the cell is the total over it.
    pub key: Vec<Option<String>>,
    /// The additive measures' true values (counts and sums), in `additive` order.
    pub values: Vec<f64>,
    pub published: bool,
    pub primary: bool,
    pub small: bool,
    pub zero: bool,
    /// The rules the cell failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub release: u64,
    pub id: String,
    pub timestamp: String,
    pub query: String,
    pub rules: fjq_udfs::disclosure::Rules,
    pub population: String,
    /// The population without its WHERE, to compare tables that differ only in their filter.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub base: String,
    pub dimensions: Vec<String>,
    /// The additive measures' names (the equations of differencing are over these).
    pub additive: Vec<String>,
    /// Per additive measure: whether margins are exact sums (false for distinct counts).
    #[serde(default)]
    pub exact: Vec<bool>,
    pub cells: Vec<LoggedCell>,
    /// Released files and their SHA-256.
    pub files: Vec<(String, String)>,
    /// Set on an entry that records the researcher's exception for release `id` (its
    /// `results.json` rewritten with the reason, whose new SHA-256 is in `files`) rather than a
    /// release. Absent otherwise, so entries written before exceptions existed hash as they did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception: Option<String>,
    pub prev_hash: String,
    #[serde(default)]
    pub hash: String,
}

impl Entry {
    fn compute_hash(&self) -> String {
        let mut unhashed = self.clone();
        unhashed.hash = String::new();
        let body = serde_json::to_string(&unhashed).expect("entries serialise");
        let mut h = Sha256::new();
        h.update(self.prev_hash.as_bytes());
        h.update(body.as_bytes());
        format!("{:x}", h.finalize())
    }
}

pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    Ok(format!("{:x}", Sha256::digest(&bytes)))
}

/// Why the log cannot be trusted or read.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error(
        "release log {path}: line {line} is not a valid entry ({message}); the log may have been edited or a write was cut short"
    )]
    Corrupt {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error(
        "release log {path}: the hash chain breaks at line {line} (release {release}); the log has been changed since it was written"
    )]
    Tampered {
        path: PathBuf,
        line: usize,
        release: u64,
    },
    #[error("release log {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Reads and verifies the whole log; an absent log is empty.
pub fn read(dir: &Path) -> Result<Vec<Entry>, LogError> {
    let path = dir.join(LOG_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(LogError::Io { path, source }),
    };
    let mut entries: Vec<Entry> = Vec::new();
    let mut prev = GENESIS.to_string();
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let complete = line.ends_with('\n');
        let line_text = line.trim_end();
        if line_text.is_empty() {
            continue;
        }
        let entry: Entry = serde_json::from_str(line_text).map_err(|e| LogError::Corrupt {
            path: path.clone(),
            line: i + 1,
            message: if complete {
                e.to_string()
            } else {
                format!("the last line is incomplete: {e}")
            },
        })?;
        if entry.prev_hash != prev || entry.compute_hash() != entry.hash {
            return Err(LogError::Tampered {
                path,
                line: i + 1,
                release: entry.release,
            });
        }
        prev = entry.hash.clone();
        entries.push(entry);
    }
    Ok(entries)
}

/// Appends an entry (numbered, chained and hashed here) with one write, flushed to disk.
pub fn append(dir: &Path, previous: &[Entry], mut entry: Entry) -> Result<Entry, LogError> {
    let path = dir.join(LOG_FILE);
    entry.prev_hash = previous
        .last()
        .map(|e| e.hash.clone())
        .unwrap_or_else(|| GENESIS.to_string());
    entry.hash = entry.compute_hash();
    let mut line = serde_json::to_string(&entry).expect("entries serialise");
    line.push('\n');
    let io = |source| LogError::Io {
        path: path.clone(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io)?;
    file.write_all(line.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fjq_udfs::disclosure::{Endpoints, Rules};

    fn entry(rules: Rules) -> Entry {
        Entry {
            release: 1,
            id: "release-0001".into(),
            timestamp: "2026-11-30T00:00:00Z".into(),
            query: "SELECT region, count(*) AS n FROM t GROUP BY region".into(),
            rules,
            population: String::new(),
            base: String::new(),
            dimensions: vec!["region".into()],
            additive: vec!["count(*)".into()],
            exact: vec![true],
            cells: Vec::new(),
            files: Vec::new(),
            exception: None,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    /// A log line written before `endpoints` was a rule (its text has no such key) must still
    /// verify: the default is not serialised, so the entry hashes as it did then.
    #[test]
    fn a_log_written_before_a_rule_existed_still_verifies() {
        let dir = std::env::temp_dir().join(format!("fjq-log-compat-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let written = append(&dir, &[], entry(Rules::default())).unwrap();
        let text = std::fs::read_to_string(dir.join(LOG_FILE)).unwrap();
        assert!(!text.contains("endpoints"), "{text}");
        let read = read(&dir).unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].hash, written.hash);
        // A release made with endpoints allowed records it, and verifies too.
        let review = Rules {
            endpoints: Endpoints::Review,
            ..Rules::default()
        };
        append(&dir, &read, entry(review)).unwrap();
        let text = std::fs::read_to_string(dir.join(LOG_FILE)).unwrap();
        assert!(text.contains("\"endpoints\":\"review\""), "{text}");
        assert_eq!(super::read(&dir).unwrap().len(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
