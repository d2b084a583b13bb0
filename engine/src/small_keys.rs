//! Partial aggregation over keys that fit in machine words: integers, dates, booleans and
//! code texts.
//!
//! The research tables group by a few categorical columns (`dfj_area`, `case_type`, `region`,
//! event codes) and by years and dates. DataFusion finds each row's group by hashing its key
//! values into a table of key columns and comparing them column by column. Here each key value
//! becomes a 128-bit word (a number as itself, a text of up to 12 bytes as its string view, a
//! longer text as its number in a table of the texts seen), and each key column numbers its
//! words in the order first seen (`ColumnValues`): a column of years or days through a table
//! indexed by the value (a column without NULLs in two tight passes over its values), a long
//! text through a table indexed by its offset in a dictionary's buffer, other words through a
//! small open-addressed table probed inline; a text column's rows first through a table of the
//! views its array has shown. A key computed from one integer or date column (the year of a
//! date) is numbered through a memo by that column's value (`DerivedKey`), its expression
//! evaluated once per value. A row's group is then one cell of a table indexed by its columns'
//! numbers side by side (`Groups`), or, once the numbers are too many for such a table, one
//! lookup of them packed in a word.
//!
//! Only the partial phase of an aggregation is replaced ([`SmallKeysRule`]): it may emit its
//! groups at any time, so when the table grows past [`FLUSH_GROUPS`] groups or the memory pool
//! refuses more, it emits them all and starts again; the final phase merges. When the first
//! rows show that grouping hardly reduces them (DataFusion's own test, more groups than
//! `skip_partial_aggregation_probe_ratio_threshold` of the rows, made from 8,192 rows on or
//! after `skip_partial_aggregation_probe_rows_threshold` if that is fewer), it passes each later
//! row on as its own partial state, as DataFusion does.
//!
//! Text keys must be string views, as fjq registers its code columns: plain strings are its
//! identifiers and computed texts, many long values that DataFusion groups faster
//! ([`word_type`]). On by default; `SET fjq.small_key_aggregation = false` leaves every partial
//! aggregate DataFusion's (docs/DECISIONS.md has the measurements).

use crate::sorted_aggregate::{
    Aggregation, GroupFinder, Grouping, OwnAggregateExec, OwnAggregateRule, plain_grouping,
};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch, StringViewArray,
    StringViewBuilder, UInt64Array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Date32Type, Int32Type, Int64Type, Schema, SchemaRef};
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{HashMap, Result, exec_err};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::EmitTo;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::utils::collect_columns;
use datafusion::physical_expr_common::physical_expr::is_volatile;
use datafusion::physical_plan::InputOrderMode;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use fjq_udfs::FjqOptions;
use fjq_udfs::views::slot_of_view;
use std::borrow::Cow;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// Groups a partial aggregate holds before it emits them all and starts again.
pub const FLUSH_GROUPS: usize = 1 << 20;

/// Rows after which the reduction is first judged, if DataFusion's probe comes later. Long texts
/// cost an allocation each to number, so grouping 100,000 rows of distinct person identifiers
/// before giving up (DataFusion's default probe) took 0.19 s of the crosstab's partial phase,
/// against 10 ms when judged after 8,192; a grouping that reduces its rows shows it by then.
const EARLY_PROBE_ROWS: usize = 8192;

/// The word of a NULL key value, of any type.
const NULL: u128 = u128::MAX;
/// The low 32 bits of a long text's word (a short text's hold its length, 0 to 12); the text's
/// number in the table of long texts follows.
const LONG_TEXT: u128 = 0xFFFF_FFFE;

/// Replaces partial aggregates over word-sized keys with [`SmallKeyAggregateExec`].
pub type SmallKeysRule = OwnAggregateRule<BySmallKeys>;

/// A partial `AggregateExec` whose keys are found as words.
pub type SmallKeyAggregateExec = OwnAggregateExec<BySmallKeys>;

/// Grouping by keys made of words.
#[derive(Debug)]
pub struct BySmallKeys;

impl GroupFinder for BySmallKeys {
    const NAME: &'static str = "SmallKeyAggregateExec";
    const RULE: &'static str = "fjq_small_key_aggregation";

    fn switched_on(options: &FjqOptions) -> bool {
        options.small_key_aggregation
    }

    /// A partial aggregate over unordered input (ordered input is `SortedRunAggregateExec`'s or
    /// DataFusion's), with one to four keys of the types [`word_type`] takes.
    fn applies(aggregate: &AggregateExec) -> Result<bool> {
        Ok(aggregate.group_expr().expr().len() <= 4
            && plain_grouping(
                aggregate,
                &[AggregateMode::Partial],
                InputOrderMode::Linear,
                word_type,
            )?)
    }

    fn start(aggregation: Aggregation, context: &TaskContext) -> Result<Box<dyn Grouping>> {
        let options = &context.session_config().options().execution;
        let types = aggregation
            .schema()
            .fields()
            .iter()
            .take(aggregation.key_count())
            .map(|f| f.data_type().clone())
            .collect::<Vec<_>>();
        let input = aggregation.input_schema();
        let derived = aggregation
            .group_exprs()
            .iter()
            .map(|expr| DerivedKey::over(expr, &input))
            .collect::<Result<_>>()?;
        Ok(Box::new(SmallKeys {
            aggregation,
            derived,
            groups: Groups::new(types.len()),
            types,
            long_texts: LongTexts::default(),
            probe_rows: options.skip_partial_aggregation_probe_rows_threshold,
            probe_ratio: options.skip_partial_aggregation_probe_ratio_threshold,
            rows_seen: 0,
            passing_through: false,
        }))
    }
}

/// Key types whose values are numbered without hashing their bytes: integers of up to 64 bits,
/// dates and booleans (a word each), and string views (a short text is its view; a long one,
/// decoded from a Parquet dictionary, is found by its offset in the dictionary's buffer).
///
/// Plain strings are fjq's identifiers (`case_id`, `person_id`: `crate::result_types`) and
/// texts computed per row (pathways, journeys): keys of many values, each long, which this
/// grouping would copy and hash once per value. Grouping 4.4M rows by `case_id` (1M groups, in
/// case_journey) took it 2.05 s of compute against DataFusion's 0.72 s, so they stay DataFusion's.
fn word_type(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Date32
            | DataType::Boolean
            | DataType::Utf8View
    )
}

/// One partition's partial aggregation.
struct SmallKeys {
    aggregation: Aggregation,
    /// Per key, how it is found from one column's values, if it is computed from one.
    derived: Vec<Option<DerivedKey>>,
    /// The key columns' types, as the output has them.
    types: Vec<DataType>,
    groups: Groups,
    long_texts: LongTexts,
    probe_rows: usize,
    probe_ratio: f64,
    rows_seen: usize,
    /// Grouping does not pay: each row goes on as its own group.
    passing_through: bool,
}

