//! Repeat entries: a person's cases as a sequence of entries (design/FUNCTIONS.md). Entries of
//! one person on the same start date are one entry; gaps are measured start to start.
//!
//! The window functions share one kernel over a partition's start dates: it finds the distinct
//! entry dates (sorting them itself, so a partition ordered by something else still gets the
//! right answer) and answers each row by binary search. `repeat_entries` and
//! `return_probability` aggregate over the same notion of an entry.

pub mod days_since_last_entry;
pub mod entry_number;
pub mod left_truncated;
pub mod prior_entries;
pub mod repeat_entries;
pub mod return_curve;
pub mod return_probability;
pub mod returns_within;
pub mod window_exec;

use crate::args::{Coverage, Params, coverage_from};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanBuilder, Int64Builder};
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Field, FieldRef, Int64Type,
};
use datafusion::common::{Result, ScalarValue, exec_datafusion_err, internal_err};
use datafusion::logical_expr::expr::WindowFunction;
use datafusion::logical_expr::function::{
    PartitionEvaluatorArgs, WindowFunctionSimplification, WindowUDFFieldArgs,
};
use datafusion::logical_expr::{
    Documentation, Expr, PartitionEvaluator, Signature, WindowUDFImpl, lit,
};
use std::fmt::Debug;
use std::hash::Hash;
use std::ops::Range;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    Number,
    Prior,
    DaysSinceLast,
    ReturnsWithin,
    LeftTruncated,
}

impl EntryKind {
    pub fn return_type(self) -> DataType {
        match self {
            EntryKind::Number | EntryKind::Prior | EntryKind::DaysSinceLast => DataType::Int64,
            EntryKind::ReturnsWithin | EntryKind::LeftTruncated => DataType::Boolean,
        }
    }

    pub fn field(self, name: &str) -> FieldRef {
        Arc::new(Field::new(name, self.return_type(), true))
    }
}

#[derive(Debug)]
pub struct EntryEvaluator {
    pub kind: EntryKind,
    pub function: &'static str,
}

impl PartitionEvaluator for EntryEvaluator {
    fn evaluate_all(&mut self, values: &[ArrayRef], num_rows: usize) -> Result<ArrayRef> {
        evaluate(self.kind, self.function, values, num_rows)
    }
}

/// The value of an optional integer or date argument at a row, the array cast once per call
/// rather than per row.
fn typed_at<T: ArrowPrimitiveType>(
    values: &[ArrayRef],
    arg: usize,
) -> impl Fn(usize) -> Option<T::Native> + '_ {
    let array = values.get(arg).map(|a| a.as_primitive::<T>());
    move |row| array.and_then(|a| a.is_valid(row).then(|| a.value(row)))
}

fn negative(function: &str, argument: &str, value: i64) -> datafusion::error::DataFusionError {
    exec_datafusion_err!("{function}: {argument} must not be negative, got {value}")
}

/// Where a kernel's answers go: one builder for a whole batch of partitions.
pub enum Answers {
    Int(Int64Builder),
    Bool(BooleanBuilder),
}

impl Answers {
    pub fn new(kind: EntryKind, capacity: usize) -> Answers {
        match kind.return_type() {
            DataType::Boolean => Answers::Bool(BooleanBuilder::with_capacity(capacity)),
            _ => Answers::Int(Int64Builder::with_capacity(capacity)),
        }
    }

    pub fn finish(&mut self) -> ArrayRef {
        match self {
            Answers::Int(b) => Arc::new(b.finish()),
            Answers::Bool(b) => Arc::new(b.finish()),
        }
    }
}

/// Answers every row of one partition.
pub fn evaluate(
    kind: EntryKind,
    function: &str,
    values: &[ArrayRef],
    n: usize,
) -> Result<ArrayRef> {
    let mut out = Answers::new(kind, n);
    answer_partition(kind, function, values, 0..n, &mut Vec::new(), &mut out)?;
    Ok(out.finish())
}

