//! The engine refuses a data directory that does not match the contract, with a message that
//! names the table, the column, the expected and found types, and the file.

use crate::common::{self, copy_dataset};
use datafusion::arrow::array::{ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use fjq_engine::{Engine, EngineConfig};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn damaged_copy(name: &str) -> PathBuf {
    let dir = common::scratch(&format!("damaged-{name}"));
    copy_dataset(common::small_dataset(), &dir);
    dir
}

async fn open_error(dir: &Path) -> String {
    match Engine::open(dir, EngineConfig::default()).await {
        Ok(_) => panic!("{} should have been refused", dir.display()),
        Err(e) => e.to_string(),
    }
}

/// Rewrites a Parquet file with `change` applied to its (one) batch's columns.
fn rewrite(file: &Path, change: impl Fn(Vec<(Field, ArrayRef)>) -> Vec<(Field, ArrayRef)>) {
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(file).expect("open"))
        .expect("parquet")
        .build()
        .expect("reader");
    let batches: Vec<RecordBatch> = reader.map(|b| b.expect("batch")).collect();
    let batch =
        datafusion::arrow::compute::concat_batches(&batches[0].schema(), &batches).expect("concat");
    let columns: Vec<(Field, ArrayRef)> = batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, c)| (f.as_ref().clone(), c.clone()))
        .collect();
    let columns = change(columns);
    let schema = Arc::new(Schema::new(
        columns.iter().map(|(f, _)| f.clone()).collect::<Vec<_>>(),
    ));
    let batch = RecordBatch::try_new(
        schema.clone(),
        columns.into_iter().map(|(_, c)| c).collect(),
    )
    .expect("batch");
    let mut writer =
        ArrowWriter::try_new(File::create(file).expect("create"), schema, None).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
}

#[tokio::test]
async fn a_valid_dataset_opens() {
    let engine = Engine::open(common::small_dataset(), EngineConfig::default())
        .await
        .expect("opens");
    assert_eq!(engine.tables().len(), 9);
    let n = common::value(&engine, "SELECT count(*) FROM linked_people").await;
    assert!(n > 0.0, "the linked_people view finds linked pairs");
}

/// `DESCRIBE` gives each table's columns in the contract's types and nullability, though code
/// columns are read as string views inside queries (`fjq_engine::result_types`).
#[tokio::test]
async fn describe_shows_the_contracts_types() {
    let engine = Engine::open(common::small_dataset(), EngineConfig::default())
        .await
        .expect("opens");
    for spec in fjq_engine::contract::TABLES {
        let mut described = Vec::new();
        for batch in common::query(&engine, &format!("DESCRIBE {}", spec.name)).await {
            let texts = [0, 1, 2].map(|c| cast(batch.column(c), &DataType::Utf8).expect("text"));
            let [names, types, nullable] = [0, 1, 2].map(|c| texts[c].as_string::<i32>());
            for row in 0..batch.num_rows() {
                described.push(format!(
                    "{} {} {}",
                    names.value(row),
                    types.value(row),
                    nullable.value(row)
                ));
            }
        }
        let contract: Vec<String> = spec
            .schema()
            .fields()
            .iter()
            .map(|f| {
                let nullable = if f.is_nullable() { "YES" } else { "NO" };
                format!("{} {} {nullable}", f.name(), f.data_type())
            })
            .collect();
        assert_eq!(described, contract, "{}", spec.name);
    }
}

/// `\d VIEW` and docs/DATA.md describe each view's columns from the view's own list: it must
/// be the columns the view really gives, in order.
#[tokio::test]
async fn every_view_documents_exactly_its_columns() {
    let engine = Engine::open(common::small_dataset(), EngineConfig::default())
        .await
        .expect("opens");
    for view in fjq_engine::VIEWS {
        let frame = engine
            .sql(&format!("SELECT * FROM {} LIMIT 0", view.name))
            .await
            .expect("plans");
        let real: Vec<String> = frame
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let documented: Vec<String> = view.columns.iter().map(|(c, _)| c.to_string()).collect();
        assert_eq!(real, documented, "{}", view.name);
    }
}

