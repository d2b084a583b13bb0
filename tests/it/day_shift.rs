//! Dates moved by whole days (fjq_engine::day_shift) against DuckDB: in projections, group keys,
//! filters and a join's condition, over dates with NULLs, in 4 partitions of 100-row batches.
//! DuckDB's `date ± integer` is a date, as ours is; its `date ± INTERVAL` is a timestamp, so its
//! side of each query says the days as integers.

use crate::common::{self, query};
use crate::differential::{
    duckdb_rows, duckdb_rows_in_order, engine_in_small_batches, fjq_rows, fjq_rows_in_order,
    physical_plan,
};

/// Each query as fjq is asked it (intervals in the forms researchers write them) and as DuckDB
/// is.
const QUERIES: &[(&str, &str)] = &[
    // Shifted dates as group keys (year boundaries crossed) and aggregated.
    (
        "SELECT EXTRACT(YEAR FROM event_date - INTERVAL '28 days') AS y, count(*),
                min(event_date + 7), max(event_date - INTERVAL '1 week'), min(INTERVAL '3 days' + event_date)
         FROM events GROUP BY 1",
        "SELECT year(event_date - 28) AS y, count(*), min(event_date + 7), max(event_date - 7),
                min(event_date + 3)
         FROM events GROUP BY 1",
    ),
    // Nullable dates (open cases have no final order), in a filter and a projection.
    (
        "SELECT case_type, count(*), count(final_order_date - 182), min(final_order_date - 182)
         FROM cases WHERE final_order_date - INTERVAL '182 days' > start_date OR final_order_date IS NULL
         GROUP BY 1",
        "SELECT case_type, count(*), count(final_order_date - 182), min(final_order_date - 182)
         FROM cases WHERE final_order_date - 182 > start_date OR final_order_date IS NULL
         GROUP BY 1",
    ),
    // A window of days around a date as a join's condition.
    (
        "SELECT c.case_type, count(*) FROM cases c JOIN events e ON e.case_id = c.case_id
           AND e.event_date BETWEEN c.start_date - 14 AND c.start_date + INTERVAL '14 days'
         GROUP BY 1",
        "SELECT c.case_type, count(*) FROM cases c JOIN events e ON e.case_id = c.case_id
           AND e.event_date BETWEEN c.start_date - 14 AND c.start_date + 14
         GROUP BY 1",
    ),
];

#[tokio::test]
async fn dates_moved_by_whole_days_match_duckdb() {
    let engine = engine_in_small_batches().await;
    for (ours, theirs) in QUERIES {
        let plan = physical_plan(&engine, ours).await;
        assert!(plan.contains("fjq_shift_days("), "{ours}:\n{plan}");
        let expected = duckdb_rows(common::calibration_dataset(), theirs);
        assert!(expected.len() >= 3, "{theirs}: {expected:#?}");
        assert_eq!(fjq_rows(&engine, ours).await, expected, "{ours}");
    }
}

/// The same answers with the switch off, which leaves every sum to DataFusion; and months,
/// which are not a fixed number of days, are left to it always.
#[tokio::test]
async fn months_and_the_switch_off_leave_the_sums_to_datafusion() {
    let engine = engine_in_small_batches().await;
    let months = "SELECT max(event_date + INTERVAL '1 month'), count(*) FROM events
                  WHERE event_date - INTERVAL '2 months' > DATE '2019-12-31'";
    let plan = physical_plan(&engine, months).await;
    assert!(!plan.contains("fjq_shift_days("), "{plan}");
    let theirs = duckdb_rows(
        common::calibration_dataset(),
        "SELECT CAST(max(event_date + INTERVAL 1 MONTH) AS DATE), count(*) FROM events
         WHERE event_date - INTERVAL 2 MONTH > DATE '2019-12-31'",
    );
    assert_eq!(fjq_rows(&engine, months).await, theirs);

    query(&engine, "SET fjq.day_shift = false").await;
    for (ours, theirs) in QUERIES {
        let plan = physical_plan(&engine, ours).await;
        assert!(!plan.contains("fjq_shift_days("), "{ours}:\n{plan}");
        let expected = duckdb_rows(common::calibration_dataset(), theirs);
        assert_eq!(fjq_rows(&engine, ours).await, expected, "{ours}");
    }
}

/// A shifted date keeps its column's name: what the researcher wrote heads the column.
#[tokio::test]
async fn a_shifted_date_keeps_the_name_of_what_was_written() {
    let engine = engine_in_small_batches().await;
    let sql =
        "SELECT start_date + 28, start_date - INTERVAL '28 days' AS before FROM cases LIMIT 1";
    let plan = physical_plan(&engine, sql).await;
    assert!(plan.contains("fjq_shift_days("), "{plan}");
    let batches = query(&engine, sql).await;
    let names: Vec<&str> = batches[0]
        .schema_ref()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(names, ["cases.start_date + Int64(28)", "before"]);
}

/// A shifted date keeps its dates' order: events arrive sorted by case and date, so ordering
/// by case and the date a week before needs no sort (DataFusion's own sum claims no order, and
/// sorts), and the rows come in DuckDB's order.
#[tokio::test]
async fn a_shifted_date_keeps_its_order_and_needs_no_sort() {
    let engine = engine_in_small_batches().await;
    let sql = "SELECT case_id, event_date - 7 AS d FROM events WHERE case_id < '2'
               ORDER BY case_id, d";
    let plan = physical_plan(&engine, sql).await;
    assert!(plan.contains("fjq_shift_days("), "{plan}");
    assert!(!plan.contains("SortExec:"), "{plan}");
    let theirs = duckdb_rows_in_order(common::calibration_dataset(), sql);
    assert!(theirs.len() >= 100, "{}", theirs.len());
    assert_eq!(fjq_rows_in_order(&engine, sql).await, theirs);
}
