//! fjq's hash join on one key (fjq_engine::hash_join) against DuckDB: the linked views, whose
//! joins of identifiers to identifiers it was made for, and a join on a code column whose every
//! key repeats hundreds of times on both sides, in 4 partitions of 100-row batches with every
//! hash join partitioned (at this scale DataFusion would gather each build side whole, and
//! such joins stay DataFusion's).
//!
//! Also the filters those joins pass to the scans of their probe sides (fjq_engine::probe_filter):
//! rows dropped where they are read, answers unchanged.

use crate::common::{self, query};
use crate::differential::{
    assert_same, duckdb_rows, engine_in_small_batches, fjq_rows, physical_plan,
};
use crate::linked::{
    DUCKDB_LINKED_PEOPLE, FJQ_LINKED_CASES, FJQ_LINKED_PEOPLE, duckdb_linked_cases,
};
use datafusion::arrow::array::AsArray;
use fjq_engine::Engine;

/// The engine of the differential tests, with every hash join partitioned on its keys.
async fn engine_partitioning_every_join() -> Engine {
    let engine = engine_in_small_batches().await;
    for setting in [
        "SET datafusion.optimizer.hash_join_single_partition_threshold = 0",
        "SET datafusion.optimizer.hash_join_single_partition_threshold_rows = 0",
    ] {
        query(&engine, setting).await;
    }
    engine
}

/// How many of `plan`'s joins are fjq's one-key hash join, of each type.
fn one_key_joins(plan: &str, join_type: &str) -> usize {
    plan.matches(&format!(
        "OneKeyHashJoinExec: mode=Partitioned, join_type={join_type},"
    ))
    .count()
}

#[tokio::test]
async fn linked_views_joined_on_one_key_match_duckdb() {
    let data = common::calibration_dataset();
    let engine = engine_partitioning_every_join().await;

    let linked_people = FJQ_LINKED_PEOPLE;
    let plan = physical_plan(&engine, linked_people).await;
    // Texts (person identifiers) and integers (link_id) as keys.
    assert_eq!(
        one_key_joins(&plan, "Inner"),
        3,
        "linked_people's joins:\n{plan}"
    );
    assert!(plan.contains("on=[(link_id@"), "{plan}");
    let theirs = duckdb_rows(data, DUCKDB_LINKED_PEOPLE);
    assert_same(
        "linked_people",
        &fjq_rows(&engine, linked_people).await,
        &theirs,
    );

    // Its pairs within the window are an inner join with a filter.
    let plan = physical_plan(&engine, FJQ_LINKED_CASES).await;
    assert!(
        one_key_joins(&plan, "Inner") >= 5,
        "linked_cases' joins:\n{plan}"
    );
    assert!(
        plan.lines()
            .any(|line| line.contains("OneKeyHashJoinExec") && line.contains(", filter=")),
        "no filtered join in\n{plan}"
    );
    assert_same(
        "linked_cases",
        &fjq_rows(&engine, FJQ_LINKED_CASES).await,
        &duckdb_rows(data, &duckdb_linked_cases("1, 4, 39", 28)),
    );

    // The benchmark's question of the view reads neither count: the view's joins for them are
    // left out, so each people table is read once, for the pairing.
    let sql =
        "SELECT nation, case_type, count(*), sum(children_shared) FROM linked_cases GROUP BY 1, 2";
    let plan = physical_plan(&engine, sql).await;
    let scans = |table: &str| {
        plan.lines()
            .filter(|l| l.contains("DataSourceExec") && l.contains(&format!("/{table}/")))
            .count()
    };
    assert_eq!((scans("people"), scans("cafcass_people")), (1, 1), "{plan}");
    let ours = fjq_rows(&engine, sql).await;
    let theirs = duckdb_rows(
        data,
        "WITH cc AS (SELECT p.case_id, p.person_id, l.link_id FROM people p
                     JOIN linkage l ON l.dataset = 'family_court' AND l.source_person_id = p.person_id
                     WHERE p.role = 'child' AND l.link_id IS NOT NULL AND l.match_status IN (1, 4, 39)),
              fc AS (SELECT cp.cafcass_case_id, l.link_id FROM cafcass_people cp
                     JOIN linkage l ON l.dataset = 'cafcass' AND l.source_person_id = cp.cafcass_person_id
                     WHERE cp.role = 'subject' AND l.link_id IS NOT NULL AND l.match_status IN (1, 4, 39)),
              pairs AS (SELECT cc.case_id, fc.cafcass_case_id, c.case_type, k.nation,
                               count(DISTINCT cc.person_id) AS shared
                        FROM cc JOIN fc ON fc.link_id = cc.link_id
                        JOIN cases c ON c.case_id = cc.case_id
                        JOIN cafcass_cases k ON k.cafcass_case_id = fc.cafcass_case_id
                        WHERE abs(k.received_date - c.start_date) <= 28 GROUP BY ALL)
         SELECT nation, case_type, count(*), sum(shared) FROM pairs GROUP BY 1, 2",
    );
    assert!(ours.len() >= 6, "a row per nation and case type: {ours:#?}");
    assert_eq!(ours, theirs, "linked pairs by nation and case type");
}

