//! Safe outputs end to end (design/DISCLOSURE.md): person counting through the plan, the worked
//! example released with its margins, differencing against the release log, the safe policy's
//! refusals, and the output checker's report. The rules at their boundaries and the suppression
//! patterns are worked by hand in `udfs` (disclosure::rules and disclosure::secondary).

use crate::common::{query, small_dataset};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::arrow::util::display::array_value_to_string;
use fjq_engine::{Engine, EngineConfig, Policy};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn fresh(name: &str) -> PathBuf {
    let dir = crate::common::scratch(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn engine(policy: Policy, releases: &Path) -> Engine {
    Engine::open(
        small_dataset(),
        EngineConfig {
            policy,
            release_dir: Some(releases.to_path_buf()),
            ..EngineConfig::default()
        },
    )
    .await
    .unwrap()
}

/// DISCLOSURE.md's worked example as rows: regions A, B, C by outcomes X, Y with 25, 3 / 12, 15 /
/// 0, 20 rows (no person column, so rows are the contributors).
const OUTCOMES: &str = "CREATE TABLE outcomes AS \
    SELECT region, outcome FROM (VALUES ('A', 'X', 25), ('A', 'Y', 3), ('B', 'X', 12), ('B', 'Y', 15), ('C', 'Y', 20)) AS t(region, outcome, n) \
    CROSS JOIN (SELECT unnest(range(1, 31)) AS i) g WHERE g.i <= t.n";

/// Result rows as text, keyed by their first columns.
fn rows(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            out.push(
                b.columns()
                    .iter()
                    .map(|c| {
                        if c.is_null(r) {
                            "NULL".to_string()
                        } else {
                            array_value_to_string(c, r).unwrap()
                        }
                    })
                    .collect(),
            );
        }
    }
    out.sort();
    out
}

fn report(release_dir: &Path, id: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(release_dir.join(id).join("results.json")).unwrap();
    serde_json::from_str(&text).expect("results.json is valid JSON")
}

#[tokio::test]
async fn a_cell_of_twelve_rows_about_three_children_counts_three() {
    let releases = fresh("disclosure-persons");
    let engine = engine(Policy::Open, &releases).await;
    // A case with exactly three children and at least four events: its events joined to its
    // children give 3 x events rows, at least 12, from 3 persons.
    let found = query(
        &engine,
        "SELECT p.case_id, count(*) AS events FROM people p JOIN events e ON e.case_id = p.case_id \
         WHERE p.role = 'child' AND p.case_id IN ( \
           SELECT case_id FROM people WHERE role = 'child' GROUP BY case_id HAVING count(DISTINCT person_id) = 3) \
         GROUP BY p.case_id HAVING count(*) >= 12 ORDER BY p.case_id LIMIT 1",
    )
    .await;
    let case_id = array_value_to_string(found[0].column(0), 0).unwrap();
    let rows_in_cell = found[0].column(1).as_primitive::<Int64Type>().value(0);
    assert!(rows_in_cell >= 12);

    let sql = format!(
        "SELECT p.case_id, count(*) AS event_rows FROM events e JOIN people p ON p.case_id = e.case_id \
         WHERE p.role = 'child' AND p.case_id = '{case_id}' GROUP BY p.case_id"
    );
    let release = engine.release(&sql).await.unwrap();
    let published = rows(&release.batches);
    // Counting rows (as ACRO does) the cell would pass at 10; counting children it is 3.
    assert_eq!(published, vec![vec![case_id.clone(), "NULL".to_string()]]);
    assert_eq!(release.primary, 1);
    let report = report(&releases, &release.id);
    let audit = &report["fjq"]["audit"][0];
    assert_eq!(audit["rules"][0]["rule"], "threshold");
    assert_eq!(audit["rules"][0]["detail"], "3 persons, below 10");
    assert_eq!(report["fjq"]["person_columns"][0], "people.person_id");
}

