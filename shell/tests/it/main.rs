//! The real `fjq` binary, driven as a user would: the README's research queries, batch mode's
//! formats and exit codes, standard input, and `fjq generate`.

mod batch;
mod flight;
mod generate;
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