/// Answers the whole partitions `ranges` of `values`, in order, into `out`. `returns_within`
/// over a partition whose dates arrive in ascending order (as the window's `ORDER BY` on its
/// date puts them) is answered in one backward pass: each row's next distinct date is the
/// first later date that differs, with no list of distinct dates and no search. At scale 1.0
/// the entries are 6.3M one- or two-row partitions, for which building that list was most of
/// the work. A partition in any other order goes through [`answer_partition`].
pub fn answer_partitions(
    kind: EntryKind,
    function: &str,
    values: &[ArrayRef],
    ranges: &[Range<usize>],
    distinct: &mut Vec<i32>,
    out: &mut Answers,
) -> Result<()> {
    if kind != EntryKind::ReturnsWithin || !matches!(out, Answers::Bool(_)) {
        for range in ranges {
            answer_partition(kind, function, values, range.clone(), distinct, out)?;
        }
        return Ok(());
    }
    let dates = values[0].as_primitive::<Date32Type>();
    let days_at = typed_at::<Int64Type>(values, 1);
    let end_at = typed_at::<Date32Type>(values, 2);
    // Per row of a partition: its next distinct date, if any; `None` also for NULL dates.
    let mut next: Vec<Option<i32>> = Vec::new();
    for range in ranges {
        next.clear();
        next.resize(range.len(), None);
        let mut later: Option<(i32, Option<i32>)> = None;
        let mut ascending = true;
        for row in range.clone().rev() {
            if dates.is_null(row) {
                continue;
            }
            let d = dates.value(row);
            let after = match later {
                None => None,
                Some((l, _)) if l > d => Some(l),
                Some((l, after_l)) if l == d => after_l,
                Some(_) => {
                    ascending = false;
                    break;
                }
            };
            next[row - range.start] = after;
            later = Some((d, after));
        }
        if !ascending {
            answer_partition(kind, function, values, range.clone(), distinct, out)?;
            continue;
        }
        let Answers::Bool(builder) = &mut *out else {
            unreachable!("matched above")
        };
        for row in range.clone() {
            let Some(days) = days_at(row).filter(|_| dates.is_valid(row)) else {
                builder.append_null();
                continue;
            };
            if days < 0 {
                return Err(negative(function, "days", days));
            }
            let d = dates.value(row);
            builder.append_option(returned(d, next[row - range.start], days, end_at(row)));
        }
    }
    Ok(())
}

/// `returns_within` of an entry on day `d` whose next entry is on `next`: true if that is
/// within `days`; false only if the whole window was observed (ends by `end`); else unknown.
fn returned(d: i32, next: Option<i32>, days: i64, end: Option<i32>) -> Option<bool> {
    let d = i64::from(d);
    if next.is_some_and(|n| i64::from(n) - d <= days) {
        return Some(true);
    }
    end.and_then(|end| (d.saturating_add(days) <= i64::from(end)).then_some(false))
}

/// Answers the rows `rows` of `values` (one partition) into `out`; `distinct` is scratch space
/// kept by the caller so that millions of small partitions do not allocate each.
pub fn answer_partition(
    kind: EntryKind,
    function: &str,
    values: &[ArrayRef],
    rows: Range<usize>,
    distinct: &mut Vec<i32>,
    out: &mut Answers,
) -> Result<()> {
    let dates = values[0].as_primitive::<Date32Type>();
    distinct.clear();
    distinct.extend(
        rows.clone()
            .filter(|&r| dates.is_valid(r))
            .map(|r| dates.value(r)),
    );
    if !distinct.is_sorted() {
        distinct.sort_unstable();
    }
    distinct.dedup();
    let distinct = &*distinct;
    let int_at = typed_at::<Int64Type>(values, 1);
    let date_at = typed_at::<Date32Type>(values, 2);
    let position = |row: usize| -> Option<(i32, usize)> {
        if dates.is_null(row) {
            return None;
        }
        let d = dates.value(row);
        // Every date of the partition is among its distinct dates.
        distinct.binary_search(&d).ok().map(|p| (d, p))
    };
    // A lookback (prior_entries, left_truncated) reaching forward means nothing: say so.
    if matches!(kind, EntryKind::Prior | EntryKind::LeftTruncated)
        && let Some(lookback) = values.get(1)
    {
        let lookback = lookback.as_primitive::<Int64Type>();
        if let Some(bad) = rows
            .clone()
            .filter(|&r| lookback.is_valid(r))
            .map(|r| lookback.value(r))
            .find(|l| *l < 0)
        {
            return Err(negative(function, "lookback_days", bad));
        }
    }
    match (kind, out) {
        (EntryKind::Number | EntryKind::Prior | EntryKind::DaysSinceLast, Answers::Int(out)) => {
            for row in rows {
                let value = position(row).and_then(|(d, p)| match kind {
                    EntryKind::Number => Some(p as i64 + 1),
                    EntryKind::Prior => match values.get(1) {
                        None => Some(p as i64),
                        Some(_) => int_at(row).map(|lookback| {
                            let from = i64::from(d).saturating_sub(lookback);
                            let first = distinct.partition_point(|&x| i64::from(x) < from);
                            p.saturating_sub(first) as i64
                        }),
                    },
                    _ => (p > 0).then(|| i64::from(d) - i64::from(distinct[p - 1])),
                });
                out.append_option(value);
            }
        }
        (EntryKind::ReturnsWithin, Answers::Bool(out)) => {
            for row in rows {
                let (Some((d, p)), Some(days)) = (position(row), int_at(row)) else {
                    out.append_null();
                    continue;
                };
                if days < 0 {
                    return Err(negative(function, "days", days));
                }
                out.append_option(returned(
                    d,
                    distinct.get(p + 1).copied(),
                    days,
                    date_at(row),
                ));
            }
        }
        (EntryKind::LeftTruncated, Answers::Bool(out)) => {
            for row in rows {
                let value = match (position(row), int_at(row), date_at(row)) {
                    (Some((d, _)), Some(lookback), Some(start)) => {
                        Some(i64::from(d).saturating_sub(lookback) < i64::from(start))
                    }
                    _ => None,
                };
                out.append_option(value);
            }
        }
        _ => {
            return internal_err!("{function}: answers of the wrong type");
        }
    }
    Ok(())
}

