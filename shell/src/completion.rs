//! Tab completion that knows where it is in the statement: table names after FROM and JOIN, the
//! columns of `table.` or `alias.`, columns of the tables the statement names, functions (the
//! domain functions included), keywords, backslash commands, and file paths inside quotes.

use fjq_engine::{Engine, VIEWS};
use rustyline::Context;
use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const KEYWORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP BY",
    "ORDER BY",
    "HAVING",
    "LIMIT",
    "JOIN",
    "LEFT JOIN",
    "INNER JOIN",
    "ON",
    "USING",
    "AS",
    "AND",
    "OR",
    "NOT",
    "IN",
    "IS NULL",
    "IS NOT NULL",
    "BETWEEN",
    "LIKE",
    "DISTINCT",
    "COUNT",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "WITH",
    "OVER",
    "PARTITION BY",
    "WINDOW",
    "UNION ALL",
    "EXPLAIN",
    "DESC",
    "ASC",
    "DATE",
    "CAST",
    "SHOW",
    "SET",
    "CREATE VIEW",
    "NULLS LAST",
];

pub struct FjqHelper {
    tables: BTreeMap<String, Vec<String>>,
    functions: Vec<String>,
    files: FilenameCompleter,
    /// Earlier lines of the statement being typed (set by the shell before each prompt).
    statement: Arc<Mutex<String>>,
}

impl FjqHelper {
    pub fn new(engine: &Engine, statement: Arc<Mutex<String>>) -> FjqHelper {
        let mut tables: BTreeMap<String, Vec<String>> = engine
            .tables()
            .iter()
            .map(|t| {
                (
                    t.name.to_string(),
                    t.columns.iter().map(|c| c.name.to_string()).collect(),
                )
            })
            .collect();
        let state = engine.context().state();
        for view in VIEWS {
            let columns = view.columns.iter().map(|(c, _)| c.to_string()).collect();
            tables.insert(view.name.to_string(), columns);
        }
        let mut functions: Vec<String> = state
            .scalar_functions()
            .keys()
            .chain(state.aggregate_functions().keys())
            .chain(state.window_functions().keys())
            .cloned()
            .collect();
        functions.sort();
        functions.dedup();
        FjqHelper {
            tables,
            functions,
            files: FilenameCompleter::new(),
            statement,
        }
    }

    /// Tables named after FROM or JOIN in `sql`, with their aliases.
    fn tables_in(&self, sql: &str) -> Vec<(String, Option<String>)> {
        let words: Vec<String> = sql
            .split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')' || c == ';')
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect();
        let mut found = Vec::new();
        for (i, w) in words.iter().enumerate() {
            if matches!(w.to_ascii_uppercase().as_str(), "FROM" | "JOIN")
                && let Some(t) = words.get(i + 1).map(|t| t.to_ascii_lowercase())
                && self.tables.contains_key(&t)
            {
                let alias = words.get(i + 2).filter(|a| {
                    let u = a.to_ascii_uppercase();
                    !matches!(
                        u.as_str(),
                        "ON" | "USING"
                            | "WHERE"
                            | "JOIN"
                            | "LEFT"
                            | "INNER"
                            | "GROUP"
                            | "ORDER"
                            | "LIMIT"
                            | "AS"
                    )
                });
                let alias = alias.or_else(|| {
                    words
                        .get(i + 2)
                        .filter(|a| a.eq_ignore_ascii_case("AS"))
                        .and(words.get(i + 3))
                });
                found.push((t, alias.map(|a| a.to_ascii_lowercase())));
            }
        }
        found
    }

    pub fn candidates(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        let before = &line[..pos];
        let start = before
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.' || c == '\\'))
            .map(|i| i + 1)
            .unwrap_or(0);
        let word = &before[start..];
        let statement = format!(
            "{}{line}",
            self.statement.lock().map(|s| s.clone()).unwrap_or_default()
        );
        if start == 0 && word.starts_with('\\') {
            return (
                start,
                crate::command::COMMANDS
                    .iter()
                    .map(|c| c.name)
                    .filter(|c| c.starts_with(word))
                    .map(str::to_string)
                    .collect(),
            );
        }
        let lower = word.to_ascii_lowercase();
        if let Some((qualifier, column)) = lower.split_once('.') {
            let table = self
                .tables_in(&statement)
                .into_iter()
                .find(|(t, a)| a.as_deref() == Some(qualifier) || t == qualifier)
                .map(|(t, _)| t);
            // An alias not declared yet (SELECT is typed before FROM): every table's columns.
            let columns: Vec<String> = match table.and_then(|t| self.tables.get(&t)) {
                Some(columns) => columns.clone(),
                None => {
                    let mut all: Vec<String> = self.tables.values().flatten().cloned().collect();
                    all.sort();
                    all.dedup();
                    all
                }
            };
            let prefix = &word[..qualifier.len() + 1];
            return (
                start,
                columns
                    .iter()
                    .filter(|c| c.starts_with(column))
                    .map(|c| format!("{prefix}{c}"))
                    .collect(),
            );
        }
        let previous = before[..start]
            .split_whitespace()
            .last()
            .unwrap_or("")
            .to_ascii_uppercase();
        if matches!(
            previous.as_str(),
            "FROM" | "JOIN" | "\\D" | "TABLE" | "INTO"
        ) {
            return (
                start,
                self.tables
                    .keys()
                    .filter(|t| t.starts_with(&lower))
                    .cloned()
                    .collect(),
            );
        }
        let mut out: Vec<String> = Vec::new();
        let named = self.tables_in(&statement);
        for (table, _) in &named {
            if let Some(columns) = self.tables.get(table) {
                out.extend(columns.iter().filter(|c| c.starts_with(&lower)).cloned());
            }
        }
        if named.is_empty() {
            // No table named yet (the select list comes first): any table's columns.
            let mut all: Vec<&String> = self
                .tables
                .values()
                .flatten()
                .filter(|c| c.starts_with(&lower))
                .collect();
            all.sort();
            all.dedup();
            out.extend(all.into_iter().cloned());
        }
        out.extend(
            self.tables
                .keys()
                .filter(|t| t.starts_with(&lower))
                .cloned(),
        );
        out.extend(
            self.functions
                .iter()
                .filter(|f| f.starts_with(&lower))
                .cloned(),
        );
        let upper = word.chars().next().is_some_and(|c| c.is_uppercase());
        out.extend(
            KEYWORDS
                .iter()
                .filter(|k| k.starts_with(&word.to_ascii_uppercase()))
                .map(|k| {
                    if upper {
                        k.to_string()
                    } else {
                        k.to_ascii_lowercase()
                    }
                }),
        );
        let mut seen = std::collections::HashSet::new();
        out.retain(|c| seen.insert(c.clone()));
        (start, out)
    }
}

