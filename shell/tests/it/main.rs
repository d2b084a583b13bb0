//! The real `fjq` binary, driven as a user would: the README's research queries, batch mode's
//! formats and exit codes, standard input, and `fjq generate`.

mod batch;
mod docs;
mod flight;
mod generate;
mod import;
mod interactive;
mod readme;
mod snapshots;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

pub fn scratch(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

/// A cache directory shared by this run's tests, so the default sample is written once.
pub fn cache_dir() -> &'static Path {
    static CELL: OnceLock<PathBuf> = OnceLock::new();
    CELL.get_or_init(|| {
        let dir = scratch("shell-cache");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("cache dir");
        dir
    })
}

/// Writes the default sample into the shared cache once, before tests that need it at once
/// (an interactive session should not wait for it behind its prompt).
pub fn ensure_sample() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let o = run(&["-c", "SELECT 1"]);
        assert!(o.status.success(), "{}", stderr(&o));
    });
}

/// `fjq` with an isolated cache and history.
pub fn fjq() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fjq"));
    c.env("FJQ_CACHE_DIR", cache_dir())
        .env("FJQ_HISTORY", scratch("shell-history"))
        .stdin(Stdio::null());
    c
}

pub fn run(args: &[&str]) -> Output {
    fjq().args(args).output().expect("fjq runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Rows of a `--format json` result.
pub fn json_rows(o: &Output) -> Vec<serde_json::Map<String, serde_json::Value>> {
    assert!(o.status.success(), "fjq failed: {}", stderr(o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(o)));
    v.as_array()
        .expect("a JSON array")
        .iter()
        .map(|r| r.as_object().expect("row object").clone())
        .collect()
}

/// The default sample's folder, as fjq writes it to its cache (not to be changed).
pub fn sample_dir() -> std::path::PathBuf {
    ensure_sample();
    std::fs::read_dir(cache_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("sample-")
        })
        .expect("the default sample in the cache")
}

/// A copy of the default sample that a test may damage.
pub fn sample_copy(name: &str) -> std::path::PathBuf {
    let sample = sample_dir();
    let copy = scratch(name);
    let _ = std::fs::remove_dir_all(&copy);
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(&sample)
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    copy
}

/// Scrambles the middle of a Parquet file's data pages, leaving its footer readable.
pub fn scramble(file: &std::path::Path) {
    let mut bytes = std::fs::read(file).unwrap();
    let n = bytes.len();
    for b in &mut bytes[n / 4..n / 2] {
        *b = b.wrapping_mul(7).wrapping_add(13);
    }
    std::fs::write(file, &bytes).unwrap();
}

pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A scratch directory, emptied.
pub fn empty_scratch(name: &str) -> std::path::PathBuf {
    let dir = scratch(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