/// What an entry window function's file gives: its parameters, which kernel answers it, the
/// coverage setting an omitted last argument defaults to, and its documentation.
pub trait EntryFunction: Debug + Default + PartialEq + Eq + Hash + Send + Sync + 'static {
    fn params(&self) -> &'static Params;
    fn kind(&self) -> EntryKind;
    fn coverage(&self) -> Option<Coverage> {
        None
    }
    fn documentation(&self) -> Option<&Documentation>;
}

/// An entry function as a window function: the one `WindowUDFImpl` they share.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct EntryWindow<F> {
    function: F,
    signature: Signature,
}

impl<F: EntryFunction> Default for EntryWindow<F> {
    fn default() -> Self {
        let function = F::default();
        EntryWindow {
            signature: function.params().signature(),
            function,
        }
    }
}

impl<F: EntryFunction> WindowUDFImpl for EntryWindow<F> {
    fn name(&self) -> &str {
        self.function.params().function
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.function.params().coerce(arg_types)
    }

    fn simplify(&self) -> Option<WindowFunctionSimplification> {
        let which = self.function.coverage()?;
        coverage_default(self.function.params(), which)
    }

    fn partition_evaluator(
        &self,
        _args: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        Ok(Box::new(EntryEvaluator {
            kind: self.function.kind(),
            function: self.function.params().function,
        }))
    }

    fn field(&self, field_args: WindowUDFFieldArgs) -> Result<FieldRef> {
        Ok(self.function.kind().field(field_args.name()))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.function.documentation()
    }
}

/// Fills in an omitted coverage date from the session's `fjq.*` settings at planning time, so
/// that the evaluator always receives it as an argument.
pub fn coverage_default(
    params: &'static Params,
    which: Coverage,
) -> Option<WindowFunctionSimplification> {
    Some(Box::new(move |mut wf: WindowFunction, ctx| {
        if wf.params.args.len() == params.params.len() - 1 {
            let day = coverage_from(ctx.config_options(), which)?;
            wf.params.args.push(lit(ScalarValue::Date32(Some(day))));
        }
        Ok(Expr::from(wf))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Date32Array, Int64Array};

    fn returns_within(
        dates: Vec<Option<i32>>,
        days: Vec<Option<i64>>,
        ranges: &[Range<usize>],
    ) -> Result<Vec<Option<bool>>> {
        let n = dates.len();
        let values: Vec<ArrayRef> = vec![
            Arc::new(Date32Array::from(dates)),
            Arc::new(Int64Array::from(days)),
            Arc::new(Date32Array::from(vec![900; n])),
        ];
        let mut out = Answers::new(EntryKind::ReturnsWithin, n);
        answer_partitions(
            EntryKind::ReturnsWithin,
            "returns_within",
            &values,
            ranges,
            &mut Vec::new(),
            &mut out,
        )?;
        Ok(out.finish().as_boolean().iter().collect())
    }

    #[test]
    fn returns_within_over_many_partitions_gives_the_answers_worked_by_hand() {
        // Five partitions, a window of 30 days, coverage to day 900.
        let dates = vec![
            // Same-day entries are one entry; day 40 returns only at 800.
            Some(10),
            Some(10),
            Some(40),
            Some(800),
            // A NULL date, last as NULLS LAST puts it.
            Some(100),
            Some(120),
            None,
            // Day 890 is seen for 10 days of its 30: censored.
            Some(880),
            Some(890),
            // Not in date order: answered through the sorted distinct dates.
            Some(300),
            Some(200),
            Some(220),
            // No window length.
            Some(500),
        ];
        let mut days = vec![Some(30); 13];
        days[12] = None;
        let ranges = [0..4, 4..7, 7..9, 9..12, 12..13];
        let (t, f) = (Some(true), Some(false));
        assert_eq!(
            returns_within(dates.clone(), days.clone(), &ranges).unwrap(),
            vec![t, t, f, f, t, f, None, t, None, f, t, f, None]
        );
        // A negative window is refused, naming the argument.
        days[5] = Some(-1);
        let err = returns_within(dates, days, &ranges).unwrap_err();
        assert!(
            err.to_string()
                .contains("returns_within: days must not be negative, got -1"),
            "{err}"
        );
    }
}
