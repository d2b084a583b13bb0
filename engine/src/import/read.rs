//! Reading one source file of a table: the delimited records, each field decoded, trimmed,
//! recoded and parsed to its contract type, into Arrow batches of the contract's schema. A row
//! that fails goes to the rejects with its line, field and reason; a file that fails (unreadable,
//! truncated, its header lacking a field) stops the import.

use super::layout::{ColumnLayout, Source, TableLayout};
use super::text;
use super::{ImportError, Reject};
use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int32Builder, Int64Builder,
    RecordBatch, StringBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::DFSchema;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::prelude::SessionContext;
use fjq_contract::ColumnType;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Rows per batch handed to the writer.
pub const BATCH_ROWS: usize = 64 * 1024;

/// Where a contract column's value comes from in this file.
#[derive(Clone, Copy)]
enum Slot {
    Field(usize),
    /// Derived by an expression.
    Derived,
}

/// A parsed value waiting for the rest of its row (a rejected row appends nothing).
enum Value {
    Null,
    /// A range of the row's text buffer.
    Str(usize, usize),
    I32(i32),
    I64(i64),
    F64(f64),
    Bool(bool),
    Date(i32),
}

enum Builder {
    Utf8(StringBuilder),
    Date32(Date32Builder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float64(Float64Builder),
    Boolean(BooleanBuilder),
}

impl Builder {
    fn new(t: ColumnType) -> Builder {
        match t {
            ColumnType::Utf8 => {
                Builder::Utf8(StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 16))
            }
            ColumnType::Date32 => Builder::Date32(Date32Builder::with_capacity(BATCH_ROWS)),
            ColumnType::Int32 => Builder::Int32(Int32Builder::with_capacity(BATCH_ROWS)),
            ColumnType::Int64 => Builder::Int64(Int64Builder::with_capacity(BATCH_ROWS)),
            ColumnType::Float64 => Builder::Float64(Float64Builder::with_capacity(BATCH_ROWS)),
            ColumnType::Boolean => Builder::Boolean(BooleanBuilder::with_capacity(BATCH_ROWS)),
        }
    }

    fn append(&mut self, v: &Value, text: &str) {
        match (self, v) {
            (Builder::Utf8(b), Value::Str(s, e)) => b.append_value(&text[*s..*e]),
            (Builder::Utf8(b), Value::Null) => b.append_null(),
            (Builder::Date32(b), Value::Date(d)) => b.append_value(*d),
            (Builder::Date32(b), Value::Null) => b.append_null(),
            (Builder::Int32(b), Value::I32(d)) => b.append_value(*d),
            (Builder::Int32(b), Value::Null) => b.append_null(),
            (Builder::Int64(b), Value::I64(d)) => b.append_value(*d),
            (Builder::Int64(b), Value::Null) => b.append_null(),
            (Builder::Float64(b), Value::F64(d)) => b.append_value(*d),
            (Builder::Float64(b), Value::Null) => b.append_null(),
            (Builder::Boolean(b), Value::Bool(d)) => b.append_value(*d),
            (Builder::Boolean(b), Value::Null) => b.append_null(),
            // The value was parsed for this column's type just before; a derived column's
            // placeholder is a NULL.
            (Builder::Utf8(b), _) => b.append_null(),
            (Builder::Date32(b), _) => b.append_null(),
            (Builder::Int32(b), _) => b.append_null(),
            (Builder::Int64(b), _) => b.append_null(),
            (Builder::Float64(b), _) => b.append_null(),
            (Builder::Boolean(b), _) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Utf8(b) => Arc::new(b.finish()),
            Builder::Date32(b) => Arc::new(b.finish()),
            Builder::Int32(b) => Arc::new(b.finish()),
            Builder::Int64(b) => Arc::new(b.finish()),
            Builder::Float64(b) => Arc::new(b.finish()),
            Builder::Boolean(b) => Arc::new(b.finish()),
        }
    }
}

/// A derived column's expression, planned against this file's fields.
struct Derived {
    column: usize,
    sql: String,
    expr: Arc<dyn PhysicalExpr>,
}

