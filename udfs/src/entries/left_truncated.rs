//! `left_truncated(start_date, lookback_days [, coverage_start])`: does the lookback reach before the coverage?

use super::{EntryEvaluator, EntryKind, coverage_default};
use crate::args::{Coverage, Kind, Params};
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::Result;
use datafusion::logical_expr::function::{
    PartitionEvaluatorArgs, WindowFunctionSimplification, WindowUDFFieldArgs,
};
use datafusion::logical_expr::{Documentation, PartitionEvaluator, Signature, WindowUDFImpl};
use datafusion_macros::user_doc;

pub static PARAMS: Params = Params {
    function: "left_truncated",
    params: &[
        ("start_date", Kind::Date),
        ("lookback_days", Kind::Integer),
        ("coverage_start", Kind::Date),
    ],
    required: 2,
};

#[user_doc(
    doc_section(label = "fjq repeat entries"),
    description = "Window function (PARTITION BY person ORDER BY start_date): TRUE when the lookback window (start_date - lookback_days) reaches before the coverage start, so prior_entries and similar counts may be too low. coverage_start defaults to the setting fjq.court_coverage_start.",
    syntax_example = "left_truncated(start_date, lookback_days [, coverage_start])",
    sql_example = r#"```sql
> SELECT prior_entries(start_date, 1095) OVER w AS priors_3y, left_truncated(start_date, 1095) OVER w AS truncated
  FROM (SELECT DISTINCT p.person_id, c.start_date FROM people p JOIN cases c USING (case_id) WHERE p.relationship_to_child = 'mother') WINDOW w AS (PARTITION BY person_id ORDER BY start_date);
```"#,
    argument(name = "start_date", description = "The entry's start date."),
    argument(
        name = "lookback_days",
        description = "How far back the count looks, in days."
    ),
    argument(
        name = "coverage_start",
        description = "Optional: the first date observed; defaults to fjq.court_coverage_start."
    )
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct LeftTruncated {
    signature: Signature,
}

impl Default for LeftTruncated {
    fn default() -> Self {
        LeftTruncated {
            signature: PARAMS.signature(),
        }
    }
}

impl WindowUDFImpl for LeftTruncated {
    fn name(&self) -> &str {
        "left_truncated"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        PARAMS.coerce(arg_types)
    }

    fn simplify(&self) -> Option<WindowFunctionSimplification> {
        coverage_default(&PARAMS, Coverage::CourtStart)
    }

    fn partition_evaluator(
        &self,
        _args: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        Ok(Box::new(EntryEvaluator {
            kind: EntryKind::LeftTruncated,
            function: "left_truncated",
        }))
    }

    fn field(&self, field_args: WindowUDFFieldArgs) -> Result<FieldRef> {
        Ok(EntryKind::LeftTruncated.field(field_args.name()))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