/// The benchmark's linkage question: a left join of court children to the view, by region
/// and case type.
#[tokio::test]
async fn a_left_join_to_linked_people_matches_duckdb() {
    let engine = engine_partitioning_every_join().await;
    let sql =
        "SELECT c.region, c.case_type, count(DISTINCT p.person_id), count(DISTINCT l.person_id)
         FROM people p JOIN cases c USING (case_id)
         LEFT JOIN linked_people l ON l.person_id = p.person_id AND l.cafcass_role = 'subject'
         WHERE p.role = 'child' GROUP BY 1, 2";
    // DataFusion builds on the view's side here (a right join, left to it), on the court
    // children's at scale 1.0 (a left join, done here); the view's joins are done here, but
    // for its join to `people`, which the outer join repeats (fjq_engine::implied_joins).
    let plan = physical_plan(&engine, sql).await;
    assert_eq!(one_key_joins(&plan, "Inner"), 3, "{plan}");
    let ours = fjq_rows(&engine, sql).await;
    let theirs = duckdb_rows(
        common::calibration_dataset(),
        "SELECT c.region, c.case_type, count(DISTINCT p.person_id), count(DISTINCT l.person_id)
         FROM people p JOIN cases c USING (case_id)
         LEFT JOIN (SELECT lf.source_person_id AS person_id FROM linkage lf
                    JOIN linkage lc ON lc.dataset = 'cafcass' AND lc.link_id = lf.link_id
                    JOIN cafcass_people cp ON cp.cafcass_person_id = lc.source_person_id AND cp.role = 'subject'
                    WHERE lf.dataset = 'family_court') l ON l.person_id = p.person_id
         WHERE p.role = 'child' GROUP BY 1, 2",
    );
    assert!(
        ours.len() >= 20,
        "a row per region and case type: {ours:#?}"
    );
    assert_eq!(ours, theirs);
}

/// Events joined to people on their case's type and the person's role text (a few values,
/// each repeated on thousands of rows): each probed row's chain of build rows runs over many
/// output batches of 100 rows.
#[tokio::test]
async fn a_join_on_a_code_column_with_long_chains_matches_duckdb() {
    let engine = engine_partitioning_every_join().await;
    let sql = "SELECT a.case_type, b.region, count(*), count(DISTINCT a.dfj_area), min(b.start_date)
               FROM (SELECT case_type, dfj_area FROM cases WHERE start_date < DATE '2011-04-01') a
               JOIN (SELECT case_type, region, start_date FROM cases WHERE start_date >= DATE '2020-10-01') b
               ON a.case_type = b.case_type GROUP BY 1, 2";
    let plan = physical_plan(&engine, sql).await;
    assert_eq!(one_key_joins(&plan, "Inner"), 1, "{plan}");
    let ours = fjq_rows(&engine, sql).await;
    let theirs = duckdb_rows(common::calibration_dataset(), sql);
    assert!(
        ours.len() >= 20,
        "a row per case type and region: {ours:#?}"
    );
    assert_eq!(ours, theirs);
}

/// The `FilterExec` lines of an `EXPLAIN ANALYZE` that test a join's build keys
/// (fjq_engine::probe_filter), each as (rows passed, rows tested).
fn probe_filters_run(analyzed: &str) -> Vec<(u64, u64)> {
    analyzed
        .lines()
        .filter(|line| line.contains("FilterExec: DynamicFilter") && line.contains("may match"))
        .filter_map(|line| {
            let counts = line
                .split("selectivity=")
                .nth(1)?
                .split(['(', ')'])
                .nth(1)?;
            let (passed, tested) = counts.split_once('/')?;
            let number = |n: &str| -> Option<u64> {
                let n = n.trim();
                match n.strip_suffix(" K") {
                    Some(k) => Some((k.parse::<f64>().ok()? * 1000.0) as u64),
                    None => n.parse().ok(),
                }
            };
            Some((number(passed)?, number(tested)?))
        })
        .collect()
}

