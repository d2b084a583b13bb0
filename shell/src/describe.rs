//! `\d`, `\d TABLE`, `\df` and `\catalogue`: the data contract and the functions in the
//! shell, with every column's description.

use crate::command::Command;
use comfy_table::{ContentArrangement, Table};
use fjq_engine::{Engine, VIEWS};

/// The commands that describe the dataset (`\d`, `\d TABLE`, `\df [PATTERN]`,
/// `\catalogue`), shared by the shell and batch mode. Err names what is wrong.
pub fn run(engine: &Engine, command: &Command) -> Result<String, String> {
    match command {
        Command::Describe(None) => Ok(tables(engine)),
        Command::Describe(Some(t)) => {
            table(engine, t).ok_or_else(|| format!("no table named {t:?}; \\d lists them"))
        }
        Command::Functions(pattern) => Ok(functions(engine, pattern.as_deref())),
        Command::Catalogue => Ok(catalogue(engine)),
        other => Err(format!(
            "{} does not describe the dataset",
            other.spec().name
        )),
    }
}

pub fn tables(engine: &Engine) -> String {
    let mut t = Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_content_arrangement(ContentArrangement::Dynamic);
    t.set_header(["name", "kind", "rows", "description"]);
    for spec in engine.tables() {
        let rows = engine
            .dataset()
            .tables
            .get(spec.name)
            .map(|t| crate::generate::thousands(t.rows))
            .unwrap_or_default();
        t.add_row([spec.name, "table", rows.as_str(), spec.description]);
    }
    for view in VIEWS {
        t.add_row([view.name, "view", "", view.description]);
    }
    t.to_string()
}

pub fn table(engine: &Engine, name: &str) -> Option<String> {
    let Some(spec) = engine
        .tables()
        .iter()
        .find(|t| t.name.eq_ignore_ascii_case(name))
    else {
        return view(name);
    };
    let mut t = Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_content_arrangement(ContentArrangement::Dynamic);
    t.set_header(["column", "type", "nullable", "description"]);
    for c in spec.columns {
        t.add_row([
            c.name,
            &c.data_type.arrow().to_string(),
            if c.nullable { "yes" } else { "no" },
            c.description,
        ]);
    }
    Some(format!(
        "{}: {}\nSorted by {}.\n{t}",
        spec.name,
        spec.description,
        spec.sort_order.join(", ")
    ))
}

/// `\d VIEW`: a view's columns and what each means.
fn view(name: &str) -> Option<String> {
    let view = VIEWS.iter().find(|v| v.name.eq_ignore_ascii_case(name))?;
    let mut t = Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_content_arrangement(ContentArrangement::Dynamic);
    t.set_header(["column", "description"]);
    for (column, description) in view.columns {
        t.add_row([*column, *description]);
    }
    Some(format!("{} (a view): {}\n{t}", view.name, view.description))
}

/// `\df [PATTERN]`: functions with signature, description and example. Without a pattern, fjq's
/// domain functions; with one, every function whose name contains it (DataFusion's too).
pub fn functions(engine: &Engine, pattern: Option<&str>) -> String {
    use datafusion::logical_expr::Documentation;
    let state = engine.context().state();
    let mut found: Vec<(String, &'static str, Option<Documentation>)> = Vec::new();
    let ours: Vec<String> = fjq_udfs_names();
    let wanted = |name: &str| match pattern {
        None => ours.iter().any(|o| o == name),
        Some(p) => name.contains(&p.to_ascii_lowercase().replace('%', "")),
    };
    for (name, f) in state.scalar_functions() {
        if wanted(name) {
            found.push((name.clone(), "scalar", f.documentation().cloned()));
        }
    }
    for (name, f) in state.aggregate_functions() {
        if wanted(name) {
            found.push((name.clone(), "aggregate", f.documentation().cloned()));
        }
    }
    for (name, f) in state.window_functions() {
        if wanted(name) {
            found.push((name.clone(), "window", f.documentation().cloned()));
        }
    }
    if found.is_empty() {
        return format!("No function matches {:?}.", pattern.unwrap_or(""));
    }
    found.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(b.1)));
    found.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
    let mut out = String::new();
    for (name, kind, doc) in found {
        match doc {
            Some(d) => {
                out.push_str(&format!("{}  ({kind})\n", d.syntax_example));
                out.push_str(&wrap(&d.description, 2, 96));
                if let Some(args) = &d.arguments {
                    for (arg, text) in args {
                        out.push_str(&wrap(&format!("{arg}: {text}"), 4, 96));
                    }
                }
                if let Some(example) = &d.sql_example {
                    let example = example_sql(example);
                    out.push_str("  Example:\n");
                    for line in example.lines() {
                        out.push_str(&format!("    {line}\n"));
                    }
                }
            }
            None => out.push_str(&format!("{name}  ({kind})\n")),
        }
        out.push('\n');
    }
    out.trim_end().to_string()
}

/// A function's SQL example without the Markdown fence its documentation wraps it in.
pub fn example_sql(example: &str) -> &str {
    example
        .trim()
        .trim_start_matches("```sql")
        .trim_end_matches("```")
        .trim()
}

fn fjq_udfs_names() -> Vec<String> {
    let mut names: Vec<String> = fjq_udfs::scalar_functions()
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    names.extend(
        fjq_udfs::aggregate_functions()
            .iter()
            .map(|f| f.name().to_string()),
    );
    names.extend(
        fjq_udfs::window_functions()
            .iter()
            .map(|f| f.name().to_string()),
    );
    names
}

/// Word-wraps `text` to `width` columns, each line indented by `indent` spaces.
fn wrap(text: &str, indent: usize, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent + line.len() + 1 + word.len() > width {
            out.push_str(&format!("{}{line}\n", " ".repeat(indent)));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(&format!("{}{line}\n", " ".repeat(indent)));
    }
    out
}

/// `\catalogue`: the data contract in words, every table and column with its description.
pub fn catalogue(engine: &Engine) -> String {
    let info = engine.dataset();
    let mut out = format!(
        "{}\nFamily court coverage {} to {}; Cafcass {} to {}.\n",
        info.dataset,
        info.coverage.family_court.from,
        info.coverage.family_court.to,
        info.coverage.cafcass.from,
        info.coverage.cafcass.to
    );
    for spec in engine.tables() {
        let rows = info
            .tables
            .get(spec.name)
            .map(|t| crate::generate::thousands(t.rows))
            .unwrap_or_else(|| "?".into());
        out.push_str(&format!(
            "\n{} ({rows} rows, sorted by {})\n",
            spec.name,
            spec.sort_order.join(", ")
        ));
        out.push_str(&wrap(spec.description, 2, 96));
        for c in spec.columns {
            let null = if c.nullable { ", may be NULL" } else { "" };
            out.push_str(&wrap(
                &format!(
                    "{} ({}{null}): {}",
                    c.name,
                    c.data_type.arrow(),
                    c.description
                ),
                4,
                96,
            ));
        }
    }
    for view in VIEWS {
        out.push_str(&format!("\n{} (view)\n", view.name));
        out.push_str(&wrap(view.description, 2, 96));
    }
    out.trim_end().to_string()
}
