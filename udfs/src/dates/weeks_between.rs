//! `weeks_between(from, to)`: (to - from) / 7 as a Float64.

use crate::args::{Kind, Params};
use datafusion::arrow::array::{ArrayRef, AsArray, Float64Array};
use datafusion::arrow::compute::kernels::arity::binary;
use datafusion::arrow::datatypes::{DataType, Date32Type};
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature,
};
use datafusion_macros::user_doc;
use std::sync::Arc;

pub static PARAMS: Params = Params {
    function: "weeks_between",
    params: &[("from", Kind::Date), ("to", Kind::Date)],
    required: 2,
};

#[user_doc(
    doc_section(label = "fjq dates"),
    description = "Weeks from one date to another, (to - from) / 7, as a fraction. NULL if either date is NULL (an open case has no disposal date).",
    syntax_example = "weeks_between(from, to)",
    sql_example = r#"```sql
> SELECT weeks_between(DATE '2020-01-01', DATE '2020-07-01');
26.0
> SELECT avg(weeks_between(start_date, first_disposal_date)) FROM cases WHERE case_type = 'public_law';
```"#,
    argument(name = "from", description = "The start date."),
    argument(name = "to", description = "The end date.")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct WeeksBetween {
    signature: Signature,
}

impl Default for WeeksBetween {
    fn default() -> Self {
        WeeksBetween {
            signature: PARAMS.signature(),
        }
    }
}

impl ScalarUDFImpl for WeeksBetween {
    fn name(&self) -> &str {
        "weeks_between"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        PARAMS.coerce(arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let out: Float64Array = binary(
            arrays[0].as_primitive::<Date32Type>(),
            arrays[1].as_primitive::<Date32Type>(),
            |from, to| (f64::from(to) - f64::from(from)) / 7.0,
        )?;
        let out: ArrayRef = Arc::new(out);
        crate::args::result_like(&args.args, out)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
