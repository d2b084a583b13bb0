//! `person_pathway(case_type, start_date)`: a person's cases in start order.

use super::dated_codes::{DatedCodes, Finish, SingleGroup, state_fields};
use crate::args::{Kind, Params};
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, GroupsAccumulator, Signature,
};
use datafusion_macros::user_doc;

pub static PARAMS: Params = Params {
    function: "person_pathway",
    params: &[("case_type", Kind::Text), ("start_date", Kind::Date)],
    required: 2,
};

#[user_doc(
    doc_section(label = "fjq case pathways"),
    description = "Aggregate (GROUP BY person): the person's cases in start order, joined by ' > ' (e.g. private_law > public_law > adoption). Cases of the same type starting the same day (siblings issued on separate case numbers) appear once.",
    syntax_example = "person_pathway(case_type, start_date)",
    sql_example = r#"```sql
> SELECT pathway, count(*) AS mothers FROM (
    SELECT p.person_id, person_pathway(c.case_type, c.start_date) AS pathway
    FROM people p JOIN cases c USING (case_id)
    WHERE p.relationship_to_child = 'mother' GROUP BY p.person_id)
  GROUP BY pathway ORDER BY mothers DESC LIMIT 5;
```"#,
    argument(name = "case_type", description = "cases.case_type."),
    argument(name = "start_date", description = "cases.start_date.")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PersonPathway {
    signature: Signature,
}

impl Default for PersonPathway {
    fn default() -> Self {
        PersonPathway {
            signature: PARAMS.signature(),
        }
    }
}

impl AggregateUDFImpl for PersonPathway {
    fn name(&self) -> &str {
        "person_pathway"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        PARAMS.coerce(arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(SingleGroup(DatedCodes::new(
            Finish::PersonPathway,
        ))))
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
        Ok(Box::new(DatedCodes::new(Finish::PersonPathway)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
