//! A DISTINCT sorted next on all its columns sorts its input and drops repeated neighbours
//! (fjq_engine::sorted_distinct): the entries under `prior_entries` and `returns_within`, where
//! nearly every row is distinct, and a DISTINCT that removes most of its rows (event codes by
//! day) under `row_number`. Over the split dataset in 100-row batches, declared and undeclared,
//! each plan is checked for the sort that drops repeated rows in place of the hash grouping
//! (fjq_engine::key_sort folds the DISTINCT into it; the hash grouping stays with the rule
//! off), each answer against DuckDB's over the same files. The same for a
//! DISTINCT grouped next per identifier by some of its columns (`repeat_entries` per person
//! over the entries), and not for `count(DISTINCT ...)` per area and case type (which
//! DataFusion plans as a DISTINCT grouped by the other keys: few groups, left to hashing).

use crate::common::query;
use crate::differential::ENTRIES;
use crate::differential::{compare_on, physical_plan};
use crate::file_ranges::{engine_on, split_dataset, undeclared_engine_on};
use crate::join_sides::hash_exchanges;
use fjq_engine::Engine;

/// (name, fjq's SQL, DuckDB's SQL).
fn sorted_after_distinct() -> Vec<(&'static str, String, String)> {
    vec![
        (
            "prior entries in three years",
            format!(
                "SELECT who, start_date, prior_entries(start_date, 1095) OVER (PARTITION BY who ORDER BY start_date)
                 FROM ({ENTRIES})"
            ),
            format!(
                "SELECT who, start_date, count(*) OVER (PARTITION BY who ORDER BY start_date
                   RANGE BETWEEN INTERVAL 1095 DAYS PRECEDING AND INTERVAL 1 DAY PRECEDING) FROM ({ENTRIES})"
            ),
        ),
        (
            "days numbered per event code",
            "SELECT code, day, row_number() OVER (PARTITION BY code ORDER BY day)
             FROM (SELECT DISTINCT event_code AS code, event_date AS day FROM events)"
                .to_string(),
            "SELECT code, day, row_number() OVER (PARTITION BY code ORDER BY day)
             FROM (SELECT DISTINCT event_code AS code, event_date AS day FROM events)"
                .to_string(),
        ),
    ]
}

/// (name, fjq's SQL, DuckDB's SQL, whether the rule sorts it).
fn grouped_after_distinct() -> Vec<(&'static str, String, String, bool)> {
    vec![
        (
            "repeat entries per person",
            format!(
                "SELECT who, repeat_entries(start_date), repeat_entries(start_date, 730) FROM ({ENTRIES}) GROUP BY who"
            ),
            format!(
                "WITH e AS ({ENTRIES}),
                 g AS (SELECT who, start_date - lag(start_date) OVER (PARTITION BY who ORDER BY start_date) AS gap FROM e)
                 SELECT who, count(*) - 1, count(*) FILTER (WHERE gap <= 730) FROM g GROUP BY who"
            ),
            true,
        ),
        (
            "children per area and case type",
            "SELECT c.dfj_area, c.case_type, count(DISTINCT p.person_id) FROM cases c JOIN people p USING (case_id)
             WHERE p.role = 'child' GROUP BY 1, 2"
                .to_string(),
            "SELECT c.dfj_area, c.case_type, count(DISTINCT p.person_id) FROM cases c JOIN people p USING (case_id)
             WHERE p.role = 'child' GROUP BY 1, 2"
                .to_string(),
            false,
        ),
    ]
}

/// How many of a plan's key sorts drop repeated rows (`fjq_engine::key_sort`'s DISTINCT).
fn distinct_sorts(plan: &str) -> usize {
    plan.lines()
        .filter(|line| line.contains("KeySortExec:") && line.trim_end().ends_with("], distinct"))
        .count()
}

async fn check_grouped(engine: &Engine) {
    let data = split_dataset();
    // The grouping is sorted only with the key sort on (off by default).
    query(engine, "SET fjq.key_sort = true").await;
    for (name, fjq_sql, duckdb_sql, sorts) in grouped_after_distinct() {
        query(engine, "SET fjq.sorted_distinct = false").await;
        let hashed = physical_plan(engine, &fjq_sql).await;
        assert!(
            hashed.contains("AggregateExec: mode=FinalPartitioned"),
            "{name}, switched off:\n{hashed}"
        );
        compare_on(data, name, engine, &fjq_sql, &duckdb_sql).await;
        query(engine, "SET fjq.sorted_distinct = true").await;
        let sorted = physical_plan(engine, &fjq_sql).await;
        // The DISTINCT done by the sort (dropping repeated neighbours) and the grouping by
        // runs over it, and no hash grouping; or, by code columns alone, both hash
        // groupings, as with the rule off.
        let by_runs = sorted
            .matches("SortedRunAggregateExec: mode=SinglePartitioned")
            .count()
            == 1
            && distinct_sorts(&sorted) == 1
            && !sorted.contains(" AggregateExec: mode=FinalPartitioned")
            && !sorted.contains(" AggregateExec: mode=SinglePartitioned");
        let hashed_twice = !sorted.contains("SortedRunAggregateExec")
            && sorted.contains(" AggregateExec: mode=FinalPartitioned")
            && sorted.contains(" AggregateExec: mode=SinglePartitioned");
        assert!(
            if sorts { by_runs } else { hashed_twice },
            "{name}:\n{sorted}\nswitched off:\n{hashed}"
        );
        compare_on(data, name, engine, &fjq_sql, &duckdb_sql).await;
    }
}

async fn check_all(engine: &Engine) {
    check_grouped(engine).await;
    let data = split_dataset();
    for (name, fjq_sql, duckdb_sql) in sorted_after_distinct() {
        query(engine, "SET fjq.sorted_distinct = false").await;
        let hashed = physical_plan(engine, &fjq_sql).await;
        assert!(
            hashed.contains("AggregateExec: mode=FinalPartitioned"),
            "{name}, switched off:\n{hashed}"
        );
        compare_on(data, name, engine, &fjq_sql, &duckdb_sql).await;
        query(engine, "SET fjq.sorted_distinct = true").await;
        let sorted = physical_plan(engine, &fjq_sql).await;
        // Done by the sort, which drops repeated neighbours, and one exchange (on the
        // window's keys) instead of two.
        assert!(
            distinct_sorts(&sorted) == 1
                && !sorted.contains("SortedRunAggregateExec")
                && !sorted.contains("AggregateExec: mode=FinalPartitioned")
                && hash_exchanges(&sorted) + 1 == hash_exchanges(&hashed),
            "{name}:\n{sorted}\nswitched off:\n{hashed}"
        );
        compare_on(data, name, engine, &fjq_sql, &duckdb_sql).await;
    }
}

#[tokio::test]
async fn distinct_rows_sorted_first_match_duckdb_over_declared_partitions() {
    check_all(&engine_on(split_dataset()).await).await;
}

#[tokio::test]
async fn distinct_rows_sorted_first_match_duckdb_over_undeclared_files() {
    let engine = undeclared_engine_on(split_dataset()).await;
    query(&engine, "SET datafusion.execution.batch_size = 100").await;
    check_all(&engine).await;
}