#[tokio::test]
async fn the_worked_example_is_released_with_its_interior_hidden() {
    let releases = fresh("disclosure-worked");
    let engine = engine(Policy::Open, &releases).await;
    query(&engine, OUTCOMES).await;
    let release = engine
        .release(
            "SELECT region, outcome, count(*) AS n FROM outcomes GROUP BY CUBE(region, outcome) ORDER BY region, outcome",
        )
        .await
        .unwrap();
    // By hand (udfs disclosure::secondary): A-Y and C-X fail, and the cheapest pattern that
    // protects both hides the whole interior; margins stay, rounded to 5 with ties up.
    let expected: Vec<Vec<&str>> = vec![
        vec!["A", "NULL", "30"],
        vec!["A", "X", "NULL"],
        vec!["A", "Y", "NULL"],
        vec!["B", "NULL", "25"],
        vec!["B", "X", "NULL"],
        vec!["B", "Y", "NULL"],
        vec!["C", "NULL", "20"],
        vec!["C", "X", "NULL"],
        vec!["C", "Y", "NULL"],
        vec!["NULL", "NULL", "75"],
        vec!["NULL", "X", "35"],
        vec!["NULL", "Y", "40"],
    ];
    assert_eq!(rows(&release.batches), expected);
    assert_eq!((release.primary, release.secondary), (2, 4));
    // The audit's intervals, solved by hand from the five margins.
    let report = report(&releases, &release.id);
    let intervals: BTreeMap<String, (f64, f64)> = report["fjq"]["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["cell"].as_str().unwrap().to_string(),
                (
                    (a["low"].as_f64().unwrap() * 1e6).round() / 1e6,
                    (a["high"].as_f64().unwrap() * 1e6).round() / 1e6,
                ),
            )
        })
        .collect();
    assert_eq!(intervals["region=A, outcome=Y"], (0.0, 28.0));
    assert_eq!(intervals["region=C, outcome=X"], (0.0, 20.0));
    assert_eq!(intervals["region=A, outcome=X"], (0.0, 28.0));
    assert_eq!(intervals["region=B, outcome=X"], (0.0, 27.0));
    assert_eq!(intervals["region=B, outcome=Y"], (0.0, 27.0));
    assert_eq!(intervals["region=C, outcome=Y"], (0.0, 20.0));
}

