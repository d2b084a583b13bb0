//! Differential tests: each query written twice, once with fjq's domain functions and once in the
//! plain SQL a researcher would otherwise write, run by DuckDB (the `duckdb` package from PyPI)
//! on the same Parquet files. The two must return identical rows.
//!
//! Both sides return only text and whole numbers (dates as ISO text, booleans as 0/1, fractions
//! scaled and rounded), so the comparison is exact.

use crate::common::{self, query};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use fjq_engine::{Engine, EngineConfig};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("FJQ_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    assert!(
        venv.exists(),
        "the differential and viewer tests need Python with duckdb and sacroviewer: run `bash tests/run.sh` (it creates .venv) or set FJQ_PYTHON"
    );
    venv
}

pub(crate) fn duckdb_rows(data: &Path, sql: &str) -> Vec<String> {
    let mut rows = duckdb_rows_in_order(data, sql);
    rows.sort();
    rows
}

/// DuckDB's rows in the order it returned them.
pub(crate) fn duckdb_rows_in_order(data: &Path, sql: &str) -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/duckdb_query.py");
    let mut child = Command::new(python())
        .arg(script)
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(sql.as_bytes())
        .expect("send SQL");
    let out = child.wait_with_output().expect("python runs");
    assert!(
        out.status.success(),
        "DuckDB failed on\n{sql}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(str::to_string)
        .collect()
}

pub(crate) async fn fjq_rows(engine: &Engine, sql: &str) -> Vec<String> {
    let mut rows = fjq_rows_in_order(engine, sql).await;
    rows.sort();
    rows
}

async fn same_answer(name: &str, fjq_sql: &str, duckdb_sql: &str) {
    let data = common::calibration_dataset();
    let engine = Engine::open(data, EngineConfig::default())
        .await
        .expect("opens");
    compare(name, &engine, fjq_sql, duckdb_sql).await;
}

async fn compare(name: &str, engine: &Engine, fjq_sql: &str, duckdb_sql: &str) {
    compare_on(
        common::calibration_dataset(),
        name,
        engine,
        fjq_sql,
        duckdb_sql,
    )
    .await;
}

/// fjq's rows (from `engine`) against DuckDB's over the files in `data`, in any order.
pub(crate) async fn compare_on(
    data: &Path,
    name: &str,
    engine: &Engine,
    fjq_sql: &str,
    duckdb_sql: &str,
) {
    let ours = fjq_rows(engine, fjq_sql).await;
    let theirs = duckdb_rows(data, duckdb_sql);
    assert_same(name, &ours, &theirs);
}

/// Whether fjq's rows and DuckDB's are the same, and more than 100 of them; if not, a panic
/// naming up to five rows found by only one engine.
pub(crate) fn assert_same(name: &str, ours: &[String], theirs: &[String]) {
    assert!(ours.len() > 100, "{name}: only {} rows", ours.len());
    if ours != theirs {
        let only_ours: Vec<_> = ours
            .iter()
            .filter(|r| !theirs.contains(r))
            .take(5)
            .collect();
        let only_theirs: Vec<_> = theirs
            .iter()
            .filter(|r| !ours.contains(r))
            .take(5)
            .collect();
        panic!(
            "{name}: fjq {} rows, DuckDB {}\nonly in fjq: {only_ours:#?}\nonly in DuckDB: {only_theirs:#?}",
            ours.len(),
            theirs.len()
        );
    }
}

