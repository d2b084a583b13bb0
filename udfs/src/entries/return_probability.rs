//! `return_probability(person, start_date, horizon_days [, coverage_end])`: the Kaplan-Meier
//! estimate of the probability that a person's first entry is followed by another within
//! `horizon_days`, with follow-up censored at the coverage end.
//!
//! This is the recurrent-care literature's measure ("about 1 in 4 mothers return within 7
//! years" is a survival estimate, not a raw share). Each person's first entry in the input is the
//! index; the next distinct start date is the return.

use crate::args::{Coverage, Kind, Params, constant_i64, coverage_from};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Builder, ListBuilder, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Date32Type, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::function::{
    AccumulatorArgs, AggregateFunctionSimplification, StateFieldsArgs,
};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, Expr, Signature, lit,
};
use datafusion_macros::user_doc;
use std::collections::HashMap;
use std::sync::Arc;

pub static PARAMS: Params = Params {
    function: "return_probability",
    params: &[
        ("person", Kind::Text),
        ("start_date", Kind::Date),
        ("horizon_days", Kind::Integer),
        ("coverage_end", Kind::Date),
    ],
    required: 3,
};

#[user_doc(
    doc_section(label = "fjq repeat entries"),
    description = "Aggregate: the Kaplan-Meier estimate of the probability that a person returns (a new distinct entry) within horizon_days of their first entry, follow-up censored at coverage_end (default: the setting fjq.court_coverage_end). The survival measure behind published recurrence figures such as 'about 1 in 4 mothers within 7 years'.",
    syntax_example = "return_probability(person, start_date, horizon_days [, coverage_end])",
    sql_example = r#"```sql
> SELECT return_probability(p.person_id, c.start_date, 2557) AS mothers_back_within_7_years
  FROM people p JOIN cases c USING (case_id)
  WHERE c.case_type = 'public_law' AND p.relationship_to_child = 'mother';
