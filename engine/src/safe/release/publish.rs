//! The table as published: the user's columns, suppressed cells' measures NULL, counts rounded,
//! and the cells no row reached filled in.

use super::cells::CellTable;
use crate::Result;
use crate::safe::analyze::{Analysis, OutputColumn};
use crate::safe::{NULL_MEANING, NULL_SUPPRESSED, NULL_TOTAL};
use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use fjq_udfs::disclosure::rules::round_half_up_i64;
use fjq_udfs::disclosure::{MeasureKind, Rules};
use std::collections::HashMap;
use std::sync::Arc;

/// The user's columns with suppressed cells' measures NULL and counts rounded; completed cells
/// carry their dimension values (taken from a row with the same level) and a zero or NULL.
pub(crate) fn published_batch(
    analysis: &Analysis,
    batch: &RecordBatch,
    cells: &CellTable,
    suppressed: &[bool],
    rules: &Rules,
) -> Result<(SchemaRef, RecordBatch)> {
    let rows = &cells.rows;
    // What a NULL means, on each column that has one meaning: a measure's NULL is a suppressed
    // cell; a dimension's is the total over it, unless the dimension has a NULL level too.
    let fields: Vec<Field> = analysis
        .schema
        .fields()
        .iter()
        .zip(&analysis.columns)
        .map(|(f, origin)| {
            let meaning = match origin {
                OutputColumn::Measure(_) => Some(NULL_SUPPRESSED),
                OutputColumn::Dimension(d) if !cells.levels[*d].iter().any(|l| l == "NULL") => {
                    Some(NULL_TOTAL)
                }
                OutputColumn::Dimension(_) => None,
            };
            let field = f.as_ref().clone().with_nullable(true);
            match meaning {
                Some(m) => {
                    field.with_metadata(HashMap::from([(NULL_MEANING.to_string(), m.to_string())]))
                }
                None => field,
            }
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let dims = analysis.dimensions.len();
    // A source row for each (dimension, level), to copy the typed value from.
    let mut example: HashMap<(usize, u32), usize> = HashMap::new();
    for r in rows {
        if let Some(src) = r.source {
            for d in 0..dims {
                if let Some(l) = r.key[d] {
                    example.entry((d, l)).or_insert(src);
                }
            }
        }
    }
    let base = i64::try_from(rules.rounding_base).unwrap_or(1);
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (c, origin) in analysis.columns.iter().enumerate() {
        let source = batch.column(c);
        let data_type = source.data_type();
        let mut values = Vec::with_capacity(rows.len());
        for (i, r) in rows.iter().enumerate() {
            let v = match (origin, r.source) {
                (OutputColumn::Dimension(_), Some(src)) => {
                    ScalarValue::try_from_array(source, src)?
                }
                (OutputColumn::Dimension(d), None) => {
                    match r.key[*d].and_then(|l| example.get(&(*d, l))) {
                        Some(&src) => ScalarValue::try_from_array(source, src)?,
                        None => ScalarValue::try_from(data_type)?,
                    }
                }
                (OutputColumn::Measure(_), _) if suppressed[i] => ScalarValue::try_from(data_type)?,
                (OutputColumn::Measure(m), Some(src)) => {
                    let v = ScalarValue::try_from_array(source, src)?;
                    if analysis.measures[*m].kind == MeasureKind::Count {
                        round_count(v, base)
                    } else {
                        v
                    }
                }
                (OutputColumn::Measure(m), None) => {
                    if analysis.measures[*m].kind == MeasureKind::Count {
                        ScalarValue::Int64(Some(0)).cast_to(data_type)?
                    } else {
                        ScalarValue::try_from(data_type)?
                    }
                }
            };
            values.push(v);
        }
        let array = if values.is_empty() {
            datafusion::arrow::array::new_empty_array(data_type)
        } else {
            ScalarValue::iter_to_array(values)?
        };
        columns.push(array);
    }
    Ok((schema.clone(), RecordBatch::try_new(schema, columns)?))
}

fn round_count(v: ScalarValue, base: i64) -> ScalarValue {
    match v {
        ScalarValue::Int64(Some(n)) => ScalarValue::Int64(Some(round_half_up_i64(n, base))),
        ScalarValue::Int32(Some(n)) => {
            ScalarValue::Int32(Some(round_half_up_i64(i64::from(n), base) as i32))
        }
        ScalarValue::UInt64(Some(n)) => ScalarValue::UInt64(Some(round_half_up_i64(
            i64::try_from(n).unwrap_or(i64::MAX),
            base,
        ) as u64)),
        other => other,
    }
}