/// Public law stages in plain SQL: the CASE a researcher writes instead of `pathway_stage`,
/// with FUNCTIONS.md's ranks.
pub(crate) const PUBLIC_LAW_STAGES: &str = "
  s AS (SELECT e.case_id, e.event_date, CASE
          WHEN e.event_code = 'G63' THEN 'withdrawn' WHEN e.event_code = 'ORDREF' THEN 'refused'
          WHEN e.event_code = 'ORDNOM' THEN 'no_order' WHEN e.event_code = 'G62' THEN 'reopened'
          WHEN e.event_code = 'U24' THEN 'closed'
          WHEN e.event_code IN ('C6', 'G61') THEN CASE e.hearing_type WHEN 'CMH' THEN 'cmh' WHEN 'FCMH' THEN 'fcmh'
               WHEN 'IRH' THEN 'irh' WHEN 'final_hearing' THEN 'final_hearing' END
          WHEN e.event_code = 'U22' THEN 'issue'
          WHEN e.event_code IN ('C23', 'C33', 'C35B') THEN 'interim_order'
          WHEN e.event_code IN ('C32A', 'C32B', 'C35A', 'C43', 'C43A', 'C45A', 'A70') THEN 'final_order' END AS stage
        FROM events e JOIN cases c USING (case_id)
        WHERE c.case_type = 'public_law' AND NOT e.error AND NOT e.vacated),
  r AS (SELECT *, CASE stage WHEN 'issue' THEN 0 WHEN 'interim_order' THEN 3 WHEN 'cmh' THEN 5 WHEN 'fcmh' THEN 7
          WHEN 'irh' THEN 9 WHEN 'final_hearing' THEN 13 WHEN 'final_order' THEN 14 WHEN 'withdrawn' THEN 16
          WHEN 'refused' THEN 17 WHEN 'no_order' THEN 18 WHEN 'reopened' THEN 19 WHEN 'closed' THEN 20 END AS rk
        FROM s WHERE stage IS NOT NULL)";

pub(crate) const FJQ_PUBLIC_LAW_PATHWAY: &str = "
  SELECT e.case_id, case_pathway(pathway_stage(c.case_type, e.event_code, e.hearing_type, e.disposal_type), e.event_date, '{mode}')
  FROM events e JOIN cases c USING (case_id)
  WHERE c.case_type = 'public_law' AND NOT e.error AND NOT e.vacated GROUP BY e.case_id";

/// The `observed` pathway in plain SQL over a stages CTE: consecutive repeats dropped.
pub(crate) fn observed_in_duckdb(stages: &str) -> String {
    format!(
        "WITH {stages},
             o AS (SELECT *, lag(stage) OVER (PARTITION BY case_id ORDER BY event_date, rk, stage) AS prev FROM r)
             SELECT case_id, string_agg(stage, ' > ' ORDER BY event_date, rk, stage) FROM o
             WHERE prev IS NULL OR prev <> stage GROUP BY case_id"
    )
}