/// The derived columns of a file: their expressions and the schema they are evaluated over.
struct Derivation {
    exprs: Vec<Derived>,
    schema: SchemaRef,
}

/// One batch read: the contract columns, and for each row its line in the file.
pub struct Batch {
    pub batch: RecordBatch,
    pub lines: Vec<u64>,
}

/// Counts kept while reading, for the summary.
#[derive(Default)]
pub struct ReadCounts {
    pub rows_read: u64,
    /// Per contract column: values changed by its code list.
    pub recoded: Vec<u64>,
}

/// Reads the file's last byte: an export cut off in the middle ends without a line end.
fn check_not_truncated(path: &Path, name: &str) -> Result<(), ImportError> {
    let io = |source| ImportError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    };
    let mut f = File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    if len == 0 {
        return Ok(());
    }
    f.seek(SeekFrom::End(-1)).map_err(io)?;
    let mut last = [0u8];
    f.read_exact(&mut last).map_err(io)?;
    if last[0] != b'\n' {
        f.seek(SeekFrom::Start(0)).map_err(io)?;
        let mut lines = 1u64;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            lines += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
        }
        return Err(ImportError::Source {
            file: name.to_string(),
            line: lines,
            column: None,
            message: "the file ends in the middle of this line, without a line end: it looks truncated (was the export or the copy cut off?)".to_string(),
        });
    }
    Ok(())
}