impl Grouping for SmallKeys {
    fn add(&mut self, batch: &RecordBatch) -> Result<Vec<RecordBatch>> {
        if batch.num_rows() == 0 {
            return Ok(Vec::new());
        }
        if self.passing_through {
            let keys = self.aggregation.keys(batch)?;
            return self
                .aggregation
                .convert(keys, batch)
                .map(|batch| vec![batch]);
        }
        let rows = batch.num_rows();
        let mut numbers = Vec::with_capacity(self.derived.len());
        for (k, values) in self.groups.columns.iter_mut().enumerate() {
            let mut column = Vec::with_capacity(rows);
            let found = match &mut self.derived[k] {
                Some(derived) => {
                    derived.number(batch, values, &mut self.long_texts, &mut column)?
                }
                None => false,
            };
            if !found {
                let key = self.aggregation.group_exprs()[k].evaluate(batch)?;
                let key = key.into_array(rows)?;
                number_key(&key, values, &mut self.long_texts, &mut column)?;
            }
            numbers.push(column);
        }
        let group_indices = self.groups.intern(&numbers);
        self.aggregation
            .update(batch, &group_indices, self.groups.len(), None)?;
        self.rows_seen += batch.num_rows();
        let probed = self.rows_seen >= self.probe_rows.min(EARLY_PROBE_ROWS);
        if probed
            && self.aggregation.converts_rows()
            && self.groups.len() as f64 > self.probe_ratio * self.rows_seen as f64
        {
            self.passing_through = true;
            return self.emit_all().map(Vec::from_iter);
        }
        if self.groups.len() >= FLUSH_GROUPS {
            return self.emit_all().map(Vec::from_iter);
        }
        let memos: usize = self.derived.iter().flatten().map(DerivedKey::size).sum();
        let held = self.groups.size() + self.long_texts.size() + memos;
        match self.aggregation.reserve(held) {
            Ok(()) => Ok(Vec::new()),
            // The pool is full: what this phase holds goes on to the final phase now.
            Err(_) => self.emit_all().map(Vec::from_iter),
        }
    }

    fn finish(&mut self) -> Result<Option<RecordBatch>> {
        let out = self.emit_all()?;
        self.aggregation.free();
        Ok(out)
    }
}

impl SmallKeys {
    /// Emits every group and empties the table.
    fn emit_all(&mut self) -> Result<Option<RecordBatch>> {
        if self.groups.len() == 0 {
            return Ok(None);
        }
        let keys = self.groups.take_keys();
        let columns = self
            .types
            .iter()
            .zip(keys)
            .map(|(data_type, words)| self.long_texts.array(words.into_iter(), data_type))
            .collect::<Result<Vec<_>>>()?;
        let batch = self.aggregation.emit(columns, EmitTo::All)?;
        self.long_texts.clear();
        // The memos hold numbers of the values just emitted.
        self.derived
            .iter_mut()
            .flatten()
            .for_each(DerivedKey::clear);
        self.aggregation.reserve(0)?;
        Ok(Some(batch))
    }
}

/// Each row's number for a key column of any type [`word_type`] takes.
fn number_key(
    key: &ArrayRef,
    values: &mut ColumnValues,
    long_texts: &mut LongTexts,
    out: &mut Vec<u32>,
) -> Result<()> {
    match key.data_type() {
        DataType::Utf8View => number_views(key.as_string_view(), long_texts, values, out),
        _ => match int_words(key.as_ref()) {
            Some(words) if values.number_ints(&words, out) => {}
            _ => values.number_words(&long_texts.words(key.as_ref())?, out),
        },
    }
    Ok(())
}

/// A key computed from one integer or date column (the year of a date, say), found through a
/// memo of its number by the column's value: the expression is evaluated once per value the
/// column takes, not once per row. A date column of ten years takes 3,650 values in millions
/// of rows; evaluating `CAST(extract(year FROM start_date) AS BIGINT)` per row and numbering
/// its results cost a third of the partial phase of the volumes query.
struct DerivedKey {
    /// The input column the key is computed from.
    column: usize,
    /// The key's expression over a batch of that column alone.
    expr: Arc<dyn PhysicalExpr>,
    schema: SchemaRef,
    /// By the column's value from `low` on: the key's number in its [`ColumnValues`], or
    /// [`NONE`] while that value has not been seen.
    memo: Vec<u32>,
    /// The first value `memo` covers, [`ordered`].
    low: u128,
}

impl DerivedKey {
    /// The memo for `expr`, if it computes a key from one column of integers or dates and
    /// gives the same key for the same value every time (not `random()`).
    fn over(expr: &Arc<dyn PhysicalExpr>, input: &Schema) -> Result<Option<DerivedKey>> {
        let columns = collect_columns(expr);
        let Some(column) = columns.iter().next() else {
            return Ok(None);
        };
        let field = input.field(column.index());
        let derived = expr.downcast_ref::<Column>().is_none()
            && columns.len() == 1
            && !is_volatile(expr)
            && matches!(
                field.data_type(),
                DataType::Date32 | DataType::Int32 | DataType::Int64
            );
        if !derived {
            return Ok(None);
        }
        // The same expression, reading the column as the first of a batch of it alone.
        let expr = Arc::clone(expr)
            .transform(|e| match e.downcast_ref::<Column>() {
                Some(c) => Ok(Transformed::yes(
                    Arc::new(Column::new(c.name(), 0)) as Arc<dyn PhysicalExpr>
                )),
                None => Ok(Transformed::no(e)),
            })
            .data()?;
        Ok(Some(DerivedKey {
            column: column.index(),
            expr,
            schema: Arc::new(Schema::new(vec![field.clone()])),
            memo: Vec::new(),
            low: 0,
        }))
    }

    /// Each row's key number, into `out`; false, numbering nothing, when the column has
    /// NULLs in this batch or values spanning more than [`SPAN_TABLE`] (the key is then
    /// evaluated as usual).
    fn number(
        &mut self,
        batch: &RecordBatch,
        values: &mut ColumnValues,
        long_texts: &mut LongTexts,
        out: &mut Vec<u32>,
    ) -> Result<bool> {
        let input = batch.column(self.column);
        if input.null_count() > 0 {
            return Ok(false);
        }
        match input.data_type() {
            DataType::Date32 => {
                let raw = input.as_primitive::<Date32Type>().values();
                self.number_values(raw, values, long_texts, out)
            }
            DataType::Int32 => {
                let raw = input.as_primitive::<Int32Type>().values();
                self.number_values(raw, values, long_texts, out)
            }
            DataType::Int64 => {
                let raw = input.as_primitive::<Int64Type>().values();
                self.number_values(raw, values, long_texts, out)
            }
            _ => Ok(false),
        }
    }

    fn number_values<T: Copy + Into<i64>>(
        &mut self,
        raw: &[T],
        values: &mut ColumnValues,
        long_texts: &mut LongTexts,
        out: &mut Vec<u32>,
    ) -> Result<bool> {
        let (low, high) = raw.iter().fold((i64::MAX, i64::MIN), |(low, high), &v| {
            (low.min(v.into()), high.max(v.into()))
        });
        if raw.is_empty() || !self.widen(low, high) {
            return Ok(false);
        }
        loop {
            let base = self.first();
            let start = out.len();
            let mut missed = false;
            out.extend(raw.iter().map(|&v| {
                let number = self.memo[(v.into() - base) as usize];
                missed |= number == NONE;
                number
            }));
            if !missed {
                return Ok(true);
            }
            // Values not seen before: rare once the first batches have passed.
            out.truncate(start);
            self.learn(raw, values, long_texts)?;
        }
    }

