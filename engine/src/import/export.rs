//! Writing a dataset as a layout's delimited export: the inverse of the import, so the import
//! can be tested end to end. `fjq generate --export DIR` writes a generated dataset as the SAIL
//! layout's Db2 DEL files (its names, its codes, its date format, Windows-1252, CHAR codes padded
//! with spaces), or as any other layout's files. A derived column is not written: the layout
//! computes it again on the way in. A source field no column reads is written empty.

use super::ImportError;
use super::layout::{Kind, Layout, Source, TableLayout};
use super::text;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Date32Type, Float64Type, Int32Type, Int64Type};
use fjq_contract::ColumnType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// What one output field holds.
struct OutField {
    /// The contract column written there, if any.
    column: Option<usize>,
    /// Contract value -> source code, for columns with a code list.
    inverse: Option<BTreeMap<String, String>>,
    /// Width codes are padded to (Db2 CHAR columns).
    pad: usize,
}

/// The fields a table's files hold, in order.
fn out_fields(table: &TableLayout) -> (Vec<String>, Vec<OutField>) {
    let names: Vec<String> = match &table.fields {
        Some(f) => f.clone(),
        None => {
            let width = table.positional_width();
            if width > 0 {
                (1..=width).map(|i| format!("field{i}")).collect()
            } else {
                table
                    .columns
                    .iter()
                    .filter_map(|c| match &c.source {
                        Source::Name(n) => Some(n.clone()),
                        _ => None,
                    })
                    .collect()
            }
        }
    };
    let fields = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let column = table.columns.iter().position(|c| match &c.source {
                Source::Name(n) => n == name,
                Source::Position(p) => *p == i,
                Source::Expr(_) => false,
            });
            let codes = column.and_then(|c| table.columns[c].codes.as_ref());
            let inverse = codes.map(|codes| {
                let mut inv = BTreeMap::new();
                for (code, value) in codes {
                    inv.entry(value.clone()).or_insert_with(|| code.clone());
                }
                inv
            });
            let pad = match (table.format.kind, codes) {
                (Kind::Del, Some(codes)) if table.format.trim => {
                    codes.keys().map(|k| k.chars().count()).max().unwrap_or(0)
                }
                _ => 0,
            };
            OutField {
                column,
                inverse,
                pad,
            }
        })
        .collect();
    (names, fields)
}

/// The name of the `part`-th file of a table: the pattern's first `*` replaced by the stamp and
/// the part number.
fn file_name(pattern: &str, stamp: &str, part: usize) -> String {
    let filled = format!("{stamp}_{:03}", part + 1);
    pattern
        .replacen('*', &filled, 1)
        .replace('*', "")
        .replace('?', "0")
}