/// The `furthest` pathway in plain SQL over a stages CTE: only stages past every earlier rank.
fn furthest_in_duckdb(stages: &str) -> String {
    format!(
        "WITH {stages},
             o AS (SELECT *, max(rk) OVER (PARTITION BY case_id ORDER BY event_date, rk, stage
                                           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reached FROM r)
             SELECT case_id, string_agg(stage, ' > ' ORDER BY event_date, rk, stage) FROM o
             WHERE reached IS NULL OR rk > reached GROUP BY case_id"
    )
}

#[tokio::test]
async fn observed_pathways_match_duckdb_string_agg() {
    same_answer(
        "case_pathway observed",
        &FJQ_PUBLIC_LAW_PATHWAY.replace("{mode}", "observed"),
        &observed_in_duckdb(PUBLIC_LAW_STAGES),
    )
    .await;
}

#[tokio::test]
async fn furthest_pathways_match_duckdb_running_max() {
    same_answer(
        "case_pathway furthest",
        &FJQ_PUBLIC_LAW_PATHWAY.replace("{mode}", "furthest"),
        &furthest_in_duckdb(PUBLIC_LAW_STAGES),
    )
    .await;
}

/// Private law stages in plain SQL (FUNCTIONS.md's private law stages and ranks).
pub(crate) const PRIVATE_LAW_STAGES: &str = "
  s AS (SELECT e.case_id, e.event_date, CASE
          WHEN e.event_code = 'G63' THEN 'withdrawn' WHEN e.event_code = 'ORDREF' THEN 'refused'
          WHEN e.event_code = 'ORDNOM' THEN 'no_order' WHEN e.event_code = 'G62' THEN 'reopened'
          WHEN e.event_code = 'U24' THEN 'closed'
          WHEN e.event_code IN ('C6', 'G61') THEN CASE e.hearing_type WHEN 'FHDRA' THEN 'fhdra'
               WHEN 'fact_finding' THEN 'fact_finding' WHEN 'DRA' THEN 'dra'
               WHEN 'final_hearing' THEN 'final_hearing' END
          WHEN e.event_code IN ('U22', 'U21') THEN 'application'
          WHEN e.event_code IN ('C43', 'C43A', 'C45A') THEN 'final_order' END AS stage
        FROM events e JOIN cases c USING (case_id)
        WHERE c.case_type = 'private_law' AND NOT e.error AND NOT e.vacated),
  r AS (SELECT *, CASE stage WHEN 'application' THEN 1 WHEN 'fhdra' THEN 6 WHEN 'fact_finding' THEN 8
          WHEN 'dra' THEN 10 WHEN 'final_hearing' THEN 13 WHEN 'final_order' THEN 14 WHEN 'withdrawn' THEN 16
          WHEN 'refused' THEN 17 WHEN 'no_order' THEN 18 WHEN 'reopened' THEN 19 WHEN 'closed' THEN 20 END AS rk
        FROM s WHERE stage IS NOT NULL)";

/// The private law pathways, both modes (the benchmark compared these; now the suite does).
#[tokio::test]
async fn private_law_pathways_match_duckdb() {
    let fjq = FJQ_PUBLIC_LAW_PATHWAY.replace("'public_law'", "'private_law'");
    same_answer(
        "private law case_pathway observed",
        &fjq.replace("{mode}", "observed"),
        &observed_in_duckdb(PRIVATE_LAW_STAGES),
    )
    .await;
    same_answer(
        "private law case_pathway furthest",
        &fjq.replace("{mode}", "furthest"),
        &furthest_in_duckdb(PRIVATE_LAW_STAGES),
    )
    .await;
}

/// The entries every return and repeat-entry query starts from (design/FUNCTIONS.md).
pub(crate) const ENTRIES: &str = "SELECT DISTINCT p.person_id AS who, c.start_date FROM people p JOIN cases c USING (case_id) WHERE p.person_id IS NOT NULL";

#[tokio::test]
async fn entry_numbers_gaps_and_returns_match_duckdb_window_functions() {
    same_answer(
        "entry functions",
        &format!(
            "SELECT who, CAST(start_date AS VARCHAR), entry_number(start_date) OVER w, prior_entries(start_date) OVER w,
                    days_since_last_entry(start_date) OVER w, CAST(returns_within(start_date, 730) OVER w AS INT)
             FROM ({ENTRIES}) WINDOW w AS (PARTITION BY who ORDER BY start_date)"
        ),
        &format!(
            "WITH e AS ({ENTRIES}),
             w AS (SELECT who, start_date, row_number() OVER (PARTITION BY who ORDER BY start_date) AS n,
                          lag(start_date) OVER (PARTITION BY who ORDER BY start_date) AS prev,
                          lead(start_date) OVER (PARTITION BY who ORDER BY start_date) AS nxt FROM e)
             SELECT who, CAST(start_date AS VARCHAR), n, n - 1, start_date - prev,
                    CASE WHEN nxt - start_date <= 730 THEN 1 WHEN DATE '2021-01-31' - start_date >= 730 THEN 0 END
             FROM w"
        ),
    )
    .await;
}

/// The entry functions run in fjq's own streaming operator (EntryWindowExec); with batches of
/// 64 rows some person's entries straddle nearly every batch boundary, and must be carried over.
#[tokio::test]
async fn entry_functions_over_partitions_that_straddle_batches_match_duckdb() {
    let engine = Engine::open(common::calibration_dataset(), EngineConfig::default())
        .await
        .expect("opens");
    query(&engine, "SET datafusion.execution.batch_size = 64").await;
    let fjq_sql = format!(
        "SELECT who, CAST(start_date AS VARCHAR), entry_number(start_date) OVER w, prior_entries(start_date, 1095) OVER w,
                CAST(returns_within(start_date, 730) OVER w AS INT)
         FROM ({ENTRIES}) WINDOW w AS (PARTITION BY who ORDER BY start_date)"
    );
    let plan = fjq_rows(&engine, &format!("EXPLAIN {fjq_sql}"))
        .await
        .join("\n");
    assert!(
        plan.contains("EntryWindowExec: functions=[entry_number, prior_entries, returns_within]"),
        "{plan}"
    );
    compare(
        "entry functions in batches of 64",
        &engine,
        &fjq_sql,
        &format!(
            "WITH e AS ({ENTRIES}),
             w AS (SELECT who, start_date, row_number() OVER (PARTITION BY who ORDER BY start_date) AS n,
                          count(*) OVER (PARTITION BY who ORDER BY start_date
                                         RANGE BETWEEN INTERVAL 1095 DAYS PRECEDING AND INTERVAL 1 DAY PRECEDING) AS prior,
                          lead(start_date) OVER (PARTITION BY who ORDER BY start_date) AS nxt FROM e)
             SELECT who, CAST(start_date AS VARCHAR), n, prior,
                    CASE WHEN nxt - start_date <= 730 THEN 1 WHEN DATE '2021-01-31' - start_date >= 730 THEN 0 END
             FROM w"
        ),
    )
    .await;
}

#[tokio::test]
async fn lookback_counts_and_truncation_match_duckdb_range_windows() {
    same_answer(
        "prior_entries with lookback, left_truncated",
        &format!(
            "SELECT who, CAST(start_date AS VARCHAR), prior_entries(start_date, 1095) OVER w,
                    CAST(left_truncated(start_date, 1095) OVER w AS INT)
             FROM ({ENTRIES}) WINDOW w AS (PARTITION BY who ORDER BY start_date)"
        ),
        &format!(
            "WITH e AS ({ENTRIES})
             SELECT who, CAST(start_date AS VARCHAR),
                    count(*) OVER (PARTITION BY who ORDER BY start_date
                                   RANGE BETWEEN INTERVAL 1095 DAYS PRECEDING AND INTERVAL 1 DAY PRECEDING),
                    CASE WHEN start_date - INTERVAL 1095 DAYS < DATE '2011-01-01' THEN 1 ELSE 0 END
             FROM e"
        ),
    )
    .await;
}

#[tokio::test]
async fn repeat_entries_and_person_pathways_match_duckdb_aggregates() {
    same_answer(
        "repeat_entries",
        &format!("SELECT who, repeat_entries(start_date), repeat_entries(start_date, 730) FROM ({ENTRIES}) GROUP BY who"),
        &format!(
            "WITH e AS ({ENTRIES}),
             g AS (SELECT who, start_date - lag(start_date) OVER (PARTITION BY who ORDER BY start_date) AS gap FROM e)
             SELECT who, count(*) - 1, count(*) FILTER (WHERE gap <= 730) FROM g GROUP BY who"
        ),
    )
    .await;
    same_answer(
        "person_pathway",
        "SELECT p.person_id, person_pathway(c.case_type, c.start_date) FROM people p JOIN cases c USING (case_id)
         WHERE p.person_id IS NOT NULL GROUP BY p.person_id",
        "WITH d AS (SELECT DISTINCT p.person_id AS who, c.start_date, c.case_type FROM people p JOIN cases c USING (case_id)
                    WHERE p.person_id IS NOT NULL)
         SELECT who, string_agg(case_type, ' > ' ORDER BY start_date, case_type) FROM d GROUP BY who",
    )
    .await;
}

