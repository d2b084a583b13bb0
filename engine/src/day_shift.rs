//! Dates moved by whole days, a whole array at a time: `d - INTERVAL '28 days'`, `d + 28`.
//!
//! DataFusion adds an interval to a `DATE` one value at a time through the calendar library:
//! the day number becomes a calendar date, months, days and nanoseconds are added to it, and
//! it becomes a day number again. Over the 13M event dates at scale 1.0 that took 280 ms, where
//! comparing the same dates with a date took 55. The linked views pay it twice on every pair of
//! keys their join meets (`received_date BETWEEN start_date - 28 AND start_date + 28`, which
//! DataFusion plans as `start_date - INTERVAL '28 days'`), and researchers write windows of
//! days around dates everywhere else. An interval of whole days and no months moves every date
//! by the same number of days, so [`DayShiftRule`] (a logical optimizer rule, run after
//! DataFusion's) rewrites `date ± interval` with such an interval as a literal into
//! [`ShiftDays`], which adds that number to the day numbers.
//!
//! The answers are DataFusion's: a batch with a date the calendar library cannot hold, before
//! or after the shift, goes to Arrow's own kernel, which then answers (or fails) as it would
//! have; an interval with months, or with a part of a day, is not rewritten. Each rewritten
//! expression keeps its old name where the name is part of the plan's schema, so column
//! headers do not change. Unlike DataFusion's sum, [`ShiftDays`] says it keeps its dates'
//! order, so a sort on a shifted date that arrives sorted is not done again.
//! `SET fjq.day_shift = false` leaves the sums to DataFusion.

use datafusion::arrow::array::{ArrayRef, AsArray, Date32Array, IntervalMonthDayNanoArray, Scalar};
use datafusion::arrow::compute::kernels::numeric::add;
use datafusion::arrow::compute::{max, min};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Field, FieldRef, IntervalMonthDayNano, IntervalUnit,
};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result, ScalarValue, exec_err};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator, ReturnFieldArgs,
    ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};
use fjq_udfs::FjqOptions;
use std::sync::{Arc, LazyLock};

/// Nanoseconds in a day.
const DAY_NANOS: i64 = 86_400_000_000_000;

/// Rewrites `date ± interval` into [`ShiftDays`] where the interval is a literal of whole days
/// (module docs).
#[derive(Debug, Default)]
pub struct DayShiftRule;

impl OptimizerRule for DayShiftRule {
    fn name(&self) -> &str {
        "fjq_day_shift"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let on = FjqOptions::plan_switch(&config.options(), |o| o.day_shift);
        // Grouping sets name their columns from their expressions, which an alias cannot keep.
        let grouping_sets = matches!(&plan, LogicalPlan::Aggregate(a)
            if a.group_expr.iter().any(|e| matches!(e, Expr::GroupingSet(_))));
        if !on || grouping_sets {
            return Ok(Transformed::no(plan));
        }
        // A scan's filters (pushed into it for pruning) are of its table's columns, which its
        // output need not keep; rewritten too, or the filter above it would be pushed again.
        let schema = match &plan {
            LogicalPlan::TableScan(scan) => {
                DFSchema::try_from_qualified_schema(scan.table_name.clone(), &scan.source.schema())?
            }
            _ => merge_schema(&plan.inputs()),
        };
        let names = NamePreserver::new(&plan);
        plan.map_expressions(|expr| {
            let name = names.save(&expr);
            let shifted = expr.transform_up(|e| shifted(e, &schema))?;
            Ok(match shifted.transformed {
                true => Transformed::yes(name.restore(shifted.data)),
                false => shifted,
            })
        })
    }
}

