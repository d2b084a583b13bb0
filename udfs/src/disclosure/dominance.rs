//! The dominance rules as aggregates (each row one contribution). [`DominanceAggregate`] is the
//! one `AggregateUDFImpl` they share: it fills omitted parameters from the session's
//! `fjq.disclosure.*` settings at planning time, keeps the cell's contributions as its state,
//! and asks its [`DominanceRule`] whether they fail. Each rule's file (`nk_disclosive.rs`,
//! `p_disclosive.rs`) says what its parameters are and what failing means.

use super::contributions::{Contributions, merge_state, state_fields, stats_to_scalars};
use super::rules::{MeasureStats, NegativeValues, Rules};
use crate::args::{Params, constant};
use crate::settings::rules_from;
use datafusion::arrow::array::{ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, FieldRef, Float64Type};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::function::{
    AccumulatorArgs, AggregateFunctionSimplification, StateFieldsArgs,
};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, Expr, Signature, lit,
};
use datafusion::physical_expr::PhysicalExpr;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

/// What a dominance rule's file gives its aggregate.
pub trait DominanceRule: Debug + Default + PartialEq + Eq + Hash + Send + Sync + 'static {
    /// The SQL name and parameters (the first is the value).
    fn params(&self) -> &'static Params;
    /// The settings' values for the parameters after the value, in order.
    fn defaults(&self, rules: &Rules) -> Vec<Expr>;
    /// Reads the call's parameters (constants, `args.exprs[1..]`) into `rules`, checking them.
    fn configure(&self, args: &AccumulatorArgs, rules: &mut Rules) -> Result<()>;
    /// Whether a cell's contributions (non-negative, or taken as absolute values) fail the rule.
    fn fails(&self, rules: &Rules, stats: &MeasureStats) -> bool;
    fn documentation(&self) -> Option<&Documentation>;
}

/// A dominance rule as an aggregate function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DominanceAggregate<R> {
    rule: R,
    signature: Signature,
}

impl<R: DominanceRule> Default for DominanceAggregate<R> {
    fn default() -> Self {
        let rule = R::default();
        DominanceAggregate {
            signature: rule.params().signature(),
            rule,
        }
    }
}

impl<R: DominanceRule> AggregateUDFImpl for DominanceAggregate<R> {
    fn name(&self) -> &str {
        self.rule.params().function
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let params = self.rule.params();
        // After simplification the settings' defaults and the negative flag follow.
        if arg_types.len() > params.params.len() {
            let mut t = params.coerce(&arg_types[..params.params.len()])?;
            t.push(DataType::Boolean);
            return Ok(t);
        }
        params.coerce(arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn simplify(&self) -> Option<AggregateFunctionSimplification> {
        let rule = R::default();
        Some(Box::new(move |mut af: AggregateFunction, ctx| {
            let full = rule.params().params.len();
            // Simplification runs more than once: fill in only what is missing.
            if af.params.args.len() > full {
                return Ok(Expr::AggregateFunction(af));
            }
            let rules = rules_from(ctx.config_options());
            let given = af.params.args.len() - 1;
            af.params
                .args
                .extend(rule.defaults(&rules).into_iter().skip(given));
            af.params
                .args
                .push(lit(rules.negative == NegativeValues::Absolute));
            Ok(Expr::AggregateFunction(af))
        }))
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let function = self.rule.params().function;
        if args.exprs.len() != self.rule.params().params.len() + 1 {
            return plan_err!("{function}: its parameters were not filled in from the settings");
        }
        let mut rules = Rules::default();
        let negative = &args.exprs[args.exprs.len() - 1];
        rules.negative = match constant(function, "negative", negative)? {
            ScalarValue::Boolean(Some(true)) => NegativeValues::Absolute,
            _ => NegativeValues::Refuse,
        };
        self.rule.configure(&args, &mut rules)?;
        Ok(Box::new(DominanceAccumulator {
            contributions: Contributions::new(rules.nk_n),
            rules,
            rule: R::default(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(state_fields(args.name))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.rule.documentation()
    }
}

/// A constant number argument of a dominance function.
pub fn number(function: &str, name: &str, e: &Arc<dyn PhysicalExpr>) -> Result<f64> {
    match constant(function, name, e)? {
        ScalarValue::Float64(Some(v)) => Ok(*v),
        ScalarValue::Int64(Some(v)) => Ok(*v as f64),
        other => plan_err!("{function}: argument {name} must be a constant number, got {other}"),
    }
}

#[derive(Debug)]
struct DominanceAccumulator<R> {
    contributions: Contributions,
    rules: Rules,
    rule: R,
}

impl<R: DominanceRule> Accumulator for DominanceAccumulator<R> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        for v in values[0].as_primitive::<Float64Type>().iter().flatten() {
            self.contributions.add(v);
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let s = &self.contributions.stats;
        if s.contributors == 0u64 {
            return Ok(ScalarValue::Boolean(None));
        }
        if s.negative && self.rules.negative == NegativeValues::Refuse {
            return Ok(ScalarValue::Boolean(Some(true)));
        }
        let s = if s.negative {
            MeasureStats {
                total: s.abs_total,
                largest: s.largest_abs.clone(),
                ..s.clone()
            }
        } else {
            s.clone()
        };
        Ok(ScalarValue::Boolean(Some(self.rule.fails(&self.rules, &s))))
    }

    fn size(&self) -> usize {
        size_of_val(self) + 16 * self.contributions.keep
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(stats_to_scalars(&self.contributions.stats))
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        merge_state(&mut self.contributions, states);
        Ok(())
    }
}
