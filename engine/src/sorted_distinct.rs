//! A DISTINCT whose rows are then sorted on all its columns: sort first, then drop repeats.
//!
//! Window functions over entries (`returns_within`, `prior_entries`: `... OVER (PARTITION BY who
//! ORDER BY start_date)` over `SELECT DISTINCT who, start_date`) make DataFusion find the
//! distinct rows in a hash table (1.4 s of compute for the 6.3M entries at scale 1.0, which
//! are nearly all distinct) and then sort them. Sorted, equal rows are neighbours, and a pass
//! comparing each row with the one before finds the distinct ones in a fraction of that time.
//!
//! [`SortedDistinctRule`] looks for a sort of each partition on every column of a final,
//! aggregate-free grouping (a DISTINCT) fed by a hash exchange. It moves the sort below the
//! grouping, onto the exchange's output, and makes the grouping one phase over its sorted
//! input; `crate::sorted_aggregate` then runs it by runs of equal rows, and `crate::key_sort`
//! has the sort drop the repeats itself in its place. Where an exchange on
//! some of the DISTINCT's columns sits between the two (the window's partitions are per
//! person), the DISTINCT's own exchange is made on those columns and the other dropped: rows
//! equal on all the columns are equal on some, so each still meets its equals. The partial grouping
//! below the exchange stays: where the DISTINCT does remove many rows, it removes them within
//! each partition before the sort, so the sort does not grow with the rows removed.
//!
//! The same holds for a DISTINCT grouped next per identifier by some of its columns
//! (`repeat_entries(start_date) ... GROUP BY who` over the entries): DataFusion found the 6.3M
//! distinct entries in one hash table and then the 5M people's groups in another (1.2 s and
//! 1.7 s of compute at scale 1.0). Sorted on the grouping's keys and then the DISTINCT's other
//! columns, the DISTINCT drops repeated neighbours and the grouping finds each group where its
//! keys change (`crate::sorted_aggregate`), with no table at all. Groupings by code columns
//! alone (few groups) keep the hash tables, and so does every grouping while `fjq.key_sort` is
//! off (with DataFusion's sort this was slower than hashing).
//!
//! `SET fjq.sorted_distinct = false` leaves DataFusion's order of the two.

