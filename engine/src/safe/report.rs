//! The output checker's report of a release, in the layout of ACRO's `results.json` (so the
//! SACRO viewer and checkers' habits carry over), with fjq's additions under `fjq`: the rules in
//! force, every suppressed cell's feasibility interval from the audit, and the released files'
//! SHA-256 (also written, as ACRO does, to `checksums/<file>.txt`).

use super::analyze::{Analysis, OutputColumn};
use super::release::cells::CellTable;
use fjq_udfs::disclosure::{Interval, Rule, Rules};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// The version of ACRO's `results.json` layout the report follows.
pub const ACRO_FORMAT_VERSION: &str = "0.4.0";

/// The report's file name in a release folder (ACRO's).
pub const REPORT_FILE: &str = "results.json";

pub(crate) struct ReportInput<'a> {
    pub id: &'a str,
    pub query: &'a str,
    pub rules: &'a Rules,
    pub analysis: &'a Analysis,
    pub cells: &'a CellTable,
    pub suppressed: &'a [bool],
    pub intervals: &'a [(usize, Vec<Interval>)],
    pub output_rows: usize,
    pub files: Vec<(String, String)>,
    /// How the audit found the intervals.
    pub method: &'a str,
    /// What was done to a survival curve (None for a table).
    pub curve: Option<&'a super::release::curve::CurveNote>,
}

