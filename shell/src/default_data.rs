//! The embedded default dataset: a small synthetic sample that `fjq` writes once to the user's
//! cache directory and reuses, so that `fjq` with no arguments opens on data at once.
//!
//! The sample is written to a temporary folder and renamed into place, so an interrupted first
//! run or two shells starting at once never leave a half-written dataset behind.

use anyhow::Context;
use fjq_sample_data::{
    DEFAULT_SAMPLE_SCALE, DEFAULT_SEED, DatasetInfo, GENERATOR_VERSION, Options,
};
use std::path::PathBuf;

/// Where fjq keeps its cache: `$FJQ_CACHE_DIR`, else `$XDG_CACHE_HOME/fjq`, else `~/.cache/fjq`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FJQ_CACHE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("fjq");
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(home) => PathBuf::from(home).join(".cache").join("fjq"),
        None => std::env::temp_dir().join("fjq-cache"),
    }
}

/// The default sample's directory, written first if it is not there yet.
pub fn ensure() -> anyhow::Result<PathBuf> {
    let base = cache_dir();
    let dir = base.join(format!(
        "sample-v{GENERATOR_VERSION}-scale{DEFAULT_SAMPLE_SCALE}-seed{DEFAULT_SEED}"
    ));
    if dir.join(DatasetInfo::FILE_NAME).is_file() {
        return Ok(dir);
    }
    std::fs::create_dir_all(&base)
        .with_context(|| format!("creating the cache directory {}", base.display()))?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let tmp = base.join(format!(".writing-{}-{nanos}", std::process::id()));
    eprintln!(
        "fjq: writing the default sample dataset to {} (once)",
        dir.display()
    );
    let options = Options {
        scale: DEFAULT_SAMPLE_SCALE,
        seed: DEFAULT_SEED,
        out: tmp.clone(),
        threads: None,
        cases_per_file: None,
    };
    let written = fjq_sample_data::generate(&options, &|_| {});
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e).context("writing the default sample dataset");
    }
    if std::fs::rename(&tmp, &dir).is_err() {
        // Another fjq finished first: use its copy.
        let _ = std::fs::remove_dir_all(&tmp);
        if !dir.join(DatasetInfo::FILE_NAME).is_file() {
            anyhow::bail!("could not move the default sample into {}", dir.display());
        }
    }
    Ok(dir)
}
