//! Cafcass alongside the court: `linked_cases`, `linked_case_measures` and `case_journey`
//! against DuckDB computing the same in its own plain SQL over the same files, `linked_cases`
//! against the generator's truth (which Cafcass case belongs to which court case), and the
//! README's three linked questions against independent DuckDB computations.

use crate::common::{self, open_with_truth, query, value};
use crate::differential::{
    PRIVATE_LAW_STAGES, assert_same, duckdb_rows, engine_in_small_batches, fjq_rows,
};
use fjq_engine::{Engine, EngineConfig};

/// The same pairing `linked_cases` makes, written the way a DuckDB user would: the window as
/// `abs()`, the weakest status by its place in a list, the counts as correlated subqueries.
fn duckdb_pairs(statuses: &str, window: u32) -> String {
    format!(
        "cc AS (SELECT p.case_id, p.person_id, l.link_id, l.match_status AS s, l.match_probability AS pr
                FROM people p JOIN linkage l ON l.dataset = 'family_court' AND l.source_person_id = p.person_id
                WHERE p.role = 'child' AND l.link_id IS NOT NULL AND l.match_status IN ({statuses})),
         fc AS (SELECT cp.cafcass_case_id, l.link_id, l.match_status AS s, l.match_probability AS pr
                FROM cafcass_people cp JOIN linkage l ON l.dataset = 'cafcass' AND l.source_person_id = cp.cafcass_person_id
                WHERE cp.role = 'subject' AND l.link_id IS NOT NULL AND l.match_status IN ({statuses})),
         pairs AS (SELECT cc.case_id, fc.cafcass_case_id, c.case_type, c.start_date, k.received_date,
                          count(DISTINCT cc.person_id) AS shared,
                          max(greatest(list_position([1, 4, 39, 35], cc.s), list_position([1, 4, 39, 35], fc.s))) AS wr,
                          min(least(cc.pr, fc.pr)) AS wp
                   FROM cc JOIN fc ON fc.link_id = cc.link_id
                   JOIN cases c ON c.case_id = cc.case_id
                   JOIN cafcass_cases k ON k.cafcass_case_id = fc.cafcass_case_id
                   WHERE abs(k.received_date - c.start_date) <= {window}
                   GROUP BY ALL)"
    )
}

pub(crate) fn duckdb_linked_cases(statuses: &str, window: u32) -> String {
    format!(
        "WITH {} SELECT case_id, cafcass_case_id, received_date - start_date, shared,
                (SELECT count(*) FROM people q WHERE q.case_id = pairs.case_id AND q.role = 'child'),
                (SELECT count(*) FROM cafcass_people q WHERE q.cafcass_case_id = pairs.cafcass_case_id AND q.role = 'subject'),
                [1, 4, 39, 35][wr], CAST(round(wp * 1e9) AS BIGINT)
         FROM pairs",
        duckdb_pairs(statuses, window)
    )
}

/// Every column of `linked_people`, and DuckDB's join of the same, written from the court side.
pub(crate) const FJQ_LINKED_PEOPLE: &str = "SELECT case_id, role_id, person_id, court_role, coalesce(relationship_to_child, '-'), link_id,
                court_match_status, cafcass_case_id, cafcass_person_id, cafcass_role, cafcass_match_status
         FROM linked_people";
pub(crate) const DUCKDB_LINKED_PEOPLE: &str = "SELECT p.case_id, p.role_id, p.person_id, p.role, coalesce(p.relationship_to_child, '-'), lf.link_id,
                lf.match_status, cp.cafcass_case_id, cp.cafcass_person_id, cp.role, lc.match_status
         FROM people p
         JOIN linkage lf ON lf.dataset = 'family_court' AND lf.source_person_id = p.person_id
         JOIN linkage lc ON lc.dataset = 'cafcass' AND lc.link_id = lf.link_id
         JOIN cafcass_people cp ON cp.cafcass_person_id = lc.source_person_id";

pub(crate) const FJQ_LINKED_CASES: &str = "SELECT case_id, cafcass_case_id, days_apart, children_shared, court_children, \
     cafcass_children, weakest_match_status, CAST(round(weakest_match_probability * 1e9) AS BIGINT) \
     FROM linked_cases";

async fn engine() -> Engine {
    Engine::open(common::calibration_dataset(), EngineConfig::default())
        .await
        .expect("opens")
}

async fn set(engine: &Engine, statement: &str) {
    query(engine, statement).await;
}

