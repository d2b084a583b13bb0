//! Dynamic filters on columns that share a name (fjq_engine::filter_placement): a self-join of
//! `linkage` has two `source_person_id` columns, and a filter made for one must not land on the
//! other. Each question is asked with the court side written first (the plans where DataFusion
//! 55.2 moved the Cafcass people's filter onto the court persons' column), against DuckDB, with
//! the default engine and in 4 partitions of 100-row batches with every join partitioned.

use crate::common::{self, query};
use crate::differential::{assert_same, duckdb_rows, engine_in_small_batches, fjq_rows};
use fjq_engine::{Engine, EngineConfig};

/// Court persons linked to Cafcass subjects, the court side of the linkage written first.
const COURT_SIDE_FIRST: &str = "FROM linkage lf
    JOIN linkage lc ON lc.dataset = 'cafcass' AND lc.link_id = lf.link_id
    JOIN cafcass_people cp ON cp.cafcass_person_id = lc.source_person_id AND cp.role = 'subject'
    JOIN people p ON p.person_id = lf.source_person_id
    WHERE lf.dataset = 'family_court'";

async fn engines() -> Vec<(&'static str, Engine)> {
    let default = Engine::open(common::calibration_dataset(), EngineConfig::default())
        .await
        .expect("opens");
    let partitioned = engine_in_small_batches().await;
    for setting in [
        "SET datafusion.optimizer.hash_join_single_partition_threshold = 0",
        "SET datafusion.optimizer.hash_join_single_partition_threshold_rows = 0",
    ] {
        query(&partitioned, setting).await;
    }
    vec![("default", default), ("partitioned", partitioned)]
}

/// Every linked pair of records, by court role and Cafcass person: each row as DuckDB finds it.
#[tokio::test]
async fn a_self_join_of_linkage_keeps_every_pair() {
    let data = common::calibration_dataset();
    let sql = format!(
        "SELECT p.role, lf.source_person_id, lc.source_person_id, count(*) {COURT_SIDE_FIRST} GROUP BY 1, 2, 3"
    );
    let theirs = duckdb_rows(data, &sql);
    for (name, engine) in engines().await {
        assert_same(name, &fjq_rows(&engine, &sql).await, &theirs);
    }
}

/// The linkage benchmark question over the same pairs: public law children, and those of them
/// linked to a Cafcass subject, by region.
#[tokio::test]
async fn a_left_join_to_the_court_side_first_pairs_matches_duckdb() {
    let data = common::calibration_dataset();
    let sql = format!(
        "SELECT c.region, count(DISTINCT p.person_id), count(DISTINCT l.person_id)
         FROM people p JOIN cases c USING (case_id)
         LEFT JOIN (SELECT lf.source_person_id AS person_id {COURT_SIDE_FIRST}) l ON l.person_id = p.person_id
         WHERE c.case_type = 'public_law' AND p.role = 'child' GROUP BY 1"
    );
    let theirs = duckdb_rows(data, &sql);
    assert!(theirs.len() >= 5, "{theirs:?}");
    for (name, engine) in engines().await {
        assert_eq!(fjq_rows(&engine, &sql).await, theirs, "{name}");
    }
}
