//! Partial aggregation by keys as machine words (fjq_engine::small_keys): groupings by
//! categorical text and years (some NULL), by keys computed from integer columns, by booleans
//! and dates, by a join's text columns, and by link identifiers (integers of many values, some
//! NULL), where grouping hardly reduces the rows and (with a low probe threshold) the rows pass
//! through as their own partial states. Over the split dataset in 100-row batches, with the
//! files' key ranges declared and undeclared, each plan is checked to use the operator and each
//! answer, with the rule on and off, against DuckDB's over the same files.

use crate::common::query;
use crate::differential::{compare_on, physical_plan};
use crate::file_ranges::{engine_on, split_dataset, undeclared_engine_on};
use fjq_engine::Engine;

/// (name, SQL for both engines).
const GROUPINGS: &[(&str, &str)] = &[
    (
        "volumes by year and area",
        "SELECT CAST(extract(year FROM start_date) AS BIGINT) AS y, dfj_area, count(*) FROM cases GROUP BY 1, 2",
    ),
    (
        "events by case type, code and year (join)",
        "SELECT c.case_type, e.event_code, CAST(extract(year FROM e.event_date) AS BIGINT), count(*), min(e.event_date)
         FROM events e JOIN cases c USING (case_id) GROUP BY 1, 2, 3",
    ),
    (
        // Batches with and without a NULL year: the two ways of numbering integers meet.
        "disposals by year (NULL while open), case type and area",
        "SELECT CAST(extract(year FROM first_disposal_date) AS BIGINT), case_type, dfj_area, count(*) FROM cases GROUP BY 1, 2, 3",
    ),
    (
        // Short texts made by a kernel, not decoded from a file: each view holds the text and
        // zeros after it, which the numbering relies on, whatever the source text's length.
        "cases by the first letters of their area (computed texts)",
        "SELECT substr(dfj_area, 1, 7), substr(dfj_area, 3), CAST(extract(year FROM start_date) AS BIGINT), count(*)
         FROM cases GROUP BY 1, 2, 3",
    ),
    (
        // Keys computed from one integer column, some NULL (fjq numbers each value's key once),
        // beside a text column of short and long values.
        "cases by decade of marriage (NULL for many), children and region",
        "SELECT marriage_year - marriage_year % 10, CASE WHEN n_children > 2 THEN 3 ELSE n_children END, region, count(*)
         FROM cases GROUP BY 1, 2, 3",
    ),
    (
        "events by error flag and day",
        "SELECT CAST(error AS INTEGER), event_date, count(*), max(hearing_type) FROM events GROUP BY error, event_date",
    ),
    (
        "records per link and match status (many keys)",
        "SELECT link_id, match_status, count(*), min(dataset), sum(CASE WHEN dataset = 'cafcass' THEN 1 ELSE 0 END)
         FROM linkage GROUP BY link_id, match_status",
    ),
];

async fn check_all(engine: &Engine) {
    let data = split_dataset();
    for &(name, sql) in GROUPINGS {
        query(engine, "SET fjq.small_key_aggregation = true").await;
        let plan = physical_plan(engine, sql).await;
        assert!(
            plan.contains("SmallKeyAggregateExec: mode=Partial"),
            "{name}: not by words\n{plan}"
        );
        compare_on(data, name, engine, sql, sql).await;
        // Rows passing through as their own states once grouping does not reduce them.
        query(
            engine,
            "SET datafusion.execution.skip_partial_aggregation_probe_rows_threshold = 50",
        )
        .await;
        compare_on(data, name, engine, sql, sql).await;
        query(
            engine,
            "SET datafusion.execution.skip_partial_aggregation_probe_rows_threshold = 100000",
        )
        .await;
        query(engine, "SET fjq.small_key_aggregation = false").await;
        let plan = physical_plan(engine, sql).await;
        assert!(!plan.contains("SmallKeyAggregateExec"), "{name}\n{plan}");
        compare_on(data, name, engine, sql, sql).await;
    }
}

#[tokio::test]
async fn groupings_by_words_match_duckdb_over_declared_partitions() {
    check_all(&engine_on(split_dataset()).await).await;
}

#[tokio::test]
async fn groupings_by_words_match_duckdb_over_undeclared_files() {
    let engine = undeclared_engine_on(split_dataset()).await;
    query(&engine, "SET datafusion.execution.batch_size = 100").await;
    check_all(&engine).await;
}
