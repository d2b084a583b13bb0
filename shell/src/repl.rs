//! The interactive shell: a prompt with history, multi-line statements ending at `;`, the
//! backslash commands of [`crate::command`], and Ctrl-C that cancels the running query and
//! keeps the shell.

use crate::command::{self, Command};
use crate::completion::FjqHelper;
use crate::exec::{Footer, run_sql};
use crate::pager::Paging;
use crate::print::{Expanded, Format, Printer};
use crate::progress::Progress;
use fjq_engine::Engine;
use rustyline::Editor;
use rustyline::error::ReadlineError;
use std::io::IsTerminal;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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
    /// `\o FILE`: results go here instead of the terminal.
    output: Option<(PathBuf, std::io::BufWriter<std::fs::File>)>,
    /// The last statement that ran, for `\export`.
    last_statement: Option<String>,
    /// The last SQL typed, run or not, for `\e`.
    last_typed: Option<String>,
    paging: Paging,
    /// The statement being typed, shared with tab completion.
    buffer: Arc<Mutex<String>>,
}

impl Repl {
    pub fn new(engine: Engine, format: Format, max_rows: usize) -> Repl {
        Repl {
            engine,
            printer: Printer::new(format, max_rows),
            timing: true,
            output: None,
            last_statement: None,
            last_typed: None,
            paging: Paging::Auto,
            buffer: Arc::new(Mutex::new(String::new())),
        }
    }

