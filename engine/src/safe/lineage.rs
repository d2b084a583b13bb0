//! Where a query's columns come from: the dataset table and column behind each (unchanged,
//! for the person columns that count contributors; or through any computation, for the
//! identifiers an aggregate may not publish), and the check that no aggregate publishes one
//! contributor's own value.

use super::analyze::{ENDPOINTS, unalias};
use crate::contract;
use datafusion::common::{Column, Result, plan_err};
use datafusion::logical_expr::{Expr, LogicalPlan};
use fjq_udfs::disclosure::Endpoints;

/// Aggregates that take a person's identifier to tell contributors apart, and where: the
/// identifier goes into the statistic, never into the result.
const PERSON_ARGUMENTS: &[(&str, usize)] = &[("return_probability", 0)];

/// Refuses an aggregate that would publish one contributor's value: an endpoint (unless the
/// rules allow endpoints for review), or anything but a count over an identifier column (a
/// person, case or event id): its value is that row's identifier, not a statistic.
pub(super) fn check_contributors_hidden(
    function: &str,
    args: &[Expr],
    input: &LogicalPlan,
    endpoints: Endpoints,
) -> Result<()> {
    if ENDPOINTS.contains(&function) && endpoints == Endpoints::Refuse {
        return plan_err!(
            "aggregate `{function}` publishes one contributor's own value (an endpoint), which could identify a child or a family; publish a count, sum, mean or median instead (an administrator can allow endpoints for an output checker's review with fjq.disclosure.endpoints = 'review' under the open policy)"
        );
    }
    if function == "count" {
        return Ok(());
    }
    for (position, arg) in args.iter().enumerate() {
        if PERSON_ARGUMENTS.contains(&(function, position)) {
            continue;
        }
        for column in arg.column_refs() {
            for (table, name) in lineage(input, column) {
                let identifier = contract::table(&table)
                    .and_then(|t| t.column(&name))
                    .is_some_and(|c| c.is_identifier());
                if identifier {
                    return plan_err!(
                        "aggregate `{function}` over `{table}.{name}`, an identifier: its value is a record's identifier, not a statistic; only count(...) and count(DISTINCT ...) may use identifier columns in a safe table"
                    );
                }
            }
        }
    }
    Ok(())
}

/// Every dataset column a column of `plan` is computed from, through projections that compute
/// (a cast, an expression) as well as those that pass it on.
fn lineage(plan: &LogicalPlan, column: &Column) -> Vec<(String, String)> {
    let Ok(index) = plan.schema().index_of_column(column) else {
        return Vec::new();
    };
    lineage_index(plan, index)
}

fn lineage_index(plan: &LogicalPlan, index: usize) -> Vec<(String, String)> {
    match plan {
        LogicalPlan::Projection(p) => match p.expr.get(index) {
            Some(e) => e
                .column_refs()
                .into_iter()
                .flat_map(|c| lineage(&p.input, c))
                .collect(),
            None => Vec::new(),
        },
        LogicalPlan::Aggregate(a) => {
            // A group key passes its columns on; of the aggregates, only an endpoint passes on
            // a value of its argument (a count of identifiers is not an identifier).
            // The output is the group keys (grouping sets expanded, as `trace_index` reads
            // them), a grouping id under grouping sets, then the aggregates.
            let keys = datafusion::logical_expr::utils::grouping_set_to_exprlist(&a.group_expr)
                .unwrap_or_default();
            let aggregates_from = a.schema.fields().len() - a.aggr_expr.len();
            let exprs: Vec<&Expr> = if index < keys.len() {
                vec![keys[index]]
            } else if index >= aggregates_from {
                match a.aggr_expr.get(index - aggregates_from).map(unalias) {
                    Some(Expr::AggregateFunction(f)) if ENDPOINTS.contains(&f.func.name()) => {
                        f.params.args.iter().collect()
                    }
                    _ => Vec::new(),
                }
            } else {
                // The grouping id: no dataset column.
                Vec::new()
            };
            exprs
                .into_iter()
                .flat_map(|e| e.column_refs())
                .flat_map(|c| lineage(&a.input, c))
                .collect()
        }
        LogicalPlan::TableScan(scan) => {
            let field_name = scan.projected_schema.field(index).name().clone();
            match scan.source.get_logical_plan() {
                Some(view) => lineage(&view, &Column::new_unqualified(&field_name)),
                None => vec![(scan.table_name.table().to_string(), field_name)],
            }
        }
        other => {
            // Joins, filters, sorts, aliases, windows and the rest pass their inputs' columns on.
            let mut offset = index;
            for input in other.inputs() {
                let width = input.schema().fields().len();
                if offset < width {
                    return lineage_index(input, offset);
                }
                offset -= width;
            }
            Vec::new()
        }
    }
}

/// The input's columns that are person identifiers of a dataset table: (column reference, where
/// it comes from, e.g. `people.person_id`).
pub(super) fn person_columns(input: &LogicalPlan) -> Result<Vec<(Column, String)>> {
    let mut found = Vec::new();
    for (q, f) in input.schema().iter() {
        let column = Column::from((q, f));
        if let Some((table, name)) = trace(input, &column)
            && let Some(spec) = contract::TABLES.iter().find(|t| t.name == table)
            && spec.person_columns.contains(&name.as_str())
        {
            let source = format!("{table}.{name}");
            if !found.iter().any(|(c, _): &(Column, String)| c == &column) {
                found.push((column, source));
            }
        }
    }
    Ok(found)
}

/// The dataset table and column a column of `plan` comes from unchanged, if any.
fn trace(plan: &LogicalPlan, column: &Column) -> Option<(String, String)> {
    let index = plan.schema().index_of_column(column).ok()?;
    trace_index(plan, index)
}

fn trace_index(plan: &LogicalPlan, index: usize) -> Option<(String, String)> {
    match plan {
        LogicalPlan::TableScan(scan) => {
            let field_name = scan.projected_schema.field(index).name().clone();
            if let Some(view) = scan.source.get_logical_plan() {
                let column = Column::new_unqualified(&field_name);
                return trace(&view, &column);
            }
            Some((scan.table_name.table().to_string(), field_name))
        }
        LogicalPlan::Projection(p) => match unalias(p.expr.get(index)?) {
            Expr::Column(c) => trace(&p.input, c),
            _ => None,
        },
        LogicalPlan::SubqueryAlias(s) => trace_index(&s.input, index),
        LogicalPlan::Filter(f) => trace_index(&f.input, index),
        LogicalPlan::Sort(s) => trace_index(&s.input, index),
        LogicalPlan::Limit(l) => trace_index(&l.input, index),
        LogicalPlan::Distinct(d) => trace_index(d.input(), index),
        LogicalPlan::Repartition(r) => trace_index(&r.input, index),
        LogicalPlan::Window(w) => {
            if index < w.input.schema().fields().len() {
                trace_index(&w.input, index)
            } else {
                None
            }
        }
        LogicalPlan::Join(j) => {
            let left = j.left.schema().fields().len();
            if index < left {
                trace_index(&j.left, index)
            } else {
                trace_index(&j.right, index - left)
            }
        }
        LogicalPlan::Aggregate(a) => {
            let exprs =
                datafusion::logical_expr::utils::grouping_set_to_exprlist(&a.group_expr).ok()?;
            match unalias(exprs.get(index)?) {
                Expr::Column(c) => trace(&a.input, c),
                _ => None,
            }
        }
        LogicalPlan::Union(u) => trace_index(u.inputs.first()?, index),
        _ => None,
    }
}
