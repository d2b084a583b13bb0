//! The generator: deterministic bytes, every contract column with its type, a layout made for
//! queries, consistent ground truth and the planted imperfections of the real data.

use crate::common::{self, open_with_truth, value};
use datafusion::arrow::array::{AsArray, RecordBatchReader};
use datafusion::arrow::datatypes::{DataType, Date32Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, Encoding};
use parquet::file::reader::{FileReader, SerializedFileReader};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

/// The data contract as design/DATA.md writes it, typed out by hand: the oracle for the
/// generator's schemas (not the contract module, which the generator itself uses).
const DATA_MD: &[(&str, &[(&str, DataType)])] = {
    use DataType::{Boolean as B, Date32 as D, Float64 as F, Int32 as I, Int64 as L, Utf8 as S};
    &[
        (
            "cases",
            &[
                ("case_id", S),
                ("case_type", S),
                ("court", S),
                ("dfj_area", S),
                ("region", S),
                ("start_date", D),
                ("first_hearing_date", D),
                ("first_disposal_date", D),
                ("final_order_date", D),
                ("closed_date", D),
                ("reopened", B),
                ("high_court", B),
                ("n_children", I),
                ("legal_representation", S),
                ("application_type", S),
                ("marriage_year", I),
            ],
        ),
        (
            "case_links",
            &[
                ("case_id", S),
                ("related_case_id", S),
                ("link_type", S),
                ("link_date", D),
            ],
        ),
        (
            "events",
            &[
                ("event_id", S),
                ("case_id", S),
                ("event_code", S),
                ("event_category", S),
                ("event_date", D),
                ("court", S),
                ("order_type", S),
                ("is_final", B),
                ("disposal_type", S),
                ("hearing_type", S),
                ("vacated", B),
                ("error", B),
            ],
        ),
        (
            "people",
            &[
                ("role_id", S),
                ("case_id", S),
                ("person_id", S),
                ("role", S),
                ("role_code", S),
                ("party_type", S),
                ("sex", S),
                ("birth_year", I),
                ("age_at_start", I),
                ("age_band", S),
                ("relationship_to_child", S),
                ("represented", B),
                ("residence_la", S),
                ("residence_region", S),
                ("imd_quintile", I),
            ],
        ),
        (
            "persons",
            &[
                ("person_id", S),
                ("sex", S),
                ("birth_year", I),
                ("first_seen", D),
                ("n_cases", I),
                ("xjs_id", S),
                ("match_probability", F),
            ],
        ),
        (
            "cafcass_cases",
            &[
                ("cafcass_case_id", S),
                ("nation", S),
                ("source_system", S),
                ("law_type", S),
                ("application_type", S),
                ("court_form", S),
                ("local_authority", S),
                ("dfj_area", S),
                ("received_date", D),
                ("closed_date", D),
                ("final_legal_outcome", S),
                ("harm_alleged", B),
                ("n_applications", I),
            ],
        ),
        (
            "cafcass_people",
            &[
                ("cafcass_person_id", S),
                ("cafcass_case_id", S),
                ("role", S),
                ("adult_or_child", S),
                ("gender", S),
                ("week_of_birth", D),
                ("age_at_application", I),
                ("ethnicity", S),
                ("disability", B),
                ("imd_quintile", I),
            ],
        ),
        (
            "cafcass_work",
            &[
                ("work_id", S),
                ("cafcass_case_id", S),
                ("cafcass_person_id", S),
                ("work_type", S),
                ("legal_output", S),
                ("start_date", D),
                ("end_date", D),
            ],
        ),
        (
            "linkage",
            &[
                ("dataset", S),
                ("source_person_id", S),
                ("link_id", L),
                ("match_status", I),
                ("match_probability", F),
            ],
        ),
    ]
};

fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    files.sort();
    files
}

fn all_files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(
                    path.strip_prefix(dir).expect("inside").to_path_buf(),
                    std::fs::read(&path).expect("read"),
                );
            }
        }
    }
    out
}

