//! Inner joins to a table whose only effect is implied by a join above them, left out.
//!
//! `linked_people` joins the court side of each link to `people`, for the court role record
//! (`case_id`, `role_id`, `court_role`). The linkage question reads none of those: it asks
//! `people p LEFT JOIN linked_people l ON l.person_id = p.person_id` and counts
//! `DISTINCT l.person_id`. There the view's join to `people` still scans the 6.5M court
//! identifiers again, to keep the links whose person is in `people` and to repeat each link
//! once per role record of its person. Neither changes the answer. The outer join's condition
//! keeps only links whose person is one of `p`'s, who all come from `people`. The distinct count
//! does not see repeats. [`ImpliedJoinsRule`] (a logical optimizer rule, run after
//! DataFusion's) finds such joins and replaces each with its other side. It drops an inner
//! join `A JOIN T ON a = T.c` when all of these hold:
//! - `T` is a bare scan: no filter and no limit. Only `T.c` is read from it, and `a` stands
//!   in for `T.c` above.
//! - Every row it would drop, one whose `a` is not among `T.c`'s values, is dropped above it
//!   anyway. A join higher up compares `a` (passed up unchanged) with a column drawn from a
//!   scan of the same `T.c`. It is an inner join, or an outer or semi join that only keeps
//!   this side's rows when they match. Between the two there are only projections of columns,
//!   filters, aliases and inner joins.
//! - The nearest aggregate above sees only whether a row occurs, not how often. Every one of
//!   its aggregates is `DISTINCT`, `min`, `max`, `bool_and`, `bool_or` or `approx_distinct`,
//!   or it has none (a `DISTINCT`). Nothing volatile sits between it and the join.
//!
//! A semi join of `A` to `T.c` (DataFusion's form of the same join under one distinct count)
//! goes the same way without the last condition, as it repeats no rows. Join keys compared
//! `NULL = NULL` (`IS NOT DISTINCT FROM`) are left alone. Tables are
//! recognised by the name they are scanned under, which is unique in fjq's catalogue.
//! `SET fjq.implied_joins = false` keeps every join.

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, ExprSchema, NullEquality, Result, TableReference};
use datafusion::logical_expr::{
    Aggregate, Distinct, Expr, Join, JoinType, LogicalPlan, Projection,
};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};
use fjq_udfs::FjqOptions;
use std::sync::Arc;

/// Leaves out inner joins whose filtering a join above repeats, under aggregates that count
/// no repeats (module docs).
#[derive(Debug, Default)]
pub struct ImpliedJoinsRule;

impl OptimizerRule for ImpliedJoinsRule {
    fn name(&self) -> &str {
        "fjq_implied_joins"
    }

    /// The rule walks the plan itself: what it may drop depends on the path from the top.
    fn apply_order(&self) -> Option<ApplyOrder> {
        None
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        if !FjqOptions::plan_switch(&config.options(), |o| o.implied_joins) {
            return Ok(Transformed::no(plan));
        }
        walk(plan, Context::default())
    }
}

/// A column whose rows are dropped above unless its value is one of `table.column`'s.
#[derive(Debug, Clone, PartialEq)]
struct Guard {
    column: Column,
    source: Source,
}

/// A table's column, by the name the table is scanned under.
#[derive(Debug, Clone, PartialEq)]
struct Source {
    table: TableReference,
    column: String,
}

/// What the path from the top says about a node's rows.
#[derive(Debug, Clone, Default)]
struct Context {
    /// Only which rows occur matters above, not how often.
    rows_as_set: bool,
    /// Columns of the node's output that a join above checks against a table's column.
    guards: Vec<Guard>,
}

fn walk(plan: LogicalPlan, context: Context) -> Result<Transformed<LogicalPlan>> {
    if let LogicalPlan::Join(join) = &plan
        && let Some(other_side) = implied(join, &context)?
    {
        let rest = walk(other_side, context)?;
        return Ok(Transformed::yes(rest.data));
    }
    let mut contexts = child_contexts(&plan, &context).into_iter();
    let walked = plan.map_children(|child| walk(child, contexts.next().unwrap_or_default()))?;
    match walked.transformed {
        // A side replaced by a projection may say its key is nullable where the join did not.
        true => Ok(Transformed::yes(walked.data.recompute_schema()?)),
        false => Ok(walked),
    }
}

