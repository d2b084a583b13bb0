//! `fjq_cell_stats(value [, contributor])`: internal, added by `safe_table` beside a query's own
//! aggregates to judge each cell on its contributors (distinct persons' summed contributions,
//! or rows).

use super::contributions::{
    Contributions, list_field, merge_state, state_fields, stats_fields, stats_to_scalars,
};
use super::rules::MeasureStats;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray, StructArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature};
use std::collections::HashMap;
use std::sync::Arc;

/// Row contributions: each non-NULL value is one contributor.
#[derive(Debug)]
struct RowContributions(Contributions);

impl Accumulator for RowContributions {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        for v in values[0].as_primitive::<Float64Type>().iter().flatten() {
            self.0.add(v);
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Struct(Arc::new(StructArray::new(
            stats_fields(),
            stats_to_scalars(&self.0.stats)
                .into_iter()
                .map(|s| s.to_array())
                .collect::<Result<Vec<_>>>()?,
            None,
        ))))
    }

    fn size(&self) -> usize {
        size_of_val(self) + 16 * self.0.keep
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(stats_to_scalars(&self.0.stats))
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        merge_state(&mut self.0, states);
        Ok(())
    }
}

/// Person contributions: values summed per contributor first, then judged.
#[derive(Debug)]
struct PersonContributions {
    keep: usize,
    per_person: HashMap<String, f64>,
    min: Option<f64>,
    max: Option<f64>,
    negative: bool,
}

impl PersonContributions {
    fn add(&mut self, person: &str, v: f64) {
        *self.per_person.entry(person.to_string()).or_insert(0.0) += v;
        self.min = Some(self.min.map_or(v, |m| m.min(v)));
        self.max = Some(self.max.map_or(v, |m| m.max(v)));
        self.negative |= v < 0.0;
    }

    fn stats(&self) -> MeasureStats {
        let mut c = Contributions::new(self.keep);
        for &v in self.per_person.values() {
            c.add(v);
        }
        c.stats.min = self.min;
        c.stats.max = self.max;
        c.stats.negative |= self.negative;
        c.stats
    }
}

impl Accumulator for PersonContributions {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let v = values[0].as_primitive::<Float64Type>();
        let people = values[1].as_string::<i32>();
        for i in 0..v.len() {
            if v.is_null(i) || people.is_null(i) {
                continue;
            }
            self.add(people.value(i), v.value(i));
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Struct(Arc::new(StructArray::new(
            stats_fields(),
            stats_to_scalars(&self.stats())
                .into_iter()
                .map(|s| s.to_array())
                .collect::<Result<Vec<_>>>()?,
            None,
        ))))
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.per_person.len() * 48
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let (keys, values): (Vec<_>, Vec<_>) = self
            .per_person
            .iter()
            .map(|(k, v)| {
                (
                    ScalarValue::Utf8(Some(k.clone())),
                    ScalarValue::Float64(Some(*v)),
                )
            })
            .unzip();
        Ok(vec![
            ScalarValue::List(ScalarValue::new_list_nullable(&keys, &DataType::Utf8)),
            ScalarValue::List(ScalarValue::new_list_nullable(&values, &DataType::Float64)),
            ScalarValue::Float64(self.min),
            ScalarValue::Float64(self.max),
            ScalarValue::Boolean(Some(self.negative)),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let keys = states[0].as_list::<i32>();
        let values = states[1].as_list::<i32>();
        let (mins, maxs) = (
            states[2].as_primitive::<Float64Type>(),
            states[3].as_primitive::<Float64Type>(),
        );
        let negative = states[4].as_boolean();
        for row in 0..keys.len() {
            if keys.is_null(row) {
                continue;
            }
            let k = keys.value(row);
            let k: &StringArray = k.as_string::<i32>();
            let v = values.value(row);
            let v = v.as_primitive::<Float64Type>();
            for i in 0..k.len() {
                *self.per_person.entry(k.value(i).to_string()).or_insert(0.0) += v.value(i);
            }
            if !mins.is_null(row) {
                let m = mins.value(row);
                self.min = Some(self.min.map_or(m, |x| x.min(m)));
            }
            if !maxs.is_null(row) {
                let m = maxs.value(row);
                self.max = Some(self.max.map_or(m, |x| x.max(m)));
            }
            self.negative |= !negative.is_null(row) && negative.value(row);
        }
        Ok(())
    }
}

/// The name `safe_table` calls; not meant for users (so not documented in `\df`).
pub const CELL_STATS: &str = "fjq_cell_stats";

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CellStats {
    signature: Signature,
}

impl Default for CellStats {
    fn default() -> Self {
        CellStats {
            signature: Signature::user_defined(datafusion::logical_expr::Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for CellStats {
    fn name(&self) -> &str {
        CELL_STATS
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types.len() {
            1 => Ok(vec![DataType::Float64]),
            2 => Ok(vec![DataType::Float64, DataType::Utf8]),
            n => plan_err!("{CELL_STATS} takes 1 or 2 arguments, got {n}"),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(stats_fields()))
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        // Keep as many of the largest as the widest dominance rule could need.
        let keep = 8;
        Ok(if args.exprs.len() == 2 {
            Box::new(PersonContributions {
                keep,
                per_person: HashMap::new(),
                min: None,
                max: None,
                negative: false,
            })
        } else {
            Box::new(RowContributions(Contributions::new(keep)))
        })
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        if args.input_fields.len() == 2 {
            Ok(vec![
                Arc::new(Field::new(
                    format!("{}_people", args.name),
                    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
                    true,
                )),
                list_field(&format!("{}_values", args.name)),
                Arc::new(Field::new(
                    format!("{}_min", args.name),
                    DataType::Float64,
                    true,
                )),
                Arc::new(Field::new(
                    format!("{}_max", args.name),
                    DataType::Float64,
                    true,
                )),
                Arc::new(Field::new(
                    format!("{}_negative", args.name),
                    DataType::Boolean,
                    true,
                )),
            ])
        } else {
            Ok(state_fields(args.name))
        }
    }
}
