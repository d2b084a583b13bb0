//! Batch mode: `fjq -c SQL`, `fjq -f FILE`, or statements on standard input, run in order with
//! results in any format, psql's exit codes (1 start-up, 3 a failed statement), and the
//! backslash commands that read the dataset.

use crate::command::{self, Command};
use crate::exec::{self, Footer, run_sql};
use crate::print::{self, Format, Printer};
use crate::{EXIT_STARTUP, EXIT_STATEMENT, describe};
use fjq_engine::Engine;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// What batch mode takes from the command line.
pub struct Options {
    pub output: Option<PathBuf>,
    pub format: Format,
    pub maxrows: usize,
    pub quiet: bool,
    pub timing: bool,
    pub continue_on_error: bool,
}

/// Runs each source in order (a `-c` string, a file, standard input), printing results to
/// `--output` or standard output; stops at the first failure unless told to go on.
pub async fn run(engine: &Engine, cli: &Options, sources: &[(String, String)]) -> ExitCode {
    if let Some(path) = &cli.output
        && let Err(e) = engine.may_write(path)
    {
        eprintln!("fjq: {e}");
        return ExitCode::from(EXIT_STARTUP);
    }
    if let Some(path) = &cli.output
        && is_binary(path)
    {
        return export_one(engine, cli, sources, path).await;
    }
    let mut out: Box<dyn Write> = match &cli.output {
        Some(path) => match std::fs::File::create(path) {
            Ok(f) => Box::new(std::io::BufWriter::new(f)),
            Err(e) => {
                eprintln!("fjq: cannot write {}: {e}", path.display());
                return ExitCode::from(EXIT_STARTUP);
            }
        },
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let data_format = !matches!(
        cli.format,
        Format::Table | Format::Vertical | Format::Markdown
    );
    let mut printer = Printer::new(
        cli.format,
        if data_format { usize::MAX } else { cli.maxrows },
    );
    // Tables are fitted to a terminal, or to `COLUMNS` when it is set; into a pipe they are
    // printed whole.
    if cli.output.is_none()
        && (std::io::stdout().is_terminal() || std::env::var_os("COLUMNS").is_some())
    {
        printer.width = print::terminal_width();
    }
    let show = Footer {
        rows: matches!(cli.format, Format::Table | Format::Vertical) && !cli.quiet,
        timing: false,
        timing_to_stderr: cli.timing,
    };
    let mut failed = false;
    for (name, sql) in sources {
        // A source that is a command (`fjq -c '\d people'`, `\safe QUERY`) runs as in the shell.
        let statements = match command_source(engine, sql) {
            Batch::Sql(sql) => sql,
            Batch::Printed(text) => {
                let _ = writeln!(out, "{text}");
                continue;
            }
            Batch::Failed(message) => {
                eprintln!("fjq: {name} failed: {message}");
                failed = true;
                if cli.continue_on_error {
                    continue;
                }
                break;
            }
        };
        let sql = statements.as_str();
        if let Err(e) = run_sql(engine, &printer, sql, out.as_mut(), show).await {
            let _ = out.flush();
            eprintln!("fjq: statement {} of {name} failed: {}", e.index, e.message);
            failed = true;
            if !cli.continue_on_error {
                break;
            }
        }
    }
    if let Err(e) = out.flush() {
        eprintln!("fjq: cannot write the output: {e}");
        return ExitCode::from(EXIT_STARTUP);
    }
    if failed {
        ExitCode::from(EXIT_STATEMENT)
    } else {
        ExitCode::SUCCESS
    }
}

/// Whether `--output` names a binary format (Parquet, Arrow IPC), which holds one result as
/// typed columns rather than printed text.
fn is_binary(path: &std::path::Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        matches!(
            e.to_ascii_lowercase().as_str(),
            "parquet" | "arrow" | "feather" | "arrows"
        )
    })
}

/// `--output FILE.parquet|.arrow|.feather|.arrows`: the one query's result, streamed into the
/// file by the engine's export.
async fn export_one(
    engine: &Engine,
    cli: &Options,
    sources: &[(String, String)],
    path: &std::path::Path,
) -> ExitCode {
    let mut queries = Vec::new();
    for (name, source) in sources {
        match command_source(engine, source) {
            Batch::Sql(sql) => match engine.parse(&sql) {
                Ok(statements) => queries.extend(statements.iter().map(|s| s.to_string())),
                Err(e) => {
                    eprintln!("fjq: {name} failed: {e}");
                    return ExitCode::from(EXIT_STATEMENT);
                }
            },
            Batch::Printed(_) | Batch::Failed(_) => {
                eprintln!(
                    "fjq: --output {} holds one query's result; {name} is not a query",
                    path.display()
                );
                return ExitCode::from(EXIT_STARTUP);
            }
        }
    }
    let [query] = queries.as_slice() else {
        eprintln!(
            "fjq: --output {} holds one query's result, and {} statements were given; write them to separate files, or to a text format",
            path.display(),
            queries.len()
        );
        return ExitCode::from(EXIT_STARTUP);
    };
    match engine.export(query, path).await {
        Ok(rows) => {
            if !cli.quiet {
                eprintln!("{rows} rows written to {}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("fjq: {e}");
            ExitCode::from(EXIT_STATEMENT)
        }
    }
}

/// What a batch source that may be a command comes to.
enum Batch {
    /// SQL to run (the source itself, or what the command stands for).
    Sql(String),
    /// The command's output.
    Printed(String),
    Failed(String),
}

/// Batch mode runs the commands that read the dataset; the shell's settings (`\o`, `\x`, ...) are
/// options here (--output, --format).
fn command_source(engine: &Engine, source: &str) -> Batch {
    if !command::is_command(source.trim_start()) {
        return Batch::Sql(source.to_string());
    }
    let parsed = match command::parse(source) {
        Ok(c) => c,
        Err(message) => return Batch::Failed(message),
    };
    if !parsed.spec().in_batch {
        let runs: Vec<&str> = command::COMMANDS
            .iter()
            .filter(|c| c.in_batch)
            .map(|c| c.name)
            .collect();
        return Batch::Failed(format!(
            "{} is not available in batch mode, which runs {}",
            parsed.spec().name,
            runs.join(", ")
        ));
    }
    match parsed {
        Command::Safe(query) => Batch::Sql(exec::safe_sql(&query)),
        Command::Exception(release, reason) => Batch::Sql(exec::exception_sql(&release, &reason)),
        Command::Explain(query) => Batch::Sql(format!("EXPLAIN {query}")),
        other => match describe::run(engine, &other) {
            Ok(text) => Batch::Printed(text),
            Err(message) => Batch::Failed(message),
        },
    }
}
