//! The backslash commands: one table of names, aliases, DuckDB dot spellings, arguments and
//! help ([`COMMANDS`]), from which the help text, tab completion and parsing all come, and the
//! parsed [`Command`] that the shell and batch mode run (as datafusion-cli's `command.rs`).

use crate::print::Expanded;

/// One backslash command as users see it.
pub struct CommandSpec {
    /// The name, e.g. `\d`.
    pub name: &'static str,
    /// Other names for it (`\quit`), and DuckDB's dot commands that mean the same (`.tables`).
    pub aliases: &'static [&'static str],
    pub dot: &'static [&'static str],
    /// The arguments as the help shows them.
    pub args: &'static str,
    pub help: &'static str,
    /// Its argument is a file name (tab completion offers files).
    pub takes_path: bool,
    /// It runs in batch mode too (`fjq -c '\d people'`).
    pub in_batch: bool,
}

const fn spec(
    name: &'static str,
    aliases: &'static [&'static str],
    dot: &'static [&'static str],
    args: &'static str,
    help: &'static str,
) -> CommandSpec {
    CommandSpec {
        name,
        aliases,
        dot,
        args,
        help,
        takes_path: false,
        in_batch: false,
    }
}

const fn batch(mut s: CommandSpec) -> CommandSpec {
    s.in_batch = true;
    s
}

const fn path(mut s: CommandSpec) -> CommandSpec {
    s.takes_path = true;
    s
}

/// Every backslash command, in the order the help lists them.
pub const COMMANDS: &[CommandSpec] = &[
    batch(spec(
        "\\d",
        &[],
        &[".tables", ".schema", ".describe"],
        "[NAME]",
        "list tables and views with their descriptions; with NAME, the columns of a table: type, nullable, description",
    )),
    batch(spec(
        "\\df",
        &[],
        &[],
        "[PATTERN]",
        "fjq's domain functions (or any function matching PATTERN): signature, description, example",
    )),
    batch(spec(
        "\\catalogue",
        &["\\catalog"],
        &[],
        "",
        "the data contract in words: every table and column",
    )),
    batch(spec("\\explain", &[], &[], "QUERY", "the query's plan")),
    batch(spec(
        "\\safe",
        &[],
        &[],
        "QUERY",
        "release an aggregate query through disclosure control: small cells and the cells that would give them back are suppressed, counts rounded; the table, its report (results.json) and the release log go to --release-dir",
    )),
    batch(spec(
        "\\exception",
        &[],
        &[],
        "RELEASE REASON",
        "attach your case for a release in review to its report (results.json's exception), for the output checker, e.g. \\exception release-0002 the suppressed cells are ...",
    )),
    path(spec(
        "\\i",
        &["\\include"],
        &[".read"],
        "FILE",
        "run the statements in FILE",
    )),
    path(spec(
        "\\o",
        &["\\out"],
        &[".output", ".once"],
        "[FILE]",
        "send results to FILE (\\o alone: back to the terminal)",
    )),
    path(spec(
        "\\export",
        &[],
        &[],
        "FILE",
        "write the last query's whole result to FILE: .parquet, .arrow or .feather (Arrow IPC file), .arrows (Arrow IPC stream), .csv, .tsv, .json or .ndjson (the query runs again and streams to the file)",
    )),
    spec(
        "\\e",
        &["\\edit"],
        &[".edit"],
        "",
        "open the statement being typed (or the last one) in $EDITOR; it runs when you save and quit",
    ),
    spec(
        "\\last",
        &[],
        &[],
        "",
        "the last result again, every column and value whole, through the pager",
    ),
    spec(
        "\\plot",
        &[],
        &[],
        "[X Y ...] [FILE.svg|FILE.png]",
        "draw the last result: a line chart of numeric columns against a date or number (the first column against the numeric ones, or the columns named), a bar chart against labels; in the terminal, or into an SVG or PNG file",
    ),
    spec(
        "\\pager",
        &[],
        &[],
        "[on|off|auto]",
        "page results longer than the terminal through $PAGER (default less -S); auto: when they do not fit",
    ),
    spec(
        "\\timing",
        &[],
        &[".timer"],
        "[on|off]",
        "show elapsed time after each result",
    ),
    spec(
        "\\x",
        &[],
        &[],
        "[on|off|auto]",
        "expanded display: one field per line (auto: when the table is too wide)",
    ),
    spec(
        "\\format",
        &[],
        &[".mode"],
        "FMT",
        "table, csv, tsv, json, ndjson, markdown or vertical",
    ),
    spec(
        "\\maxrows",
        &[],
        &[".maxrows"],
        "N",
        "rows shown in table format",
    ),
    spec("\\?", &["\\h", "\\help"], &[".help"], "", "this help"),
    spec("\\q", &["\\quit"], &[".quit", ".exit"], "", "quit"),
];

