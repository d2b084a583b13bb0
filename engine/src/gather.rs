//! Gathering rows from many batches in an order that jumps about memory: the key sort's output.
//!
//! Once the key sort knows its order, each output row comes from anywhere among the hundreds
//! of batches it holds, and its values are in no cache. Arrow's `interleave` reads them a row
//! at a time, and each copy of a text waits on memory: for 6.3M (person, date) rows that wait
//! was a fifth of the repeat-entries query's compute (`memmove` under `interleave_bytes`).
//! [`RowGather`] asks for the values of the row [`AHEAD`] places on (a prefetch, which never
//! faults and changes nothing) while it copies the current one, so that the memory's latency
//! overlaps the work instead of adding to it. Texts and binaries with 32- or 64-bit offsets
//! and fixed-width primitives (integers, floats, dates, times, timestamps, durations,
//! intervals and decimals of up to 16 bytes) are gathered so; other types, and all-NULL
//! columns, by `interleave`.

use datafusion::arrow::array::{
    Array, ArrayData, ArrayRef, AsArray, BooleanBufferBuilder, GenericByteArray, RecordBatch,
    make_array,
};
use datafusion::arrow::buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use datafusion::arrow::compute::interleave;
use datafusion::arrow::datatypes::{
    ArrowNativeType, BinaryType, ByteArrayType, DataType, LargeBinaryType, LargeUtf8Type,
    SchemaRef, Utf8Type,
};
use datafusion::common::{DataFusionError, Result};

/// How many rows ahead of the one being copied a gather asks for values. Measured on 3.2M
/// rows of 17-byte texts in random order: 8 ahead took the copy from 340-380 ms to 290-310,
/// 16 ahead to 235-300.
pub const AHEAD: usize = 16;

/// The columns of a set of batches, ready to gather rows from in any order.
pub struct RowGather {
    schema: SchemaRef,
    columns: Vec<Source>,
    /// Each column's validity in each batch, found once; `None` where no batch holds a NULL.
    nulls: Vec<Option<Vec<Option<NullBuffer>>>>,
}

/// One column across the batches.
enum Source {
    /// Fixed-width values: each batch's array data (its buffers and offset), and the width.
    Fixed { data: Vec<ArrayData>, width: usize },
    /// Texts or binaries, by their Arrow type.
    Bytes(Vec<ArrayRef>),
    /// Anything else: Arrow's `interleave`.
    Other(Vec<ArrayRef>),
}

impl RowGather {
    pub fn new(schema: SchemaRef, batches: &[RecordBatch]) -> RowGather {
        let columns = (0..schema.fields().len())
            .map(|c| {
                let arrays: Vec<ArrayRef> = batches.iter().map(|b| b.column(c).clone()).collect();
                let data_type = schema.field(c).data_type();
                let width = data_type
                    .primitive_width()
                    .filter(|w| [1, 2, 4, 8, 16].contains(w));
                match (data_type, width) {
                    (t, Some(width)) if t.is_primitive() => Source::Fixed {
                        data: arrays.iter().map(|a| a.to_data()).collect(),
                        width,
                    },
                    (
                        DataType::Utf8
                        | DataType::LargeUtf8
                        | DataType::Binary
                        | DataType::LargeBinary,
                        _,
                    ) => Source::Bytes(arrays),
                    _ => Source::Other(arrays),
                }
            })
            .collect();
        let nulls = (0..schema.fields().len())
            .map(|c| {
                let nulls: Vec<Option<NullBuffer>> = batches
                    .iter()
                    .map(|b| b.column(c).nulls().filter(|n| n.null_count() > 0).cloned())
                    .collect();
                nulls.iter().any(Option::is_some).then_some(nulls)
            })
            .collect();
        RowGather {
            schema,
            columns,
            nulls,
        }
    }