#[tokio::test]
async fn a_two_way_table_that_an_earlier_one_way_table_would_undo_is_refused() {
    let releases = fresh("disclosure-differencing");
    let engine = engine(Policy::Open, &releases).await;
    query(&engine, OUTCOMES).await;
    // Cases by region: 28, 27, 20, all publishable.
    let first = engine
        .release("SELECT region, count(*) AS n FROM outcomes GROUP BY region")
        .await
        .unwrap();
    assert_eq!(first.id, "release-0001");
    assert_eq!(first.primary + first.secondary, 0);
    // Region by outcome, without margins: only A-Y (3) and C-X (0) would be hidden, and
    // A-Y = 28 - 25 from the first release.
    let e = engine
        .release("SELECT region, outcome, count(*) AS n FROM outcomes GROUP BY region, outcome")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("release-0001"), "{e}");
    assert!(e.contains("region=A, outcome=Y"), "{e}");
    // Nothing of the refused table was written.
    assert!(!releases.join("release-0002").exists());
    let log = std::fs::read_to_string(releases.join("release-log.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 1);
    // The same breakdown with its margins hides enough to be safe with the first release too.
    let second = engine
        .release(
            "SELECT region, outcome, count(*) AS n FROM outcomes GROUP BY CUBE(region, outcome)",
        )
        .await
        .unwrap();
    assert_eq!(second.id, "release-0002");
}

#[tokio::test]
async fn the_safe_policy_refuses_row_level_results_and_file_access() {
    let releases = fresh("disclosure-policy");
    let outside = fresh("disclosure-policy-outside");
    let engine = engine(Policy::Safe, &releases).await;
    let refused = |sql: &'static str| {
        let engine = &engine;
        async move {
            match engine.sql(sql).await {
                Ok(df) => match df.collect().await {
                    Ok(_) => panic!("{sql} was not refused"),
                    Err(e) => e.to_string(),
                },
                Err(e) => e.to_string(),
            }
        }
    };
    let e = refused("SELECT * FROM people").await;
    assert!(
        e.contains("row-level results are refused under the safe policy"),
        "{e}"
    );
    assert!(e.contains("`people`"), "{e}");
    let copy = format!(
        "COPY (SELECT count(*) FROM cases) TO '{}/cases.csv'",
        outside.display()
    );
    let e = refused(Box::leak(copy.into_boxed_str())).await;
    assert!(e.contains("refused under the safe policy"), "{e}");
    let create = format!(
        "CREATE EXTERNAL TABLE stolen STORED AS PARQUET LOCATION '{}/people'",
        small_dataset().display()
    );
    let e = refused(Box::leak(create.into_boxed_str())).await;
    assert!(e.contains("refused under the safe policy"), "{e}");
    let e = refused("SET fjq.disclosure.threshold = 1").await;
    assert!(e.contains("refused under the safe policy"), "{e}");
    let e = refused("SELECT * FROM '/etc/passwd'").await;
    assert!(!e.is_empty());
    // An aggregate is released through disclosure control, into the release directory only.
    let batches = query(
        &engine,
        "SELECT case_type, count(*) AS cases FROM cases GROUP BY case_type",
    )
    .await;
    assert!(batches.iter().map(|b| b.num_rows()).sum::<usize>() > 0);
    assert!(releases.join("release-0001").join("output_0.csv").exists());
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    // safe_table is the same release, by name.
    query(
        &engine,
        "SELECT * FROM safe_table('SELECT sex, count(*) AS people FROM people GROUP BY sex')",
    )
    .await;
    assert!(releases.join("release-0002").exists());
}

#[tokio::test]
async fn the_report_has_acros_structure_and_its_checksums_match() {
    use sha2::{Digest, Sha256};
    let releases = fresh("disclosure-report");
    let engine = engine(Policy::Open, &releases).await;
    let release = engine
        .release(
            "SELECT c.dfj_area, c.case_type, count(DISTINCT p.person_id) AS people \
             FROM cases c JOIN people p USING (case_id) GROUP BY ROLLUP(c.dfj_area, c.case_type)",
        )
        .await
        .unwrap();
    let report = report(&releases, &release.id);
    let top: Vec<&str> = report
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert!(
        top.contains(&"version") && top.contains(&"results"),
        "{top:?}"
    );
    let output = &report["results"]["output_0"];
    for key in [
        "uid",
        "status",
        "type",
        "properties",
        "files",
        "outcome",
        "command",
        "summary",
        "timestamp",
        "comments",
        "exception",
    ] {
        assert!(output.get(key).is_some(), "results.output_0.{key} missing");
    }
    assert!(["pass", "review", "fail"].contains(&output["status"].as_str().unwrap()));
    let sdc = &output["files"][0]["sdc"];
    for rule in [
        "threshold",
        "p-ratio",
        "nk-rule",
        "all-values-are-same",
        "negative",
    ] {
        assert!(sdc["summary"][rule].is_number(), "{rule}");
        assert!(sdc["cells"][rule].is_array(), "{rule}");
    }
    for (name, hash) in report["fjq"]["checksums"].as_object().unwrap() {
        let bytes = std::fs::read(release.dir.join(name)).unwrap();
        let actual: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hash.as_str().unwrap(), actual, "{name}");
        let file =
            std::fs::read_to_string(release.dir.join("checksums").join(format!("{name}.txt")))
                .unwrap();
        assert_eq!(file, actual);
    }
    // Every suppressed cell was audited; no primary's interval is a point.
    for a in report["fjq"]["audit"].as_array().unwrap() {
        if a["role"] == "primary" {
            let (low, high) = (a["low"].as_f64().unwrap_or(0.0), a["high"].as_f64());
            assert!(high.is_none_or(|h| h > low), "{a}");
        }
    }
}

