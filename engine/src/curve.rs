//! `return_curve('<query>', horizon_days [, coverage_end])` (design/FUNCTIONS.md): the
//! Kaplan-Meier curve of returns, per group, as a table.
//!
//! The query gives one row per entry: its last two columns are the person and the entry's
//! start date, and any columns before them name the group (e.g. `SELECT c.case_type,
//! p.person_id, c.start_date FROM ...`). Each group's curve has one row per day on which someone
//! returned or was censored, up to the horizon: `day, at_risk, returns, censored, survival,
//! lower_95, upper_95`. Under the open policy the table is the estimate itself; a safe release
//! (`safe::release::curve`) publishes it merged, cut and rounded.

use async_trait::async_trait;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Builder, Int64Builder, RecordBatch,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Date32Type, Field, Schema, SchemaRef};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{Expr, LogicalPlan, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use fjq_udfs::entries::return_curve::{
    Step, StepCount, curve_from_counts, observations, step_counts,
};
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;

/// The table function's name, and the name DataFusion gives its scans.
pub const FUNCTION: &str = "return_curve";
pub const SCAN_NAME: &str = "return_curve()";

const USAGE: &str = "return_curve('<query>', horizon_days [, 'coverage_end']): the query gives one row per entry, its last two columns the person and the entry's start date, any columns before them the groups; e.g. return_curve('SELECT p.person_id, c.start_date FROM people p JOIN cases c USING (case_id) WHERE p.relationship_to_child = ''mother'' AND c.case_type = ''public_law''', 2557)";

/// The curve's own columns, after the groups.
pub const CURVE_COLUMNS: [(&str, DataType); 7] = [
    ("day", DataType::Int64),
    ("at_risk", DataType::Int64),
    ("returns", DataType::Int64),
    ("censored", DataType::Int64),
    ("survival", DataType::Float64),
    ("lower_95", DataType::Float64),
    ("upper_95", DataType::Float64),
];

#[derive(Debug)]
pub struct ReturnCurveFunction;

impl TableFunctionImpl for ReturnCurveFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let Some(state) = args.session().as_any().downcast_ref::<SessionState>() else {
            return plan_err!("return_curve: no session");
        };
        let (sql, horizon, coverage_end) = match args.exprs() {
            [query, horizon] => (text(query), whole_number(horizon), None),
            [query, horizon, end] => (text(query), whole_number(horizon), Some(date(end)?)),
            _ => return plan_err!("{USAGE}"),
        };
        let (Some(sql), Some(horizon)) = (sql, horizon) else {
            return plan_err!("{USAGE}");
        };
        if horizon <= 0 {
            return plan_err!(
                "return_curve: horizon_days must be a positive number of days, e.g. 2557 for seven years"
            );
        }
        let coverage_end = match coverage_end {
            Some(d) => d,
            None => fjq_udfs::args::coverage_from(
                state.config_options(),
                fjq_udfs::args::Coverage::CourtEnd,
            )?,
        };
        let state = state.clone();
        let plan = crate::plan_in_table_function(&state, &sql)?;
        let fields = plan.schema().fields();
        if fields.len() < 2 {
            return plan_err!("{USAGE}");
        }
        let groups = fields.len() - 2;
        let (person, start) = (&fields[groups], &fields[groups + 1]);
        if !(person.data_type().is_integer()
            || matches!(
                person.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ))
        {
            return plan_err!(
                "return_curve: the query's second-last column `{}` should be the person (text or a whole number), not {}",
                person.name(),
                person.data_type()
            );
        }
        if !matches!(
            start.data_type(),
            DataType::Date32 | DataType::Date64 | DataType::Timestamp(..)
        ) {
            return plan_err!(
                "return_curve: the query's last column `{}` should be the entry's start date, not {}",
                start.name(),
                start.data_type()
            );
        }
        let mut columns: Vec<Field> = fields[..groups]
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect();
        columns.extend(
            CURVE_COLUMNS
                .iter()
                .map(|(n, t)| Field::new(*n, t.clone(), false)),
        );
        Ok(Arc::new(ReturnCurveTable {
            sql,
            horizon,
            coverage_end,
            groups,
            plan,
            schema: Arc::new(Schema::new(columns)),
            state,
        }))
    }
}

fn text(e: &Expr) -> Option<String> {
    match e {
        Expr::Literal(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)),
            _,
        ) => Some(s.clone()),
        _ => None,
    }
}

fn whole_number(e: &Expr) -> Option<i64> {
    match e {
        Expr::Literal(v, _) if v.data_type().is_integer() => {
            v.cast_to(&DataType::Int64).ok().and_then(|v| match v {
                ScalarValue::Int64(n) => n,
                _ => None,
            })
        }
        Expr::Negative(inner) => whole_number(inner).map(|n| -n),
        _ => None,
    }
}

fn date(e: &Expr) -> Result<i32> {
    let parsed = match e {
        Expr::Literal(ScalarValue::Date32(Some(d)), _) => Some(*d),
        other => text(other).and_then(|s| fjq_contract::calendar::parse_iso(&s)),
    };
    match parsed {
        Some(d) => Ok(d),
        None => plan_err!("return_curve: coverage_end must be a date written 'YYYY-MM-DD'"),
    }
}

