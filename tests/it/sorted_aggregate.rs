//! Aggregates over rows sorted on their keys, grouped by runs of equal keys
//! (fjq_engine::sorted_aggregate): per-case and per-(case, day) aggregates over the case-sorted
//! files, some with a WHERE the aggregate reads through (dropping the cases none of whose rows
//! pass), in 100-row batches so that groups run across batch boundaries, in one phase over
//! declared range partitions and as partial aggregates over undeclared ones, and over a union
//! of which one input is sorted on the keys and one is not. Each plan is
//! checked for the operator (or its absence where it must not apply), each answer against
//! DuckDB's over the same files.

use crate::common::query;
use crate::differential::{compare_on, physical_plan};
use crate::file_ranges::{
    ALL_CASE_PATHWAYS, ALL_CASE_PATHWAYS_IN_DUCKDB, engine_on, split_dataset, undeclared_engine_on,
};
use fjq_engine::Engine;

/// (name, fjq's SQL, DuckDB's SQL or "" for the same).
const PER_KEY_AGGREGATES: &[(&str, &str, &str)] = &[
    (
        "events per case",
        "SELECT case_id, count(*), min(event_date), max(event_date),
                sum(CASE WHEN error THEN 1 ELSE 0 END), max(event_code), avg(event_date - DATE '2000-01-01')
         FROM events GROUP BY case_id",
        "",
    ),
    (
        "events per case and day",
        "SELECT case_id, event_date, count(*), min(event_code) FROM events GROUP BY case_id, event_date",
        "",
    ),
    ("all-case pathways", ALL_CASE_PATHWAYS, ALL_CASE_PATHWAYS_IN_DUCKDB),
    (
        "people per case, NULL person ids not counted",
        "SELECT case_id, count(*), count(person_id), min(role), max(person_id) FROM people GROUP BY case_id",
        "",
    ),
    (
        "events per case from 2015, read through the filter: cases with none left out",
        "SELECT case_id, count(*), min(event_code), max(event_date) FROM events
         WHERE event_date >= DATE '2015-01-01' AND NOT error GROUP BY case_id",
        "",
    ),
    (
        "children per case, NULL ids dropped by a NULL verdict, cases with none left out",
        "SELECT case_id, count(*), max(person_id) FROM people
         WHERE role = 'child' AND person_id > '' GROUP BY case_id",
        "",
    ),
    (
        "Cafcass work per Cafcass case",
        "SELECT cafcass_case_id, count(*), min(start_date), max(work_type) FROM cafcass_work
         GROUP BY cafcass_case_id",
        "",
    ),
];

async fn check_all(engine: &Engine, operator: &str) {
    let data = split_dataset();
    for (name, fjq_sql, duckdb_sql) in PER_KEY_AGGREGATES {
        let plan = physical_plan(engine, fjq_sql).await;
        assert!(plan.contains(operator), "{name}: no {operator} in\n{plan}");
        // A WHERE is read through by the aggregate, not copied by a filter first.
        if fjq_sql.contains("WHERE") {
            assert!(
                plan.contains(", rows where [") && !plan.contains("FilterExec"),
                "{name}: the filter is not read through in\n{plan}"
            );
        }
        let duckdb_sql = if duckdb_sql.is_empty() {
            fjq_sql
        } else {
            duckdb_sql
        };
        compare_on(data, name, engine, fjq_sql, duckdb_sql).await;
    }
}

#[tokio::test]
async fn per_case_aggregates_by_runs_match_duckdb_across_batches() {
    let engine = engine_on(split_dataset()).await;
    check_all(&engine, "SortedRunAggregateExec: mode=SinglePartitioned").await;

    // DISTINCT needs more than the run: DataFusion's aggregate stays, with the same answer.
    let distinct =
        "SELECT case_id, count(DISTINCT event_code), count(*) FROM events GROUP BY case_id";
    let plan = physical_plan(&engine, distinct).await;
    assert!(
        !plan.contains("SortedRunAggregateExec") && plan.contains("AggregateExec: mode="),
        "DISTINCT:\n{plan}"
    );
    compare_on(
        split_dataset(),
        "distinct codes per case",
        &engine,
        distinct,
        distinct,
    )
    .await;

    // The switch leaves every aggregate to DataFusion.
    query(&engine, "SET fjq.sorted_aggregation = false").await;
    let plan = physical_plan(&engine, PER_KEY_AGGREGATES[0].1).await;
    assert!(
        !plan.contains("SortedRunAggregateExec"),
        "switched off:\n{plan}"
    );
}

#[tokio::test]
async fn undeclared_sorted_partitions_aggregate_partially_by_runs_and_match_duckdb() {
    let engine = undeclared_engine_on(split_dataset()).await;
    query(&engine, "SET datafusion.execution.batch_size = 100").await;
    check_all(&engine, "SortedRunAggregateExec: mode=Partial").await;
}

#[tokio::test]
async fn a_union_with_one_input_sorted_on_the_keys_groups_that_one_by_runs_and_matches_duckdb() {
    // The shape of a case journey: court events in case order beside rows in another order
    // (here cases by start date). The partial aggregate is split over the union's inputs: the
    // events are grouped by runs, the cases by hashing, and the final aggregate meets both.
    let data = split_dataset();
    let engine = engine_on(data).await;
    let sql = "SELECT case_id, count(*), min(d), max(code) FROM (
                 SELECT case_id, event_date AS d, event_code AS code FROM events WHERE NOT error
                 UNION ALL
                 (SELECT case_id, start_date, case_type FROM cases ORDER BY start_date LIMIT 100000000))
               GROUP BY case_id";
    let plan = physical_plan(&engine, sql).await;
    let union = plan.find("UnionExec").expect("a union");
    let below = &plan[union..];
    assert!(
        below.contains("SortedRunAggregateExec: mode=Partial")
            && below.contains("AggregateExec: mode=Partial")
            && plan[..union].contains("AggregateExec: mode=FinalPartitioned"),
        "the partial aggregate is not split over the union:\n{plan}"
    );
    compare_on(
        data,
        "events and cases by start date, per case",
        &engine,
        sql,
        sql,
    )
    .await;

    // Switched off, the partial aggregate stays whole over the union, with the same answer.
    query(&engine, "SET fjq.sorted_aggregation = false").await;
    let plan = physical_plan(&engine, sql).await;
    assert!(
        !plan.contains("SortedRunAggregateExec")
            && plan[plan
                .find("AggregateExec: mode=Partial")
                .expect("a partial aggregate")..]
                .contains("UnionExec"),
        "switched off:\n{plan}"
    );
    compare_on(data, "the same, switched off", &engine, sql, sql).await;
}
