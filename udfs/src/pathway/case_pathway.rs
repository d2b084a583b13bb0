//! `case_pathway(stage, event_date [, mode])`: a case's stages in order, joined by ` > `.

use crate::args::{Kind, Params, constant_option};
use crate::pathway::dated_codes::{DatedCodesFunction, Finish};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::Documentation;
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion_macros::user_doc;

pub static PARAMS: Params = Params {
    function: "case_pathway",
    params: &[
        ("stage", Kind::Text),
        ("event_date", Kind::Date),
        ("mode", Kind::Text),
    ],
    required: 2,
};
const MODES: &[&str] = &["observed", "furthest"];

#[user_doc(
    doc_section(label = "fjq case pathways"),
    description = "Aggregate (GROUP BY case): the stages a case went through, ordered by (date, stage rank), NULL stages ignored, joined by ' > '. Mode 'observed' (default) collapses consecutive repeats and keeps regressions (cmh > irh > cmh); 'furthest' keeps the first occurrence of each stage that goes beyond every stage before it (monotone).",
    syntax_example = "case_pathway(stage, event_date [, mode])",
    sql_example = r#"```sql
> SELECT c.case_id,
         case_pathway(pathway_stage(c.case_type, e.event_code, e.hearing_type, e.disposal_type), e.event_date) AS pathway
  FROM events e JOIN cases c USING (case_id)
  WHERE c.case_type = 'public_law' AND NOT e.error AND NOT e.vacated
  GROUP BY c.case_id LIMIT 3;
-- issue > interim_order > cmh > irh > final_hearing > final_order > closed
```"#,
    argument(
        name = "stage",
        description = "The stage of each event, usually pathway_stage(...); NULL rows are ignored."
    ),
    argument(name = "event_date", description = "The event's date."),
    argument(name = "mode", description = "'observed' (default) or 'furthest'.")
)]
#[derive(Debug, Default, PartialEq, Eq, Hash)]
pub struct CasePathway;

impl CasePathway {
    fn finish_for(args: &AccumulatorArgs) -> Result<Finish> {
        let mode = match args.exprs.get(2) {
            Some(e) => constant_option("case_pathway", "mode", e, MODES)?,
            None => "observed".to_string(),
        };
        Ok(Finish::Pathway {
            furthest: mode == "furthest",
        })
    }
}

impl DatedCodesFunction for CasePathway {
    fn params(&self) -> &'static Params {
        &PARAMS
    }

    fn return_type(&self) -> DataType {
        DataType::Utf8
    }

    fn finish(&self, args: &AccumulatorArgs) -> Result<Finish> {
        Self::finish_for(args)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