    /// The rows at `at` (batch, row in the batch), in that order, as one batch.
    pub fn gather(&self, at: &[(usize, usize)]) -> Result<RecordBatch> {
        let columns = self
            .schema
            .fields()
            .iter()
            .zip(&self.columns)
            .zip(&self.nulls)
            .map(|((field, source), nulls)| match source {
                Source::Fixed { data, width } => {
                    gather_fixed(field.data_type(), data, *width, at, nulls.as_deref())
                }
                Source::Bytes(arrays) => {
                    let nulls = nulls.as_deref();
                    match field.data_type() {
                        DataType::Utf8 => gather_bytes::<Utf8Type>(arrays, at, nulls),
                        DataType::LargeUtf8 => gather_bytes::<LargeUtf8Type>(arrays, at, nulls),
                        DataType::Binary => gather_bytes::<BinaryType>(arrays, at, nulls),
                        _ => gather_bytes::<LargeBinaryType>(arrays, at, nulls),
                    }
                }
                Source::Other(arrays) => {
                    let arrays: Vec<&dyn Array> = arrays.iter().map(|a| a.as_ref()).collect();
                    Ok(interleave(&arrays, at)?)
                }
            })
            .collect::<Result<Vec<ArrayRef>>>()?;
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

/// Asks the processor to bring `value`'s cache line in; no effect on what the program computes.
#[inline(always)]
pub fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing into the program and never faults, for any address;
    // this one is of a live reference. SSE, which it needs, is part of every x86-64 processor.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>((value as *const T).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// The validity of the rows at `at`, given each batch's (`None`: no NULLs in any batch).
fn gathered_nulls(
    nulls: Option<&[Option<NullBuffer>]>,
    at: &[(usize, usize)],
) -> Option<NullBuffer> {
    let nulls = nulls?;
    let mut valid = BooleanBufferBuilder::new(at.len());
    for &(b, r) in at {
        valid.append(nulls[b].as_ref().is_none_or(|n| n.is_valid(r)));
    }
    Some(NullBuffer::new(valid.finish())).filter(|n| n.null_count() > 0)
}

fn gather_fixed(
    data_type: &DataType,
    data: &[ArrayData],
    width: usize,
    at: &[(usize, usize)],
    nulls: Option<&[Option<NullBuffer>]>,
) -> Result<ArrayRef> {
    let values = match width {
        1 => words::<u8>(data, at),
        2 => words::<u16>(data, at),
        4 => words::<u32>(data, at),
        8 => words::<u64>(data, at),
        _ => words::<i128>(data, at),
    };
    let nulls = gathered_nulls(nulls, at);
    let gathered = ArrayData::builder(data_type.clone())
        .len(at.len())
        .add_buffer(values)
        .nulls(nulls)
        .build()?;
    Ok(make_array(gathered))
}

/// The values at `at` of fixed-width arrays, as words of their width.
fn words<W: ArrowNativeType>(data: &[ArrayData], at: &[(usize, usize)]) -> Buffer {
    let values: Vec<&[W]> = data.iter().map(|d| d.buffer::<W>(0)).collect();
    let mut out = Vec::with_capacity(at.len());
    for (i, &(b, r)) in at.iter().enumerate() {
        if let Some(value) = at.get(i + AHEAD).and_then(|&(b, r)| values[b].get(r)) {
            prefetch(value);
        }
        out.push(values[b][r]);
    }
    Buffer::from_vec(out)
}

/// The texts or binaries at `at`: where each one's bytes are first (asking for the offsets
/// ahead), then their bytes (asking for the bytes ahead, from the places just found, so that
/// the asking does not itself wait on the offsets).
fn gather_bytes<T: ByteArrayType>(
    arrays: &[ArrayRef],
    at: &[(usize, usize)],
    nulls: Option<&[Option<NullBuffer>]>,
) -> Result<ArrayRef> {
    let arrays: Vec<&GenericByteArray<T>> = arrays.iter().map(|a| a.as_bytes::<T>()).collect();
    let offsets_of: Vec<&[T::Offset]> = arrays.iter().map(|a| a.value_offsets()).collect();
    let mut spans = Vec::with_capacity(at.len());
    let mut offsets = Vec::with_capacity(at.len() + 1);
    offsets.push(T::Offset::usize_as(0));
    let mut length = 0usize;
    for (i, &(b, r)) in at.iter().enumerate() {
        if let Some(offset) = at.get(i + AHEAD).and_then(|&(b, r)| offsets_of[b].get(r)) {
            prefetch(offset);
        }
        let (start, end) = (offsets_of[b][r].as_usize(), offsets_of[b][r + 1].as_usize());
        spans.push((start, end));
        length += end - start;
        offsets.push(T::Offset::from_usize(length).ok_or_else(|| {
            DataFusionError::Execution(format!(
                "fjq key sort: {length} bytes of text in one output batch are more than its type holds"
            ))
        })?);
    }
    // Written in place rather than appended: a call to `memcpy` for each identifier of 16 or
    // 17 bytes cost more than the copy (a third of the gather's time in the linked queries).
    let mut values = vec![0u8; length];
    let mut written = 0;
    for (i, (&(b, _), &(start, end))) in at.iter().zip(&spans).enumerate() {
        if let Some(byte) = at
            .get(i + AHEAD)
            .zip(spans.get(i + AHEAD))
            .and_then(|(&(b, _), &(start, _))| arrays[b].value_data().get(start))
        {
            prefetch(byte);
        }
        let n = end - start;
        copy_in_line(
            &mut values[written..written + n],
            &arrays[b].value_data()[start..end],
        );
        written += n;
    }
    let nulls = gathered_nulls(nulls, at);
    // The offsets rise by construction; for texts, `try_new` checks the bytes are UTF-8 once
    // for the whole batch (fast for the ASCII of codes and identifiers).
    let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
    Ok(std::sync::Arc::new(GenericByteArray::<T>::try_new(
        offsets,
        Buffer::from_vec(values),
        nulls,
    )?))
}

/// Copies `from` into `to` (of its length): a text of 8 to 64 bytes in words of eight, the
/// last overlapping the one before, in line. A call to `memcpy` for each row's identifier
/// cost more than the copy.
#[inline(always)]
pub(crate) fn copy_in_line(to: &mut [u8], from: &[u8]) {
    let n = from.len();
    if !(8..=64).contains(&n) || to.len() != n {
        to.copy_from_slice(from);
        return;
    }
    let mut word = |at: usize| {
        let bytes: [u8; 8] = from[at..at + 8].try_into().unwrap_or_default();
        to[at..at + 8].copy_from_slice(&bytes);
    };
    let mut at = 0;
    while at + 8 < n {
        word(at);
        at += 8;
    }
    word(n - 8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{
        BinaryArray, Date32Array, Decimal128Array, DictionaryArray, Float64Array, Int8Array,
        Int64Array, LargeStringArray, StringArray, StringViewArray, TimestampMicrosecondArray,
    };
    use datafusion::arrow::compute::interleave_record_batch;
    use datafusion::arrow::datatypes::{Field, Int32Type, Schema, TimeUnit};
    use std::sync::Arc;

    /// Three batches of every kind of column the gather handles itself, with NULLs, and one
    /// it hands to `interleave` (a dictionary), some sliced so that their offsets are not zero.
    fn batches() -> (SchemaRef, Vec<RecordBatch>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("text", DataType::Utf8, true),
            Field::new("large", DataType::LargeUtf8, true),
            Field::new("bin", DataType::Binary, true),
            Field::new("small", DataType::Int8, true),
            Field::new("big", DataType::Int64, false),
            Field::new("day", DataType::Date32, true),
            Field::new("real", DataType::Float64, true),
            Field::new("at", DataType::Timestamp(TimeUnit::Microsecond, None), true),
            Field::new("amount", DataType::Decimal128(12, 2), true),
            Field::new("view", DataType::Utf8View, true),
            Field::new(
                "code",
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                true,
            ),
        ]));
        let batch = |base: i64, rows: usize| {
            let n = |i: usize| base + i as i64;
            let text =
                |i: usize| (i % 4 != 1).then(|| format!("P{:016x}-{}", n(i), "é".repeat(i % 3)));
            let columns: Vec<ArrayRef> = vec![
                Arc::new((0..rows).map(text).collect::<StringArray>()),
                Arc::new((0..rows).map(text).collect::<LargeStringArray>()),
                Arc::new(BinaryArray::from_iter((0..rows).map(|i| {
                    (i % 5 != 2).then(|| n(i).to_be_bytes()[..(i % 8) + 1].to_vec())
                }))),
                Arc::new(
                    (0..rows)
                        .map(|i| (i % 3 != 0).then_some(n(i) as i8))
                        .collect::<Int8Array>(),
                ),
                Arc::new((0..rows).map(n).collect::<Int64Array>()),
                Arc::new(
                    (0..rows)
                        .map(|i| (i % 7 != 3).then_some(n(i) as i32))
                        .collect::<Date32Array>(),
                ),
                Arc::new(
                    (0..rows)
                        .map(|i| (i % 2 == 0).then_some(n(i) as f64 / 3.0))
                        .collect::<Float64Array>(),
                ),
                Arc::new(
                    (0..rows)
                        .map(|i| (i % 6 != 5).then_some(n(i) * 1_000_003))
                        .collect::<TimestampMicrosecondArray>(),
                ),
                Arc::new(
                    (0..rows)
                        .map(|i| (i % 4 != 0).then_some(i128::from(n(i)) * 101))
                        .collect::<Decimal128Array>()
                        .with_precision_and_scale(12, 2)
                        .unwrap(),
                ),
                Arc::new((0..rows).map(text).collect::<StringViewArray>()),
                Arc::new(
                    (0..rows)
                        .map(|i| (i % 5 != 0).then(|| ["C1", "C100", "G63"][i % 3]))
                        .collect::<DictionaryArray<Int32Type>>(),
                ),
            ];
            RecordBatch::try_new(schema.clone(), columns).unwrap()
        };
        let batches = vec![
            batch(0, 40).slice(3, 30),
            batch(1000, 57),
            batch(5000, 120).slice(50, 61),
        ];
        (schema, batches)
    }