#[test]
fn the_same_seed_and_scale_give_byte_identical_files_whatever_the_thread_count() {
    let (a, b, c) = (
        common::scratch("det-a"),
        common::scratch("det-b"),
        common::scratch("det-c"),
    );
    for d in [&a, &b, &c] {
        let _ = std::fs::remove_dir_all(d);
    }
    common::generate(0.003, 7, &a, Some(1));
    common::generate(0.003, 7, &b, Some(2));
    common::generate(0.003, 8, &c, Some(2));
    let (fa, fb, fc) = (all_files(&a), all_files(&b), all_files(&c));
    assert!(
        fa.len() >= 14,
        "expected every table and truth table, got {:?}",
        fa.keys()
    );
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (path, bytes) in &fa {
        assert!(
            bytes == &fb[path],
            "{} differs between two runs with seed 7",
            path.display()
        );
    }
    let cases = PathBuf::from("cases/part-00000.parquet");
    assert_ne!(
        fa[&cases], fc[&cases],
        "seed 8 should give other cases than seed 7"
    );
}

#[test]
fn every_contract_column_is_written_with_its_type() {
    let dir = common::small_dataset();
    for (table, columns) in DATA_MD {
        let files = parquet_files(&dir.join(table));
        assert!(!files.is_empty(), "no files for {table}");
        for file in files {
            let builder =
                ParquetRecordBatchReaderBuilder::try_new(File::open(&file).expect("open"))
                    .expect("parquet");
            let schema = builder.schema();
            for (name, data_type) in *columns {
                let field = schema
                    .field_with_name(name)
                    .unwrap_or_else(|_| panic!("{table}.{name} missing from {}", file.display()));
                assert_eq!(
                    field.data_type(),
                    data_type,
                    "{table}.{name} in {}",
                    file.display()
                );
            }
            assert_eq!(
                schema.fields().len(),
                columns.len(),
                "{table} has columns DATA.md does not list"
            );
        }
    }
}

#[tokio::test]
async fn the_engine_exposes_every_contract_column_and_its_description() {
    let engine = open_with_truth(common::small_dataset()).await;
    for (table, columns) in DATA_MD {
        let n = value(
            &engine,
            &format!("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public' AND table_name = '{table}'"),
        )
        .await;
        assert_eq!(n as usize, columns.len(), "{table}");
    }
    // Descriptions travel with the table definition (SHOW CREATE TABLE, information_schema.views).
    let batches = common::query(&engine, "SHOW CREATE TABLE people").await;
    let text = batches[0].column(3).as_string::<i32>().value(0).to_string();
    assert!(
        text.contains("person_id VARCHAR, -- De-duplicated person identifier"),
        "{text}"
    );
    // The coverage windows are session settings.
    let end = common::query(
        &engine,
        "SELECT value FROM information_schema.df_settings WHERE name = 'fjq.court_coverage_end'",
    )
    .await;
    let end = end[0].column(0).as_string::<i32>().value(0).to_string();
    assert_eq!(end, "2021-01-31");
}

#[tokio::test]
async fn dataset_json_gives_coverage_seed_scale_and_true_row_counts() {
    let dir = common::small_dataset();
    let info: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("dataset.json")).expect("dataset.json"),
    )
    .expect("json");
    assert_eq!(info["coverage"]["family_court"]["from"], "2011-01-01");
    assert_eq!(info["coverage"]["family_court"]["to"], "2021-01-31");
    assert_eq!(info["coverage"]["cafcass"]["from"], "2007-04-01");
    assert_eq!(info["coverage"]["cafcass"]["to"], "2021-12-01");
    assert_eq!(info["generator"]["seed"], 42);
    assert_eq!(info["generator"]["scale"], 0.002);
    let engine = open_with_truth(dir).await;
    for (table, _) in DATA_MD {
        let rows = value(&engine, &format!("SELECT count(*) FROM {table}")).await;
        assert!(rows > 0.0, "{table} is empty");
        assert_eq!(
            info["tables"][table]["rows"].as_f64(),
            Some(rows),
            "{table}"
        );
    }
}

