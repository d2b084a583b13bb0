//! One grouped accumulator for the aggregates that collect (date, code) pairs per group and
//! order them at the end: `case_pathway`, `case_pathway_detail`, `person_pathway` and
//! `repeat_entries`. Codes (stages, case types) are interned once, and every pair goes into one
//! flat array of `(group, date, code)`, put in group order only when groups are emitted: with
//! millions of small groups (one per person) a `Vec` per group, and a memory size summed over
//! them after every batch, cost more than the work (from an aggregate over sorted runs the
//! pairs arrive in group order, and the groups emitted are then a prefix of them). Input order
//! does not matter, since every finish sorts.
//!
//! The state between partial and final aggregation is two lists per group (dates and codes as
//! text), so partial states from different accumulators merge without sharing an interner.

use super::stage_rank;
use crate::args::Params;
use crate::views::slot_of_view;
use datafusion::arrow::array::builder::NullBufferBuilder;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Builder, Int32Builder, Int64Builder, ListBuilder,
    StringArray, StringBuilder, StructBuilder,
};
use datafusion::arrow::buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use datafusion::arrow::datatypes::{DataType, Date32Type, Field, FieldRef, Fields};
use datafusion::common::{HashMap, Result, ScalarValue, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, EmitTo, GroupsAccumulator, Signature,
};
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

/// What a group's pairs become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// Stages joined by ` > `: consecutive repeats collapsed (`observed`), or only stages
    /// that go further than any before (`furthest`).
    Pathway { furthest: bool },
    /// List<Struct{stage, date, day}> in the `observed` order.
    Detail,
    /// A linked case's journey: court stages and Cafcass work (shown in brackets) in one
    /// `observed` order, as text or (`detail`) as the list `Detail` gives.
    Journey { detail: bool },
    /// Case types in start order; one per (day, type).
    PersonPathway,
    /// Distinct entries after the first, optionally only those within `within` days of the
    /// previous one.
    RepeatEntries { within: Option<i64> },
}

impl Finish {
    /// Whether the input carries a code column before the date.
    fn has_code(self) -> bool {
        !matches!(self, Finish::RepeatEntries { .. })
    }
}

pub fn detail_fields() -> Fields {
    Fields::from(vec![
        Field::new("stage", DataType::Utf8, false),
        Field::new("date", DataType::Date32, false),
        Field::new("day", DataType::Int32, false),
    ])
}

pub fn detail_type() -> DataType {
    DataType::List(Arc::new(Field::new(
        "item",
        DataType::Struct(detail_fields()),
        true,
    )))
}

pub fn state_fields(name: &str) -> Vec<Arc<Field>> {
    vec![
        Arc::new(Field::new(
            format!("{name}_dates"),
            DataType::List(Arc::new(Field::new("item", DataType::Date32, true))),
            true,
        )),
        Arc::new(Field::new(
            format!("{name}_codes"),
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        )),
    ]
}

/// Slots of `DatedCodes::recent`: a power of two.
const RECENT_SLOTS: usize = 256;

/// A view's slot in `DatedCodes::recent`.
#[inline]
fn recent_slot(view: u128) -> usize {
    slot_of_view(view, RECENT_SLOTS.trailing_zeros())
}

#[derive(Debug)]
pub struct DatedCodes {
    finish: Finish,
    /// Every pair seen, as (group, date, code), in arrival order.
    entries: Vec<(u32, i32, u32)>,
    /// Whether `entries` are in group order, as they arrive from an aggregate over runs of
    /// sorted keys (`SortedRunAggregateExec`): the groups emitted are then a prefix, taken
    /// without the counting sort.
    in_group_order: bool,
    num_groups: usize,
    codes: Vec<String>,
    ranks: Vec<u32>,
    index: HashMap<String, u32>,
    /// Codes of up to 12 bytes by their string view, which holds the whole string: an integer
    /// lookup where hashing the text cost more than the rest of the aggregate's update.
    inline_index: HashMap<u128, u32>,
    /// The codes last looked up by view, in a slot chosen by the view (`u32::MAX`: none yet):
    /// a few dozen codes fill it, and a row then costs a multiplication, a load and a compare
    /// instead of the map's hashing and probing.
    recent: Box<[(u128, u32); RECENT_SLOTS]>,
    /// The interned codes' bytes, kept for `size`.
    code_bytes: usize,
}

