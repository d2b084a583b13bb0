//! The contributions of one cell: a mergeable summary (total, the largest few, extremes, signs,
//! count) that the dominance functions and `fjq_cell_stats` keep as their state, and its Arrow
//! layout (a struct of lists and numbers).

use super::rules::MeasureStats;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, ListArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type, Int64Type};
use datafusion::common::ScalarValue;
use std::sync::Arc;

/// The running statistics of a cell's contributions: total, the largest few (signed and by
/// absolute value), extremes, signs and count. Mergeable, so it is an aggregate's state.
#[derive(Debug, Clone, Default)]
pub struct Contributions {
    pub keep: usize,
    pub stats: MeasureStats,
}

impl Contributions {
    pub fn new(keep: usize) -> Self {
        Contributions {
            keep: keep.max(2),
            stats: MeasureStats::default(),
        }
    }

    pub fn add(&mut self, v: f64) {
        let s = &mut self.stats;
        s.total += v;
        s.abs_total += v.abs();
        s.negative |= v < 0.0;
        s.contributors += 1;
        s.min = Some(s.min.map_or(v, |m| m.min(v)));
        s.max = Some(s.max.map_or(v, |m| m.max(v)));
        insert_top(&mut s.largest, v, self.keep);
        insert_top(&mut s.largest_abs, v.abs(), self.keep);
    }

    pub fn merge(&mut self, other: &MeasureStats) {
        let s = &mut self.stats;
        s.total += other.total;
        s.abs_total += other.abs_total;
        s.negative |= other.negative;
        s.contributors += other.contributors;
        for (mine, theirs, pick) in [
            (&mut s.min, other.min, f64::min as fn(f64, f64) -> f64),
            (&mut s.max, other.max, f64::max),
        ] {
            *mine = match (*mine, theirs) {
                (Some(a), Some(b)) => Some(pick(a, b)),
                (a, b) => a.or(b),
            };
        }
        for &v in &other.largest {
            insert_top(&mut s.largest, v, self.keep);
        }
        for &v in &other.largest_abs {
            insert_top(&mut s.largest_abs, v, self.keep);
        }
    }
}

fn insert_top(top: &mut Vec<f64>, v: f64, keep: usize) {
    if top.len() == keep && top.last().is_some_and(|&last| v <= last) {
        return;
    }
    let at = top.partition_point(|&x| x >= v);
    top.insert(at, v);
    top.truncate(keep);
}

pub fn list_field(name: &str) -> FieldRef {
    Arc::new(Field::new(
        name,
        DataType::List(Arc::new(Field::new("item", DataType::Float64, true))),
        true,
    ))
}

/// The contributions as an aggregate's state fields, named after the aggregate.
pub fn state_fields(aggregate: &str) -> Vec<FieldRef> {
    stats_fields()
        .iter()
        .map(|f| {
            Arc::new(
                f.as_ref()
                    .clone()
                    .with_name(format!("{aggregate}_{}", f.name())),
            )
        })
        .collect()
}

/// The state (and `fjq_cell_stats`'s result) as Arrow fields.
pub fn stats_fields() -> Fields {
    Fields::from(vec![
        Field::new("total", DataType::Float64, true),
        Field::new("abs_total", DataType::Float64, true),
        Field::new(
            "largest",
            DataType::List(Arc::new(Field::new("item", DataType::Float64, true))),
            true,
        ),
        Field::new(
            "largest_abs",
            DataType::List(Arc::new(Field::new("item", DataType::Float64, true))),
            true,
        ),
        Field::new("min", DataType::Float64, true),
        Field::new("max", DataType::Float64, true),
        Field::new("negative", DataType::Boolean, true),
        Field::new("contributors", DataType::Int64, true),
    ])
}

pub fn stats_to_scalars(s: &MeasureStats) -> Vec<ScalarValue> {
    let list = |v: &[f64]| {
        ScalarValue::List(ScalarValue::new_list_nullable(
            &v.iter()
                .map(|x| ScalarValue::Float64(Some(*x)))
                .collect::<Vec<_>>(),
            &DataType::Float64,
        ))
    };
    vec![
        ScalarValue::Float64(Some(s.total)),
        ScalarValue::Float64(Some(s.abs_total)),
        list(&s.largest),
        list(&s.largest_abs),
        ScalarValue::Float64(s.min),
        ScalarValue::Float64(s.max),
        ScalarValue::Boolean(Some(s.negative)),
        ScalarValue::Int64(Some(s.contributors as i64)),
    ]
}

/// Reads `MeasureStats` back from the arrays of the state (or result) at `row`.
pub fn stats_from_arrays(columns: &[ArrayRef], row: usize) -> MeasureStats {
    let f = |i: usize| {
        let a = columns[i].as_primitive::<Float64Type>();
        (!a.is_null(row)).then(|| a.value(row))
    };
    let list = |i: usize| -> Vec<f64> {
        let a: &ListArray = columns[i].as_list::<i32>();
        if a.is_null(row) {
            return Vec::new();
        }
        let values = a.value(row);
        values
            .as_primitive::<Float64Type>()
            .iter()
            .flatten()
            .collect()
    };
    let negative = columns[6].as_boolean();
    let contributors = columns[7].as_primitive::<Int64Type>();
    MeasureStats {
        total: f(0).unwrap_or(0.0),
        abs_total: f(1).unwrap_or(0.0),
        largest: list(2),
        largest_abs: list(3),
        min: f(4),
        max: f(5),
        negative: !negative.is_null(row) && negative.value(row),
        contributors: if contributors.is_null(row) {
            0
        } else {
            contributors.value(row).max(0) as u64
        },
    }
}

pub fn merge_state(acc: &mut Contributions, states: &[ArrayRef]) {
    for row in 0..states[0].len() {
        if states[7].is_null(row) {
            continue;
        }
        acc.merge(&stats_from_arrays(states, row));
    }
}
