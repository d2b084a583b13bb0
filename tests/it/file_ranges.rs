//! Scans declared range-partitioned on their key (fjq_engine::file_ranges), over a dataset
//! written in many files per table as the generator writes the full-size data: per-case
//! aggregates in one phase and joins of tables split alike without an exchange, checked in the
//! plan, with the answers DuckDB's in 100-row batches; and no
//! declaration, with DuckDB's answers still, when the files are out of key order or change
//! under a running engine.

use crate::common::{self, query};
use crate::differential::{
    FJQ_PUBLIC_LAW_PATHWAY, PUBLIC_LAW_STAGES, compare_on, observed_in_duckdb, physical_plan,
};
use fjq_engine::{Engine, EngineConfig};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// About 52 thousand court cases in 7 files per court table (6 of 8,000 cases and the rest),
/// and about 20 thousand Cafcass cases in 3 files per Cafcass table: the full-size layout in
/// miniature.
pub(crate) fn split_dataset() -> &'static Path {
    static CELL: OnceLock<PathBuf> = OnceLock::new();
    CELL.get_or_init(|| {
        let dir = common::scratch("split-0.02");
        let _ = std::fs::remove_dir_all(&dir);
        common::generate_in_files(0.02, 42, &dir, 8_000);
        dir
    })
}

fn copy_of_split_dataset(name: &str) -> PathBuf {
    let copy = common::scratch(name);
    let _ = std::fs::remove_dir_all(&copy);
    common::copy_dataset(split_dataset(), &copy);
    copy
}

/// Two partitions as on the benchmark machine, 100-row batches, and DataFusion's own gathering
/// of small build sides off, so that a join's mode is the declaration's doing.
pub(crate) async fn engine_on(data: &Path) -> Engine {
    let engine = Engine::open(
        data,
        EngineConfig {
            target_partitions: Some(2),
            ..EngineConfig::default()
        },
    )
    .await
    .expect("opens");
    for setting in [
        "SET datafusion.execution.batch_size = 100",
        "SET datafusion.optimizer.hash_join_single_partition_threshold = 0",
        "SET datafusion.optimizer.hash_join_single_partition_threshold_rows = 0",
    ] {
        query(&engine, setting).await;
    }
    engine
}

/// Two partitions, the files' key ranges not declared (the engine's switch).
pub(crate) async fn undeclared_engine_on(data: &Path) -> Engine {
    Engine::open(
        data,
        EngineConfig {
            target_partitions: Some(2),
            declare_file_ranges: false,
            ..EngineConfig::default()
        },
    )
    .await
    .expect("opens")
}

fn files_of(data: &Path, table: &str) -> usize {
    std::fs::read_dir(data.join(table))
        .expect("the table's folder")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "parquet"))
        })
        .count()
}

/// The scan line of `table` in a plan, and whether it declares range partitions.
fn declared(plan: &str, table: &str) -> bool {
    let scan = plan
        .lines()
        .find(|l| l.contains("DataSourceExec") && l.contains(&format!("/{table}/part-")))
        .unwrap_or_else(|| panic!("no scan of {table} in\n{plan}"));
    scan.contains("output_partitioning=Range(")
}

pub(crate) const ALL_CASE_PATHWAYS: &str =
    "SELECT case_id, case_pathway(event_code, event_date) FROM events
     WHERE NOT error GROUP BY case_id";
pub(crate) const ALL_CASE_PATHWAYS_IN_DUCKDB: &str =
    "WITH o AS (SELECT case_id, event_date, event_code,
         lag(event_code) OVER (PARTITION BY case_id ORDER BY event_date, event_code) AS prev
         FROM events WHERE NOT error)
     SELECT case_id, string_agg(event_code, ' > ' ORDER BY event_date, event_code) FROM o
     WHERE prev IS NULL OR prev <> event_code GROUP BY case_id";