#[tokio::test]
async fn a_missing_table_is_named() {
    let dir = damaged_copy("missing-table");
    std::fs::remove_dir_all(dir.join("events")).expect("remove");
    let message = open_error(&dir).await;
    assert!(message.contains("table `events` is missing"), "{message}");
    assert!(
        message.contains(&dir.join("events").display().to_string()),
        "{message}"
    );
}

#[tokio::test]
async fn a_missing_column_is_named_with_its_file() {
    let dir = damaged_copy("missing-column");
    let file = dir.join("people/part-00000.parquet");
    rewrite(&file, |cols| {
        cols.into_iter()
            .filter(|(f, _)| f.name() != "birth_year")
            .collect()
    });
    let message = open_error(&dir).await;
    assert!(message.contains("table `people`"), "{message}");
    assert!(
        message.contains("column `birth_year` is missing"),
        "{message}"
    );
    assert!(message.contains("people/part-00000.parquet"), "{message}");
    assert!(message.contains("Int32"), "{message}");
}

#[tokio::test]
async fn a_wrong_type_is_named_with_expected_and_found() {
    let dir = damaged_copy("wrong-type");
    let file = dir.join("people/part-00000.parquet");
    rewrite(&file, |cols| {
        cols.into_iter()
            .map(|(f, c)| {
                if f.name() == "birth_year" {
                    (
                        Field::new("birth_year", DataType::Utf8, true),
                        cast(&c, &DataType::Utf8).expect("cast"),
                    )
                } else {
                    (f, c)
                }
            })
            .collect()
    });
    let message = open_error(&dir).await;
    assert!(message.contains("column `birth_year`"), "{message}");
    assert!(
        message.contains("has type Utf8, the contract expects Int32"),
        "{message}"
    );
    assert!(message.contains("people/part-00000.parquet"), "{message}");
}

#[tokio::test]
async fn a_string_column_in_another_arrow_encoding_is_accepted() {
    // A real extract written by another tool may use large or view strings.
    let dir = damaged_copy("large-strings");
    let file = dir.join("cases/part-00000.parquet");
    rewrite(&file, |cols| {
        cols.into_iter()
            .map(|(f, c)| {
                if f.name() == "region" {
                    (
                        Field::new("region", DataType::LargeUtf8, false),
                        cast(&c, &DataType::LargeUtf8).expect("cast"),
                    )
                } else {
                    (f, c)
                }
            })
            .collect()
    });
    let engine = Engine::open(&dir, EngineConfig::default())
        .await
        .expect("large strings are accepted");
    let wales = common::value(&engine, "SELECT count(*) FROM cases WHERE region = 'Wales'").await;
    assert!(wales > 0.0);
}

#[tokio::test]
async fn a_corrupt_parquet_file_is_named() {
    let dir = damaged_copy("corrupt");
    let file = dir.join("cases/part-00000.parquet");
    let bytes = std::fs::read(&file).expect("read");
    std::fs::write(&file, &bytes[..bytes.len() / 2]).expect("truncate");
    let message = open_error(&dir).await;
    assert!(message.contains("table `cases`"), "{message}");
    assert!(
        message.contains("cases/part-00000.parquet is not a readable Parquet file"),
        "{message}"
    );
}

#[tokio::test]
async fn a_table_folder_without_parquet_files_is_named() {
    let dir = damaged_copy("empty-table");
    for f in std::fs::read_dir(dir.join("persons")).expect("dir") {
        std::fs::remove_file(f.expect("entry").path()).expect("remove");
    }
    let message = open_error(&dir).await;
    assert!(
        message.contains("table `persons` has no Parquet files"),
        "{message}"
    );
}