#[tokio::test]
async fn timeliness_in_weeks_matches_duckdb_date_arithmetic() {
    same_answer(
        "weeks_between, within_weeks",
        "SELECT case_id, CAST(round(weeks_between(start_date, first_disposal_date) * 7) AS BIGINT),
                CAST(within_weeks(start_date, first_disposal_date, 26) AS INT)
         FROM cases WHERE case_type IN ('public_law', 'private_law')",
        "SELECT case_id, first_disposal_date - start_date,
                CASE WHEN first_disposal_date - start_date <= 182 THEN 1 WHEN first_disposal_date IS NOT NULL THEN 0 END
         FROM cases WHERE case_type IN ('public_law', 'private_law')",
    )
    .await;
}

#[tokio::test]
async fn kaplan_meier_matches_a_plain_sql_estimate_in_duckdb() {
    // Per DFJ area (about 46 groups, enough rows for the comparison): mothers' return to care
    // proceedings within 7 years, rounded to 1e-9.
    let mothers = "SELECT c.dfj_area AS area, p.person_id AS who, c.start_date FROM people p JOIN cases c USING (case_id)
                   WHERE c.case_type IN ('public_law', 'private_law') AND p.relationship_to_child = 'mother'";
    let data = common::calibration_dataset();
    let engine = Engine::open(data, EngineConfig::default())
        .await
        .expect("opens");
    let ours = fjq_rows(
        &engine,
        &format!("SELECT area, CAST(round(return_probability(who, start_date, 2557) * 1e9) AS BIGINT) FROM ({mothers}) GROUP BY area"),
    )
    .await;
    let theirs = duckdb_rows(
        data,
        &format!(
            "WITH m AS (SELECT DISTINCT area, who, start_date FROM ({mothers})),
             f AS (SELECT area, who, min(start_date) AS idx FROM m GROUP BY 1, 2),
             nx AS (SELECT f.area, f.who, f.idx, min(m.start_date) AS nxt FROM f LEFT JOIN m
                    ON m.area = f.area AND m.who = f.who AND m.start_date > f.idx GROUP BY 1, 2, 3),
             obs AS (SELECT area, CASE WHEN nxt IS NOT NULL THEN nxt - idx ELSE DATE '2021-01-31' - idx END AS t,
                            CASE WHEN nxt IS NOT NULL THEN 1 ELSE 0 END AS ev FROM nx),
             g AS (SELECT area, t, sum(ev) AS d, count(*) AS c FROM obs GROUP BY 1, 2),
             r AS (SELECT area, t, d, sum(c) OVER (PARTITION BY area ORDER BY t DESC) AS n FROM g)
             SELECT a.area, CAST(round((1 - coalesce(exp(sum(ln(1.0 - r.d / r.n))), 1)) * 1e9) AS BIGINT)
             FROM (SELECT DISTINCT area FROM obs) a LEFT JOIN r ON r.area = a.area AND r.t <= 2557 AND r.d > 0
             GROUP BY a.area"
        ),
    );
    assert_eq!(ours.len(), 46, "one estimate per DFJ area");
    assert_eq!(ours, theirs);
}