/// Writes `results.json` and `checksums/` into the release folder; returns the report's path.
pub(crate) fn write(dir: &Path, input: &ReportInput) -> std::io::Result<PathBuf> {
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
    // ACRO's per-rule cell lists: [row, column] of each failing measure cell, as the SACRO
    // Viewer reads them: the CSV's first column is the row index (the first dimension), so
    // column 0 is the CSV's second column, and row 0 the first row after the header.
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
        // A curve's cells are its groups' person counts, not rows of its CSV: none is flagged.
        let rows = if input.curve.is_some() {
            &[][..]
        } else {
            &input.cells.rows[..]
        };
        for (r, failures) in rows.iter().map(|r| &r.failures).enumerate() {
            if failures.iter().any(|(f, _)| f == rule) {
                for (c, _) in &measure_columns {
                    list.push(json!([r, c.saturating_sub(1)]));
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
    for (c, _) in measure_columns.iter().filter(|_| input.curve.is_none()) {
        let name = input.analysis.schema.field(*c).name().clone();
        let mut per_row = Map::new();
        for r in 0..input.output_rows {
            let text = if input.cells.table.cells[r].primary {
                input.cells.rows[r]
                    .failures
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
    let primary = input.cells.primary();
    let secondary = input
        .suppressed
        .iter()
        .zip(&input.cells.table.cells)
        .filter(|(s, c)| **s && !c.primary)
        .count();
    let endpoints: Vec<&str> = input
        .analysis
        .measures
        .iter()
        .filter(|m| m.endpoint)
        .map(|m| m.name.as_str())
        .collect();
    // Medians and quantiles: released where their cells pass the rules, and named here.
    let positions: Vec<&str> = input
        .analysis
        .measures
        .iter()
        .filter(|m| m.position)
        .map(|m| m.name.as_str())
        .collect();
    let status = if primary + secondary == 0 && endpoints.is_empty() {
        "pass"
    } else {
        "review"
    };
    let position_note = if positions.is_empty() {
        String::new()
    } else {
        format!(
            "; publishes positions ({}), each cell's from at least {} persons",
            positions.join(", "),
            input.rules.threshold
        )
    };
    let summary_text = if status == "pass" {
        format!("pass{position_note}")
    } else {
        let mut text = format!(
            "review; {primary} cells failed the rules and were suppressed, {secondary} more suppressed to protect them; audit passed"
        );
        if !endpoints.is_empty() {
            text.push_str(&format!(
                "; publishes endpoints ({}), each one contributor's own value, allowed by fjq.disclosure.endpoints = 'review'",
                endpoints.join(", ")
            ));
        }
        text.push_str(&position_note);
        text
    };
    // A curve publishes no cell that failed a rule: its steps were merged or cut instead.
    let (status, summary_text, output_kind, method) = match input.curve {
        None => (status, summary_text, "table", "safe_table"),
        Some(curve) => {
            for name in [
                "day", "at_risk", "returns", "censored", "survival", "lower_95", "upper_95",
            ] {
                let per_row: Map<String, Value> = (0..input.output_rows)
                    .map(|r| (r.to_string(), json!("ok")))
                    .collect();
                outcome.insert(name.into(), Value::Object(per_row));
            }
            (
                "review",
                format!(
                    "review; survival table over {} days: steps merged until at least {t} persons had left the risk set ({} steps merged), the tail cut where fewer than {t} would remain at risk ({} steps cut), counts rounded to a multiple of {}, survival and its 95% interval computed from the published counts; {} of {} groups published",
                    curve.horizon,
                    curve.merged,
                    curve.cut,
                    input.rules.rounding_base,
                    curve.groups_published,
                    curve.groups,
                    t = input.rules.threshold,
                ),
                "survival table",
                "return_curve",
            )
        }
    };
    let survival = input.curve.map(|c| {
        json!({
            "horizon_days": c.horizon,
            "coverage_end": fjq_contract::calendar::iso(c.coverage_end),
            "groups": c.groups,
            "groups_published": c.groups_published,
            "steps_published": c.steps,
            "steps_merged": c.merged,
            "steps_cut": c.cut,
            "rules": [
                format!("each published step gathers at least {} persons leaving the risk set (returns plus censorings)", input.rules.threshold),
                format!("the curve ends before a step after which fewer than {} would remain at risk", input.rules.threshold),
                format!("at_risk, returns and censored rounded to a multiple of {}", input.rules.rounding_base),
                "survival, lower_95 and upper_95 computed from the published counts (Kaplan-Meier; Greenwood's variance on the log(-log) scale)".to_string(),
            ],
            "differencing": "checked against the release log as the table of distinct persons per group",
        })
    });
    let audit: Vec<Value> = input
        .intervals
        .iter()
        .filter(|_| input.curve.is_none())
        .flat_map(|(cell, per_measure)| {
            per_measure.iter().enumerate().map(move |(m, i)| {
                json!({
                    "cell": input.cells.describe(*cell),
                    "row": cell,
                    "role": if input.cells.table.cells[*cell].primary { "primary" } else { "secondary" },
                    "rules": input.cells.rows[*cell].failures.iter().map(|(r, d)| json!({"rule": r.name(), "detail": d})).collect::<Vec<_>>(),
                    "measure": input.cells.additive_names.get(m),
                    "low": finite(i.low),
                    "high": finite(i.high),
                })
            })
        })
        .collect();
    let timestamp = fjq_contract::calendar::now_iso();
    let report = json!({
        // The ACRO results format this report follows (the SACRO Viewer reads 0.4 and later).
        "version": ACRO_FORMAT_VERSION,
        "results": {
            "output_0": {
                "uid": "output_0",
                "status": status,
                "type": "table",
                "properties": {"method": method, "release": input.id},
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
            "version": env!("CARGO_PKG_VERSION"),
            "output": output_kind,
            "survival": survival,
            "release": input.id,
            "rules": input.rules,
            "rounding": format!("counts rounded to a multiple of {}, ties rounded half up", input.rules.rounding_base),
            "person_columns": input.analysis.person_columns.iter().map(|(_, s)| s.clone()).collect::<Vec<_>>(),
            "dimensions": input.analysis.dimensions,
            "measures": input.analysis.measures.iter().map(|m| json!({"name": m.name, "kind": m.kind})).collect::<Vec<_>>(),
            "audit_method": input.method,
            "positions": positions.iter().map(|p| json!({
                "measure": p,
                "note": format!("publishes a position (a contributor's value, or between two); each published cell has at least {} persons", input.rules.threshold),
            })).collect::<Vec<_>>(),
            "audit": audit,
            "checksums": input.files.iter().map(|(n, h)| (n.clone(), json!(h))).collect::<Map<_, _>>(),
        }
    });
    let path = dir.join(REPORT_FILE);
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