/// Writes every table of `layout` from the dataset in `data_dir` into `out` (created).
/// Returns the files written with their rows.
pub fn export(
    layout: &Layout,
    data_dir: &Path,
    out: &Path,
    stamp: &str,
) -> Result<Vec<(PathBuf, u64)>, ImportError> {
    std::fs::create_dir_all(out).map_err(|source| ImportError::Io {
        action: "create",
        path: out.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    for table in &layout.tables {
        let dir = data_dir.join(table.spec.name);
        let mut parts: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|source| ImportError::Io {
                action: "read the folder",
                path: dir.clone(),
                source,
            })?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
            .collect();
        parts.sort();
        let (names, fields) = out_fields(table);
        for (part, input) in parts.iter().enumerate() {
            let path = out.join(file_name(&table.files, stamp, part));
            let rows = export_file(table, input, &path, &names, &fields)?;
            written.push((path, rows));
        }
    }
    Ok(written)
}

fn export_file(
    table: &TableLayout,
    input: &Path,
    path: &Path,
    names: &[String],
    fields: &[OutField],
) -> Result<u64, ImportError> {
    let read_error = |e: String| {
        ImportError::Write(
            path.to_path_buf(),
            format!("reading {}: {e}", input.display()),
        )
    };
    let file = File::open(input).map_err(|source| ImportError::Io {
        action: "read",
        path: input.to_path_buf(),
        source,
    })?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.with_batch_size(64 * 1024).build())
        .map_err(|e| read_error(e.to_string()))?;
    let out = File::create(path).map_err(|source| ImportError::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    })?;
    let mut w = BufWriter::with_capacity(1 << 20, out);
    let io = |source| ImportError::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    };
    let format = &table.format;
    let mut line = String::new();
    if format.header {
        line = names
            .iter()
            .map(|n| quoted(n, format.quote))
            .collect::<Vec<_>>()
            .join(&(format.delimiter as char).to_string());
        line.push('\n');
        write_encoded(&mut w, &line, format.encoding, path).map_err(|e| e.with_io(io))?;
    }
    let mut rows = 0u64;
    for batch in reader {
        let batch: RecordBatch = batch.map_err(|e| read_error(e.to_string()))?;
        // Columns by contract name (the files hold the contract's columns).
        let columns: Vec<Option<&dyn Array>> = table
            .columns
            .iter()
            .map(|c| batch.column_by_name(c.name).map(|a| a.as_ref()))
            .collect();
        for r in 0..batch.num_rows() {
            line.clear();
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    line.push(format.delimiter as char);
                }
                let Some(ci) = f.column else { continue };
                let c = &table.columns[ci];
                let Some(array) = columns[ci] else { continue };
                if array.is_null(r) {
                    line.push_str(format.null.first().map(String::as_str).unwrap_or(""));
                    continue;
                }
                let value: String = match c.data_type {
                    ColumnType::Utf8 => array.as_string::<i32>().value(r).to_string(),
                    ColumnType::Date32 => {
                        let mut s = String::new();
                        text::format_date(
                            array.as_primitive::<Date32Type>().value(r),
                            &c.date_format,
                            &mut s,
                        );
                        s
                    }
                    ColumnType::Int32 => array.as_primitive::<Int32Type>().value(r).to_string(),
                    ColumnType::Int64 => array.as_primitive::<Int64Type>().value(r).to_string(),
                    ColumnType::Float64 => {
                        let v = array.as_primitive::<Float64Type>().value(r);
                        // Db2 writes decimals with their sign.
                        if format.kind == Kind::Del && v >= 0.0 {
                            format!("+{v}")
                        } else {
                            format!("{v}")
                        }
                    }
                    ColumnType::Boolean => {
                        let v = array.as_boolean().value(r);
                        match (&f.inverse, &format.booleans) {
                            (Some(_), _) => v.to_string(),
                            (None, Some([t, f])) => {
                                if v {
                                    t.clone()
                                } else {
                                    f.clone()
                                }
                            }
                            (None, None) => v.to_string(),
                        }
                    }
                };
                let value = match &f.inverse {
                    Some(inv) => match inv.get(&value) {
                        Some(code) => code.clone(),
                        None => {
                            return Err(ImportError::Write(
                                path.to_path_buf(),
                                format!(
                                    "{}.{} holds {value:?}, which the layout's code list does not name",
                                    table.spec.name, c.name
                                ),
                            ));
                        }
                    },
                    None => value,
                };
                let padded = if f.pad > value.chars().count() {
                    format!("{value:<width$}", width = f.pad)
                } else {
                    value
                };
                match c.data_type {
                    ColumnType::Utf8 => line.push_str(&quoted(&padded, format.quote)),
                    ColumnType::Boolean if f.inverse.is_some() => {
                        line.push_str(&quoted(&padded, format.quote))
                    }
                    _ => line.push_str(&padded),
                }
            }
            line.push('\n');
            write_encoded(&mut w, &line, format.encoding, path).map_err(|e| e.with_io(io))?;
            rows += 1;
        }
    }
    w.flush().map_err(io)?;
    Ok(rows)
}

fn quoted(s: &str, quote: u8) -> String {
    let q = quote as char;
    let mut out = String::with_capacity(s.len() + 2);
    out.push(q);
    for ch in s.chars() {
        if ch == q {
            out.push(q);
        }
        out.push(ch);
    }
    out.push(q);
    out
}

enum EncodeError {
    Io(std::io::Error),
    Unencodable(ImportError),
}

impl EncodeError {
    fn with_io(self, io: impl Fn(std::io::Error) -> ImportError) -> ImportError {
        match self {
            EncodeError::Io(e) => io(e),
            EncodeError::Unencodable(e) => e,
        }
    }
}

fn write_encoded(
    w: &mut impl Write,
    line: &str,
    encoding: super::layout::Encoding,
    path: &Path,
) -> Result<(), EncodeError> {
    let bytes = text::encode(line, encoding)
        .map_err(|m| EncodeError::Unencodable(ImportError::Write(path.to_path_buf(), m)))?;
    w.write_all(&bytes).map_err(EncodeError::Io)
}
