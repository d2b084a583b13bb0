//! Argument handling shared by every function: type coercion with errors that name the
//! function and the argument, constant (literal) options, and the coverage settings.

use crate::settings::FjqOptions;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::{Signature, TypeSignature, Volatility};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Literal;
use fjq_contract::calendar::parse_iso;
use std::sync::Arc;

/// What an argument must be.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Date,
    Text,
    /// A whole number of days (or weeks).
    Integer,
    Number,
}

impl Kind {
    fn target(self) -> DataType {
        match self {
            Kind::Date => DataType::Date32,
            Kind::Text => DataType::Utf8,
            Kind::Integer => DataType::Int64,
            Kind::Number => DataType::Float64,
        }
    }

    fn accepts(self, t: &DataType) -> bool {
        match (self, t) {
            (_, DataType::Null) => true,
            (k, DataType::Dictionary(_, v)) => k.accepts(v),
            (Kind::Date, t) => matches!(
                t,
                DataType::Date32
                    | DataType::Date64
                    | DataType::Timestamp(_, _)
                    | DataType::Utf8
                    | DataType::LargeUtf8
                    | DataType::Utf8View
            ),
            (Kind::Text, t) => {
                matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
            }
            (Kind::Integer, t) => t.is_integer(),
            (Kind::Number, t) => t.is_numeric(),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Kind::Date => "a date",
            Kind::Text => "text",
            Kind::Integer => "a whole number",
            Kind::Number => "a number",
        }
    }
}

/// A function's parameters: (name, kind), the first `required` of them mandatory.
pub struct Params {
    pub function: &'static str,
    pub params: &'static [(&'static str, Kind)],
    pub required: usize,
}

impl Params {
    /// The signature as users read it, e.g. `weeks_between(from, to)`.
    pub fn usage(&self) -> String {
        let mut s = format!("{}(", self.function);
        for (i, (name, _)) in self.params.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            if i >= self.required {
                s.push('[');
                s.push_str(name);
                s.push(']');
            } else {
                s.push_str(name);
            }
        }
        s.push(')');
        s
    }

    /// The signature: each arity's exact types (so `SHOW FUNCTIONS` lists the parameters) and,
    /// for anything else, `coerce` (so other date and string encodings are accepted and a wrong
    /// type gets a message naming the argument). Parameter names allow `name => value` calls.
    pub fn signature(&self) -> Signature {
        self.signature_with(Volatility::Immutable)
    }

    /// The same signature for a function whose answer depends on the session's settings.
    pub fn signature_with(&self, volatility: Volatility) -> Signature {
        let mut variants: Vec<TypeSignature> = (self.required..=self.params.len())
            .map(|n| {
                TypeSignature::Exact(self.params[..n].iter().map(|(_, k)| k.target()).collect())
            })
            .collect();
        variants.push(TypeSignature::UserDefined);
        let signature = Signature::one_of(variants, volatility);
        let names: Vec<&str> = self.params.iter().map(|(n, _)| *n).collect();
        signature
            .clone()
            .with_parameter_names(names)
            .unwrap_or(signature)
    }

    /// Checks the argument count and types, returning the types to coerce to, or the sentence
    /// that says which argument is wrong.
    pub fn check(&self, arg_types: &[DataType]) -> std::result::Result<Vec<DataType>, String> {
        if arg_types.len() < self.required || arg_types.len() > self.params.len() {
            return Err(format!(
                "{} takes {} arguments, got {}: {}",
                self.function,
                if self.required == self.params.len() {
                    self.required.to_string()
                } else {
                    format!("{} to {}", self.required, self.params.len())
                },
                arg_types.len(),
                self.usage()
            ));
        }
        arg_types
            .iter()
            .zip(self.params)
            .enumerate()
            .map(|(i, (t, (name, kind)))| {
                if kind.accepts(t) {
                    Ok(kind.target())
                } else {
                    Err(format!(
                        "{}: argument {} ({name}) must be {}, got {t}; usage: {}",
                        self.function,
                        i + 1,
                        kind.describe(),
                        self.usage()
                    ))
                }
            })
            .collect()
    }

    /// [`Params::check`] as DataFusion's `coerce_types` wants it: a planning error.
    pub fn coerce(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.check(arg_types)
            .or_else(|sentence| plan_err!("{sentence}"))
    }

    /// [`Params::coerce`], but text arguments that arrive as string views stay views, for
    /// functions that read them through [`TextColumn`]: casting millions of short codes to
    /// plain strings first cost more than the function.
    pub fn coerce_keeping_views(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let mut types = self.coerce(arg_types)?;
        for ((given, (_, kind)), target) in arg_types.iter().zip(self.params).zip(&mut types) {
            if matches!(kind, Kind::Text) && *given == DataType::Utf8View {
                *target = DataType::Utf8View;
            }
        }
        Ok(types)
    }
}

