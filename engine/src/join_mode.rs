//! Broadcasting a join's build side when its probe side is much larger.
//!
//! DataFusion gathers a hash join's build side whole (`CollectLeft`) only below a fixed size
//! (1 MB or 128K rows); above it, both sides are hash-repartitioned on the join keys
//! (`Partitioned`). For the joins this work is made of, events to cases and people to cases,
//! that repartitions the large side: 12.9M events shuffled between the two threads to meet
//! 0.7M filtered cases, most of them then dropped by the join. [`CollectSmallBuildRule`] turns
//! a partitioned inner hash join into `CollectLeft` when statistics say the probe side is at
//! least [`PROBE_TO_BUILD`] times the build side, the build side is at most [`MAX_BUILD_ROWS`]
//! rows, and it is one table's scan under filters and projections. The build side is then read
//! once and shared, and the probe side streams through in its files' own partitions and order,
//! so what follows can use that order.
//!
//! A join whose two sides are already co-partitioned on its keys (`crate::file_ranges`) is left
//! partitioned: it needs no exchange to stay so.
//!
//! `SET fjq.collect_small_builds = false` leaves every join as DataFusion planned it.
//!
//! It runs right after DataFusion's `join_selection`, before distribution is enforced, so the
//! repartitioning the new mode needs (none on the probe side, one partition on the build side) is
//! planned by DataFusion as for any other `CollectLeft` join.

use datafusion::common::JoinType;
use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::config::ConfigOptions;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::AggregateExec;
use datafusion::physical_plan::joins::{HashJoinExec, PartitionMode};
use datafusion::physical_plan::{
    ExecutionPlan, ExecutionPlanProperties, StatisticsArgs, StatisticsContext,
};
use fjq_udfs::FjqOptions;
use std::sync::Arc;

/// How many times larger than the build side the probe side must be (by estimated bytes, or
/// rows where bytes are unknown). Measured on the benchmark's joins (docs/BENCHMARK.md): events
/// to the public and private law cases gained 7%; events to all cases (about 5 times) moved
/// within the noise; people to cases (2.5 times) lost, as one thread builds the table that two
/// threads built in halves.
pub const PROBE_TO_BUILD: usize = 4;

/// The largest build side (estimated rows) gathered whole: more than all the cases at scale 1.0
/// (2.6M). A cap chosen, not measured: beyond it one thread would build a table of hundreds of
/// megabytes alone while the other waits.
pub const MAX_BUILD_ROWS: usize = 4 << 20;

/// Turns lopsided partitioned inner hash joins into `CollectLeft` joins.
#[derive(Debug, Default)]
pub struct CollectSmallBuildRule;

impl PhysicalOptimizerRule for CollectSmallBuildRule {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if !FjqOptions::plan_switch(config, |options| options.collect_small_builds) {
            return Ok(plan);
        }
        plan.transform_up(|node| {
            let Some(join) = node.downcast_ref::<HashJoinExec>() else {
                return Ok(Transformed::no(node));
            };
            if *join.partition_mode() != PartitionMode::Partitioned
                || *join.join_type() != JoinType::Inner
                || join.null_aware
                || !reads_one_table(join.left().as_ref())
                || !lopsided(join.left().as_ref(), join.right().as_ref())
                || co_partitioned(join)
            {
                return Ok(Transformed::no(node));
            }
            let collected = join
                .builder()
                .with_partition_mode(PartitionMode::CollectLeft)
                .build()?;
            Ok(Transformed::yes(
                Arc::new(collected) as Arc<dyn ExecutionPlan>
            ))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "fjq_collect_small_builds"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Whether both sides already arrive split alike on the join keys (range partitions declared
/// from the files, `crate::file_ranges`): the partitioned join then moves no row at all, and
/// builds its tables on every thread, where gathering would build one table on one.
fn co_partitioned(join: &HashJoinExec) -> bool {
    let children = [join.left().as_ref(), join.right().as_ref()];
    join.left().output_partitioning().partition_count() > 1
        && join
            .input_distribution_requirements()
            .unsatisfied_co_partitioned_children(join.name(), &children)
            .is_ok_and(|unsatisfied| unsatisfied.is_empty())
}

/// Whether the build side is one table's scan under filters and projections: the sizes
/// estimated for the output of a join or an aggregation are guesses that can be off by orders
/// of magnitude, and a wrong guess here would gather millions of rows on one thread.
fn reads_one_table(plan: &dyn ExecutionPlan) -> bool {
    let children = plan.children();
    match children.as_slice() {
        [] => true,
        [child] => {
            plan.downcast_ref::<AggregateExec>().is_none() && reads_one_table(child.as_ref())
        }
        _ => false,
    }
}

/// Whether the build side is small enough to gather and the probe side many times larger.
/// Unknown statistics leave the join as DataFusion planned it.
fn lopsided(build: &dyn ExecutionPlan, probe: &dyn ExecutionPlan) -> bool {
    let statistics = StatisticsContext::new();
    let args = StatisticsArgs::new();
    let (Ok(build), Ok(probe)) = (
        statistics.compute(build, &args),
        statistics.compute(probe, &args),
    ) else {
        return false;
    };
    let Some(&build_rows) = build.num_rows.get_value() else {
        return false;
    };
    if build_rows > MAX_BUILD_ROWS {
        return false;
    }
    let sizes = match (
        build.total_byte_size.get_value(),
        probe.total_byte_size.get_value(),
    ) {
        (Some(&b), Some(&p)) if b > 0 => Some((b, p)),
        _ => probe.num_rows.get_value().map(|&p| (build_rows, p)),
    };
    sizes.is_some_and(|(b, p)| p >= b.saturating_mul(PROBE_TO_BUILD))
}
