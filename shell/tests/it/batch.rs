//! Batch mode: formats, standard input, --output, and psql's exit codes (1 usage or start-up,
//! 3 a failed statement), stopping at the first error unless told otherwise.

use crate::{empty_scratch, files_under, fjq, run, sample_copy, scramble, stderr, stdout};
use std::io::Write;
use std::process::Stdio;

const BY_TYPE: &str =
    "SELECT case_type, count(*) AS n FROM cases GROUP BY case_type ORDER BY n DESC";

#[test]
fn table_format_prints_a_footer_with_the_row_count() {
    let o = run(&["-c", BY_TYPE]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("matrimonial"), "{out}");
    assert!(out.trim_end().ends_with("7 rows"), "{out}");
    let quiet = stdout(&run(&["-q", "-c", BY_TYPE]));
    assert!(!quiet.contains("7 rows"), "{quiet}");
}

/// A plan fitted into a table cell would be cut to its first line: EXPLAIN prints each plan
/// under its kind, an operator a line, whole, as psql does.
#[test]
fn explain_prints_each_plan_whole_an_operator_a_line() {
    let o = run(&["-c", &format!("EXPLAIN {BY_TYPE}")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    let physical = lines
        .iter()
        .position(|l| *l == "physical_plan")
        .unwrap_or_else(|| panic!("no physical plan heading:\n{out}"));
    assert!(lines.contains(&"logical_plan"), "{out}");
    let operators: Vec<&str> = lines[physical + 1..]
        .iter()
        .take_while(|l| l.starts_with("  "))
        .map(|l| l.trim_start())
        .collect();
    assert!(operators[0].starts_with("SortPreservingMergeExec"), "{out}");
    assert!(
        operators.iter().any(|l| l.starts_with("AggregateExec")),
        "{out}"
    );
    let scan = operators
        .iter()
        .find(|l| l.starts_with("DataSourceExec"))
        .unwrap_or_else(|| panic!("no scan in\n{out}"));
    assert!(scan.contains("projection=[case_type]"), "{scan}");
    assert!(!out.contains('…') && !out.contains('│'), "{out}");
}

#[test]
fn csv_json_and_ndjson_are_machine_readable() {
    let csv = stdout(&run(&["--format", "csv", "-c", BY_TYPE]));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "case_type,n");
    assert_eq!(lines.len(), 8);
    assert!(lines[1].starts_with("matrimonial,"), "{csv}");

    let json: serde_json::Value =
        serde_json::from_str(&stdout(&run(&["--format", "json", "-c", BY_TYPE]))).expect("json");
    assert_eq!(json.as_array().expect("array").len(), 7);
    assert_eq!(json[0]["case_type"], "matrimonial");

    let ndjson = stdout(&run(&["--format", "ndjson", "-c", BY_TYPE]));
    let rows: Vec<serde_json::Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(rows.len(), 7);

    let empty = stdout(&run(&[
        "--format",
        "json",
        "-c",
        "SELECT * FROM cases WHERE false",
    ]));
    assert_eq!(empty.trim(), "[]");
}

#[test]
fn sql_on_standard_input_runs_when_it_is_not_a_terminal() {
    let mut child = fjq()
        .args(["--format", "csv"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"SELECT 40 + 2 AS answer;\nSELECT 'two' AS second;")
        .expect("write");
    let o = child.wait_with_output().expect("wait");
    assert!(o.status.success());
    assert_eq!(stdout(&o), "answer\n42\nsecond\ntwo\n");
}

#[test]
fn output_goes_to_a_file_when_asked() {
    let path = crate::scratch("batch-output.csv");
    let o = run(&[
        "--format",
        "csv",
        "--output",
        path.to_str().expect("path"),
        "-c",
        BY_TYPE,
    ]);
    assert!(o.status.success());
    assert!(stdout(&o).is_empty());
    let text = std::fs::read_to_string(&path).expect("written");
    assert!(text.starts_with("case_type,n\nmatrimonial,"), "{text}");
}

#[test]
fn a_failed_statement_exits_3_and_stops_unless_told_to_continue() {
    let args = [
        "--format",
        "csv",
        "-c",
        "SELECT 1 AS first",
        "-c",
        "SELECT * FROM no_such_table",
        "-c",
        "SELECT 3 AS third",
    ];
    let o = run(&args);
    assert_eq!(o.status.code(), Some(3));
    assert!(stdout(&o).contains("first"));
    assert!(!stdout(&o).contains("third"), "stopped at the first error");
    let err = stderr(&o);
    assert!(err.contains("statement 1 of -c #2 failed"), "{err}");
    assert!(err.contains("no_such_table"), "{err}");

    let mut more = vec!["--continue-on-error"];
    more.extend(args);
    let o = run(&more);
    assert_eq!(o.status.code(), Some(3));
    assert!(stdout(&o).contains("third"));
}

#[test]
fn a_syntax_error_names_the_statement() {
    let o = run(&["-c", "SELECT 1; SELEC 2"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("statement 1 of -c #1 failed"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn usage_and_start_up_errors_exit_1_with_a_message() {
    let o = run(&["--no-such-flag"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--no-such-flag"));

    let o = run(&["--data", "/nonexistent/fjq", "-c", "SELECT 1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("data directory /nonexistent/fjq does not exist"),
        "{}",
        stderr(&o)
    );

    let o = run(&["--memory-limit", "lots", "-c", "SELECT 1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("memory size \"lots\" is not understood"),
        "{}",
        stderr(&o)
    );

    let o = run(&["-f", "/nonexistent/analysis.sql"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cannot read /nonexistent/analysis.sql"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn help_and_version_exit_0() {
    assert_eq!(run(&["--help"]).status.code(), Some(0));
    let o = run(&["--version"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).starts_with("fjq "));
}

#[test]
fn backslash_commands_run_in_batch_mode_with_descriptions() {
    let out = stdout(&run(&["-c", "\\d"]));
    for table in ["cases", "events", "people", "linkage", "linked_people"] {
        assert!(out.contains(table), "{out}");
    }
    let out = stdout(&run(&["-c", "\\d people"]));
    assert!(out.contains("relationship_to_child"), "{out}");
    assert!(out.contains("De-duplicated person identifier"), "{out}");
    assert!(out.contains("Sorted by case_id, role_id."), "{out}");
    let out = stdout(&run(&["-c", "\\d linked_cases"]));
    assert!(out.contains("linked_cases (a view)"), "{out}");
    assert!(
        out.contains("weakest_match_status")
            && out.contains("Subject children on the Cafcass case."),
        "{out}"
    );
    let out = stdout(&run(&["-c", "\\df returns_within"]));
    assert!(
        out.contains("returns_within(start_date, days [, coverage_end])  (window)"),
        "{out}"
    );
    assert!(out.contains("Example:"), "{out}");
    let o = run(&["-c", "\\d no_such_table"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("no table named \"no_such_table\""),
        "{}",
        stderr(&o)
    );
}

#[test]
fn safe_releases_and_the_safe_policy_in_batch_mode() {
    let releases = crate::scratch("batch-releases");
    let _ = std::fs::remove_dir_all(&releases);
    let dir = releases.to_str().unwrap();
    // \safe releases through disclosure control and says where the report went.
    let o = run(&[
        "--release-dir",
        dir,
        "-c",
        "\\safe SELECT case_type, count(*) AS cases FROM cases GROUP BY case_type",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("Released release-0001: 7 cells"), "{out}");
    assert!(releases.join("release-0001/results.json").exists());
    // A survival curve through \safe: released as a survival table, always for review.
    let o = run(&[
        "--release-dir",
        dir,
        "-c",
        "\\safe SELECT * FROM return_curve('SELECT p.person_id, c.start_date FROM people p JOIN cases c USING (case_id) WHERE p.relationship_to_child = ''mother'' AND c.case_type = ''public_law''', 2557)",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("Released release-0002: survival table"),
        "{out}"
    );
    assert!(out.contains("at_risk") && out.contains("lower_95"), "{out}");
    let report = std::fs::read_to_string(releases.join("release-0002/results.json")).unwrap();
    assert!(report.contains("\"method\": \"return_curve\""), "{report}");
    // The researcher's case for it, from the shell, lands in its report for the checker.
    let o = run(&[
        "--release-dir",
        dir,
        "-c",
        "\\exception release-0002 the curve is Figure 2 of the report; steps were merged as the rules require",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("release-0002: exception recorded"),
        "{}",
        stdout(&o)
    );
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(releases.join("release-0002/results.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        report["results"]["output_0"]["exception"],
        "the curve is Figure 2 of the report; steps were merged as the rules require"
    );
    // Under --policy safe a row-level query fails with the reason and exit code 3.
    let o = run(&[
        "--policy",
        "safe",
        "--release-dir",
        dir,
        "-c",
        "SELECT person_id FROM people LIMIT 5",
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("row-level results are refused under the safe policy"),
        "{}",
        stderr(&o)
    );
    // ... and results may be written only inside the release directory.
    let outside = crate::scratch("batch-outside.csv");
    let o = run(&[
        "--policy",
        "safe",
        "--release-dir",
        dir,
        "--output",
        outside.to_str().unwrap(),
        "-c",
        "SELECT case_type, count(*) AS cases FROM cases GROUP BY case_type",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("outside the release directory"),
        "{}",
        stderr(&o)
    );
    assert!(!outside.exists());
}

pub const OVER_MEMORY: &str =
    "SELECT a.*, b.* FROM events a JOIN events b ON a.event_id = b.event_id";
pub const SPILLING_SORT: &str = "EXPLAIN ANALYZE SELECT event_id, case_id, event_code FROM events ORDER BY event_code, case_id DESC, event_id";
pub const ALL_EVENT_COLUMNS: &str = "SELECT count(*), sum(length(case_id)), sum(length(event_id)), min(event_date), sum(length(hearing_type)), sum(length(disposal_type)) FROM events";

#[test]
fn over_memory_and_damaged_files_fail_alone_and_spill_files_are_removed() {
    let data = sample_copy("batch-faults-data");
    let tmp = empty_scratch("batch-faults-tmp");
    let o = fjq()
        .env("TMPDIR", &tmp)
        .arg("--data")
        .arg(&data)
        .args([
            "--memory-limit",
            "16M",
            "--continue-on-error",
            "--format",
            "csv",
        ])
        .args([
            "-c",
            OVER_MEMORY,
            "-c",
            SPILLING_SORT,
            "-c",
            "SELECT count(*) AS n FROM cases",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("statement 1 of -c #1 failed: out of memory"),
        "{err}"
    );
    assert!(err.contains("--memory-limit"), "{err}");
    assert!(!err.contains("-c #2") && !err.contains("-c #3"), "{err}");
    let out = stdout(&o);
    let spills: u64 = out
        .split("spill_count=")
        .skip(1)
        .filter_map(|r| {
            r.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert!(spills > 0, "the sort should have spilled under 16M:\n{out}");
    assert!(out.contains("\nn\n"), "the last statement ran: {out}");
    assert_eq!(
        files_under(&tmp),
        Vec::<std::path::PathBuf>::new(),
        "spill files left behind"
    );

    scramble(&data.join("events/part-00000.parquet"));
    let o = fjq()
        .arg("--data")
        .arg(&data)
        .args(["--continue-on-error", "--format", "csv"])
        .args([
            "-c",
            ALL_EVENT_COLUMNS,
            "-c",
            "SELECT count(*) AS n FROM cases",
        ])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(
        err.contains("table `events`") && err.contains("events/part-00000.parquet"),
        "{err}"
    );
    assert!(stdout(&o).starts_with("n\n"), "{}", stdout(&o));
}

#[test]
fn a_release_that_cannot_be_written_names_the_path_and_exits_3() {
    let blocked = crate::scratch("batch-blocked-releases");
    let _ = std::fs::remove_dir_all(&blocked);
    std::fs::write(&blocked, "not a directory").unwrap();
    let o = fjq()
        .args(["--policy", "safe", "--release-dir"])
        .arg(&blocked)
        .args(["-c", BY_TYPE])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "cannot create the release directory {}",
            blocked.display()
        )),
        "{err}"
    );
    assert!(!err.contains("refused"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&blocked).unwrap(),
        "not a directory"
    );
}

#[test]
fn under_safe_a_failed_cast_names_the_type_but_not_the_value() {
    let releases = crate::scratch("batch-safe-cast-releases");
    let _ = std::fs::remove_dir_all(&releases);
    let sql = "SELECT sum(CAST(residence_la AS INT)) AS s FROM people";
    let open = run(&["-c", sql]);
    assert_eq!(open.status.code(), Some(3));
    // The open policy prints DataFusion's message with the local authority code it met.
    let code = stderr(&open)
        .split('\'')
        .nth(1)
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no quoted value in {}", stderr(&open)));
    assert!(code.starts_with('E') || code.starts_with('W'), "{code}");
    let o = fjq()
        .args(["--policy", "safe", "--release-dir"])
        .arg(&releases)
        .args(["-c", sql])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    let err = stderr(&o);
    assert!(
        err.contains("Cannot cast string '…' to value of Int32 type"),
        "{err}"
    );
    assert!(!err.contains(&code), "{err}");
    let endpoint = fjq()
        .args(["--policy", "safe", "--release-dir"])
        .arg(&releases)
        .args(["-c", "SELECT max(person_id) AS m FROM people"])
        .output()
        .unwrap();
    assert_eq!(endpoint.status.code(), Some(3));
    assert!(
        stderr(&endpoint).contains("publishes one contributor's own value"),
        "{}",
        stderr(&endpoint)
    );
}

#[test]
fn a_released_table_shows_suppressed_cells_and_totals_by_name_not_as_null() {
    let releases = crate::scratch("batch-null-meaning-releases");
    let _ = std::fs::remove_dir_all(&releases);
    let o = fjq()
        .args(["--policy", "safe", "--release-dir"])
        .arg(&releases)
        .args([
            "-c",
            "SELECT region, case_type, count(*) AS n FROM cases \
             WHERE case_type IN ('forced_marriage', 'adoption') GROUP BY ROLLUP(region, case_type)",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    // Forced marriage cases by region are few: suppressed, and said so; the ROLLUP's margins
    // say "all" where a NULL stood.
    assert!(out.contains("suppressed"), "{out}");
    assert!(out.lines().any(|l| l.contains(" all ")), "{out}");
    assert!(!out.contains("NULL"), "{out}");
    // The CSV keeps ACRO's convention: a suppressed cell is empty.
    let csv = std::fs::read_to_string(releases.join("release-0001/output_0.csv")).unwrap();
    assert!(csv.lines().any(|l| l.ends_with(',')), "{csv}");
    // Outside a release, a NULL is still NULL.
    let plain = stdout(&run(&["-c", "SELECT CAST(NULL AS INT) AS nothing"]));
    assert!(plain.contains("NULL"), "{plain}");
}

/// `--output FILE.arrow` (or `.feather`) writes an Arrow IPC file and `.arrows` a stream, read
/// with no conversion by pyarrow and polars: the same rows and types as `fjq -c` prints, dates
/// as dates and NULLs as NULLs. More than one query for one such file is refused, saying why.
#[test]
fn arrow_files_and_streams_are_read_by_pyarrow_and_polars() {
    let sql = "SELECT case_type, count(*) AS n, min(start_date) AS first, max(final_order_date) AS last_order, avg(n_children) AS children FROM cases GROUP BY case_type ORDER BY case_type";
    let expected = crate::json_rows(&run(&["--format", "json", "-c", sql]));
    for name in ["result.arrow", "result.feather", "result.arrows"] {
        let path = crate::scratch(name);
        let _ = std::fs::remove_file(&path);
        let o = run(&["--output", path.to_str().unwrap(), "-c", sql]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stderr(&o).contains("7 rows written"), "{}", stderr(&o));
        let read = if name.ends_with(".arrows") {
            "import pyarrow.ipc as ipc, polars as pl; t = ipc.open_stream(p).read_all(); q = pl.read_ipc_stream(p)"
        } else {
            "import pyarrow.feather as f, polars as pl; t = f.read_table(p); q = pl.read_ipc(p)"
        };
        let script = format!(
            "import json, sys\np = sys.argv[1]\n{read}\nassert q.to_arrow().to_pylist() == t.to_pylist()\nprint(json.dumps({{'types': [str(x) for x in t.schema.types], 'rows': t.to_pylist()}}, default=str))"
        );
        let o = std::process::Command::new(crate::flight::python())
            .args(["-c", &script, path.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let got: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(
            got["types"],
            serde_json::json!(["string", "int64", "date32[day]", "date32[day]", "double"]),
            "{name}"
        );
        let rows = got["rows"].as_array().unwrap();
        assert_eq!(rows.len(), expected.len(), "{name}");
        for (row, want) in rows.iter().zip(&expected) {
            // fjq's JSON leaves NULLs out: those columns must be NULL in the file.
            for (column, theirs) in row.as_object().unwrap() {
                if !want.contains_key(column) {
                    assert!(theirs.is_null(), "{name} {column}: {theirs}");
                }
            }
            for (column, value) in want {
                let theirs = &row[column];
                match (value.as_f64(), theirs.as_f64()) {
                    (Some(a), Some(b)) => assert!((a - b).abs() < 1e-9, "{name} {column}"),
                    _ => assert_eq!(theirs, value, "{name} {column}"),
                }
            }
        }
    }
    let path = crate::scratch("two.arrow");
    let o = run(&[
        "--output",
        path.to_str().unwrap(),
        "-c",
        "SELECT 1",
        "-c",
        "SELECT 2",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("holds one query's result"),
        "{}",
        stderr(&o)
    );
    assert!(!path.exists());
}