/// A text argument as [`Params::coerce_keeping_views`] leaves it: plain strings or string
/// views, read alike.
pub enum TextColumn<'a> {
    Plain(&'a datafusion::arrow::array::StringArray),
    Views(&'a datafusion::arrow::array::StringViewArray),
}

impl<'a> TextColumn<'a> {
    pub fn new(array: &'a dyn datafusion::arrow::array::Array) -> Result<TextColumn<'a>> {
        use datafusion::arrow::array::AsArray;
        match array.data_type() {
            DataType::Utf8 => Ok(TextColumn::Plain(array.as_string::<i32>())),
            DataType::Utf8View => Ok(TextColumn::Views(array.as_string_view())),
            other => datafusion::common::exec_err!("expected text, got {other}"),
        }
    }

    /// Row `i`, or None where it is NULL.
    pub fn get(&self, i: usize) -> Option<&'a str> {
        use datafusion::arrow::array::Array;
        match self {
            TextColumn::Plain(a) => (!a.is_null(i)).then(|| a.value(i)),
            TextColumn::Views(a) => (!a.is_null(i)).then(|| a.value(i)),
        }
    }
}

/// A scalar function's result in the shape of its input: a scalar when every argument was one
/// (so constant expressions fold), the array otherwise.
pub fn result_like(
    args: &[datafusion::logical_expr::ColumnarValue],
    out: datafusion::arrow::array::ArrayRef,
) -> Result<datafusion::logical_expr::ColumnarValue> {
    use datafusion::logical_expr::ColumnarValue;
    if args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) {
        return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?));
    }
    Ok(ColumnarValue::Array(out))
}

/// The constant value of an argument that must be a literal (an option string or a number).
pub fn constant<'a>(
    function: &str,
    name: &str,
    expr: &'a Arc<dyn PhysicalExpr>,
) -> Result<&'a ScalarValue> {
    match expr.downcast_ref::<Literal>() {
        Some(lit) => Ok(lit.value()),
        None => {
            plan_err!("{function}: argument {name} must be a constant, not a column or expression")
        }
    }
}

/// A constant whole number (NULL allowed).
pub fn constant_i64(
    function: &str,
    name: &str,
    expr: &Arc<dyn PhysicalExpr>,
) -> Result<Option<i64>> {
    match constant(function, name, expr)? {
        v if v.is_null() => Ok(None),
        ScalarValue::Int64(v) => Ok(*v),
        ScalarValue::Int32(v) => Ok(v.map(i64::from)),
        other => plan_err!("{function}: argument {name} must be a whole number, got {other}"),
    }
}

/// A constant option string, checked against the allowed values.
pub fn constant_option(
    function: &str,
    name: &str,
    expr: &Arc<dyn PhysicalExpr>,
    allowed: &[&str],
) -> Result<String> {
    let value = match constant(function, name, expr)? {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => s.clone(),
        other => {
            return plan_err!(
                "{function}: argument {name} must be one of {}, got {other}",
                quoted(allowed)
            );
        }
    };
    if allowed.contains(&value.as_str()) {
        Ok(value)
    } else {
        plan_err!(
            "{function}: unknown {name} '{value}'; expected one of {}",
            quoted(allowed)
        )
    }
}

fn quoted(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("'{v}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Which coverage date a function defaults to.
#[derive(Debug, Clone, Copy)]
pub enum Coverage {
    CourtStart,
    CourtEnd,
}

/// The coverage date from the session's `fjq.*` settings (the contract's windows if unset).
pub fn coverage_from(config: &ConfigOptions, which: Coverage) -> Result<i32> {
    let options = config
        .extensions
        .get::<FjqOptions>()
        .cloned()
        .unwrap_or_default();
    let (name, text) = match which {
        Coverage::CourtStart => ("fjq.court_coverage_start", options.court_coverage_start),
        Coverage::CourtEnd => ("fjq.court_coverage_end", options.court_coverage_end),
    };
    match parse_iso(&text) {
        Some(d) => Ok(d),
        None => plan_err!("setting {name} is {text:?}, not a date written YYYY-MM-DD"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Params = Params {
        function: "returns_within",
        params: &[
            ("start_date", Kind::Date),
            ("days", Kind::Integer),
            ("coverage_end", Kind::Date),
        ],
        required: 2,
    };

    #[test]
    fn usage_marks_optional_arguments() {
        assert_eq!(
            P.usage(),
            "returns_within(start_date, days, [coverage_end])"
        );
    }

    #[test]
    fn wrong_types_and_counts_name_the_function_and_argument() {
        let e = P
            .coerce(&[DataType::Date32, DataType::Utf8])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("returns_within: argument 2 (days) must be a whole number, got Utf8"),
            "{e}"
        );
        let e = P.coerce(&[DataType::Date32]).unwrap_err().to_string();
        assert!(
            e.contains("returns_within takes 2 to 3 arguments, got 1"),
            "{e}"
        );
        assert_eq!(
            P.coerce(&[DataType::Utf8, DataType::Int32]).unwrap(),
            vec![DataType::Date32, DataType::Int64]
        );
    }
}