/// The contexts of `plan`'s inputs, in order.
fn child_contexts(plan: &LogicalPlan, context: &Context) -> Vec<Context> {
    match plan {
        LogicalPlan::Aggregate(aggregate) => vec![Context {
            rows_as_set: counts_no_repeats(aggregate),
            guards: vec![],
        }],
        LogicalPlan::Distinct(Distinct::All(_)) => vec![Context {
            rows_as_set: true,
            guards: vec![],
        }],
        LogicalPlan::Projection(_) | LogicalPlan::Filter(_) | LogicalPlan::SubqueryAlias(_) => {
            let volatile = match plan {
                LogicalPlan::Projection(projection) => {
                    projection.expr.iter().any(Expr::is_volatile)
                }
                LogicalPlan::Filter(filter) => filter.predicate.is_volatile(),
                _ => false,
            };
            let guards = context
                .guards
                .iter()
                .filter_map(|guard| {
                    Some(Guard {
                        column: column_below(plan, &guard.column)?,
                        source: guard.source.clone(),
                    })
                })
                .collect();
            vec![Context {
                rows_as_set: context.rows_as_set && !volatile,
                guards,
            }]
        }
        LogicalPlan::Join(join) => join_contexts(join, context),
        _ => plan.inputs().iter().map(|_| Context::default()).collect(),
    }
}

/// A join's sides' contexts: the guards from above that belong to each side (through inner
/// joins only), and the ones the join's own keys set.
fn join_contexts(join: &Join, context: &Context) -> Vec<Context> {
    let rows_as_set = context.rows_as_set && !join.filter.as_ref().is_some_and(Expr::is_volatile);
    let mut left = Context {
        rows_as_set,
        guards: vec![],
    };
    let mut right = left.clone();
    if join.join_type == JoinType::Inner {
        for guard in &context.guards {
            if join.left.schema().has_column(&guard.column) {
                left.guards.push(guard.clone());
            } else if join.right.schema().has_column(&guard.column) {
                right.guards.push(guard.clone());
            }
        }
    }
    if join.null_equality == NullEquality::NullEqualsNothing {
        // Which sides keep only the rows that match: the other side's key then guards them.
        let (guards_right, guards_left) = match join.join_type {
            JoinType::Inner => (true, true),
            JoinType::Left | JoinType::LeftSemi => (true, false),
            JoinType::Right | JoinType::RightSemi => (false, true),
            _ => (false, false),
        };
        for (left_key, right_key) in &join.on {
            let (Expr::Column(left_key), Expr::Column(right_key)) = (left_key, right_key) else {
                continue;
            };
            if guards_right && let Some(source) = source_of(&join.left, left_key) {
                right.guards.push(Guard {
                    column: right_key.clone(),
                    source,
                });
            }
            if guards_left && let Some(source) = source_of(&join.right, right_key) {
                left.guards.push(Guard {
                    column: left_key.clone(),
                    source,
                });
            }
        }
    }
    vec![left, right]
}

/// Whether an aggregate's answer depends only on which input rows occur.
fn counts_no_repeats(aggregate: &Aggregate) -> bool {
    aggregate.group_expr.iter().all(|e| !e.is_volatile())
        && aggregate.aggr_expr.iter().all(|expr| {
            let Expr::AggregateFunction(function) = expr.clone().unalias() else {
                return false;
            };
            !expr.is_volatile()
                && (function.params.distinct
                    || matches!(
                        function.func.name(),
                        "min" | "max" | "bool_and" | "bool_or" | "approx_distinct"
                    ))
        })
}

/// The table column every non-NULL value of `column` (an output column of `plan`) is drawn
/// from, followed through aliases, projections of columns, filters and joins to a scan.
fn source_of(plan: &LogicalPlan, column: &Column) -> Option<Source> {
    match plan {
        LogicalPlan::TableScan(scan) => {
            let index = scan.projected_schema.index_of_column(column).ok()?;
            Some(Source {
                table: scan.table_name.clone(),
                column: scan.projected_schema.field(index).name().clone(),
            })
        }
        LogicalPlan::Projection(_) | LogicalPlan::SubqueryAlias(_) | LogicalPlan::Filter(_) => {
            source_of(plan.inputs().first()?, &column_below(plan, column)?)
        }
        // An outer join's padding is NULL, which matches nothing.
        LogicalPlan::Join(join) => match join.left.schema().has_column(column) {
            true => source_of(&join.left, column),
            false => source_of(&join.right, column),
        },
        _ => None,
    }
}

/// The column of a projection's, alias's or filter's input that one of its output columns
/// passes on unchanged, if it is one.
fn column_below(plan: &LogicalPlan, column: &Column) -> Option<Column> {
    match plan {
        LogicalPlan::Projection(projection) => {
            let index = projection.schema.index_of_column(column).ok()?;
            match projection.expr.get(index)?.clone().unalias() {
                Expr::Column(inner) => Some(inner),
                _ => None,
            }
        }
        LogicalPlan::SubqueryAlias(alias) => {
            let index = alias.schema.index_of_column(column).ok()?;
            alias.input.schema().columns().get(index).cloned()
        }
        LogicalPlan::Filter(_) => Some(column.clone()),
        _ => None,
    }
}

