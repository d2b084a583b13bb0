//! `round_to_base(value [, base])`: rounding to a base, ties half up.

use super::rules::{round_half_up, round_half_up_i64};
use crate::args::{Kind, Params};
use crate::settings::rules_from;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature,
};
use datafusion_macros::user_doc;
use std::sync::Arc;

pub static PARAMS: Params = Params {
    function: "round_to_base",
    params: &[("value", Kind::Number), ("base", Kind::Integer)],
    required: 1,
};

#[user_doc(
    doc_section(label = "fjq disclosure control"),
    description = "The value rounded to a multiple of base (default the setting fjq.disclosure.rounding_base, 5), ties rounded half up: 12.5 -> 15, 7.5 -> 10, -7.5 -> -5. Whole numbers stay whole numbers.",
    syntax_example = "round_to_base(value [, base])",
    sql_example = r#"```sql
> SELECT round_to_base(12, 5), round_to_base(13, 5), round_to_base(15, 10);
10, 15, 20
```"#,
    argument(name = "value", description = "The value to round."),
    argument(
        name = "base",
        description = "Optional: a positive whole number; defaults to fjq.disclosure.rounding_base."
    )
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RoundToBase {
    signature: Signature,
}

impl Default for RoundToBase {
    fn default() -> Self {
        RoundToBase {
            signature: PARAMS.signature(),
        }
    }
}

impl ScalarUDFImpl for RoundToBase {
    fn name(&self) -> &str {
        "round_to_base"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let mut types = PARAMS.coerce(arg_types)?;
        // Keep whole numbers whole: an integer count rounds to an integer.
        if arg_types[0].is_integer() {
            types[0] = DataType::Int64;
        }
        Ok(types)
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(if arg_types[0] == DataType::Int64 {
            DataType::Int64
        } else {
            DataType::Float64
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rules = rules_from(&args.config_options);
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let bases = arrays.get(1).map(|a| a.as_primitive::<Int64Type>());
        let base_at = |i: usize| -> Result<i64> {
            let b = match bases {
                Some(b) if !b.is_null(i) => b.value(i),
                _ => i64::try_from(rules.rounding_base).unwrap_or(1),
            };
            if b <= 0 {
                return exec_err!("round_to_base: base must be a positive whole number, got {b}");
            }
            Ok(b)
        };
        let out: ArrayRef = if arrays[0].data_type() == &DataType::Int64 {
            let values = arrays[0].as_primitive::<Int64Type>();
            let mut out = Vec::with_capacity(values.len());
            for i in 0..values.len() {
                out.push(if values.is_null(i) {
                    None
                } else {
                    Some(round_half_up_i64(values.value(i), base_at(i)?))
                });
            }
            Arc::new(Int64Array::from(out))
        } else {
            let values = arrays[0].as_primitive::<Float64Type>();
            let mut out = Vec::with_capacity(values.len());
            for i in 0..values.len() {
                out.push(if values.is_null(i) {
                    None
                } else {
                    Some(round_half_up(values.value(i), base_at(i)? as f64))
                });
            }
            Arc::new(Float64Array::from(out))
        };
        crate::args::result_like(&args.args, out)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