#[test]
fn files_are_sorted_compressed_and_indexed_for_queries() {
    let dir = common::calibration_dataset();
    let file = dir.join("events/part-00000.parquet");
    let reader = SerializedFileReader::new(File::open(&file).expect("open")).expect("parquet");
    let meta = reader.metadata();
    assert!(
        meta.num_row_groups() >= 2,
        "events should have several row groups for pruning"
    );
    let row_group = meta.row_group(0);
    let schema = reader.metadata().file_metadata().schema_descr();
    for (i, column) in row_group.columns().iter().enumerate() {
        let name = schema.column(i).name().to_string();
        assert!(
            matches!(column.compression(), Compression::ZSTD(_)),
            "{name} is not zstd"
        );
        assert!(column.statistics().is_some(), "{name} has no statistics");
        let dictionary = column.encodings().any(|e| e == Encoding::RLE_DICTIONARY);
        if ["event_code", "event_category", "hearing_type", "court"].contains(&name.as_str()) {
            assert!(dictionary, "{name} should be dictionary-encoded");
        }
        if ["event_id", "case_id"].contains(&name.as_str()) {
            assert!(!dictionary, "{name} is unique or nearly: no dictionary");
        }
    }
    assert!(
        meta.offset_index().is_some() || {
            // The page index is read lazily; reopen asking for it.
            let options = parquet::file::serialized_reader::ReadOptionsBuilder::new()
                .with_page_index()
                .build();
            let r =
                SerializedFileReader::new_with_options(File::open(&file).expect("open"), options)
                    .expect("parquet");
            r.metadata().offset_index().is_some()
        },
        "no page index"
    );
    let sorting = row_group.sorting_columns().expect("sort order recorded");
    assert_eq!(
        sorting.iter().map(|s| s.column_idx).collect::<Vec<_>>(),
        vec![1, 4, 0]
    );

    // And the rows really are in (case_id, event_date) order.
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&file).expect("open"))
        .expect("parquet")
        .build()
        .expect("reader");
    assert_eq!(reader.schema().field(1).name(), "case_id");
    let mut last: Option<(String, i32)> = None;
    for batch in reader {
        let batch = batch.expect("batch");
        let ids = batch.column(1).as_string::<i32>();
        let dates = batch.column(4).as_primitive::<Date32Type>();
        for i in 0..batch.num_rows() {
            let key = (ids.value(i).to_string(), dates.value(i));
            if let Some(prev) = &last {
                assert!(prev <= &key, "events out of order: {prev:?} then {key:?}");
            }
            last = Some(key);
        }
    }
}

#[tokio::test]
async fn ground_truth_covers_every_person_row() {
    let engine = open_with_truth(common::calibration_dataset()).await;
    let people = value(&engine, "SELECT count(*) FROM people").await;
    let matched = value(
        &engine,
        "SELECT count(*) FROM people JOIN truth.people_truth USING (role_id)",
    )
    .await;
    assert_eq!(people, matched);
    let orgs = value(&engine, "SELECT count(*) FROM people JOIN truth.people_truth USING (role_id) WHERE person_id IS NULL AND true_person_id IS NOT NULL").await;
    assert_eq!(orgs, 0.0, "organisations have no true person");
    let cafcass = value(&engine, "SELECT count(*) FROM cafcass_people").await;
    let cafcass_matched = value(
        &engine,
        "SELECT count(*) FROM cafcass_people JOIN truth.cafcass_people_truth USING (cafcass_person_id, cafcass_case_id)",
    )
    .await;
    assert_eq!(cafcass, cafcass_matched);
    // Every observed case's people appear among the truth's observed entries.
    let observed = value(
        &engine,
        "SELECT count(DISTINCT case_id) FROM truth.entries WHERE observed",
    )
    .await;
    let with_people = value(
        &engine,
        "SELECT count(DISTINCT case_id) FROM people WHERE person_id IS NOT NULL",
    )
    .await;
    assert_eq!(observed, with_people);
}

