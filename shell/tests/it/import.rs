//! `fjq import`, end to end on the real binary: a generated dataset exported as SAIL-style Db2
//! DEL files (and, by DuckDB, as CSV with a header) comes back equal table by table, checked by
//! DuckDB's EXCEPT ALL both ways; each kind of bad input is refused with its file, line and field,
//! and leaves no output folder; a court-only extract opens and says which table a Cafcass query
//! lacks.

use crate::flight::python;
use crate::{run, scratch, stderr, stdout};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const TABLES: &[&str] = &[
    "cases",
    "case_links",
    "events",
    "people",
    "persons",
    "cafcass_cases",
    "cafcass_people",
    "cafcass_work",
    "linkage",
];

fn datasets_py(args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/interop/datasets.py");
    let o = Command::new(python())
        .arg(script)
        .args(args)
        .output()
        .expect("python runs");
    assert!(o.status.success(), "datasets.py {args:?}: {}", stderr(&o));
    stdout(&o)
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A generated dataset and its SAIL-style DEL export, made once: (dataset, export).
fn generated(scale: &str) -> (PathBuf, PathBuf) {
    let dir = scratch(&format!("import-gen-{scale}"));
    let data = dir.join("data");
    let export = dir.join("export");
    if !export.join("FACO_CASES_20210131_001.del").exists() {
        let _ = std::fs::remove_dir_all(&dir);
        let o = run(&[
            "generate",
            "--scale",
            scale,
            "--seed",
            "11",
            "--out",
            path(&data),
            "--export",
            path(&export),
            "--quiet",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    (data, export)
}

/// The calibration-size export (every code of the layout in use), once per run.
fn large() -> &'static (PathBuf, PathBuf) {
    static CELL: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    CELL.get_or_init(|| generated("0.03"))
}

/// A small export the bad-input tests copy and damage.
fn small() -> &'static (PathBuf, PathBuf) {
    static CELL: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    CELL.get_or_init(|| generated("0.002"))
}

fn import(layout: &str, from: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let _ = std::fs::remove_dir_all(out);
    let mut args = vec![
        "import",
        "--layout",
        layout,
        "--from",
        path(from),
        "--out",
        path(out),
    ];
    args.extend_from_slice(extra);
    run(&args)
}

/// Runs one query over an imported dataset, its result as CSV.
fn query_csv(data: &Path, sql: &str) -> std::process::Output {
    run(&["--data", path(data), "--format", "csv", "-c", sql])
}

fn assert_equal_tables(a: &Path, b: &Path) {
    let mut args = vec!["compare", path(a), path(b)];
    args.extend_from_slice(TABLES);
    let report = datasets_py(&args);
    assert_eq!(report.lines().count(), TABLES.len(), "{report}");
    for line in report.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        assert!(
            f[1].parse::<u64>().unwrap() > 0,
            "an empty table proves nothing: {line}"
        );
        assert_eq!(f[1], f[2], "row counts differ: {line}");
        assert_eq!((f[3], f[4]), ("0", "0"), "rows differ: {line}");
    }
}

#[test]
fn a_sail_del_export_imports_back_equal_with_every_code_in_use() {
    let (data, export) = large();
    // Every code of every code list of the shipped layout occurs in the generated data, so the
    // round trip exercises each.
    let layout = fjq_engine::import::layout::Layout::load("sail-del").expect("shipped layout");
    // A code list shared by several columns (SAIL's gender code) is in use when the union of its
    // columns holds every value: persons are never of unknown sex, people can be.
    let mut lists: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    for t in &layout.tables {
        for c in &t.columns {
            let Some(codes) = &c.codes else { continue };
            let values: Vec<String> = codes.values().cloned().collect();
            let found = datasets_py(&["distinct", path(data), t.spec.name, c.name]);
            let found = found.lines().map(str::to_string);
            match lists.iter_mut().find(|(v, _)| *v == values) {
                Some((_, seen)) => seen.extend(found),
                None => lists.push((values, found.collect())),
            }
        }
    }
    for (values, seen) in &lists {
        for v in values {
            assert!(
                seen.contains(v),
                "no column of the code list {values:?} holds {v}: {seen:?}"
            );
        }
    }
    assert!(
        lists.len() >= 8,
        "the SAIL layout has {} code lists",
        lists.len()
    );

    let out = scratch("import-sail-back");
    let o = import("sail-del", export, &out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = stdout(&o);
    assert!(
        summary.contains("case_type") && summary.contains("Imported "),
        "{summary}"
    );
    assert!(!fjq_engine::import::rejects_path(&out).exists());
    assert_equal_tables(data, &out);

    // Laid out as the generator lays out: each file in its declared order, zstd, statistics,
    // the same columns dictionary-encoded.
    for table in ["events", "people", "linkage"] {
        let generated = datasets_py(&["layout", path(data), table]);
        let imported = datasets_py(&["layout", path(&out), table]);
        let first = |s: &str| s.lines().next().unwrap_or_default().to_string();
        assert_eq!(first(&generated), first(&imported), "{table}");
        assert!(
            imported.lines().all(|l| l.contains("in_order=True")),
            "{imported}"
        );
        assert!(
            first(&imported).contains("compression=ZSTD statistics=True"),
            "{imported}"
        );
    }
    // The engine opens it, with the layout's coverage.
    let o = query_csv(
        &out,
        "SELECT max(start_date) <= DATE '2021-01-31' AS within FROM cases",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "within\ntrue\n");
    let info = std::fs::read_to_string(out.join("dataset.json")).expect("dataset.json");
    assert!(
        info.contains("\"from\": \"2011-01-01\",\n      \"to\": \"2021-01-31\""),
        "the layout's coverage: {info}"
    );
}

#[test]
fn a_csv_export_with_a_header_imports_back_equal() {
    let (data, _) = large();
    let csv = scratch("import-csv-src");
    let _ = std::fs::remove_dir_all(&csv);
    std::fs::create_dir_all(&csv).unwrap();
    let mut args = vec!["csv", path(data), path(&csv)];
    args.extend_from_slice(TABLES);
    datasets_py(&args);
    // Excel and some SQL clients begin a UTF-8 file with a byte order mark.
    let cases = csv.join("cases.csv");
    let mut bytes = vec![0xEF, 0xBB, 0xBF];
    bytes.extend(std::fs::read(&cases).unwrap());
    std::fs::write(&cases, bytes).unwrap();
    let out = scratch("import-csv-back");
    let o = import("fjq-csv", &csv, &out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("Coverage (from the data)"),
        "{}",
        stdout(&o)
    );
    assert_equal_tables(data, &out);
}

/// A copy of the small export with `change` applied to one file's text (Windows-1252 bytes).
fn damaged(name: &str, file: &str, change: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let (_, export) = small();
    let dir = scratch(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(export).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
    }
    let target = dir.join(file);
    let mut bytes = std::fs::read(&target).unwrap();
    change(&mut bytes);
    std::fs::write(&target, bytes).unwrap();
    dir
}

/// Replaces the `n`-th field (from 0) of line `line` (from 1) with `value`. The fields of the
/// generated export hold no commas inside quotes in the columns changed here.
fn set_field(bytes: &mut Vec<u8>, line: usize, n: usize, value: &str) {
    let text = String::from_utf8(bytes.clone()).expect("ASCII export");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut fields: Vec<String> = lines[line - 1].split(',').map(str::to_string).collect();
    fields[n] = value.to_string();
    lines[line - 1] = fields.join(",");
    *bytes = (lines.join("\n") + "\n").into_bytes();
}

const CASES: &str = "FACO_CASES_20210131_001.del";

/// Runs an import that must fail: returns its message, having checked that no dataset (and no
/// staging folder) was left.
fn refused(name: &str, from: &Path) -> String {
    let out = scratch(&format!("{name}-out"));
    let o = import("sail-del", from, &out, &[]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(!out.exists(), "a failed import left {}", out.display());
    let staging = out.with_file_name(format!(
        ".{}.importing",
        out.file_name().unwrap().to_string_lossy()
    ));
    assert!(!staging.exists(), "a failed import left its staging folder");
    let message = stderr(&o);
    assert_eq!(message.lines().count(), 1, "one message: {message}");
    message
}

fn rejects_of(name: &str) -> String {
    let out = scratch(&format!("{name}-out"));
    std::fs::read_to_string(fjq_engine::import::rejects_path(&out)).expect("the rejects file")
}

#[test]
fn a_line_with_the_wrong_number_of_fields_is_named() {
    let from = damaged("import-fields", CASES, |b| {
        set_field(b, 3, 16, "\"x\",\"y\"")
    });
    let m = refused("import-fields", &from);
    assert!(
        m.contains(&format!(
            "{CASES}, line 3: the line has 18 fields, the layout expects 17"
        )),
        "{m}"
    );
    assert!(
        m.contains("1 row was rejected, more than --max-rejects 0 allows"),
        "{m}"
    );
    let rejects = rejects_of("import-fields");
    assert!(
        rejects.starts_with("table,file,line,field,reason,record\n"),
        "{rejects}"
    );
    assert!(
        rejects.contains(&format!(
            "cases,{CASES},3,,\"the line has 18 fields, the layout expects 17\""
        )),
        "{rejects}"
    );
}

#[test]
fn an_impossible_date_is_named_with_its_field() {
    let from = damaged("import-date", CASES, |b| set_field(b, 5, 5, "31/02/2019"));
    let m = refused("import-date", &from);
    assert!(
        m.contains(&format!(
            "{CASES}, line 5, field CASE_START_DT: \"31/02/2019\" is not a day of the calendar"
        )),
        "{m}"
    );
    let from = damaged("import-date-format", CASES, |b| {
        set_field(b, 5, 5, "2019-02-01")
    });
    let m = refused("import-date-format", &from);
    assert!(
        m.contains("\"2019-02-01\" is not a date written DD/MM/YYYY"),
        "{m}"
    );
}

#[test]
fn a_number_that_is_not_one_is_named() {
    let from = damaged("import-number", CASES, |b| set_field(b, 2, 12, "two"));
    let m = refused("import-number", &from);
    assert!(
        m.contains(&format!(
            "{CASES}, line 2, field N_CHILDREN: \"two\" is not a whole number"
        )),
        "{m}"
    );
}

#[test]
fn a_code_missing_from_the_code_list_is_named() {
    let from = damaged("import-code", CASES, |b| set_field(b, 4, 1, "\"Q\""));
    let m = refused("import-code", &from);
    assert!(
        m.contains(&format!("{CASES}, line 4, field CASE_TYPE_LETTER: code \"Q\" is not in the layout's code list for case_type (C, D, F, M, P, R, Z)")),
        "{m}"
    );
}

#[test]
fn bytes_outside_the_encoding_are_named() {
    // 0x81 is one of the five bytes Windows-1252 leaves undefined.
    let from = damaged("import-encoding", CASES, |b| {
        set_field(b, 6, 3, "\"Bad\u{1}\"")
    });
    let file = from.join(CASES);
    let bytes: Vec<u8> = std::fs::read(&file)
        .unwrap()
        .into_iter()
        .map(|b| if b == 1 { 0x81 } else { b })
        .collect();
    std::fs::write(&file, bytes).unwrap();
    let m = refused("import-encoding", &from);
    assert!(m.contains(&format!("{CASES}, line 6, field DFJ_AREA: byte 0x81 at byte 4 of the value is not a Windows-1252 character")), "{m}");
}

#[test]
fn a_truncated_file_stops_the_import_whatever_the_rejects_allowed() {
    let from = damaged("import-truncated", CASES, |b| {
        let cut = b.len() - 30;
        b.truncate(cut);
    });
    let lines = std::fs::read_to_string(from.join(CASES))
        .unwrap()
        .lines()
        .count();
    let out = scratch("import-truncated-out");
    let o = import("sail-del", &from, &out, &["--max-rejects", "100"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!out.exists());
    let m = stderr(&o);
    assert!(
        m.contains(&format!("{CASES}, line {lines}: the file ends in the middle of this line, without a line end: it looks truncated")),
        "{m}"
    );
}

#[test]
fn a_duplicated_key_is_rejected_and_max_rejects_lets_the_rest_through() {
    let from = damaged("import-duplicate", CASES, |b| {
        let text = String::from_utf8(b.clone()).unwrap();
        let second = text.lines().nth(1).unwrap().to_string();
        *b = format!("{text}{second}\n").into_bytes();
    });
    let total = std::fs::read_to_string(from.join(CASES))
        .unwrap()
        .lines()
        .count();
    let m = refused("import-duplicate", &from);
    assert!(
        m.contains(&format!(
            "{CASES}, line {total}, field case_id: duplicated key: case_id = "
        )),
        "{m}"
    );

    // Allowed one reject, the import succeeds without the repeated row and says so.
    let out = scratch("import-duplicate-allowed");
    let o = import("sail-del", &from, &out, &["--max-rejects", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("1 row rejected (within --max-rejects)"),
        "{}",
        stdout(&o)
    );
    let o = query_csv(
        &out,
        "SELECT count(*) AS n, count(DISTINCT case_id) AS d FROM cases",
    );
    let rows = stdout(&o);
    let expected = total - 1; // every line but the repeat
    assert!(rows.contains(&format!("{expected},{expected}")), "{rows}");
}

#[test]
fn rows_that_arrive_out_of_order_are_sorted() {
    let events = "FACO_EVENTS_20210131_001.del";
    let from = damaged("import-unsorted", events, |b| {
        let text = String::from_utf8(b.clone()).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines.reverse();
        *b = (lines.join("\n") + "\n").into_bytes();
    });
    let out = scratch("import-unsorted-out");
    let o = import("sail-del", &from, &out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("1 file(s) sorted"), "{}", stdout(&o));
    let layout = datasets_py(&["layout", path(&out), "events"]);
    assert!(
        layout.contains("sorted_by=case_id,event_date,event_id in_order=True"),
        "{layout}"
    );
    assert_equal_tables(&small().0, &out);
}

#[test]
fn a_court_only_extract_opens_and_names_what_it_lacks() {
    // The shipped layout's court tables alone.
    let text = fjq_engine::import::layout::SHIPPED[0].1;
    let mut layout = String::new();
    let mut keep = true;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("[tables.") {
            keep = [
                "cases]",
                "cases.",
                "case_links",
                "events",
                "people",
                "persons",
            ]
            .iter()
            .any(|t| rest.starts_with(t));
        }
        if keep {
            layout.push_str(line);
            layout.push('\n');
        }
    }
    let file = scratch("court-only.toml");
    std::fs::write(&file, layout).unwrap();
    let (_, export) = small();
    let out = scratch("import-court-only");
    let o = import(path(&file), export, &out, &["--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("dataset.json")).unwrap()).unwrap();
    let listed: Vec<&String> = info["tables"].as_object().unwrap().keys().collect();
    assert_eq!(
        listed,
        ["case_links", "cases", "events", "people", "persons"]
    );

    let o = query_csv(&out, "SELECT count(*) > 0 AS some FROM events");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "some\ntrue\n");
    // A view names one of the missing tables it reads: which one depends on the order
    // DataFusion plans its scans in.
    for (sql, tables) in [
        (
            "SELECT count(*) FROM linked_people",
            &["cafcass_people", "linkage"][..],
        ),
        ("SELECT count(*) FROM cafcass_cases", &["cafcass_cases"][..]),
        (
            "SELECT * FROM linked_cases LIMIT 1",
            &["cafcass_people", "linkage", "cafcass_cases"][..],
        ),
    ] {
        let o = run(&["--data", path(&out), "-c", sql]);
        assert!(!o.status.success());
        let m = stderr(&o);
        assert!(
            tables.iter().any(|table| m.contains(&format!("table `{table}` is not in this dataset: its dataset.json lists only cases, case_links, events, people, persons"))),
            "{sql}: {m}"
        );
        assert_eq!(
            m.matches("is not in this dataset").count(),
            1,
            "one message: {m}"
        );
    }
}

#[test]
fn a_layout_with_a_mistake_is_named_before_reading() {
    let file = scratch("bad-layout.toml");
    std::fs::write(&file, "[tables.cases]\nfiles = \"X*\"\nfields = [\"A\"]\n[tables.cases.columns]\ncase_id = \"A\"\ncase_typ = \"B\"\n").unwrap();
    let (_, export) = small();
    let out = scratch("import-bad-layout");
    let o = import(path(&file), export, &out, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("[tables.cases]: column case_typ is not a column of cases"),
        "{}",
        stderr(&o)
    );
    // Two tables whose patterns take the same file.
    let text = fjq_engine::import::layout::SHIPPED[0].1.replace(
        "files = \"FACO_CASE_LINKS_*.del\"",
        "files = \"FACO_CASE*.del\"",
    );
    std::fs::write(&file, text).unwrap();
    let o = import(path(&file), export, &out, &[]);
    assert!(
        stderr(&o).contains("FACO_CASES_20210131_001.del matches the files of both cases (\"FACO_CASES_*.del\") and case_links (\"FACO_CASE*.del\")"),
        "{}",
        stderr(&o)
    );
    let o = import("sail-dell", export, &out, &[]);
    assert!(
        stderr(&o).contains("one of the shipped layouts: sail-del, fjq-csv"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());
}

#[test]
fn columns_can_be_taken_by_position_alone() {
    // case_links by position, without naming the fields; the coverage then comes from the data.
    let file = scratch("by-position.toml");
    std::fs::write(
        &file,
        "[format]\nkind = \"del\"\nencoding = \"windows-1252\"\ndate_format = \"DD/MM/YYYY\"\n\
         [tables.case_links]\nfiles = \"FACO_CASE_LINKS_*.del\"\n[tables.case_links.columns]\n\
         case_id = { position = 1 }\nrelated_case_id = { position = 2 }\nlink_type = { position = 3 }\nlink_date = { position = 4 }\n",
    )
    .unwrap();
    let (data, export) = small();
    let out = scratch("import-by-position");
    let o = import(path(&file), export, &out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("Coverage (from the data)"),
        "{}",
        stdout(&o)
    );
    let report = datasets_py(&["compare", path(data), path(&out), "case_links"]);
    let f: Vec<&str> = report.trim().split(' ').collect();
    assert!(
        f[1] != "0" && f[1] == f[2] && f[3] == "0" && f[4] == "0",
        "{report}"
    );
}

#[test]
fn a_missing_source_folder_is_said_once() {
    let out = scratch("import-no-source");
    let o = import("sail-del", Path::new("/nonexistent-fjq-exports"), &out, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "fjq: cannot read the folder /nonexistent-fjq-exports: no such folder\n"
    );
    assert!(!out.exists());
}

#[test]
fn a_derived_column_reads_a_source_field_no_column_takes() {
    // persons with a week of birth where the contract has a birth year.
    let from = scratch("import-derived-src");
    let _ = std::fs::remove_dir_all(&from);
    std::fs::create_dir_all(&from).unwrap();
    std::fs::write(
        from.join("PERSONS.del"),
        "\"P1\",\"2\",1984-03-05,01/02/2015,1,,+1.0\n\"P2\",\"1\",,02/02/2015,2,\"X9\",+0.95\n",
    )
    .unwrap();
    let layout = scratch("derived.toml");
    std::fs::write(
        &layout,
        "[format]\nkind = \"del\"\ndate_format = \"DD/MM/YYYY\"\n[tables.persons]\nfiles = \"PERSONS*.del\"\n\
         fields = [\"PERSON_ID_PE\", \"GNDR_CD\", \"WOB\", \"FIRST_SEEN_DT\", \"N_CASES\", \"XJS_ID_PE\", \"MATCH_PROB\"]\n\
         [tables.persons.columns]\nperson_id = \"PERSON_ID_PE\"\nsex = { from = \"GNDR_CD\", codes = { \"1\" = \"male\", \"2\" = \"female\" } }\n\
         birth_year = { expr = 'CAST(substr(\"WOB\", 1, 4) AS INT)' }\nfirst_seen = \"FIRST_SEEN_DT\"\nn_cases = \"N_CASES\"\n\
         xjs_id = \"XJS_ID_PE\"\nmatch_probability = \"MATCH_PROB\"\n",
    )
    .unwrap();
    let out = scratch("import-derived");
    let o = import(path(&layout), &from, &out, &["--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = query_csv(
        &out,
        "SELECT person_id, sex, birth_year, first_seen, xjs_id, match_probability FROM persons ORDER BY person_id",
    );
    assert_eq!(
        stdout(&o),
        "person_id,sex,birth_year,first_seen,xjs_id,match_probability\n\
         P1,female,1984,2015-02-01,,1.0\nP2,male,,2015-02-02,X9,0.95\n"
    );
}
