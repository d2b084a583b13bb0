//! Printing results: a table fitted to the terminal, or CSV, JSON and NDJSON streamed batch by
//! batch. Everything prints to any `Write`, so it is testable without a terminal.

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table};
use datafusion::error::DataFusionError;
use datafusion::physical_plan::SendableRecordBatchStream;
use futures::StreamExt;
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
    Ndjson,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s.to_ascii_lowercase().as_str() {
            "table" => Ok(Format::Table),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            "ndjson" => Ok(Format::Ndjson),
            other => Err(format!(
                "unknown format {other:?}: choose table, csv, json or ndjson"
            )),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PrintError {
    #[error(transparent)]
    Query(#[from] DataFusionError),
    #[error("cannot write the result: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot format the result: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

pub struct Printer {
    pub format: Format,
    /// Rows shown in table format; the rest are counted, not kept.
    pub max_rows: usize,
}

/// What was printed.
pub struct Printed {
    pub rows: usize,
    pub shown: usize,
    /// The statement returned no columns (DDL, SET): nothing was printed.
    pub empty_schema: bool,
}

fn is_numeric(t: &DataType) -> bool {
    t.is_numeric()
}

impl Printer {
    pub async fn print(
        &self,
        mut stream: SendableRecordBatchStream,
        out: &mut dyn Write,
    ) -> Result<Printed, PrintError> {
        let schema = stream.schema();
        if schema.fields().is_empty() {
            while let Some(batch) = stream.next().await {
                batch?;
            }
            return Ok(Printed {
                rows: 0,
                shown: 0,
                empty_schema: true,
            });
        }
        match self.format {
            Format::Table => self.print_table(schema, stream, out).await,
            Format::Csv => {
                let mut writer = arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(&mut *out);
                let mut rows = 0;
                let mut wrote = false;
                while let Some(batch) = stream.next().await {
                    let batch = flatten_nested(batch?)?;
                    rows += batch.num_rows();
                    writer.write(&batch)?;
                    wrote = true;
                }
                if !wrote {
                    writer.write(&flatten_nested(RecordBatch::new_empty(schema))?)?;
                }
                Ok(Printed {
                    rows,
                    shown: rows,
                    empty_schema: false,
                })
            }
            Format::Json => {
                let mut writer = arrow::json::ArrayWriter::new(&mut *out);
                let mut rows = 0;
                while let Some(batch) = stream.next().await {
                    let batch = batch?;
                    rows += batch.num_rows();
                    writer.write(&batch)?;
                }
                writer.finish()?;
                drop(writer);
                out.write_all(b"\n")?;
                Ok(Printed {
                    rows,
                    shown: rows,
                    empty_schema: false,
                })
            }
            Format::Ndjson => {
                let mut writer = arrow::json::LineDelimitedWriter::new(&mut *out);
                let mut rows = 0;
                while let Some(batch) = stream.next().await {
                    let batch = batch?;
                    rows += batch.num_rows();
                    writer.write(&batch)?;
                }
                writer.finish()?;
                Ok(Printed {
                    rows,
                    shown: rows,
                    empty_schema: false,
                })
            }
        }
    }

    async fn print_table(
        &self,
        schema: SchemaRef,
        mut stream: SendableRecordBatchStream,
        out: &mut dyn Write,
    ) -> Result<Printed, PrintError> {
        let mut table = Table::new();
        table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
        table.set_content_arrangement(ContentArrangement::Dynamic);
        table.set_header(schema.fields().iter().map(|f| Cell::new(f.name())));
        let options = FormatOptions::default().with_null("NULL");
        let mut rows = 0usize;
        let mut shown = 0usize;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let take = batch.num_rows().min(self.max_rows - shown);
            if take > 0 {
                let formatters = batch
                    .columns()
                    .iter()
                    .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
                    .collect::<Result<Vec<_>, _>>()?;
                for row in 0..take {
                    table.add_row(
                        formatters
                            .iter()
                            .map(|f| Cell::new(f.value(row).to_string())),
                    );
                }
                shown += take;
            }
            rows += batch.num_rows();
        }
        for (i, field) in schema.fields().iter().enumerate() {
            if is_numeric(field.data_type())
                && let Some(column) = table.column_mut(i)
            {
                column.set_cell_alignment(CellAlignment::Right);
            }
        }
        writeln!(out, "{table}")?;
        Ok(Printed {
            rows,
            shown,
            empty_schema: false,
        })
    }
}

/// CSV has no lists or structs: such columns are written as their text form (as in the table).
fn flatten_nested(batch: RecordBatch) -> Result<RecordBatch, PrintError> {
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| f.data_type().is_nested())
    {
        return Ok(batch);
    }
    let options = FormatOptions::default().with_null("");
    let mut fields = Vec::new();
    let mut columns: Vec<arrow::array::ArrayRef> = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if field.data_type().is_nested() {
            let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
            let text: arrow::array::StringArray = (0..column.len())
                .map(|i| (!column.is_null(i)).then(|| formatter.value(i).to_string()))
                .collect();
            fields.push(arrow::datatypes::Field::new(
                field.name(),
                DataType::Utf8,
                true,
            ));
            columns.push(std::sync::Arc::new(text));
        } else {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
        }
    }
    Ok(RecordBatch::try_new(
        std::sync::Arc::new(arrow::datatypes::Schema::new(fields)),
        columns,
    )?)
}

/// `N rows` or `N rows (M shown)`.
pub fn footer(printed: &Printed) -> String {
    let noun = if printed.rows == 1 { "row" } else { "rows" };
    if printed.shown < printed.rows {
        format!(
            "{} {noun} ({} shown)",
            crate::generate::thousands(printed.rows as u64),
            printed.shown
        )
    } else {
        format!("{} {noun}", crate::generate::thousands(printed.rows as u64))
    }
}