/// Under the default (strict) linkage, and after `SET` to weak matches and a shorter window:
/// the view follows the session's settings, row for row what DuckDB finds.
#[tokio::test]
async fn linked_cases_match_duckdb_under_strict_and_loose_linkage() {
    let data = common::calibration_dataset();
    let engine = engine().await;
    let strict = fjq_rows(&engine, FJQ_LINKED_CASES).await;
    assert_same(
        "strict, 28 days",
        &strict,
        &duckdb_rows(data, &duckdb_linked_cases("1, 4, 39", 28)),
    );
    set(&engine, "SET fjq.case_link_statuses = '1,4,39,35'").await;
    set(&engine, "SET fjq.case_link_window_days = 3").await;
    let loose = fjq_rows(&engine, FJQ_LINKED_CASES).await;
    assert_same(
        "loose, 3 days",
        &loose,
        &duckdb_rows(data, &duckdb_linked_cases("1, 4, 39, 35", 3)),
    );
    assert_ne!(strict, loose, "the settings changed nothing");
}

/// Each linked pair's measures, against DuckDB working them out from `cafcass_work`.
#[tokio::test]
async fn linked_case_measures_match_duckdb() {
    let data = common::calibration_dataset();
    let engine = engine().await;
    let ours = fjq_rows(
        &engine,
        "SELECT case_id, cafcass_case_id, days_to_safeguarding_letter, CAST(s7_report AS INT), \
                s7_report_days, CAST(guardian_before_first_hearing AS INT) FROM linked_case_measures",
    )
    .await;
    let theirs = duckdb_rows(
        data,
        &format!(
            "WITH {} SELECT p.case_id, p.cafcass_case_id,
                    (SELECT min(w.end_date) FROM cafcass_work w WHERE w.cafcass_case_id = p.cafcass_case_id
                       AND w.work_type = 'safeguarding_letter') - p.start_date,
                    CASE WHEN EXISTS (SELECT 1 FROM cafcass_work w WHERE w.cafcass_case_id = p.cafcass_case_id
                       AND w.work_type = 's7_report') THEN 1 ELSE 0 END,
                    (SELECT max(w.end_date - w.start_date) FROM cafcass_work w WHERE w.cafcass_case_id = p.cafcass_case_id
                       AND w.work_type = 's7_report'),
                    CASE WHEN EXISTS (SELECT 1 FROM cafcass_work w WHERE w.cafcass_case_id = p.cafcass_case_id
                       AND w.work_type IN ('childrens_guardian_s41', 'rule_16_4_guardian')
                       AND (c.first_hearing_date IS NULL OR w.start_date < c.first_hearing_date)) THEN 1 ELSE 0 END
             FROM pairs p JOIN cases c ON c.case_id = p.case_id",
            duckdb_pairs("1, 4, 39", 28)
        ),
    );
    assert_same("linked_case_measures", &ours, &theirs);
}

/// A journey's steps with their ranks in plain SQL: the private law stages of `s` (the
/// differential tests' plain-SQL stages), and Cafcass work in brackets, each just after the court
/// stage that calls for it on the same day.
const JOURNEY_STEPS: &str = "
  court AS (SELECT case_id, event_date AS d, stage AS step FROM s),
  work AS (SELECT p.case_id, w.start_date AS d, '[' || w.work_type || ']' AS step
        FROM pairs p JOIN cafcass_work w ON w.cafcass_case_id = p.cafcass_case_id
        WHERE p.case_type = 'private_law'),
  jr AS (SELECT *, CASE step WHEN 'application' THEN 2 WHEN '[enforcement]' THEN 3 WHEN '[safeguarding_letter]' THEN 3
          WHEN '[childrens_guardian_s41]' THEN 1 WHEN 'fhdra' THEN 12
          WHEN '[fhdra_attendance]' THEN 13 WHEN 'fact_finding' THEN 16 WHEN '[s7_report]' THEN 17
          WHEN '[rule_16_4_guardian]' THEN 17 WHEN '[further_work]' THEN 17 WHEN 'dra' THEN 20
          WHEN 'final_hearing' THEN 26 WHEN 'final_order' THEN 28 WHEN 'withdrawn' THEN 32
          WHEN 'refused' THEN 34 WHEN 'no_order' THEN 36 WHEN 'reopened' THEN 38
          WHEN 'closed' THEN 40 END AS rk
        FROM (SELECT * FROM court UNION ALL SELECT * FROM work) WHERE step IS NOT NULL)";

