//! `nk_disclosive(value [, n, k])`: does a group fail N-K dominance?

use super::dominance::{DominanceRule, number};
use super::rules::{MeasureStats, Rules};
use crate::args::{Kind, Params};
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{Documentation, Expr, lit};
use datafusion_macros::user_doc;

pub static PARAMS: Params = Params {
    function: "nk_disclosive",
    params: &[
        ("value", Kind::Number),
        ("n", Kind::Integer),
        ("k", Kind::Number),
    ],
    required: 1,
};

#[user_doc(
    doc_section(label = "fjq disclosure control"),
    description = "Aggregate: true when the group fails N-K dominance, i.e. its n largest values (each row one contribution) make up more than k of its total; exactly k passes. Defaults: the settings fjq.disclosure.nk_n (2) and fjq.disclosure.nk_k (0.9). A negative value makes the rule undefined: true, unless fjq.disclosure.negative is 'absolute'. Sum per person first for person-level dominance.",
    syntax_example = "nk_disclosive(value [, n, k])",
    sql_example = r#"```sql
> SELECT c.dfj_area, sum(w.days) AS days, nk_disclosive(w.days) AS dominated FROM (
    SELECT cafcass_case_id, sum(end_date - start_date) AS days
    FROM cafcass_work WHERE end_date IS NOT NULL GROUP BY 1) w
  JOIN cafcass_cases c USING (cafcass_case_id) GROUP BY 1;
```"#,
    argument(name = "value", description = "One contribution per row."),
    argument(
        name = "n",
        description = "Optional: how many of the largest contributions."
    ),
    argument(
        name = "k",
        description = "Optional: the largest share of the total they may make up."
    )
)]
#[derive(Debug, Default, PartialEq, Eq, Hash)]
pub struct NkDisclosive;

impl DominanceRule for NkDisclosive {
    fn params(&self) -> &'static Params {
        &PARAMS
    }

    fn defaults(&self, rules: &Rules) -> Vec<Expr> {
        vec![lit(rules.nk_n as i64), lit(rules.nk_k)]
    }

    fn configure(&self, args: &AccumulatorArgs, rules: &mut Rules) -> Result<()> {
        let n = number(PARAMS.function, "n", &args.exprs[1])?;
        let k = number(PARAMS.function, "k", &args.exprs[2])?;
        if n < 1.0 || n.fract() != 0.0 {
            return plan_err!("nk_disclosive: n must be a whole number of at least 1, got {n}");
        }
        if !(0.0..=1.0).contains(&k) {
            return plan_err!("nk_disclosive: k must be a share from 0 to 1, got {k}");
        }
        rules.nk_n = n as usize;
        rules.nk_k = k;
        Ok(())
    }

    fn fails(&self, rules: &Rules, stats: &MeasureStats) -> bool {
        rules.dominance_fails(stats)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
