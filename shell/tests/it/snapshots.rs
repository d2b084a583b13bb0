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
