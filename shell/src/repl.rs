//! The interactive shell: a prompt with history, multi-line statements ending at `;`, a few
//! backslash commands, and Ctrl-C that cancels the running query and keeps the shell.

use crate::exec::{Footer, run_sql};
use crate::print::{Format, Printer};
use fjq_engine::Engine;
use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;
use std::io::Write;
use std::path::PathBuf;

const HELP: &str = "\
Statements end with `;` and may span lines. Ctrl-C cancels a running query, Ctrl-D quits.
  \\d              list tables and views with their descriptions
  \\d NAME         columns of a table: type, nullable, description
  \\df [PATTERN]   fjq's domain functions (or any function matching PATTERN): signature,
                  description, example
  \\timing [on|off] show elapsed time after each result
  \\format FMT     table, csv, json or ndjson
  \\maxrows N      rows shown in table format
  \\?              this help
  \\q              quit
Try:  SELECT case_type, count(*) AS cases FROM cases GROUP BY case_type ORDER BY cases DESC;";

/// Where history is kept: `$FJQ_HISTORY`, else `$XDG_STATE_HOME/fjq/history`, else
/// `~/.local/state/fjq/history`.
pub fn history_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FJQ_HISTORY").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local").join("state"))
        })?;
    Some(state.join("fjq").join("history"))
}

pub fn banner(engine: &Engine) -> String {
    let info = engine.dataset();
    let generated = info
        .generator
        .as_ref()
        .map(|g| format!(" (synthetic: scale {}, seed {})", g.scale, g.seed))
        .unwrap_or_default();
    let cases = info
        .tables
        .get("cases")
        .map(|t| crate::generate::thousands(t.rows))
        .unwrap_or_else(|| "?".into());
    format!(
        "fjq {} on {}{}\n{} tables, {} cases. Family court {} to {}; Cafcass {} to {}.\nType \\? for help, \\d for the tables, \\q to quit.",
        env!("CARGO_PKG_VERSION"),
        engine.data_dir().display(),
        generated,
        engine.tables().len(),
        cases,
        info.coverage.family_court.from,
        info.coverage.family_court.to,
        info.coverage.cafcass.from,
        info.coverage.cafcass.to,
    )
}

/// True when `buffer` holds a complete statement: a `;` outside quotes and comments ends it.
pub fn statement_complete(buffer: &str) -> bool {
    let mut in_single = false;
    let mut in_double = false;
    let mut in_block = false;
    let mut last_significant_semicolon = false;
    let chars: Vec<char> = buffer.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if in_block {
            if c == '*' && next == Some('/') {
                in_block = false;
                i += 1;
            }
        } else if in_single {
            if c == '\'' {
                in_single = false;
            }
        } else if in_double {
            if c == '"' {
                in_double = false;
            }
        } else if c == '-' && next == Some('-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        } else if c == '/' && next == Some('*') {
            in_block = true;
            i += 1;
        } else if c == '\'' {
            in_single = true;
            last_significant_semicolon = false;
        } else if c == '"' {
            in_double = true;
            last_significant_semicolon = false;
        } else if c == ';' {
            last_significant_semicolon = true;
        } else if !c.is_whitespace() {
            last_significant_semicolon = false;
        }
        i += 1;
    }
    last_significant_semicolon && !in_single && !in_double && !in_block
}

pub struct Repl {
    engine: Engine,
    printer: Printer,
    timing: bool,
}

impl Repl {
    pub fn new(engine: Engine, format: Format, max_rows: usize) -> Repl {
        Repl {
            engine,
            printer: Printer { format, max_rows },
            timing: true,
        }
    }

    pub async fn run(mut self) -> anyhow::Result<()> {
        println!("{}", banner(&self.engine));
        let mut editor = DefaultEditor::new()?;
        let history = history_path();
        if let Some(path) = &history {
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = editor.load_history(path);
        }
        let mut buffer = String::new();
        loop {
            let prompt = if buffer.is_empty() { "fjq> " } else { "...> " };
            match editor.readline(prompt) {
                Ok(line) => {
                    if buffer.is_empty() && line.trim_start().starts_with('\\') {
                        let _ = editor.add_history_entry(line.trim());
                        if !self.command(line.trim()) {
                            break;
                        }
                        continue;
                    }
                    if buffer.is_empty() && line.trim().is_empty() {
                        continue;
                    }
                    buffer.push_str(&line);
                    buffer.push('\n');
                    if statement_complete(&buffer) {
                        let sql = std::mem::take(&mut buffer);
                        let _ = editor.add_history_entry(sql.trim());
                        self.execute(&sql).await;
                    }
                }
                Err(ReadlineError::Interrupted) => {
                    buffer.clear();
                }
                Err(ReadlineError::Eof) => break,
                Err(e) => return Err(e.into()),
            }
        }
        if let Some(path) = &history {
            let _ = editor.save_history(path);
        }
        Ok(())
    }

    async fn execute(&self, sql: &str) {
        let mut stdout = std::io::stdout();
        let show = Footer {
            rows: self.printer.format == Format::Table,
            timing: self.timing,
        };
        tokio::select! {
            result = run_sql(&self.engine, &self.printer, sql, &mut stdout, show) => {
                if let Err(e) = result {
                    eprintln!("error: {}", e.message);
                }
            }
            _ = tokio::signal::ctrl_c() => {
                // Dropping the query's future cancels it.
                eprintln!("Query cancelled.");
            }
        }
        let _ = stdout.flush();
    }

    /// Runs a backslash command; false means quit.
    fn command(&mut self, line: &str) -> bool {
        let mut words = line.split_whitespace();
        let name = words.next().unwrap_or("");
        let arg = words.next();
        match name {
            "\\q" | "\\quit" => return false,
            "\\?" | "\\h" | "\\help" => println!("{HELP}"),
            "\\d" | "\\df" => match crate::describe::command(&self.engine, line) {
                Ok(text) => println!("{text}"),
                Err(message) => eprintln!("error: {message}"),
            },
            "\\timing" => {
                self.timing = match arg {
                    Some("on") => true,
                    Some("off") => false,
                    _ => !self.timing,
                };
                println!("Timing is {}.", if self.timing { "on" } else { "off" });
            }
            "\\format" => match arg.map(str::parse::<Format>) {
                Some(Ok(f)) => {
                    self.printer.format = f;
                    println!("Output format is {f:?}.");
                }
                Some(Err(e)) => eprintln!("error: {e}"),
                None => println!("Output format is {:?}.", self.printer.format),
            },
            "\\maxrows" => match arg.map(str::parse::<usize>) {
                Some(Ok(n)) if n > 0 => {
                    self.printer.max_rows = n;
                    println!("Showing at most {n} rows.");
                }
                _ => eprintln!("error: \\maxrows takes a whole number above 0"),
            },
            other => eprintln!("error: unknown command {other}; \\? lists the commands"),
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::statement_complete;

    #[test]
    fn statements_end_at_a_semicolon_outside_quotes_and_comments() {
        assert!(statement_complete("SELECT 1;"));
        assert!(statement_complete("SELECT 1;  \n"));
        assert!(!statement_complete("SELECT ';'"));
        assert!(!statement_complete("SELECT 1 -- ;"));
        assert!(!statement_complete("SELECT 1 /* ; */"));
        assert!(statement_complete("SELECT 'a;b' AS \"x;y\";"));
        assert!(statement_complete("SELECT 1; -- done"));
        assert!(!statement_complete("SELECT 1\nFROM cases"));
    }
}
