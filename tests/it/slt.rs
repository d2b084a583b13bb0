//! Runs the sqllogictest files in `tests/slt/`: the domain functions' edge cases, written and
//! checked by hand. Each file runs on a fresh session holding fjq's functions and settings
//! (no dataset: the files build their own small tables, and `CREATE FJQ VIEW name` defines one
//! of the engine's views over them).
//!
//! `FJQ_SLT_COMPLETE=1 cargo test -p fjq-tests slt` rewrites the expected results from what
//! the engine returns; read the diff before committing it.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::error::DataFusionError;
use datafusion::execution::context::{SessionConfig, SessionContext};
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType};
use std::path::PathBuf;

struct Fjq {
    ctx: SessionContext,
}

fn session() -> SessionContext {
    let config = SessionConfig::new()
        .with_information_schema(true)
        .with_target_partitions(2)
        .with_option_extension(fjq_udfs::FjqOptions::default());
    let ctx = SessionContext::new_with_config(config);
    fjq_udfs::register_all(&ctx);
    ctx
}

#[derive(Debug)]
struct SltError(String);

impl std::fmt::Display for SltError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SltError {}

fn error(e: DataFusionError) -> SltError {
    // The words every front end shows.
    SltError(fjq_engine::diagnostics::describe(&e))
}

fn column_type(t: &DataType) -> DefaultColumnType {
    if t.is_integer() {
        DefaultColumnType::Integer
    } else if t.is_floating() {
        DefaultColumnType::FloatingPoint
    } else if matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) {
        DefaultColumnType::Text
    } else {
        DefaultColumnType::Any
    }
}

fn rows(batches: &[RecordBatch]) -> Result<Vec<Vec<String>>, SltError> {
    let options = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SltError(e.to_string()))?;
        for row in 0..batch.num_rows() {
            out.push(
                formatters
                    .iter()
                    .map(|f| {
                        let v = f.value(row).to_string();
                        if v.is_empty() {
                            "(empty)".to_string()
                        } else {
                            v
                        }
                    })
                    .collect(),
            );
        }
    }
    Ok(out)
}

#[async_trait::async_trait]
impl AsyncDB for Fjq {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<Self::ColumnType>, Self::Error> {
        // `CREATE FJQ VIEW name`: one of the views every fjq session defines, over the small
        // tables the file has just made, with the definition the engine uses.
        if let Some(name) = sql.trim().strip_prefix("CREATE FJQ VIEW ") {
            let view = fjq_engine::VIEWS
                .iter()
                .find(|v| v.name == name.trim())
                .ok_or_else(|| SltError(format!("fjq has no view {name}")))?;
            let create = format!("CREATE VIEW {} AS {}", view.name, view.sql);
            self.ctx.sql(&create).await.map_err(error)?;
            return Ok(DBOutput::StatementComplete(0));
        }
        let frame = self.ctx.sql(sql).await.map_err(error)?;
        let schema = frame.schema().as_arrow().clone();
        let batches = frame.collect().await.map_err(error)?;
        if schema.fields().is_empty() {
            return Ok(DBOutput::StatementComplete(0));
        }
        Ok(DBOutput::Rows {
            types: schema
                .fields()
                .iter()
                .map(|f| column_type(f.data_type()))
                .collect(),
            rows: rows(&batches)?,
        })
    }

    async fn shutdown(&mut self) {}
}

fn slt_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/slt"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/slt")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "slt"))
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn sqllogictest_files_pass() {
    let files = slt_files();
    assert!(
        files.len() >= 3,
        "expected the pathway, dates and entries files, found {files:?}"
    );
    let complete = std::env::var_os("FJQ_SLT_COMPLETE").is_some();
    let mut failures = Vec::new();
    for file in &files {
        let mut runner = sqllogictest::Runner::new(|| async { Ok(Fjq { ctx: session() }) });
        if complete {
            runner
                .update_test_file(
                    file,
                    " ",
                    sqllogictest::default_validator,
                    sqllogictest::default_normalizer,
                    sqllogictest::default_column_validator,
                )
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        } else if let Err(e) = runner.run_file_async(file).await {
            failures.push(format!("{}: {}", file.display(), e.display(false)));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}
