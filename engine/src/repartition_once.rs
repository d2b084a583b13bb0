//! One exchange where DataFusion plans two: a grouping repartitioned on part of its keys.
//!
//! The entries every return and repeat-entry query starts from are `SELECT DISTINCT person,
//! start_date`, grouped next by person (`repeat_entries ... GROUP BY who`) or sorted per person
//! for a window (`returns_within(...) OVER (PARTITION BY who ...)`). DataFusion distributes each
//! step on its own keys: the 6.3M join rows are hashed across the threads on (person, date) for
//! the DISTINCT, and its 6.3M rows hashed again on person for the next step. Rows that agree on
//! (person, date) agree on person, so hashing on person alone the first time serves both.
//!
//! [`RepartitionOnceRule`] looks for a hash repartition into the partial phase of a grouping
//! whose keys, followed down through projections, filters and partial aggregates, are some of
//! the group keys of a final aggregate that is itself fed by a hash repartition with as many
//! partitions. It hashes the
//! lower repartition on those keys only and drops the upper one. Each group still meets all
//! its rows in one partition, and what is above the removed exchange receives rows
//! distributed as it required. A partial and a final aggregate the exchange separated then
//! become one phase (DataFusion's `CombinePartialFinalAggregate`).
//!
//! `SET fjq.repartition_once = false` leaves both exchanges.

use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::config::ConfigOptions;
use datafusion::physical_expr::Partitioning;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_optimizer::combine_partial_final_agg::CombinePartialFinalAggregate;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::expressions::Column;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{ExecutionPlan, PhysicalExpr, replace_children_if_necessary};
use fjq_udfs::FjqOptions;
use std::sync::Arc;

/// Merges a hash repartition on some of a final aggregate's keys into the aggregate's own.
#[derive(Debug, Default)]
pub struct RepartitionOnceRule;

