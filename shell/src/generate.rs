//! `fjq generate`: writes a synthetic dataset with a progress bar, then a summary of what it wrote.

use anyhow::Context;
use fjq_sample_data::{Options, Progress, Summary, generate};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;

pub struct GenerateArgs {
    pub scale: f64,
    pub seed: u64,
    pub out: PathBuf,
    pub quiet: bool,
    /// Where to write the dataset again as a delimited export, and the layout it follows.
    pub export: Option<(PathBuf, String)>,
}

pub fn run(args: &GenerateArgs) -> anyhow::Result<Summary> {
    let bar = progress_bar(
        args.quiet,
        "{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} parts  {msg}",
    );
    let on_progress = |p: Progress| match p {
        Progress::Phase(name) => bar.set_message(name),
        Progress::FilesPlanned(n) => bar.set_length(n as u64),
        Progress::FileWritten { table, rows } => {
            bar.inc(1);
            bar.set_message(format!("{table}: {rows} rows"));
        }
    };
    let options = Options {
        scale: args.scale,
        seed: args.seed,
        out: args.out.clone(),
        threads: None,
        cases_per_file: None,
    };
    let summary = generate(&options, &on_progress)
        .with_context(|| format!("generating a dataset into {}", args.out.display()))?;
    if let Some((dir, layout)) = &args.export {
        bar.set_message(format!("exporting into {}", dir.display()));
        let layout =
            fjq_engine::import::layout::Layout::load(layout).map_err(anyhow::Error::msg)?;
        fjq_engine::import::export::export(&layout, &args.out, dir, EXPORT_STAMP).map_err(|e| {
            anyhow::Error::msg(format!("exporting the dataset into {}: {e}", dir.display()))
        })?;
    }
    bar.finish_and_clear();
    Ok(summary)
}

/// The date in the export's file names: the family court extract's end, as SAIL names its tables.
const EXPORT_STAMP: &str = "20210131";

/// A progress bar on stderr, and only when stderr is a terminal: never into pipes or logs.
pub fn progress_bar(quiet: bool, template: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(0),
        if quiet || !std::io::stderr().is_terminal() {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        },
    );
    bar.set_style(
        ProgressStyle::with_template(template)
            .expect("valid progress template")
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// The summary table printed after generation.
pub fn render_summary(summary: &Summary) -> String {
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
    table.set_header(["table", "rows", "files", "MB"]);
    let (mut rows, mut bytes) = (0u64, 0u64);
    for t in &summary.tables {
        table.add_row([
            t.name.clone(),
            thousands(t.rows),
            t.files.to_string(),
            format!("{:.1}", t.bytes as f64 / 1e6),
        ]);
        rows += t.rows;
        bytes += t.bytes;
    }
    for i in 1..4 {
        if let Some(c) = table.column_mut(i) {
            c.set_cell_alignment(comfy_table::CellAlignment::Right);
        }
    }
    format!(
        "{table}\nWrote {} rows ({:.1} MB) to {} in {:.2} s\n",
        thousands(rows),
        bytes as f64 / 1e6,
        summary.out.display(),
        summary.seconds
    )
}

pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}
