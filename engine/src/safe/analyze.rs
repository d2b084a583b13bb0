//! Reading an aggregate query's logical plan for disclosure control, and rewriting it so that
//! each cell carries what the rules need.
//!
//! A query is a table when the top of its plan, under projections, sorts and aliases, is an
//! `Aggregate`. Its group expressions are the table's dimensions; its aggregate expressions the
//! measures. The rewrite adds, beside the user's aggregates, `count(DISTINCT person)` for every
//! person column that reaches the aggregate (found by tracing columns back to the tables they
//! come from, through projections, aliases, joins, views and inner aggregates), the contributions
//! of every measure the dominance and all-same rules judge (`fjq_cell_stats`), the grouping id
//! that tells margins from interior cells, and each dimension's value; the projections above
//! pass these hidden columns (`__fjq_*`) through to the result.

use super::lineage::{check_contributors_hidden, person_columns};
use datafusion::common::{Column, DFSchemaRef, Result, plan_err};
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::{
    Aggregate, Expr, LogicalPlan, LogicalPlanBuilder, Projection, Sort, SubqueryAlias,
};
use datafusion::prelude::{col, lit};
use fjq_udfs::disclosure::{Endpoints, MeasureKind, Rules};
use std::sync::Arc;

/// The hidden columns' prefix.
pub const HIDDEN: &str = "__fjq_";

/// What an output column of the user's query is.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputColumn {
    Dimension(usize),
    Measure(usize),
}

#[derive(Debug, Clone)]
pub struct Measure {
    /// The aggregate as written, e.g. `count(DISTINCT p.person_id)`: its identity across releases.
    pub name: String,
    pub kind: MeasureKind,
    /// The hidden column with its contributions, for the kinds that need them.
    pub stats_column: Option<String>,
    /// count(DISTINCT ...): its margins are not sums of its cells.
    pub distinct: bool,
    /// It publishes one contributor's own value (min, max, ...): allowed only when the rules
    /// say `endpoints = review`, and the release is then for an output checker to review.
    pub endpoint: bool,
    /// It publishes a position (a median, a quantile): a contributor's value, or between two.
    /// Released where the cell passes the threshold, like every measure, and flagged in the
    /// report for the output checker.
    pub position: bool,
}

/// Aggregates whose result is a position in the cell's values.
const POSITIONS: &[&str] = &[
    "median",
    "approx_median",
    "approx_percentile_cont",
    "approx_percentile_cont_with_weight",
    "percentile_cont",
];

/// A query understood as a table, with the rewritten plan that computes its cells.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// The user's query with the hidden columns added.
    pub plan: LogicalPlan,
    /// The user's own result schema.
    pub schema: DFSchemaRef,
    pub columns: Vec<OutputColumn>,
    /// The dimensions' names as written (e.g. `c.dfj_area`), and their hidden columns.
    pub dimensions: Vec<String>,
    pub measures: Vec<Measure>,
    /// Hidden columns counting distinct persons, one per person column; empty: count rows.
    pub person_columns: Vec<(String, String)>,
    pub rows_column: String,
    pub grouping_id_column: Option<String>,
    /// The population the table is about (the aggregate's input), for differencing.
    pub population: String,
    /// The aggregate's input without its WHERE (text and plan), the WHERE, the grouping
    /// expressions and the person columns: for differencing between filters.
    pub base: String,
    pub base_plan: LogicalPlan,
    pub filter: Option<Expr>,
    pub group_exprs: Vec<Expr>,
    pub person_exprs: Vec<Expr>,
}

/// Aggregates whose result is one contributor's own value: the smallest, the largest, the first
/// or the last. ACRO and the SDC handbook for output checkers treat these endpoints as
/// disclosive.
pub(super) const ENDPOINTS: &[&str] = &[
    "min",
    "max",
    "first_value",
    "last_value",
    "any_value",
    "nth_value",
];

/// The aggregates whose results summarise a group rather than publish a member's value (and
/// the endpoints, which do, when the rules allow them for review).
fn measure_kind(function: &str) -> Option<MeasureKind> {
    Some(match function {
        "count" => MeasureKind::Count,
        "sum" => MeasureKind::Sum,
        "avg" | "mean" => MeasureKind::Mean,
        "min"
        | "max"
        | "first_value"
        | "last_value"
        | "any_value"
        | "nth_value"
        | "median"
        | "stddev"
        | "stddev_pop"
        | "stddev_samp"
        | "var"
        | "var_pop"
        | "var_samp"
        | "var_sample"
        | "approx_median"
        | "approx_percentile_cont" => MeasureKind::Extreme,
        f if f.starts_with("regr_") || f == "corr" || f.starts_with("covar") => {
            MeasureKind::Model { parameters: 2 }
        }
        "return_probability" => MeasureKind::Other,
        _ => return None,
    })
}

