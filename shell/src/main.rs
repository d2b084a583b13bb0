//! The `fjq` binary: the interactive shell, batch mode and the generator, over fjq's engine.
//!
//! This crate holds front ends only; every query goes through `fjq_engine::Engine`. The binary
//! owns error reporting and exit codes: 0 success, 1 usage or start-up failure, 3 a failed
//! statement (as psql does).

mod batch;
mod command;
mod completion;
mod default_data;
mod describe;
mod exec;
mod generate;
mod import;
mod pager;
mod plot;
mod print;
mod progress;
mod reference;
mod repl;
mod serve;

use anyhow::Context;
use clap::{Parser, Subcommand};
use fjq_engine::{Engine, EngineConfig};
use print::Format;
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

pub(crate) const EXIT_STARTUP: u8 = 1;
pub(crate) const EXIT_STATEMENT: u8 = 3;

#[derive(Parser, Debug)]
#[command(
    name = "fjq",
    version,
    about = "SQL for the Data First family court - Cafcass linked dataset",
    long_about = "SQL for the Data First family court - Cafcass linked dataset.\n\n\
        With no arguments, opens an interactive shell on the default synthetic sample.\n\
        With -c or -f (or SQL on standard input), runs the statements and exits.",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    /// Data directory (one folder per table and a dataset.json); default: the built-in sample.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,

    /// SQL to run (repeatable); runs before any -f file.
    #[arg(short = 'c', long = "command", value_name = "SQL")]
    commands: Vec<String>,

    /// SQL file to run (repeatable).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    files: Vec<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,

    /// Write results to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,

    /// Print results only: no row counts.
    #[arg(long, short = 'q')]
    quiet: bool,

    /// Memory limit for queries, e.g. 512M or 2G; beyond it operators spill to disk.
    #[arg(long, value_name = "SIZE")]
    memory_limit: Option<String>,

    /// Rows shown in table format (all rows are still counted).
    #[arg(long, default_value_t = 40, value_name = "N")]
    maxrows: usize,

    /// Also register the generator's ground truth (`_truth/`) as schema `truth` (synthetic data only).
    #[arg(long)]
    truth: bool,

    /// Print each statement's time on standard error (`Time: 12.345 ms`, as psql's \\timing).
    #[arg(long)]
    timing: bool,

    /// Keep going after a failed statement (the exit code is still 3 if any failed).
    #[arg(long)]
    continue_on_error: bool,

    /// Disclosure policy: `open` returns every result; `safe` refuses row-level results and
    /// releases aggregates through disclosure control (design/DISCLOSURE.md).
    #[arg(long, default_value = "open", value_name = "open|safe")]
    policy: fjq_engine::Policy,

    /// Where safe releases (\safe, safe_table, --policy safe) and their log are written.
    #[arg(long, value_name = "DIR", default_value = "fjq-releases")]
    release_dir: PathBuf,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write a synthetic dataset (Parquet tables, dataset.json, _truth/).
    Generate {
        /// 1.0 is the full England and Wales volume (about 2.6 million cases).
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        #[arg(long, default_value_t = fjq_sample_data::DEFAULT_SEED)]
        seed: u64,
        /// Output directory (created; a previous dataset there is replaced).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// No progress bar and no summary.
        #[arg(long)]
        quiet: bool,
        /// Also write the dataset as a delimited export into DIR, as a secure environment's
        /// database would (the files `fjq import` reads; by default SAIL-style Db2 DEL).
        #[arg(long, value_name = "DIR")]
        export: Option<PathBuf>,
        /// The layout the export follows: sail-del, fjq-csv or a layout file.
        #[arg(
            long,
            value_name = "LAYOUT",
            default_value = "sail-del",
            requires = "export"
        )]
        export_layout: String,
    },
    /// Import a secure environment's delimited exports (Db2 DEL or CSV) through a layout file.
    Import(import::ImportArgs),
    /// Serve the dataset over Arrow Flight SQL (pyarrow, ADBC) to notebooks.
    Serve(serve::ServeArgs),
    /// Manage the users of `fjq serve`.
    User(serve::UserArgs),
    /// Print a part of the reference in Markdown (what docs/ holds).
    Reference {
        #[arg(value_enum)]
        which: reference::Reference,
    },
}

/// The command line's definition, for the generated reference (docs/INTERFACES.md).
pub fn cli_command() -> clap::Command {
    use clap::CommandFactory;
    Cli::command()
}

fn main() -> ExitCode {
    tune_malloc();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(EXIT_STARTUP),
            };
        }
    };
    match cli.command {
        Some(Command::Generate {
            scale,
            seed,
            ref out,
            quiet,
            ref export,
            ref export_layout,
        }) => {
            match generate::run(&generate::GenerateArgs {
                scale,
                seed,
                out: out.clone(),
                quiet,
                export: export.clone().map(|dir| (dir, export_layout.clone())),
            }) {
                Ok(summary) => {
                    if !quiet {
                        print!("{}", generate::render_summary(&summary));
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("fjq: {e:#}");
                    ExitCode::from(EXIT_STARTUP)
                }
            }
        }
        Some(Command::Import(ref args)) => match import::run(args) {
            Ok(summary) => {
                if !args.quiet {
                    print!("{}", import::render_summary(&summary));
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("fjq: {e:#}");
                ExitCode::from(EXIT_STARTUP)
            }
        },
        Some(Command::Reference { which }) => {
            print!("{}", reference::render(which));
            ExitCode::SUCCESS
        }
        Some(Command::User(ref args)) => match serve::user(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("fjq: {e:#}");
                ExitCode::from(EXIT_STARTUP)
            }
        },
        Some(Command::Serve(args)) => {
            let Some(runtime) = runtime() else {
                return ExitCode::from(EXIT_STARTUP);
            };
            let result = runtime.block_on(serve::serve(args));
            runtime.shutdown_background();
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("fjq: {e:#}");
                    ExitCode::from(EXIT_STARTUP)
                }
            }
        }
        None => {
            let Some(runtime) = runtime() else {
                return ExitCode::from(EXIT_STARTUP);
            };
            let code = runtime.block_on(run(cli));
            // Don't wait for the worker tasks of a query the user cancelled: they stop at their
            // next yield, and the process is leaving anyway.
            runtime.shutdown_background();
            code
        }
    }
}