/// Reads one source file of `table`, calling `emit` with each batch and `reject` with each
/// rejected row. `bytes` is told how far into the file the reader is.
pub fn read_file(
    table: &TableLayout,
    path: &PathBuf,
    name: &str,
    counts: &mut ReadCounts,
    emit: &mut dyn FnMut(Batch) -> Result<(), ImportError>,
    reject: &mut dyn FnMut(Reject) -> Result<(), ImportError>,
    bytes: &mut dyn FnMut(u64),
) -> Result<(), ImportError> {
    check_not_truncated(path, name)?;
    let format = &table.format;
    let mut file = File::open(path).map_err(|source| ImportError::Io {
        action: "read",
        path: path.clone(),
        source,
    })?;
    // A byte order mark (Excel and some SQL clients write one) is not part of the first value.
    let mut start = [0u8; 3];
    let mut got = 0;
    while got < 3 {
        match file.read(&mut start[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(source) => {
                return Err(ImportError::Io {
                    action: "read",
                    path: path.clone(),
                    source,
                });
            }
        }
    }
    let bom =
        format.encoding == super::layout::Encoding::Utf8 && start[..got] == [0xEF, 0xBB, 0xBF];
    let prefix = if bom {
        Vec::new()
    } else {
        start[..got].to_vec()
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(format.delimiter)
        .quote(format.quote)
        .buffer_capacity(1 << 20)
        .from_reader(std::io::Cursor::new(prefix).chain(file));
    let mut record = csv::ByteRecord::new();
    let source_error = |line: u64, e: csv::Error| ImportError::Source {
        file: name.to_string(),
        line,
        column: None,
        message: e.to_string(),
    };

    // The field names: the header row's, or the layout's list.
    let mut first_line = 1;
    let names: Vec<String> = if format.header {
        if !reader
            .read_byte_record(&mut record)
            .map_err(|e| source_error(1, e))?
        {
            return Ok(()); // an empty file: no header, no rows
        }
        first_line = 2;
        record
            .iter()
            .enumerate()
            .map(|(i, f)| {
                text::decode(f, format.encoding)
                    .map(|s| s.trim().to_string())
                    .map_err(|m| ImportError::Source {
                        file: name.to_string(),
                        line: 1,
                        column: Some(format!("header field {}", i + 1)),
                        message: m,
                    })
            })
            .collect::<Result<_, _>>()?
    } else {
        table.fields.clone().unwrap_or_default()
    };
    let expected_fields = if names.is_empty() {
        table.positional_width()
    } else {
        names.len()
    };
    let field_name = |i: usize| -> String {
        names
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("field {}", i + 1))
    };

    let mut slots = Vec::with_capacity(table.columns.len());
    let mut derived_sql = Vec::new();
    for (ci, c) in table.columns.iter().enumerate() {
        slots.push(match &c.source {
            Source::Name(n) => match names.iter().position(|f| f == n) {
                Some(i) => Slot::Field(i),
                None => {
                    return Err(ImportError::Source {
                        file: name.to_string(),
                        line: 1,
                        column: None,
                        message: if format.header {
                            format!(
                                "the header has no field {n} for column {} (its fields: {})",
                                c.name,
                                names.join(", ")
                            )
                        } else {
                            format!("no field {n} for column {}", c.name)
                        },
                    });
                }
            },
            Source::Position(p) => Slot::Field(*p),
            Source::Expr(sql) => {
                derived_sql.push((ci, sql.clone()));
                Slot::Derived
            }
        });
    }

    // Derived columns see the mapped contract columns by name and every other source field as
    // text by its own name.
    let mapped: Vec<usize> = (0..table.columns.len())
        .filter(|i| matches!(slots[*i], Slot::Field(_)))
        .collect();
    let extra_fields: Vec<usize> = if derived_sql.is_empty() {
        Vec::new()
    } else {
        (0..names.len())
            .filter(|i| !table.columns.iter().any(|c| c.name == names[*i]))
            .collect()
    };
    let derivation = plan_derived(table, &mapped, &names, &extra_fields, &derived_sql)?;

    counts.recoded.resize(table.columns.len(), 0);
    let mut builders: Vec<Builder> = table
        .columns
        .iter()
        .map(|c| Builder::new(c.data_type))
        .collect();
    let mut extras: Vec<StringBuilder> =
        extra_fields.iter().map(|_| StringBuilder::new()).collect();
    let mut lines: Vec<u64> = Vec::with_capacity(BATCH_ROWS);
    let mut values: Vec<Value> = Vec::with_capacity(table.columns.len());
    let mut row_text = String::new();
    let mut line = first_line - 1;
    let mut last_reported = 0u64;

    loop {
        let more = reader
            .read_byte_record(&mut record)
            .map_err(|e| source_error(line + 1, e))?;
        if !more {
            break;
        }
        line = record.position().map(|p| p.line()).unwrap_or(line + 1);
        counts.rows_read += 1;
        let pos = record.position().map(|p| p.byte()).unwrap_or(0);
        if pos - last_reported > (4 << 20) {
            bytes(pos - last_reported);
            last_reported = pos;
        }
        let record_text = || {
            record
                .iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect::<Vec<_>>()
                .join(&(format.delimiter as char).to_string())
        };
        if expected_fields > 0 && record.len() != expected_fields {
            reject(Reject {
                file: name.to_string(),
                line,
                column: None,
                reason: format!(
                    "the line has {} fields, the layout expects {expected_fields}",
                    record.len()
                ),
                record: record_text(),
            })?;
            continue;
        }
        values.clear();
        row_text.clear();
        let mut failed = None;
        for (ci, c) in table.columns.iter().enumerate() {
            let Slot::Field(fi) = slots[ci] else {
                values.push(Value::Null);
                continue;
            };
            let Some(raw) = record.get(fi) else {
                failed = Some((fi, format!("the line has no field {}", fi + 1)));
                break;
            };
            match parse_value(c, raw, format, &mut row_text, &mut counts.recoded[ci]) {
                Ok(v) => values.push(v),
                Err(m) => {
                    failed = Some((fi, m));
                    break;
                }
            }
        }
        // The extra fields derived columns read, as text.
        let mut extra_text = Vec::with_capacity(extra_fields.len());
        for &fi in extra_fields.iter().filter(|_| failed.is_none()) {
            let raw = record.get(fi).unwrap_or_default();
            match text::decode(raw, format.encoding) {
                Ok(s) => {
                    let s = if format.trim { s.trim() } else { s.as_ref() };
                    extra_text.push(if format.null.iter().any(|n| n == s) {
                        None
                    } else {
                        Some(s.to_string())
                    });
                }
                Err(m) => {
                    failed = Some((fi, m));
                    break;
                }
            }
        }
        if let Some((fi, reason)) = failed {
            reject(Reject {
                file: name.to_string(),
                line,
                column: Some(field_name(fi)),
                reason,
                record: record_text(),
            })?;
            continue;
        }
        for (b, v) in builders.iter_mut().zip(&values) {
            b.append(v, &row_text);
        }
        for (b, v) in extras.iter_mut().zip(&extra_text) {
            b.append_option(v.as_deref());
        }
        lines.push(line);
        if lines.len() == BATCH_ROWS {
            let b = finish_batch(
                table,
                &mut builders,
                &mut extras,
                &derivation,
                &mut lines,
                name,
                reject,
            )?;
            emit(b)?;
        }
    }
    if !lines.is_empty() {
        let b = finish_batch(
            table,
            &mut builders,
            &mut extras,
            &derivation,
            &mut lines,
            name,
            reject,
        )?;
        emit(b)?;
    }
    let size = std::fs::metadata(path)
        .map(|m| m.len())
        .unwrap_or(last_reported);
    bytes(size.saturating_sub(last_reported));
    Ok(())
}

/// Parses one field for column `c`: decode, trim, NULL, code list, type.
fn parse_value(
    c: &ColumnLayout,
    raw: &[u8],
    format: &super::layout::Format,
    row_text: &mut String,
    recoded: &mut u64,
) -> Result<Value, String> {
    let decoded = text::decode(raw, format.encoding)?;
    let mut s: &str = if format.trim {
        decoded.trim()
    } else {
        &decoded
    };
    if format.null.iter().any(|n| n == s) {
        return if c.nullable {
            Ok(Value::Null)
        } else {
            Err(format!("is empty, but column {} may not be NULL", c.name))
        };
    }
    if let Some(codes) = &c.codes {
        match codes.get(s) {
            Some(v) => {
                if v != s {
                    *recoded += 1;
                }
                s = v.as_str();
            }
            None => {
                let mut known: Vec<&str> = codes.keys().map(String::as_str).collect();
                known.truncate(12);
                return Err(format!(
                    "code {s:?} is not in the layout's code list for {} ({}{})",
                    c.name,
                    known.join(", "),
                    if codes.len() > 12 { ", ..." } else { "" }
                ));
            }
        }
    }
    Ok(match c.data_type {
        ColumnType::Utf8 => {
            let start = row_text.len();
            row_text.push_str(s);
            Value::Str(start, row_text.len())
        }
        ColumnType::Date32 => Value::Date(text::parse_date(s, &c.date_format)?),
        ColumnType::Int32 => Value::I32(text::parse_int32(s)?),
        ColumnType::Int64 => Value::I64(text::parse_integer(s)?),
        ColumnType::Float64 => Value::F64(text::parse_float(s)?),
        ColumnType::Boolean => Value::Bool(text::parse_bool(s, format.booleans.as_ref())?),
    })
}

/// The schema derived expressions are planned against: mapped contract columns, typed, then the
/// other source fields as text.
fn eval_schema(table: &TableLayout, mapped: &[usize], names: &[String], extra: &[usize]) -> Schema {
    let mut fields: Vec<Field> = mapped
        .iter()
        .map(|&i| {
            let c = &table.columns[i];
            Field::new(c.name, c.data_type.arrow(), true)
        })
        .collect();
    fields.extend(
        extra
            .iter()
            .map(|&i| Field::new(&names[i], DataType::Utf8, true)),
    );
    Schema::new(fields)
}

fn plan_derived(
    table: &TableLayout,
    mapped: &[usize],
    names: &[String],
    extra: &[usize],
    sql: &[(usize, String)],
) -> Result<Derivation, ImportError> {
    let schema = Arc::new(eval_schema(table, mapped, names, extra));
    if sql.is_empty() {
        return Ok(Derivation {
            exprs: Vec::new(),
            schema,
        });
    }
    let df_schema = DFSchema::try_from(schema.as_ref().clone())
        .map_err(|e| ImportError::Layout(e.to_string()))?;
    let ctx = SessionContext::new();
    let mut out = Vec::new();
    for (ci, text) in sql {
        let column = table.columns[*ci].name;
        let bad = |e: datafusion::error::DataFusionError| {
            ImportError::Layout(format!(
                "[tables.{}] column {column}: expression {text:?}: {}",
                table.spec.name,
                crate::diagnostics::describe(&e)
            ))
        };
        let expr = ctx.parse_sql_expr(text, &df_schema).map_err(bad)?;
        let expr = ctx.create_physical_expr(expr, &df_schema).map_err(bad)?;
        out.push(Derived {
            column: *ci,
            sql: text.clone(),
            expr,
        });
    }
    Ok(Derivation { exprs: out, schema })
}

/// Builds the batch, computes the derived columns and rejects rows where a derived column that
/// may not be NULL came out NULL.
fn finish_batch(
    table: &TableLayout,
    builders: &mut [Builder],
    extras: &mut [StringBuilder],
    derivation: &Derivation,
    lines: &mut Vec<u64>,
    name: &str,
    reject: &mut dyn FnMut(Reject) -> Result<(), ImportError>,
) -> Result<Batch, ImportError> {
    let mut columns: Vec<ArrayRef> = builders.iter_mut().map(Builder::finish).collect();
    let extra_arrays: Vec<ArrayRef> = extras
        .iter_mut()
        .map(|b| Arc::new(b.finish()) as ArrayRef)
        .collect();
    let taken = std::mem::take(lines);
    let mut keep: Option<Vec<bool>> = None;
    if !derivation.exprs.is_empty() {
        let derived_set: Vec<usize> = derivation.exprs.iter().map(|d| d.column).collect();
        let mapped: Vec<usize> = (0..table.columns.len())
            .filter(|i| !derived_set.contains(i))
            .collect();
        let mut inputs: Vec<ArrayRef> = mapped.iter().map(|&i| columns[i].clone()).collect();
        inputs.extend(extra_arrays);
        let input = RecordBatch::try_new(derivation.schema.clone(), inputs)
            .map_err(|e| ImportError::Internal(format!("derived input batch: {e}")))?;
        for d in &derivation.exprs {
            let c = &table.columns[d.column];
            let failed = |m: String| ImportError::Source {
                file: name.to_string(),
                line: taken.first().copied().unwrap_or(0),
                column: Some(c.name.to_string()),
                message: format!(
                    "the expression {:?} failed on the batch of lines {} to {}: {m}",
                    d.sql,
                    taken.first().copied().unwrap_or(0),
                    taken.last().copied().unwrap_or(0)
                ),
            };
            let value = d
                .expr
                .evaluate(&input)
                .and_then(|v| v.into_array(input.num_rows()))
                .map_err(|e| failed(crate::diagnostics::describe(&e)))?;
            let typed = arrow::compute::cast_with_options(
                &value,
                &c.data_type.arrow(),
                &arrow::compute::CastOptions {
                    safe: false,
                    ..Default::default()
                },
            )
            .map_err(|e| failed(e.to_string()))?;
            if !c.nullable && typed.null_count() > 0 {
                let k = keep.get_or_insert_with(|| vec![true; taken.len()]);
                for (r, line) in taken.iter().enumerate() {
                    if typed.is_null(r) && k[r] {
                        k[r] = false;
                        reject(Reject {
                            file: name.to_string(),
                            line: *line,
                            column: Some(c.name.to_string()),
                            reason: format!(
                                "the expression {:?} gave NULL, but column {} may not be NULL",
                                d.sql, c.name
                            ),
                            record: String::new(),
                        })?;
                    }
                }
            }
            columns[d.column] = typed;
        }
    }
    let mut batch = RecordBatch::try_new(super::write::file_schema(table.spec), columns)
        .map_err(|e| ImportError::Internal(format!("batch of {}: {e}", table.spec.name)))?;
    let mut lines = taken;
    if let Some(k) = keep {
        let mask = arrow::array::BooleanArray::from(k.clone());
        batch = arrow::compute::filter_record_batch(&batch, &mask)
            .map_err(|e| ImportError::Internal(e.to_string()))?;
        lines = lines
            .into_iter()
            .zip(k)
            .filter(|(_, k)| *k)
            .map(|(l, _)| l)
            .collect();
    }
    Ok(Batch { batch, lines })
}