/// A parsed command with its arguments.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `\d` (None) or `\d NAME`.
    Describe(Option<String>),
    Functions(Option<String>),
    Catalogue,
    Explain(String),
    Safe(String),
    /// `\exception RELEASE REASON`.
    Exception(String, String),
    Include(String),
    /// `\o FILE`, or `\o` alone to go back to the terminal.
    Output(Option<String>),
    Export(String),
    Edit,
    Last,
    Plot(crate::plot::PlotRequest),
    /// None shows the mode in force.
    Pager(Option<crate::pager::Paging>),
    /// on, off, or None to toggle.
    Timing(Option<bool>),
    /// None toggles.
    Expanded(Option<Expanded>),
    /// None shows the format in force.
    Format(Option<String>),
    MaxRows(usize),
    Help,
    Quit,
}

impl Command {
    /// The command's entry in [`COMMANDS`].
    pub fn spec(&self) -> &'static CommandSpec {
        let name = match self {
            Command::Describe(_) => "\\d",
            Command::Functions(_) => "\\df",
            Command::Catalogue => "\\catalogue",
            Command::Explain(_) => "\\explain",
            Command::Safe(_) => "\\safe",
            Command::Exception(..) => "\\exception",
            Command::Include(_) => "\\i",
            Command::Output(_) => "\\o",
            Command::Export(_) => "\\export",
            Command::Edit => "\\e",
            Command::Last => "\\last",
            Command::Plot(_) => "\\plot",
            Command::Pager(_) => "\\pager",
            Command::Timing(_) => "\\timing",
            Command::Expanded(_) => "\\x",
            Command::Format(_) => "\\format",
            Command::MaxRows(_) => "\\maxrows",
            Command::Help => "\\?",
            Command::Quit => "\\q",
        };
        COMMANDS
            .iter()
            .find(|c| c.name == name)
            .expect("every command is in the table")
    }
}

/// Whether a line is a command (backslash or DuckDB dot command) rather than SQL.
pub fn is_command(line: &str) -> bool {
    let first = line.split_whitespace().next().unwrap_or("");
    first.starts_with('\\') || find(first).is_some_and(|c| c.dot.contains(&first))
}

fn find(word: &str) -> Option<&'static CommandSpec> {
    COMMANDS
        .iter()
        .find(|c| c.name == word || c.aliases.contains(&word) || c.dot.contains(&word))
}

/// A file name as typed, without surrounding quotes.
fn unquote(text: &str) -> String {
    text.trim_matches(|c| c == '\'' || c == '"').to_string()
}