#[tokio::test]
async fn a_missing_or_invalid_dataset_json_is_named() {
    let dir = damaged_copy("no-json");
    std::fs::remove_file(dir.join("dataset.json")).expect("remove");
    let message = open_error(&dir).await;
    assert!(message.contains("dataset.json is missing"), "{message}");

    std::fs::write(dir.join("dataset.json"), "{\"dataset\": \"x\", \"coverage\": {\"family_court\": {\"from\": \"2011-01-01\", \"to\": \"31/01/2021\"}, \"cafcass\": {\"from\": \"2007-04-01\", \"to\": \"2021-12-01\"}}}")
        .expect("write");
    let message = open_error(&dir).await;
    assert!(
        message.contains("coverage.family_court.to is \"31/01/2021\""),
        "{message}"
    );
}

#[tokio::test]
async fn a_missing_data_directory_is_named() {
    let message = open_error(Path::new("/nonexistent/fjq-data")).await;
    assert_eq!(
        message,
        "data directory /nonexistent/fjq-data does not exist"
    );
}

#[tokio::test]
async fn a_query_over_the_memory_limit_spills_to_the_spill_directory_and_completes() {
    let spill = common::scratch("spill");
    let _ = std::fs::remove_dir_all(&spill);
    std::fs::create_dir_all(&spill).expect("spill dir");
    let config = EngineConfig {
        memory_limit: Some(32 << 20),
        spill_dir: Some(spill.clone()),
        ..EngineConfig::default()
    };
    let engine = Engine::open(common::calibration_dataset(), config)
        .await
        .expect("opens");
    let events = common::value(&engine, "SELECT count(*) FROM events").await;
    // A full sort of every event (more than the 32 MB limit; DataFusion also reserves 10 MB per
    // sort for merging) must spill, not fail, and return every row in order.
    let sort = "SELECT event_code, case_id FROM events ORDER BY event_code, case_id DESC, event_id";
    let batches = common::query(&engine, sort).await;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows as f64, events);
    let codes: Vec<String> = batches
        .iter()
        .flat_map(|b| {
            let c = b.column(0).as_string::<i32>();
            (0..b.num_rows())
                .map(move |i| c.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        codes.windows(2).all(|w| w[0] <= w[1]),
        "the sorted result is in order"
    );
    let plan = common::query(&engine, &format!("EXPLAIN ANALYZE {sort}")).await;
    let text = plan[0].column(1).as_string::<i32>().value(0).to_string();
    let spills: u64 = text
        .split("spill_count=")
        .skip(1)
        .filter_map(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert!(
        spills > 0,
        "the sort should have spilled under 32 MB:\n{text}"
    );
    drop(engine);
    let left: Vec<_> = common::files_under(&spill);
    assert!(left.is_empty(), "spill files left behind: {left:?}");

    let missing = EngineConfig {
        spill_dir: Some(PathBuf::from("/nonexistent/spill")),
        ..EngineConfig::default()
    };
    match Engine::open(common::small_dataset(), missing).await {
        Ok(_) => panic!("a missing spill directory should be refused"),
        Err(e) => assert_eq!(
            e.to_string(),
            "invalid setting: spill directory /nonexistent/spill does not exist"
        ),
    }
}

/// A query over the limit fails, and its aborted tasks free what they held only when the
/// runtime next reaches them: the next statement must not start while they still hold it (on
/// a busy machine it failed for want of memory the failed query had not yet given back).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_query_has_given_back_its_memory_when_the_next_statement_starts() {
    let config = EngineConfig {
        memory_limit: Some(16 << 20),
        ..EngineConfig::default()
    };
    let engine = Engine::open(common::calibration_dataset(), config)
        .await
        .expect("opens");
    let pool = Arc::clone(&engine.context().runtime_env().memory_pool);
    for attempt in 1..=3 {
        let over = engine
            .sql("SELECT a.*, b.* FROM events a JOIN events b ON a.event_id = b.event_id")
            .await
            .expect("plans")
            .collect()
            .await;
        match over {
            Ok(_) => panic!("a self-join of every event should not fit in 16 MB"),
            Err(e) => assert!(
                matches!(
                    e.find_root(),
                    datafusion::error::DataFusionError::ResourcesExhausted(_)
                ),
                "the failure should be the memory limit: {e}"
            ),
        }
        let next = engine
            .parse("SELECT count(*) FROM cases")
            .expect("parses")
            .remove(0);
        engine.plan(next).await.expect("plans");
        assert_eq!(
            pool.reserved(),
            0,
            "attempt {attempt}: the failed query still held memory when the next was planned"
        );
    }
}

#[tokio::test]
async fn export_writes_every_format_by_extension_and_refuses_an_unknown_one() {
    let engine = Engine::open(common::small_dataset(), EngineConfig::default())
        .await
        .expect("opens");
    let sql = "SELECT case_id, case_type, start_date, n_children FROM cases ORDER BY case_id";
    let expected = common::value(&engine, "SELECT count(*) FROM cases").await as u64;
    let dir = common::scratch("export");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");

    let parquet = dir.join("cases.parquet");
    assert_eq!(
        engine.export(sql, &parquet).await.expect("parquet"),
        expected
    );
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&parquet).expect("open"))
        .expect("parquet")
        .build()
        .expect("reader");
    let rows: usize = reader.map(|b| b.expect("batch").num_rows()).sum();
    assert_eq!(rows as u64, expected);

    let csv = dir.join("cases.csv");
    assert_eq!(engine.export(sql, &csv).await.expect("csv"), expected);
    let text = std::fs::read_to_string(&csv).expect("read");
    assert_eq!(
        text.lines().next(),
        Some("case_id,case_type,start_date,n_children")
    );
    assert_eq!(text.lines().count() as u64, expected + 1);

    let json = dir.join("cases.json");
    engine.export(sql, &json).await.expect("json");
    let parsed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("read")).expect("valid JSON");
    assert_eq!(parsed.as_array().expect("array").len() as u64, expected);

    let ndjson = dir.join("cases.ndjson");
    engine.export(sql, &ndjson).await.expect("ndjson");
    assert_eq!(
        std::fs::read_to_string(&ndjson)
            .expect("read")
            .lines()
            .count() as u64,
        expected
    );

    let bad = dir.join("cases.xlsx");
    let message = engine
        .export(sql, &bad)
        .await
        .expect_err("unknown extension")
        .to_string();
    assert!(
        message.contains("cannot tell the format of") && message.contains(".parquet, .csv"),
        "{message}"
    );
    assert!(!bad.exists());

    // A query that fails part-way leaves no half-written file behind.
    let failing = dir.join("failing.csv");
    let result = engine
        .export("SELECT CAST(case_id AS INT) FROM cases", &failing)
        .await;
    assert!(result.is_err());
    assert!(!failing.exists(), "the partial export is removed");
}