/// A filter's verdicts as validity: a row passes where the verdict is true (not false or NULL).
fn filter_verdicts(filter: &BooleanArray) -> NullBuffer {
    let passed = match filter.nulls() {
        Some(nulls) => filter.values() & nulls.inner(),
        None => filter.values().clone(),
    };
    NullBuffer::new(passed)
}

/// Pairs in group order: group `g`'s are `pairs[offsets[g]..offsets[g + 1]]`.
pub(crate) struct Grouped {
    pairs: Vec<(i32, u32)>,
    offsets: Vec<usize>,
}

impl Grouped {
    fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    fn group(&mut self, g: usize) -> &mut [(i32, u32)] {
        &mut self.pairs[self.offsets[g]..self.offsets[g + 1]]
    }

    /// Counting sort of `entries` (all of group < `n`) into `n` groups.
    fn from_entries(entries: impl Iterator<Item = (u32, i32, u32)> + Clone, n: usize) -> Grouped {
        let mut offsets = vec![0usize; n + 1];
        for (g, _, _) in entries.clone() {
            offsets[g as usize + 1] += 1;
        }
        for g in 0..n {
            offsets[g + 1] += offsets[g];
        }
        let mut next = offsets.clone();
        let mut pairs = vec![(0, 0); offsets[n]];
        for (g, date, code) in entries {
            pairs[next[g as usize]] = (date, code);
            next[g as usize] += 1;
        }
        Grouped { pairs, offsets }
    }
}

/// Each code as the piece of a pathway's text it adds, `code > `, in 16 bytes when it fits:
/// copying a fixed 16 bytes and keeping the piece's length costs a store, where appending a
/// few bytes of text called `memcpy` (with 2.6M pathways of about five codes, a tenth of the
/// aggregate's time).
struct Pieces<'a> {
    fixed: Vec<Option<([u8; 16], usize)>>,
    codes: &'a [String],
}

/// What follows every code in the text; the last one's is cut off.
const SEPARATOR: &[u8] = b" > ";

impl<'a> Pieces<'a> {
    fn new(codes: &'a [String]) -> Pieces<'a> {
        let fixed = codes
            .iter()
            .map(|code| {
                let len = code.len() + SEPARATOR.len();
                (len <= 16).then(|| {
                    let mut piece = [0u8; 16];
                    piece[..code.len()].copy_from_slice(code.as_bytes());
                    piece[code.len()..len].copy_from_slice(SEPARATOR);
                    (piece, len)
                })
            })
            .collect();
        Pieces { fixed, codes }
    }

    // In line: as a call, saving and restoring registers cost a fifth of its time.
    #[inline(always)]
    fn push(&self, values: &mut Vec<u8>, code: u32) {
        match self.fixed[code as usize] {
            Some((piece, len)) => {
                values.extend_from_slice(&piece);
                values.truncate(values.len() - 16 + len);
            }
            None => {
                values.extend_from_slice(self.codes[code as usize].as_bytes());
                values.extend_from_slice(SEPARATOR);
            }
        }
    }
}

/// Pathways' texts written straight into a string array's buffers.
struct PathwayTexts {
    values: Vec<u8>,
    offsets: Vec<i32>,
    nulls: NullBufferBuilder,
}

impl PathwayTexts {
    fn with_capacity(n: usize) -> PathwayTexts {
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0);
        PathwayTexts {
            values: Vec::with_capacity(n * 32),
            offsets,
            nulls: NullBufferBuilder::new(n),
        }
    }

    fn append_null(&mut self) {
        self.offsets.push(self.offsets[self.offsets.len() - 1]);
        self.nulls.append_null();
    }