    /// Evaluates the key for the values of `raw` the memo lacks, and numbers the results.
    #[inline(never)]
    fn learn<T: Copy + Into<i64>>(
        &mut self,
        raw: &[T],
        values: &mut ColumnValues,
        long_texts: &mut LongTexts,
    ) -> Result<()> {
        let first = self.first();
        let mut missing: Vec<i64> = raw
            .iter()
            .map(|&v| v.into())
            .filter(|&v| self.memo[(v - first) as usize] == NONE)
            .collect();
        missing.sort_unstable();
        missing.dedup();
        let input: ArrayRef = match self.schema.field(0).data_type() {
            DataType::Int64 => Arc::new(Int64Array::from(missing.clone())),
            other => {
                // Date32 or Int32: the values came from 32 bits.
                let narrow = missing.iter().map(|&v| v as i32).collect::<Vec<_>>();
                let values = datafusion::arrow::array::Int32Array::from(narrow);
                match other {
                    DataType::Date32 => Arc::new(values.reinterpret_cast::<Date32Type>()),
                    _ => Arc::new(values),
                }
            }
        };
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), vec![input])?;
        let key = self.expr.evaluate(&batch)?.into_array(missing.len())?;
        let mut numbers = Vec::with_capacity(missing.len());
        number_key(&key, values, long_texts, &mut numbers)?;
        for (v, number) in missing.into_iter().zip(numbers) {
            self.memo[(v - first) as usize] = number;
        }
        Ok(())
    }

    /// Makes the memo cover `low..=high` if the whole stays under [`SPAN_TABLE`] values.
    fn widen(&mut self, low: i64, high: i64) -> bool {
        widen_table(&mut self.memo, &mut self.low, ordered(low), ordered(high))
    }

    /// The first value the memo covers.
    fn first(&self) -> i64 {
        (self.low as u64 ^ SIGN) as i64
    }

    fn size(&self) -> usize {
        self.memo.capacity() * 4
    }

    fn clear(&mut self) {
        self.memo.fill(NONE);
    }
}

/// An integer or date column without NULLs as the words [`LongTexts::words`] makes of it, in
/// 64 bits: the whole column in one pass, for [`ColumnValues::number_ints`].
fn int_words(column: &dyn Array) -> Option<Cow<'_, [u64]>> {
    match column.null_count() {
        0 => int_values(column),
        _ => None,
    }
}

/// An integer or date column's values widened to 64 bits (signed ones by sign), whatever its
/// NULLs: the one list of the integer key types and how each becomes a word.
fn int_values(column: &dyn Array) -> Option<Cow<'_, [u64]>> {
    use datafusion::arrow::datatypes::*;
    macro_rules! widened {
        ($t:ty, $widen:expr) => {
            Some(Cow::Owned(
                column
                    .as_primitive::<$t>()
                    .values()
                    .iter()
                    .map(|&v| $widen(v))
                    .collect(),
            ))
        };
    }
    match column.data_type() {
        DataType::Int64 => Some(Cow::Borrowed(
            column
                .as_primitive::<Int64Type>()
                .values()
                .inner()
                .typed_data::<u64>(),
        )),
        DataType::UInt64 => Some(Cow::Borrowed(column.as_primitive::<UInt64Type>().values())),
        DataType::Int8 => widened!(Int8Type, |v: i8| i64::from(v) as u64),
        DataType::Int16 => widened!(Int16Type, |v: i16| i64::from(v) as u64),
        DataType::Int32 => widened!(Int32Type, |v: i32| i64::from(v) as u64),
        DataType::Date32 => widened!(Date32Type, |v: i32| i64::from(v) as u64),
        DataType::UInt8 => widened!(UInt8Type, u64::from),
        DataType::UInt16 => widened!(UInt16Type, u64::from),
        DataType::UInt32 => widened!(UInt32Type, u64::from),
        _ => None,
    }
}

/// Each row's number for a column of text views.
///
/// Within one array a long text's view (its length, prefix, buffer and offset) names it, and a
/// column decoded from a Parquet dictionary repeats its entry's view: so a long text is numbered
/// once per array, through a table indexed by its offset when its buffer is small (a
/// dictionary's), else through a hash table of views.
fn number_views(
    texts: &StringViewArray,
    long_texts: &mut LongTexts,
    values: &mut ColumnValues,
    out: &mut Vec<u32>,
) {
    let buffers = texts.data_buffers();
    // Per small buffer, by offset: the text's length and number.
    let mut by_offset: Vec<Vec<(u32, u32)>> = vec![Vec::new(); buffers.len()];
    let mut by_view: HashMap<u128, u32, Words> = HashMap::default();
    let nulls = texts.null_count() > 0;
    // This array's views seen so far, by view: a long text's view names it within the array,
    // so a row of either length costs one probe here, not a guess at its length (columns
    // mixing short and long texts, like `region`, mispredicted it on a third of their rows).
    // Sparse, so that few of a code column's values share a slot and evict each other.
    let slots = (16 * values.words.len().max(4))
        .next_power_of_two()
        .min(SEEN_SLOTS);
    let (mut seen_views, mut seen_numbers) = (vec![0u128; slots], vec![NONE; slots]);
    let bits = slots.trailing_zeros();
    out.reserve(texts.len());
    for (row, &view) in texts.views().iter().enumerate() {
        if nulls && texts.is_null(row) {
            out.push(values.number_cached(NULL));
            continue;
        }
        let slot = slot_of_view(view, bits);
        let number = seen_numbers[slot];
        if seen_views[slot] == view && number != NONE {
            out.push(number);
            continue;
        }
        let number = number_view(
            view,
            row,
            texts,
            long_texts,
            values,
            &mut by_offset,
            &mut by_view,
        );
        (seen_views[slot], seen_numbers[slot]) = (view, number);
        out.push(number);
    }
}

/// A view's number, not found among the array's views seen: see [`number_views`].
#[inline(never)]
fn number_view(
    view: u128,
    row: usize,
    texts: &StringViewArray,
    long_texts: &mut LongTexts,
    values: &mut ColumnValues,
    by_offset: &mut [Vec<(u32, u32)>],
    by_view: &mut HashMap<u128, u32, Words>,
) -> u32 {
    let buffers = texts.data_buffers();
    let len = view as u32;
    if len <= 12 {
        // Length and bytes, and zeros after them: arrow's validation refuses a view array
        // whose short views are padded otherwise, so equal texts have equal views. Masking
        // the padding off anyway took a third of the time of numbering a row.
        return values.number_cached(view);
    }
    let buffer = (view >> 64) as u32 as usize;
    let offset = (view >> 96) as u32 as usize;
    let mut long = || values.number(long_texts.long(texts.value(row).as_bytes()));
    match buffers[buffer].len() <= BUFFER_TABLE {
        true => {
            let table = &mut by_offset[buffer];
            if table.is_empty() {
                *table = vec![(0, NONE); buffers[buffer].len()];
            }
            match table[offset] {
                (seen, number) if number != NONE && seen == len => number,
                // Another length at the same offset (a writer may share bytes): by view.
                (_, number) if number != NONE => *by_view.entry(view).or_insert_with(long),
                _ => {
                    let number = long();
                    table[offset] = (len, number);
                    number
                }
            }
        }
        false => *by_view.entry(view).or_insert_with(long),
    }
}

/// Texts longer than a view holds, numbered in the order first seen.
#[derive(Default)]
struct LongTexts {
    numbers: HashMap<Box<[u8]>, u32>,
    texts: Vec<Box<[u8]>>,
    bytes: usize,
}

impl LongTexts {
    /// Each row's word.
    fn words(&mut self, column: &dyn Array) -> Result<Vec<u128>> {
        let n = column.len();
        let mut out = Vec::with_capacity(n);
        if let Some(values) = int_values(column) {
            out.extend(
                values
                    .iter()
                    .enumerate()
                    .map(|(row, &v)| match column.is_null(row) {
                        true => NULL,
                        false => u128::from(v),
                    }),
            );
            return Ok(out);
        }
        match column.data_type() {
            DataType::Boolean => {
                let values = column.as_boolean();
                for row in 0..n {
                    out.push(match values.is_null(row) {
                        true => NULL,
                        false => u128::from(values.value(row)),
                    });
                }
            }
            other => return exec_err!("fjq small-key aggregation: keys of type {other}"),
        }
        Ok(out)
    }

