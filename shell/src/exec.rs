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
        message: describe(&e.to_string()),
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
    let frame = engine
        .plan(statement)
        .await
        .map_err(|e| describe(&e.to_string()))?;
    let plan = frame.logical_plan().clone();
    // A failure while running may be a file damaged since the dataset was opened: name it.
    let failed = |e: datafusion::error::DataFusionError| {
        describe(&engine.explain_failure(Some(&plan), e).to_string())
    };
    let stream = frame.execute_stream().await.map_err(failed)?;
    printer.print(stream, out).await.map_err(|e| match e {
        PrintError::Query(e) => failed(e),
        other => describe(&other.to_string()),
    })
}

/// `\safe QUERY` as SQL: the query released through `safe_table`.
pub fn safe_sql(query: &str) -> String {
    let query = query.trim().trim_end_matches(';').trim();
    format!("SELECT * FROM safe_table('{}')", query.replace('\'', "''"))
}

pub fn elapsed(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else {
        format!("{s:.2} s")
    }
}

/// DataFusion's error text with its internal prefixes trimmed to what a user needs.
pub fn describe(message: &str) -> String {
    let mut m = message.trim();
    // A function's own argument error, without DataFusion's wrapper around it.
    if let Some(inner) = m.split_once("coercion failed with: ").map(|(_, rest)| rest) {
        let inner = inner.split(". No function matches").next().unwrap_or(inner);
        m = inner;
    }
    // DataFusion follows "Did you mean ...?" with every valid field; the suggestion is enough.
    let valid = m
        .find("\nValid fields are")
        .or_else(|| m.find(" Valid fields are"));
    if let Some(at) = valid {
        m = m[..at].trim_end();
    }
    for prefix in [
        "Error during planning: ",
        "SQL error: ",
        "Execution error: ",
        "Schema error: ",
        "External error: ",
    ] {
        if let Some(rest) = m.strip_prefix(prefix) {
            m = rest;
        }
    }
    if let Some(inner) = m
        .strip_prefix("ParserError(\"")
        .and_then(|r| r.strip_suffix("\")"))
    {
        return format!("syntax error: {inner}");
    }
    // Over the memory limit in a step that cannot spill: say so, and what to do, before
    // DataFusion's list of memory consumers.
    if let Some(at) = m.find("Resources exhausted: ") {
        let detail = m[at + "Resources exhausted: ".len()..]
            .lines()
            .next()
            .unwrap_or("");
        return format!(
            "out of memory: the query needs more than its memory limit and this step cannot spill to disk ({}); raise the limit (--memory-limit, or the server's --query-memory-limit) or read less (filter, fewer columns)",
            detail
                .trim_end_matches(':')
                .trim_end_matches(" with top memory consumers (across reservations) as")
        );
    }
    m.to_string()
}