    /// Every row once, in an order that jumps between batches: more rows than [`AHEAD`], so the
    /// prefetches reach past the end.
    fn order(batches: &[RecordBatch]) -> Vec<(usize, usize)> {
        let mut at: Vec<(usize, usize)> = batches
            .iter()
            .enumerate()
            .flat_map(|(b, batch)| (0..batch.num_rows()).map(move |r| (b, r)))
            .collect();
        // A fixed shuffle: multiply by a number prime to the length.
        let n = at.len();
        at = (0..n).map(|i| at[(i * 37 + 11) % n]).collect();
        at
    }

    #[test]
    fn gathers_the_rows_interleave_gathers() {
        let (schema, batches) = batches();
        let at = order(&batches);
        let gather = RowGather::new(schema, &batches);
        let refs: Vec<&RecordBatch> = batches.iter().collect();
        // Arrow's own interleave is the oracle, row by row and column by column.
        let expected = interleave_record_batch(&refs, &at).unwrap();
        for range in [0..at.len(), 0..1, 5..5 + AHEAD, 20..at.len()] {
            let got = gather.gather(&at[range.clone()]).unwrap();
            assert_eq!(
                got,
                expected.slice(range.start, range.len()),
                "rows {range:?}"
            );
        }
        assert!(gather.gather(&[]).unwrap().num_rows() == 0);
    }
}