/// `expr` as a [`ShiftDays`] call, if it is a date plus or minus an interval literal of whole
/// days.
fn shifted(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &expr else {
        return Ok(Transformed::no(expr));
    };
    let (date, interval, subtract) = match (op, left.as_ref(), right.as_ref()) {
        (Operator::Plus | Operator::Minus, date, Expr::Literal(interval, _)) => {
            (date, interval, *op == Operator::Minus)
        }
        (Operator::Plus, Expr::Literal(interval, _), date) => (date, interval, false),
        _ => return Ok(Transformed::no(expr)),
    };
    let ScalarValue::IntervalMonthDayNano(Some(interval)) = interval else {
        return Ok(Transformed::no(expr));
    };
    let interval = match subtract {
        true => match negated(*interval) {
            Some(negated) => negated,
            None => return Ok(Transformed::no(expr)),
        },
        false => *interval,
    };
    // An operand whose type cannot be found from this node's inputs (an outer reference's
    // column) is left alone, as is every operand that is not a date.
    if whole_days(interval).is_none() || !matches!(date.get_type(schema), Ok(DataType::Date32)) {
        return Ok(Transformed::no(expr));
    }
    let args = vec![
        date.clone(),
        Expr::Literal(ScalarValue::IntervalMonthDayNano(Some(interval)), None),
    ];
    Ok(Transformed::yes(Expr::ScalarFunction(
        ScalarFunction::new_udf(Arc::clone(&SHIFT_DAYS), args),
    )))
}

/// `-interval`, if each part can be negated.
fn negated(interval: IntervalMonthDayNano) -> Option<IntervalMonthDayNano> {
    Some(IntervalMonthDayNano::new(
        interval.months.checked_neg()?,
        interval.days.checked_neg()?,
        interval.nanoseconds.checked_neg()?,
    ))
}

/// The days an interval moves a date by, when it is whole days in one of its parts: no months,
/// and days or nanoseconds but not both (Arrow adds the parts one after the other, and a date
/// the first would take out of the calendar's range fails there even if the second brings it
/// back).
fn whole_days(interval: IntervalMonthDayNano) -> Option<i64> {
    let IntervalMonthDayNano {
        months,
        days,
        nanoseconds,
    } = interval;
    match (months, days, nanoseconds) {
        (0, days, 0) => Some(days as i64),
        (0, 0, nanos) if nanos % DAY_NANOS == 0 => Some(nanos / DAY_NANOS),
        _ => None,
    }
}

/// The one instance the rule calls.
static SHIFT_DAYS: LazyLock<Arc<ScalarUDF>> =
    LazyLock::new(|| Arc::new(ScalarUDF::new_from_impl(ShiftDays::default())));

/// `fjq_shift_days(date, interval)`: `date + interval`, for an interval of whole days, by adding
/// the days to the day numbers. Not registered by name: only [`DayShiftRule`] calls it.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ShiftDays {
    signature: Signature,
}

impl Default for ShiftDays {
    fn default() -> Self {
        ShiftDays {
            signature: Signature::exact(
                vec![
                    DataType::Date32,
                    DataType::Interval(IntervalUnit::MonthDayNano),
                ],
                Volatility::Immutable,
            ),
        }
    }
}

impl ScalarUDFImpl for ShiftDays {
    fn name(&self) -> &str {
        "fjq_shift_days"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Date32)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let nullable = args.arg_fields.iter().any(|f| f.is_nullable());
        Ok(Arc::new(Field::new(
            self.name(),
            DataType::Date32,
            nullable,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [dates, interval] = args.args.as_slice() else {
            return exec_err!("fjq_shift_days takes a date and an interval");
        };
        let ColumnarValue::Scalar(ScalarValue::IntervalMonthDayNano(Some(interval))) = interval
        else {
            return exec_err!("fjq_shift_days takes an interval literal");
        };
        match dates {
            ColumnarValue::Array(dates) => Ok(ColumnarValue::Array(shift(dates, *interval)?)),
            ColumnarValue::Scalar(date) => {
                let shifted = shift(&date.to_array()?, *interval)?;
                Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
                    &shifted, 0,
                )?))
            }
        }
    }

    fn output_ordering(&self, inputs: &[ExprProperties]) -> Result<SortProperties> {
        // Every date moves by the same days: the order of the dates is kept.
        Ok(inputs
            .first()
            .map_or(SortProperties::Unordered, |date| date.sort_properties))
    }

    fn preserves_lex_ordering(&self, _inputs: &[ExprProperties]) -> Result<bool> {
        Ok(true)
    }
}

