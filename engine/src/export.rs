//! Writing a query's result to a file, chosen by extension (Parquet, CSV, TSV, JSON, NDJSON, and
//! Arrow IPC as a file, `.arrow`/`.feather`, or a stream, `.arrows`), batch by batch as the query
//! streams: a result never has to fit in memory to be exported. Arrow IPC is what
//! `pyarrow.feather`, polars' `read_ipc` and R's arrow read with no conversion.

use crate::error::{EngineError, Result};
use datafusion::arrow::array::RecordBatch;
use datafusion::physical_plan::SendableRecordBatchStream;
use futures::StreamExt;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// The file formats `export` writes, by extension.
pub const EXTENSIONS: &[&str] = &[
    "parquet", "csv", "tsv", "json", "ndjson", "jsonl", "arrow", "feather", "arrows",
];

enum Sink {
    Parquet(ArrowWriter<BufWriter<File>>),
    Csv(datafusion::arrow::csv::Writer<BufWriter<File>>),
    Json(datafusion::arrow::json::ArrayWriter<BufWriter<File>>),
    Ndjson(datafusion::arrow::json::LineDelimitedWriter<BufWriter<File>>),
    ArrowFile(datafusion::arrow::ipc::writer::FileWriter<BufWriter<File>>),
    ArrowStream(datafusion::arrow::ipc::writer::StreamWriter<BufWriter<File>>),
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> EngineError {
    EngineError::io("write", path, std::io::Error::other(e.to_string()))
}

/// Streams `stream` into `path`; returns the rows written. On failure the partial file is
/// removed, so a half-written export is never mistaken for a whole one.
pub async fn export(mut stream: SendableRecordBatchStream, path: &Path) -> Result<u64> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    if !EXTENSIONS.contains(&extension.as_str()) {
        return Err(EngineError::Config(format!(
            "cannot tell the format of {} from its extension: use one of .{}",
            path.display(),
            EXTENSIONS.join(", .")
        )));
    }
    let file = File::create(path).map_err(|e| io_error(path, e))?;
    let out = BufWriter::with_capacity(1 << 20, file);
    let schema = stream.schema();
    let mut sink = match extension.as_str() {
        "parquet" => {
            let props = WriterProperties::builder()
                .set_compression(Compression::ZSTD(
                    ZstdLevel::try_new(3).map_err(|e| io_error(path, e))?,
                ))
                .build();
            Sink::Parquet(
                ArrowWriter::try_new(out, schema.clone(), Some(props))
                    .map_err(|e| io_error(path, e))?,
            )
        }
        "csv" => Sink::Csv(
            datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(out),
        ),
        "tsv" => Sink::Csv(
            datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .with_delimiter(b'\t')
                .build(out),
        ),
        "json" => Sink::Json(datafusion::arrow::json::ArrayWriter::new(out)),
        "arrow" | "feather" => Sink::ArrowFile(
            datafusion::arrow::ipc::writer::FileWriter::try_new(out, &schema)
                .map_err(|e| io_error(path, e))?,
        ),
        "arrows" => Sink::ArrowStream(
            datafusion::arrow::ipc::writer::StreamWriter::try_new(out, &schema)
                .map_err(|e| io_error(path, e))?,
        ),
        _ => Sink::Ndjson(datafusion::arrow::json::LineDelimitedWriter::new(out)),
    };
    let result = async {
        let mut rows = 0u64;
        let mut wrote = false;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            rows += batch.num_rows() as u64;
            write(&mut sink, &batch, path)?;
            wrote = true;
        }
        if !wrote {
            write(&mut sink, &RecordBatch::new_empty(schema.clone()), path)?;
        }
        finish(sink, path)?;
        Ok::<u64, EngineError>(rows)
    }
    .await;
    if result.is_err() {
        let _ = std::fs::remove_file(path);
    }
    result
}

fn write(sink: &mut Sink, batch: &RecordBatch, path: &Path) -> Result<()> {
    match sink {
        Sink::Parquet(w) => w.write(batch).map_err(|e| io_error(path, e)),
        Sink::Csv(w) => w.write(batch).map_err(|e| io_error(path, e)),
        Sink::Json(w) => w.write(batch).map_err(|e| io_error(path, e)),
        Sink::Ndjson(w) => w.write(batch).map_err(|e| io_error(path, e)),
        Sink::ArrowFile(w) => w.write(batch).map_err(|e| io_error(path, e)),
        Sink::ArrowStream(w) => w.write(batch).map_err(|e| io_error(path, e)),
    }
}

fn finish(sink: Sink, path: &Path) -> Result<()> {
    match sink {
        Sink::Parquet(w) => {
            w.close().map_err(|e| io_error(path, e))?;
        }
        Sink::Csv(w) => {
            w.into_inner().flush().map_err(|e| io_error(path, e))?;
        }
        Sink::Json(mut w) => {
            w.finish().map_err(|e| io_error(path, e))?;
            w.into_inner().flush().map_err(|e| io_error(path, e))?;
        }
        Sink::Ndjson(mut w) => {
            w.finish().map_err(|e| io_error(path, e))?;
            w.into_inner().flush().map_err(|e| io_error(path, e))?;
        }
        Sink::ArrowFile(mut w) => {
            w.finish().map_err(|e| io_error(path, e))?;
            w.into_inner()
                .map_err(|e| io_error(path, e))?
                .flush()
                .map_err(|e| io_error(path, e))?;
        }
        Sink::ArrowStream(mut w) => {
            w.finish().map_err(|e| io_error(path, e))?;
            w.into_inner()
                .map_err(|e| io_error(path, e))?
                .flush()
                .map_err(|e| io_error(path, e))?;
        }
    }
    Ok(())
}
