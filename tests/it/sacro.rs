//! A release opened with the SACRO Viewer's own code (sacroviewer from PyPI, through
//! tests/interop/sacro_check.py), as an output checker would: the viewer accepts the version,
//! finds the checksums valid, renders the release, and highlights exactly the cells that fail
//! the rules. Which cells fail is worked out independently, from the true counts.

use crate::common::{query, small_dataset};
use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use fjq_engine::{Engine, EngineConfig};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// What the SACRO Viewer shows of the release whose report is at `report`
/// (tests/interop/sacro_check.py says what each key holds).
pub fn open_in_viewer(report: &std::path::Path) -> Value {
    let o = Command::new(crate::differential::python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/interop/sacro_check.py"
        ))
        .arg(report)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[tokio::test]
async fn a_release_opens_in_the_sacro_viewer_with_the_failing_cells_highlighted() {
    let releases = crate::common::scratch("sacro-releases");
    let _ = std::fs::remove_dir_all(&releases);
    let engine = Engine::open(
        small_dataset(),
        EngineConfig {
            release_dir: Some(releases.clone()),
            ..EngineConfig::default()
        },
    )
    .await
    .unwrap();
    let types = "case_type IN ('forced_marriage', 'adoption')";
    let released = engine
        .release(&format!(
            "SELECT region, case_type, count(*) AS n FROM cases WHERE {types} GROUP BY region, case_type"
        ))
        .await
        .unwrap();

    // The oracle: the true count of every region (with either type) by type, zero where none;
    // a cell fails when it has fewer cases than the threshold of 10 (zeros included).
    let truth = query(
        &engine,
        &format!("SELECT region, case_type, count(*) AS n FROM cases WHERE {types} GROUP BY 1, 2"),
    )
    .await;
    let mut counts: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut regions = BTreeSet::new();
    for b in &truth {
        for r in 0..b.num_rows() {
            let region = b.column(0).as_string::<i32>().value(r).to_string();
            let case_type = b.column(1).as_string::<i32>().value(r).to_string();
            regions.insert(region.clone());
            counts.insert(
                (region, case_type),
                b.column(2).as_primitive::<Int64Type>().value(r),
            );
        }
    }
    let mut failing = BTreeSet::new();
    for region in &regions {
        for case_type in ["adoption", "forced_marriage"] {
            let n = counts
                .get(&(region.clone(), case_type.to_string()))
                .copied()
                .unwrap_or(0);
            if n < 10 {
                failing.insert((region.clone(), case_type.to_string()));
            }
        }
    }
    assert!(!failing.is_empty(), "the table has small cells to flag");

    let shown = open_in_viewer(&released.report);
    assert_eq!(shown["version_ok"], true, "{shown}");
    assert_eq!(shown["index_status"], 200, "{shown}");
    assert_eq!(
        shown["contents_status"],
        serde_json::json!([200]),
        "{shown}"
    );
    let file = &shown["files"][0];
    assert_eq!(file["checksum_valid"], true, "{shown}");

    // The viewer's highlighted cells, located in the CSV as the viewer reads it.
    let csv = std::fs::read_to_string(released.dir.join("output_0.csv")).unwrap();
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let mut highlighted = BTreeSet::new();
    for h in file["highlighted"].as_array().unwrap() {
        assert_eq!(
            h["column"], "n",
            "a highlight outside the count column: {h}"
        );
        assert_eq!(h["value"], "", "a highlighted cell is published: {h}");
        let row = &rows[h["row"].as_u64().unwrap() as usize];
        highlighted.insert((row[0].to_string(), row[1].to_string()));
    }
    assert_eq!(highlighted, failing);
}