/// `dates + interval`: by adding days where every date, before and after, is one the calendar
/// library holds (the earliest and latest decide), else by Arrow's kernel.
fn shift(dates: &ArrayRef, interval: IntervalMonthDayNano) -> Result<ArrayRef> {
    let in_calendar = |day: i64| {
        i32::try_from(day)
            .ok()
            .and_then(Date32Type::to_naive_date_opt)
            .is_some()
    };
    if let (Some(days), Some(dates)) =
        (whole_days(interval), dates.as_primitive_opt::<Date32Type>())
    {
        let (Some(first), Some(last)) = (min(dates), max(dates)) else {
            return Ok(Arc::new(dates.clone()) as ArrayRef); // no dates, or all NULL
        };
        let (first, last) = (first as i64, last as i64);
        if [first, last, first + days, last + days]
            .into_iter()
            .all(in_calendar)
        {
            // In range, so the sum fits an i32.
            let shifted: Date32Array = dates.unary(|day| (day as i64 + days) as i32);
            return Ok(Arc::new(shifted));
        }
    }
    let interval = Scalar::new(IntervalMonthDayNanoArray::from(vec![interval]));
    Ok(add(dates, &interval)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dates(days: &[Option<i32>]) -> ArrayRef {
        Arc::new(Date32Array::from(days.to_vec()))
    }

    fn days_interval(days: i32, nanoseconds: i64) -> IntervalMonthDayNano {
        IntervalMonthDayNano::new(0, days, nanoseconds)
    }

    #[test]
    fn whole_days_are_added_to_the_day_numbers() {
        // 2020-02-27 is day 18319; 28 days on is 2020-03-26 (a leap February), day 18347.
        let shifted = shift(&dates(&[Some(18319), None, Some(0)]), days_interval(28, 0)).unwrap();
        assert_eq!(
            shifted.as_ref(),
            dates(&[Some(18347), None, Some(28)]).as_ref()
        );
        // 28 days as nanoseconds, back: day 0 (1970-01-01) less 28 days is 1969-12-04, day -28.
        let back = shift(&dates(&[Some(0)]), days_interval(0, -28 * DAY_NANOS)).unwrap();
        assert_eq!(back.as_ref(), dates(&[Some(-28)]).as_ref());
    }

    #[test]
    fn dates_beyond_the_calendar_are_arrows_to_answer() {
        // i32::MAX days is far beyond the calendar library's years: Arrow's kernel refuses it,
        // and so must the shift, rather than answer with a day number no calendar holds.
        let beyond = shift(&dates(&[Some(0), Some(i32::MAX - 1)]), days_interval(1, 0));
        let arrow = add(
            &dates(&[Some(0), Some(i32::MAX - 1)]),
            &Scalar::new(IntervalMonthDayNanoArray::from(vec![days_interval(1, 0)])),
        );
        assert!(beyond.is_err() && arrow.is_err(), "{beyond:?} {arrow:?}");
    }

    #[test]
    fn only_intervals_of_whole_days_without_months_are_shifts() {
        assert_eq!(whole_days(days_interval(7, 0)), Some(7));
        assert_eq!(whole_days(days_interval(0, 2 * DAY_NANOS)), Some(2));
        assert_eq!(whole_days(days_interval(0, DAY_NANOS / 2)), None);
        assert_eq!(whole_days(days_interval(1, DAY_NANOS)), None);
        assert_eq!(whole_days(IntervalMonthDayNano::new(1, 0, 0)), None);
    }
}