#[tokio::test]
async fn a_tampered_release_log_is_detected() {
    let releases = fresh("disclosure-tamper");
    let engine = engine(Policy::Open, &releases).await;
    query(&engine, OUTCOMES).await;
    engine
        .release("SELECT region, count(*) AS n FROM outcomes GROUP BY region")
        .await
        .unwrap();
    let path = releases.join("release-log.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("\"values\":[28.0]", "\"values\":[29.0]"),
    )
    .unwrap();
    let e = engine
        .release("SELECT outcome, count(*) AS n FROM outcomes GROUP BY outcome")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("hash chain breaks at line 1"), "{e}");
}

/// Regression: the complement search once kept choosing cubes whose zero corners could not
/// move, and refused a plain ROLLUP of cases by area and type.
#[tokio::test]
async fn a_rollup_of_cases_by_area_and_type_is_released_with_every_small_cell_protected() {
    let releases = fresh("disclosure-rollup");
    let engine = engine(Policy::Open, &releases).await;
    let release = engine
        .release("SELECT dfj_area, case_type, count(*) AS cases FROM cases GROUP BY ROLLUP(dfj_area, case_type)")
        .await
        .unwrap();
    assert!(
        release.primary > 0 && release.secondary > 0,
        "{}",
        release.summary()
    );
    let report = report(&releases, &release.id);
    assert_eq!(report["fjq"]["audit_method"], "linear programs (exact)");
    for a in report["fjq"]["audit"].as_array().unwrap() {
        if a["role"] == "primary" {
            let low = a["low"].as_f64().unwrap();
            let high = a["high"].as_f64().unwrap_or(f64::INFINITY);
            assert!(high > low, "{a}");
        }
    }
}

/// Ways round the safe policy a researcher might try; each must be refused, and nothing may be
/// written anywhere.
/// What a statement came to: Ok, or the engine's error as a front end gets it.
async fn outcome(engine: &Engine, sql: &str) -> Result<(), fjq_engine::EngineError> {
    let frame = engine.sql(sql).await?;
    let plan = frame.logical_plan().clone();
    frame
        .collect()
        .await
        .map(|_| ())
        .map_err(|e| engine.explain_failure(Some(&plan), e))
}