    fn long(&mut self, bytes: &[u8]) -> u128 {
        let number = match self.numbers.get(bytes) {
            Some(&number) => number,
            None => {
                let number = self.texts.len() as u32;
                self.texts.push(bytes.into());
                self.numbers.insert(bytes.into(), number);
                self.bytes += 2 * bytes.len() + 48;
                number
            }
        };
        LONG_TEXT | (u128::from(number) << 32)
    }

    /// The text a word stands for.
    fn bytes_of(&self, word: u128) -> ([u8; 12], &[u8]) {
        let len = (word as u32) as usize;
        if word as u32 as u128 == LONG_TEXT {
            return ([0; 12], &self.texts[(word >> 32) as u32 as usize]);
        }
        let mut inline = [0u8; 12];
        for (i, b) in inline.iter_mut().enumerate().take(len) {
            *b = (word >> (32 + 8 * i)) as u8;
        }
        (inline, &[])
    }

    /// The key column of `data_type` for the words, in order.
    fn array(&self, words: impl Iterator<Item = u128>, data_type: &DataType) -> Result<ArrayRef> {
        let text = |word: u128, push: &mut dyn FnMut(Option<&str>)| {
            if word == NULL {
                return push(None);
            }
            let (inline, long) = self.bytes_of(word);
            let bytes = match long.is_empty() {
                true => &inline[..(word as u32) as usize],
                false => long,
            };
            // The bytes came from text columns, whole.
            push(Some(std::str::from_utf8(bytes).unwrap_or_default()))
        };
        Ok(match data_type {
            DataType::Utf8View => {
                let mut out = StringViewBuilder::new();
                for word in words {
                    text(word, &mut |t| out.append_option(t));
                }
                Arc::new(out.finish())
            }
            DataType::Boolean => Arc::new(
                words
                    .map(|w| (w != NULL).then_some(w == 1))
                    .collect::<BooleanArray>(),
            ),
            DataType::Date32 => Arc::new(
                words
                    .map(|w| (w != NULL).then_some(w as u64 as i64 as i32))
                    .collect::<datafusion::arrow::array::PrimitiveArray<Int32Type>>()
                    .reinterpret_cast::<Date32Type>(),
            ),
            t if t.is_unsigned_integer() => {
                let values: UInt64Array = words.map(|w| (w != NULL).then_some(w as u64)).collect();
                cast(&values, t)?
            }
            t => {
                let values: Int64Array = words
                    .map(|w| (w != NULL).then_some(w as u64 as i64))
                    .collect();
                cast(&values, t)?
            }
        })
    }

    fn size(&self) -> usize {
        self.bytes + self.texts.capacity() * 16
    }

    fn clear(&mut self) {
        self.numbers.clear();
        self.texts.clear();
        self.bytes = 0;
    }
}

/// One key column's values, numbered in the order first seen: a group's key is then a few small
/// numbers, which index a table directly while their ranges stay small.
#[derive(Default)]
struct ColumnValues {
    numbers: HashMap<u128, u32, Words>,
    /// Each number's word.
    words: Vec<u128>,
    /// A small open-addressed table of `numbers` for words that stand for themselves (numbers
    /// and short texts): a repeated value costs one compare, not a hash table's probe. Sized to
    /// the column's values (four slots a value, up to [`RECENT_SLOTS`]), so that the few values
    /// of a code column stay in the nearest cache of the processor beside the other keys'
    /// tables. While it has room it holds every value, found by probing the next slots (two
    /// values sharing a slot took turns evicting each other, a hash table's probe each time);
    /// past its room it is a cache, each word in its own slot or missed.
    recent: Vec<(u128, u32)>,
    /// `recent` has `1 << recent_bits` slots.
    recent_bits: u32,
    /// `recent` is full: a cache, not the table of every value.
    evicting: bool,
    /// Numbers by value for the values from `span_low` on, while the column's values span less
    /// than [`SPAN_TABLE`] (years, days, small codes): a row costs an index, not a hash.
    span: Vec<u32>,
    span_low: u128,
}

/// Slots of the table of views seen in [`number_views`], at most.
const SEEN_SLOTS: usize = 2048;
/// Slots of [`ColumnValues::recent`], at most and at first.
const RECENT_SLOTS: usize = 1024;
const FIRST_RECENT_SLOTS: usize = 16;
/// A value span at most this wide is numbered through a table indexed by the value.
const SPAN_TABLE: u128 = 1 << 16;
/// A text buffer at most this long has its long texts numbered through a table indexed by
/// their offset in it.
const BUFFER_TABLE: usize = 1 << 14;
/// No number yet.
const NONE: u32 = u32::MAX;

impl ColumnValues {
    fn number(&mut self, word: u128) -> u32 {
        let next = self.words.len() as u32;
        *self.numbers.entry(word).or_insert_with(|| {
            self.words.push(word);
            next
        })
    }

    /// `number` through [`Self::recent`]. The probe is inlined into the loops over rows; a
    /// miss, rare once a column's values are in the table, is not.
    #[inline(always)]
    fn number_cached(&mut self, word: u128) -> u32 {
        if self.recent.is_empty() {
            return self.number_missed(0, word);
        }
        let mask = self.recent.len() - 1;
        let mut slot = self.home(word);
        loop {
            let (seen, number) = self.recent[slot];
            if seen == word && number != NONE {
                return number;
            }
            if number == NONE || self.evicting {
                return self.number_missed(slot, word);
            }
            // A quarter full at most, so an empty slot comes soon.
            slot = (slot + 1) & mask;
        }
    }

    /// The slot of [`Self::recent`] where `word`'s probe starts.
    fn home(&self, word: u128) -> usize {
        // One multiply (the code aggregates' placing of views): while the table holds every
        // value it is a quarter full at most, and the hash tables' fuller mix bought nothing.
        slot_of_view(word, self.recent_bits)
    }

    /// `word`'s number, put in `slot` of [`Self::recent`] (an empty one, or while evicting
    /// its home), which grows instead while it may.
    #[inline(never)]
    fn number_missed(&mut self, slot: usize, word: u128) -> u32 {
        if self.recent.is_empty() {
            self.recent = vec![(0, NONE); FIRST_RECENT_SLOTS];
            self.recent_bits = FIRST_RECENT_SLOTS.trailing_zeros();
            return self.number_cached(word);
        }
        let number = self.number(word);
        if !self.evicting && self.words.len() * 4 > self.recent.len() {
            if self.recent.len() < RECENT_SLOTS {
                self.grow_recent();
                return number;
            }
            // Full: from now on a cache, each word in its home slot.
            self.evicting = true;
            let home = self.home(word);
            self.recent[home] = (word, number);
            return number;
        }
        self.recent[slot] = (word, number);
        number
    }

    /// Twice the slots of [`Self::recent`], holding every value numbered so far.
    fn grow_recent(&mut self) {
        self.recent = vec![(0, NONE); 2 * self.recent.len()];
        self.recent_bits += 1;
        let mask = self.recent.len() - 1;
        for (number, &word) in self.words.iter().enumerate() {
            let mut slot = self.home(word);
            while self.recent[slot].1 != NONE {
                slot = (slot + 1) & mask;
            }
            self.recent[slot] = (word, number as u32);
        }
    }