/// `case_journey` over court events and linked Cafcass work, against DuckDB's `string_agg` with
/// `lag` dropping consecutive repeats.
#[tokio::test]
async fn case_journeys_match_duckdb_string_agg() {
    let data = common::calibration_dataset();
    let engine = engine().await;
    let ours = fjq_rows(
        &engine,
        "SELECT case_id, case_journey(step, d) FROM (
           SELECT e.case_id, pathway_stage(c.case_type, e.event_code, e.hearing_type, e.disposal_type) AS step,
                  e.event_date AS d
           FROM events e JOIN cases c USING (case_id)
           WHERE c.case_type = 'private_law' AND NOT e.error AND NOT e.vacated
           UNION ALL
           SELECT l.case_id, w.work_type, w.start_date
           FROM linked_cases l JOIN cafcass_work w USING (cafcass_case_id) WHERE l.case_type = 'private_law')
         GROUP BY case_id",
    )
    .await;
    let theirs = duckdb_rows(
        data,
        &format!(
            "WITH {}, {PRIVATE_LAW_STAGES}, {JOURNEY_STEPS},
             o AS (SELECT *, lag(step) OVER (PARTITION BY case_id ORDER BY d, rk, step) AS prev FROM jr)
             SELECT case_id, string_agg(step, ' > ' ORDER BY d, rk, step) FROM o
             WHERE prev IS NULL OR prev <> step GROUP BY case_id",
            duckdb_pairs("1, 4, 39", 28)
        ),
    );
    assert_same("case_journey", &ours, &theirs);
    assert!(
        ours.iter()
            .any(|r| r.contains("[safeguarding_letter] > fhdra > [fhdra_attendance]")),
        "no journey shows the usual start"
    );
}

/// Recall and precision of `linked_cases` against the generator's truth, by nation: the
/// planted linkage misses (Welsh records match about 80% of the time, English about 93%) show
/// as lower recall in Wales; pairs found are nearly all right; weak matches find more.
#[tokio::test]
async fn linked_cases_recover_the_true_case_links_less_well_in_wales() {
    let engine = open_with_truth(common::calibration_dataset()).await;
    let recall = |nation: &'static str| {
        format!(
            "SELECT avg(CASE WHEN l.case_id IS NULL THEN 0.0 ELSE 1.0 END) FROM truth.case_links t \
             LEFT JOIN (SELECT DISTINCT case_id, cafcass_case_id FROM linked_cases) l \
               ON l.case_id = t.case_id AND l.cafcass_case_id = t.cafcass_case_id \
             WHERE t.nation = '{nation}'"
        )
    };
    let precision = |nation: &'static str| {
        format!(
            "SELECT avg(CASE WHEN t.case_id IS NULL THEN 0.0 ELSE 1.0 END) FROM linked_cases l \
             LEFT JOIN truth.case_links t ON l.case_id = t.case_id AND l.cafcass_case_id = t.cafcass_case_id \
             WHERE l.nation = '{nation}'"
        )
    };
    let england = value(&engine, &recall("England")).await;
    let wales = value(&engine, &recall("Wales")).await;
    let england_precision = value(&engine, &precision("England")).await;
    let wales_precision = value(&engine, &precision("Wales")).await;
    println!(
        "strict: recall England {england:.4}, Wales {wales:.4}; precision England {england_precision:.4}, Wales {wales_precision:.4}"
    );
    assert!((0.85..0.99).contains(&england), "English recall {england}");
    assert!((0.55..0.85).contains(&wales), "Welsh recall {wales}");
    assert!(england - wales > 0.08, "England {england}, Wales {wales}");
    assert!(
        england_precision > 0.97,
        "English precision {england_precision}"
    );
    assert!(wales_precision > 0.97, "Welsh precision {wales_precision}");

    set(&engine, "SET fjq.case_link_statuses = '1,4,39,35'").await;
    let loose = value(&engine, &recall("England")).await;
    println!("loose: recall England {loose:.4}");
    assert!(
        loose > england,
        "weak matches found nothing more: {loose} <= {england}"
    );
}

fn readme_linked_queries() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let section = readme
        .split("## Cafcass alongside the court")
        .nth(1)
        .expect("the section")
        .split("\n## ")
        .next()
        .expect("text");
    section
        .split("```sql\n")
        .skip(1)
        .map(|block| block.split("```").next().expect("fence").to_string())
        .collect()
}

