//! The line a long query shows while it runs: after a second, how much of its input it has read
//! (bytes of the Parquet column chunks its scans read, out of those they would read if no row
//! group were skipped), updated in place on standard error and cleared before the result
//! prints. Only on a terminal; never in pipes.
//!
//! The running plan is published by [`crate::exec`] in a [`Running`] slot; the bar reads the
//! scans' live `bytes_scanned` counters from it, so the query itself does no extra work.

use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_plan::ExecutionPlan;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The physical plan of the statement running now, if any.
pub type Running = Arc<Mutex<Option<Arc<dyn ExecutionPlan>>>>;

/// The Parquet files a plan's scans read, each with the columns they read from it.
fn scanned_files(plan: &Arc<dyn ExecutionPlan>, files: &mut BTreeMap<String, Vec<String>>) {
    if let Some(exec) = plan.downcast_ref::<DataSourceExec>()
        && let Some(config) = exec.data_source().downcast_ref::<FileScanConfig>()
    {
        let schema = config.file_schema();
        let columns: Vec<String> = match config.file_source.projection() {
            Some(p) => p
                .column_indices()
                .into_iter()
                .filter(|&i| i < schema.fields().len())
                .map(|i| schema.field(i).name().clone())
                .collect(),
            None => schema.fields().iter().map(|f| f.name().clone()).collect(),
        };
        for group in &config.file_groups {
            for file in group.iter() {
                let path = format!("/{}", file.object_meta.location);
                files
                    .entry(path)
                    .or_default()
                    .extend(columns.iter().cloned());
            }
        }
    }
    for child in plan.children() {
        scanned_files(child, files);
    }
}

/// The compressed bytes of the column chunks a plan's scans would read, from the files' footers.
fn input_bytes(plan: &Arc<dyn ExecutionPlan>) -> u64 {
    use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
    let mut files = BTreeMap::new();
    scanned_files(plan, &mut files);
    let mut total = 0u64;
    for (path, columns) in files {
        let Ok(file) = std::fs::File::open(&path) else {
            continue;
        };
        let Ok(reader) = SerializedFileReader::new(file) else {
            continue;
        };
        for row_group in reader.metadata().row_groups() {
            for chunk in row_group.columns() {
                let top = chunk
                    .column_path()
                    .parts()
                    .first()
                    .cloned()
                    .unwrap_or_default();
                if columns.contains(&top) {
                    total += chunk.compressed_size().max(0) as u64;
                }
            }
        }
    }
    total
}

/// The bytes the plan's scans have read so far.
fn bytes_read(plan: &Arc<dyn ExecutionPlan>) -> u64 {
    let own = if plan.downcast_ref::<DataSourceExec>().is_some() {
        plan.metrics()
            .and_then(|m| m.sum_by_name("bytes_scanned"))
            .map_or(0, |v| v.as_usize() as u64)
    } else {
        0
    };
    own + plan.children().iter().map(|c| bytes_read(c)).sum::<u64>()
}

/// The progress line of one statement; [`Progress::stop`] clears it.
pub struct Progress {
    done: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    /// Starts the line: nothing for a second, then the input read (or a spinner while no scan
    /// is known, e.g. during planning or an export).
    pub fn start(running: Option<Running>) -> Progress {
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let task = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if flag.load(Ordering::Relaxed) {
                return;
            }
            let bar = indicatif::ProgressBar::new_spinner().with_elapsed(Duration::from_secs(1));
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} running for {elapsed} (Ctrl-C cancels)",
                )
                .expect("valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(100));
            let mut measured: Option<(Arc<dyn ExecutionPlan>, u64)> = None;
            while !flag.load(Ordering::Relaxed) {
                if measured.is_none()
                    && let Some(plan) = running
                        .as_ref()
                        .and_then(|r| r.lock().ok().and_then(|p| p.clone()))
                {
                    let for_footers = plan.clone();
                    let total = tokio::task::spawn_blocking(move || input_bytes(&for_footers))
                        .await
                        .unwrap_or(0);
                    if total > 0 {
                        bar.set_length(total);
                        bar.set_style(
                            indicatif::ProgressStyle::with_template(
                                "{bar:30} {percent:>3}% of the input read ({bytes} of {total_bytes}), {elapsed} (Ctrl-C cancels)",
                            )
                            .expect("valid template"),
                        );
                    }
                    measured = Some((plan, total));
                }
                if let Some((plan, total)) = &measured
                    && *total > 0
                {
                    bar.set_position(bytes_read(plan).min(*total));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            bar.finish_and_clear();
        });
        Progress { done, task }
    }

    pub fn stop(self) {
        self.done.store(true, Ordering::Relaxed);
        // Wait (briefly) for the line to clear before results are printed.
        let task = self.task;
        let deadline = std::time::Instant::now() + Duration::from_millis(300);
        while !task.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