#[tokio::test]
async fn attempts_to_get_round_the_safe_policy_are_refused() {
    use fjq_engine::ErrorKind;
    let releases = fresh("disclosure-bypass");
    let engine = engine(Policy::Safe, &releases).await;
    let people = small_dataset().join("people");
    // The same statements under the open policy, on a copy of the data (they write to it) with
    // an output directory for COPY.
    let copy = crate::common::scratch("disclosure-bypass-open-data");
    crate::common::copy_dataset(small_dataset(), &copy);
    let output = fresh("disclosure-bypass-output");
    let open = Engine::open(
        &copy,
        EngineConfig {
            output_dir: Some(output.clone()),
            release_dir: Some(fresh("disclosure-bypass-open-releases")),
            ..EngineConfig::default()
        },
    )
    .await
    .unwrap();
    let copy_people = copy.join("people");
    let copy_to = output.join("fjq-bypass.csv");
    // Valid SQL that the open policy runs and the safe policy refuses.
    let refused_only_by_safe = [
        format!(
            "CREATE EXTERNAL TABLE p STORED AS PARQUET LOCATION '{}'",
            people.display()
        ),
        "SELECT max(person_id) FROM people".to_string(),
        "SELECT case_id, string_agg(person_id, ',') FROM people GROUP BY case_id".to_string(),
        "SELECT case_id, array_agg(age_at_start) FROM people GROUP BY case_id".to_string(),
        "SELECT (SELECT person_id FROM people LIMIT 1) AS who".to_string(),
        "WITH x AS (SELECT * FROM people) SELECT * FROM x".to_string(),
        "SELECT role, count(*) FROM people GROUP BY role LIMIT 1".to_string(),
        "SELECT role, count(*) OVER () FROM people".to_string(),
        "SET fjq.disclosure.threshold = 1".to_string(),
        "SET fjq.disclosure.rounding_base = 1".to_string(),
        "SET datafusion.execution.target_partitions = 1".to_string(),
        "RESET datafusion.execution.batch_size".to_string(),
        "CREATE VIEW v AS SELECT * FROM people".to_string(),
        "CREATE TABLE t AS SELECT * FROM people".to_string(),
        "INSERT INTO people SELECT * FROM people LIMIT 1".to_string(),
        "DROP VIEW linked_people".to_string(),
        "PREPARE q AS SELECT * FROM people WHERE person_id = $1".to_string(),
        format!(
            "COPY (SELECT role, count(*) FROM people GROUP BY role) TO '{}'",
            copy_to.display()
        ),
    ];
    for sql in &refused_only_by_safe {
        let e = outcome(&engine, sql)
            .await
            .expect_err(&format!("not refused: {sql}"));
        assert_eq!(e.kind(), ErrorKind::Refused, "{sql}: {e}");
        let open_sql = sql.replace(people.to_str().unwrap(), copy_people.to_str().unwrap());
        outcome(&open, &open_sql)
            .await
            .unwrap_or_else(|e| panic!("the open policy should run {open_sql}: {e}"));
    }
    assert!(
        copy_to.exists(),
        "COPY under the open policy wrote its file"
    );
    // What safe_table itself refuses, under either policy: rows, statements, filtered groups.
    let refused_by_safe_table = [
        "SELECT * FROM safe_table('SELECT * FROM people')",
        "SELECT * FROM safe_table('COPY people TO ''/tmp/x.csv''')",
        "SELECT * FROM safe_table('SELECT person_id, count(*) FROM people GROUP BY person_id HAVING count(*) < 3')",
    ];
    for sql in refused_by_safe_table {
        for (policy, engine) in [("safe", &engine), ("open", &open)] {
            let e = outcome(engine, sql)
                .await
                .expect_err(&format!("not refused under {policy}: {sql}"));
            assert!(
                e.kind() == ErrorKind::Refused || e.to_string().contains("safe_table"),
                "{policy}: {sql}: {e}"
            );
        }
    }
    // Reading files by path is not SQL fjq knows under either policy: the same error both ways.
    for sql in [
        format!("SELECT * FROM '{}/part-00000.parquet'", people.display()),
        "SELECT * FROM '/etc/passwd'".to_string(),
    ] {
        let safe_error = outcome(&engine, &sql).await.unwrap_err();
        let open_error = outcome(&open, &sql).await.unwrap_err();
        assert_eq!(safe_error.kind(), ErrorKind::Invalid, "{sql}: {safe_error}");
        assert_eq!(safe_error.to_string(), open_error.to_string(), "{sql}");
    }
    // Nothing was released or written, and the settings are as they were.
    assert!(
        std::fs::read_dir(&releases).map_or(true, |mut d| d.next().is_none()),
        "a release appeared"
    );
    assert!(!Path::new("/tmp/fjq-bypass.csv").exists());
    assert!(!Path::new("/tmp/x.csv").exists());
    let threshold = query(
        &engine,
        "SELECT * FROM safe_table('SELECT role, count(*) AS n FROM people GROUP BY role')",
    )
    .await;
    assert!(!threshold.is_empty());
    let report = report(&releases, "release-0001");
    let text = report.to_string();
    assert!(text.contains("\"threshold\":10"), "{text}");
    eprintln!(
        "safe policy: {} bypass attempts refused",
        refused_only_by_safe.len() + refused_by_safe_table.len()
    );
}