/// A bare scan of one table column, under aliases and projections of columns: that column.
fn bare_column(plan: &LogicalPlan) -> Option<Source> {
    match plan {
        LogicalPlan::TableScan(scan)
            if scan.filters.is_empty()
                && scan.fetch.is_none()
                && scan.projected_schema.fields().len() == 1 =>
        {
            Some(Source {
                table: scan.table_name.clone(),
                column: scan.projected_schema.field(0).name().clone(),
            })
        }
        LogicalPlan::Projection(projection)
            if projection.expr.len() == 1
                && matches!(projection.expr[0].clone().unalias(), Expr::Column(_)) =>
        {
            bare_column(&projection.input)
        }
        LogicalPlan::SubqueryAlias(alias) => bare_column(&alias.input),
        _ => None,
    }
}

/// The side that stands in for `join`, if `join` is an inner join (where repeats do not
/// count) or a semi join to a bare table column whose filtering a guard repeats: that side,
/// with the table's key named after the side's where the join passed it on.
fn implied(join: &Join, context: &Context) -> Result<Option<LogicalPlan>> {
    let [(Expr::Column(left_key), Expr::Column(right_key))] = join.on.as_slice() else {
        return Ok(None);
    };
    if join.filter.is_some() || join.null_equality != NullEquality::NullEqualsNothing {
        return Ok(None);
    }
    // (kept side, its key, the table side, its key, whether the table is on the left).
    let left_kept = (&join.left, left_key, &join.right, right_key, false);
    let right_kept = (&join.right, right_key, &join.left, left_key, true);
    let candidates = match join.join_type {
        JoinType::Inner if context.rows_as_set => vec![left_kept, right_kept],
        JoinType::LeftSemi => vec![left_kept],
        JoinType::RightSemi => vec![right_kept],
        _ => vec![],
    };
    let guards = &context.guards;
    for (kept, kept_key, table, table_key, table_on_left) in candidates {
        let Some(source) = bare_column(table) else {
            continue;
        };
        let types_agree = kept
            .schema()
            .field_from_column(kept_key)
            .ok()
            .map(|f| f.data_type())
            == table
                .schema()
                .field_from_column(table_key)
                .ok()
                .map(|f| f.data_type());
        let guarded = guards.iter().any(|guard| {
            guard.source == source && (&guard.column == kept_key || &guard.column == table_key)
        });
        if !types_agree || !guarded {
            continue;
        }
        if join.join_type != JoinType::Inner {
            // A semi join passes on its kept side's columns only.
            return Ok(Some(kept.as_ref().clone()));
        }
        // The join's columns in its order, the table's key now the kept side's.
        let table_width = table.schema().fields().len();
        let kept_width = kept.schema().fields().len();
        let exprs = join
            .schema
            .iter()
            .enumerate()
            .map(|(index, (qualifier, field))| {
                let from_table = match table_on_left {
                    true => index < table_width,
                    false => index >= kept_width,
                };
                match from_table {
                    true => Expr::Column(kept_key.clone())
                        .alias_qualified(qualifier.cloned(), field.name()),
                    false => Expr::Column(Column::from((qualifier, field))),
                }
            })
            .collect();
        let projection = Projection::try_new(exprs, Arc::clone(kept))?;
        return Ok(Some(LogicalPlan::Projection(projection)));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{RecordBatch, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::datasource::MemTable;
    use datafusion::execution::SessionStateBuilder;
    use datafusion::prelude::SessionContext;

    /// `people` holds a twice and b once, and a NULL; `links` holds a twice, b, c (no person)
    /// and a NULL. Each in two batches, so that no key sits in one batch only.
    fn context(rule: bool) -> SessionContext {
        let mut builder = SessionStateBuilder::new().with_default_features();
        if rule {
            builder = builder.with_optimizer_rule(Arc::new(ImpliedJoinsRule));
        }
        let context = SessionContext::new_with_state(builder.build());
        for (name, halves) in [
            (
                "people",
                [vec![Some("a"), None], vec![Some("b"), Some("a")]],
            ),
            (
                "links",
                [vec![Some("a"), Some("c")], vec![None, Some("b"), Some("a")]],
            ),
        ] {
            let schema = Arc::new(Schema::new(vec![Field::new(
                "person_id",
                DataType::Utf8,
                true,
            )]));
            let batches = halves
                .into_iter()
                .map(|ids| {
                    let column = Arc::new(StringArray::from(ids));
                    RecordBatch::try_new(Arc::clone(&schema), vec![column]).unwrap()
                })
                .collect();
            let table = MemTable::try_new(schema, vec![batches]).unwrap();
            context.register_table(name, Arc::new(table)).unwrap();
        }
        context
    }

    /// The links whose person is in `people`, once per role record: a view's join.
    const LINKED: &str =
        "(SELECT k.person_id FROM links k JOIN people q ON q.person_id = k.person_id)";

    /// The answer as a pretty table, and how many times the plan scans `people`.
    async fn answer(rule: bool, sql: &str) -> (String, usize) {
        let frame = context(rule).sql(sql).await.unwrap();
        let plan = frame
            .clone()
            .into_optimized_plan()
            .unwrap()
            .display_indent()
            .to_string();
        let rows = frame.collect().await.unwrap();
        let text = pretty_format_batches(&rows).unwrap().to_string();
        (text, plan.matches("TableScan: people").count())
    }

    #[tokio::test]
    async fn a_join_repeated_above_under_distinct_counts_is_left_out() {
        // p: a, a, b, NULL. Linked persons: a and b (c has no record). Joined on person_id, p's
        // a finds the link a, b the link b; c and NULL match no p anyway.
        let sql = format!(
            "SELECT count(DISTINCT p.person_id) AS people, count(DISTINCT l.person_id) AS linked, \
             max(l.person_id) AS last FROM people p LEFT JOIN {LINKED} l ON l.person_id = p.person_id"
        );
        let expected = "+--------+--------+------+\n\
                        | people | linked | last |\n\
                        +--------+--------+------+\n\
                        | 2      | 2      | b    |\n\
                        +--------+--------+------+";
        assert_eq!(answer(false, &sql).await, (expected.to_string(), 2));
        assert_eq!(answer(true, &sql).await, (expected.to_string(), 1));

        // One distinct count alone: DataFusion groups by it first and makes the view's join a
        // semi join, which goes the same way.
        let sql = format!(
            "SELECT count(DISTINCT l.person_id) AS linked FROM people p \
             LEFT JOIN {LINKED} l ON l.person_id = p.person_id"
        );
        let expected = "+--------+\n\
                        | linked |\n\
                        +--------+\n\
                        | 2      |\n\
                        +--------+";
        assert_eq!(answer(false, &sql).await, (expected.to_string(), 2));
        assert_eq!(answer(true, &sql).await, (expected.to_string(), 1));
    }

    #[tokio::test]
    async fn repeats_counted_or_links_kept_keep_the_join() {
        // count(*): p's two a rows meet link a twice, each once per a record in people (2), so
        // 8 rows; b 1; NULL padded 1. Without the view's join, 4 + 1 + 1 = 6.
        let repeats = format!(
            "SELECT count(*) AS n FROM people p LEFT JOIN {LINKED} l ON l.person_id = p.person_id"
        );
        // Links on the kept side of the outer join: c would come back without the view's join.
        let kept = format!(
            "SELECT count(DISTINCT l.person_id) AS n FROM {LINKED} l LEFT JOIN people p ON l.person_id = p.person_id"
        );
        // No join above: the view's join is all that drops c.
        let alone = format!("SELECT count(DISTINCT person_id) AS n FROM {LINKED}");
        // The table filtered: the join drops b, which the outer join's people would keep.
        let filtered = "SELECT count(DISTINCT l.person_id) AS n FROM people p LEFT JOIN \
             (SELECT k.person_id FROM links k JOIN people q ON q.person_id = k.person_id AND q.person_id <> 'b') l \
             ON l.person_id = p.person_id";
        // The join above compares with another table's column: c is among links', not people's.
        let other_table = format!(
            "SELECT count(DISTINCT l.person_id) AS n FROM links x LEFT JOIN {LINKED} l ON l.person_id = x.person_id"
        );
        let cases = [
            (repeats.as_str(), 10),
            (&kept, 2),
            (&alone, 2),
            (filtered, 1),
            (&other_table, 2),
        ];
        for (sql, n) in cases {
            let rule = "-".repeat(n.to_string().len() + 2);
            let expected = format!(
                "+{rule}+\n| {:<w$} |\n+{rule}+\n| {n} |\n+{rule}+",
                "n",
                w = n.to_string().len()
            );
            // The same plan as without the rule (DataFusion's own rules may drop the outer
            // join where nothing reads it), and the answer worked by hand.
            let (text, scans) = answer(true, sql).await;
            assert_eq!(text, expected, "{sql}");
            assert_eq!(scans, answer(false, sql).await.1, "{sql}");
        }
    }
}