/// One `return_curve(...)` call.
#[derive(Debug, Clone)]
pub struct ReturnCurveTable {
    /// The entries query, as the user wrote it.
    pub sql: String,
    pub horizon: i64,
    pub coverage_end: i32,
    /// How many of the query's columns are groups.
    pub groups: usize,
    /// The entries query, planned.
    pub plan: LogicalPlan,
    schema: SchemaRef,
    state: SessionState,
}

/// The raw curves of one call: per group, its values and step counts.
pub struct Curves {
    pub schema: SchemaRef,
    pub groups: Vec<(Vec<ScalarValue>, Vec<StepCount>)>,
}

impl ReturnCurveTable {
    /// Runs the entries query and counts each group's steps (in group order).
    pub async fn counts(&self, state: &SessionState) -> Result<Curves> {
        let frame = SessionContext::new_with_state(state.clone())
            .execute_logical_plan(self.plan.clone())
            .await?;
        let input_schema = Arc::new(frame.schema().as_arrow().clone());
        let mut stream = frame.execute_stream().await?;
        let converter = RowConverter::new(
            input_schema.fields()[..self.groups]
                .iter()
                .map(|f| SortField::new(f.data_type().clone()))
                .collect(),
        )?;
        // Group key -> (group values, (person, start date) entries); person text -> number.
        type Entries = (Vec<ScalarValue>, Vec<(u32, i32)>);
        let mut groups: HashMap<Vec<u8>, Entries> = HashMap::new();
        let mut people: HashMap<String, u32> = HashMap::new();
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            // No group columns: every row is in the one group (the converter has no rows then).
            let keys = if self.groups > 0 {
                Some(converter.convert_columns(&batch.columns()[..self.groups])?)
            } else {
                None
            };
            let persons = cast(batch.column(self.groups), &DataType::Utf8)?;
            let persons = persons.as_string::<i32>();
            let starts = cast(batch.column(self.groups + 1), &DataType::Date32)?;
            let starts = starts.as_primitive::<Date32Type>();
            for row in 0..batch.num_rows() {
                if persons.is_null(row) || starts.is_null(row) {
                    continue;
                }
                let next = people.len() as u32;
                let person = *people.entry(persons.value(row).to_string()).or_insert(next);
                let key_row;
                let key: &[u8] = match &keys {
                    Some(keys) => {
                        key_row = keys.row(row);
                        key_row.as_ref()
                    }
                    None => &[],
                };
                let group = match groups.get_mut(key) {
                    Some(g) => g,
                    None => {
                        let values = (0..self.groups)
                            .map(|c| ScalarValue::try_from_array(batch.column(c), row))
                            .collect::<Result<Vec<_>>>()?;
                        groups.entry(key.to_vec()).or_insert((values, Vec::new()))
                    }
                };
                group.1.push((person, starts.value(row)));
            }
        }
        let mut groups: Vec<_> = groups.into_iter().collect();
        groups.sort_by(|a, b| a.0.cmp(&b.0));
        let counts = groups
            .into_iter()
            .map(|(_, (values, mut entries))| {
                let mut obs = observations(&mut entries, self.coverage_end);
                (values, step_counts(&mut obs, self.horizon))
            })
            .collect();
        Ok(Curves {
            schema: self.schema.clone(),
            groups: counts,
        })
    }
}

/// The curve table: each group's values beside each of its steps.
pub fn curve_batch(
    schema: &SchemaRef,
    groups: &[(Vec<ScalarValue>, Vec<Step>)],
) -> Result<RecordBatch> {
    let group_count = schema.fields().len() - CURVE_COLUMNS.len();
    let mut group_values: Vec<Vec<ScalarValue>> = vec![Vec::new(); group_count];
    let mut ints: Vec<Int64Builder> = (0..4).map(|_| Int64Builder::new()).collect();
    let mut floats: Vec<Float64Builder> = (0..3).map(|_| Float64Builder::new()).collect();
    for (values, steps) in groups {
        for s in steps {
            for (g, v) in values.iter().enumerate() {
                group_values[g].push(v.clone());
            }
            for (b, v) in
                ints.iter_mut()
                    .zip([s.day, s.at_risk as i64, s.returns as i64, s.censored as i64])
            {
                b.append_value(v);
            }
            for (b, v) in floats.iter_mut().zip([s.survival, s.lower, s.upper]) {
                b.append_value(v);
            }
        }
    }
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (g, values) in group_values.into_iter().enumerate() {
        columns.push(if values.is_empty() {
            datafusion::arrow::array::new_empty_array(schema.field(g).data_type())
        } else {
            ScalarValue::iter_to_array(values)?
        });
    }
    columns.extend(ints.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    columns.extend(floats.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

#[async_trait]
impl TableProvider for ReturnCurveTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let table = Arc::new(self.clone());
        let compute: crate::deferred::Compute = Arc::new(move || {
            let table = table.clone();
            Box::pin(async move {
                let curves = table.counts(&table.state).await?;
                let groups: Vec<_> = curves
                    .groups
                    .iter()
                    .map(|(values, counts)| (values.clone(), curve_from_counts(counts)))
                    .collect();
                Ok(vec![curve_batch(&curves.schema, &groups)?])
            })
        });
        Ok(Arc::new(crate::deferred::DeferredExec::new(
            format!(
                "ReturnCurveExec: horizon_days={}, query={}",
                self.horizon, self.sql
            ),
            &self.schema,
            projection,
            compute,
        )?))
    }
}
