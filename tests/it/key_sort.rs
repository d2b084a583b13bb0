//! Sorting by fixed-width byte keys (fjq_engine::key_sort): text, integer, date and boolean
//! keys, ascending and descending, NULLs first and last, over the calibration data in 4
//! partitions of 100-row batches (so each partition's sort gathers many batches and the final
//! merge meets all four; booleans are shown as integers, which both engines print alike).
//! The sorted rows are gathered by fjq_engine::gather: identifiers (text), codes (string
//! views), integers and dates, with NULLs. Each plan is checked to sort by keys, and each
//! answer, row by row in order, against DuckDB's over the same files, with the rule on (the
//! default) and then off.

use crate::common::query;
use crate::differential::{compare_ordered, engine_in_small_batches, physical_plan};

/// (name, SQL for both engines): every key's NULL order spelled out, and a unique column last,
/// so that the order is the same in both.
const SORTS: &[(&str, &str)] = &[
    (
        "children by person descending (NULLs first), then role row",
        "SELECT person_id, role_id, case_id FROM people WHERE role = 'child'
         ORDER BY person_id DESC NULLS FIRST, role_id ASC NULLS LAST",
    ),
    (
        "public law cases by disposal (NULLs first), start descending, id",
        "SELECT case_id, first_disposal_date, start_date FROM cases WHERE case_type = 'public_law'
         ORDER BY first_disposal_date ASC NULLS FIRST, start_date DESC NULLS LAST, case_id ASC NULLS LAST",
    ),
    (
        "applicants by age descending (NULLs last), sex, role row",
        "SELECT age_at_start, sex, role_id FROM people WHERE role = 'applicant' AND case_id < '2'
         ORDER BY age_at_start DESC NULLS LAST, sex ASC NULLS FIRST, role_id DESC NULLS LAST",
    ),
    (
        "hearings by error flag descending, vacated, date, id",
        "SELECT CAST(error AS INT) AS error_flag, CAST(vacated AS INT) AS vacated_flag, event_date, event_id FROM events WHERE event_code = 'C6'
         ORDER BY error DESC NULLS LAST, vacated ASC NULLS LAST, event_date ASC NULLS LAST, event_id ASC NULLS LAST",
    ),
];

#[tokio::test]
async fn key_sorts_keep_duckdbs_order_across_batches_and_partitions() {
    let engine = engine_in_small_batches().await;
    query(&engine, "SET fjq.key_sort = true").await;
    for &(name, sql) in SORTS {
        let plan = physical_plan(&engine, sql).await;
        assert!(plan.contains("KeySortExec"), "{name}: not by keys\n{plan}");
        compare_ordered(name, &engine, sql, sql).await;
    }
    query(&engine, "SET fjq.key_sort = false").await;
    for &(name, sql) in SORTS {
        let plan = physical_plan(&engine, sql).await;
        assert!(!plan.contains("KeySortExec"), "{name}\n{plan}");
        compare_ordered(name, &engine, sql, sql).await;
    }
}
