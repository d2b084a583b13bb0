//! `days_since_last_entry(start_date)`.

use super::{EntryEvaluator, EntryKind};
use crate::args::{Kind, Params};
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::Result;
use datafusion::logical_expr::function::{PartitionEvaluatorArgs, WindowUDFFieldArgs};
use datafusion::logical_expr::{Documentation, PartitionEvaluator, Signature, WindowUDFImpl};
use datafusion_macros::user_doc;

pub static PARAMS: Params = Params {
    function: "days_since_last_entry",
    params: &[("start_date", Kind::Date)],
    required: 1,
};

#[user_doc(
    doc_section(label = "fjq repeat entries"),
    description = "Window function (PARTITION BY person ORDER BY start_date): days since the previous distinct entry (start to start); NULL for the first entry.",
    syntax_example = "days_since_last_entry(start_date)",
    sql_example = r#"```sql
> SELECT person_id, start_date, days_since_last_entry(start_date) OVER (PARTITION BY person_id ORDER BY start_date) AS gap_days FROM (SELECT DISTINCT p.person_id, c.start_date FROM people p JOIN cases c USING (case_id) WHERE p.relationship_to_child = 'mother');
```"#,
    argument(
        name = "start_date",
        description = "The entry's start date (cases.start_date)."
    )
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DaysSinceLastEntry {
    signature: Signature,
}

impl Default for DaysSinceLastEntry {
    fn default() -> Self {
        DaysSinceLastEntry {
            signature: PARAMS.signature(),
        }
    }
}

impl WindowUDFImpl for DaysSinceLastEntry {
    fn name(&self) -> &str {
        "days_since_last_entry"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        PARAMS.coerce(arg_types)
    }

    fn partition_evaluator(
        &self,
        _args: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        Ok(Box::new(EntryEvaluator {
            kind: EntryKind::DaysSinceLast,
            function: "days_since_last_entry",
        }))
    }

    fn field(&self, field_args: WindowUDFFieldArgs) -> Result<FieldRef> {
        Ok(EntryKind::DaysSinceLast.field(field_args.name()))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
