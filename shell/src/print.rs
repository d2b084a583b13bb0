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
    /// The last result shown in table or vertical form, whole, for `\last`.
    pub last: std::sync::Mutex<Option<LastResult>>,
    /// The plan of the statement being printed, for the progress line.
    pub running: crate::progress::Running,
}

/// A result as it was collected for the screen: every column, every value uncut.
#[derive(Clone)]
pub struct LastResult {
    pub schema: SchemaRef,
    pub rows: Vec<Vec<String>>,
    pub total: usize,
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
            last: std::sync::Mutex::new(None),
            running: Default::default(),
        }
    }

    /// The last result again, every column and value whole (not fitted to the terminal), in
    /// the form in force (`\x on`: one field per line).
    pub fn print_last(&self, out: &mut dyn Write) -> Result<Option<usize>, PrintError> {
        let Some(last) = self.last.lock().expect("last result").clone() else {
            return Ok(None);
        };
        if self.expanded == Expanded::On || self.format == Format::Vertical {
            write_vertical(&last.schema, &last.rows, 0, out)?;
        } else {
            write_table(&last.schema, &last.rows, None, out)?;
        }
        let printed = Printed {
            rows: last.total,
            shown: last.rows.len(),
            empty_schema: false,
        };
        writeln!(out, "{}", footer(&printed))?;
        Ok(Some(last.total))
    }

    fn remember(&self, schema: &SchemaRef, rows: &[Vec<String>], total: usize) {
        *self.last.lock().expect("last result") = Some(LastResult {
            schema: schema.clone(),
            rows: rows.to_vec(),
            total,
        });
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
        if matches!(format, Format::Table | Format::Vertical) && is_plan(&schema) {
            return self.print_plan(schema, stream, out).await;
        }
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

    /// Collects up to `max_rows` formatted rows to show, and up to [`KEPT_ROWS`] for `\last`
    /// and `\plot`, counting the rest as they stream past.
    async fn take_rows(
        &self,
        mut stream: SendableRecordBatchStream,
    ) -> Result<(Vec<Vec<String>>, usize), PrintError> {
        let options = FormatOptions::default().with_null("NULL");
        let keep = self.max_rows.max(KEPT_ROWS);
        let mut kept = Vec::new();
        let mut rows = 0usize;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let take = batch.num_rows().min(keep.saturating_sub(kept.len()));
            if take > 0 {
                kept.extend(formatted(&batch.slice(0, take), &options)?);
            }
            rows += batch.num_rows();
        }
        Ok((kept, rows))
    }

    async fn print_table(
        &self,
        schema: SchemaRef,
        stream: SendableRecordBatchStream,
        out: &mut dyn Write,
    ) -> Result<Printed, PrintError> {
        let (mut shown, rows) = self.take_rows(stream).await?;
        self.remember(&schema, &shown, rows);
        shown.truncate(self.max_rows);
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
        write_table(&schema, &shown, self.width, out)?;
        Ok(Printed {
            rows,
            shown: shown.len(),
            empty_schema: false,
        })
    }

    /// `EXPLAIN`'s result as psql prints one: each plan under its kind, a line per operator,
    /// whole. Fitted into a table cell, a plan would be cut to its first line.
    async fn print_plan(
        &self,
        schema: SchemaRef,
        stream: SendableRecordBatchStream,
        out: &mut dyn Write,
    ) -> Result<Printed, PrintError> {
        let (shown, rows) = self.take_rows(stream).await?;
        self.remember(&schema, &shown, rows);
        for (i, row) in shown.iter().enumerate() {
            if i > 0 {
                writeln!(out)?;
            }
            writeln!(out, "{}", row[0])?;
            for line in row[1].lines() {
                writeln!(out, "  {line}")?;
            }
        }
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
        let (mut shown, rows) = self.take_rows(stream).await?;
        self.remember(&schema, &shown, rows);
        shown.truncate(self.max_rows);
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
        let (mut shown, rows) = self.take_rows(stream).await?;
        shown.truncate(self.max_rows);
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

/// Rows of a result kept (formatted) for `\last` and `\plot`, beyond those shown.
const KEPT_ROWS: usize = 10_000;

/// The longest a value is shown in a table before it is cut with an ellipsis (the whole value is
/// in `\x`, `\last` and every other format).
const LONGEST_CELL: usize = 40;
/// Values are cut down to this to make every column fit, before any column is hidden.
const SHORTEST_CELL: usize = 12;
/// The cut when columns must be hidden anyway: room for more of them.
const HIDING_CELL: usize = 24;

/// A table fitted to a width: the columns kept (None for the marker of hidden ones), their
/// header and rows, every value whole or cut with an ellipsis, never wrapped.
struct Fitted {
    columns: Vec<Option<usize>>,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    hidden: usize,
}

/// `text` in at most `width` characters, cut with an ellipsis; line breaks shown as `↵`.
/// Whether a result is a query plan: `EXPLAIN`'s two text columns, `plan_type` and `plan`.
fn is_plan(schema: &Schema) -> bool {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    names == ["plan_type", "plan"]
        && schema.fields().iter().all(|f| {
            matches!(
                f.data_type(),
                DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
            )
        })
}

fn cut(text: &str, width: usize) -> String {
    let one_line: String = text
        .chars()
        .map(|c| {
            if c == '\n' || c == '\r' {
                '\u{21b5}'
            } else {
                c
            }
        })
        .collect();
    if one_line.chars().count() <= width {
        return one_line;
    }
    let mut kept: String = one_line.chars().take(width.saturating_sub(1)).collect();
    kept.push('\u{2026}');
    kept
}

/// Chooses the columns to show in `width` terminal columns, as DuckDB's shell does: values are
/// never split across lines; long ones are cut; when the columns still do not fit, the first
/// and last are kept, working inwards, and the middle ones are replaced by one `…` column.
fn fit(names: &[String], rows: &[Vec<String>], width: Option<usize>) -> Fitted {
    // The natural width of each column, then the longest cell that lets every column fit: long
    // values are cut before any column is hidden, down to SHORTEST_CELL; below that, columns go.
    let natural: Vec<usize> = (0..names.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([names[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let table_width = |cap: usize| 1 + natural.iter().map(|w| (*w).min(cap) + 3).sum::<usize>();
    let longest = match width {
        None => usize::MAX,
        Some(w) => (SHORTEST_CELL..=LONGEST_CELL.min(w.saturating_sub(4).max(SHORTEST_CELL)))
            .rev()
            .find(|cap| table_width(*cap) <= w)
            .unwrap_or(HIDING_CELL.min(w.saturating_sub(8).max(4))),
    };
    let header: Vec<String> = names.iter().map(|n| cut(n, longest)).collect();
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|v| cut(v, longest)).collect())
        .collect();
    let widths: Vec<usize> = natural.iter().map(|w| (*w).min(longest)).collect();
    // A table of columns c takes 1 + sum(c + 3) characters: a border, and per column a padding
    // space either side and a border.
    let all: usize = 1 + widths.iter().map(|w| w + 3).sum::<usize>();
    let Some(width) = width.filter(|w| all > *w) else {
        return Fitted {
            columns: (0..names.len()).map(Some).collect(),
            header,
            rows,
            hidden: 0,
        };
    };
    const MARKER: usize = 1 + 3;
    let mut used = 1 + MARKER;
    let (mut left, mut right) = (Vec::new(), Vec::new());
    let (mut next_left, mut next_right) = (0usize, names.len() - 1);
    let mut from_left = true;
    while next_left <= next_right {
        let i = if from_left { next_left } else { next_right };
        if used + widths[i] + 3 > width {
            break;
        }
        used += widths[i] + 3;
        if from_left {
            left.push(i);
            next_left += 1;
        } else {
            right.push(i);
            if next_right == 0 {
                break;
            }
            next_right -= 1;
        }
        from_left = !from_left;
    }
    if left.is_empty() {
        // Not even the first column fits beside the marker: show it alone, cut to the width.
        left.push(0);
    }
    right.reverse();
    let mut columns: Vec<Option<usize>> = left.into_iter().map(Some).collect();
    columns.push(None);
    columns.extend(right.into_iter().map(Some));
    let hidden = names.len() - (columns.len() - 1);
    let room = width.saturating_sub(1 + MARKER + 3).max(4);
    let pick = |cells: &[String]| -> Vec<String> {
        columns
            .iter()
            .map(|c| match c {
                Some(i) => cut(&cells[*i], room),
                None => "\u{2026}".to_string(),
            })
            .collect()
    };
    Fitted {
        header: pick(&header),
        rows: rows.iter().map(|r| pick(r)).collect(),
        columns,
        hidden,
    }
}

/// A table of formatted rows, fitted to `width` when given ([`fit`]), with a line saying which
/// columns were hidden.
fn write_table(
    schema: &Schema,
    shown: &[Vec<String>],
    width: Option<usize>,
    out: &mut dyn Write,
) -> Result<(), PrintError> {
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let numeric: Vec<bool> = schema
        .fields()
        .iter()
        .map(|f| f.data_type().is_numeric())
        .collect();
    let fitted = fit(&names, shown, width);
    let mut table = Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    // The columns were chosen and cut to fit: comfy-table must not wrap a value.
    table.set_content_arrangement(ContentArrangement::Disabled);
    table.set_header(fitted.header.iter().map(Cell::new));
    for row in &fitted.rows {
        table.add_row(row.iter().map(Cell::new));
    }
    for (position, column) in fitted.columns.iter().enumerate() {
        if column.is_some_and(|i| numeric[i])
            && let Some(c) = table.column_mut(position)
        {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    writeln!(out, "{table}")?;
    if fitted.hidden > 0 {
        let noun = if fitted.hidden == 1 {
            "column"
        } else {
            "columns"
        };
        writeln!(
            out,
            "{} of {} columns shown ({} {noun} hidden at \u{2026}; \\last shows them all)",
            names.len() - fitted.hidden,
            names.len(),
            fitted.hidden
        )?;
    }
    Ok(())
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

/// The width tables are fitted to: `COLUMNS` when set (as psql reads it), else the terminal's.
pub fn terminal_width() -> Option<usize> {
    if let Some(columns) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
    {
        return Some(columns.max(20));
    }
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
