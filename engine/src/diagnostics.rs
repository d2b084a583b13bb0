//! DataFusion's errors, worded for researchers: the one place that reads DataFusion's error text.
//!
//! DataFusion's messages are written for its developers: a prefix naming the error's variant,
//! signature-matching text around a function's own complaint, every valid column after a
//! "did you mean", the memory pool's consumers. [`describe`] keeps what a user needs: the
//! function's sentence, the suggestion, what to do when memory runs out, and a suggestion for
//! a mistyped table.

use crate::catalogue::VIEWS;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::DataFusionError;

/// The message a user sees for a DataFusion error.
pub fn describe(error: &DataFusionError) -> String {
    let root = error.find_root();
    if let DataFusionError::ResourcesExhausted(detail) = root {
        return out_of_memory(detail);
    }
    if let DataFusionError::External(inner) = root {
        return inner.to_string();
    }
    let message = root.message();
    let mut m = message.trim();
    if matches!(root, DataFusionError::SQL(..)) {
        // `ParserError("Expected ..., found: x at Line: 1, Column: 8")`
        if let Some(inner) = m
            .strip_prefix("ParserError(\"")
            .and_then(|r| r.strip_suffix("\")"))
        {
            return format!("syntax error: {inner}");
        }
    }
    if let Some(sentence) = argument_error(m) {
        return sentence;
    }
    if let Some(sentence) = unknown_table(m) {
        return sentence;
    }
    // A function's own complaint, without DataFusion's signature-matching text around it.
    // (Among several signatures DataFusion reports the failure as internal, with its
    // bug-report line: that line is not the user's to read.)
    if let Some((_, inner)) = m.split_once("coercion failed with: ") {
        m = inner.split(". No function matches").next().unwrap_or(inner);
        m = m
            .split("\nThis issue was likely caused by a bug")
            .next()
            .unwrap_or(m)
            .trim_end();
    }
    // DataFusion follows "Did you mean ...?" with every valid field; the suggestion is enough.
    if let Some(at) = m
        .find("\nValid fields are")
        .or_else(|| m.find(" Valid fields are"))
    {
        m = m[..at].trim_end();
    }
    // Nested errors repeat their variant's prefix inside the text.
    for prefix in [
        "Error during planning: ",
        "Execution error: ",
        "Schema error: ",
        "External error: ",
    ] {
        if let Some(rest) = m.strip_prefix(prefix) {
            m = rest;
        }
    }
    m.to_string()
}

/// Over the memory limit in a step that cannot spill: say so, and what to do, without the
/// memory pool's list of consumers.
fn out_of_memory(detail: &str) -> String {
    let first = detail.lines().next().unwrap_or("");
    format!(
        "out of memory: the query needs more than its memory limit and this step cannot spill to disk ({}); raise the limit (--memory-limit, or the server's --query-memory-limit) or read less (filter, fewer columns)",
        first
            .trim_end_matches(':')
            .trim_end_matches(" with top memory consumers (across reservations) as")
    )
}

/// "table 'datafusion.public.casez' not found": say which table was probably meant.
fn unknown_table(message: &str) -> Option<String> {
    let name = message
        .split("table '")
        .nth(1)?
        .split("' not found")
        .next()?;
    let short = name.rsplit('.').next().unwrap_or(name);
    let known = fjq_contract::TABLES
        .iter()
        .map(|t| t.name)
        .chain(VIEWS.iter().map(|v| v.name));
    let best = known.map(|k| (edit_distance(short, k), k)).min();
    let hint = match best {
        Some((d, k)) if d <= 3 => format!("; did you mean `{k}`?"),
        _ => "; \\d lists the tables".to_string(),
    };
    Some(format!("table `{short}` not found{hint}"))
}

/// DataFusion's "Failed to coerce arguments to satisfy a call to 'f' function: coercion from
/// T1, T2 to the signature ... failed", for one of fjq's functions, as the function's own
/// sentence naming the argument (or the count) that is wrong.
fn argument_error(message: &str) -> Option<String> {
    let name = message.split("a call to '").nth(1)?.split('\'').next()?;
    let params = fjq_udfs::all_params()
        .into_iter()
        .find(|p| p.function == name)?;
    let types = message
        .split("coercion from ")
        .nth(1)?
        .split(" to the signature")
        .next()?;
    let types: Vec<DataType> = if types.trim().is_empty() {
        Vec::new()
    } else {
        types
            .split(", ")
            .map(|t| t.trim().parse::<DataType>().ok())
            .collect::<Option<_>>()?
    };
    match params.check(&types) {
        Err(sentence) => Some(sentence),
        // Acceptable in principle, but DataFusion casts only exact types here: say how to write it.
        Ok(targets) => types
            .iter()
            .zip(&targets)
            .zip(params.params)
            .enumerate()
            .find(|(_, ((t, want), _))| t != want)
            .map(|(i, ((t, want), (name, _)))| {
                let how = if *want == DataType::Date32 {
                    " (write DATE '2021-01-31' or CAST(... AS DATE))"
                } else {
                    ""
                };
                format!(
                    "{}: argument {} ({name}) must be {want}, got {t}{how}; usage: {}",
                    params.function,
                    i + 1,
                    params.usage()
                )
            }),
    }
}