const SAFE_AGGREGATES: &str =
    "count, sum, avg, median, stddev, var, regr_*, corr, covar_*, return_probability";

/// Whether a plan's result is a table of aggregates (its top, under projections, sorts and
/// aliases, is an Aggregate).
pub fn is_aggregate(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Aggregate(_) => true,
        LogicalPlan::Projection(p) => is_aggregate(&p.input),
        LogicalPlan::Sort(s) => is_aggregate(&s.input),
        LogicalPlan::SubqueryAlias(s) => is_aggregate(&s.input),
        _ => false,
    }
}

/// Whether an Aggregate sits at the top of `plan` under projections, sorts, aliases, limits and
/// filters (so a refusal can name what is wrong with a table rather than say it is not one).
fn has_top_aggregate(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Aggregate(_) => true,
        LogicalPlan::Projection(p) => has_top_aggregate(&p.input),
        LogicalPlan::Sort(s) => has_top_aggregate(&s.input),
        LogicalPlan::SubqueryAlias(s) => has_top_aggregate(&s.input),
        LogicalPlan::Limit(l) => has_top_aggregate(&l.input),
        LogicalPlan::Filter(f) => has_top_aggregate(&f.input),
        LogicalPlan::Window(w) => has_top_aggregate(&w.input),
        _ => false,
    }
}

/// Analyses and rewrites `plan` (an unoptimised logical plan) under `rules` (which say whether
/// endpoints may be published for review).
pub fn analyze(plan: &LogicalPlan, rules: &Rules) -> Result<Analysis> {
    if !has_top_aggregate(plan) {
        return plan_err!(
            "not a table of aggregates: the query returns rows, not counts or other aggregates; group it (GROUP BY ...) with count, sum or avg"
        );
    }
    let schema = plan.schema().clone();
    let mut state = Rewrite {
        endpoints: rules.endpoints,
        ..Rewrite::default()
    };
    let rewritten = rewrite(plan, &mut state)?;
    let Some(agg) = state.aggregate else {
        return plan_err!("not a table of aggregates");
    };
    // Map each output column to a dimension or a measure.
    let mut columns = Vec::new();
    for (i, field) in schema.fields().iter().enumerate() {
        let Some(origin) = state.origins.get(i).cloned().flatten() else {
            return plan_err!(
                "column `{}` is computed from several cells (or none); a safe table publishes each dimension and aggregate as it is, e.g. `count(*) AS n`",
                field.name()
            );
        };
        columns.push(origin);
    }
    if !columns
        .iter()
        .any(|c| matches!(c, OutputColumn::Measure(_)))
    {
        return plan_err!("a safe table needs at least one aggregate in its result");
    }
    Ok(Analysis {
        plan: rewritten,
        schema,
        columns,
        dimensions: agg.dimensions,
        measures: agg.measures,
        person_columns: agg.person_columns,
        rows_column: format!("{HIDDEN}rows"),
        grouping_id_column: agg.grouping_id.then(|| format!("{HIDDEN}grouping_id")),
        population: agg.population,
        base: agg.base,
        base_plan: agg.base_plan.unwrap_or(LogicalPlan::EmptyRelation(
            datafusion::logical_expr::EmptyRelation {
                produce_one_row: false,
                schema: Arc::new(datafusion::common::DFSchema::empty()),
            },
        )),
        filter: agg.filter,
        group_exprs: agg.group_exprs,
        person_exprs: agg.person_exprs,
    })
}

#[derive(Default)]
struct AggregateInfo {
    dimensions: Vec<String>,
    measures: Vec<Measure>,
    person_columns: Vec<(String, String)>,
    grouping_id: bool,
    population: String,
    hidden: Vec<String>,
    base: String,
    base_plan: Option<LogicalPlan>,
    filter: Option<Expr>,
    group_exprs: Vec<Expr>,
    person_exprs: Vec<Expr>,
}

#[derive(Default)]
struct Rewrite {
    /// Whether endpoints may be published (for review) or are refused.
    endpoints: Endpoints,
    aggregate: Option<AggregateInfo>,
    /// For each column of the node just rewritten: what it is.
    origins: Vec<Option<OutputColumn>>,
}