/// `compare`, row by row in the order each engine returned its rows.
pub(crate) async fn compare_ordered(name: &str, engine: &Engine, fjq_sql: &str, duckdb_sql: &str) {
    let ours = fjq_rows_in_order(engine, fjq_sql).await;
    let theirs = duckdb_rows_in_order(common::calibration_dataset(), duckdb_sql);
    assert!(ours.len() > 100, "{name}: only {} rows", ours.len());
    assert_eq!(ours.len(), theirs.len(), "{name}: row counts differ");
    if let Some(i) = (0..ours.len()).find(|&i| ours[i] != theirs[i]) {
        panic!(
            "{name}: row {i} differs: fjq {:?}, DuckDB {:?} (fjq's rows {}..: {:#?})",
            ours[i],
            theirs[i],
            i.saturating_sub(2),
            &ours[i.saturating_sub(2)..(i + 3).min(ours.len())]
        );
    }
}

/// fjq's rows in the order it returned them, tab-separated, NULL as NULL.
pub(crate) async fn fjq_rows_in_order(engine: &Engine, sql: &str) -> Vec<String> {
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for batch in query(engine, sql).await {
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).expect("formatter"))
            .collect();
        for r in 0..batch.num_rows() {
            let row: Vec<String> = formatters.iter().map(|f| f.value(r).to_string()).collect();
            rows.push(row.join("\t"));
        }
    }
    rows
}

/// An engine over the calibration data in 4 partitions and batches of 100 rows, so that sorts,
/// groups and joins cross many batch and partition boundaries, with the code columns scanned as
/// string views (`EngineConfig::string_views`, the default; DuckDB reads plain strings).
pub(crate) async fn engine_in_small_batches() -> Engine {
    engine_in_small_batches_with(true).await
}

/// The same, choosing whether code columns are string views or plain strings.
async fn engine_in_small_batches_with(string_views: bool) -> Engine {
    let engine = Engine::open(
        common::calibration_dataset(),
        EngineConfig {
            target_partitions: Some(4),
            string_views,
            ..EngineConfig::default()
        },
    )
    .await
    .expect("opens");
    query(&engine, "SET datafusion.execution.batch_size = 100").await;
    engine
}

