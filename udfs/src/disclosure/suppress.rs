//! `suppress(count [, threshold])`: primary suppression of a count, as a scalar.

use crate::args::{Kind, Params};
use crate::settings::rules_from;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature,
};
use datafusion_macros::user_doc;
use std::sync::Arc;

pub static PARAMS: Params = Params {
    function: "suppress",
    params: &[("count", Kind::Integer), ("threshold", Kind::Integer)],
    required: 1,
};

#[user_doc(
    doc_section(label = "fjq disclosure control"),
    description = "The count, or NULL where it fails the threshold rule (fewer than threshold, default the setting fjq.disclosure.threshold) or the zero rule (a zero when fjq.disclosure.zeros_unsafe is true). Primary suppression only: margins can give a suppressed cell back, which safe_table prevents.",
    syntax_example = "suppress(count [, threshold])",
    sql_example = r#"```sql
> SELECT dfj_area, suppress(count(DISTINCT p.person_id)) AS children
  FROM people p JOIN cases c USING (case_id)
  WHERE p.role = 'child' GROUP BY dfj_area;
```"#,
    argument(name = "count", description = "A count of distinct persons (or rows)."),
    argument(
        name = "threshold",
        description = "Optional: the least count published; defaults to fjq.disclosure.threshold."
    )
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Suppress {
    signature: Signature,
}

impl Default for Suppress {
    fn default() -> Self {
        Suppress {
            signature: PARAMS.signature(),
        }
    }
}

impl ScalarUDFImpl for Suppress {
    fn name(&self) -> &str {
        "suppress"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        PARAMS.coerce(arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rules = rules_from(&args.config_options);
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let counts = arrays[0].as_primitive::<Int64Type>();
        let thresholds = arrays.get(1).map(|a| a.as_primitive::<Int64Type>());
        let mut out = Vec::with_capacity(counts.len());
        for i in 0..counts.len() {
            if counts.is_null(i) {
                out.push(None);
                continue;
            }
            let threshold = match thresholds {
                Some(t) if t.is_null(i) => i64::try_from(rules.threshold).unwrap_or(i64::MAX),
                Some(t) if t.value(i) < 0 => {
                    return exec_err!(
                        "suppress: threshold must not be negative, got {}",
                        t.value(i)
                    );
                }
                Some(t) => t.value(i),
                None => i64::try_from(rules.threshold).unwrap_or(i64::MAX),
            };
            let n = counts.value(i);
            let fails = if n == 0 {
                rules.zeros_unsafe
            } else {
                n < threshold
            };
            out.push((!fails).then_some(n));
        }
        let out: ArrayRef = Arc::new(Int64Array::from(out));
        crate::args::result_like(&args.args, out)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
