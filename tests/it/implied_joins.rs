//! Joins left out where a join above repeats their filtering (fjq_engine::implied_joins),
//! against DuckDB: the linkage question and its neighbours over `linked_people`, whose join to
//! `people` the rule drops when only distinct persons are counted, in 4 partitions of 100-row
//! batches. DuckDB is given the view's joins as written, `people` included.

use crate::common::{self, query};
use crate::differential::{duckdb_rows, engine_in_small_batches, fjq_rows, physical_plan};

/// `linked_people`'s joins as the view writes them, for DuckDB.
const DUCKDB_LINKED: &str =
    "(SELECT lf.source_person_id AS person_id, v.role AS court_role, cp.role AS cafcass_role
     FROM linkage lf
     JOIN linkage lc ON lc.dataset = 'cafcass' AND lc.link_id = lf.link_id
     JOIN cafcass_people cp ON cp.cafcass_person_id = lc.source_person_id
     JOIN people v ON v.person_id = lf.source_person_id
     WHERE lf.dataset = 'family_court')";

/// Questions of court children and the view (`{view}` is `linked_people` for fjq), and
/// whether the view's join to `people` may be left out.
const QUESTIONS: &[(&str, bool)] = &[
    // The benchmark's linkage question, by region and case type.
    (
        "SELECT c.region, c.case_type, count(DISTINCT p.person_id), count(DISTINCT l.person_id)
         FROM people p JOIN cases c USING (case_id)
         LEFT JOIN {view} l ON l.person_id = p.person_id AND l.cafcass_role = 'subject'
         WHERE p.role = 'child' GROUP BY 1, 2",
        true,
    ),
    // One distinct count (DataFusion's semi join), and the first and last persons found.
    (
        "SELECT c.case_type, count(DISTINCT l.person_id) FROM people p JOIN cases c USING (case_id)
         LEFT JOIN {view} l ON l.person_id = p.person_id WHERE p.role = 'child' GROUP BY 1",
        true,
    ),
    (
        "SELECT p.role, min(l.person_id), max(l.person_id) FROM people p
         JOIN {view} l ON l.person_id = p.person_id AND l.cafcass_role = 'applicant' GROUP BY 1",
        true,
    ),
    // Repeats counted: each court role record of a person is a row of the view.
    (
        "SELECT c.case_type, count(*), count(l.person_id) FROM people p JOIN cases c USING (case_id)
         LEFT JOIN {view} l ON l.person_id = p.person_id WHERE p.role = 'child' GROUP BY 1",
        false,
    ),
    // The court role read from the view's `people`.
    (
        "SELECT l.court_role, count(DISTINCT l.person_id) FROM people p
         JOIN {view} l ON l.person_id = p.person_id GROUP BY 1",
        false,
    ),
    // No join above: the view's join alone keeps the links to court persons.
    (
        "SELECT l.cafcass_role, count(DISTINCT l.person_id) FROM {view} l GROUP BY 1",
        false,
    ),
];

/// How many scans of `people` the physical plan has.
fn people_scans(plan: &str) -> usize {
    plan.lines()
        .filter(|line| line.contains("DataSourceExec") && line.contains("/people/"))
        .count()
}

#[tokio::test]
async fn linked_people_without_its_people_join_matches_duckdb() {
    let engine = engine_in_small_batches().await;
    for (question, implied) in QUESTIONS {
        let ours = question.replace("{view}", "linked_people");
        let theirs = question.replace("{view}", DUCKDB_LINKED);
        let expected = duckdb_rows(common::calibration_dataset(), &theirs);
        assert!(expected.len() >= 2, "{theirs}: {expected:#?}");
        // The question's own scan of `people`, if it has one, and the view's.
        let written = ours.matches("FROM people").count() + 1;
        let scans = people_scans(&physical_plan(&engine, &ours).await);
        let wanted = if *implied { written - 1 } else { written };
        assert_eq!(scans, wanted, "scans of people: {ours}");
        assert_eq!(fjq_rows(&engine, &ours).await, expected, "{ours}");
    }
    // The switch off keeps every join, with the same answers.
    query(&engine, "SET fjq.implied_joins = false").await;
    for (question, _) in QUESTIONS {
        let ours = question.replace("{view}", "linked_people");
        let theirs = question.replace("{view}", DUCKDB_LINKED);
        let scans = people_scans(&physical_plan(&engine, &ours).await);
        let written = ours.matches("FROM people").count() + 1;
        assert_eq!(scans, written, "switched off: {ours}");
        let expected = duckdb_rows(common::calibration_dataset(), &theirs);
        assert_eq!(
            fjq_rows(&engine, &ours).await,
            expected,
            "switched off: {ours}"
        );
    }
}
