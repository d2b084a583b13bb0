//! `repeat_entries(start_date [, within_days])`: entries after a person's first.

use crate::args::{Kind, Params, constant_i64};
use crate::pathway::dated_codes::{DatedCodes, Finish, SingleGroup, state_fields};
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, GroupsAccumulator, Signature,
};
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
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RepeatEntries {
    signature: Signature,
}

impl Default for RepeatEntries {
    fn default() -> Self {
        RepeatEntries {
            signature: PARAMS.signature(),
        }
    }
}

impl RepeatEntries {
    fn finish(args: &AccumulatorArgs) -> Result<Finish> {
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

impl AggregateUDFImpl for RepeatEntries {
    fn name(&self) -> &str {
        "repeat_entries"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        PARAMS.coerce(arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(SingleGroup(DatedCodes::new(Self::finish(&args)?))))
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
        Ok(Box::new(DatedCodes::new(Self::finish(&args)?)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
