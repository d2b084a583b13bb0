//! `case_journey(step, step_date)`: a linked case's court stages and Cafcass work in one order.

use crate::args::{Kind, Params};
use crate::pathway::dated_codes::{DatedCodesFunction, Finish};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::Documentation;
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion_macros::user_doc;

pub static PARAMS: Params = Params {
    function: "case_journey",
    params: &[("step", Kind::Text), ("step_date", Kind::Date)],
    required: 2,
};

#[user_doc(
    doc_section(label = "fjq case pathways"),
    description = "Aggregate (GROUP BY case): what the court and Cafcass did on a linked case, in one order, joined by ' > '. Steps are court stages (pathway_stage) and Cafcass work types (cafcass_work.work_type), which are shown in brackets: [safeguarding_letter], [fhdra_attendance], [s7_report], [rule_16_4_guardian], [childrens_guardian_s41], [enforcement], [further_work]. Ordered by date, and on the same day each piece of work after the court stage that calls for it; consecutive repeats collapsed as in case_pathway's 'observed' mode (a guardian for each of two children is one step); NULL steps and dates ignored. Work dated before the court's application comes first.",
    syntax_example = "case_journey(step, step_date)",
    sql_example = r#"```sql
> SELECT case_id, case_journey(step, d) AS journey
  FROM (SELECT e.case_id, pathway_stage(c.case_type, e.event_code, e.hearing_type, e.disposal_type) AS step, e.event_date AS d
        FROM events e JOIN cases c USING (case_id) WHERE NOT e.error AND NOT e.vacated
        UNION ALL
        SELECT l.case_id, w.work_type, w.start_date FROM linked_cases l JOIN cafcass_work w USING (cafcass_case_id))
  GROUP BY case_id LIMIT 3;
-- application > [safeguarding_letter] > fhdra > [fhdra_attendance] > [s7_report] > final_hearing > final_order
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
pub struct CaseJourney;

impl DatedCodesFunction for CaseJourney {
    fn params(&self) -> &'static Params {
        &PARAMS
    }

    fn return_type(&self) -> DataType {
        DataType::Utf8
    }

    fn finish(&self, _args: &AccumulatorArgs) -> Result<Finish> {
        Ok(Finish::Journey { detail: false })
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
