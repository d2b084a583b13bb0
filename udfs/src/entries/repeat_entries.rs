//! `repeat_entries(start_date [, within_days])`: entries after a person's first.

use crate::args::{Kind, Params, constant_i64};
use crate::pathway::dated_codes::{DatedCodesFunction, Finish};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::Documentation;
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion_macros::user_doc;

pub static PARAMS: Params = Params {
    function: "repeat_entries",
    params: &[("start_date", Kind::Date), ("within_days", Kind::Integer)],
    required: 1,
};

#[user_doc(
    doc_section(label = "fjq repeat entries"),
    description = "Aggregate (GROUP BY person): the number of distinct entries after the first (same-day entries are one), optionally only those starting within within_days of the previous entry. NULL for a person with no dated entry.",
    syntax_example = "repeat_entries(start_date [, within_days])",
    sql_example = r#"```sql
> SELECT repeats, count(*) AS mothers FROM (
    SELECT p.person_id, repeat_entries(c.start_date) AS repeats
    FROM people p JOIN cases c USING (case_id)
    WHERE c.case_type = 'public_law' AND p.relationship_to_child = 'mother' GROUP BY 1)
  GROUP BY repeats ORDER BY repeats;
```"#,
    argument(name = "start_date", description = "The entry's start date."),
    argument(
        name = "within_days",
        description = "Optional: count only entries starting at most this many days after the previous one."
    )
)]
#[derive(Debug, Default, PartialEq, Eq, Hash)]
pub struct RepeatEntries;

impl RepeatEntries {
    fn finish_for(args: &AccumulatorArgs) -> Result<Finish> {
        let within = match args.exprs.get(1) {
            Some(e) => constant_i64("repeat_entries", "within_days", e)?,
            None => None,
        };
        if let Some(w) = within.filter(|w| *w < 0) {
            return plan_err!("repeat_entries: within_days must not be negative, got {w}");
        }
        Ok(Finish::RepeatEntries { within })
    }
}

impl DatedCodesFunction for RepeatEntries {
    fn params(&self) -> &'static Params {
        &PARAMS
    }

    fn return_type(&self) -> DataType {
        DataType::Int64
    }

    fn finish(&self, args: &AccumulatorArgs) -> Result<Finish> {
        Self::finish_for(args)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