#[tokio::test]
async fn the_imperfections_of_the_real_data_are_planted() {
    let engine = open_with_truth(common::calibration_dataset()).await;
    // FamilyMan keying errors: about 1% of events.
    let errors = value(
        &engine,
        "SELECT avg(CASE WHEN error THEN 1.0 ELSE 0.0 END) FROM events",
    )
    .await;
    assert!((0.005..=0.015).contains(&errors), "error share {errors}");
    // Open cases at the extract date.
    let open = value(
        &engine,
        "SELECT count(*) FROM cases WHERE final_order_date IS NULL",
    )
    .await;
    assert!(open > 100.0, "only {open} open cases");
    // False merges: clusters holding two true people, about 1%.
    let merged = value(
        &engine,
        "SELECT avg(CASE WHEN n > 1 THEN 1.0 ELSE 0.0 END) FROM (SELECT p.person_id, count(DISTINCT t.true_person_id) n \
         FROM people p JOIN truth.people_truth t USING (role_id) WHERE p.person_id IS NOT NULL GROUP BY 1)",
    )
    .await;
    assert!(
        (0.003..=0.02).contains(&merged),
        "false merge share {merged}"
    );
    // Splits: true people filed under two ids.
    let split = value(
        &engine,
        "SELECT sum(CASE WHEN n > 1 THEN 1 ELSE 0 END) FROM (SELECT t.true_person_id, count(DISTINCT p.person_id) n \
         FROM people p JOIN truth.people_truth t USING (role_id) WHERE p.person_id IS NOT NULL GROUP BY 1)",
    )
    .await;
    assert!(split > 10.0, "only {split} split people");
    // Linkage misses, worse in Wales (about 80% against 93%).
    let rates = common::pairs(
        &engine,
        "SELECT CASE WHEN c.nation = 'Wales' THEN 1 ELSE 0 END, avg(CASE WHEN l.link_id IS NOT NULL AND l.match_status <> 35 THEN 1.0 ELSE 0.0 END) \
         FROM cafcass_people p JOIN cafcass_cases c USING (cafcass_case_id) \
         JOIN linkage l ON l.dataset = 'cafcass' AND l.source_person_id = p.cafcass_person_id GROUP BY 1 ORDER BY 1",
    )
    .await;
    let (england, wales) = (rates[0].1, rates[1].1);
    assert!(
        (0.90..=0.96).contains(&england),
        "England match rate {england}"
    );
    assert!((0.74..=0.86).contains(&wales), "Wales match rate {wales}");
    // Left truncation: mothers whose first case in the court data is not their first.
    let truncated = value(
        &engine,
        "SELECT count(DISTINCT e.true_person_id) FROM truth.entries e JOIN truth.entries o USING (true_person_id) \
         WHERE e.case_type = 'public_law' AND e.relationship_to_child = 'mother' AND NOT e.observed \
         AND e.start_date < DATE '2011-01-01' AND o.observed",
    )
    .await;
    assert!(truncated > 20.0, "only {truncated} left-truncated mothers");
}

/// The keys the contract declares (and `fjq serve` reports to tools through GetPrimaryKeys and
/// the foreign-key calls) hold in generated data: each primary key is unique and never NULL,
/// and every value of a foreign key is found in the table it points to.
#[tokio::test]
async fn the_declared_keys_hold_in_generated_data() {
    let engine = open_with_truth(common::calibration_dataset()).await;
    let mut checked = 0;
    for table in fjq_engine::contract::TABLES {
        if !table.primary_key.is_empty() {
            let key = table.primary_key.join(", ");
            let nulls = table
                .primary_key
                .iter()
                .map(|c| format!("{c} IS NULL"))
                .collect::<Vec<_>>()
                .join(" OR ");
            let sql = format!(
                "SELECT count(*) - (SELECT count(*) FROM (SELECT DISTINCT {key} FROM {t})) \
                 + (SELECT count(*) FROM {t} WHERE {nulls}) FROM {t}",
                t = table.name
            );
            assert_eq!(value(&engine, &sql).await, 0.0, "{}: ({key})", table.name);
            assert!(value(&engine, &format!("SELECT count(*) FROM {}", table.name)).await > 0.0);
            checked += 1;
        }
        for fk in table.foreign_keys {
            let on = fk
                .columns
                .iter()
                .zip(fk.references)
                .map(|(c, r)| format!("h.{c} = p.{r}"))
                .collect::<Vec<_>>()
                .join(" AND ");
            let present = fk
                .columns
                .iter()
                .map(|c| format!("h.{c} IS NOT NULL"))
                .collect::<Vec<_>>()
                .join(" AND ");
            let sql = format!(
                "SELECT count(*) FROM {} h LEFT ANTI JOIN {} p ON {on} WHERE {present}",
                table.name, fk.table
            );
            assert_eq!(value(&engine, &sql).await, 0.0, "{}", fk.name(table.name));
            checked += 1;
        }
    }
    assert_eq!(checked, 9 + 8, "every primary key and foreign key checked");
}
