//! Joins of people to cases build their hash table on cases (fjq_engine::null_counts): the
//! filter `person_id IS NOT NULL` is estimated from the files' null counts, so the 2.5 times
//! larger people side is no longer taken for the smaller. Over the split dataset in 100-row
//! batches, with the files' key ranges declared (one join per partition) and undeclared
//! (both sides repartitioned), each plan is checked for the side it builds on, each answer
//! against DuckDB's over the same files.

use crate::common::query;
use crate::differential::{ENTRIES, compare_on, physical_plan};
use crate::file_ranges::{engine_on, split_dataset, undeclared_engine_on};
use fjq_engine::Engine;

/// (name, fjq's SQL, DuckDB's SQL or "" for the same).
fn people_to_cases() -> Vec<(&'static str, String, String)> {
    vec![
        ("entries", ENTRIES.to_string(), String::new()),
        (
            "cases per person",
            "SELECT p.person_id, count(*), min(c.start_date), max(c.case_type), max(p.role)
             FROM people p JOIN cases c USING (case_id) WHERE p.person_id IS NOT NULL GROUP BY 1"
                .to_string(),
            String::new(),
        ),
        (
            "repeat entries per person",
            format!("SELECT who, repeat_entries(start_date) FROM ({ENTRIES}) GROUP BY who"),
            format!("SELECT who, count(*) - 1 FROM ({ENTRIES}) GROUP BY who"),
        ),
    ]
}

/// How many hash exchanges `plan` has.
pub(crate) fn hash_exchanges(plan: &str) -> usize {
    plan.matches("RepartitionExec: partitioning=Hash(").count()
}

/// The table the first hash join of `plan` builds on: the first scan below the join's line.
fn build_side(plan: &str) -> &'static str {
    let below_join = plan
        .split_once("HashJoinExec")
        .unwrap_or_else(|| panic!("no hash join in\n{plan}"))
        .1;
    let scan = below_join
        .lines()
        .find(|line| line.contains("DataSourceExec"))
        .unwrap_or_else(|| panic!("no scan below the join in\n{plan}"));
    ["/people/", "/cases/"]
        .into_iter()
        .find(|table| scan.contains(table))
        .unwrap_or_else(|| panic!("neither people nor cases in {scan}"))
}

async fn check_all(engine: &Engine) {
    let data = split_dataset();
    for (name, fjq_sql, duckdb_sql) in people_to_cases() {
        let plan = physical_plan(engine, &fjq_sql).await;
        assert_eq!(build_side(&plan), "/cases/", "{name}:\n{plan}");
        let duckdb_sql = if duckdb_sql.is_empty() {
            &fjq_sql
        } else {
            &duckdb_sql
        };
        compare_on(data, name, engine, &fjq_sql, duckdb_sql).await;
    }
    // The switch leaves DataFusion's estimate of a fifth, and its build on people.
    query(engine, "SET fjq.filter_null_counts = false").await;
    let plan = physical_plan(engine, ENTRIES).await;
    assert_eq!(build_side(&plan), "/people/", "switched off:\n{plan}");
    compare_on(data, "entries, switched off", engine, ENTRIES, ENTRIES).await;
}

#[tokio::test]
async fn people_to_cases_builds_on_cases_and_matches_duckdb_over_declared_partitions() {
    let engine = engine_on(split_dataset()).await;
    // Co-partitioned sides in key order merge instead (tests/it/merge_join.rs); the hash join's
    // build side is what is tested here.
    query(&engine, "SET fjq.merge_join = false").await;
    check_all(&engine).await;
}

#[tokio::test]
async fn people_to_cases_builds_on_cases_and_matches_duckdb_over_repartitioned_sides() {
    let engine = undeclared_engine_on(split_dataset()).await;
    for setting in [
        "SET datafusion.execution.batch_size = 100",
        "SET datafusion.optimizer.hash_join_single_partition_threshold = 0",
        "SET datafusion.optimizer.hash_join_single_partition_threshold_rows = 0",
    ] {
        query(&engine, setting).await;
    }
    check_all(&engine).await;
}
