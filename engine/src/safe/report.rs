//! The output checker's report of a release, in the layout of ACRO's `results.json` (so the
//! SACRO viewer and checkers' habits carry over), with fjq's additions under `fjq`: the rules in
//! force, every suppressed cell's feasibility interval from the audit, and the released files'
//! SHA-256 (also written, as ACRO does, to `checksums/<file>.txt`).

use super::analyze::{Analysis, OutputColumn};
use fjq_udfs::disclosure::{Interval, Rule, Rules};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

pub struct ReportInput<'a> {
    pub id: &'a str,
    pub query: &'a str,
    pub rules: &'a Rules,
    pub analysis: &'a Analysis,
    pub additive: &'a [String],
    pub rows_failures: Vec<Vec<(Rule, String)>>,
    pub suppressed: &'a [bool],
    pub primary: Vec<bool>,
    pub intervals: &'a [(usize, Vec<Interval>)],
    pub describe: &'a dyn Fn(usize) -> String,
    pub output_rows: usize,
    pub files: Vec<(String, String)>,
    /// How the audit found the intervals.
    pub method: &'a str,
}

/// The time now as ISO 8601 (UTC), without a date library.
pub fn now_iso() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Writes `results.json` and `checksums/` into the release folder; returns the report's path.
pub fn write(dir: &Path, input: &ReportInput) -> std::io::Result<PathBuf> {
    let measure_columns: Vec<(usize, usize)> = input
        .analysis
        .columns
        .iter()
        .enumerate()
        .filter_map(|(c, o)| match o {
            OutputColumn::Measure(m) => Some((c, *m)),
            _ => None,
        })
        .collect();
    // ACRO's per-rule cell lists: [row, column] of each failing measure cell.
    let acro_rules = [
        ("negative", Rule::Negative),
        ("threshold", Rule::Threshold),
        ("p-ratio", Rule::PRatio),
        ("nk-rule", Rule::Dominance),
        ("all-values-are-same", Rule::AllSame),
    ];
    let mut cells = Map::new();
    let mut summary = Map::new();
    summary.insert(
        "suppressed".into(),
        json!(input.suppressed.iter().any(|s| *s)),
    );
    for (name, rule) in acro_rules
        .iter()
        .chain([("zeros", Rule::Zero), ("dof", Rule::DegreesOfFreedom)].iter())
    {
        let mut list = Vec::new();
        for (r, failures) in input.rows_failures.iter().enumerate() {
            if failures.iter().any(|(f, _)| f == rule) {
                for (c, _) in &measure_columns {
                    list.push(json!([r, c]));
                }
            }
        }
        summary.insert((*name).into(), json!(list.len()));
        cells.insert((*name).into(), Value::Array(list));
    }
    summary.insert("missing".into(), json!(0));
    cells.insert("missing".into(), json!([]));
    // ACRO's outcome: per column, per row, "ok" or the rules failed.
    let mut outcome = Map::new();
    for (c, _) in &measure_columns {
        let name = input.analysis.schema.field(*c).name().clone();
        let mut per_row = Map::new();
        for r in 0..input.output_rows {
            let text = if input.primary[r] {
                input.rows_failures[r]
                    .iter()
                    .map(|(rule, _)| format!("{}; ", rule.name()))
                    .collect::<String>()
            } else if input.suppressed[r] {
                "secondary; ".to_string()
            } else {
                "ok".to_string()
            };
            per_row.insert(r.to_string(), json!(text));
        }
        outcome.insert(name, Value::Object(per_row));
    }
    let primary = input.primary.iter().filter(|p| **p).count();
    let secondary = input
        .suppressed
        .iter()
        .zip(&input.primary)
        .filter(|(s, p)| **s && !**p)
        .count();
    let status = if primary + secondary == 0 {
        "pass"
    } else {
        "review"
    };
    let summary_text = if status == "pass" {
        "pass".to_string()
    } else {
        format!(
            "review; {primary} cells failed the rules and were suppressed, {secondary} more suppressed to protect them; audit passed"
        )
    };
    let audit: Vec<Value> = input
        .intervals
        .iter()
        .flat_map(|(cell, per_measure)| {
            per_measure.iter().enumerate().map(move |(m, i)| {
                json!({
                    "cell": (input.describe)(*cell),
                    "row": cell,
                    "role": if input.primary[*cell] { "primary" } else { "secondary" },
                    "rules": input.rows_failures[*cell].iter().map(|(r, d)| json!({"rule": r.name(), "detail": d})).collect::<Vec<_>>(),
                    "measure": input.additive.get(m),
                    "low": finite(i.low),
                    "high": finite(i.high),
                })
            })
        })
        .collect();
    let timestamp = now_iso();
    let report = json!({
        "version": format!("fjq-{}", env!("CARGO_PKG_VERSION")),
        "results": {
            "output_0": {
                "uid": "output_0",
                "status": status,
                "type": "table",
                "properties": {"method": "safe_table", "release": input.id},
                "files": [{"name": "output_0.csv", "sdc": {"summary": summary, "cells": cells}}],
                "outcome": outcome,
                "command": input.query,
                "summary": summary_text,
                "timestamp": timestamp,
                "comments": [],
                "exception": "",
            }
        },
        "fjq": {
            "release": input.id,
            "rules": input.rules,
            "rounding": format!("counts rounded to a multiple of {}, ties rounded half up", input.rules.rounding_base),
            "person_columns": input.analysis.person_columns.iter().map(|(_, s)| s.clone()).collect::<Vec<_>>(),
            "dimensions": input.analysis.dimensions,
            "measures": input.analysis.measures.iter().map(|m| json!({"name": m.name, "kind": m.kind})).collect::<Vec<_>>(),
            "audit_method": input.method,
            "audit": audit,
            "checksums": input.files.iter().map(|(n, h)| (n.clone(), json!(h))).collect::<Map<_, _>>(),
        }
    });
    let path = dir.join("results.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report).expect("json"))?;
    let checksums = dir.join("checksums");
    std::fs::create_dir_all(&checksums)?;
    for (name, hash) in &input.files {
        std::fs::write(checksums.join(format!("{name}.txt")), hash)?;
    }
    Ok(path)
}

/// JSON has no infinity: an unbounded side is null (and so is a bound not certified).
fn finite(v: f64) -> Value {
    if v.is_finite() { json!(v) } else { Value::Null }
}