/// Inside an unclosed single quote?
fn in_quote(before: &str) -> bool {
    before.chars().filter(|c| *c == '\'').count() % 2 == 1
}

impl Completer for FjqHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let command_path = crate::command::COMMANDS
            .iter()
            .filter(|c| c.takes_path)
            .flat_map(|c| std::iter::once(c.name).chain(c.aliases.iter().copied()))
            .any(|name| before.starts_with(&format!("{name} ")));
        if in_quote(before) || command_path {
            return self.files.complete(line, pos, ctx);
        }
        let (start, words) = self.candidates(line, pos);
        Ok((
            start,
            words
                .into_iter()
                .map(|w| Pair {
                    display: w.clone(),
                    replacement: w,
                })
                .collect(),
        ))
    }
}

impl Hinter for FjqHelper {
    type Hint = String;
}
impl Highlighter for FjqHelper {}
impl Validator for FjqHelper {}
impl rustyline::Helper for FjqHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    fn helper() -> FjqHelper {
        let mut tables = BTreeMap::new();
        tables.insert(
            "cases".to_string(),
            vec![
                "case_id".to_string(),
                "case_type".to_string(),
                "start_date".to_string(),
            ],
        );
        tables.insert(
            "people".to_string(),
            vec!["person_id".to_string(), "case_id".to_string()],
        );
        FjqHelper {
            tables,
            functions: vec!["case_pathway".to_string(), "count".to_string()],
            files: FilenameCompleter::new(),
            statement: Arc::new(Mutex::new(String::new())),
        }
    }

    #[test]
    fn tables_after_from_columns_after_alias_and_functions_elsewhere() {
        let h = helper();
        assert_eq!(h.candidates("SELECT * FROM ca", 16).1, vec!["cases"]);
        assert_eq!(
            h.candidates("SELECT c.case_t FROM cases c", 15).1,
            vec!["c.case_type"]
        );
        let (_, words) = h.candidates("SELECT case_ FROM cases", 12);
        assert!(
            words.contains(&"case_id".to_string()) && words.contains(&"case_pathway".to_string()),
            "{words:?}"
        );
        assert_eq!(h.candidates("\\d", 2).1, vec!["\\d", "\\df"]);
        assert_eq!(h.candidates("sel", 3).1, vec!["select"]);
    }

    #[test]
    fn earlier_lines_of_the_statement_count() {
        let h = helper();
        *h.statement.lock().unwrap() = "SELECT p.person_id\nFROM people p\n".to_string();
        assert_eq!(h.candidates("WHERE p.ca", 10).1, vec!["p.case_id"]);
    }
}
