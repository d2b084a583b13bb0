//! Survival curves (`return_curve`): the estimate equals lifelines' on the same rows, and a
//! released curve follows the rules of design/DISCLOSURE.md, checked step by step against the
//! unreleased curve by a checker written here from the rules' text (not from fjq's code): each
//! published step is the shortest run of days that gathers at least 10 persons leaving the risk
//! set, none is published after which fewer than 10 would remain at risk, counts are rounded to
//! 5, and survival is the product over the published counts.

use crate::common::{calibration_dataset, query, small_dataset};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Float64Type, Int64Type};
use fjq_engine::{Engine, EngineConfig, ErrorKind, Policy};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const COVERAGE_END: &str = "2020-12-31";
const HORIZON: i64 = 2557;

fn mothers_curve(group: &str, filter: &str) -> String {
    format!(
        "SELECT * FROM return_curve('SELECT {group} p.person_id, c.start_date FROM people p JOIN cases c USING (case_id) WHERE p.relationship_to_child = ''mother''{filter}', {HORIZON}, '{COVERAGE_END}')"
    )
}

/// One curve row: the group's text (empty when there is none), then the curve's columns.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    group: String,
    day: i64,
    at_risk: i64,
    returns: i64,
    censored: i64,
    survival: f64,
    lower: f64,
    upper: f64,
}

fn rows(batches: &[RecordBatch], groups: usize) -> Vec<Row> {
    let mut out = Vec::new();
    for b in batches {
        let int = |c: usize, r: usize| b.column(groups + c).as_primitive::<Int64Type>().value(r);
        let float =
            |c: usize, r: usize| b.column(groups + c).as_primitive::<Float64Type>().value(r);
        for r in 0..b.num_rows() {
            let group = (0..groups)
                .map(|g| {
                    let c = b.column(g);
                    if c.is_null(r) {
                        "NULL".to_string()
                    } else {
                        datafusion::arrow::util::display::array_value_to_string(c, r).unwrap()
                    }
                })
                .collect::<Vec<_>>()
                .join("|");
            out.push(Row {
                group,
                day: int(0, r),
                at_risk: int(1, r),
                returns: int(2, r),
                censored: int(3, r),
                survival: float(4, r),
                lower: float(5, r),
                upper: float(6, r),
            });
        }
    }
    out
}

fn by_group(rows: &[Row]) -> BTreeMap<String, Vec<Row>> {
    let mut out: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for r in rows {
        out.entry(r.group.clone()).or_default().push(r.clone());
    }
    out
}

