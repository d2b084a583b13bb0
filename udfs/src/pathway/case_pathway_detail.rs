//! `case_pathway_detail(stage, event_date)`: the observed pathway as a list of
//! {stage, date, day} records, `day` counted from the first stage.

use crate::args::{Kind, Params};
use crate::pathway::dated_codes::{DatedCodesFunction, Finish};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::Documentation;
use datafusion::logical_expr::function::AccumulatorArgs;
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
#[derive(Debug, Default, PartialEq, Eq, Hash)]
pub struct CasePathwayDetail;

impl DatedCodesFunction for CasePathwayDetail {
    fn params(&self) -> &'static Params {
        &PARAMS
    }

    fn return_type(&self) -> DataType {
        crate::pathway::dated_codes::detail_type()
    }

    fn finish(&self, _args: &AccumulatorArgs) -> Result<Finish> {
        Ok(Finish::Detail)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