    /// Ends the pathway whose pieces were pushed since the last: its last separator cut off.
    fn end_pathway(&mut self) -> Result<()> {
        let start = self.offsets[self.offsets.len() - 1] as usize;
        if self.values.len() >= start + SEPARATOR.len() {
            self.values.truncate(self.values.len() - SEPARATOR.len());
        }
        let Ok(end) = i32::try_from(self.values.len()) else {
            return exec_err!("fjq aggregate: over 2 GB of pathway text in one batch");
        };
        self.offsets.push(end);
        self.nulls.append_non_null();
        Ok(())
    }

    fn finish(mut self) -> Result<ArrayRef> {
        Ok(Arc::new(StringArray::try_new(
            OffsetBuffer::new(ScalarBuffer::from(self.offsets)),
            Buffer::from_vec(self.values),
            self.nulls.finish(),
        )?))
    }
}

impl DatedCodes {
    pub fn new(finish: Finish) -> DatedCodes {
        DatedCodes {
            finish,
            entries: Vec::new(),
            in_group_order: true,
            num_groups: 0,
            codes: Vec::new(),
            ranks: Vec::new(),
            index: HashMap::new(),
            inline_index: HashMap::new(),
            recent: Box::new([(0, u32::MAX); RECENT_SLOTS]),
            code_bytes: 0,
        }
    }

    /// Takes the first `n` groups out (the rest are renumbered from 0).
    fn take(&mut self, emit_to: EmitTo) -> Grouped {
        let n = match emit_to {
            EmitTo::All => self.num_groups,
            EmitTo::First(n) => n.min(self.num_groups),
        };
        self.num_groups -= n;
        if self.in_group_order {
            return self.take_prefix(n);
        }
        let entries = std::mem::take(&mut self.entries);
        let grouped =
            Grouped::from_entries(entries.iter().copied().filter(|e| (e.0 as usize) < n), n);
        self.entries = entries
            .into_iter()
            .filter(|e| (e.0 as usize) >= n)
            .map(|(g, d, c)| (g - n as u32, d, c))
            .collect();
        self.in_group_order = self.entries.is_sorted_by_key(|e| e.0);
        grouped
    }

    /// The first `n` groups of entries in group order: a prefix of them.
    fn take_prefix(&mut self, n: usize) -> Grouped {
        let split = self.entries.partition_point(|e| (e.0 as usize) < n);
        let taken = &self.entries[..split];
        // Each group's first entry, found by storing every entry's index at its group from the
        // last entry back (the first store wins), with no branch per entry; a group with no
        // entries starts where the next one does.
        let mut offsets = vec![usize::MAX; n + 1];
        offsets[n] = split;
        for (i, entry) in taken.iter().enumerate().rev() {
            offsets[entry.0 as usize] = i;
        }
        for g in (0..n).rev() {
            if offsets[g] == usize::MAX {
                offsets[g] = offsets[g + 1];
            }
        }
        let pairs = taken.iter().map(|&(_, d, c)| (d, c)).collect();
        self.entries.drain(..split);
        for entry in &mut self.entries {
            entry.0 -= n as u32;
        }
        Grouped { pairs, offsets }
    }

    /// Keeps `in_group_order` true only while rows keep arriving in group order.
    fn note_order(&mut self, group_indices: &[usize]) {
        if self.in_group_order {
            let follows = match (self.entries.last(), group_indices.first()) {
                (Some(last), Some(&first)) => last.0 as usize <= first,
                _ => true,
            };
            self.in_group_order = follows && group_indices.is_sorted();
        }
    }

    /// The code of a view in `recent`, if it is there.
    #[inline]
    fn recently_seen(&self, view: u128) -> Option<u32> {
        let (seen, code) = self.recent[recent_slot(view)];
        (seen == view && code != u32::MAX).then_some(code)
    }

