//! `p_disclosive(value [, p])`: does a group fail the p% rule?

use super::dominance::{DominanceRule, number};
use super::rules::{MeasureStats, Rules};
use crate::args::{Kind, Params};
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{Documentation, Expr, lit};
use datafusion_macros::user_doc;

pub static PARAMS: Params = Params {
    function: "p_disclosive",
    params: &[("value", Kind::Number), ("p", Kind::Number)],
    required: 1,
};

#[user_doc(
    doc_section(label = "fjq disclosure control"),
    description = "Aggregate: true when the group fails the p% rule, i.e. (total - x1 - x2) / x1 < p where x1 and x2 are its two largest values (each row one contribution): the others do not hide the largest well enough. Default p: the setting fjq.disclosure.p_ratio (0.10). A negative value makes the rule undefined: true, unless fjq.disclosure.negative is 'absolute'.",
    syntax_example = "p_disclosive(value [, p])",
    sql_example = r#"```sql
> SELECT c.case_type, p_disclosive(weeks_between(c.start_date, c.first_disposal_date)) AS disclosive
  FROM cases c WHERE c.first_disposal_date IS NOT NULL GROUP BY 1;
```"#,
    argument(name = "value", description = "One contribution per row."),
    argument(
        name = "p",
        description = "Optional: the least (total - x1 - x2) / x1 allowed."
    )
)]
#[derive(Debug, Default, PartialEq, Eq, Hash)]
pub struct PDisclosive;

impl DominanceRule for PDisclosive {
    fn params(&self) -> &'static Params {
        &PARAMS
    }

    fn defaults(&self, rules: &Rules) -> Vec<Expr> {
        vec![lit(rules.p_ratio)]
    }

    fn configure(&self, args: &AccumulatorArgs, rules: &mut Rules) -> Result<()> {
        let p = number(PARAMS.function, "p", &args.exprs[1])?;
        if !(p >= 0.0 && p.is_finite()) {
            return plan_err!("p_disclosive: p must be a number of at least 0, got {p}");
        }
        rules.p_ratio = p;
        Ok(())
    }

    fn fails(&self, rules: &Rules, stats: &MeasureStats) -> bool {
        rules.p_ratio_fails(stats)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
