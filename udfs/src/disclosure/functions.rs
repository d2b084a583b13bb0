//! The disclosure rules as SQL functions: `suppress` and `round_to_base` (scalars),
//! `nk_disclosive` and `p_disclosive` (aggregates, each row one contribution), and the internal
//! `fjq_cell_stats`, which `safe_table` adds beside a query's own aggregates to judge each cell
//! on its contributors (distinct persons' summed contributions, or rows).

use super::rules::{MeasureStats, NegativeValues, Rules, round_half_up, round_half_up_i64};
use crate::args::{Kind, Params, constant};
use crate::settings::rules_from;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, ListArray, StringArray, StructArray,
};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type, Int64Type};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::function::{
    AccumulatorArgs, AggregateFunctionSimplification, StateFieldsArgs,
};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, ColumnarValue, Documentation, Expr, ScalarFunctionArgs,
    ScalarUDFImpl, Signature, lit,
};
use datafusion_macros::user_doc;
use std::collections::HashMap;
use std::sync::Arc;

// ---------------------------------------------------------------------------------------------
// suppress(count [, threshold])

pub static SUPPRESS_PARAMS: Params = Params {
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
            signature: SUPPRESS_PARAMS.signature(),
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
        SUPPRESS_PARAMS.coerce(arg_types)
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

// ---------------------------------------------------------------------------------------------
// round_to_base(value [, base])

pub static ROUND_PARAMS: Params = Params {
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
            signature: ROUND_PARAMS.signature(),
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
        let mut types = ROUND_PARAMS.coerce(arg_types)?;
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

// ---------------------------------------------------------------------------------------------
// The contributions of one cell.

/// The running statistics of a cell's contributions: total, the largest few (signed and by
/// absolute value), extremes, signs and count. Mergeable, so it is an aggregate's state.
#[derive(Debug, Clone, Default)]
struct Contributions {
    keep: usize,
    stats: MeasureStats,
}

impl Contributions {
    fn new(keep: usize) -> Self {
        Contributions {
            keep: keep.max(2),
            stats: MeasureStats::default(),
        }
    }

    fn add(&mut self, v: f64) {
        let s = &mut self.stats;
        s.total += v;
        s.abs_total += v.abs();
        s.negative |= v < 0.0;
        s.contributors += 1;
        s.min = Some(s.min.map_or(v, |m| m.min(v)));
        s.max = Some(s.max.map_or(v, |m| m.max(v)));
        insert_top(&mut s.largest, v, self.keep);
        insert_top(&mut s.largest_abs, v.abs(), self.keep);
    }

    fn merge(&mut self, other: &MeasureStats) {
        let s = &mut self.stats;
        s.total += other.total;
        s.abs_total += other.abs_total;
        s.negative |= other.negative;
        s.contributors += other.contributors;
        for (mine, theirs, pick) in [
            (&mut s.min, other.min, f64::min as fn(f64, f64) -> f64),
            (&mut s.max, other.max, f64::max),
        ] {
            *mine = match (*mine, theirs) {
                (Some(a), Some(b)) => Some(pick(a, b)),
                (a, b) => a.or(b),
            };
        }
        for &v in &other.largest {
            insert_top(&mut s.largest, v, self.keep);
        }
        for &v in &other.largest_abs {
            insert_top(&mut s.largest_abs, v, self.keep);
        }
    }
}

fn insert_top(top: &mut Vec<f64>, v: f64, keep: usize) {
    if top.len() == keep && top.last().is_some_and(|&last| v <= last) {
        return;
    }
    let at = top.partition_point(|&x| x >= v);
    top.insert(at, v);
    top.truncate(keep);
}

fn list_field(name: &str) -> FieldRef {
    Arc::new(Field::new(
        name,
        DataType::List(Arc::new(Field::new("item", DataType::Float64, true))),
        true,
    ))
}

/// The state (and `fjq_cell_stats`'s result) as Arrow fields.
fn stats_fields() -> Fields {
    Fields::from(vec![
        Field::new("total", DataType::Float64, true),
        Field::new("abs_total", DataType::Float64, true),
        Field::new(
            "largest",
            DataType::List(Arc::new(Field::new("item", DataType::Float64, true))),
            true,
        ),
        Field::new(
            "largest_abs",
            DataType::List(Arc::new(Field::new("item", DataType::Float64, true))),
            true,
        ),
        Field::new("min", DataType::Float64, true),
        Field::new("max", DataType::Float64, true),
        Field::new("negative", DataType::Boolean, true),
        Field::new("contributors", DataType::Int64, true),
    ])
}

fn stats_to_scalars(s: &MeasureStats) -> Vec<ScalarValue> {
    let list = |v: &[f64]| {
        ScalarValue::List(ScalarValue::new_list_nullable(
            &v.iter()
                .map(|x| ScalarValue::Float64(Some(*x)))
                .collect::<Vec<_>>(),
            &DataType::Float64,
        ))
    };
    vec![
        ScalarValue::Float64(Some(s.total)),
        ScalarValue::Float64(Some(s.abs_total)),
        list(&s.largest),
        list(&s.largest_abs),
        ScalarValue::Float64(s.min),
        ScalarValue::Float64(s.max),
        ScalarValue::Boolean(Some(s.negative)),
        ScalarValue::Int64(Some(s.contributors as i64)),
    ]
}

/// Reads `MeasureStats` back from the arrays of the state (or result) at `row`.
pub fn stats_from_arrays(columns: &[ArrayRef], row: usize) -> MeasureStats {
    let f = |i: usize| {
        let a = columns[i].as_primitive::<Float64Type>();
        (!a.is_null(row)).then(|| a.value(row))
    };
    let list = |i: usize| -> Vec<f64> {
        let a: &ListArray = columns[i].as_list::<i32>();
        if a.is_null(row) {
            return Vec::new();
        }
        let values = a.value(row);
        values
            .as_primitive::<Float64Type>()
            .iter()
            .flatten()
            .collect()
    };
    let negative = columns[6].as_boolean();
    let contributors = columns[7].as_primitive::<Int64Type>();
    MeasureStats {
        total: f(0).unwrap_or(0.0),
        abs_total: f(1).unwrap_or(0.0),
        largest: list(2),
        largest_abs: list(3),
        min: f(4),
        max: f(5),
        negative: !negative.is_null(row) && negative.value(row),
        contributors: if contributors.is_null(row) {
            0
        } else {
            contributors.value(row).max(0) as u64
        },
    }
}

fn merge_state(acc: &mut Contributions, states: &[ArrayRef]) {
    for row in 0..states[0].len() {
        if states[7].is_null(row) {
            continue;
        }
        acc.merge(&stats_from_arrays(states, row));
    }
}

/// Row contributions: each non-NULL value is one contributor.
#[derive(Debug)]
struct RowContributions(Contributions);

impl Accumulator for RowContributions {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        for v in values[0].as_primitive::<Float64Type>().iter().flatten() {
            self.0.add(v);
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Struct(Arc::new(StructArray::new(
            stats_fields(),
            stats_to_scalars(&self.0.stats)
                .into_iter()
                .map(|s| s.to_array())
                .collect::<Result<Vec<_>>>()?,
            None,
        ))))
    }

    fn size(&self) -> usize {
        size_of_val(self) + 16 * self.0.keep
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(stats_to_scalars(&self.0.stats))
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        merge_state(&mut self.0, states);
        Ok(())
    }
}

/// Person contributions: values summed per contributor first, then judged.
#[derive(Debug)]
struct PersonContributions {
    keep: usize,
    per_person: HashMap<String, f64>,
    min: Option<f64>,
    max: Option<f64>,
    negative: bool,
}

impl PersonContributions {
    fn add(&mut self, person: &str, v: f64) {
        *self.per_person.entry(person.to_string()).or_insert(0.0) += v;
        self.min = Some(self.min.map_or(v, |m| m.min(v)));
        self.max = Some(self.max.map_or(v, |m| m.max(v)));
        self.negative |= v < 0.0;
    }

    fn stats(&self) -> MeasureStats {
        let mut c = Contributions::new(self.keep);
        for &v in self.per_person.values() {
            c.add(v);
        }
        c.stats.min = self.min;
        c.stats.max = self.max;
        c.stats.negative |= self.negative;
        c.stats
    }
}

impl Accumulator for PersonContributions {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let v = values[0].as_primitive::<Float64Type>();
        let people = values[1].as_string::<i32>();
        for i in 0..v.len() {
            if v.is_null(i) || people.is_null(i) {
                continue;
            }
            self.add(people.value(i), v.value(i));
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Struct(Arc::new(StructArray::new(
            stats_fields(),
            stats_to_scalars(&self.stats())
                .into_iter()
                .map(|s| s.to_array())
                .collect::<Result<Vec<_>>>()?,
            None,
        ))))
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.per_person.len() * 48
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let (keys, values): (Vec<_>, Vec<_>) = self
            .per_person
            .iter()
            .map(|(k, v)| {
                (
                    ScalarValue::Utf8(Some(k.clone())),
                    ScalarValue::Float64(Some(*v)),
                )
            })
            .unzip();
        Ok(vec![
            ScalarValue::List(ScalarValue::new_list_nullable(&keys, &DataType::Utf8)),
            ScalarValue::List(ScalarValue::new_list_nullable(&values, &DataType::Float64)),
            ScalarValue::Float64(self.min),
            ScalarValue::Float64(self.max),
            ScalarValue::Boolean(Some(self.negative)),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let keys = states[0].as_list::<i32>();
        let values = states[1].as_list::<i32>();
        let (mins, maxs) = (
            states[2].as_primitive::<Float64Type>(),
            states[3].as_primitive::<Float64Type>(),
        );
        let negative = states[4].as_boolean();
        for row in 0..keys.len() {
            if keys.is_null(row) {
                continue;
            }
            let k = keys.value(row);
            let k: &StringArray = k.as_string::<i32>();
            let v = values.value(row);
            let v = v.as_primitive::<Float64Type>();
            for i in 0..k.len() {
                *self.per_person.entry(k.value(i).to_string()).or_insert(0.0) += v.value(i);
            }
            if !mins.is_null(row) {
                let m = mins.value(row);
                self.min = Some(self.min.map_or(m, |x| x.min(m)));
            }
            if !maxs.is_null(row) {
                let m = maxs.value(row);
                self.max = Some(self.max.map_or(m, |x| x.max(m)));
            }
            self.negative |= !negative.is_null(row) && negative.value(row);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// fjq_cell_stats(value [, contributor]): internal, added by safe_table.

/// The name `safe_table` calls; not meant for users (so not documented in `\df`).
pub const CELL_STATS: &str = "fjq_cell_stats";

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CellStats {
    signature: Signature,
}

impl Default for CellStats {
    fn default() -> Self {
        CellStats {
            signature: Signature::user_defined(datafusion::logical_expr::Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for CellStats {
    fn name(&self) -> &str {
        CELL_STATS
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types.len() {
            1 => Ok(vec![DataType::Float64]),
            2 => Ok(vec![DataType::Float64, DataType::Utf8]),
            n => plan_err!("{CELL_STATS} takes 1 or 2 arguments, got {n}"),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(stats_fields()))
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        // Keep as many of the largest as the widest dominance rule could need.
        let keep = 8;
        Ok(if args.exprs.len() == 2 {
            Box::new(PersonContributions {
                keep,
                per_person: HashMap::new(),
                min: None,
                max: None,
                negative: false,
            })
        } else {
            Box::new(RowContributions(Contributions::new(keep)))
        })
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        if args.input_fields.len() == 2 {
            Ok(vec![
                Arc::new(Field::new(
                    format!("{}_people", args.name),
                    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
                    true,
                )),
                list_field(&format!("{}_values", args.name)),
                Arc::new(Field::new(
                    format!("{}_min", args.name),
                    DataType::Float64,
                    true,
                )),
                Arc::new(Field::new(
                    format!("{}_max", args.name),
                    DataType::Float64,
                    true,
                )),
                Arc::new(Field::new(
                    format!("{}_negative", args.name),
                    DataType::Boolean,
                    true,
                )),
            ])
        } else {
            Ok(stats_fields()
                .iter()
                .map(|f| {
                    Arc::new(
                        f.as_ref()
                            .clone()
                            .with_name(format!("{}_{}", args.name, f.name())),
                    )
                })
                .collect())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// nk_disclosive(value [, n, k]) and p_disclosive(value [, p])

pub static NK_PARAMS: Params = Params {
    function: "nk_disclosive",
    params: &[
        ("value", Kind::Number),
        ("n", Kind::Integer),
        ("k", Kind::Number),
    ],
    required: 1,
};

pub static P_PARAMS: Params = Params {
    function: "p_disclosive",
    params: &[("value", Kind::Number), ("p", Kind::Number)],
    required: 1,
};

/// Which dominance rule an aggregate applies.
#[derive(Debug, PartialEq, Eq, Hash, Clone, Copy)]
enum Dominance {
    NK,
    P,
}

#[user_doc(
    doc_section(label = "fjq disclosure control"),
    description = "Aggregate: true when the group fails N-K dominance, i.e. its n largest values (each row one contribution) make up more than k of its total; exactly k passes. Defaults: the settings fjq.disclosure.nk_n (2) and fjq.disclosure.nk_k (0.9). A negative value makes the rule undefined: true, unless fjq.disclosure.negative is 'absolute'. Sum per person first for person-level dominance.",
    syntax_example = "nk_disclosive(value [, n, k])",
    sql_example = r#"```sql
> SELECT c.dfj_area, sum(w.days) AS days, nk_disclosive(w.days) AS dominated FROM (
    SELECT cafcass_case_id, sum(end_date - start_date) AS days
    FROM cafcass_work WHERE end_date IS NOT NULL GROUP BY 1) w
  JOIN cafcass_cases c USING (cafcass_case_id) GROUP BY 1;
```"#,
    argument(name = "value", description = "One contribution per row."),
    argument(
        name = "n",
        description = "Optional: how many of the largest contributions."
    ),
    argument(
        name = "k",
        description = "Optional: the largest share of the total they may make up."
    )
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct NkDisclosive {
    signature: Signature,
}

impl Default for NkDisclosive {
    fn default() -> Self {
        NkDisclosive {
            signature: NK_PARAMS.signature(),
        }
    }
}

#[user_doc(
    doc_section(label = "fjq disclosure control"),
    description = "Aggregate: true when the group fails the p% rule, i.e. (total - x1 - x2) / x1 < p where x1 and x2 are its two largest values (each row one contribution): the others do not hide the largest well enough. Default p: the setting fjq.disclosure.p_ratio (0.10). A negative value makes the rule undefined: true, unless fjq.disclosure.negative is 'absolute'.",
    syntax_example = "p_disclosive(value [, p])",
    sql_example = r#"```sql
> SELECT c.case_type, p_disclosive(weeks_between(c.start_date, c.first_disposal_date)) AS disclosive
  FROM cases c WHERE c.first_disposal_date IS NOT NULL GROUP BY 1;
```"#,
    argument(name = "value", description = "One contribution per row."),
    argument(
        name = "p",
        description = "Optional: the least (total - x1 - x2) / x1 allowed."
    )
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PDisclosive {
    signature: Signature,
}

impl Default for PDisclosive {
    fn default() -> Self {
        PDisclosive {
            signature: P_PARAMS.signature(),
        }
    }
}

/// Fills omitted parameters from the session's `fjq.disclosure.*` settings at planning time.
fn rule_defaults(rule: Dominance) -> Option<AggregateFunctionSimplification> {
    Some(Box::new(move |mut af: AggregateFunction, ctx| {
        let full = match rule {
            Dominance::NK => NK_PARAMS.params.len(),
            Dominance::P => P_PARAMS.params.len(),
        };
        // Simplification runs more than once: fill in only what is missing.
        if af.params.args.len() > full {
            return Ok(Expr::AggregateFunction(af));
        }
        let rules = rules_from(ctx.config_options());
        let negative_absolute = rules.negative == NegativeValues::Absolute;
        let defaults = match rule {
            Dominance::NK => vec![lit(rules.nk_n as i64), lit(rules.nk_k)],
            Dominance::P => vec![lit(rules.p_ratio)],
        };
        let given = af.params.args.len() - 1;
        af.params.args.extend(defaults.into_iter().skip(given));
        af.params.args.push(lit(negative_absolute));
        Ok(Expr::AggregateFunction(af))
    }))
}

fn number(
    function: &str,
    name: &str,
    e: &Arc<dyn datafusion::physical_expr::PhysicalExpr>,
) -> Result<f64> {
    match constant(function, name, e)? {
        ScalarValue::Float64(Some(v)) => Ok(*v),
        ScalarValue::Int64(Some(v)) => Ok(*v as f64),
        other => plan_err!("{function}: argument {name} must be a constant number, got {other}"),
    }
}

fn dominance_accumulator(rule: Dominance, args: &AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
    let function = match rule {
        Dominance::NK => "nk_disclosive",
        Dominance::P => "p_disclosive",
    };
    let mut rules = Rules::default();
    let last = args.exprs.len() - 1;
    let absolute = matches!(
        constant(function, "negative", &args.exprs[last])?,
        ScalarValue::Boolean(Some(true))
    );
    rules.negative = if absolute {
        NegativeValues::Absolute
    } else {
        NegativeValues::Refuse
    };
    match rule {
        Dominance::NK => {
            let n = number(function, "n", &args.exprs[1])?;
            let k = number(function, "k", &args.exprs[2])?;
            if n < 1.0 || n.fract() != 0.0 {
                return plan_err!("nk_disclosive: n must be a whole number of at least 1, got {n}");
            }
            if !(0.0..=1.0).contains(&k) {
                return plan_err!("nk_disclosive: k must be a share from 0 to 1, got {k}");
            }
            rules.nk_n = n as usize;
            rules.nk_k = k;
        }
        Dominance::P => {
            let p = number(function, "p", &args.exprs[1])?;
            if !(p >= 0.0 && p.is_finite()) {
                return plan_err!("p_disclosive: p must be a number of at least 0, got {p}");
            }
            rules.p_ratio = p;
        }
    }
    Ok(Box::new(DominanceAccumulator {
        contributions: Contributions::new(rules.nk_n),
        rules,
        rule,
    }))
}

#[derive(Debug)]
struct DominanceAccumulator {
    contributions: Contributions,
    rules: Rules,
    rule: Dominance,
}

impl Accumulator for DominanceAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        for v in values[0].as_primitive::<Float64Type>().iter().flatten() {
            self.contributions.add(v);
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let s = &self.contributions.stats;
        if s.contributors == 0 {
            return Ok(ScalarValue::Boolean(None));
        }
        if s.negative && self.rules.negative == NegativeValues::Refuse {
            return Ok(ScalarValue::Boolean(Some(true)));
        }
        let s = if s.negative {
            MeasureStats {
                total: s.abs_total,
                largest: s.largest_abs.clone(),
                ..s.clone()
            }
        } else {
            s.clone()
        };
        Ok(ScalarValue::Boolean(Some(match self.rule {
            Dominance::NK => self.rules.dominance_fails(&s),
            Dominance::P => self.rules.p_ratio_fails(&s),
        })))
    }

    fn size(&self) -> usize {
        size_of_val(self) + 16 * self.contributions.keep
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(stats_to_scalars(&self.contributions.stats))
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        merge_state(&mut self.contributions, states);
        Ok(())
    }
}

macro_rules! dominance_udaf {
    ($ty:ident, $name:literal, $params:ident, $rule:expr) => {
        impl AggregateUDFImpl for $ty {
            fn name(&self) -> &str {
                $name
            }

            fn signature(&self) -> &Signature {
                &self.signature
            }

            fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
                // After simplification the settings' defaults and the negative flag follow.
                if arg_types.len() > $params.params.len() {
                    let mut t = $params.coerce(&arg_types[..$params.params.len()])?;
                    t.push(DataType::Boolean);
                    return Ok(t);
                }
                $params.coerce(arg_types)
            }

            fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
                Ok(DataType::Boolean)
            }

            fn simplify(&self) -> Option<AggregateFunctionSimplification> {
                rule_defaults($rule)
            }

            fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
                if args.exprs.len() != $params.params.len() + 1 {
                    return plan_err!("{}: internal: parameters not filled in", $name);
                }
                dominance_accumulator($rule, &args)
            }

            fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
                Ok(stats_fields()
                    .iter()
                    .map(|f| {
                        Arc::new(f.as_ref().clone().with_name(format!(
                            "{}_{}",
                            args.name,
                            f.name()
                        )))
                    })
                    .collect())
            }

            fn documentation(&self) -> Option<&Documentation> {
                self.doc()
            }
        }
    };
}

dominance_udaf!(NkDisclosive, "nk_disclosive", NK_PARAMS, Dominance::NK);
dominance_udaf!(PDisclosive, "p_disclosive", P_PARAMS, Dominance::P);