impl PhysicalOptimizerRule for RepartitionOnceRule {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if !FjqOptions::plan_switch(config, |options| options.repartition_once) {
            return Ok(plan);
        }
        let merged = plan.transform_down(|node| match merged(&node)? {
            Some(below) => Ok(Transformed::yes(below)),
            None => Ok(Transformed::no(node)),
        })?;
        if !merged.transformed {
            return Ok(merged.data);
        }
        // A partial and a final aggregate the dropped exchange separated are now adjacent:
        // DataFusion's own rule makes them one phase, as it would have had they been planned so.
        CombinePartialFinalAggregate::new().optimize(merged.data, config)
    }

    fn name(&self) -> &str {
        "fjq_repartition_once"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// If `node` is a hash repartition that the grouping below it can make redundant, the plan
/// below it with that grouping's own repartition hashed on `node`'s keys.
fn merged(node: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(upper) = node.downcast_ref::<RepartitionExec>() else {
        return Ok(None);
    };
    let Partitioning::Hash(upper_keys, partitions) = upper.partitioning() else {
        return Ok(None);
    };
    if upper.preserve_order() {
        return Ok(None);
    }
    let Some(mut keys) = upper_keys
        .iter()
        .map(column_index)
        .collect::<Option<Vec<_>>>()
    else {
        return Ok(None);
    };
    // Down the chain that keeps each row in its partition, following the keys' columns.
    let mut chain = vec![];
    let mut at = Arc::clone(upper.input());
    let (grouping, lower) = loop {
        if chain.is_empty() && !is_partial_aggregate(&at) {
            // Only an exchange between the two phases of a grouping: above a final grouping
            // that goes on to a sort, the two would share a partition's memory with nothing
            // between them, and the sort, which spills only its own rows, ran out of memory
            // at scale 1.0 under 1 GB. `crate::sorted_distinct` takes that shape instead.
            return Ok(None);
        }
        if let Some((grouping, exchange, own)) = final_grouping(&at) {
            if own != *partitions {
                return Ok(None);
            }
            break (grouping, exchange);
        }
        let Some(next) = passed_through(&at, &mut keys) else {
            return Ok(None);
        };
        chain.push(Arc::clone(&at));
        at = next;
    };
    let Some(rehashed) = exchange_on(grouping, lower, &keys, *partitions)? else {
        return Ok(None);
    };
    let mut rebuilt = replace_children_if_necessary(Arc::clone(&at), vec![rehashed])?;
    for node in chain.into_iter().rev() {
        rebuilt = replace_children_if_necessary(node, vec![rebuilt])?;
    }
    Ok(Some(rebuilt))
}

/// A final aggregate fed by a hash exchange that does not keep order: the grouping, its
/// exchange and the exchange's partition count.
pub(crate) fn final_grouping(
    plan: &Arc<dyn ExecutionPlan>,
) -> Option<(&AggregateExec, &RepartitionExec, usize)> {
    let aggregate = plan.downcast_ref::<AggregateExec>()?;
    if *aggregate.mode() != AggregateMode::FinalPartitioned
        || aggregate.group_expr().has_grouping_set()
    {
        return None;
    }
    let exchange = aggregate.input().downcast_ref::<RepartitionExec>()?;
    match exchange.partitioning() {
        Partitioning::Hash(_, n) if !exchange.preserve_order() => Some((aggregate, exchange, *n)),
        _ => None,
    }
}

/// The exchange under `grouping` made on the group columns `columns` (indices into its output,
/// which starts with them) into `partitions`: rows equal on all the keys are equal on these, so
/// each group still meets all its rows. `None` if a column is not a group column.
pub(crate) fn exchange_on(
    grouping: &AggregateExec,
    exchange: &RepartitionExec,
    columns: &[usize],
    partitions: usize,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let groups = grouping.group_expr().expr();
    let Some(keys) = columns
        .iter()
        .map(|&i| groups.get(i).map(|(expr, _)| Arc::clone(expr)))
        .collect::<Option<Vec<_>>>()
    else {
        return Ok(None);
    };
    Ok(Some(Arc::new(RepartitionExec::try_new(
        Arc::clone(exchange.input()),
        Partitioning::Hash(keys, partitions),
    )?)))
}

/// The input of `plan` if it keeps every row in the partition it came in and its output
/// columns `keys` are input columns, which `keys` then become; `None` otherwise.
fn passed_through(
    plan: &Arc<dyn ExecutionPlan>,
    keys: &mut [usize],
) -> Option<Arc<dyn ExecutionPlan>> {
    let input = plan.children().first().map(|child| Arc::clone(*child))?;
    if let Some(projection) = plan.downcast_ref::<ProjectionExec>() {
        let exprs = projection.expr();
        for key in keys.iter_mut() {
            *key = column_index(&exprs.get(*key)?.expr)?;
        }
    } else if let Some(filter) = plan.downcast_ref::<FilterExec>() {
        if let Some(projection) = filter.projection() {
            for key in keys.iter_mut() {
                *key = *projection.get(*key)?;
            }
        }
    } else if let Some(aggregate) = plan.downcast_ref::<AggregateExec>() {
        // A partial aggregate groups within each partition; its outputs start with the keys.
        if *aggregate.mode() != AggregateMode::Partial || aggregate.group_expr().has_grouping_set()
        {
            return None;
        }
        let groups = aggregate.group_expr().expr();
        for key in keys.iter_mut() {
            *key = column_index(&groups.get(*key)?.0)?;
        }
    } else {
        return None;
    }
    Some(input)
}

fn is_partial_aggregate(plan: &Arc<dyn ExecutionPlan>) -> bool {
    plan.downcast_ref::<AggregateExec>()
        .is_some_and(|aggregate| *aggregate.mode() == AggregateMode::Partial)
}

pub(crate) fn column_index(expr: &Arc<dyn PhysicalExpr>) -> Option<usize> {
    expr.downcast_ref::<Column>().map(Column::index)
}