    fn intern(&mut self, code: &str) -> u32 {
        if let Some(&i) = self.index.get(code) {
            return i;
        }
        let i = self.codes.len() as u32;
        self.code_bytes += 2 * code.len() + 64;
        let (name, rank) = match self.finish {
            Finish::Journey { .. } => super::journey_step(code),
            _ => (code.to_string(), stage_rank(code)),
        };
        self.codes.push(name);
        self.ranks.push(rank);
        self.index.insert(code.to_string(), i);
        i
    }

    /// Each row's interned code (`u32::MAX` for NULL), from plain strings or string views (the
    /// types `coerce_keeping_views` leaves): views are read as they come, since casting them to
    /// plain strings first cost a tenth of the aggregate.
    fn intern_column(&mut self, codes: &dyn Array) -> Result<Vec<u32>> {
        let n = codes.len();
        let mut out = Vec::with_capacity(n);
        match codes.data_type() {
            DataType::Utf8View => {
                let codes = codes.as_string_view();
                let views = codes.views();
                for row in 0..n {
                    if codes.is_null(row) {
                        out.push(u32::MAX);
                        continue;
                    }
                    let view = views[row];
                    if (view as u32) > 12 {
                        out.push(self.intern(codes.value(row)));
                    } else if let Some(i) = self.recently_seen(view) {
                        out.push(i);
                    } else if let Some(&i) = self.inline_index.get(&view) {
                        self.recent[recent_slot(view)] = (view, i);
                        out.push(i);
                    } else {
                        let i = self.intern(codes.value(row));
                        self.inline_index.insert(view, i);
                        self.recent[recent_slot(view)] = (view, i);
                        out.push(i);
                    }
                }
            }
            DataType::Utf8 => {
                let codes = codes.as_string::<i32>();
                for row in 0..n {
                    out.push(match codes.is_null(row) {
                        true => u32::MAX,
                        false => self.intern(codes.value(row)),
                    });
                }
            }
            other => return exec_err!("fjq aggregate: codes must be text, got {other}"),
        }
        Ok(out)
    }

    fn add(
        &mut self,
        codes: Option<&dyn Array>,
        dates: &dyn Array,
        group_indices: &[usize],
        filter: Option<&BooleanArray>,
    ) -> Result<()> {
        let dates = dates.as_primitive::<Date32Type>();
        let codes = codes.map(|c| self.intern_column(c)).transpose()?;
        self.note_order(group_indices);
        // The rows taken, as one bitmap (a row the filter passes, with a date and a code),
        // or none when all are: the rows are then copied in one pass with no test per row.
        let mut keep = NullBuffer::union(filter.map(filter_verdicts).as_ref(), dates.nulls());
        if let Some(codes) = &codes
            && codes.contains(&u32::MAX)
        {
            let known = NullBuffer::from_iter(codes.iter().map(|&c| c != u32::MAX));
            keep = NullBuffer::union(keep.as_ref(), Some(&known));
        }
        let dates = dates.values();
        let entry = |row: usize| {
            let code = codes.as_ref().map_or(0, |c| c[row]);
            (group_indices[row] as u32, dates[row], code)
        };
        match keep.filter(|keep| keep.null_count() > 0) {
            None => self.entries.extend((0..group_indices.len()).map(entry)),
            Some(keep) => {
                self.entries.reserve(keep.len() - keep.null_count());
                self.entries.extend(keep.valid_indices().map(entry));
            }
        }
        Ok(())
    }

    /// Each interned code's place in an order of the codes, given as a comparison of two of
    /// them. A group's pairs then sort on one integer, (date, place), instead of looking up
    /// ranks and comparing text for every pair of events on the same day; there are a few dozen
    /// codes and millions of pairs.
    fn places(&self, cmp: impl Fn(usize, usize) -> std::cmp::Ordering) -> Vec<u32> {
        let mut by_place: Vec<usize> = (0..self.codes.len()).collect();
        by_place.sort_by(|&a, &b| cmp(a, b));
        let mut places = vec![0; self.codes.len()];
        for (place, &code) in by_place.iter().enumerate() {
            places[code] = place as u32;
        }
        places
    }