/// The error a query meets, at planning (a changed file is checked again before it is read) or
/// while running (explained by the engine).
async fn run_error(engine: &Engine, sql: &str) -> String {
    let df = match engine.sql(sql).await {
        Ok(df) => df,
        Err(e) => return e.to_string(),
    };
    let plan = df.logical_plan().clone();
    match df.collect().await {
        Ok(_) => panic!("{sql} should have failed"),
        Err(e) => engine.explain_failure(Some(&plan), e).to_string(),
    }
}

/// Files damaged after the dataset was opened (a disk error, another process writing): the
/// query that reads one fails naming the table and the file, and the other tables still answer.
#[tokio::test]
async fn files_damaged_after_opening_are_named_and_the_rest_still_answers() {
    let dir = damaged_copy("after-open");
    let engine = Engine::open(&dir, EngineConfig::default()).await.unwrap();
    let cases_before = common::value(&engine, "SELECT count(*) FROM cases").await;

    // Data pages scrambled, footer intact: only decoding finds it.
    let events = dir.join("events/part-00000.parquet");
    let mut bytes = std::fs::read(&events).unwrap();
    let n = bytes.len();
    for b in &mut bytes[n / 4..n / 2] {
        *b = b.wrapping_mul(7).wrapping_add(13);
    }
    std::fs::write(&events, &bytes).unwrap();
    let all_columns = "SELECT count(*), sum(length(case_id)), sum(length(event_id)), min(event_date), \
                       sum(length(hearing_type)), sum(length(disposal_type)) FROM events";
    let e = run_error(&engine, all_columns).await;
    assert!(
        e.contains("table `events`") && e.contains("events/part-00000.parquet"),
        "{e}"
    );

    // Truncated.
    let people = dir.join("people/part-00000.parquet");
    let bytes = std::fs::read(&people).unwrap();
    std::fs::write(&people, &bytes[..bytes.len() / 3]).unwrap();
    let e = run_error(&engine, "SELECT count(*), sum(age_at_start) FROM people").await;
    assert!(
        e.contains("table `people`") && e.contains("people/part-00000.parquet"),
        "{e}"
    );

    // Replaced by a file whose column changed type (schema drift).
    let persons = dir.join("persons/part-00000.parquet");
    rewrite(&persons, |columns| {
        columns
            .into_iter()
            .map(|(f, c)| {
                if f.data_type() == &DataType::Date32 {
                    let c = cast(&c, &DataType::Utf8).unwrap();
                    (Field::new(f.name(), DataType::Utf8, true), c)
                } else {
                    (f, c)
                }
            })
            .collect()
    });
    let e = run_error(&engine, "SELECT * FROM persons").await;
    assert!(e.contains("persons/part-00000.parquet"), "{e}");
    assert!(e.contains("the contract expects Date32"), "{e}");

    // The undamaged tables still answer, the same as before.
    assert_eq!(
        common::value(&engine, "SELECT count(*) FROM cases").await,
        cases_before
    );
}