    /// Each row's number for a column of words. While the column's values seen so far span
    /// less than [`SPAN_TABLE`], through the table of numbers by value ([`Self::span`]), widened
    /// as the values come; other columns, and batches that would widen it past that, go through
    /// [`Self::recent`].
    fn number_words(&mut self, words: &[u128], out: &mut Vec<u32>) {
        let (low, high) = words
            .iter()
            .filter(|&&w| w != NULL)
            .fold((u128::MAX, 0), |(low, high), &w| (low.min(w), high.max(w)));
        if low <= high && !self.widen_span(low, high) {
            out.extend(words.iter().map(|&w| self.number_cached(w)));
            return;
        }
        for &word in words {
            let number = match word == NULL {
                true => self.number_cached(NULL),
                false => {
                    let at = (word - self.span_low) as usize;
                    match self.span[at] {
                        NONE => {
                            let number = self.number(word);
                            self.span[at] = number;
                            number
                        }
                        number => number,
                    }
                }
            };
            out.push(number);
        }
    }

    /// Each row's number for a column of integers without NULLs ([`int_words`]), through the
    /// table by value in two tight passes (the column's range, then a lookup per row); false,
    /// numbering nothing, when the values would widen the table past [`SPAN_TABLE`].
    fn number_ints(&mut self, words: &[u64], out: &mut Vec<u32>) -> bool {
        let (low, high) = words
            .iter()
            .fold((u64::MAX, 0), |(low, high), &w| (low.min(w), high.max(w)));
        if words.is_empty() || !self.widen_span(u128::from(low), u128::from(high)) {
            return false;
        }
        let base = self.span_low as u64;
        out.reserve(words.len());
        for &word in words {
            let at = (word - base) as usize;
            let mut number = self.span[at];
            if number == NONE {
                number = self.number(u128::from(word));
                self.span[at] = number;
            }
            out.push(number);
        }
        true
    }

    /// Makes [`Self::span`] cover `low..=high` if the whole stays under [`SPAN_TABLE`] values.
    fn widen_span(&mut self, low: u128, high: u128) -> bool {
        widen_table(&mut self.span, &mut self.span_low, low, high)
    }

    fn size(&self) -> usize {
        self.numbers.capacity() * 21
            + self.words.capacity() * 16
            + self.recent.capacity() * 32
            + self.span.capacity() * 4
    }

    fn clear(&mut self) {
        self.numbers.clear();
        self.words.clear();
        self.recent.fill((0, NONE));
        self.evicting = false;
        self.span.clear();
    }
}

/// Makes `table`, indexed by value from `*first` on, cover `low..=high` if the whole stays
/// under [`SPAN_TABLE`] values, its new slots [`NONE`]; false, changing nothing, if not.
fn widen_table(table: &mut Vec<u32>, first: &mut u128, low: u128, high: u128) -> bool {
    let (old_low, old_high) = match table.is_empty() {
        true => (low, high),
        false => (*first, *first + table.len() as u128 - 1),
    };
    let (new_low, new_high) = (low.min(old_low), high.max(old_high));
    if new_high - new_low >= SPAN_TABLE {
        return false;
    }
    if table.is_empty() || new_low < old_low || new_high > old_high {
        let mut wider = vec![NONE; (new_high - new_low + 1) as usize];
        let at = (old_low - new_low) as usize;
        wider[at..at + table.len()].copy_from_slice(table);
        *table = wider;
        *first = new_low;
    }
    true
}

/// The sign bit of 64.
const SIGN: u64 = 1 << 63;

/// A signed value as an unsigned one in the same order (its sign bit flipped).
fn ordered(value: i64) -> u128 {
    u128::from(value as u64 ^ SIGN)
}

/// Groups by the numbers of their key columns' values ([`ColumnValues`]), numbered in the
/// order first seen.
///
/// While the product of the columns' capacities (each a power of two at least its count of
/// values) stays under [`DENSE_CELLS`], a row's group is one cell of a table indexed by its
/// numbers' bits side by side: no hashing, no comparing. Past it (a column of identifiers) the
/// numbers, packed 32 bits each in one word, are looked up in a hash table until the groups are
/// next emitted.
struct Groups {
    columns: Vec<ColumnValues>,
    /// Each column's capacity as a shift: `1 << bits[c]` values.
    bits: Vec<u32>,
    cells: Vec<u32>,
    hashed: Option<HashMap<u128, u32, Words>>,
    /// Each group's numbers, packed.
    keys: Vec<u128>,
}

/// Cells of the dense table at most (a quarter of a megabyte).
const DENSE_CELLS: usize = 1 << 16;

impl Groups {
    fn new(columns: usize) -> Self {
        Self {
            columns: (0..columns).map(|_| ColumnValues::default()).collect(),
            bits: vec![0; columns],
            cells: vec![NONE],
            hashed: None,
            keys: Vec::new(),
        }
    }

    /// Each row's group, adding new ones; `numbers[c][row]` is column `c`'s value number.
    fn intern(&mut self, numbers: &[Vec<u32>]) -> Vec<usize> {
        let rows = numbers.first().map_or(0, Vec::len);
        self.fit_columns();
        // The rows' packed numbers for the hash table, or their cells in the dense one.
        let hashed = self.hashed.is_some();
        let mut packed = vec![0u128; if hashed { rows } else { 0 }];
        // Below DENSE_CELLS, so 32 bits.
        let mut index = vec![0u32; if hashed { 0 } else { rows }];
        let mut shift = 0;
        for (column, values) in numbers.iter().enumerate() {
            match self.hashed {
                Some(_) => {
                    let at = 32 * column;
                    for (p, &v) in packed.iter_mut().zip(values) {
                        *p |= u128::from(v) << at;
                    }
                }
                None => {
                    for (i, &v) in index.iter_mut().zip(values) {
                        *i |= v << shift;
                    }
                    shift += self.bits[column];
                }
            }
        }
        let mut out = Vec::with_capacity(rows);
        match &mut self.hashed {
            Some(hashed) => {
                for key in packed {
                    let next = self.keys.len() as u32;
                    let group = *hashed.entry(key).or_insert_with(|| {
                        self.keys.push(key);
                        next
                    });
                    out.push(group as usize);
                }
            }
            None => {
                for (row, &i) in index.iter().enumerate() {
                    let mut group = self.cells[i as usize];
                    if group == NONE {
                        group = self.new_cell(numbers, row, i as usize);
                    }
                    out.push(group as usize);
                }
            }
        }
        out
    }

    /// A new group for `row`, in cell `i` of the dense table: out of the loop over rows, where
    /// it is rare.
    #[inline(never)]
    fn new_cell(&mut self, numbers: &[Vec<u32>], row: usize, i: usize) -> u32 {
        let group = self.keys.len() as u32;
        self.cells[i] = group;
        let key = numbers
            .iter()
            .enumerate()
            .fold(0, |k, (c, v)| k | u128::from(v[row]) << (32 * c));
        self.keys.push(key);
        group
    }