    /// Places in the (rank, code text) order every pathway finish sorts by.
    fn stage_places(&self) -> Vec<u32> {
        self.places(|a, b| (self.ranks[a], &self.codes[a]).cmp(&(self.ranks[b], &self.codes[b])))
    }

    /// Sorts one group's pairs by (date, place). Files are written in date order within a case,
    /// so most groups arrive sorted and only need the check.
    fn sort(pairs: &mut [(i32, u32)], places: &[u32]) {
        let key = |p: &(i32, u32)| (i64::from(p.0) << 32) | i64::from(places[p.1 as usize]);
        if !pairs.is_sorted_by_key(key) {
            pairs.sort_unstable_by_key(key);
        }
    }

    /// The `observed` sequence: consecutive repeats of a stage collapsed to the first.
    fn observed(pairs: &[(i32, u32)]) -> impl Iterator<Item = &(i32, u32)> {
        pairs
            .iter()
            .enumerate()
            .filter(move |(i, p)| *i == 0 || pairs[i - 1].1 != p.1)
            .map(|(_, p)| p)
    }

    fn finish_groups(&self, mut groups: Grouped) -> Result<ArrayRef> {
        let n = groups.len();
        match self.finish {
            Finish::Pathway { .. } | Finish::Journey { detail: false } => {
                let furthest = self.finish == Finish::Pathway { furthest: true };
                let places = self.stage_places();
                let pieces = Pieces::new(&self.codes);
                let mut text = PathwayTexts::with_capacity(n);
                for g in 0..n {
                    let pairs = groups.group(g);
                    if pairs.is_empty() {
                        text.append_null();
                        continue;
                    }
                    Self::sort(pairs, &places);
                    if furthest {
                        let mut reached: Option<u32> = None;
                        for &(_, code) in pairs.iter() {
                            let rank = self.ranks[code as usize];
                            if reached.is_none_or(|r| rank > r) {
                                reached = Some(rank);
                                pieces.push(&mut text.values, code);
                            }
                        }
                    } else {
                        for &(_, code) in Self::observed(pairs) {
                            pieces.push(&mut text.values, code);
                        }
                    }
                    text.end_pathway()?;
                }
                text.finish()
            }
            Finish::PersonPathway => {
                // Case types by their text alone: their order on a day has no rank.
                let places = self.places(|a, b| self.codes[a].cmp(&self.codes[b]));
                let mut out = StringBuilder::with_capacity(n, n * 24);
                let mut text = String::new();
                for g in 0..n {
                    let pairs = groups.group(g);
                    if pairs.is_empty() {
                        out.append_null();
                        continue;
                    }
                    Self::sort(pairs, &places);
                    text.clear();
                    // One per (day, type): repeats are adjacent after the sort.
                    for (i, &(date, code)) in pairs.iter().enumerate() {
                        if i > 0 && pairs[i - 1] == (date, code) {
                            continue;
                        }
                        if i > 0 {
                            text.push_str(" > ");
                        }
                        text.push_str(&self.codes[code as usize]);
                    }
                    out.append_value(&text);
                }
                Ok(Arc::new(out.finish()))
            }
            Finish::RepeatEntries { within } => {
                let mut out = Int64Builder::with_capacity(n);
                let mut dates: Vec<i32> = Vec::new();
                for g in 0..n {
                    let pairs = groups.group(g);
                    if pairs.is_empty() {
                        out.append_null();
                        continue;
                    }
                    dates.clear();
                    dates.extend(pairs.iter().map(|p| p.0));
                    dates.sort_unstable();
                    dates.dedup();
                    let count = match within {
                        None => dates.len() as i64 - 1,
                        Some(w) => dates
                            .windows(2)
                            .filter(|d| i64::from(d[1]) - i64::from(d[0]) <= w)
                            .count() as i64,
                    };
                    out.append_value(count);
                }
                Ok(Arc::new(out.finish()))
            }
            Finish::Detail | Finish::Journey { detail: true } => {
                let places = self.stage_places();
                let struct_builder = StructBuilder::new(
                    detail_fields(),
                    vec![
                        Box::new(StringBuilder::new()),
                        Box::new(Date32Builder::new()),
                        Box::new(Int32Builder::new()),
                    ],
                );
                let mut out = ListBuilder::new(struct_builder).with_field(Arc::new(Field::new(
                    "item",
                    DataType::Struct(detail_fields()),
                    true,
                )));
                for g in 0..n {
                    let pairs = groups.group(g);
                    if pairs.is_empty() {
                        out.append_null();
                        continue;
                    }
                    Self::sort(pairs, &places);
                    let first = pairs[0].0;
                    for &(date, code) in Self::observed(pairs) {
                        let s = out.values();
                        s.field_builder::<StringBuilder>(0)
                            .expect("stage")
                            .append_value(&self.codes[code as usize]);
                        s.field_builder::<Date32Builder>(1)
                            .expect("date")
                            .append_value(date);
                        s.field_builder::<Int32Builder>(2)
                            .expect("day")
                            .append_value(
                                (i64::from(date) - i64::from(first))
                                    .clamp(i32::MIN.into(), i32::MAX.into())
                                    as i32,
                            );
                        s.append(true);
                    }
                    out.append(true);
                }
                Ok(Arc::new(out.finish()))
            }
        }
    }