fn release_dir(name: &str) -> PathBuf {
    let dir = crate::common::scratch(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

async fn engine(data: &Path, policy: Policy, releases: Option<PathBuf>) -> Engine {
    Engine::open(
        data,
        EngineConfig {
            policy,
            release_dir: releases,
            ..EngineConfig::default()
        },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn the_curve_before_suppression_equals_lifelines() {
    let data = calibration_dataset();
    let fjq = engine(data, Policy::Open, None).await;
    let curve = by_group(&rows(
        &query(&fjq, &mothers_curve("c.case_type,", "")).await,
        1,
    ));
    let o = Command::new(crate::differential::python())
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/interop/km_oracle.py"))
        .arg(data)
        .arg(COVERAGE_END)
        .arg(HORIZON.to_string())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let oracle: BTreeMap<String, Vec<Value>> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        curve.keys().collect::<Vec<_>>(),
        oracle.keys().collect::<Vec<_>>()
    );
    for (group, expected) in &oracle {
        let got = &curve[group];
        assert_eq!(got.len(), expected.len(), "{group}: number of steps");
        for (g, e) in got.iter().zip(expected) {
            let counts = (g.day, g.at_risk, g.returns, g.censored);
            let want = (
                e["day"].as_i64().unwrap(),
                e["at_risk"].as_i64().unwrap(),
                e["returns"].as_i64().unwrap(),
                e["censored"].as_i64().unwrap(),
            );
            assert_eq!(counts, want, "{group}");
            for (name, mine, theirs) in [
                ("survival", g.survival, &e["survival"]),
                ("lower_95", g.lower, &e["lower_95"]),
                ("upper_95", g.upper, &e["upper_95"]),
            ] {
                let theirs = theirs.as_f64().unwrap();
                assert!(
                    (mine - theirs).abs() < 1e-9,
                    "{group} day {}: {name} {mine} against lifelines' {theirs}",
                    g.day
                );
            }
        }
    }
    // The headline: about a quarter of mothers in care proceedings back within seven years.
    let last = curve["public_law"].last().unwrap();
    assert!((0.15..0.35).contains(&(1.0 - last.survival)), "{last:?}");
}

fn round5(n: i64) -> i64 {
    (2 * n + 5).div_euclid(10) * 5
}

/// Checks a released curve against the unreleased one, group by group, from the rules' text.
fn check_release(raw: &BTreeMap<String, Vec<Row>>, released: &BTreeMap<String, Vec<Row>>) {
    for (group, published) in released {
        let steps = raw.get(group).expect("a released group exists unreleased");
        let mut next = 0;
        let mut survival = 1.0;
        for p in published {
            // The shortest run of days from `next` gathering at least 10 persons leaving.
            let start = next;
            let (mut returns, mut censored) = (0, 0);
            while returns + censored < 10 {
                returns += steps[next].returns;
                censored += steps[next].censored;
                next += 1;
            }
            let at_risk = steps[start].at_risk;
            assert!(
                at_risk >= 10,
                "{group}: a step published from {at_risk} at risk"
            );
            assert!(
                at_risk - returns - censored >= 10,
                "{group}: a step after which fewer than 10 remain at risk: {p:?}"
            );
            assert_eq!(p.day, steps[next - 1].day, "{group}: the step's day");
            assert_eq!(
                (p.at_risk, p.returns, p.censored),
                (round5(at_risk), round5(returns), round5(censored)),
                "{group} day {}",
                p.day
            );
            survival *= 1.0 - p.returns as f64 / p.at_risk as f64;
            assert!((p.survival - survival).abs() < 1e-12, "{group}: {p:?}");
            assert!(p.lower <= p.survival && p.survival <= p.upper, "{p:?}");
        }
        // The tail: the next run reaching 10 would leave fewer than 10 at risk, or there is none.
        let (mut left, mut i) = (0, next);
        while i < steps.len() && left < 10 {
            left += steps[i].returns + steps[i].censored;
            i += 1;
        }
        if left >= 10 {
            assert!(
                steps[next].at_risk - left < 10,
                "{group}: the curve stops early, at step {next} of {}",
                steps.len()
            );
        }
    }
    // A group with fewer than 10 persons publishes nothing.
    for (group, steps) in raw {
        if steps[0].at_risk < 10 {
            assert!(
                !released.contains_key(group),
                "{group} has {} persons",
                steps[0].at_risk
            );
        }
    }
}

#[tokio::test]
async fn a_released_curve_follows_the_rules_and_opens_in_the_sacro_viewer() {
    // By case type (large groups), and by family court area and type on the small dataset
    // (about half its groups have fewer than 10 mothers).
    for (name, data, group) in [
        ("type", calibration_dataset(), "c.case_type"),
        ("area", small_dataset(), "c.dfj_area, c.case_type"),
    ] {
        let open = engine(data, Policy::Open, None).await;
        let sql = mothers_curve(&format!("{group},"), "");
        let groups = group.split(',').count();
        let raw = by_group(&rows(&query(&open, &sql).await, groups));
        let dir = release_dir(&format!("curve-release-{name}"));
        let safe = engine(data, Policy::Safe, Some(dir.clone())).await;
        let released = by_group(&rows(&query(&safe, &sql).await, groups));
        assert!(!released.is_empty(), "{name}: a curve was published");
        check_release(&raw, &released);
        if name == "area" {
            assert!(
                raw.values().any(|s| s[0].at_risk < 10),
                "the areas include groups below the threshold"
            );
        }

        let report_path = dir.join("release-0001/results.json");
        let report: Value =
            serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
        let output = &report["results"]["output_0"];
        assert_eq!(output["status"], "review");
        assert_eq!(output["properties"]["method"], "return_curve");
        assert_eq!(report["fjq"]["output"], "survival table");
        assert_eq!(
            report["fjq"]["survival"]["steps_published"]
                .as_u64()
                .unwrap() as usize,
            released.values().map(Vec::len).sum::<usize>()
        );

        // The checker's view: the viewer opens it, checksums hold, nothing is highlighted
        // (no published cell failed a rule), and the CSV is the curve as published.
        let shown = crate::sacro::open_in_viewer(&report_path);
        assert_eq!(shown["version_ok"], true, "{shown}");
        assert_eq!(shown["index_status"], 200, "{shown}");
        let files = shown["files"].as_array().unwrap();
        assert_eq!(files.len(), 1, "{shown}");
        assert_eq!(files[0]["checksum_valid"], true, "{shown}");
        // The viewer highlights exactly the cells fjq's report flags: none, for a curve.
        let flagged: Vec<&Value> = report["results"]["output_0"]["files"][0]["sdc"]["cells"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|cells| cells.as_array().unwrap())
            .collect();
        assert!(flagged.is_empty(), "{flagged:?}");
        assert_eq!(files[0]["highlighted"], serde_json::json!([]), "{shown}");
        assert_eq!(
            shown["contents_status"],
            serde_json::json!([200]),
            "{shown}"
        );
        let csv = std::fs::read_to_string(dir.join("release-0001/output_0.csv")).unwrap();
        assert_eq!(
            csv.lines().next().unwrap(),
            format!(
                "{},day,at_risk,returns,censored,survival,lower_95,upper_95",
                group.replace("c.", "").replace(' ', "")
            )
        );
        assert_eq!(
            csv.lines().count() - 1,
            released.values().map(Vec::len).sum::<usize>()
        );
    }
}

#[tokio::test]
async fn a_curve_is_released_whole_or_refused() {
    let dir = release_dir("curve-refusals");
    let safe = engine(small_dataset(), Policy::Safe, Some(dir)).await;
    let open = engine(small_dataset(), Policy::Open, None).await;
    let curve = mothers_curve("", "");
    let inner = curve.trim_start_matches("SELECT * FROM ");
    for sql in [
        format!("SELECT day, survival FROM {inner}"),
        format!("SELECT * FROM {inner} WHERE day > 100"),
        format!("SELECT max(day) FROM {inner}"),
        format!("SELECT * FROM {inner} LIMIT 3"),
    ] {
        let error = match safe.sql(&sql).await {
            Ok(frame) => match frame.collect().await {
                Ok(_) => panic!("released under safe: {sql}"),
                Err(e) => fjq_engine::EngineError::from(e),
            },
            Err(e) => e,
        };
        assert_eq!(error.kind(), ErrorKind::Refused, "{sql}: {error}");
        assert!(
            error.to_string().contains("released whole"),
            "{sql}: {error}"
        );
        // Valid SQL: the open policy runs it.
        assert!(!query(&open, &sql).await.is_empty(), "{sql}");
    }
    // A curve over cases rather than persons: a step of 10 cases may be fewer mothers.
    let cases = "SELECT * FROM return_curve('SELECT c.case_id, c.start_date FROM cases c', 365)";
    let error = safe.sql(cases).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Refused, "{error}");
    assert!(error.to_string().contains("not a person column"), "{error}");
    assert!(!query(&open, cases).await.is_empty());
}

#[tokio::test]
async fn wrong_arguments_to_return_curve_say_what_is_wrong() {
    let open = engine(small_dataset(), Policy::Open, None).await;
    let entries = "SELECT p.person_id, c.start_date FROM people p JOIN cases c USING (case_id)";
    for (sql, says) in [
        (
            "SELECT * FROM return_curve('SELECT 1', 10)".to_string(),
            "its last two columns the person and the entry's start date",
        ),
        (
            "SELECT * FROM return_curve('SELECT person_id, case_id FROM people', 10)".to_string(),
            "last column `case_id` should be the entry's start date",
        ),
        (
            format!("SELECT * FROM return_curve('{entries}', -5)"),
            "horizon_days must be a positive number",
        ),
        (
            format!("SELECT * FROM return_curve('{entries}', 10, 'soon')"),
            "coverage_end must be a date",
        ),
        (
            "SELECT * FROM return_curve('SELECT person_id, start_date FROM peple', 10)".to_string(),
            "did you mean `people`",
        ),
    ] {
        let error = open.sql(&sql).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Invalid, "{sql}: {error}");
        assert!(error.to_string().contains(says), "{sql}: {error}");
    }
}

#[tokio::test]
async fn curves_over_populations_that_differ_by_a_small_group_are_refused() {
    let data = calibration_dataset();
    let open = engine(data, Policy::Open, None).await;
    // Three mothers with a public law case.
    let three = query(
        &open,
        "SELECT DISTINCT p.person_id FROM people p JOIN cases c USING (case_id) WHERE p.relationship_to_child = 'mother' AND c.case_type = 'public_law' ORDER BY 1 LIMIT 3",
    )
    .await;
    let ids = three[0].column(0).as_string::<i32>();
    let ids: Vec<String> = (0..ids.len())
        .map(|i| format!("''{}''", ids.value(i)))
        .collect();
    let dir = release_dir("curve-differencing");
    let fjq = engine(data, Policy::Open, Some(dir)).await;
    let public = " AND c.case_type = ''public_law''";
    fjq.release(&mothers_curve("", public)).await.unwrap();
    let without_three = format!("{public} AND p.person_id NOT IN ({})", ids.join(", "));
    let refused = fjq
        .release(&mothers_curve("", &without_three))
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Refused, "{refused}");
    assert!(
        refused
            .to_string()
            .contains("difference would publish that group"),
        "{refused}"
    );
    // Nor through a table of the same persons: its count differs from the curve's by three.
    let table = format!(
        "SELECT count(DISTINCT p.person_id) AS mothers FROM people p JOIN cases c USING (case_id) WHERE p.relationship_to_child = 'mother'{}",
        without_three.replace("''", "'")
    );
    let refused = fjq.release(&table).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Refused, "{refused}");
    // A filter that differs by many is released.
    let recent = format!("{public} AND c.start_date >= DATE ''2016-01-01''");
    fjq.release(&mothers_curve("", &recent)).await.unwrap();
}