    /// Widens the dense table to the columns' counts of values, or leaves it for the hash table.
    fn fit_columns(&mut self) {
        if self.hashed.is_some() {
            return;
        }
        let bits = self
            .columns
            .iter()
            .map(|c| c.words.len().next_power_of_two().trailing_zeros())
            .collect::<Vec<_>>();
        if bits == self.bits {
            return;
        }
        let total: u32 = bits.iter().sum();
        if total > DENSE_CELLS.trailing_zeros() {
            let hashed = self.keys.iter().enumerate().map(|(g, &k)| (k, g as u32));
            self.hashed = Some(hashed.collect());
            self.cells = Vec::new();
            return;
        }
        self.bits = bits;
        self.cells = vec![NONE; 1 << total];
        for (group, &key) in self.keys.iter().enumerate() {
            let index = self.dense_index(key);
            self.cells[index] = group as u32;
        }
    }

    fn dense_index(&self, key: u128) -> usize {
        let mut shift = 0;
        let mut index = 0;
        for (column, &bits) in self.bits.iter().enumerate() {
            index |= ((key >> (32 * column)) as u32 as usize) << shift;
            shift += bits;
        }
        index
    }

    fn len(&self) -> usize {
        self.keys.len()
    }

    /// Every group's key words, column by column in group order, leaving no group.
    fn take_keys(&mut self) -> Vec<Vec<u128>> {
        let keys = std::mem::take(&mut self.keys);
        let columns = self
            .columns
            .iter()
            .enumerate()
            .map(|(c, values)| {
                let at = 32 * c;
                keys.iter()
                    .map(|&k| values.words[(k >> at) as u32 as usize])
                    .collect()
            })
            .collect();
        self.columns.iter_mut().for_each(ColumnValues::clear);
        self.bits.fill(0);
        self.cells = vec![NONE];
        self.hashed = None;
        columns
    }

    fn size(&self) -> usize {
        let hashed = self.hashed.as_ref().map_or(0, |h| h.capacity() * 21);
        self.columns.iter().map(ColumnValues::size).sum::<usize>()
            + self.cells.capacity() * 4
            + hashed
            + self.keys.capacity() * 16
    }
}

/// A running hash of words: two multiply-xorshift rounds, so that every bit of the word
/// reaches the high bits (the hash table's tags) and the low ones (its buckets).
fn mix(h: u64, word: u128) -> u64 {
    let h = (h ^ word as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let h = (h ^ (h >> 32) ^ (word >> 64) as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    h ^ (h >> 29)
}

/// Hashes words (values, views, packed numbers), each mixed on the spot. The keys are words
/// already, so a general hash of their bytes would only repeat the work.
#[derive(Default)]
struct WordHasher(u64);

impl Hasher for WordHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(16) {
            let mut word = [0u8; 16];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = mix(self.0, u128::from_le_bytes(word));
        }
    }

    fn write_u128(&mut self, value: u128) {
        self.0 = mix(self.0, value);
    }
}

