//! Printing results: a table fitted to the terminal, vertical records, or CSV, TSV, JSON, NDJSON
//! and Markdown streamed batch by batch. Everything prints to any `Write`, so it is testable
//! without a terminal, and nothing but the rows shown in table form is held in memory.

use arrow::array::{Array, ArrayRef, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table};
use datafusion::error::DataFusionError;
use datafusion::physical_plan::SendableRecordBatchStream;
use futures::StreamExt;
use std::io::Write;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Tsv,
    Json,
    Ndjson,
    Markdown,
    Vertical,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s.to_ascii_lowercase().as_str() {
            "table" | "box" => Ok(Format::Table),
            "csv" => Ok(Format::Csv),
            "tsv" | "tabs" => Ok(Format::Tsv),
            "json" => Ok(Format::Json),
            "ndjson" | "jsonlines" => Ok(Format::Ndjson),
            "markdown" | "md" => Ok(Format::Markdown),
            "vertical" | "line" => Ok(Format::Vertical),
            other => Err(format!(
                "unknown format {other:?}: choose table, csv, tsv, json, ndjson, markdown or vertical"
            )),
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Format::Table => "table",
            Format::Csv => "csv",
            Format::Tsv => "tsv",
            Format::Json => "json",
            Format::Ndjson => "ndjson",
            Format::Markdown => "markdown",
            Format::Vertical => "vertical",
        };
        f.write_str(name)
    }
}

/// psql's `\x`: records one field per line, always, never, or when the table is too wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expanded {
    Off,
    On,
    Auto,
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
    /// Rows shown in table, vertical and markdown form; the rest are counted, not kept.
    pub max_rows: usize,
    pub expanded: Expanded,
    /// Terminal width for fitting tables and `\x auto` (None: not a terminal).
    pub width: Option<usize>,
}

/// What was printed.
pub struct Printed {
    pub rows: usize,
    pub shown: usize,
    /// The statement returned no columns (DDL, SET): nothing was printed.
    pub empty_schema: bool,
}

fn formatted(batch: &RecordBatch, options: &FormatOptions) -> Result<Vec<Vec<String>>, PrintError> {
    // A released table says what its NULLs mean (a suppressed cell, a total): show that word.
    let schema = batch.schema();
    let per_column: Vec<FormatOptions> = schema
        .fields()
        .iter()
        .map(|f| match f.metadata().get(fjq_engine::safe::NULL_MEANING) {
            Some(meaning) => options.clone().with_null(meaning),
            None => options.clone(),
        })
        .collect();
    let formatters = batch
        .columns()
        .iter()
        .zip(&per_column)
        .map(|(c, o)| ArrayFormatter::try_new(c.as_ref(), o))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((0..batch.num_rows())
        .map(|row| {
            formatters
                .iter()
                .map(|f| f.value(row).to_string())
                .collect()
        })
        .collect())
}