fn rewrite(plan: &LogicalPlan, state: &mut Rewrite) -> Result<LogicalPlan> {
    match plan {
        LogicalPlan::Aggregate(agg) => rewrite_aggregate(agg, state),
        LogicalPlan::Projection(p) => {
            let input = rewrite(&p.input, state)?;
            let hidden = state
                .aggregate
                .as_ref()
                .map(|a| a.hidden.clone())
                .unwrap_or_default();
            let mut origins = Vec::new();
            for e in &p.expr {
                origins.push(origin_of(e, input.schema(), &state.origins));
            }
            state.origins = origins;
            let mut exprs = p.expr.clone();
            exprs.extend(hidden.iter().map(|h| col(Column::new_unqualified(h))));
            LogicalPlanBuilder::from(input).project(exprs)?.build()
        }
        LogicalPlan::Sort(s) => {
            let input = rewrite(&s.input, state)?;
            Ok(LogicalPlan::Sort(Sort {
                expr: s.expr.clone(),
                input: Arc::new(input),
                fetch: s.fetch,
            }))
        }
        LogicalPlan::SubqueryAlias(s) => {
            let input = rewrite(&s.input, state)?;
            Ok(LogicalPlan::SubqueryAlias(SubqueryAlias::try_new(
                Arc::new(input),
                s.alias.clone(),
            )?))
        }
        LogicalPlan::Filter(_) => plan_err!(
            "HAVING is not allowed in a safe table: it drops cells by their values, which discloses them; filter rows with WHERE instead"
        ),
        LogicalPlan::Limit(_) => plan_err!(
            "LIMIT is not allowed in a safe table: every cell of the table is judged and published or suppressed; sort the result instead"
        ),
        LogicalPlan::Window(_) => plan_err!(
            "window functions over aggregates (such as shares of a total) are not allowed in a safe table; publish the counts and compute shares from the safe result"
        ),
        other => plan_err!(
            "not a table of aggregates: the result is made by {} rather than GROUP BY",
            other.display()
        ),
    }
}

/// What a projection expression over `input` (whose columns have `origins`) publishes.
fn origin_of(
    e: &Expr,
    input: &DFSchemaRef,
    origins: &[Option<OutputColumn>],
) -> Option<OutputColumn> {
    let columns = e.column_refs();
    let mut found: Option<OutputColumn> = None;
    for c in columns {
        if c.name.starts_with(HIDDEN) {
            return None;
        }
        let i = input.index_of_column(c).ok()?;
        let o = origins.get(i)?.clone()?;
        match (&found, &o) {
            (None, _) => found = Some(o),
            (Some(a), b) if a == b => {}
            // Several dimensions (e.g. a concatenated label) or a measure mixed with another.
            _ => return None,
        }
    }
    found
}