/// Code columns are read as string views (fjq_engine::result_types) and cast back to strings
/// under the final sort: the order must hold across batches and partitions, with NULLs, top-k
/// limits, and sort keys the result does not show.
#[tokio::test]
async fn sorts_on_code_columns_keep_duckdbs_order_across_batches_and_partitions() {
    let engine = engine_in_small_batches().await;
    for (name, sql) in [
        (
            "every event by code, order type (NULLs first) and id",
            "SELECT event_code, order_type, event_id FROM events
             ORDER BY event_code, order_type NULLS FIRST, event_id",
        ),
        (
            "the top 300 by court, descending",
            "SELECT court, event_category, event_id FROM events
             ORDER BY court DESC, event_id DESC LIMIT 300",
        ),
        (
            "a function of a code, sorted by codes not shown",
            "SELECT upper(dfj_area), case_id FROM cases ORDER BY case_type, dfj_area, case_id",
        ),
        (
            "grouped counts sorted by their keys, NULLs last",
            "SELECT order_type, court, event_code, count(*) FROM events
             GROUP BY order_type, court, event_code ORDER BY order_type NULLS LAST, court, event_code",
        ),
    ] {
        // The engines' default places for NULLs differ; the one nullable key says where.
        compare_ordered(name, &engine, sql, sql).await;
    }
}

#[tokio::test]
async fn filters_groups_joins_and_string_functions_on_code_columns_match_duckdb() {
    // Views are the default; plain strings stay an option of the engine, so both are checked.
    let engines = [
        engine_in_small_batches_with(true).await,
        engine_in_small_batches_with(false).await,
    ];
    for (name, sql) in [
        (
            "filters: IN, LIKE, ranges, NULL tests",
            "SELECT event_id, event_code, order_type FROM events
             WHERE (event_code IN ('C43', 'C6', 'G61') AND order_type IS NULL)
                OR (event_code LIKE 'C3%' AND event_code >= 'C33')
                OR coalesce(order_type, '') = 'final'",
        ),
        (
            "group keys with NULLs",
            "SELECT court, event_code, order_type, count(*), count(DISTINCT case_id),
                    min(event_category), max(event_category)
             FROM events GROUP BY court, event_code, order_type",
        ),
        (
            "string functions",
            "SELECT event_id, length(court), substr(event_code, 1, 2),
                    lower(event_category) || '/' || coalesce(order_type, '-'),
                    replace(court, ' ', '_'), CAST(starts_with(event_code, 'C') AS INT)
             FROM events WHERE event_date < DATE '2013-01-01'",
        ),
        (
            "a join on a code column",
            "SELECT c.case_id, a.n FROM cases c
             JOIN (SELECT dfj_area, count(*) AS n FROM cases GROUP BY dfj_area) a
               ON a.dfj_area = c.dfj_area
             WHERE c.case_type = 'private_law'",
        ),
        (
            "a semi-join on a code column",
            "SELECT case_id, dfj_area FROM cases
             WHERE dfj_area IN (SELECT dfj_area FROM cafcass_cases WHERE nation = 'Wales')",
        ),
        (
            "events joined to cases, grouped by codes of both",
            "SELECT c.case_type, c.dfj_area, e.event_code, count(*)
             FROM events e JOIN cases c ON c.case_id = e.case_id
             GROUP BY c.case_type, c.dfj_area, e.event_code",
        ),
    ] {
        for engine in &engines {
            compare(name, engine, sql, sql).await;
        }
    }
}

/// What users receive keeps the contract's types (DATA.md): text is Utf8, in lists too, in
/// results and in the files fjq writes.
#[tokio::test]
async fn results_and_written_files_carry_the_contracts_string_type() {
    use datafusion::arrow::datatypes::{DataType, Field};
    use std::sync::Arc;
    let engine = engine_in_small_batches().await;
    let batches = query(
        &engine,
        "SELECT event_code, array_agg(DISTINCT court) AS courts, count(*) AS n
         FROM events GROUP BY event_code ORDER BY event_code",
    )
    .await;
    let schema = batches[0].schema();
    assert_eq!(schema.field(0).data_type(), &DataType::Utf8);
    assert_eq!(
        schema.field(1).data_type(),
        &DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
    );

    let dir = common::scratch("code-columns-export");
    std::fs::create_dir_all(&dir).expect("scratch");
    let out = dir.join("codes.parquet");
    engine
        .export(
            "SELECT event_code, court, event_id FROM events ORDER BY event_code LIMIT 1000",
            &out,
        )
        .await
        .expect("export");
    let file = std::fs::File::open(&out).expect("written");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("a Parquet file");
    for field in reader.schema().fields() {
        assert_eq!(field.data_type(), &DataType::Utf8, "{}", field.name());
    }
}

