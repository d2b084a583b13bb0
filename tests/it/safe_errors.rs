//! Under the safe policy nothing a user sees carries a value from a row: errors that arise
//! while a query runs have their values taken out, and aggregates that would publish one
//! contributor's value (endpoints, anything but a count over an identifier) are refused before
//! the query runs. The same statements under the open policy show what the safe policy hides.

use crate::common::{query, small_dataset};
use datafusion::arrow::array::{Array, AsArray};
use fjq_engine::{Engine, EngineConfig, EngineError, ErrorKind, Policy};
use std::path::PathBuf;

fn releases(name: &str) -> PathBuf {
    let dir = crate::common::scratch(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

async fn open(policy: Policy, name: &str) -> Engine {
    Engine::open(
        small_dataset(),
        EngineConfig {
            policy,
            release_dir: Some(releases(name)),
            ..EngineConfig::default()
        },
    )
    .await
    .unwrap()
}

/// The statement's error, as the engine gives it to a front end.
async fn error_of(engine: &Engine, sql: &str) -> EngineError {
    let frame = match engine.sql(sql).await {
        Ok(frame) => frame,
        Err(e) => return e,
    };
    let plan = frame.logical_plan().clone();
    match frame.collect().await {
        Ok(_) => panic!("{sql} ran"),
        Err(e) => engine.explain_failure(Some(&plan), e),
    }
}

/// Every distinct value of a text column, read under the open policy.
async fn values_of(column: &str, table: &str) -> Vec<String> {
    let open = open(Policy::Open, "safe-errors-values").await;
    let batches = query(
        &open,
        &format!("SELECT DISTINCT {column} FROM {table} WHERE {column} IS NOT NULL"),
    )
    .await;
    let mut out = Vec::new();
    for b in &batches {
        let c = datafusion::arrow::compute::cast(
            b.column(0),
            &datafusion::arrow::datatypes::DataType::Utf8,
        )
        .unwrap();
        let c = c.as_string::<i32>();
        out.extend((0..c.len()).map(|i| c.value(i).to_string()));
    }
    assert!(!out.is_empty(), "{table}.{column} has values");
    out
}

#[tokio::test]
async fn a_cast_that_fails_on_a_value_does_not_print_it_under_safe() {
    let sql = "SELECT sum(CAST(residence_la AS INT)) AS s FROM people";
    let codes = values_of("residence_la", "people").await;

    // Open: DataFusion's message quotes the value it could not cast (the finding).
    let open = open(Policy::Open, "safe-errors-open").await;
    let shown = error_of(&open, sql).await.to_string();
    assert!(
        codes.iter().any(|c| shown.contains(c.as_str())),
        "the open policy keeps the full message: {shown}"
    );

    // Safe: what went wrong and on which type, no value.
    let safe = open_safe("safe-errors-cast").await;
    let e = error_of(&safe, sql).await;
    let message = e.to_string();
    assert!(matches!(e, EngineError::Redacted(_)), "{e:?}");
    assert!(
        message.contains("Cannot cast string") && message.contains("Int32"),
        "{message}"
    );
    assert!(
        message.contains("values from the data are not shown"),
        "{message}"
    );
    for code in &codes {
        assert!(!message.contains(code.as_str()), "{code} in {message}");
    }
}

async fn open_safe(name: &str) -> Engine {
    open(Policy::Safe, name).await
}

#[tokio::test]
async fn endpoints_and_aggregates_of_identifiers_are_refused_before_they_run() {
    let safe = open_safe("safe-errors-endpoints").await;
    let person_ids = values_of("person_id", "people").await;
    for (sql, reason) in [
        ("SELECT max(person_id) FROM people", "endpoint"),
        ("SELECT min(start_date) AS first FROM cases", "endpoint"),
        (
            "SELECT case_type, max(n_children) AS most FROM cases GROUP BY case_type",
            "endpoint",
        ),
        (
            "SELECT role, first_value(age_at_start) AS a FROM people GROUP BY role",
            "endpoint",
        ),
        (
            "SELECT sum(CAST(person_id AS INT)) AS s FROM people",
            "identifier",
        ),
        (
            "SELECT dataset, avg(link_id) AS a FROM linkage GROUP BY dataset",
            "identifier",
        ),
        // An identifier as the second key of an inner ROLLUP (keys expand, a grouping id
        // follows them).
        (
            "SELECT sum(CAST(k AS INT)) AS s FROM (SELECT role, person_id AS k, count(*) AS n \
             FROM people GROUP BY ROLLUP(role, person_id))",
            "identifier",
        ),
    ] {
        let e = error_of(&safe, sql).await;
        assert_eq!(e.kind(), ErrorKind::Refused, "{sql}: {e}");
        let message = e.to_string();
        assert!(message.contains(reason), "{sql}: {message}");
        for id in &person_ids {
            assert!(!message.contains(id.as_str()), "{sql}: {id} in {message}");
        }
    }
    // A count of identifiers is a statistic: still released.
    let counted = query(
        &safe,
        "SELECT role, count(DISTINCT person_id) AS persons FROM people GROUP BY role",
    )
    .await;
    assert!(counted.iter().map(|b| b.num_rows()).sum::<usize>() > 0);
    // Nothing was released for the refused ones: only the count's release is in the log.
    let log = std::fs::read_to_string(releases_dir(&safe).join("release-log.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 1, "{log}");
}

fn releases_dir(engine: &Engine) -> PathBuf {
    engine.release_dir().unwrap().to_path_buf()
}

#[tokio::test]
async fn endpoints_allowed_for_review_are_released_with_status_review() {
    let open = open(Policy::Open, "safe-errors-review").await;
    // Refused by default under the open policy's safe_table too.
    let refused = open
        .release("SELECT case_type, max(n_children) AS most FROM cases GROUP BY case_type")
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Refused, "{refused}");
    query(&open, "SET fjq.disclosure.endpoints = 'review'").await;
    let released = open
        .release("SELECT case_type, count(*) AS n, max(n_children) AS most FROM cases GROUP BY case_type")
        .await
        .unwrap();
    assert_eq!(released.status, "review");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&released.report).unwrap()).unwrap();
    let output = &report["results"]["output_0"];
    assert_eq!(output["status"], "review", "{output}");
    assert!(
        output["summary"]
            .as_str()
            .unwrap()
            .contains("max(cases.n_children)"),
        "{output}"
    );
    // The setting is recorded with the rules in the release log.
    let log = std::fs::read_to_string(releases_dir(&open).join("release-log.jsonl")).unwrap();
    assert!(log.contains("\"endpoints\":\"review\""), "{log}");
}

#[tokio::test]
async fn medians_are_released_where_their_cells_pass_and_flagged_in_the_report() {
    let safe = open_safe("safe-errors-median").await;
    let sql = "SELECT case_type, count(*) AS n, median(n_children) AS middle FROM cases GROUP BY case_type";
    let released = query(&safe, sql).await;
    assert!(!released.is_empty());
    // Which case types have fewer than 10 cases, from the open policy's count.
    let open = open(Policy::Open, "safe-errors-median-open").await;
    let counts = query(
        &open,
        "SELECT case_type, count(*) AS n FROM cases GROUP BY case_type",
    )
    .await;
    let mut small = std::collections::BTreeSet::new();
    for b in &counts {
        let types = b.column(0).as_string::<i32>();
        let n = b
            .column(1)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        for r in 0..b.num_rows() {
            if n.value(r) < 10 {
                small.insert(types.value(r).to_string());
            }
        }
    }
    // No median of a cell below the threshold is published; other rules may hide more (a
    // median of values all the same, e.g. financial remedy cases, which name no children).
    let mut published = 0;
    for b in &released {
        let types = b.column(0).as_string::<i32>();
        let middle = b.column(2);
        for r in 0..b.num_rows() {
            if small.contains(types.value(r)) {
                assert!(middle.is_null(r), "{}", types.value(r));
            }
            published += usize::from(!middle.is_null(r));
        }
    }
    assert!(
        !small.is_empty(),
        "the sample has a small case type to hide"
    );
    assert!(published > 0, "no median was published");
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(releases_dir(&safe).join("release-0001/results.json")).unwrap(),
    )
    .unwrap();
    let positions = &report["fjq"]["positions"];
    assert_eq!(positions.as_array().map(Vec::len), Some(1), "{report}");
    assert!(
        positions[0]["measure"].as_str().unwrap().contains("median"),
        "{positions}"
    );
    assert!(
        report["results"]["output_0"]["summary"]
            .as_str()
            .unwrap()
            .contains("publishes positions"),
        "{report}"
    );
}
