//! The linkage settings as functions, so that one view (`linked_cases`) follows the session:
//! `case_link_accepted(match_status)` and `case_link_window_days()` read
//! `fjq.case_link_statuses` and `fjq.case_link_window_days`. Both are replaced by plain
//! expressions (an `IN` list, a literal) when a query is planned, so the statuses reach the
//! Parquet scan as an ordinary filter and a view defined once follows a later `SET`.

use crate::args::{Kind, Params};
use crate::settings::FjqOptions;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use datafusion::arrow::datatypes::{DataType, Int32Type};
use datafusion::common::config::ConfigOptions;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ScalarFunctionArgs, ScalarUDFImpl, Signature,
    TypeSignature, Volatility, lit,
};
use datafusion_macros::user_doc;
use std::sync::Arc;

fn options(config: &ConfigOptions) -> FjqOptions {
    config
        .extensions
        .get::<FjqOptions>()
        .cloned()
        .unwrap_or_default()
}

pub static ACCEPTED_PARAMS: Params = Params {
    function: "case_link_accepted",
    params: &[("match_status", Kind::Integer)],
    required: 1,
};

#[user_doc(
    doc_section(label = "fjq linkage"),
    description = "TRUE if a linkage match status is one the session accepts (the setting fjq.case_link_statuses: 1, 4 and 39 by default, SAIL's good matches; SET it to 1,4,39,35 to take weak matches too). NULL for a NULL status. linked_cases uses it on both sides of every link.",
    syntax_example = "case_link_accepted(match_status)",
    sql_example = r#"```sql
> SELECT count(*) FILTER (WHERE case_link_accepted(match_status)) AS accepted, count(*) AS records
  FROM linkage WHERE dataset = 'cafcass';
```"#,
    argument(
        name = "match_status",
        description = "A match status of the linkage table (1, 4, 39, 35 or 99)."
    )
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CaseLinkAccepted {
    signature: Signature,
}

impl Default for CaseLinkAccepted {
    fn default() -> Self {
        CaseLinkAccepted {
            signature: ACCEPTED_PARAMS.signature_with(Volatility::Stable),
        }
    }
}

impl ScalarUDFImpl for CaseLinkAccepted {
    fn name(&self) -> &str {
        ACCEPTED_PARAMS.function
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, _arg_types: &[DataType]) -> Result<Vec<DataType>> {
        ACCEPTED_PARAMS.coerce(_arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn simplify(&self, mut args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        let statuses = options(info.config_options()).case_link_statuses;
        let status = args.remove(0);
        let list = statuses.into_iter().map(|s| lit(s as i64)).collect();
        Ok(ExprSimplifyResult::Simplified(status.in_list(list, false)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        // Reached only where a plan was not simplified; the same answer, row by row.
        let statuses = options(&args.config_options).case_link_statuses;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let cast = datafusion::arrow::compute::cast(&arrays[0], &DataType::Int32)?;
        let status = cast.as_primitive::<Int32Type>();
        let out: BooleanArray = (0..status.len())
            .map(|i| (!status.is_null(i)).then(|| statuses.contains(&status.value(i))))
            .collect();
        let out: ArrayRef = Arc::new(out);
        crate::args::result_like(&args.args, out)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

/// No arguments: listed with the others so that a call with some gets fjq's message.
pub static WINDOW_PARAMS: Params = Params {
    function: "case_link_window_days",
    params: &[],
    required: 0,
};

#[user_doc(
    doc_section(label = "fjq linkage"),
    description = "The session's window for linking a court case to a Cafcass case (the setting fjq.case_link_window_days, 28 by default): the most days between the court case's start and the Cafcass case's receipt, either way.",
    syntax_example = "case_link_window_days()",
    sql_example = r#"```sql
> SELECT case_link_window_days() AS days;
28
```"#
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CaseLinkWindowDays {
    signature: Signature,
}

impl Default for CaseLinkWindowDays {
    fn default() -> Self {
        // Any arity reaches `coerce_types`, so a call with arguments gets fjq's words rather
        // than DataFusion's candidate list.
        CaseLinkWindowDays {
            signature: Signature::one_of(
                vec![TypeSignature::Nullary, TypeSignature::UserDefined],
                Volatility::Stable,
            ),
        }
    }
}

impl ScalarUDFImpl for CaseLinkWindowDays {
    fn name(&self) -> &str {
        "case_link_window_days"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        WINDOW_PARAMS.coerce(arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int32)
    }

    fn simplify(&self, _args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        let days = options(info.config_options()).case_link_window_days;
        Ok(ExprSimplifyResult::Simplified(lit(days as i32)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let days = options(&args.config_options).case_link_window_days;
        Ok(ColumnarValue::Scalar(ScalarValue::Int32(Some(days as i32))))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