/// The physical plan of `sql`, one operator a line, indented by depth.
pub(crate) async fn physical_plan(engine: &Engine, sql: &str) -> String {
    use datafusion::arrow::array::AsArray;
    let batches = query(engine, &format!("EXPLAIN {sql}")).await;
    let mut plan = None;
    for batch in &batches {
        let kinds = batch.column(0).as_string::<i32>();
        let texts = batch.column(1).as_string::<i32>();
        for row in 0..batch.num_rows() {
            if kinds.value(row) == "physical_plan" {
                plan = Some(texts.value(row).to_string());
            }
        }
    }
    plan.expect("EXPLAIN gives a physical plan")
}

/// A join gathers its build side whole, and each batch it emits refers to every text buffer of
/// that side. Chained joins over string views made that grow with the square of the rows, so
/// fjq compacts the views under each build side (fjq_engine::compact_views): the plan must do
/// so under every join whose build side carries views, and the answers must stay DuckDB's.
#[tokio::test]
async fn chained_joins_over_code_columns_compact_their_build_sides_and_match_duckdb() {
    let engine = engine_in_small_batches().await;
    for (name, sql, joins) in [
        (
            "events x cases x people (the harness's wide join, by court too), a quarter of the cases",
            "SELECT c.case_type, p.role, e.event_category, e.court, count(*),
                    sum(coalesce(p.age_at_start, 0))
             FROM events e JOIN cases c USING (case_id) JOIN people p USING (case_id)
             WHERE NOT e.error AND e.case_id < '4' GROUP BY 1, 2, 3, 4",
            2,
        ),
        (
            "people x cases x cafcass cases on codes, with a cross join of code lists",
            "SELECT c.dfj_area, p.role, k.case_type, t.nation, count(*)
             FROM people p JOIN cases c ON c.case_id = p.case_id
             JOIN (SELECT DISTINCT dfj_area, nation FROM cafcass_cases) t ON t.dfj_area = c.dfj_area
             CROSS JOIN (SELECT DISTINCT case_type FROM cases) k
             WHERE p.case_id < '2' GROUP BY 1, 2, 3, 4",
            3,
        ),
    ] {
        let plan = physical_plan(&engine, sql).await;
        let lines: Vec<&str> = plan.lines().collect();
        let depth = |line: &str| line.len() - line.trim_start().len();
        let mut compacted = 0;
        for (i, line) in lines.iter().enumerate() {
            // fjq's own hash join (fjq_engine::hash_join) keeps DataFusion's children.
            let op = line.trim_start().trim_start_matches("OneKey");
            if ["HashJoinExec", "CrossJoinExec", "NestedLoopJoinExec"]
                .iter()
                .any(|j| op.starts_with(j))
            {
                let build = lines.get(i + 1).expect("a join has a build side");
                assert!(
                    build.trim_start().starts_with("CompactViewsExec")
                        && depth(build) == depth(line) + 2,
                    "{name}: no compaction under the build side of `{op}`:\n{plan}"
                );
                compacted += 1;
            }
        }
        assert_eq!(compacted, joins, "{name}: joins in\n{plan}");
        compare(name, &engine, sql, sql).await;
    }
}

