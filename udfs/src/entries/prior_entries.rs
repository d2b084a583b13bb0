//! `prior_entries(start_date [, lookback_days])`.

use super::{EntryEvaluator, EntryKind};
use crate::args::{Kind, Params};
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::Result;
use datafusion::logical_expr::function::{PartitionEvaluatorArgs, WindowUDFFieldArgs};
use datafusion::logical_expr::{Documentation, PartitionEvaluator, Signature, WindowUDFImpl};
use datafusion_macros::user_doc;

pub static PARAMS: Params = Params {
    function: "prior_entries",
    params: &[("start_date", Kind::Date), ("lookback_days", Kind::Integer)],
    required: 1,
};

#[user_doc(
    doc_section(label = "fjq repeat entries"),
    description = "Window function (PARTITION BY person ORDER BY start_date): the number of distinct entries strictly before this one, optionally only those starting within lookback_days before it. Counts near the coverage start may be too low: see left_truncated.",
    syntax_example = "prior_entries(start_date [, lookback_days])",
    sql_example = r#"```sql
> SELECT person_id, start_date, prior_entries(start_date, 1095) OVER (PARTITION BY person_id ORDER BY start_date) AS priors_3y FROM (SELECT DISTINCT p.person_id, c.start_date FROM people p JOIN cases c USING (case_id) WHERE p.relationship_to_child = 'mother');
```"#,
    argument(
        name = "start_date",
        description = "The entry's start date (cases.start_date)."
    ),
    argument(
        name = "lookback_days",
        description = "Optional: count only entries starting at most this many days earlier."
    )
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PriorEntries {
    signature: Signature,
}

impl Default for PriorEntries {
    fn default() -> Self {
        PriorEntries {
            signature: PARAMS.signature(),
        }
    }
}

impl WindowUDFImpl for PriorEntries {
    fn name(&self) -> &str {
        "prior_entries"
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
            kind: EntryKind::Prior,
            function: "prior_entries",
        }))
    }

    fn field(&self, field_args: WindowUDFFieldArgs) -> Result<FieldRef> {
        Ok(EntryKind::Prior.field(field_args.name()))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
