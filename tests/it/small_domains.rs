//! Groupings by booleans, their groups numbered by arithmetic (fjq_engine::small_domains):
//! returns within two, three and seven years grouped by the answers cast to integers (NULL for
//! a censored window), and events grouped by three yes/no answers, one of them a plain boolean
//! column. Over the split dataset in 100-row batches, on two partitions (partial then final
//! phase) and on one (a single phase), each plan is checked to use the operator and each answer,
//! with the rule on and off, against DuckDB's over the same files.

use crate::common::query;
use crate::differential::{duckdb_rows, fjq_rows, physical_plan};
use crate::file_ranges::{engine_on, split_dataset};
use fjq_engine::Engine;

/// (name, fjq's SQL, DuckDB's).
const GROUPINGS: &[(&str, &str, &str)] = &[
    (
        "returns within 2, 3 and 7 years",
        "SELECT CAST(r2 AS INT), CAST(r3 AS INT), CAST(r7 AS INT), count(*) FROM (
           SELECT returns_within(start_date, 730) OVER w AS r2, returns_within(start_date, 1095) OVER w AS r3,
                  returns_within(start_date, 2557) OVER w AS r7
           FROM (SELECT DISTINCT p.person_id AS who, c.start_date FROM people p JOIN cases c USING (case_id)
                 WHERE p.person_id IS NOT NULL)
           WINDOW w AS (PARTITION BY who ORDER BY start_date)) GROUP BY 1, 2, 3",
        "WITH e AS (SELECT DISTINCT p.person_id AS who, c.start_date FROM people p JOIN cases c USING (case_id)
                    WHERE p.person_id IS NOT NULL),
              w AS (SELECT start_date, lead(start_date) OVER (PARTITION BY who ORDER BY start_date) AS nxt FROM e)
         SELECT CASE WHEN nxt - start_date <= 730 THEN 1 WHEN DATE '2021-01-31' - start_date >= 730 THEN 0 END,
                CASE WHEN nxt - start_date <= 1095 THEN 1 WHEN DATE '2021-01-31' - start_date >= 1095 THEN 0 END,
                CASE WHEN nxt - start_date <= 2557 THEN 1 WHEN DATE '2021-01-31' - start_date >= 2557 THEN 0 END,
                count(*) FROM w GROUP BY 1, 2, 3",
    ),
    (
        "events by three yes/no answers",
        "SELECT CAST(error AS INT), CAST(event_date >= DATE '2016-01-01' AS INT), CAST(hearing_type IS NULL AS INT),
                count(*), CAST(max(event_date) AS VARCHAR), sum(CASE WHEN event_code = 'C6' THEN 1 ELSE 0 END)
         FROM events GROUP BY error, CAST(event_date >= DATE '2016-01-01' AS INT), hearing_type IS NULL",
        "SELECT CAST(error AS INT), CAST(event_date >= DATE '2016-01-01' AS INT), CAST(hearing_type IS NULL AS INT),
                count(*), CAST(max(event_date) AS VARCHAR), sum(CASE WHEN event_code = 'C6' THEN 1 ELSE 0 END)
         FROM events GROUP BY error, CAST(event_date >= DATE '2016-01-01' AS INT), hearing_type IS NULL",
    ),
];

/// fjq's rows against DuckDB's, in any order; several groups, not one.
async fn same_rows(engine: &Engine, name: &str, fjq_sql: &str, duckdb_sql: &str) {
    let ours = fjq_rows(engine, fjq_sql).await;
    let theirs = duckdb_rows(split_dataset(), duckdb_sql);
    assert!(
        ours.len() >= 4,
        "{name}: only {} groups: {ours:?}",
        ours.len()
    );
    assert_eq!(ours, theirs, "{name}: fjq's groups, then DuckDB's");
}

/// Checks every grouping with the rule on and off; returns the phase (`Partial`, `Single`, ...)
/// in which each was numbered by arithmetic.
async fn check_all(engine: &Engine) -> Vec<String> {
    let mut phases = Vec::new();
    for &(name, fjq_sql, duckdb_sql) in GROUPINGS {
        query(engine, "SET fjq.small_domain_aggregation = true").await;
        let plan = physical_plan(engine, fjq_sql).await;
        let phase = plan
            .split("SmallDomainAggregateExec: mode=")
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .unwrap_or_else(|| panic!("{name}: not numbered by arithmetic\n{plan}"));
        phases.push(phase.to_string());
        same_rows(engine, name, fjq_sql, duckdb_sql).await;
        query(engine, "SET fjq.small_domain_aggregation = false").await;
        let plan = physical_plan(engine, fjq_sql).await;
        assert!(!plan.contains("SmallDomainAggregateExec"), "{name}\n{plan}");
        same_rows(engine, name, fjq_sql, duckdb_sql).await;
    }
    phases
}

#[tokio::test]
async fn groupings_by_booleans_match_duckdb_in_partial_phases() {
    let phases = check_all(&engine_on(split_dataset()).await).await;
    assert_eq!(phases, ["Partial", "Partial"]);
}

/// On one partition the returns query groups in a single phase (the events' scan keeps its two
/// file groups, so its grouping stays partial then final).
#[tokio::test]
async fn groupings_by_booleans_match_duckdb_in_a_single_phase() {
    let engine = engine_on(split_dataset()).await;
    query(&engine, "SET datafusion.execution.target_partitions = 1").await;
    let phases = check_all(&engine).await;
    assert_eq!(phases, ["Single", "Partial"]);
}