    pub async fn run(mut self) -> anyhow::Result<()> {
        println!("{}", banner(&self.engine));
        let config = rustyline::Config::builder()
            .completion_type(rustyline::CompletionType::List)
            .build();
        let mut editor: Editor<FjqHelper, rustyline::history::DefaultHistory> =
            Editor::with_config(config)?;
        editor.set_helper(Some(FjqHelper::new(&self.engine, self.buffer.clone())));
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
            *self.buffer.lock().expect("buffer") = buffer.clone();
            match editor.readline(prompt) {
                Ok(line) => {
                    let trimmed = line.trim();
                    // `\e` also works part-way through a statement: it edits what was typed.
                    if command::is_command(trimmed) && command::parse(trimmed) == Ok(Command::Edit)
                    {
                        let _ = editor.add_history_entry(trimmed);
                        let start = if buffer.trim().is_empty() {
                            self.last_typed.clone().unwrap_or_default()
                        } else {
                            std::mem::take(&mut buffer)
                        };
                        match edit(&start) {
                            Ok(sql) if sql.trim().is_empty() => {}
                            Ok(sql) => {
                                println!("{}", sql.trim_end());
                                let _ = editor.add_history_entry(sql.trim());
                                self.execute(&sql).await;
                            }
                            Err(message) => eprintln!("error: {message}"),
                        }
                        if let Some(path) = &history {
                            let _ = editor.save_history(path);
                        }
                        continue;
                    }
                    // As in psql, a command typed part-way through a statement runs at once
                    // and the statement so far is kept: appended to the SQL, it was lost.
                    if command::is_command(trimmed) {
                        let parsed = command::parse(trimmed);
                        // Quitting is not worth recalling; everything else is.
                        if parsed != Ok(Command::Quit) {
                            let _ = editor.add_history_entry(trimmed);
                        }
                        match parsed {
                            Ok(Command::Quit) => break,
                            Ok(c) => self.command(c).await,
                            Err(message) => eprintln!("error: {message}"),
                        }
                        // Save after every entry, so a crash or kill loses nothing.
                        if let Some(path) = &history {
                            let _ = editor.save_history(path);
                        }
                        continue;
                    }
                    if buffer.is_empty() && trimmed.is_empty() {
                        continue;
                    }
                    buffer.push_str(&line);
                    buffer.push('\n');
                    if statement_complete(&buffer) {
                        let sql = std::mem::take(&mut buffer);
                        let _ = editor.add_history_entry(sql.trim());
                        if let Some(path) = &history {
                            let _ = editor.save_history(path);
                        }
                        self.execute(&sql).await;
                    }
                }
                Err(ReadlineError::Interrupted) => {
                    buffer.clear();
                }
                Err(ReadlineError::Eof) => {
                    println!();
                    break;
                }
                Err(e) => return Err(e.into()),
            }
        }
        if let Some(path) = &history {
            let _ = editor.save_history(path);
        }
        if let Some((_, mut file)) = self.output.take() {
            let _ = file.flush();
        }
        Ok(())
    }

    async fn execute(&mut self, sql: &str) {
        self.last_typed = Some(sql.trim().to_string());
        self.printer.width = if self.output.is_some() {
            None
        } else {
            crate::print::terminal_width()
        };
        let show = Footer {
            rows: matches!(self.printer.format, Format::Table | Format::Vertical),
            timing: self.timing,
            timing_to_stderr: false,
        };
        let collected = matches!(
            self.printer.format,
            Format::Table | Format::Vertical | Format::Markdown
        );
        // Results shown on the terminal in table form are collected anyway (up to \maxrows), so
        // they can wait behind the spinner; streaming formats write straight through.
        let spinner = (collected || self.output.is_some()) && std::io::stderr().is_terminal();
        let progress = spinner.then(|| Progress::start(Some(self.printer.running.clone())));
        let mut buffered: Vec<u8> = Vec::new();
        let result = {
            let out: &mut dyn Write = match (&mut self.output, collected) {
                (Some((_, file)), _) => file,
                (None, true) => &mut buffered,
                (None, false) => &mut std::io::stdout(),
            };
            tokio::select! {
                result = run_sql(&self.engine, &self.printer, sql, out, show) => Some(result),
                _ = tokio::signal::ctrl_c() => None,
            }
        };
        if let Some(p) = progress {
            p.stop();
        }
        let mut stdout = std::io::stdout();
        crate::pager::show(&buffered, self.paging);
        match result {
            Some(Ok(_)) => {
                self.last_statement = self
                    .engine
                    .parse(sql)
                    .ok()
                    .and_then(|s| s.last().map(|s| s.to_string()));
            }
            Some(Err(e)) => eprintln!("error: {}", e.message),
            // Dropping the query's future cancelled it.
            None => eprintln!("Query cancelled."),
        }
        if let Some((_, file)) = &mut self.output {
            let _ = file.flush();
        }
        let _ = stdout.flush();
    }

    /// Runs a backslash command (all but quitting, which the loop handles).
    async fn command(&mut self, command: Command) {
        match command {
            Command::Quit => {}
            Command::Help => println!("{}", command::help()),
            Command::Describe(_) | Command::Functions(_) | Command::Catalogue => {
                match crate::describe::run(&self.engine, &command) {
                    Ok(text) => println!("{text}"),
                    Err(message) => eprintln!("error: {message}"),
                }
            }
            Command::Explain(query) => self.execute(&format!("EXPLAIN {query}")).await,
            Command::Safe(query) => self.execute(&crate::exec::safe_sql(&query)).await,
            Command::Exception(release, reason) => {
                self.execute(&crate::exec::exception_sql(&release, &reason))
                    .await
            }
            Command::Include(path) => match std::fs::read_to_string(&path) {
                Ok(sql) => self.execute(&sql).await,
                Err(e) => eprintln!("error: cannot read {path}: {e}"),
            },
            Command::Output(path) => {
                if let Some((path, mut file)) = self.output.take() {
                    let _ = file.flush();
                    println!("Results written to {} are closed.", path.display());
                }
                if let Some(path) = path {
                    if let Err(e) = self.engine.may_write(Path::new(&path)) {
                        eprintln!("error: {e}");
                        return;
                    }
                    match std::fs::File::create(&path) {
                        Ok(f) => {
                            println!("Results go to {path} until \\o.");
                            self.output = Some((PathBuf::from(path), std::io::BufWriter::new(f)));
                        }
                        Err(e) => eprintln!("error: cannot write {path}: {e}"),
                    }
                }
            }
            Command::Export(path) => self.export(&path).await,
            // The loop edits (it owns the statement being typed); nothing to do here.
            Command::Edit => {}
            Command::Last => {
                let mut text: Vec<u8> = Vec::new();
                match self.printer.print_last(&mut text) {
                    Ok(Some(_)) => {
                        let paging = match self.paging {
                            Paging::Off => Paging::Off,
                            _ => Paging::On,
                        };
                        match &mut self.output {
                            Some((_, file)) => {
                                let _ = file.write_all(&text);
                            }
                            None => crate::pager::show(&text, paging),
                        }
                    }
                    Ok(None) => eprintln!("error: no result yet: run a query first"),
                    Err(e) => eprintln!("error: {e}"),
                }
            }
            Command::Plot(request) => {
                let Some(last) = self.printer.last.lock().expect("last result").clone() else {
                    eprintln!("error: no result to plot yet: run a query first");
                    return;
                };
                if let Some(file) = &request.file
                    && let Err(e) = self.engine.may_write(Path::new(file))
                {
                    eprintln!("error: {e}");
                    return;
                }
                let width = crate::print::terminal_width().unwrap_or(80);
                match crate::plot::plot(&last, &request, width) {
                    Ok(text) => print!("{text}"),
                    Err(message) => eprintln!("error: {message}"),
                }
            }
            Command::Pager(mode) => {
                if let Some(mode) = mode {
                    self.paging = mode;
                }
                println!("Pager is {}.", self.paging);
            }
            Command::Timing(on) => {
                self.timing = on.unwrap_or(!self.timing);
                println!("Timing is {}.", if self.timing { "on" } else { "off" });
            }
            Command::Expanded(mode) => {
                self.printer.expanded = mode.unwrap_or(match self.printer.expanded {
                    Expanded::Off => Expanded::On,
                    _ => Expanded::Off,
                });
                println!(
                    "Expanded display is {}.",
                    format!("{:?}", self.printer.expanded).to_lowercase()
                );
            }
            Command::Format(name) => match name.as_deref().map(str::parse::<Format>) {
                Some(Ok(f)) => {
                    self.printer.format = f;
                    println!("Output format is {f}.");
                }
                Some(Err(e)) => eprintln!("error: {e}"),
                None => println!("Output format is {}.", self.printer.format),
            },
            Command::MaxRows(n) => {
                self.printer.max_rows = n;
                println!("Showing at most {n} rows.");
            }
        }
    }

    /// `\export FILE`: the last statement again, streamed into the file.
    async fn export(&mut self, path: &str) {
        let Some(sql) = self.last_statement.clone() else {
            eprintln!("error: nothing to export yet: run a query first");
            return;
        };
        if let Err(e) = self.engine.may_write(Path::new(path)) {
            eprintln!("error: {e}");
            return;
        }
        let started = std::time::Instant::now();
        let progress = std::io::stderr()
            .is_terminal()
            .then(|| Progress::start(None));
        let result = tokio::select! {
            r = self.engine.export(&sql, Path::new(path)) => Some(r),
            _ = tokio::signal::ctrl_c() => None,
        };
        if let Some(p) = progress {
            p.stop();
        }
        match result {
            Some(Ok(rows)) => println!(
                "Wrote {} rows to {path} in {}.",
                crate::generate::thousands(rows),
                crate::exec::elapsed(started.elapsed())
            ),
            Some(Err(e)) => eprintln!("error: {e}"),
            None => {
                let _ = std::fs::remove_file(path);
                eprintln!("Export cancelled; {path} removed.");
            }
        }
    }
}

/// Opens `text` in `$VISUAL` or `$EDITOR` (vi when neither is set) and returns what was saved.
fn edit(text: &str) -> Result<String, String> {
    let path = std::env::temp_dir().join(format!("fjq-edit-{}.sql", std::process::id()));
    std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".to_string());
    // Through the shell, so that an editor given with arguments (`code --wait`) works.
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&path)
        .status();
    let result = match status {
        Ok(s) if s.success() => std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display())),
        Ok(s) => Err(format!(
            "the editor {editor:?} failed ({s}); nothing was run"
        )),
        Err(e) => Err(format!("cannot start the editor {editor:?}: {e}")),
    };
    let _ = std::fs::remove_file(&path);
    result
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