/// Sets glibc's malloc up for a query engine, before any thread starts: one arena per core,
/// and large buffers kept for reuse rather than given back to the system at once.
///
/// glibc gives each thread that allocates while the others hold their arenas an arena of its
/// own, up to eight per core, and keeps what is freed in each. A query's buffers are made on
/// one thread (the runtime's file readers, its workers) and freed on another, so sixteen arenas
/// on two cores each held their own high-water mark: Kaplan-Meier peaked at 177-201 MB with
/// them and at 146-149 MB with two, the linkage query at 283-288 MB against 223-233, in the same
/// time (docs/DECISIONS.md, "One malloc arena per core").
///
/// glibc maps a buffer of more than 32 MB (less, at first) afresh and unmaps it when freed, and
/// gives freed memory at the top of a heap back once 64 MB of it is free; the next query's
/// buffers then fault in pages the kernel must clear again (a sixth of the crosstab's profile).
/// Buffers of up to 512 MB now come from the arenas, which keep up to 1 GB free before giving
/// any back (docs/DECISIONS.md, "Large buffers kept for reuse"). A user's own `MALLOC_*_`
/// variables or `glibc.malloc.*` tunables win, each for its own parameter.
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let set_by_user = |variable: &str, tunable: &str| {
            std::env::var_os(variable).is_some()
                || std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains(tunable))
        };
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let settings = [
            (
                "MALLOC_ARENA_MAX",
                "glibc.malloc.arena_max",
                libc::M_ARENA_MAX,
                libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX),
            ),
            (
                "MALLOC_MMAP_THRESHOLD_",
                "glibc.malloc.mmap_threshold",
                libc::M_MMAP_THRESHOLD,
                512 << 20,
            ),
            (
                "MALLOC_TRIM_THRESHOLD_",
                "glibc.malloc.trim_threshold",
                libc::M_TRIM_THRESHOLD,
                1 << 30,
            ),
        ];
        for (variable, tunable, parameter, value) in settings {
            if !set_by_user(variable, tunable) {
                // SAFETY: mallopt sets one of the allocator's parameters; no other thread
                // exists yet.
                unsafe {
                    libc::mallopt(parameter, value);
                }
            }
        }
    }
}

/// The multi-threaded runtime queries and the server run on (None, said why, if it cannot start).
fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("fjq: cannot start: {e}");
            None
        }
    }
}

async fn open_engine(cli: &Cli) -> anyhow::Result<Engine> {
    let data = match &cli.data {
        Some(dir) => dir.clone(),
        None => default_data::ensure()?,
    };
    let memory_limit = cli
        .memory_limit
        .as_deref()
        .map(fjq_engine::parse_memory_size)
        .transpose()?;
    let config = EngineConfig {
        memory_limit,
        register_truth: cli.truth,
        policy: cli.policy,
        release_dir: Some(cli.release_dir.clone()),
        ..EngineConfig::default()
    };
    Engine::open(&data, config)
        .await
        .with_context(|| format!("cannot open the dataset at {}", data.display()))
}

async fn run(cli: Cli) -> ExitCode {
    let engine = match open_engine(&cli).await {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("fjq: {e:#}");
            return ExitCode::from(EXIT_STARTUP);
        }
    };
    let mut sources: Vec<(String, String)> = Vec::new();
    for (i, sql) in cli.commands.iter().enumerate() {
        sources.push((format!("-c #{}", i + 1), sql.clone()));
    }
    for file in &cli.files {
        match std::fs::read_to_string(file) {
            Ok(sql) => sources.push((file.display().to_string(), sql)),
            Err(e) => {
                eprintln!("fjq: cannot read {}: {e}", file.display());
                return ExitCode::from(EXIT_STARTUP);
            }
        }
    }
    if sources.is_empty() {
        if std::io::stdin().is_terminal() {
            let repl = repl::Repl::new(engine, cli.format, cli.maxrows);
            return match repl.run().await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("fjq: {e:#}");
                    ExitCode::from(EXIT_STARTUP)
                }
            };
        }
        let mut sql = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut sql) {
            eprintln!("fjq: cannot read standard input: {e}");
            return ExitCode::from(EXIT_STARTUP);
        }
        sources.push(("standard input".to_string(), sql));
    }
    let options = batch::Options {
        output: cli.output.clone(),
        format: cli.format,
        maxrows: cli.maxrows,
        quiet: cli.quiet,
        timing: cli.timing,
        continue_on_error: cli.continue_on_error,
    };
    batch::run(&engine, &options, &sources).await
}