/// A join of many rows to few (events to a quarter of the cases) gathers the few once and
/// streams the many in their files' partitions and order (fjq_engine::join_mode), instead of
/// repartitioning both sides; a join of comparable sides (people to cases), or whose build side
/// is itself a join's output (sizes too uncertain to trust), stays partitioned.
/// Either way the answers must be DuckDB's, across 4 partitions and 100-row batches, with
/// inner joins feeding groups, the pathway aggregate and a second join.
#[tokio::test]
async fn joins_of_many_rows_to_few_gather_the_few_once_and_match_duckdb() {
    let engine = engine_in_small_batches().await;
    // DataFusion gathers any build side under 1 MB itself, which at this scale is every one:
    // with its thresholds at zero, the modes below are fjq's rule's choice alone.
    query(
        &engine,
        "SET datafusion.optimizer.hash_join_single_partition_threshold = 0",
    )
    .await;
    query(
        &engine,
        "SET datafusion.optimizer.hash_join_single_partition_threshold_rows = 0",
    )
    .await;
    let modes = |plan: &str| -> Vec<String> {
        plan.lines()
            .filter_map(|line| {
                let op = line.trim_start().trim_start_matches("OneKey");
                op.strip_prefix("HashJoinExec: mode=")
            })
            .map(|rest| rest.split(',').next().unwrap_or_default().to_string())
            .collect()
    };
    for (name, sql, expected) in [
        (
            "events by code for public law cases",
            "SELECT c.region, e.event_code, count(*), count(DISTINCT e.case_id), min(e.event_date)
             FROM events e JOIN cases c USING (case_id)
             WHERE c.case_type = 'public_law' GROUP BY 1, 2",
            vec!["CollectLeft"],
        ),
        (
            "events of public law cases, with their children",
            "SELECT c.region, e.event_code, p.relationship_to_child, count(*)
             FROM events e JOIN cases c USING (case_id) JOIN people p ON p.case_id = e.case_id
             WHERE c.case_type = 'public_law' AND p.role = 'child' GROUP BY 1, 2, 3",
            vec!["Partitioned", "CollectLeft"],
        ),
        (
            "people with their cases' start dates",
            "SELECT DISTINCT p.person_id, c.start_date FROM people p JOIN cases c USING (case_id)
             WHERE p.person_id IS NOT NULL",
            vec!["Partitioned"],
        ),
    ] {
        let plan = physical_plan(&engine, sql).await;
        if !expected.is_empty() {
            assert_eq!(modes(&plan), expected, "{name}: join modes in\n{plan}");
        }
        compare(name, &engine, sql, sql).await;
    }
    // The pathway aggregate over the gathered join, each case's events in file order.
    let pathways = FJQ_PUBLIC_LAW_PATHWAY.replace("{mode}", "observed");
    let plan = physical_plan(&engine, &pathways).await;
    assert_eq!(
        modes(&plan),
        ["CollectLeft"],
        "pathways: join modes in\n{plan}"
    );
    compare(
        "observed public law pathways over a gathered join",
        &engine,
        &pathways,
        &observed_in_duckdb(PUBLIC_LAW_STAGES),
    )
    .await;
    // The setting turns the rule off: DataFusion's own choice comes back.
    query(&engine, "SET fjq.collect_small_builds = false").await;
    let plan = physical_plan(&engine, &pathways).await;
    assert_eq!(
        modes(&plan),
        ["Partitioned"],
        "rule off: join modes in\n{plan}"
    );
}

/// `EXTRACT` and `date_part` on dates take fjq's fast path (fjq_engine::date_parts) for the
/// year, quarter, month and day, and DataFusion's for the rest: both against DuckDB, over
/// columns with NULLs, as group keys, in a filter DataFusion rewrites into a range of dates,
/// and on a timestamp (DataFusion's path), in 4 partitions of 100-row batches.
#[tokio::test]
async fn parts_of_dates_match_duckdb() {
    let engine = engine_in_small_batches().await;
    let parts = "CAST(EXTRACT(YEAR FROM first_disposal_date) AS BIGINT) AS y,
                 CAST(EXTRACT(QUARTER FROM start_date) AS BIGINT) AS q,
                 CAST(date_part('month', first_disposal_date) AS BIGINT) AS m,
                 CAST(datepart('day', start_date) AS BIGINT) AS d,
                 CAST(EXTRACT(DOW FROM start_date) AS BIGINT) AS dow,
                 CAST(EXTRACT(HOUR FROM CAST(start_date AS TIMESTAMP)) AS BIGINT) AS h";
    let sql = format!(
        "SELECT y, q, m, d, dow, h, count(*) FROM (SELECT {parts} FROM cases) GROUP BY 1, 2, 3, 4, 5, 6"
    );
    compare("parts of dates", &engine, &sql, &sql).await;
    let sql = "SELECT case_id, CAST(EXTRACT(MONTH FROM start_date) AS BIGINT) FROM cases
               WHERE EXTRACT(YEAR FROM start_date) = 2015 AND EXTRACT(DAY FROM start_date) IN (1, 29, 31)";
    compare("a filter on the year", &engine, sql, sql).await;
}