```"#,
    argument(
        name = "person",
        description = "Who the entries belong to (person_id)."
    ),
    argument(name = "start_date", description = "The entry's start date."),
    argument(
        name = "horizon_days",
        description = "The horizon, e.g. 2557 for seven years."
    ),
    argument(
        name = "coverage_end",
        description = "Optional: the last date observed; defaults to fjq.court_coverage_end."
    )
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ReturnProbability {
    signature: Signature,
}

impl Default for ReturnProbability {
    fn default() -> Self {
        ReturnProbability {
            signature: PARAMS.signature(),
        }
    }
}

impl AggregateUDFImpl for ReturnProbability {
    fn name(&self) -> &str {
        "return_probability"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        PARAMS.coerce(arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn simplify(&self) -> Option<AggregateFunctionSimplification> {
        Some(Box::new(|mut af: AggregateFunction, ctx| {
            if af.params.args.len() == 3 {
                let day = coverage_from(ctx.config_options(), Coverage::CourtEnd)?;
                af.params.args.push(lit(ScalarValue::Date32(Some(day))));
            }
            Ok(Expr::AggregateFunction(af))
        }))
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let horizon = match args.exprs.get(2) {
            Some(e) => constant_i64("return_probability", "horizon_days", e)?,
            None => None,
        };
        let Some(horizon) = horizon.filter(|h| *h > 0) else {
            return plan_err!(
                "return_probability: horizon_days must be a positive constant, e.g. 2557 for seven years"
            );
        };
        let coverage_end = match args
            .exprs
            .get(3)
            .map(|e| crate::args::constant("return_probability", "coverage_end", e))
        {
            Some(Ok(ScalarValue::Date32(Some(d)))) => *d,
            Some(Err(e)) => return Err(e),
            _ => return plan_err!("return_probability: coverage_end must be a constant date"),
        };
        Ok(Box::new(KaplanMeier {
            horizon,
            coverage_end,
            people: HashMap::new(),
            names: Vec::new(),
            entries: Vec::new(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(
                format!("{}_people", args.name),
                DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
                true,
            )),
            Arc::new(Field::new(
                format!("{}_dates", args.name),
                DataType::List(Arc::new(Field::new("item", DataType::Date32, true))),
                true,
            )),
        ])
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

#[derive(Debug)]
struct KaplanMeier {
    horizon: i64,
    coverage_end: i32,
    people: HashMap<String, u32>,
    names: Vec<String>,
    entries: Vec<(u32, i32)>,
}

impl KaplanMeier {
    fn person(&mut self, name: &str) -> u32 {
        if let Some(&p) = self.people.get(name) {
            return p;
        }
        let p = self.names.len() as u32;
        self.names.push(name.to_string());
        self.people.insert(name.to_string(), p);
        p
    }

    fn add(&mut self, people: &dyn Array, dates: &dyn Array) {
        let people = people.as_string::<i32>();
        let dates = dates.as_primitive::<Date32Type>();
        for i in 0..people.len() {
            if people.is_null(i) || dates.is_null(i) {
                continue;
            }
            let p = self.person(people.value(i));
            self.entries.push((p, dates.value(i)));
        }
    }
}

/// 1 - S(horizon) for (time, returned) observations.
pub fn kaplan_meier(observations: &mut [(i64, bool)], horizon: i64) -> Option<f64> {
    if observations.is_empty() {
        return None;
    }
    let curve = super::return_curve::kaplan_meier_curve(observations, horizon);
    Some(1.0 - curve.last().map_or(1.0, |s| s.survival))
}

impl Accumulator for KaplanMeier {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.add(values[0].as_ref(), values[1].as_ref());
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let mut observations =
            super::return_curve::observations(&mut self.entries, self.coverage_end);
        Ok(ScalarValue::Float64(kaplan_meier(
            &mut observations,
            self.horizon,
        )))
    }

    fn size(&self) -> usize {
        self.entries.capacity() * 8
            + self
                .names
                .iter()
                .map(|n| n.capacity() * 2 + 64)
                .sum::<usize>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let mut people = ListBuilder::new(StringBuilder::new());
        let mut dates = ListBuilder::new(Date32Builder::new());
        for &(p, d) in &self.entries {
            people.values().append_value(&self.names[p as usize]);
            dates.values().append_value(d);
        }
        people.append(true);
        dates.append(true);
        Ok(vec![
            ScalarValue::try_from_array(&(Arc::new(people.finish()) as ArrayRef), 0)?,
            ScalarValue::try_from_array(&(Arc::new(dates.finish()) as ArrayRef), 0)?,
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (Some(people), Some(dates)) = (
            states[0].as_list_opt::<i32>(),
            states[1].as_list_opt::<i32>(),
        ) else {
            return exec_err!("return_probability: unexpected partial state types");
        };
        for row in 0..people.len() {
            if !people.is_null(row) {
                self.add(people.value(row).as_ref(), dates.value(row).as_ref());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::kaplan_meier;

    #[test]
    fn kaplan_meier_by_hand() {
        // Four people: returns at 10 and 30, censored at 20 and 40.
        // S(10) = 3/4; at 30 two remain at risk (30, 40): S = 3/4 * 1/2 = 3/8.
        let mut obs = vec![(10, true), (20, false), (30, true), (40, false)];
        assert!((kaplan_meier(&mut obs, 35).unwrap() - 5.0 / 8.0).abs() < 1e-12);
        let mut obs = vec![(10, true), (20, false), (30, true), (40, false)];
        assert!((kaplan_meier(&mut obs, 25).unwrap() - 0.25).abs() < 1e-12);
        assert_eq!(kaplan_meier(&mut [], 10), None);
        // A censoring at the same time as an event stays at risk for it.
        let mut obs = vec![(10, true), (10, false)];
        assert!((kaplan_meier(&mut obs, 10).unwrap() - 0.5).abs() < 1e-12);
    }
}
