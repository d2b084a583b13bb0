//! `fjq import`: reads a secure environment's delimited exports through a layout file and writes
//! a dataset fjq opens, with a progress bar on a terminal and a summary at the end.

use crate::generate::{progress_bar, thousands};
use fjq_engine::import::{self, ImportOptions, ImportProgress, ImportSummary, layout::Layout};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// The layout file (TOML) mapping the source files to the contract, or a shipped layout:
    /// sail-del (Db2 DEL exports with SAIL names) or fjq-csv (CSV with fjq's own names).
    #[arg(long, value_name = "LAYOUT")]
    pub layout: String,
    /// The folder holding the exported files.
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    /// The dataset folder to create (it must not exist; it appears only if the import succeeds).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// How many rows may be rejected (written to OUT.rejects.csv) before the import fails.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_rejects: u64,
    /// Memory for sorting files whose rows arrive out of order (spills to disk beyond it).
    #[arg(long, value_name = "SIZE", default_value = "512M")]
    pub sort_memory: String,
    /// No progress bar and no summary.
    #[arg(long)]
    pub quiet: bool,
}

pub fn run(args: &ImportArgs) -> anyhow::Result<ImportSummary> {
    let layout = Layout::load(&args.layout).map_err(anyhow::Error::msg)?;
    let sort_memory = fjq_engine::parse_memory_size(&args.sort_memory)?;
    let bar = progress_bar(
        args.quiet,
        "{spinner} {elapsed_precise} [{bar:30}] {binary_bytes}/{binary_total_bytes} {msg}",
    );
    let on_progress = |p: ImportProgress| match p {
        ImportProgress::Planned { files, bytes } => {
            bar.set_length(bytes);
            bar.set_message(format!("{files} files"));
        }
        ImportProgress::Read(n) => bar.inc(n),
    };
    let options = ImportOptions {
        layout,
        from: args.from.clone(),
        out: args.out.clone(),
        max_rejects: args.max_rejects,
        threads: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
        sort_memory,
    };
    let result = import::run(&options, &on_progress);
    bar.finish_and_clear();
    // The message already ends with its cause: no chain of sources after it.
    result.map_err(|e| anyhow::Error::msg(e.to_string()))
}

/// The summary printed after an import: rows per table, then per column the codes recoded and
/// the share of NULLs.
pub fn render_summary(summary: &ImportSummary) -> String {
    let mut tables = comfy_table::Table::new();
    tables.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
    tables.set_header([
        "table",
        "files",
        "rows read",
        "written",
        "rejected",
        "sorted",
    ]);
    let mut columns = comfy_table::Table::new();
    columns.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
    columns.set_header(["table", "column", "NULL", "codes recoded"]);
    let (mut read, mut written) = (0, 0);
    for t in &summary.tables {
        tables.add_row([
            t.name.to_string(),
            t.source_files.to_string(),
            thousands(t.rows_read),
            thousands(t.rows_written),
            thousands(t.rejected),
            if t.sorted_after == 0 {
                "as read".to_string()
            } else {
                format!("{} file(s) sorted", t.sorted_after)
            },
        ]);
        read += t.rows_read;
        written += t.rows_written;
        for (name, share) in &t.null_share {
            let recoded = t
                .recoded
                .iter()
                .find(|(c, _)| c == name)
                .map(|(_, n)| thousands(*n))
                .unwrap_or_default();
            if *share > 0.0 || !recoded.is_empty() {
                columns.add_row([
                    t.name.to_string(),
                    name.to_string(),
                    format!("{:.1}%", share * 100.0),
                    recoded,
                ]);
            }
        }
    }
    for table in [&mut tables, &mut columns] {
        for i in 1..6 {
            if let Some(c) = table.column_mut(i) {
                c.set_cell_alignment(comfy_table::CellAlignment::Right);
            }
        }
    }
    if let Some(c) = columns.column_mut(1) {
        c.set_cell_alignment(comfy_table::CellAlignment::Left);
    }
    let c = &summary.coverage;
    let mut out = format!(
        "{tables}\nColumns with NULLs or recoded codes:\n{columns}\nCoverage{}: family court {} to {}, Cafcass {} to {}\n",
        if summary.coverage_from_data {
            " (from the data)"
        } else {
            " (from the layout)"
        },
        c.family_court.from,
        c.family_court.to,
        c.cafcass.from,
        c.cafcass.to
    );
    if let Some(path) = &summary.rejects_file {
        out.push_str(&format!(
            "{} {} rejected (within --max-rejects): see {}\n",
            thousands(summary.rejected),
            if summary.rejected == 1 { "row" } else { "rows" },
            path.display()
        ));
    }
    out.push_str(&format!(
        "Imported {} of {} rows into {} in {:.2} s\n",
        thousands(written),
        thousands(read),
        summary.out.display(),
        summary.seconds
    ));
    out
}