/// Whether a failure happened reading the dataset's files (rather than in the query itself).
pub(crate) fn is_read_failure(error: &DataFusionError) -> bool {
    let root = error.find_root();
    let typed = matches!(
        root,
        DataFusionError::ParquetError(_) | DataFusionError::IoError(_)
    );
    let text = error.to_string();
    typed
        || [
            "Parquet",
            "parquet",
            "Object at location",
            "No such file",
            "os error",
        ]
        .iter()
        .any(|w| text.contains(w))
}

/// Whether an error arose while the query ran rather than while it was planned. Its words may
/// then carry values from the data: the text a cast failed on, the number that overflowed.
/// (Planning errors quote only the user's own SQL.)
pub fn arose_in_execution(error: &DataFusionError) -> bool {
    matches!(
        error.find_root(),
        DataFusionError::Execution(_)
            | DataFusionError::ArrowError(..)
            | DataFusionError::External(_)
            | DataFusionError::ExecutionJoin(_)
            | DataFusionError::ParquetError(_)
            | DataFusionError::Shared(_)
    )
}

/// A message with every value taken out: quoted text becomes `'…'` and numbers `…`, so that what
/// went wrong and where (the function, the column, the types) stays and no value from a row
/// does. Digits inside words stay (`Int32`, `fjq_cell_stats`).
pub fn redact(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut chars = message.chars().peekable();
    let mut previous: Option<char> = None;
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' | '`' => {
                // A quoted value: keep the quotes, drop what is between them.
                out.push(c);
                out.push('…');
                for inner in chars.by_ref() {
                    if inner == c {
                        break;
                    }
                }
                out.push(c);
                previous = Some(c);
            }
            d if d.is_ascii_digit()
                && !previous.is_some_and(|p| p.is_alphanumeric() || p == '_') =>
            {
                // A number runs on through what joins its parts: 2019-02-30, 12:30:00, 1.5e3.
                while chars.peek().is_some_and(|n| {
                    n.is_ascii_alphanumeric() || matches!(n, '.' | '_' | ':' | '-')
                }) {
                    chars.next();
                }
                if previous == Some('-') {
                    out.pop();
                }
                out.push('…');
                previous = Some('…');
            }
            other => {
                out.push(other);
                previous = Some(other);
            }
        }
    }
    out
}

/// Levenshtein distance, for suggesting a known name.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            current[j + 1] = (previous[j] + usize::from(ca != *cb))
                .min(previous[j + 1] + 1)
                .min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_field_lists_are_trimmed() {
        let e = DataFusionError::Plan(
            "No field named casez. Did you mean 'cases.case_id'?. Valid fields are a, b, c.".into(),
        );
        assert_eq!(
            describe(&e),
            "No field named casez. Did you mean 'cases.case_id'?."
        );
        let e = DataFusionError::ResourcesExhausted(
            "Additional allocation failed for HashJoinInput[0] with top memory consumers (across reservations) as:\n  x".into(),
        );
        assert!(
            describe(&e).starts_with("out of memory: "),
            "{}",
            describe(&e)
        );
        assert!(describe(&e).contains("HashJoinInput[0]"));
        assert!(!describe(&e).contains("  x"));
    }

    #[test]
    fn redaction_keeps_the_words_and_drops_the_values() {
        assert_eq!(
            redact("Cast error: Cannot cast string 'E06000163' to value of Int32 type"),
            "Cast error: Cannot cast string '…' to value of Int32 type"
        );
        assert_eq!(
            redact("Arithmetic overflow: Overflow happened on: 2147483647 * -3, in fjq_cell_stats"),
            "Arithmetic overflow: Overflow happened on: … * …, in fjq_cell_stats"
        );
        assert_eq!(
            redact("prior_entries: lookback_days must not be negative, got -1"),
            "prior_entries: lookback_days must not be negative, got …"
        );
        assert_eq!(redact("date 2019-02-30 is invalid"), "date … is invalid");
    }

    #[test]
    fn a_mistyped_table_gets_a_suggestion() {
        let e = DataFusionError::Plan("table 'datafusion.public.casez' not found".into());
        assert_eq!(
            describe(&e),
            "table `casez` not found; did you mean `cases`?"
        );
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
