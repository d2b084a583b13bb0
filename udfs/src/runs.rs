//! Runs of equal keys: where each begins, in columns sorted (or grouped) on their keys.
//!
//! The per-case and per-person operators (`SortedRunAggregateExec` in the engine, the entry
//! window here) find their groups by comparing each row's keys with the row before. Arrow's
//! `partition` does that through its comparison kernels, which call `memcmp` once a row for
//! text: with 13M events grouped by their 16-18 byte case identifiers, finding the runs took
//! about a tenth of the all-case pathways query's profile samples. Here text is compared in
//! line, its length (or its string view, which holds the whole of a text of up to 12 bytes)
//! first and then eight bytes at a time, and fixed-width values as values of their type. Other
//! types (booleans, floats, dictionaries, nested) go to Arrow's `partition`, a column at a
//! time, so NULLs and NaNs group as there. Measured, the calls are gone but the run finding
//! costs about what it did: its time is the loads of the offsets and the texts' first words,
//! which any comparison of neighbours makes (docs/BENCHMARK.md, the 927e564 section).

use datafusion::arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, AsArray, GenericByteArray, GenericByteViewArray,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::partition;
use datafusion::arrow::datatypes::{
    ArrowNativeType, ByteArrayType, ByteViewType, DataType, Date32Type, Date64Type, Decimal128Type,
    Int8Type, Int16Type, Int32Type, Int64Type, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use datafusion::common::{Result, exec_err};
use std::ops::Range;

/// The runs of rows whose keys are all equal, in row order (NULL equals NULL), as Arrow's
/// `partition(keys)?.ranges()` gives them. `keys` are columns of one length, at least one.
pub fn run_ranges(keys: &[ArrayRef]) -> Result<Vec<Range<usize>>> {
    let Some(rows) = keys.first().map(|k| k.len()) else {
        return exec_err!("fjq runs: no key columns");
    };
    if keys.iter().any(|k| k.len() != rows) {
        return exec_err!("fjq runs: key columns of different lengths");
    }
    if rows == 0 {
        return Ok(Vec::new());
    }
    // Bit i of `starts` (64 rows a word): row i begins a run (row 0's is implied). Set bits
    // are then found a word at a time, without a branch per row.
    let mut starts = vec![0u64; rows.div_ceil(64)];
    for key in keys {
        mark_changes(key, &mut starts, rows)?;
    }
    let mut ranges = Vec::new();
    let mut start = 0;
    for (w, &word) in starts.iter().enumerate() {
        let mut bits = word;
        while bits != 0 {
            let row = w * 64 + bits.trailing_zeros() as usize;
            ranges.push(start..row);
            start = row;
            bits &= bits - 1;
        }
    }
    ranges.push(start..rows);
    Ok(ranges)
}

/// Sets the bits of `starts` where `key`'s row differs from the row before.
fn mark_changes(key: &ArrayRef, starts: &mut [u64], rows: usize) -> Result<()> {
    macro_rules! primitive {
        ($t:ty) => {
            values(key.as_primitive::<$t>(), starts, rows)
        };
    }
    match key.data_type() {
        DataType::Utf8 => texts(key.as_string::<i32>(), starts, rows),
        DataType::LargeUtf8 => texts(key.as_string::<i64>(), starts, rows),
        DataType::Binary => texts(key.as_binary::<i32>(), starts, rows),
        DataType::LargeBinary => texts(key.as_binary::<i64>(), starts, rows),
        DataType::Utf8View => views(key.as_string_view(), starts, rows),
        DataType::BinaryView => views(key.as_binary_view(), starts, rows),
        DataType::Int8 => primitive!(Int8Type),
        DataType::Int16 => primitive!(Int16Type),
        DataType::Int32 => primitive!(Int32Type),
        DataType::Int64 => primitive!(Int64Type),
        DataType::UInt8 => primitive!(UInt8Type),
        DataType::UInt16 => primitive!(UInt16Type),
        DataType::UInt32 => primitive!(UInt32Type),
        DataType::UInt64 => primitive!(UInt64Type),
        DataType::Date32 => primitive!(Date32Type),
        DataType::Date64 => primitive!(Date64Type),
        DataType::Decimal128(_, _) => primitive!(Decimal128Type),
        DataType::Timestamp(TimeUnit::Second, _) => primitive!(TimestampSecondType),
        DataType::Timestamp(TimeUnit::Millisecond, _) => primitive!(TimestampMillisecondType),
        DataType::Timestamp(TimeUnit::Microsecond, _) => primitive!(TimestampMicrosecondType),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => primitive!(TimestampNanosecondType),
        _ => {
            for run in partition(std::slice::from_ref(key))?
                .ranges()
                .iter()
                .skip(1)
            {
                starts[run.start / 64] |= 1u64 << (run.start % 64);
            }
        }
    }
    Ok(())
}

/// Sets the bits of the rows that differ from the row before, `same(i)` telling whether the
/// values of rows i - 1 and i (both valid) are equal: a word of 64 rows at a time.
#[inline(always)]
fn mark(starts: &mut [u64], rows: usize, nulls: Option<&NullBuffer>, same: impl Fn(usize) -> bool) {
    let nulls = nulls.filter(|n| n.null_count() > 0);
    for (w, word) in starts.iter_mut().enumerate() {
        let (first, end) = ((w * 64).max(1), ((w + 1) * 64).min(rows));
        let mut bits = 0u64;
        match nulls {
            None => {
                for row in first..end {
                    bits |= u64::from(!same(row)) << (row % 64);
                }
            }
            Some(nulls) => {
                for row in first..end {
                    let (before, here) = (nulls.is_valid(row - 1), nulls.is_valid(row));
                    let differs = before != here || (here && !same(row));
                    bits |= u64::from(differs) << (row % 64);
                }
            }
        }
        *word |= bits;
    }
}

fn values<T: ArrowPrimitiveType>(
    key: &datafusion::arrow::array::PrimitiveArray<T>,
    starts: &mut [u64],
    rows: usize,
) {
    let values = key.values();
    mark(starts, rows, key.nulls(), |row| {
        values[row] == values[row - 1]
    });
}

fn texts<T: ByteArrayType>(key: &GenericByteArray<T>, starts: &mut [u64], rows: usize) {
    let offsets = key.value_offsets();
    let bytes = key.value_data();
    // Identifiers of one length (the data's case and person identifiers): neighbours are
    // compared where they lie, with no offsets to load for each row.
    let width = offsets[1].as_usize() - offsets[0].as_usize();
    let one_width = offsets
        .iter()
        .zip(&offsets[1..])
        .fold(true, |same, (a, b)| {
            same & (b.as_usize() - a.as_usize() == width)
        });
    if width > 0 && one_width {
        let texts = &bytes[offsets[0].as_usize()..offsets[rows].as_usize()];
        mark(starts, rows, key.nulls(), |row| {
            let at = row * width;
            bytes_eq(&texts[at - width..at], &texts[at..at + width])
        });
        return;
    }
    mark(starts, rows, key.nulls(), |row| {
        let (a, b, c) = (
            offsets[row - 1].as_usize(),
            offsets[row].as_usize(),
            offsets[row + 1].as_usize(),
        );
        bytes_eq(&bytes[a..b], &bytes[b..c])
    });
}

fn views<T: ByteViewType + ?Sized>(key: &GenericByteViewArray<T>, starts: &mut [u64], rows: usize) {
    let views = key.views();
    mark(starts, rows, key.nulls(), |row| {
        let (before, here) = (views[row - 1], views[row]);
        // A view's low 64 bits are the length and the first four bytes; a text of up to 12
        // bytes is all in its view (zero-padded), a longer one in a buffer the rest names.
        if before == here {
            true
        } else if before as u64 != here as u64 || here as u32 <= 12 {
            false
        } else {
            bytes_eq(key.value(row - 1).as_ref(), key.value(row).as_ref())
        }
    });
}

/// Whether two texts' bytes are equal, compared eight at a time in line: identifiers are
/// short, and a call to `memcmp` for each cost more than the comparison. (Comparing two
/// slices of eight bytes with `==` is such a call too: their length is not known in advance.)
#[inline(always)]
pub fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        return a.iter().zip(b).all(|(x, y)| x == y);
    }
    let word = |bytes: &[u8], at: usize| {
        u64::from_ne_bytes(bytes[at..at + 8].try_into().unwrap_or_default())
    };
    let mut at = 0;
    while at + 8 < n {
        if word(a, at) != word(b, at) {
            return false;
        }
        at += 8;
    }
    // The last eight bytes, overlapping those compared when the length is not a multiple.
    word(a, n - 8) == word(b, n - 8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{
        BooleanArray, Date32Array, Float64Array, Int64Array, LargeStringArray, StringArray,
        StringViewArray, TimestampMillisecondArray,
    };
    use std::sync::Arc;

    fn ranges(keys: &[ArrayRef]) -> Vec<Range<usize>> {
        run_ranges(keys).unwrap()
    }

    /// What Arrow's comparison kernels make of the same keys.
    fn arrows(keys: &[ArrayRef]) -> Vec<Range<usize>> {
        partition(keys).unwrap().ranges()
    }

    /// Identifiers as the data has them (16-18 bytes), short codes, an empty text and NULLs,
    /// each in runs of one and of several.
    fn texts() -> Vec<Option<&'static str>> {
        vec![
            None,
            None,
            Some(""),
            Some("C00000000000001A"),
            Some("C00000000000001A"),
            Some("C00000000000001B"),
            Some("C000000000000001AB"),
            Some("C000000000000001AB"),
            Some("C000000000000001AC"),
            Some("U22"),
            Some("U22"),
            Some("U2"),
            Some("C00000000000001B"),
            None,
            Some("C00000000000001B"),
        ]
    }

    /// Worked by hand from `texts`.
    const TEXT_RUNS: [Range<usize>; 11] = [
        0..2,
        2..3,
        3..5,
        5..6,
        6..8,
        8..9,
        9..11,
        11..12,
        12..13,
        13..14,
        14..15,
    ];

    #[test]
    fn texts_of_every_kind_break_where_they_change() {
        let plain: ArrayRef = Arc::new(StringArray::from(texts()));
        let large: ArrayRef = Arc::new(LargeStringArray::from(texts()));
        let views: ArrayRef = Arc::new(StringViewArray::from(texts()));
        for key in [plain, large, views] {
            assert_eq!(
                ranges(&[Arc::clone(&key)]),
                TEXT_RUNS,
                "{}",
                key.data_type()
            );
        }
    }

    #[test]
    fn long_views_in_different_places_with_the_same_bytes_are_one_run() {
        // Two copies of the same long text, each in a buffer of its own: their views differ
        // in the buffer they name, not in their bytes.
        let first = StringViewArray::from(vec!["C000000000000001AB"]);
        let second = StringViewArray::from(vec!["C000000000000001AB", "C000000000000001AC"]);
        let both = datafusion::arrow::compute::concat(&[&first, &second]).unwrap();
        let views = both.as_string_view().views();
        assert_ne!(views[0], views[1], "the two copies' views should differ");
        assert_eq!(ranges(&[both]), vec![0..2, 2..3]);
    }

    /// Texts all of one length (identifiers) are compared where they lie: runs of one and of
    /// several, texts that differ in their first, middle or last byte, lengths below and above
    /// eight bytes, NULLs, and a slice, against Arrow's comparison kernels.
    #[test]
    fn texts_of_one_length_break_where_they_change() {
        for width in [3, 8, 16, 17] {
            let text = |last: u8, first: u8| {
                let mut t = vec![b'C'; width];
                t[0] = first;
                t[width / 2] = b'M';
                t[width - 1] = last;
                String::from_utf8(t).unwrap_or_default()
            };
            let values: Vec<Option<String>> = vec![
                Some(text(b'A', b'C')),
                Some(text(b'A', b'C')),
                Some(text(b'B', b'C')),
                Some(text(b'B', b'D')),
                Some(text(b'B', b'D')),
                Some(text(b'B', b'D')),
                Some(text(b'A', b'C')),
            ];
            let mut middle = values[6].clone().unwrap_or_default().into_bytes();
            middle[width / 2] = b'N';
            let mut all = values.clone();
            all.push(Some(String::from_utf8(middle).unwrap_or_default()));
            let plain: ArrayRef = Arc::new(StringArray::from(all.clone()));
            assert_eq!(ranges(&[Arc::clone(&plain)]), arrows(&[Arc::clone(&plain)]));
            assert_eq!(
                ranges(&[plain]),
                vec![0..2, 2..3, 3..6, 6..7, 7..8],
                "width {width}"
            );
            // NULLs (here of the same length as the texts) and a slice.
            let whole = StringArray::from(all.clone());
            let valid = NullBuffer::from(vec![true, false, true, true, false, true, true, true]);
            let (offsets, bytes, _) = whole.into_parts();
            let nulls: ArrayRef = Arc::new(StringArray::new(offsets, bytes, Some(valid)));
            assert_eq!(ranges(&[Arc::clone(&nulls)]), arrows(&[Arc::clone(&nulls)]));
            let large: ArrayRef = Arc::new(LargeStringArray::from(all));
            let sliced = large.slice(2, 5);
            assert_eq!(ranges(&[sliced]), vec![0..1, 1..4, 4..5], "width {width}");
        }
    }

    #[test]
    fn sliced_columns_are_read_from_their_offset() {
        let plain: ArrayRef = Arc::new(StringArray::from(texts()));
        let views: ArrayRef = Arc::new(StringViewArray::from(texts()));
        let dates: ArrayRef = Arc::new(Date32Array::from(vec![
            None,
            Some(1),
            Some(1),
            Some(2),
            None,
            None,
        ]));
        for key in [plain.slice(3, 9), views.slice(3, 9)] {
            // Rows 3..12 of `texts`: runs 3..5, 5..6, 6..8, 8..9, 9..11, 11..12.
            assert_eq!(ranges(&[key]), vec![0..2, 2..3, 3..5, 5..6, 6..8, 8..9]);
        }
        assert_eq!(ranges(&[dates.slice(1, 5)]), vec![0..2, 2..3, 3..5]);
    }

    #[test]
    fn a_row_begins_a_run_when_any_key_changes() {
        let who: ArrayRef = Arc::new(StringArray::from(vec!["P1", "P1", "P1", "P2", "P2"]));
        let day: ArrayRef = Arc::new(Date32Array::from(vec![
            Some(10),
            Some(10),
            None,
            None,
            Some(3),
        ]));
        assert_eq!(ranges(&[who, day]), vec![0..2, 2..3, 3..4, 4..5]);
    }

    #[test]
    fn other_types_group_as_arrow_groups_them() {
        let floats: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(f64::NAN),
            Some(f64::NAN),
            Some(0.0),
            Some(-0.0),
            None,
            None,
        ]));
        let flags: ArrayRef = Arc::new(BooleanArray::from(vec![
            Some(true),
            Some(true),
            Some(true),
            None,
            None,
            Some(false),
        ]));
        let numbers: ArrayRef = Arc::new(Int64Array::from(vec![
            Some(-1),
            Some(-1),
            None,
            Some(0),
            Some(0),
            Some(0),
        ]));
        let times: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![
            Some(5),
            Some(5),
            Some(5),
            Some(6),
            None,
            Some(6),
        ]));
        for key in [&floats, &flags, &numbers, &times] {
            let key = std::slice::from_ref(key);
            assert_eq!(ranges(key), arrows(key), "{}", key[0].data_type());
        }
        let all = [floats, flags, numbers, times];
        assert_eq!(ranges(&all), arrows(&all));
    }

    #[test]
    fn no_rows_no_runs_and_no_columns_an_error() {
        let empty: ArrayRef = Arc::new(StringArray::from(Vec::<&str>::new()));
        assert!(ranges(&[empty]).is_empty());
        let error = run_ranges(&[]).unwrap_err();
        assert!(error.to_string().contains("no key columns"), "{error}");
    }
}