/// A crash leaves a release half written: its files under a hidden name, its log line written
/// or not. The next release finishes a logged one and removes an unlogged one; a torn log line
/// stops every release until someone looks.
#[tokio::test]
async fn an_interrupted_release_leaves_nothing_unlogged_and_a_torn_log_stops_releases() {
    let releases = fresh("disclosure-interrupted");
    let engine = engine(Policy::Open, &releases).await;
    query(&engine, OUTCOMES).await;
    let by_region = "SELECT region, count(*) AS n FROM outcomes GROUP BY region";
    engine.release(by_region).await.unwrap();
    // Crashed after its log line: files still under the hidden name.
    std::fs::rename(
        releases.join("release-0001"),
        releases.join(".release-0001.partial"),
    )
    .unwrap();
    // Crashed before its log line: files never logged.
    let unlogged = releases.join(".release-0002.partial");
    std::fs::create_dir_all(&unlogged).unwrap();
    std::fs::write(unlogged.join("output_0.csv"), "region,n\nA,3\n").unwrap();

    let second = engine
        .release("SELECT outcome, count(*) AS n FROM outcomes GROUP BY outcome")
        .await
        .unwrap();
    assert_eq!(second.id, "release-0002");
    assert!(releases.join("release-0001/output_0.csv").exists());
    assert!(releases.join("release-0002/output_0.csv").exists());
    let names: Vec<String> = std::fs::read_dir(&releases)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert!(!names.iter().any(|n| n.ends_with(".partial")), "{names:?}");
    let written = std::fs::read_to_string(releases.join("release-0002/output_0.csv")).unwrap();
    assert!(
        !written.contains("A,3"),
        "the unlogged file survived: {written}"
    );

    // A log line torn by a crash mid-write.
    let log = releases.join("release-log.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    let last = text.lines().last().unwrap();
    std::fs::write(&log, format!("{text}{}", &last[..last.len() / 2])).unwrap();
    let e = engine.release(by_region).await.unwrap_err().to_string();
    assert!(e.contains("line 3") && e.contains("incomplete"), "{e}");
    assert!(!releases.join("release-0003").exists());
    assert!(!releases.join(".release-0003.partial").exists());
}

/// Differencing through filters: small queries each safe on its own, whose differences would
/// give away a small group. Worked by hand on the example's rows: region A has 25 X and 3 Y.
#[tokio::test]
async fn small_queries_whose_filters_differ_by_a_small_group_are_refused() {
    let releases = fresh("disclosure-filters");
    let engine = engine(Policy::Open, &releases).await;
    query(&engine, OUTCOMES).await;
    // 28 rows in A: published.
    engine
        .release("SELECT count(*) AS n FROM outcomes WHERE region = 'A'")
        .await
        .unwrap();
    // 25 of them with outcome X: safe alone, but 28 - 25 = 3 is the cell (A, Y).
    let e = engine
        .release("SELECT count(*) AS n FROM outcomes WHERE region = 'A' AND outcome = 'X'")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("release-0001")
            && e.contains("but for fewer rows than the threshold of 10 in the total"),
        "{e}"
    );
    // A filter that shares nothing small with the first: released (as release-0002).
    engine
        .release("SELECT count(*) AS n FROM outcomes WHERE region = 'B'")
        .await
        .unwrap();
    // B alone has 15 Y; B and A together 18: the difference is A's 3 Y again.
    engine
        .release("SELECT outcome, count(*) AS n FROM outcomes WHERE region = 'B' GROUP BY outcome")
        .await
        .unwrap();
    let e = engine
        .release("SELECT outcome, count(*) AS n FROM outcomes WHERE region IN ('A', 'B') GROUP BY outcome")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("release-0003")
            && e.contains("but for fewer rows than the threshold of 10 in outcome = Y"),
        "{e}"
    );
    // The refused tables left nothing behind.
    assert!(releases.join("release-0003").exists());
    assert!(!releases.join("release-0004").exists());
}