    fn build_state(&self, mut groups: Grouped) -> Vec<ArrayRef> {
        let mut dates = ListBuilder::new(Date32Builder::new());
        let mut codes = ListBuilder::new(StringBuilder::new());
        let has_code = self.finish.has_code();
        for g in 0..groups.len() {
            for &(date, code) in groups.group(g).iter() {
                dates.values().append_value(date);
                // Aggregates over dates alone (repeat_entries) carry an empty list of codes:
                // their merge reads only the dates.
                if has_code {
                    codes.values().append_value(&self.codes[code as usize]);
                }
            }
            dates.append(true);
            codes.append(true);
        }
        vec![Arc::new(dates.finish()), Arc::new(codes.finish())]
    }

    /// Adds partial states: each row's lists are read through their offsets into the flat
    /// values, since slicing out a row's lists (two array allocations a row) cost more than
    /// the merge itself with millions of one-case groups.
    fn merge(&mut self, states: &[ArrayRef], group_indices: &[usize]) -> Result<()> {
        let (Some(dates), Some(codes)) = (
            states[0].as_list_opt::<i32>(),
            states[1].as_list_opt::<i32>(),
        ) else {
            return exec_err!("fjq aggregate: unexpected partial state types");
        };
        let (Some(date_values), Some(code_values)) = (
            dates.values().as_primitive_opt::<Date32Type>(),
            codes.values().as_string_opt::<i32>(),
        ) else {
            return exec_err!("fjq aggregate: unexpected partial state item types");
        };
        let date_offsets = dates.value_offsets();
        let code_offsets = codes.value_offsets();
        let has_code = self.finish.has_code();
        self.note_order(group_indices);
        for (row, &g) in group_indices.iter().enumerate() {
            if dates.is_null(row) {
                continue;
            }
            let (start, end) = (date_offsets[row] as usize, date_offsets[row + 1] as usize);
            let code_start = code_offsets[row] as usize;
            for i in start..end {
                let code = if has_code {
                    self.intern(code_values.value(code_start + i - start))
                } else {
                    0
                };
                self.entries.push((g as u32, date_values.value(i), code));
            }
        }
        Ok(())
    }

    fn split<'a>(&self, values: &'a [ArrayRef]) -> (Option<&'a dyn Array>, &'a dyn Array) {
        if self.finish.has_code() {
            (Some(values[0].as_ref()), values[1].as_ref())
        } else {
            (None, values[0].as_ref())
        }
    }
}