/// The linkage question with the joins' build keys passed to the scans of their other sides:
/// the people rows of persons no pair holds are dropped where they are read, and the answers
/// are DuckDB's, and the same as without the filters.
#[tokio::test]
async fn probe_filters_drop_rows_where_they_are_read_and_keep_the_answers() {
    let engine = engine_partitioning_every_join().await;
    let sql = "SELECT c.region, count(DISTINCT p.person_id), count(DISTINCT l.person_id)
               FROM people p JOIN cases c USING (case_id)
               LEFT JOIN linked_people l ON l.person_id = p.person_id AND l.cafcass_role = 'subject'
               WHERE c.case_type = 'public_law' AND p.role = 'child' GROUP BY 1";
    let theirs = duckdb_rows(
        common::calibration_dataset(),
        "SELECT c.region, count(DISTINCT p.person_id), count(DISTINCT l.person_id)
         FROM people p JOIN cases c USING (case_id)
         LEFT JOIN (SELECT lf.source_person_id AS person_id FROM linkage lf
                    JOIN linkage lc ON lc.dataset = 'cafcass' AND lc.link_id = lf.link_id
                    JOIN cafcass_people cp ON cp.cafcass_person_id = lc.source_person_id AND cp.role = 'subject'
                    WHERE lf.dataset = 'family_court') l ON l.person_id = p.person_id
         WHERE c.case_type = 'public_law' AND p.role = 'child' GROUP BY 1",
    );
    assert!(theirs.len() >= 9, "a row per region: {theirs:#?}");

    let analyzed = common::query(&engine, &format!("EXPLAIN ANALYZE {sql}")).await;
    let analyzed = analyzed[0]
        .column(1)
        .as_string::<i32>()
        .value(0)
        .to_string();
    let filters = probe_filters_run(&analyzed);
    assert!(
        filters.len() >= 3,
        "the linkage scans and people's:\n{analyzed}"
    );
    assert!(
        filters.iter().any(|&(passed, tested)| passed * 2 < tested),
        "some filter should drop most of its rows:\n{analyzed}"
    );
    assert_eq!(
        fjq_rows(&engine, sql).await,
        theirs,
        "with the probe filters"
    );

    query(&engine, "SET fjq.probe_filters = false").await;
    let plan = physical_plan(&engine, sql).await;
    assert!(!plan.contains("FilterExec: DynamicFilter"), "{plan}");
    assert_eq!(fjq_rows(&engine, sql).await, theirs, "without them");
}

/// Semi and anti joins (IN and NOT EXISTS) with their probe sides filtered: DuckDB's answers.
#[tokio::test]
async fn semi_and_anti_joins_with_probe_filters_match_duckdb() {
    let engine = engine_partitioning_every_join().await;
    for sql in [
        // The recent cases are the smaller side: fjq's join builds on them (left semi and
        // anti joins), and filters the people rows by their case ids.
        "SELECT c.case_type, count(*) FROM cases c WHERE c.start_date >= DATE '2020-10-01'
           AND c.case_id IN (SELECT p.case_id FROM people p WHERE p.role = 'child') GROUP BY 1",
        "SELECT c.case_type, count(*) FROM cases c WHERE c.start_date >= DATE '2020-10-01'
           AND NOT EXISTS (SELECT 1 FROM people p WHERE p.case_id = c.case_id AND p.role = 'child'
                           AND p.age_at_start < 5) GROUP BY 1",
    ] {
        let plan = physical_plan(&engine, sql).await;
        assert!(
            plan.contains("OneKeyHashJoinExec: mode=Partitioned, join_type=LeftSemi")
                || plan.contains("OneKeyHashJoinExec: mode=Partitioned, join_type=LeftAnti"),
            "{sql}:\n{plan}"
        );
        assert!(plan.contains("FilterExec: DynamicFilter"), "{sql}:\n{plan}");
        let theirs = duckdb_rows(common::calibration_dataset(), sql);
        assert!(theirs.len() >= 3, "{theirs:#?}");
        assert_eq!(fjq_rows(&engine, sql).await, theirs, "{sql}");
    }
}

/// A per-case DISTINCT over a filtered scan, on the probe side of a join: the sorted-run
/// aggregate reads the scan's filter through when nothing else tests the scan's rows, but under
/// a probe filter the scan's filter runs first, so that the probe filter (a `FilterExec` of its
/// own, or read through by the aggregate) tests only the rows it passes. DuckDB's answers
/// either way.
#[tokio::test]
async fn a_probe_filter_goes_over_the_filter_a_sorted_aggregate_would_read_through() {
    let engine = engine_partitioning_every_join().await;
    let sql = "SELECT c.case_type, count(*) FROM cases c
               JOIN (SELECT DISTINCT case_id FROM people WHERE role = 'child') k USING (case_id)
               WHERE c.start_date >= DATE '2020-10-01' GROUP BY 1";
    let theirs = duckdb_rows(common::calibration_dataset(), sql);
    assert!(theirs.len() >= 3, "{theirs:#?}");

    let plan = physical_plan(&engine, sql).await;
    let lines: Vec<&str> = plan.lines().map(str::trim_start).collect();
    let at = |found: &dyn Fn(&str) -> bool| lines.iter().position(|line| found(line));
    let probe = at(&|line| {
        line.starts_with("FilterExec: DynamicFilter")
            || line.starts_with("SortedRunAggregateExec") && line.contains("rows where [Dynamic")
    });
    let role = at(&|line| line.starts_with("FilterExec: role@"));
    assert!(
        matches!((probe, role), (Some(probe), Some(role)) if probe < role),
        "the probe filter over the role filter:\n{plan}"
    );
    assert_eq!(
        fjq_rows(&engine, sql).await,
        theirs,
        "with the probe filter"
    );

    query(&engine, "SET fjq.probe_filters = false").await;
    let plan = physical_plan(&engine, sql).await;
    assert!(
        plan.contains("SortedRunAggregateExec") && plan.contains("rows where [role@"),
        "read through without the probe filter:\n{plan}"
    );
    assert_eq!(
        fjq_rows(&engine, sql).await,
        theirs,
        "reading the filter through"
    );
}