type Words = BuildHasherDefault<WordHasher>;

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{
        BooleanArray, Date32Array, Int32Array, Int64Array, StringArray, StringViewArray,
    };
    use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionConfig;

    /// The rows of `sql`, checked to be grouped by words.
    async fn by_words(sql: &str, config: SessionConfig) -> String {
        let (plan, rows) = run(sql, config).await;
        assert!(
            plan.contains("SmallKeyAggregateExec: mode=Partial"),
            "{plan}"
        );
        rows
    }

    const LONG: &str = "a text longer than twelve bytes";

    /// Two partitions of batches; every key type, NULL keys, texts of 12 bytes and longer, and
    /// groups that recur across batches and partitions.
    fn partitions() -> (SchemaRef, Vec<Vec<RecordBatch>>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("view", DataType::Utf8View, true),
            Field::new("text", DataType::Utf8, true),
            Field::new("n", DataType::Int32, true),
            Field::new("day", DataType::Date32, true),
            Field::new("flag", DataType::Boolean, true),
            Field::new("v", DataType::Int64, false),
        ]));
        type Row = (
            Option<&'static str>,
            Option<&'static str>,
            Option<i32>,
            Option<i32>,
            Option<bool>,
            i64,
        );
        let batch = |rows: &[Row]| {
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(rows.iter().map(|r| r.0).collect::<StringViewArray>()),
                    Arc::new(rows.iter().map(|r| r.1).collect::<StringArray>()),
                    Arc::new(rows.iter().map(|r| r.2).collect::<Int32Array>()),
                    Arc::new(rows.iter().map(|r| r.3).collect::<Date32Array>()),
                    Arc::new(rows.iter().map(|r| r.4).collect::<BooleanArray>()),
                    Arc::new(rows.iter().map(|r| Some(r.5)).collect::<Int64Array>()),
                ],
            )
            .unwrap()
        };
        let long = Some(LONG);
        let twelve = Some("twelve bytes");
        let first = vec![
            batch(&[
                (Some("a"), Some("a"), Some(-1), Some(0), Some(true), 1),
                (long, long, Some(7), Some(19000), Some(false), 2),
                (None, None, None, None, None, 3),
                (Some("a"), Some("a"), Some(-1), Some(0), Some(true), 4),
            ]),
            batch(&[
                (twelve, twelve, Some(7), Some(-5), Some(false), 5),
                (long, long, Some(7), Some(19000), Some(false), 6),
            ]),
        ];
        let second = vec![
            batch(&[]),
            batch(&[
                (Some(""), Some(""), Some(0), Some(1), Some(true), 7),
                (None, None, None, None, None, 8),
                (twelve, twelve, Some(7), Some(-5), Some(false), 9),
                (Some("a"), Some("a"), Some(-1), Some(0), Some(true), 10),
            ]),
        ];
        (schema, vec![first, second])
    }

    async fn run(sql: &str, config: SessionConfig) -> (String, String) {
        let (schema, parts) = partitions();
        let table = MemTable::try_new(schema, parts).unwrap();
        crate::test_support::plan_and_rows(
            sql,
            table,
            config.with_target_partitions(2),
            Arc::new(SmallKeysRule::default()),
        )
        .await
    }

    /// Worked by hand from the rows above: five groups, the NULL keys one of them.
    #[tokio::test]
    async fn words_group_every_key_type_across_batches_and_partitions() {
        let sql = "SELECT view, n, day, flag, count(*) AS rows, sum(v) AS total
            FROM t GROUP BY view, n, day, flag ORDER BY total";
        let rows = by_words(sql, SessionConfig::new()).await;
        assert_eq!(
            rows,
            "\
+---------------------------------+----+------------+-------+------+-------+
| view                            | n  | day        | flag  | rows | total |
+---------------------------------+----+------------+-------+------+-------+
|                                 | 0  | 1970-01-02 | true  | 1    | 7     |
| a text longer than twelve bytes | 7  | 2022-01-08 | false | 2    | 8     |
|                                 |    |            |       | 2    | 11    |
| twelve bytes                    | 7  | 1969-12-27 | false | 2    | 14    |
| a                               | -1 | 1970-01-01 | true  | 3    | 15    |
+---------------------------------+----+------------+-------+------+-------+"
        );
    }

    #[tokio::test]
    async fn five_keys_stay_datafusions() {
        let sql =
            "SELECT view, text, n, day, flag, count(*) FROM t GROUP BY view, text, n, day, flag";
        let (plan, rows) = run(sql, SessionConfig::new()).await;
        assert!(!plan.contains("SmallKeyAggregateExec"), "{plan}");
        assert_eq!(rows.lines().count(), 5 + 4, "five groups\n{rows}");
    }

    /// Plain strings (identifiers, computed texts) are DataFusion's to group ([`word_type`]).
    #[tokio::test]
    async fn plain_text_keys_stay_datafusions() {
        let sql = "SELECT text, count(*) AS rows FROM t GROUP BY text ORDER BY text NULLS FIRST";
        let (plan, rows) = run(sql, SessionConfig::new()).await;
        assert!(!plan.contains("SmallKeyAggregateExec"), "{plan}");
        assert!(plan.contains("AggregateExec: mode=Partial"), "{plan}");
        assert_eq!(rows.lines().count(), 5 + 4, "five groups\n{rows}");
    }

    #[tokio::test]
    async fn rows_pass_through_once_grouping_does_not_reduce_them() {
        // Probe after one row: every group is new then, so the rest go on one by one.
        let mut config = SessionConfig::new();
        let execution = &mut config.options_mut().execution;
        execution.skip_partial_aggregation_probe_rows_threshold = 1;
        execution.skip_partial_aggregation_probe_ratio_threshold = 0.5;
        let sql = "SELECT view, n, count(*) AS rows, sum(v) AS total, min(v) AS low
            FROM t GROUP BY view, n ORDER BY total";
        let rows = by_words(sql, config).await;
        assert_eq!(
            rows,
            "\
+---------------------------------+----+------+-------+-----+
| view                            | n  | rows | total | low |
+---------------------------------+----+------+-------+-----+
|                                 | 0  | 1    | 7     | 7   |
| a text longer than twelve bytes | 7  | 2    | 8     | 2   |
|                                 |    | 2    | 11    | 3   |
| twelve bytes                    | 7  | 2    | 14    | 5   |
| a                               | -1 | 3    | 15    | 1   |
+---------------------------------+----+------+-------+-----+"
        );
    }

    /// Keys fed in batches: equal keys must share a group, different keys must not, whether the
    /// dense table is growing or the groups have moved to the hash table.
    #[test]
    fn groups_stay_one_per_key_as_the_dense_table_grows_and_gives_way() {
        let mut groups = Groups::new(2);
        let mut seen: std::collections::HashMap<(u32, u32), usize> = Default::default();
        // 300 x 300 keys, in batches of 1,000 rows, each key twice: the table doubles column by
        // column, and past 2^16 cells (512 x 256 capacity) the keys go to the hash table.
        let keys = (0..180_000u32).map(|i| ((i / 2) % 300, (i / 2) / 300));
        let keys = keys.collect::<Vec<_>>();
        let mut hashed_at = None;
        for (b, batch) in keys.chunks(1000).enumerate() {
            let numbers = [0, 1].map(|c| {
                let values = &mut groups.columns[c];
                let words = batch
                    .iter()
                    .map(|k| u128::from(if c == 0 { k.0 } else { k.1 }) + 1000)
                    .collect::<Vec<_>>();
                let mut out = Vec::new();
                values.number_words(&words, &mut out);
                out
            });
            let found = groups.intern(&numbers);
            if hashed_at.is_none() && groups.hashed.is_some() {
                hashed_at = Some(b);
            }
            for (key, group) in batch.iter().zip(found) {
                assert_eq!(*seen.entry(*key).or_insert(group), group, "key {key:?}");
            }
        }
        assert_eq!(groups.len(), 90_000);
        let distinct = seen.values().collect::<std::collections::HashSet<_>>();
        assert_eq!(distinct.len(), 90_000, "two keys share a group");
        // Column 0 reaches 300 values in the first batch (capacity 512); column 1 passes 128
        // values (capacity 256, 2^17 cells) at key 38,400, row 76,800: batch 76.
        assert_eq!(hashed_at, Some(76));
        // The groups' keys come back as the words given.
        let taken = groups.take_keys();
        let group_of_key = |a: u32, b: u32| seen[&(a, b)];
        assert_eq!(taken[0][group_of_key(299, 17)], 1299);
        assert_eq!(taken[1][group_of_key(299, 17)], 1017);
        assert_eq!((groups.len(), groups.hashed.is_none()), (0, true));
    }

    /// Values numbered through the span table as it widens downwards and upwards, through the
    /// cache for a batch that would widen it too far, and through the table again after.
    #[test]
    fn values_keep_their_numbers_whichever_way_they_are_found() {
        let mut values = ColumnValues::default();
        let mut number = |words: &[u128]| {
            let mut out = Vec::new();
            values.number_words(words, &mut out);
            out
        };
        assert_eq!(number(&[1000, 1001, NULL, 1000]), [0, 1, 2, 0]);
        assert_eq!(number(&[990, 1005, 1001]), [3, 4, 1]);
        assert_eq!(number(&[71_000, 1000, NULL]), [5, 0, 2]);
        assert_eq!(number(&[1005, 990, 1000, 999]), [4, 3, 0, 6]);
        assert_eq!(values.words, [1000, 1001, NULL, 990, 1005, 71_000, 999]);
        assert_eq!((values.span_low, values.span.len()), (990, 16));
    }

    /// Words too far apart for the table by value go through the cache, which grows with the
    /// column's values up to its limit: every value keeps the number it was first given.
    #[test]
    fn the_cache_grows_with_the_values_and_keeps_their_numbers() {
        let mut values = ColumnValues::default();
        let word = |i: u128| (i << 70) | 7;
        let mut out = Vec::new();
        values.number_words(&[word(0), word(1)], &mut out);
        assert_eq!(out, [0, 1]);
        assert_eq!(values.recent.len(), 16);
        for round in 0..3 {
            out.clear();
            let words: Vec<u128> = (0..2000).map(|i| word((i * 7 + round) % 2000)).collect();
            values.number_words(&words, &mut out);
            let expected: Vec<u32> = (0..2000).map(|i| ((i * 7 + round) % 2000) as u32).collect();
            if round == 0 {
                // First seen in this order, after 0 and 1.
                let mut first = vec![0, 1];
                first.extend((0..2000u32).map(|i| (i * 7) % 2000).filter(|&v| v > 1));
                assert_eq!(
                    values.words,
                    first
                        .iter()
                        .map(|&v| word(u128::from(v)))
                        .collect::<Vec<_>>()
                );
            }
            let by_word: Vec<u32> = expected
                .iter()
                .map(|&v| {
                    values
                        .words
                        .iter()
                        .position(|&w| w == word(u128::from(v)))
                        .unwrap() as u32
                })
                .collect();
            assert_eq!(out, by_word, "round {round}");
        }
        assert_eq!(values.recent.len(), RECENT_SLOTS);
    }

    /// A short text's view as a string view array holds it: the length, then the bytes.
    fn short_view(text: &str) -> u128 {
        let mut view = text.len() as u128;
        for (i, b) in text.bytes().enumerate() {
            view |= u128::from(b) << (32 + 8 * i);
        }
        view
    }

    /// Up to a quarter of its largest size in values, the table holds every value a column has
    /// shown, each in the slot its probe finds, however many share a home slot; one value more
    /// and it becomes a cache.
    #[test]
    fn the_table_holds_every_value_while_it_has_room() {
        let mut values = ColumnValues::default();
        let word = |i: u128| short_view(&format!("code{i}"));
        let room = RECENT_SLOTS / 4;
        let words: Vec<u128> = (0..room as u128).map(word).collect();
        let mut out = Vec::new();
        values.number_words(&words, &mut out);
        assert_eq!(out, (0..room as u32).collect::<Vec<_>>());
        assert!(!values.evicting);
        let held: HashMap<u128, u32> = values
            .recent
            .iter()
            .filter(|&&(_, number)| number != NONE)
            .copied()
            .collect();
        assert_eq!(held.len(), room);
        for (number, w) in words.iter().enumerate() {
            assert_eq!(held.get(w), Some(&(number as u32)));
        }
        // Some values shared a home slot, so the probe went on past it.
        let away = words
            .iter()
            .filter(|&&w| values.recent[values.home(w)].0 != w)
            .count();
        assert!(away > 0);
        out.clear();
        values.number_words(&[word(room as u128), word(3), word(room as u128)], &mut out);
        assert_eq!(out, [room as u32, 3, room as u32]);
        assert!(values.evicting);
        values.clear();
        assert!(!values.evicting);
        out.clear();
        values.number_words(&[word(9), word(8), word(9)], &mut out);
        assert_eq!(out, [0, 1, 0]);
    }

    /// Integers without NULLs take the two-pass way and get the numbers the word-by-word way
    /// gives: the same value keeps its number across both, a negative value (a huge word) is
    /// refused and numbered word by word, and a sliced array gives only its own rows.
    #[test]
    fn integers_without_nulls_keep_the_numbers_of_words() {
        let mut values = ColumnValues::default();
        let ints = |a: &Int64Array| int_words(a).expect("no NULLs").into_owned();
        let mut out = Vec::new();
        assert!(values.number_ints(&ints(&Int64Array::from(vec![2015, 2016, 2015])), &mut out));
        assert_eq!(out, [0, 1, 0]);
        out.clear();
        values.number_words(&[2016, NULL, 2017], &mut out);
        assert_eq!(out, [1, 2, 3]);
        out.clear();
        let sliced = Int64Array::from(vec![1, 2017, 2014, 2016, 5]).slice(1, 3);
        assert_eq!(ints(&sliced), [2017, 2014, 2016]);
        assert!(values.number_ints(&ints(&sliced), &mut out));
        assert_eq!(out, [3, 4, 1]);
        out.clear();
        let negative = ints(&Int64Array::from(vec![-1, 2015]));
        assert!(!values.number_ints(&negative, &mut out));
        assert!(out.is_empty());
        assert_eq!(values.words, [2015, 2016, NULL, 2017, 2014]);
        assert!(int_words(&Int64Array::from(vec![Some(1), None])).is_none());
        let days = Date32Array::from(vec![-3, 7]);
        assert_eq!(int_words(&days).unwrap().as_ref(), [-3i64 as u64, 7]);
    }

    /// A key computed from a column (here `n * 10`) is numbered through its memo: once per
    /// value (a batch's new values in their order), the same number each time; a batch with a
    /// NULL is left to the usual evaluation; and once the values are emptied (the groups
    /// emitted), the memo forgets their numbers and the next batch is numbered afresh, from 0.
    #[test]
    fn derived_keys_number_each_value_once_and_forget_with_the_values() {
        use datafusion::logical_expr::Operator;
        use datafusion::physical_expr::expressions::{binary, col, lit};
        let schema = Arc::new(Schema::new(vec![
            Field::new("code", DataType::Utf8View, true),
            Field::new("n", DataType::Int64, true),
        ]));
        let n = col("n", &schema).unwrap();
        let times_ten = binary(n.clone(), Operator::Multiply, lit(10i64), &schema).unwrap();
        assert!(
            DerivedKey::over(&n, &schema).unwrap().is_none(),
            "a bare column"
        );
        let mut derived = DerivedKey::over(&times_ten, &schema)
            .unwrap()
            .expect("derived");
        let batch = |ns: Vec<Option<i64>>| {
            let codes = ns.iter().map(|_| Some("x")).collect::<StringViewArray>();
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![Arc::new(codes), Arc::new(Int64Array::from(ns))],
            )
            .unwrap()
        };
        let (mut values, mut texts, mut out) =
            (ColumnValues::default(), LongTexts::default(), Vec::new());
        let mut number = |derived: &mut DerivedKey, values: &mut ColumnValues, ns| {
            out.clear();
            let found = derived
                .number(&batch(ns), values, &mut texts, &mut out)
                .unwrap();
            (found, out.clone())
        };
        assert_eq!(
            number(
                &mut derived,
                &mut values,
                vec![Some(1), Some(2), Some(1), Some(-3)]
            ),
            (true, vec![1, 2, 1, 0])
        );
        assert_eq!(
            number(&mut derived, &mut values, vec![Some(2), Some(5)]),
            (true, vec![2, 3])
        );
        assert_eq!(values.words, [(-30i64) as u64 as u128, 10, 20, 50]);
        assert_eq!(
            number(&mut derived, &mut values, vec![Some(2), None]),
            (false, vec![])
        );
        values.clear();
        derived.clear();
        assert_eq!(
            number(&mut derived, &mut values, vec![Some(5), Some(5), Some(1)]),
            (true, vec![1, 1, 0])
        );
        assert_eq!(values.words, [10, 50]);
    }

    /// Views built by hand: long texts at one offset with different lengths (a writer may share
    /// bytes) are different texts, repeated views are one, short texts and NULL are numbered as
    /// values, a large buffer's texts are found by view, and a run repeats its number.
    #[test]
    fn long_text_views_are_numbered_by_offset_and_length() {
        use datafusion::arrow::buffer::{Buffer, NullBuffer, ScalarBuffer};
        let view = |len: u32, text: &[u8], buffer: u32, offset: u32| {
            let prefix = u32::from_le_bytes(text[..4].try_into().unwrap());
            u128::from(len)
                | u128::from(prefix) << 32
                | u128::from(buffer) << 64
                | u128::from(offset) << 96
        };
        let small = b"abcdefghijklmnopqrstuvwxyz".to_vec();
        let mut large = vec![b'x'; 20_000];
        large[10_000..10_016].copy_from_slice(b"abcdefghijklmnop");
        let views = vec![
            view(16, &small, 0, 0),
            view(20, &small, 0, 0),
            view(16, &small, 0, 0),
            short_view("short"),
            0,
            view(16, &large[10_000..], 1, 10_000),
            view(14, &large, 1, 0),
            view(20, &small, 0, 0),
            view(20, &small, 0, 0),
        ];
        let nulls = NullBuffer::from(vec![true, true, true, true, false, true, true, true, true]);
        let texts = StringViewArray::try_new(
            ScalarBuffer::from(views),
            vec![Buffer::from_vec(small), Buffer::from_vec(large)],
            Some(nulls),
        )
        .unwrap();
        let mut long_texts = LongTexts::default();
        let mut values = ColumnValues::default();
        let mut numbers = Vec::new();
        number_views(&texts, &mut long_texts, &mut values, &mut numbers);
        assert_eq!(numbers, [0, 1, 0, 2, 3, 0, 4, 1, 1]);
        let words = values.words.clone();
        let array = long_texts
            .array(words.into_iter(), &DataType::Utf8View)
            .unwrap();
        let texts = array.as_string_view().iter().collect::<Vec<_>>();
        assert_eq!(
            texts,
            [
                Some("abcdefghijklmnop"),
                Some("abcdefghijklmnopqrst"),
                Some("short"),
                None,
                Some("xxxxxxxxxxxxxx"),
            ]
        );
    }

    #[tokio::test]
    async fn the_setting_leaves_datafusions_aggregate() {
        let mut config = SessionConfig::new();
        config.options_mut().extensions.insert(FjqOptions {
            small_key_aggregation: false,
            ..FjqOptions::default()
        });
        let sql = "SELECT view, count(*) FROM t GROUP BY view";
        let (plan, _) = run(sql, config).await;
        assert!(!plan.contains("SmallKeyAggregateExec"), "{plan}");
        assert!(plan.contains("AggregateExec: mode=Partial"), "{plan}");
    }
}