impl GroupsAccumulator for DatedCodes {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.num_groups = self.num_groups.max(total_num_groups);
        let (codes, dates) = self.split(values);
        self.add(codes, dates, group_indices, opt_filter)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = self.take(emit_to);
        self.finish_groups(groups)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let groups = self.take(emit_to);
        Ok(self.build_state(groups))
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.num_groups = self.num_groups.max(total_num_groups);
        self.merge(values, group_indices)
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let mut one = DatedCodes::new(self.finish);
        let n = values[0].len();
        one.num_groups = n;
        let (codes, dates) = self.split(values);
        let rows: Vec<usize> = (0..n).collect();
        one.add(codes, dates, &rows, opt_filter)?;
        let groups = one.take(EmitTo::All);
        Ok(one.build_state(groups))
    }

    fn size(&self) -> usize {
        self.entries.capacity() * size_of::<(u32, i32, u32)>()
            + self.code_bytes
            + size_of_val(&*self.recent)
    }
}

/// What a DatedCodes aggregate's file gives: its parameters, its result type, how a call's
/// arguments choose the finish (what the collected (date, code) pairs become), and its
/// documentation.
pub trait DatedCodesFunction:
    Debug + Default + PartialEq + Eq + Hash + Send + Sync + 'static
{
    fn params(&self) -> &'static Params;
    fn return_type(&self) -> DataType;
    fn finish(&self, args: &AccumulatorArgs) -> Result<Finish>;
    fn documentation(&self) -> Option<&Documentation>;
}

/// A DatedCodes aggregate as an aggregate function: the one `AggregateUDFImpl` they share.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DatedCodesAggregate<F> {
    function: F,
    signature: Signature,
}

impl<F: DatedCodesFunction> Default for DatedCodesAggregate<F> {
    fn default() -> Self {
        let function = F::default();
        DatedCodesAggregate {
            signature: function.params().signature(),
            function,
        }
    }
}

impl<F: DatedCodesFunction> AggregateUDFImpl for DatedCodesAggregate<F> {
    fn name(&self) -> &str {
        self.function.params().function
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        // The accumulator reads the codes' string views as they are (`intern_column`).
        self.function.params().coerce_keeping_views(arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.function.return_type())
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(SingleGroup(DatedCodes::new(
            self.function.finish(&args)?,
        ))))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(state_fields(args.name))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(DatedCodes::new(self.function.finish(&args)?)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.function.documentation()
    }
}

/// The same logic for one group, where DataFusion asks for a plain accumulator
/// (no GROUP BY, or window frames).
#[derive(Debug)]
pub struct SingleGroup(pub DatedCodes);