impl Printer {
    pub fn new(format: Format, max_rows: usize) -> Printer {
        Printer {
            format,
            max_rows,
            expanded: Expanded::Off,
            width: None,
        }
    }

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
        let format = match (self.format, self.expanded) {
            (Format::Table, Expanded::On) => Format::Vertical,
            (f, _) => f,
        };
        match format {
            Format::Table => self.print_table(schema, stream, out).await,
            Format::Vertical => self.print_vertical(schema, stream, out).await,
            Format::Markdown => self.print_markdown(schema, stream, out).await,
            Format::Csv | Format::Tsv => {
                let delimiter = if format == Format::Tsv { b'\t' } else { b',' };
                let mut writer = arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .with_delimiter(delimiter)
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
                let rows = stream_json(arrow::json::ArrayWriter::new(&mut *out), stream).await?;
                out.write_all(b"\n")?;
                Ok(Printed {
                    rows,
                    shown: rows,
                    empty_schema: false,
                })
            }
            Format::Ndjson => {
                let rows =
                    stream_json(arrow::json::LineDelimitedWriter::new(&mut *out), stream).await?;
                Ok(Printed {
                    rows,
                    shown: rows,
                    empty_schema: false,
                })
            }
        }
    }

    /// Collects up to `max_rows` formatted rows, counting the rest as they stream past.
    async fn take_rows(
        &self,
        mut stream: SendableRecordBatchStream,
    ) -> Result<(Vec<Vec<String>>, usize), PrintError> {
        let options = FormatOptions::default().with_null("NULL");
        let mut shown = Vec::new();
        let mut rows = 0usize;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let take = batch
                .num_rows()
                .min(self.max_rows.saturating_sub(shown.len()));
            if take > 0 {
                shown.extend(formatted(&batch.slice(0, take), &options)?);
            }
            rows += batch.num_rows();
        }
        Ok((shown, rows))
    }

    async fn print_table(
        &self,
        schema: SchemaRef,
        stream: SendableRecordBatchStream,
        out: &mut dyn Write,
    ) -> Result<Printed, PrintError> {
        let (shown, rows) = self.take_rows(stream).await?;
        if self.expanded == Expanded::Auto
            && let Some(width) = self.width
        {
            let needed: usize = schema
                .fields()
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    shown
                        .iter()
                        .map(|r| r[i].len())
                        .max()
                        .unwrap_or(0)
                        .max(f.name().len())
                        + 3
                })
                .sum::<usize>()
                + 1;
            if needed > width {
                write_vertical(&schema, &shown, 0, out)?;
                return Ok(Printed {
                    rows,
                    shown: shown.len(),
                    empty_schema: false,
                });
            }
        }
        let mut table = Table::new();
        table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
        match self.width {
            Some(w) => {
                table.set_content_arrangement(ContentArrangement::Dynamic);
                table.set_width(w as u16);
            }
            None => {
                table.set_content_arrangement(ContentArrangement::Disabled);
            }
        }
        table.set_header(schema.fields().iter().map(|f| Cell::new(f.name())));
        for row in &shown {
            table.add_row(row.iter().map(Cell::new));
        }
        for (i, field) in schema.fields().iter().enumerate() {
            if field.data_type().is_numeric()
                && let Some(column) = table.column_mut(i)
            {
                column.set_cell_alignment(CellAlignment::Right);
            }
        }
        writeln!(out, "{table}")?;
        Ok(Printed {
            rows,
            shown: shown.len(),
            empty_schema: false,
        })
    }

    async fn print_vertical(
        &self,
        schema: SchemaRef,
        stream: SendableRecordBatchStream,
        out: &mut dyn Write,
    ) -> Result<Printed, PrintError> {
        let (shown, rows) = self.take_rows(stream).await?;
        write_vertical(&schema, &shown, 0, out)?;
        Ok(Printed {
            rows,
            shown: shown.len(),
            empty_schema: false,
        })
    }

    async fn print_markdown(
        &self,
        schema: SchemaRef,
        stream: SendableRecordBatchStream,
        out: &mut dyn Write,
    ) -> Result<Printed, PrintError> {
        let (shown, rows) = self.take_rows(stream).await?;
        let escape = |s: &str| s.replace('|', "\\|").replace('\n', " ");
        let names: Vec<String> = schema.fields().iter().map(|f| escape(f.name())).collect();
        writeln!(out, "| {} |", names.join(" | "))?;
        let rule: Vec<&str> = schema
            .fields()
            .iter()
            .map(|f| {
                if f.data_type().is_numeric() {
                    "---:"
                } else {
                    "---"
                }
            })
            .collect();
        writeln!(out, "| {} |", rule.join(" | "))?;
        for row in &shown {
            let cells: Vec<String> = row.iter().map(|c| escape(c)).collect();
            writeln!(out, "| {} |", cells.join(" | "))?;
        }
        Ok(Printed {
            rows,
            shown: shown.len(),
            empty_schema: false,
        })
    }
}

/// Streams every batch through one of arrow's JSON writers (array or line-delimited).
async fn stream_json<W: Write, F: arrow::json::writer::JsonFormat>(
    mut writer: arrow::json::Writer<W, F>,
    mut stream: SendableRecordBatchStream,
) -> Result<usize, PrintError> {
    let mut rows = 0;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        rows += batch.num_rows();
        writer.write(&batch)?;
    }
    writer.finish()?;
    Ok(rows)
}

/// psql's expanded display: `-[ RECORD n ]` then one `column | value` line per field.
fn write_vertical(
    schema: &Schema,
    rows: &[Vec<String>],
    first: usize,
    out: &mut dyn Write,
) -> Result<(), PrintError> {
    let width = schema
        .fields()
        .iter()
        .map(|f| f.name().chars().count())
        .max()
        .unwrap_or(0);
    for (n, row) in rows.iter().enumerate() {
        writeln!(
            out,
            "-[ RECORD {} ]{}",
            first + n + 1,
            "-".repeat(width.saturating_sub(8).max(4))
        )?;
        for (field, value) in schema.fields().iter().zip(row) {
            writeln!(out, "{:<width$} | {value}", field.name())?;
        }
    }
    Ok(())
}

/// CSV has no lists or structs: such columns are written as their text form (as in the table).
pub fn flatten_nested(batch: RecordBatch) -> Result<RecordBatch, PrintError> {
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
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if field.data_type().is_nested() {
            let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
            let text: arrow::array::StringArray = (0..column.len())
                .map(|i| (!column.is_null(i)).then(|| formatter.value(i).to_string()))
                .collect();
            fields.push(Field::new(field.name(), DataType::Utf8, true));
            columns.push(Arc::new(text));
        } else {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// The terminal's width in columns, when standard output is one.
pub fn terminal_width() -> Option<usize> {
    crossterm::terminal::size()
        .ok()
        .map(|(w, _)| w as usize)
        .filter(|w| *w > 20)
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