/// A table with no rows (a valid file holding only the schema) opens and counts zero.
#[tokio::test]
async fn an_empty_table_opens_and_counts_zero() {
    let dir = damaged_copy("no-rows");
    rewrite(&dir.join("case_links/part-00000.parquet"), |columns| {
        columns
            .into_iter()
            .map(|(f, c)| (f, c.slice(0, 0)))
            .collect()
    });
    let engine = Engine::open(&dir, EngineConfig::default()).await.unwrap();
    assert_eq!(
        common::value(&engine, "SELECT count(*) FROM case_links").await,
        0.0
    );
    let joined = common::value(
        &engine,
        "SELECT count(*) FROM cases c JOIN case_links l ON l.case_id = c.case_id",
    )
    .await;
    assert_eq!(joined, 0.0);
}

/// Regression: every column of a join of two tables once failed inside DataFusion's join
/// reordering ("Schema metadata mismatch"), because each table's schema carried its description.
#[tokio::test]
async fn a_join_selecting_every_column_of_both_tables_runs() {
    let engine = Engine::open(common::small_dataset(), EngineConfig::default())
        .await
        .unwrap();
    for sql in [
        "SELECT * FROM events e JOIN people p ON e.case_id = p.case_id LIMIT 5",
        "SELECT e.*, p.* FROM events e JOIN people p USING (case_id) ORDER BY p.person_id LIMIT 5",
    ] {
        let batches = common::query(&engine, sql).await;
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, 5, "{sql}");
        let events = fjq_engine::contract::TABLES
            .iter()
            .find(|t| t.name == "events")
            .unwrap();
        let people = fjq_engine::contract::TABLES
            .iter()
            .find(|t| t.name == "people")
            .unwrap();
        assert_eq!(
            batches[0].num_columns(),
            events.columns.len() + people.columns.len(),
            "{sql}"
        );
    }
}
