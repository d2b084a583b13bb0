//! Joins whose two sides arrive sorted on the keys merge them (fjq_engine::merge_join): people
//! and events to cases, where the files are written in case order and their key ranges are
//! declared (one join per partition). Over the split dataset in 100-row batches, so runs of a
//! case's people and events straddle batch boundaries (and most lie within one batch, which the
//! inner join pairs in its loop that awaits nothing), inner, left and right joins, one to
//! many and many to many, each plan is checked to merge (inner joins giving only the columns
//! used) and, switched off, to hash, and each answer against DuckDB's over the same files.

use crate::common::query;
use crate::differential::{compare_on, physical_plan};
use crate::file_ranges::{engine_on, split_dataset};

/// (name, SQL for both engines, the merging operator: fjq's own for inner joins, which gives
/// only the columns the query uses: none of these keeps `case_id`).
const JOINS: &[(&str, &str, &str)] = &[
    (
        "people with their cases (one case to many people)",
        "SELECT p.role_id, p.person_id, p.role, c.case_type, CAST(c.start_date AS VARCHAR)
         FROM people p JOIN cases c USING (case_id)",
        "InnerMergeJoinExec",
    ),
    (
        "events with their cases' areas, one type of event",
        "SELECT e.event_id, e.event_code, c.dfj_area, CAST(e.event_date AS VARCHAR)
         FROM events e JOIN cases c ON e.case_id = c.case_id WHERE e.event_code IN ('C6', 'U22')",
        "InnerMergeJoinExec",
    ),
    (
        "events of private law cases (the events of other cases passed over in strides)",
        "SELECT e.event_id, e.event_code, c.case_type, CAST(e.event_date AS VARCHAR)
         FROM events e JOIN cases c USING (case_id) WHERE c.case_type = 'private_law' AND NOT e.error",
        "InnerMergeJoinExec",
    ),
    (
        "every case and its hearings, none kept as NULL (a left join)",
        "SELECT c.case_id, c.case_type, e.event_id, e.hearing_type
         FROM cases c LEFT JOIN events e ON e.case_id = c.case_id AND e.event_code = 'C6'",
        "SortMergeJoinExec",
    ),
    (
        "children, and every case with none (a right join)",
        "SELECT p.person_id, p.sex, c.case_id, c.dfj_area
         FROM (SELECT * FROM people WHERE role = 'child' AND age_at_start < 2) p
         RIGHT JOIN cases c ON p.case_id = c.case_id",
        "SortMergeJoinExec",
    ),
    (
        "every person with every event of their case (many to many)",
        "SELECT p.role_id, e.event_id FROM people p JOIN events e ON p.case_id = e.case_id
         WHERE e.event_code = 'U22' AND p.role <> 'child'",
        "InnerMergeJoinExec",
    ),
];

#[tokio::test]
async fn joins_of_sides_sorted_on_the_keys_merge_and_match_duckdb() {
    let data = split_dataset();
    let engine = engine_on(data).await;
    for &(name, sql, merge) in JOINS {
        let plan = physical_plan(&engine, sql).await;
        assert!(
            plan.contains(merge)
                && (merge != "InnerMergeJoinExec" || plan.contains("], projection=["))
                && !plan.contains("HashJoinExec")
                && !plan.contains("SortExec")
                && !plan.contains("RepartitionExec: partitioning=Hash"),
            "{name}: the sides should merge as they arrive:\n{plan}"
        );
        compare_on(data, name, &engine, sql, sql).await;
    }
    query(&engine, "SET fjq.merge_join = false").await;
    for &(name, sql, _) in JOINS {
        let plan = physical_plan(&engine, sql).await;
        assert!(
            plan.contains("HashJoinExec") && !plan.contains("MergeJoinExec"),
            "{name}, switched off:\n{plan}"
        );
        compare_on(data, name, &engine, sql, sql).await;
    }
}

/// Where the sides must be exchanged to meet (the files' key ranges undeclared), the exchange
/// loses their order, and the join stays a hash join.
#[tokio::test]
async fn joins_whose_sides_are_exchanged_stay_hash_joins() {
    let data = split_dataset();
    let engine = crate::file_ranges::undeclared_engine_on(data).await;
    for setting in [
        "SET datafusion.execution.batch_size = 100",
        "SET datafusion.optimizer.hash_join_single_partition_threshold = 0",
        "SET datafusion.optimizer.hash_join_single_partition_threshold_rows = 0",
    ] {
        query(&engine, setting).await;
    }
    let (name, sql, _) = JOINS[0];
    let plan = physical_plan(&engine, sql).await;
    assert!(
        plan.contains("HashJoinExec: mode=Partitioned") && !plan.contains("MergeJoinExec"),
        "{name}:\n{plan}"
    );
    compare_on(data, name, &engine, sql, sql).await;
}