fn rewrite_aggregate(agg: &Aggregate, state: &mut Rewrite) -> Result<LogicalPlan> {
    let input = agg.input.as_ref();
    // Measures.
    let mut measures = Vec::new();
    let mut extra = Vec::new();
    let persons = person_columns(input)?;
    for (j, e) in agg.aggr_expr.iter().enumerate() {
        let inner = unalias(e);
        let Expr::AggregateFunction(AggregateFunction { func, params }) = inner else {
            return plan_err!("unexpected aggregate expression {e}");
        };
        check_contributors_hidden(func.name(), &params.args, input, state.endpoints)?;
        let Some(kind) = measure_kind(func.name()) else {
            return plan_err!(
                "aggregate `{}` can publish individual values; a safe table may use {SAFE_AGGREGATES}",
                func.name()
            );
        };
        if params.filter.is_some() {
            return plan_err!(
                "FILTER (WHERE ...) on an aggregate is not allowed in a safe table; filter rows with WHERE instead"
            );
        }
        let stats_column = match kind {
            MeasureKind::Sum
            | MeasureKind::Mean
            | MeasureKind::Extreme
            | MeasureKind::Model { .. } => {
                let name = format!("{HIDDEN}stats_{j}");
                let Some(arg) = params.args.first() else {
                    return plan_err!("aggregate `{}` has no argument", func.name());
                };
                let mut args = vec![arg.clone()];
                if let Some((person, _)) = persons.first() {
                    args.push(col(person.clone()));
                }
                extra.push(
                    Expr::AggregateFunction(AggregateFunction::new_udf(
                        Arc::new(datafusion::logical_expr::AggregateUDF::new_from_impl(
                            fjq_udfs::disclosure::cell_stats::CellStats::default(),
                        )),
                        args,
                        false,
                        None,
                        vec![],
                        None,
                    ))
                    .alias(&name),
                );
                Some(name)
            }
            _ => None,
        };
        measures.push(Measure {
            name: e
                .schema_name()
                .to_string()
                .replace("count(Int64(1))", "count(*)"),
            kind,
            stats_column,
            distinct: params.distinct,
            endpoint: ENDPOINTS.contains(&func.name()),
            position: POSITIONS.contains(&func.name()),
        });
    }
    let mut person_columns = Vec::new();
    for (k, (column, source)) in persons.iter().enumerate() {
        let name = format!("{HIDDEN}persons_{k}");
        extra.push(
            datafusion::functions_aggregate::count::count_distinct(col(column.clone()))
                .alias(&name),
        );
        person_columns.push((name, source.clone()));
    }
    let rows_name = format!("{HIDDEN}rows");
    extra.push(datafusion::functions_aggregate::count::count(lit(1)).alias(&rows_name));

    let mut aggr_expr = agg.aggr_expr.clone();
    aggr_expr.extend(extra.iter().cloned());
    let new_agg = LogicalPlan::Aggregate(Aggregate::try_new(
        agg.input.clone(),
        agg.group_expr.clone(),
        aggr_expr,
    )?);
    // A projection right above: every column as it is, plus the dimensions and grouping id
    // under hidden names.
    let agg_schema = new_agg.schema().clone();
    // The distinct group expressions (with grouping sets, `group_expr_len` also counts the
    // grouping id, which follows them).
    let group_count =
        datafusion::logical_expr::utils::grouping_set_to_exprlist(&agg.group_expr)?.len();
    let grouping_id = agg_schema
        .fields()
        .iter()
        .any(|f| f.name() == Aggregate::INTERNAL_GROUPING_ID);
    let mut exprs: Vec<Expr> = Vec::new();
    let mut hidden: Vec<String> = Vec::new();
    let mut origins = Vec::new();
    let mut dimensions = Vec::new();
    for (i, (q, f)) in agg_schema.iter().enumerate() {
        if f.name() == Aggregate::INTERNAL_GROUPING_ID {
            continue;
        }
        exprs.push(Expr::Column(Column::from((q, f))));
        if i < group_count {
            origins.push(Some(OutputColumn::Dimension(i)));
        } else if i - group_count - usize::from(grouping_id) < measures.len() {
            origins.push(Some(OutputColumn::Measure(
                i - group_count - usize::from(grouping_id),
            )));
        } else {
            origins.push(None);
        }
    }
    for (i, (q, f)) in agg_schema.iter().take(group_count).enumerate() {
        let name = format!("{HIDDEN}dim_{i}");
        exprs.push(Expr::Column(Column::from((q, f))).alias(&name));
        hidden.push(name);
        dimensions.push(match q {
            Some(q) => format!("{q}.{}", f.name()),
            None => f.name().clone(),
        });
    }
    if grouping_id {
        let name = format!("{HIDDEN}grouping_id");
        exprs.push(col(Column::new_unqualified(Aggregate::INTERNAL_GROUPING_ID)).alias(&name));
        hidden.push(name);
    }
    for e in &extra {
        if let Expr::Alias(a) = e {
            hidden.push(a.name.clone());
        }
    }
    // The extra aggregates sit after the user's; the projection keeps them (they were pushed
    // into `exprs` as plain columns above), so list only the dimension and grouping aliases.
    let projected = LogicalPlan::Projection(Projection::try_new(exprs, Arc::new(new_agg))?);
    state.origins = origins;
    let (base_plan, filter) = match input {
        LogicalPlan::Filter(f) => (f.input.as_ref().clone(), Some(f.predicate.clone())),
        other => (other.clone(), None),
    };
    state.aggregate = Some(AggregateInfo {
        dimensions,
        measures,
        person_columns,
        grouping_id,
        population: population_of(input),
        hidden,
        base: population_of(&base_plan),
        base_plan: Some(base_plan),
        filter,
        group_exprs: datafusion::logical_expr::utils::grouping_set_to_exprlist(&agg.group_expr)?
            .into_iter()
            .cloned()
            .collect(),
        person_exprs: persons.iter().map(|(c, _)| col(c.clone())).collect(),
    });
    Ok(projected)
}

pub(super) fn unalias(e: &Expr) -> &Expr {
    match e {
        Expr::Alias(a) => unalias(&a.expr),
        e => e,
    }
}

/// The aggregate's input as text with aliases removed: two tables over the same FROM and WHERE
/// describe the same population.
fn population_of(input: &LogicalPlan) -> String {
    input.display_indent().to_string()
}
