//! Running SQL text: split into statements, plan each through the engine, stream its result to
//! the printer. Shared by batch mode and the interactive shell.

use crate::print::{PrintError, Printed, Printer, footer};
use fjq_engine::Engine;
use std::io::Write;
use std::time::{Duration, Instant};

/// A statement that failed, with where it came from.
#[derive(Debug)]
pub struct StatementError {
    /// 1-based index of the statement in its source.
    pub index: usize,
    pub message: String,
}

/// What to print after a result.
#[derive(Debug, Clone, Copy)]
pub struct Footer {
    pub rows: bool,
    pub timing: bool,
    /// Each statement's time on standard error, in psql's words (batch `--timing`).
    pub timing_to_stderr: bool,
}

/// Runs every statement of `sql` in order; stops at the first failure.
pub async fn run_sql(
    engine: &Engine,
    printer: &Printer,
    sql: &str,
    out: &mut dyn Write,
    show: Footer,
) -> Result<usize, StatementError> {
    let statements = engine.parse(sql).map_err(|e| StatementError {
        index: 1,
        message: e.to_string(),
    })?;
    let n = statements.len();
    for (i, statement) in statements.into_iter().enumerate() {
        let started = Instant::now();
        let result = run_one(engine, printer, statement, out).await;
        let released = engine.take_release_summary();
        match result {
            Ok(printed) => {
                if show.timing_to_stderr {
                    eprintln!("Time: {:.3} ms", started.elapsed().as_secs_f64() * 1000.0);
                }
                if !printed.empty_schema && (show.rows || show.timing) {
                    let mut line = String::new();
                    if show.rows {
                        line.push_str(&footer(&printed));
                    }
                    if show.timing {
                        if !line.is_empty() {
                            line.push_str(", ");
                        }
                        line.push_str(&elapsed(started.elapsed()));
                    }
                    let _ = writeln!(out, "{line}");
                }
                // What was released, after the table it describes (on standard error when the
                // output is data).
                if let Some(summary) = released {
                    if show.rows {
                        let _ = writeln!(out, "Released {summary}");
                    } else {
                        eprintln!("Released {summary}");
                    }
                }
            }
            Err(message) => {
                return Err(StatementError {
                    index: i + 1,
                    message,
                });
            }
        }
        let _ = out.flush();
    }
    Ok(n)
}

async fn run_one(
    engine: &Engine,
    printer: &Printer,
    statement: datafusion::sql::parser::Statement,
    out: &mut dyn Write,
) -> Result<Printed, String> {
    let frame = engine.plan(statement).await.map_err(|e| e.to_string())?;
    let plan = frame.logical_plan().clone();
    // A failure while running may be a file damaged since the dataset was opened: name it.
    let failed =
        |e: datafusion::error::DataFusionError| engine.explain_failure(Some(&plan), e).to_string();
    let task = std::sync::Arc::new(frame.task_ctx());
    let physical = frame.create_physical_plan().await.map_err(failed)?;
    // Published for the progress line, which reads the scans' counters while the query runs.
    *printer.running.lock().expect("running plan") = Some(physical.clone());
    let stream = datafusion::physical_plan::execute_stream(physical, task).map_err(failed);
    let printed = match stream {
        Ok(stream) => printer.print(stream, out).await.map_err(|e| match e {
            PrintError::Query(e) => failed(e),
            other => other.to_string(),
        }),
        Err(e) => Err(e),
    };
    *printer.running.lock().expect("running plan") = None;
    printed
}

/// `\safe QUERY` as SQL: the query released through `safe_table`.
pub fn safe_sql(query: &str) -> String {
    let query = query.trim().trim_end_matches(';').trim();
    format!("SELECT * FROM safe_table('{}')", query.replace('\'', "''"))
}

/// `\exception RELEASE REASON` as SQL.
pub fn exception_sql(release: &str, reason: &str) -> String {
    format!(
        "SELECT add_exception('{}', '{}') AS exception",
        release.replace('\'', "''"),
        reason.replace('\'', "''")
    )
}

pub fn elapsed(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else {
        format!("{s:.2} s")
    }
}
