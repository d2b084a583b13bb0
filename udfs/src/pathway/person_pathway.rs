//! `person_pathway(case_type, start_date)`: a person's cases in start order.

use crate::args::{Kind, Params};
use crate::pathway::dated_codes::{DatedCodesFunction, Finish};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::Documentation;
use datafusion::logical_expr::function::AccumulatorArgs;
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
#[derive(Debug, Default, PartialEq, Eq, Hash)]
pub struct PersonPathway;

impl DatedCodesFunction for PersonPathway {
    fn params(&self) -> &'static Params {
        &PARAMS
    }

    fn return_type(&self) -> DataType {
        DataType::Utf8
    }

    fn finish(&self, _args: &AccumulatorArgs) -> Result<Finish> {
        Ok(Finish::PersonPathway)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
