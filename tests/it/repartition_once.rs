//! A grouping whose rows are next grouped by some of its keys is spread across the threads once,
//! on those keys (fjq_engine::repartition_once): the entries by person of `repeat_entries`, and
//! a `count(DISTINCT ...)` per group, which DataFusion plans as a grouping by (group, value) and
//! then by group. (Entries windowed by person are `sorted_distinct`'s.) Over the split dataset in 100-row
//! batches, with the files' key ranges declared and undeclared, each plan is checked for one
//! hash exchange fewer than with the rule off, and each answer, with the rule on and off,
//! against DuckDB's over the same files.

use crate::common::query;
use crate::differential::ENTRIES;
use crate::differential::{compare_on, physical_plan};
use crate::file_ranges::{engine_on, split_dataset, undeclared_engine_on};
use crate::join_sides::hash_exchanges;
use fjq_engine::Engine;

/// (name, fjq's SQL, DuckDB's SQL).
fn regrouped() -> Vec<(&'static str, String, String)> {
    vec![
        (
            "repeat entries per person",
            format!("SELECT who, repeat_entries(start_date) FROM ({ENTRIES}) GROUP BY who"),
            format!("SELECT who, count(*) - 1 FROM ({ENTRIES}) GROUP BY who"),
        ),
        (
            "distinct people per area and year",
            "SELECT c.dfj_area, CAST(extract(year FROM c.start_date) AS BIGINT), count(DISTINCT p.person_id)
             FROM people p JOIN cases c USING (case_id) GROUP BY 1, 2"
                .to_string(),
            "SELECT c.dfj_area, CAST(extract(year FROM c.start_date) AS BIGINT), count(DISTINCT p.person_id)
             FROM people p JOIN cases c USING (case_id) GROUP BY 1, 2"
                .to_string(),
        ),
    ]
}

async fn check_all(engine: &Engine) {
    let data = split_dataset();
    for (name, fjq_sql, duckdb_sql) in regrouped() {
        query(engine, "SET fjq.repartition_once = false").await;
        let twice = physical_plan(engine, &fjq_sql).await;
        compare_on(data, name, engine, &fjq_sql, &duckdb_sql).await;
        query(engine, "SET fjq.repartition_once = true").await;
        let once = physical_plan(engine, &fjq_sql).await;
        assert_eq!(
            hash_exchanges(&once) + 1,
            hash_exchanges(&twice),
            "{name}: with the rule\n{once}\nwithout\n{twice}"
        );
        if name.starts_with("repeat entries") {
            // The partial and final aggregates the dropped exchange separated are one phase.
            assert!(
                once.contains("AggregateExec: mode=SinglePartitioned, gby=[who@0 as who], aggr=[repeat_entries"),
                "{name}: not one phase\n{once}"
            );
        }
        compare_on(data, name, engine, &fjq_sql, &duckdb_sql).await;
    }
}

#[tokio::test]
async fn regrouping_by_part_of_the_keys_exchanges_once_and_matches_duckdb_over_declared_partitions()
{
    check_all(&engine_on(split_dataset()).await).await;
}

#[tokio::test]
async fn regrouping_by_part_of_the_keys_exchanges_once_and_matches_duckdb_over_undeclared_files() {
    let engine = undeclared_engine_on(split_dataset()).await;
    query(&engine, "SET datafusion.execution.batch_size = 100").await;
    check_all(&engine).await;
}