/// Parses a command line; Err is the message to show.
pub fn parse(line: &str) -> Result<Command, String> {
    let line = line.trim();
    let (word, rest) = match line.split_once(char::is_whitespace) {
        Some((w, r)) => (w, r.trim()),
        None => (line, ""),
    };
    let rest = (!rest.is_empty()).then_some(rest);
    let arg = rest.and_then(|r| r.split_whitespace().next());
    let Some(spec) = find(word) else {
        return Err(format!("unknown command {word}; \\? lists the commands"));
    };
    let usage = || format!("{} takes {}", spec.name, spec.args);
    let toggle = |what: &str| match arg {
        None => Ok(None),
        Some("on") => Ok(Some(true)),
        Some("off") => Ok(Some(false)),
        Some(other) => Err(format!("{what} takes on or off, not {other:?}")),
    };
    Ok(match spec.name {
        "\\d" if word == ".tables" => Command::Describe(None),
        "\\d" => Command::Describe(arg.map(str::to_string)),
        "\\df" => Command::Functions(arg.map(str::to_string)),
        "\\catalogue" => Command::Catalogue,
        "\\explain" => Command::Explain(
            rest.ok_or_else(|| {
                "\\explain takes a query, e.g. \\explain SELECT count(*) FROM cases".to_string()
            })?
            .trim_end_matches(';')
            .to_string(),
        ),
        "\\safe" => Command::Safe(rest.map(str::to_string).ok_or_else(|| {
            "\\safe takes an aggregate query, e.g. \\safe SELECT case_type, count(*) AS cases FROM cases GROUP BY case_type".to_string()
        })?),
        "\\exception" => {
            let (release, reason) = rest
                .and_then(|r| r.split_once(char::is_whitespace))
                .ok_or_else(usage)?;
            Command::Exception(release.to_string(), unquote(reason.trim()))
        }
        "\\i" => Command::Include(rest.map(unquote).ok_or_else(|| "\\i takes a file name".to_string())?),
        "\\o" => Command::Output(rest.map(unquote)),
        "\\export" => Command::Export(rest.map(unquote).ok_or_else(|| {
            "\\export takes a file name ending .parquet, .arrow, .feather, .arrows, .csv, .tsv, .json or .ndjson".to_string()
        })?),
        "\\e" => Command::Edit,
        "\\last" => Command::Last,
        "\\plot" => Command::Plot(crate::plot::PlotRequest::parse(rest)?),
        "\\pager" => Command::Pager(match arg {
            None => None,
            Some("on") => Some(crate::pager::Paging::On),
            Some("off") => Some(crate::pager::Paging::Off),
            Some("auto") => Some(crate::pager::Paging::Auto),
            Some(other) => return Err(format!("\\pager takes on, off or auto, not {other:?}")),
        }),
        "\\timing" => Command::Timing(toggle("\\timing")?),
        "\\x" => Command::Expanded(match arg {
            None => None,
            Some("on") => Some(Expanded::On),
            Some("off") => Some(Expanded::Off),
            Some("auto") => Some(Expanded::Auto),
            Some(other) => return Err(format!("\\x takes on, off or auto, not {other:?}")),
        }),
        "\\format" => Command::Format(arg.map(str::to_string)),
        "\\maxrows" => match arg.map(str::parse::<usize>) {
            Some(Ok(n)) if n > 0 => Command::MaxRows(n),
            _ => return Err("\\maxrows takes a whole number above 0".to_string()),
        },
        "\\?" => Command::Help,
        "\\q" => Command::Quit,
        _ => return Err(usage()),
    })
}

/// The help text, from the table.
pub fn help() -> String {
    let mut out = String::from(
        "Statements end with `;` and may span lines. Tab completes tables, columns, functions and\n\
         commands. Ctrl-C cancels a running query, Ctrl-D quits. DuckDB's dot commands (.tables,\n\
         .schema, .mode, .timer, .output, .read, .quit) also work.\n",
    );
    for c in COMMANDS {
        let head = if c.args.is_empty() {
            c.name.to_string()
        } else {
            format!("{} {}", c.name, c.args)
        };
        let mut lines = wrap(c.help, 72).into_iter();
        let first = lines.next().unwrap_or_default();
        if head.len() <= 16 {
            out.push_str(&format!("  {head:<16} {first}\n"));
        } else {
            out.push_str(&format!("  {head}\n  {:<16} {first}\n", ""));
        }
        for line in lines {
            out.push_str(&format!("  {:<16} {line}\n", ""));
        }
    }
    out.push_str(
        "Try:  SELECT case_type, count(*) AS cases FROM cases GROUP BY case_type ORDER BY cases DESC;",
    );
    out
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let line = lines.last_mut().expect("one line at least");
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(word.to_string());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_aliases_and_dot_commands_parse_to_the_same_command() {
        assert_eq!(
            parse("\\d people"),
            Ok(Command::Describe(Some("people".into())))
        );
        assert_eq!(
            parse(".schema people"),
            Ok(Command::Describe(Some("people".into())))
        );
        assert_eq!(parse(".tables"), Ok(Command::Describe(None)));
        assert_eq!(parse("\\quit"), Ok(Command::Quit));
        assert_eq!(parse(".exit"), Ok(Command::Quit));
        assert_eq!(
            parse("\\o 'out.csv'"),
            Ok(Command::Output(Some("out.csv".into())))
        );
        assert_eq!(parse("\\timing off"), Ok(Command::Timing(Some(false))));
        assert_eq!(parse(".mode csv"), Ok(Command::Format(Some("csv".into()))));
    }

    #[test]
    fn wrong_arguments_say_what_the_command_takes() {
        assert_eq!(
            parse("\\maxrows none").unwrap_err(),
            "\\maxrows takes a whole number above 0"
        );
        assert!(
            parse("\\x sideways")
                .unwrap_err()
                .contains("on, off or auto")
        );
        assert!(
            parse("\\frobnicate")
                .unwrap_err()
                .contains("unknown command \\frobnicate")
        );
        assert!(!is_command("SELECT 1"));
        assert!(is_command(".tables"));
    }

    #[test]
    fn every_command_is_in_the_help() {
        let help = help();
        for c in COMMANDS {
            assert!(help.contains(c.name), "{}", c.name);
        }
    }
}