use crate::repartition_once::{column_index, exchange_on, final_grouping};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::config::ConfigOptions;
use datafusion::physical_expr::{LexOrdering, PhysicalSortExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::expressions::Column;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::{ExecutionPlan, InputOrderMode, Partitioning};
use fjq_udfs::FjqOptions;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Sorts a DISTINCT's input instead of its output when the output is sorted on all of it.
#[derive(Debug, Default)]
pub struct SortedDistinctRule;

impl PhysicalOptimizerRule for SortedDistinctRule {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if !FjqOptions::plan_switch(config, |options| options.sorted_distinct) {
            return Ok(plan);
        }
        // Sorting for the grouping after a DISTINCT pays only with the key sort
        // (`crate::key_sort`): with DataFusion's sort it was slower than the two hash tables.
        let group_sorted = FjqOptions::plan_switch(config, |options| options.key_sort);
        plan.transform_up(|node| match sorted_first(&node)? {
            Some(rewritten) => Ok(Transformed::yes(rewritten)),
            None if group_sorted => match grouped_after(&node)? {
                Some(rewritten) => Ok(Transformed::yes(rewritten)),
                None => Ok(Transformed::no(node)),
            },
            None => Ok(Transformed::no(node)),
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "fjq_sorted_distinct"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The DISTINCT `plan` is, with its exchange and the exchange's partition count: a final,
/// aggregate-free grouping fed by a hash exchange, whose output is its input's columns in order
/// (the partial grouping's keys), so that a sort of its output applies to its input unchanged.
fn plain_distinct(
    plan: &Arc<dyn ExecutionPlan>,
) -> Option<(&AggregateExec, &RepartitionExec, usize)> {
    let (distinct, exchange, partitions) = final_grouping(plan)?;
    let group_by = distinct.group_expr();
    if !distinct.aggr_expr().is_empty() || group_by.is_empty() || distinct.limit_options().is_some()
    {
        return None;
    }
    let passes_columns_through = group_by
        .expr()
        .iter()
        .enumerate()
        .all(|(i, (expr, _))| column_index(expr) == Some(i))
        && exchange.schema().fields().len() == group_by.expr().len();
    passes_columns_through.then_some((distinct, exchange, partitions))
}

/// `node` rewritten as the DISTINCT over its sorted input, if `node` is a sort of a DISTINCT's
/// output on all of its columns.
fn sorted_first(node: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(sort) = node.downcast_ref::<SortExec>() else {
        return Ok(None);
    };
    if !sort.preserve_partitioning() || sort.fetch().is_some() {
        return Ok(None);
    }
    // DataFusion puts an exchange on the sort's keys between the two when the sort's partitions
    // are keyed on fewer columns than the DISTINCT (per person, for a window).
    let (above, regroup) = match sort.input().downcast_ref::<RepartitionExec>() {
        Some(upper) => match upper.partitioning() {
            Partitioning::Hash(keys, n) if !upper.preserve_order() => {
                (upper.input(), Some((keys.clone(), *n)))
            }
            _ => return Ok(None),
        },
        None => (sort.input(), None),
    };
    let Some((distinct, exchange, own)) = plain_distinct(above) else {
        return Ok(None);
    };
    let group_by = distinct.group_expr();
    // Sorted on every column, equal rows are neighbours.
    let sorted_columns: BTreeSet<usize> = sort
        .expr()
        .iter()
        .filter_map(|key| column_index(&key.expr))
        .collect();
    if sorted_columns.len() != group_by.expr().len() {
        return Ok(None);
    }
    // With an exchange on some of the DISTINCT's columns above it, the DISTINCT's own exchange
    // is made on those columns (rows equal on all are equal on some), and the upper one goes.
    let exchanged = match regroup {
        None => Arc::clone(distinct.input()),
        Some((keys, partitions)) => {
            let Some(columns) = keys.iter().map(column_index).collect::<Option<Vec<_>>>() else {
                return Ok(None);
            };
            if own != partitions {
                return Ok(None);
            }
            match exchange_on(distinct, exchange, &columns, partitions)? {
                Some(exchanged) => exchanged,
                None => return Ok(None),
            }
        }
    };
    let sorted_input =
        Arc::new(SortExec::new(sort.expr().clone(), exchanged).with_preserve_partitioning(true));
    let one_phase = AggregateExec::try_new(
        AggregateMode::SinglePartitioned,
        distinct.group_expr().clone(),
        vec![],
        vec![],
        sorted_input.clone(),
        sorted_input.schema(),
    )?;
    // Only where the grouping keeps the sort's order for what is above it.
    let keeps_order = one_phase
        .properties()
        .equivalence_properties()
        .ordering_satisfy(sort.expr().clone())?;
    if !keeps_order || one_phase.schema().fields() != sort.schema().fields() {
        return Ok(None);
    }
    Ok(Some(Arc::new(one_phase)))
}

/// `node` rewritten over the DISTINCT's input sorted, if `node` is a one-phase grouping by some
/// of a DISTINCT's columns straight over the DISTINCT, whose exchange is on some of those.
fn grouped_after(node: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(upper) = node.downcast_ref::<AggregateExec>() else {
        return Ok(None);
    };
    if *upper.mode() != AggregateMode::SinglePartitioned
        || upper.group_expr().has_grouping_set()
        || upper.limit_options().is_some()
        || *upper.input_order_mode() != InputOrderMode::Linear
    {
        return Ok(None);
    }
    let Some((distinct, exchange, _)) = plain_distinct(upper.input()) else {
        return Ok(None);
    };
    let group_by = distinct.group_expr();
    let width = group_by.expr().len();
    // The grouping's keys: some of the DISTINCT's columns, each once.
    let Some(keys) = upper
        .group_expr()
        .expr()
        .iter()
        .map(|(expr, _)| column_index(expr))
        .collect::<Option<Vec<usize>>>()
    else {
        return Ok(None);
    };
    let key_set: BTreeSet<usize> = keys.iter().copied().collect();
    if key_set.len() != keys.len() || keys.len() >= width {
        return Ok(None);
    }
    // Only a grouping per identifier (a key of plain text: fjq registers the code columns, of
    // few values, as string views) has groups enough for the sort to cost less than the two
    // hash tables; by area and case type (`count(DISTINCT ...)` in the crosstab) the sort
    // made the query 1.48 times as long (docs/DECISIONS.md).
    let schema = exchange.schema();
    let per_identifier = keys.iter().any(|&c| {
        matches!(
            schema.field(c).data_type(),
            DataType::Utf8 | DataType::LargeUtf8
        )
    });
    if !per_identifier {
        return Ok(None);
    }
    // Each group of the grouping must be within one partition: the exchange is on its keys.
    let Partitioning::Hash(exchanged_on, _) = exchange.partitioning() else {
        return Ok(None);
    };
    let exchange_keys_are_group_keys = exchanged_on
        .iter()
        .all(|expr| column_index(expr).is_some_and(|c| key_set.contains(&c)));
    if !exchange_keys_are_group_keys {
        return Ok(None);
    }
    // The grouping's keys first, then the DISTINCT's other columns.
    let order = keys
        .iter()
        .copied()
        .chain((0..width).filter(|c| !key_set.contains(c)))
        .map(|c| {
            PhysicalSortExpr::new_default(Arc::new(Column::new(schema.field(c).name(), c)) as _)
        });
    let Some(order) = LexOrdering::new(order) else {
        return Ok(None);
    };
    let sorted_input = Arc::new(
        SortExec::new(order, Arc::clone(distinct.input())).with_preserve_partitioning(true),
    );
    let one_phase = Arc::new(AggregateExec::try_new(
        AggregateMode::SinglePartitioned,
        group_by.clone(),
        vec![],
        vec![],
        sorted_input.clone(),
        sorted_input.schema(),
    )?);
    let regrouped = AggregateExec::try_new(
        AggregateMode::SinglePartitioned,
        upper.group_expr().clone(),
        upper.aggr_expr().to_vec(),
        upper.filter_expr().to_vec(),
        one_phase,
        upper.input_schema(),
    )?;
    // Only where the grouping then sees its input sorted on its keys.
    if *regrouped.input_order_mode() != InputOrderMode::Sorted
        || regrouped.schema().fields() != upper.schema().fields()
    {
        return Ok(None);
    }
    Ok(Some(Arc::new(regrouped)))
}