/// Rows equal field by field, numbers to within the last printed decimal (the two engines may
/// round a sum of fractions differently in the last place).
fn assert_close(name: &str, ours: &[String], theirs: &[String]) {
    assert_eq!(ours.len(), theirs.len(), "{name}:\n{ours:#?}\n{theirs:#?}");
    for (a, b) in ours.iter().zip(theirs) {
        for (x, y) in a.split('\t').zip(b.split('\t')) {
            match (x.parse::<f64>(), y.parse::<f64>()) {
                (Ok(x), Ok(y)) => assert!((x - y).abs() <= 0.1 + 1e-9, "{name}: {a} against {b}"),
                _ => assert_eq!(x, y, "{name}: {a} against {b}"),
            }
        }
    }
}

/// The README's three linked questions, as they stand, against DuckDB computing each answer in
/// its own plain SQL.
#[tokio::test]
async fn the_readme_linked_questions_agree_with_duckdb() {
    let data = common::calibration_dataset();
    let engine = engine().await;
    let queries = readme_linked_queries();
    assert_eq!(queries.len(), 3, "the README has three linked questions");
    let pairs = duckdb_pairs("1, 4, 39", 28);
    let disposal = "(SELECT case_id, start_date, first_disposal_date FROM cases WHERE first_disposal_date IS NOT NULL)";

    // 1. Section 7 reports in private law.
    let ours = fjq_rows(&engine, &queries[0]).await;
    let theirs = duckdb_rows(
        data,
        &format!(
            "WITH {pairs},
             s7 AS (SELECT p.case_id, max(CASE WHEN w.work_type = 's7_report' THEN 1 ELSE 0 END) AS s7
                    FROM pairs p LEFT JOIN cafcass_work w ON w.cafcass_case_id = p.cafcass_case_id
                    WHERE p.case_type = 'private_law' GROUP BY p.case_id)
             SELECT CASE s7 WHEN 1 THEN 'section 7 report' ELSE 'no section 7 report' END, count(*),
                    round(100.0 * avg(CASE WHEN EXISTS (SELECT 1 FROM events e WHERE e.case_id = s7.case_id
                          AND e.order_type = 'child_arrangements_order' AND NOT e.error) THEN 1 ELSE 0 END), 1),
                    round(avg((d.first_disposal_date - d.start_date) / 7.0), 1)
             FROM s7 JOIN {disposal} d USING (case_id) GROUP BY 1"
        ),
    );
    assert_close("section 7 reports", &ours, &theirs);

    // 2. Guardians before the first hearing in care proceedings.
    let ours = fjq_rows(&engine, &queries[1]).await;
    let theirs = duckdb_rows(
        data,
        &format!(
            "WITH {pairs},
             g AS (SELECT p.case_id, max(CASE WHEN w.work_type IN ('childrens_guardian_s41', 'rule_16_4_guardian')
                          AND (c.first_hearing_date IS NULL OR w.start_date < c.first_hearing_date) THEN 1 ELSE 0 END) AS early
                   FROM pairs p JOIN cases c ON c.case_id = p.case_id
                   LEFT JOIN cafcass_work w ON w.cafcass_case_id = p.cafcass_case_id
                   WHERE p.case_type = 'public_law' GROUP BY p.case_id)
             SELECT CASE early WHEN 1 THEN 'before the first hearing' ELSE 'later, or none' END, count(*),
                    round(avg((d.first_disposal_date - d.start_date) / 7.0), 1),
                    round(100.0 * avg(CASE WHEN d.first_disposal_date - d.start_date <= 182 THEN 1 ELSE 0 END), 1)
             FROM g JOIN {disposal} d USING (case_id) GROUP BY 1"
        ),
    );
    assert_close("guardians", &ours, &theirs);

    // 3. Court children found in Cafcass's records, by year, strict and loose.
    let ours = fjq_rows(&engine, &queries[2]).await;
    let theirs = duckdb_rows(
        data,
        "WITH ch AS (SELECT DISTINCT p.person_id, year(c.start_date) AS y FROM people p JOIN cases c USING (case_id)
                     WHERE p.role = 'child' AND p.person_id IS NOT NULL AND c.case_type IN ('public_law', 'private_law'))
         SELECT y, count(*),
                round(100.0 * avg(CASE WHEN EXISTS (SELECT 1 FROM linkage f JOIN linkage k ON k.link_id = f.link_id
                      WHERE f.dataset = 'family_court' AND k.dataset = 'cafcass' AND f.source_person_id = ch.person_id
                      AND f.match_status IN (1, 4, 39) AND k.match_status IN (1, 4, 39)) THEN 1 ELSE 0 END), 1),
                round(100.0 * avg(CASE WHEN EXISTS (SELECT 1 FROM linkage f JOIN linkage k ON k.link_id = f.link_id
                      WHERE f.dataset = 'family_court' AND k.dataset = 'cafcass' AND f.source_person_id = ch.person_id
                      AND f.match_status IN (1, 4, 39, 35) AND k.match_status IN (1, 4, 39, 35)) THEN 1 ELSE 0 END), 1)
         FROM ch GROUP BY y",
    );
    assert_close("children found", &ours, &theirs);
}

