//! `pathway_stage(case_type, event_code, hearing_type [, disposal_type])`: the stage an event
//! marks, or NULL.

use super::stage_of;
use crate::args::{Kind, Params, TextColumn};
use datafusion::arrow::array::{ArrayRef, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature,
};
use datafusion_macros::user_doc;
use std::sync::Arc;

pub static PARAMS: Params = Params {
    function: "pathway_stage",
    params: &[
        ("case_type", Kind::Text),
        ("event_code", Kind::Text),
        ("hearing_type", Kind::Text),
        ("disposal_type", Kind::Text),
    ],
    required: 3,
};

#[user_doc(
    doc_section(label = "fjq case pathways"),
    description = "The pathway stage an event marks (Public Law Outline, Child Arrangements Programme and the other types' stages), or NULL for events that mark none. Hearings map by hearing_type; FL404 and FMPO orders need disposal_type to tell a without-notice (interim) order from a final one. Filter out vacated hearings and keying errors (error = true) before building pathways.",
    syntax_example = "pathway_stage(case_type, event_code, hearing_type [, disposal_type])",
    sql_example = r#"```sql
> SELECT pathway_stage('public_law', 'C6', 'IRH');
irh
> SELECT e.event_code, pathway_stage(c.case_type, e.event_code, e.hearing_type, e.disposal_type) AS stage
  FROM events e JOIN cases c USING (case_id) WHERE NOT e.error AND NOT e.vacated LIMIT 5;
```"#,
    argument(
        name = "case_type",
        description = "cases.case_type, e.g. 'public_law'."
    ),
    argument(
        name = "event_code",
        description = "events.event_code, e.g. 'U22', 'C6', 'C32A'."
    ),
    argument(
        name = "hearing_type",
        description = "events.hearing_type (NULL for events that are not hearings)."
    ),
    argument(
        name = "disposal_type",
        description = "Optional: events.disposal_type."
    )
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PathwayStage {
    signature: Signature,
}

impl Default for PathwayStage {
    fn default() -> Self {
        PathwayStage {
            signature: PARAMS.signature(),
        }
    }
}

impl ScalarUDFImpl for PathwayStage {
    fn name(&self) -> &str {
        "pathway_stage"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        PARAMS.coerce_keeping_views(arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let strings = arrays
            .iter()
            .map(|a| TextColumn::new(a.as_ref()))
            .collect::<Result<Vec<TextColumn>>>()?;
        let (types, codes, hearings) = (&strings[0], &strings[1], &strings[2]);
        let disposals = strings.get(3);
        let mut out = StringBuilder::with_capacity(n, n * 8);
        for i in 0..n {
            let stage = match (types.get(i), codes.get(i)) {
                (Some(t), Some(c)) => {
                    stage_of(t, c, hearings.get(i), disposals.and_then(|d| d.get(i)))
                }
                _ => None,
            };
            out.append_option(stage);
        }
        let result: ArrayRef = Arc::new(out.finish());
        crate::args::result_like(&args.args, result)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