impl Accumulator for SingleGroup {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let rows = vec![0; values[0].len()];
        self.0.update_batch(values, &rows, None, 1)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        // Window frames evaluate again as rows arrive: read the pairs without taking them.
        let group = Grouped::from_entries(self.0.entries.iter().copied(), 1);
        let array = self.0.finish_groups(group)?;
        ScalarValue::try_from_array(&array, 0)
    }

    fn size(&self) -> usize {
        self.0.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let group = Grouped::from_entries(self.0.entries.iter().copied(), 1);
        self.0
            .build_state(group)
            .iter()
            .map(|a| ScalarValue::try_from_array(a, 0))
            .collect()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let rows = vec![0; states[0].len()];
        self.0.merge_batch(states, &rows, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Date32Array;

    fn dates(values: &[i32]) -> ArrayRef {
        Arc::new(Date32Array::from(values.to_vec()))
    }

    fn counts(array: &ArrayRef) -> Vec<Option<i64>> {
        let a = array.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        (0..a.len())
            .map(|i| (!a.is_null(i)).then(|| a.value(i)))
            .collect()
    }

    /// Emitting the first groups (as DataFusion does with ordered input or under memory
    /// pressure) keeps the others, renumbered from 0, and they go on taking rows.
    #[test]
    fn emitting_the_first_groups_keeps_the_rest() {
        let mut acc = DatedCodes::new(Finish::RepeatEntries { within: None });
        // Group 0: days 1, 5, 5 (one repeat); group 1: day 3; group 2: days 2, 9.
        acc.update_batch(&[dates(&[1, 3, 5, 2, 5, 9])], &[0, 1, 0, 2, 0, 2], None, 3)
            .unwrap();
        let first = acc.evaluate(EmitTo::First(2)).unwrap();
        assert_eq!(counts(&first), vec![Some(1), Some(0)]);
        // The old group 2 is group 0 now; a new group 1 arrives.
        acc.update_batch(&[dates(&[20, 7])], &[0, 1], None, 2)
            .unwrap();
        let rest = acc.evaluate(EmitTo::All).unwrap();
        assert_eq!(counts(&rest), vec![Some(2), Some(0)]);
    }

    /// Rows in group order (an aggregate over sorted runs) are taken as a prefix: a group with
    /// no rows in between is NULL, the open group goes on into the next batch, and a batch out
    /// of order afterwards falls back to the counting sort with the same answers.
    #[test]
    fn groups_in_order_are_taken_as_a_prefix() {
        let mut acc = DatedCodes::new(Finish::RepeatEntries { within: None });
        // Group 0: days 1, 4; group 1: none; group 2: day 6, and days 8, 8 in the next batch.
        acc.update_batch(&[dates(&[1, 4, 6])], &[0, 0, 2], None, 3)
            .unwrap();
        assert!(acc.in_group_order);
        let first = acc.evaluate(EmitTo::First(2)).unwrap();
        assert_eq!(counts(&first), vec![Some(1), None]);
        acc.update_batch(&[dates(&[8, 8, 2])], &[0, 0, 1], None, 2)
            .unwrap();
        assert!(acc.in_group_order);
        assert_eq!(
            counts(&acc.evaluate(EmitTo::First(1)).unwrap()),
            vec![Some(1)]
        );
        // Now group 0 (day 2) and a new group 1, then group 0 again: out of order.
        acc.update_batch(&[dates(&[3, 9, 2])], &[1, 1, 0], None, 2)
            .unwrap();
        assert!(!acc.in_group_order);
        assert_eq!(
            counts(&acc.evaluate(EmitTo::All).unwrap()),
            vec![Some(0), Some(1)]
        );
        assert!(acc.in_group_order, "empty again, so in order");
    }

    /// Pathway texts, worked by hand: short codes and one too long for a 16-byte piece,
    /// consecutive repeats collapsed, a group with no rows NULL, a one-code pathway bare.
    #[test]
    fn pathway_texts_join_short_and_long_codes() {
        use datafusion::arrow::array::StringArray;
        let mut acc = DatedCodes::new(Finish::Pathway { furthest: false });
        let codes: ArrayRef = Arc::new(StringArray::from(vec![
            "C6",
            "C6",
            "A_VERY_LONG_STAGE_CODE",
            "U24",
            "G61",
        ]));
        acc.update_batch(&[codes, dates(&[1, 2, 3, 4, 9])], &[0, 0, 0, 0, 2], None, 3)
            .unwrap();
        let out = acc.evaluate(EmitTo::All).unwrap();
        let out = out.as_string::<i32>();
        assert_eq!(out.value(0), "C6 > A_VERY_LONG_STAGE_CODE > U24");
        assert!(out.is_null(1));
        assert_eq!(out.value(2), "G61");
    }

    /// A group with no pairs (all its dates NULL) is NULL; states carry every pair across.
    #[test]
    fn states_merge_back_to_the_same_answer() {
        let mut partial = DatedCodes::new(Finish::RepeatEntries { within: Some(10) });
        let with_null: ArrayRef =
            Arc::new(Date32Array::from(vec![Some(1), None, Some(30), Some(35)]));
        partial
            .update_batch(&[with_null], &[0, 1, 0, 0], None, 2)
            .unwrap();
        let state = partial.state(EmitTo::All).unwrap();
        let mut last = DatedCodes::new(Finish::RepeatEntries { within: Some(10) });
        last.merge_batch(&state, &[1, 0], 2).unwrap();
        // Group 1 (the old 0): entries 1, 30, 35; one gap of at most 10 days. Group 0: none.
        assert_eq!(
            counts(&last.evaluate(EmitTo::All).unwrap()),
            vec![None, Some(1)]
        );
    }
}