/// `linked_people` row for row against the same pairs joined in DuckDB, the linkage question
/// the benchmark asks (court children found in Cafcass: a LEFT JOIN to the view filtered on a
/// Cafcass column), and questions filtering the view on a Cafcass column, on a court column and
/// on both, in 4 partitions of 100-row batches. The view is written from the
/// court side, so that the persons an outer join asks for shrink the court links before they
/// meet Cafcass's, and takes `person_id` from the link row; the answers must not depend on
/// either.
#[tokio::test]
async fn linked_people_and_a_left_join_to_it_match_duckdb() {
    let data = common::calibration_dataset();
    let engine = engine_in_small_batches().await;
    let ours = fjq_rows(&engine, FJQ_LINKED_PEOPLE).await;
    let theirs = duckdb_rows(data, DUCKDB_LINKED_PEOPLE);
    assert_same("linked_people", &ours, &theirs);

    let ours = fjq_rows(
        &engine,
        "SELECT c.region, count(DISTINCT p.person_id), count(DISTINCT l.person_id) FROM people p JOIN cases c USING (case_id)
         LEFT JOIN linked_people l ON l.person_id = p.person_id AND l.cafcass_role = 'subject'
         WHERE c.case_type IN ('public_law', 'private_law') AND p.role = 'child' GROUP BY 1, c.case_type",
    )
    .await;
    let theirs = duckdb_rows(
        data,
        "SELECT c.region, count(DISTINCT p.person_id), count(DISTINCT l.person_id) FROM people p JOIN cases c USING (case_id)
         LEFT JOIN (SELECT lf.source_person_id AS person_id FROM linkage lf
                    JOIN linkage lc ON lc.dataset = 'cafcass' AND lc.link_id = lf.link_id
                    JOIN cafcass_people cp ON cp.cafcass_person_id = lc.source_person_id AND cp.role = 'subject'
                    WHERE lf.dataset = 'family_court') l ON l.person_id = p.person_id
         WHERE c.case_type IN ('public_law', 'private_law') AND p.role = 'child' GROUP BY 1, c.case_type",
    );
    assert_eq!(
        ours, theirs,
        "children found in Cafcass, by region and case type"
    );
    assert!(
        ours.len() >= 10,
        "a row per region and case type: {ours:#?}"
    );

    // The same pairs from the Cafcass side, as DuckDB is given them.
    let pairs = "SELECT p.person_id, p.role AS court_role, p.relationship_to_child, cp.cafcass_case_id,
                        cp.role AS cafcass_role, lf.match_status AS court_match_status
                 FROM cafcass_people cp JOIN linkage lc ON lc.dataset = 'cafcass' AND lc.source_person_id = cp.cafcass_person_id
                 JOIN linkage lf ON lf.dataset = 'family_court' AND lf.link_id = lc.link_id
                 JOIN people p ON p.person_id = lf.source_person_id";
    for (question, filter, key, count) in [
        (
            "pairs of Cafcass subjects by court role",
            "cafcass_role = 'subject'",
            "court_role",
            "count(*)",
        ),
        (
            "Cafcass cases of court respondents by relationship",
            "court_role = 'respondent'",
            "coalesce(relationship_to_child, '-')",
            "count(DISTINCT cafcass_case_id)",
        ),
        (
            "mothers who applied to Cafcass, by court match status",
            "relationship_to_child = 'mother' AND cafcass_role = 'applicant'",
            "court_match_status",
            "count(DISTINCT person_id)",
        ),
    ] {
        let ours = fjq_rows(
            &engine,
            &format!("SELECT {key}, {count} FROM linked_people WHERE {filter} GROUP BY 1"),
        )
        .await;
        let theirs = duckdb_rows(
            data,
            &format!("SELECT {key}, {count} FROM ({pairs}) WHERE {filter} GROUP BY 1"),
        );
        assert_eq!(ours, theirs, "{question}");
        assert!(ours.len() >= 2, "{question}: {ours:#?}");
    }
}
