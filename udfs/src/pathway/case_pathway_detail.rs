//! `case_pathway_detail(stage, event_date)`: the observed pathway as a list of
//! {stage, date, day} records, `day` counted from the first stage.

use super::dated_codes::{DatedCodes, Finish, SingleGroup, detail_type, state_fields};
use crate::args::{Kind, Params};
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, GroupsAccumulator, Signature,
};
use datafusion_macros::user_doc;

pub static PARAMS: Params = Params {
    function: "case_pathway_detail",
    params: &[("stage", Kind::Text), ("event_date", Kind::Date)],
    required: 2,
};

#[user_doc(
    doc_section(label = "fjq case pathways"),
    description = "Aggregate (GROUP BY case): the 'observed' pathway as a list of {stage, date, day} records, where day is the number of days since the first stage, for durations per stage. Use unnest() to get one row per stage.",
    syntax_example = "case_pathway_detail(stage, event_date)",
    sql_example = r#"```sql
> SELECT case_id, unnest(case_pathway_detail(stage, event_date)) AS step
  FROM (SELECT e.case_id, e.event_date,
               pathway_stage(c.case_type, e.event_code, e.hearing_type, e.disposal_type) AS stage
        FROM events e JOIN cases c USING (case_id) WHERE NOT e.error AND NOT e.vacated)
  GROUP BY case_id LIMIT 5;
```"#,
    argument(
        name = "stage",
        description = "The stage of each event; NULL rows are ignored."
    ),
    argument(name = "event_date", description = "The event's date.")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CasePathwayDetail {
    signature: Signature,
}

impl Default for CasePathwayDetail {
    fn default() -> Self {
        CasePathwayDetail {
            signature: PARAMS.signature(),
        }
    }
}

impl AggregateUDFImpl for CasePathwayDetail {
    fn name(&self) -> &str {
        "case_pathway_detail"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        PARAMS.coerce(arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(detail_type())
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(SingleGroup(DatedCodes::new(Finish::Detail))))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(state_fields(args.name))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        _args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(DatedCodes::new(Finish::Detail)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
