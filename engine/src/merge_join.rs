//! Merging two sides of a join that already arrive sorted on its keys.
//!
//! The court tables are written in case order (`cases` by `case_id`, `people` by `case_id` and
//! role, `events` by `case_id` and date), and where their files are declared range-partitioned
//! on `case_id` (`crate::file_ranges`) a join of people or events to cases needs no exchange:
//! partition `i` of one side meets partition `i` of the other. DataFusion still builds a hash
//! table of one side and probes it with every row of the other, hashing each `case_id` string
//! and comparing it again: for the 6.3M people of the entry queries, 0.3 s of build and 0.4 s
//! of probe. Both sides are in key order already, so [`MergeJoinRule`] hands such a join to
//! DataFusion's `SortMergeJoinExec`, which walks the two sorted streams side by side and
//! compares neighbouring keys: no table, no hashing, and the left side's order kept. Inner
//! joins are fjq's own merge of runs of equal keys ([`crate::inner_merge`]), which does less.
//!
//! It applies to a partitioned hash join (its sides co-partitioned or exchanged on the keys)
//! whose two inputs each satisfy an ascending ordering on their join keys (the exchanges
//! DataFusion inserts destroy order, so only joins that need none qualify), of type inner, left
//! or right, with no further join condition. It runs right after DataFusion's
//! `EnsureRequirements` (distribution and sorting), before projections are folded into joins. `SET fjq.merge_join = false` leaves
//! hash joins as they are.

use datafusion::arrow::compute::SortOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{JoinType, Result};
use datafusion::config::ConfigOptions;
use datafusion::physical_expr::{PhysicalExprRef, PhysicalSortExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::joins::{HashJoinExec, PartitionMode, SortMergeJoinExec};
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};
use fjq_udfs::FjqOptions;
use std::sync::Arc;

/// The order the files are declared in (`crate::catalogue`): ascending, NULLs last.
const FILE_ORDER: SortOptions = SortOptions {
    descending: false,
    nulls_first: false,
};

/// Replaces hash joins whose sides arrive sorted on the keys by merge joins (module docs).
#[derive(Debug, Default)]
pub struct MergeJoinRule;

impl PhysicalOptimizerRule for MergeJoinRule {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if !FjqOptions::plan_switch(config, |options| options.merge_join) {
            return Ok(plan);
        }
        plan.transform_up(|node| {
            let Some(join) = node.downcast_ref::<HashJoinExec>() else {
                return Ok(Transformed::no(node));
            };
            Ok(match merge_join(join)? {
                Some(merged) => Transformed::yes(merged),
                None => Transformed::no(node),
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "fjq_merge_join"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The merge join doing what `join` does, if its sides arrive sorted on its keys.
fn merge_join(join: &HashJoinExec) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    if *join.partition_mode() != PartitionMode::Partitioned
        || join.filter().is_some()
        || join.contains_projection()
        || join.null_aware
        || !matches!(
            join.join_type(),
            JoinType::Inner | JoinType::Left | JoinType::Right
        )
    {
        return Ok(None);
    }
    let (left_keys, right_keys): (Vec<PhysicalExprRef>, Vec<PhysicalExprRef>) =
        join.on().iter().cloned().unzip();
    if !sorted_on(join.left(), left_keys)? || !sorted_on(join.right(), right_keys)? {
        return Ok(None);
    }
    let merged = SortMergeJoinExec::try_new(
        Arc::clone(join.left()),
        Arc::clone(join.right()),
        join.on().to_vec(),
        None,
        *join.join_type(),
        vec![FILE_ORDER; join.on().len()],
        join.null_equality(),
    )?;
    // What the plan above was built on must hold of the replacement too.
    if merged.schema() != join.schema()
        || merged.properties().partitioning != join.properties().partitioning
    {
        return Ok(None);
    }
    Ok(Some(
        match crate::inner_merge::inner_merge(merged.clone()) {
            Some(inner) => Arc::new(inner),
            None => Arc::new(merged),
        },
    ))
}

/// Whether every partition of `side` arrives sorted on `keys`, in the files' order.
fn sorted_on(side: &Arc<dyn ExecutionPlan>, keys: Vec<PhysicalExprRef>) -> Result<bool> {
    side.equivalence_properties()
        .ordering_satisfy(keys.into_iter().map(|expr| PhysicalSortExpr {
            expr,
            options: FILE_ORDER,
        }))
}
