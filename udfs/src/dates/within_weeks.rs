//! `within_weeks(from, to, n)`: did `to` come within `n` weeks of `from`?

use crate::args::{Kind, Params};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanBuilder};
use datafusion::arrow::datatypes::{DataType, Date32Type, Float64Type};
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature,
};
use datafusion_macros::user_doc;
use std::sync::Arc;

pub static PARAMS: Params = Params {
    function: "within_weeks",
    params: &[
        ("from", Kind::Date),
        ("to", Kind::Date),
        ("n", Kind::Number),
    ],
    required: 3,
};

#[user_doc(
    doc_section(label = "fjq dates"),
    description = "TRUE if to is at most n weeks (n * 7 days) after from; NULL when to is NULL (an open case). The care-proceedings timeliness measure is within_weeks(start_date, first_disposal_date, 26).",
    syntax_example = "within_weeks(from, to, n)",
    sql_example = r#"```sql
> SELECT extract(year FROM first_disposal_date) AS year,
         avg(CASE WHEN within_weeks(start_date, first_disposal_date, 26) THEN 1.0 ELSE 0.0 END) AS share_in_26_weeks
  FROM cases WHERE case_type = 'public_law' AND first_disposal_date IS NOT NULL GROUP BY 1 ORDER BY 1;
```"#,
    argument(name = "from", description = "The start date."),
    argument(name = "to", description = "The end date."),
    argument(name = "n", description = "The limit in weeks.")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct WithinWeeks {
    signature: Signature,
}

impl Default for WithinWeeks {
    fn default() -> Self {
        WithinWeeks {
            signature: PARAMS.signature(),
        }
    }
}

impl ScalarUDFImpl for WithinWeeks {
    fn name(&self) -> &str {
        "within_weeks"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        PARAMS.coerce(arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let from = arrays[0].as_primitive::<Date32Type>();
        let to = arrays[1].as_primitive::<Date32Type>();
        let n = arrays[2].as_primitive::<Float64Type>();
        let mut out = BooleanBuilder::with_capacity(args.number_rows);
        for i in 0..args.number_rows {
            if from.is_null(i) || to.is_null(i) || n.is_null(i) {
                out.append_null();
            } else {
                out.append_value(
                    f64::from(to.value(i)) - f64::from(from.value(i)) <= n.value(i) * 7.0,
                );
            }
        }
        let out: ArrayRef = Arc::new(out.finish());
        crate::args::result_like(&args.args, out)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
