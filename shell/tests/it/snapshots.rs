//! What batch mode prints, format by format and error by error, as snapshots (insta): a change
//! in output shows up as a diff to read. Timings are filtered out; the data is the default
//! sample, which is deterministic.

use crate::{run, stderr, stdout};

const QUERY: &str = "SELECT case_type, count(*) AS cases, round(avg(n_children), 2) AS children, min(start_date) AS first_start \
                     FROM cases GROUP BY case_type ORDER BY cases DESC LIMIT 4";

fn transcript(args: &[&str]) -> String {
    crate::ensure_sample();
    let o = run(args);
    format!(
        "exit: {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        stdout(&o),
        stderr(&o)
    )
}

macro_rules! snapshot {
    ($name:expr, $value:expr) => {
        insta::with_settings!({ filters => vec![(r"\d+(\.\d+)? (ms|s)\b", "[time]")] }, {
            insta::assert_snapshot!($name, $value);
        });
    };
}

#[test]
fn every_output_format() {
    for format in [
        "table", "csv", "tsv", "json", "ndjson", "markdown", "vertical",
    ] {
        snapshot!(
            format!("format_{format}"),
            transcript(&["--format", format, "-c", QUERY])
        );
    }
}

#[test]
fn errors_and_exit_codes() {
    snapshot!("error_syntax", transcript(&["-c", "SELEC 1"]));
    snapshot!(
        "error_unknown_table",
        transcript(&["-c", "SELECT * FROM casez"])
    );
    snapshot!(
        "error_unknown_column",
        transcript(&["-c", "SELECT relationship_to_c FROM people"])
    );
    snapshot!(
        "error_function_argument",
        transcript(&["-c", "SELECT weeks_between(1, start_date) FROM cases"])
    );
    snapshot!(
        "error_continue",
        transcript(&[
            "--continue-on-error",
            "--format",
            "csv",
            "-c",
            "SELECT 1 AS a",
            "-c",
            "SELECT nope",
            "-c",
            "SELECT 3 AS c"
        ])
    );
    snapshot!(
        "error_usage",
        transcript(&["--format", "xml", "-c", "SELECT 1"])
    );
}

/// A table printed at `columns` wide (as `COLUMNS` sets it), with the checks any reader would
/// make: no line wider than the terminal, and every value shown whole or cut with `…`, never
/// broken across lines (each row of the table is one line).
fn fitted(columns: usize, sql: &str) -> String {
    crate::ensure_sample();
    let o = crate::fjq()
        .env("COLUMNS", columns.to_string())
        .args(["-c", sql])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for line in text.lines() {
        assert!(
            line.chars().count() <= columns,
            "a line of {} characters at {columns} columns:\n{text}",
            line.chars().count()
        );
    }
    text
}

#[test]
fn tables_fit_an_80_column_terminal_without_breaking_values() {
    let sql = "SELECT * FROM cases ORDER BY case_id LIMIT 3";
    let text = fitted(80, sql);
    // Three rows, three lines of data: no value was wrapped onto a line of its own.
    let data_lines = text.lines().filter(|l| l.starts_with('│')).count();
    assert_eq!(data_lines, 1 + 3, "{text}");
    // The first and last columns are kept, the middle ones hidden behind one marker.
    let header = text.lines().nth(1).unwrap();
    assert!(
        header.contains("case_id") && header.contains("marriage_year"),
        "{header}"
    );
    assert!(header.contains('…'), "{header}");
    assert!(text.contains("of 16 columns shown"), "{text}");
    snapshot!("table_cases_80_columns", text);
    // A date is never split: every date shown is whole.
    let wide = fitted(
        200,
        "SELECT case_id, start_date, region FROM cases ORDER BY case_id LIMIT 3",
    );
    assert!(!wide.contains("columns shown"), "{wide}");
    snapshot!("table_three_columns_200", wide);
}

#[test]
fn a_fifty_column_result_shows_its_ends_and_counts_the_rest() {
    let columns: Vec<String> = (1..=50).map(|i| format!("{i} AS column_{i:02}")).collect();
    let sql = format!("SELECT {}", columns.join(", "));
    let text = fitted(80, &sql);
    let header = text.lines().nth(1).unwrap();
    assert!(
        header.contains("column_01") && header.contains("column_50"),
        "{header}"
    );
    // Each column takes 12 characters: 1 + 4 (the marker) + 6 x 12 = 77 <= 80, a seventh would not fit.
    assert!(
        text.contains("6 of 50 columns shown (44 columns hidden"),
        "{text}"
    );
    snapshot!("table_fifty_columns_80", text);
    // Long text is cut with an ellipsis rather than wrapped.
    let long = fitted(
        60,
        "SELECT repeat('abcdefghij', 12) AS long_text, 42 AS answer, 'end' AS last",
    );
    assert!(
        long.contains("abcdefghij") && long.contains('…') && long.contains("42"),
        "{long}"
    );
    assert!(!long.contains("columns shown"), "{long}");
    snapshot!("table_long_text_60", long);
}