#[tokio::test]
async fn tables_split_alike_group_and_join_without_exchanges_and_match_duckdb() {
    let data = split_dataset();
    for (table, at_least) in [
        ("cases", 6),
        ("events", 6),
        ("people", 6),
        ("cafcass_cases", 2),
        ("cafcass_work", 2),
    ] {
        assert!(files_of(data, table) >= at_least, "files of {table}");
    }
    let engine = engine_on(data).await;

    // Every case's events are in one partition: one aggregation phase, no exchange, and the
    // files' order kept (the aggregate runs sorted).
    let plan = physical_plan(&engine, ALL_CASE_PATHWAYS).await;
    assert!(declared(&plan, "events"), "events undeclared in\n{plan}");
    assert!(
        plan.contains("AggregateExec: mode=SinglePartitioned, gby=[case_id@0 as case_id]")
            && plan.contains("ordering_mode=Sorted")
            && !plan.contains("RepartitionExec"),
        "all-case pathways:\n{plan}"
    );
    compare_on(
        data,
        "all-case pathways",
        &engine,
        ALL_CASE_PATHWAYS,
        ALL_CASE_PATHWAYS_IN_DUCKDB,
    )
    .await;

    // Events to cases, people to cases, Cafcass work to Cafcass cases: partition to partition.
    let pathways = FJQ_PUBLIC_LAW_PATHWAY.replace("{mode}", "observed");
    for (name, fjq_sql, duckdb_sql) in [
        (
            "observed public law pathways",
            pathways.clone(),
            observed_in_duckdb(PUBLIC_LAW_STAGES),
        ),
        (
            "events by area and code",
            "SELECT c.dfj_area, e.event_code, count(*), count(DISTINCT e.case_id), min(e.event_date)
             FROM events e JOIN cases c USING (case_id) GROUP BY 1, 2"
                .to_string(),
            String::new(),
        ),
        (
            "children per case by area",
            "SELECT c.dfj_area, n, count(*) FROM (
                SELECT c.case_id, c.dfj_area, count(*) AS n FROM people p JOIN cases c USING (case_id)
                WHERE p.role = 'child' GROUP BY c.case_id, c.dfj_area) c GROUP BY 1, 2"
                .to_string(),
            String::new(),
        ),
        (
            "Cafcass work by area",
            "SELECT k.dfj_area, w.work_type, count(*), count(DISTINCT w.cafcass_case_id)
             FROM cafcass_work w JOIN cafcass_cases k USING (cafcass_case_id) GROUP BY 1, 2"
                .to_string(),
            String::new(),
        ),
        (
            "hearings per case, cases without any kept (a left join)",
            "SELECT c.dfj_area, n, count(*) FROM (
                SELECT c.case_id, c.dfj_area, count(e.event_id) AS n FROM cases c
                LEFT JOIN events e ON e.case_id = c.case_id AND e.event_code = 'C6'
                GROUP BY c.case_id, c.dfj_area) c GROUP BY 1, 2"
                .to_string(),
            String::new(),
        ),
    ] {
        let plan = physical_plan(&engine, &fjq_sql).await;
        assert!(
            (plan.contains("HashJoinExec: mode=Partitioned") || plan.contains("MergeJoinExec"))
                && !plan.contains("RepartitionExec: partitioning=Hash([case_id")
                && !plan.contains("RepartitionExec: partitioning=Hash([cafcass_case_id"),
            "{name}: the join should meet partition by partition:\n{plan}"
        );
        let duckdb_sql = if duckdb_sql.is_empty() {
            &fjq_sql
        } else {
            &duckdb_sql
        };
        compare_on(data, name, &engine, &fjq_sql, duckdb_sql).await;
    }

    // Repeat entries: the distinct (person, start date) entries from the co-partitioned join,
    // then one group per person.
    compare_on(
        data,
        "repeat entries",
        &engine,
        "SELECT who, repeat_entries(start_date) FROM (
             SELECT DISTINCT p.person_id AS who, c.start_date FROM people p JOIN cases c USING (case_id)
             WHERE p.person_id IS NOT NULL) GROUP BY who",
        "SELECT who, count(*) - 1 FROM (
             SELECT DISTINCT p.person_id AS who, c.start_date FROM people p JOIN cases c USING (case_id)
             WHERE p.person_id IS NOT NULL) GROUP BY who",
    )
    .await;

    // Without the declaration (the engine's switch), the same plan repartitions.
    let undeclared = undeclared_engine_on(data).await;
    let plan = physical_plan(&undeclared, ALL_CASE_PATHWAYS).await;
    assert!(
        !declared(&plan, "events") && plan.contains("RepartitionExec: partitioning=Hash([case_id"),
        "undeclared:\n{plan}"
    );
}

#[tokio::test]
async fn files_out_of_key_order_are_scanned_undeclared_and_still_match_duckdb() {
    // Swapping two files' names puts the events out of key order in name order; cases stay in it.
    let data = copy_of_split_dataset("split-swapped");
    let events = data.join("events");
    let (a, b) = (
        events.join("part-00001.parquet"),
        events.join("part-00004.parquet"),
    );
    let t = events.join("swap.tmp");
    std::fs::rename(&a, &t).expect("rename");
    std::fs::rename(&b, &a).expect("rename");
    std::fs::rename(&t, &b).expect("rename");
    let engine = engine_on(&data).await;
    let sql = "SELECT c.dfj_area, e.event_code, count(*), count(DISTINCT e.case_id)
               FROM events e JOIN cases c USING (case_id) GROUP BY 1, 2";
    let plan = physical_plan(&engine, sql).await;
    assert!(
        !declared(&plan, "events") && declared(&plan, "cases"),
        "declarations:\n{plan}"
    );
    compare_on(&data, "events by area and code, swapped", &engine, sql, sql).await;
    compare_on(
        &data,
        "all-case pathways, swapped",
        &engine,
        ALL_CASE_PATHWAYS,
        ALL_CASE_PATHWAYS_IN_DUCKDB,
    )
    .await;
}

/// The declaration is made at open from the files then; a file added before a query lists them
/// would put rows in partitions the declaration does not say (nine files cannot fall one run
/// to each of two declared partitions), so the scan must go undeclared and still be right.
/// (DataFusion caches a table's file list from its first scan on, so the file is added before
/// any query of this engine.)
#[tokio::test]
async fn a_file_added_after_open_ends_the_declaration() {
    let data = copy_of_split_dataset("split-added");
    let sql = "SELECT c.dfj_area, n, count(*) FROM (
                 SELECT c.case_id, c.dfj_area, count(*) AS n FROM events e JOIN cases c USING (case_id)
                 GROUP BY c.case_id, c.dfj_area) c GROUP BY 1, 2";
    let before = engine_on(&data).await;
    assert!(declared(&physical_plan(&before, sql).await, "events"));
    compare_on(&data, "events per case", &before, sql, sql).await;

    let engine = engine_on(&data).await;
    // A copy of the third file, last in name order: its cases now have their events twice.
    let events = data.join("events");
    std::fs::copy(
        events.join("part-00002.parquet"),
        events.join("part-00009.parquet"),
    )
    .expect("copy");
    let plan = physical_plan(&engine, sql).await;
    assert!(!declared(&plan, "events"), "still declared:\n{plan}");
    assert!(declared(&plan, "cases"), "cases undeclared:\n{plan}");
    compare_on(&data, "events per case, a file added", &engine, sql, sql).await;
}
