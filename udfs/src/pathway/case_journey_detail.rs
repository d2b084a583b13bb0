//! `case_journey_detail(step, step_date)`: the journey as a list of {stage, date, day} records.

use crate::args::{Kind, Params};
use crate::pathway::dated_codes::{DatedCodesFunction, Finish};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::Documentation;
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion_macros::user_doc;

pub static PARAMS: Params = Params {
    function: "case_journey_detail",
    params: &[("step", Kind::Text), ("step_date", Kind::Date)],
    required: 2,
};

#[user_doc(
    doc_section(label = "fjq case pathways"),
    description = "Aggregate (GROUP BY case): case_journey as a list of {stage, date, day} records (Cafcass work in brackets, day counted from the first step), for the time from one step to another. Use unnest() to get one row per step.",
    syntax_example = "case_journey_detail(step, step_date)",
    sql_example = r#"```sql
> SELECT case_id, unnest(case_journey_detail(step, d)) AS step
  FROM (SELECT case_id, 'application' AS step, start_date AS d FROM cases WHERE case_type = 'private_law'
        UNION ALL
        SELECT l.case_id, w.work_type, w.start_date FROM linked_cases l JOIN cafcass_work w USING (cafcass_case_id))
  GROUP BY case_id LIMIT 5;
```"#,
    argument(
        name = "step",
        description = "A court stage or a Cafcass work type; NULL rows are ignored."
    ),
    argument(
        name = "step_date",
        description = "The event's date, or the work's start date."
    )
)]
#[derive(Debug, Default, PartialEq, Eq, Hash)]
pub struct CaseJourneyDetail;

impl DatedCodesFunction for CaseJourneyDetail {
    fn params(&self) -> &'static Params {
        &PARAMS
    }

    fn return_type(&self) -> DataType {
        crate::pathway::dated_codes::detail_type()
    }

    fn finish(&self, _args: &AccumulatorArgs) -> Result<Finish> {
        Ok(Finish::Journey { detail: true })
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
