//! Compacting string views where a join gathers its build side.
//!
//! A string view array refers to its text through a list of data buffers, and Arrow's `take`
//! and `concat` keep every buffer of their inputs. A hash join's build side is the
//! concatenation of all its input batches, and each batch it emits takes from that
//! concatenation: so every output batch refers to every buffer of the build side. When that
//! output is itself the build side of a second join (events x cases x people), the second
//! concatenation refers to (batches x buffers) buffers, and each batch the second join emits
//! copies that list: the work grows with the square of the rows. [`CompactViewsRule`] puts a
//! [`CompactViewsExec`] under the build side of every join that gathers one (hash, nested-loop
//! and cross joins) when it carries view columns. It rewrites, batch by batch, only the view
//! columns that refer to more than one buffer or to buffers mostly unused, into one buffer of
//! just the text they use (values of 12 bytes or less live in the view itself and need none).
//! Batches straight from a Parquet scan, which refer to one dictionary page, pass untouched.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::config::ConfigOptions;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::joins::{CrossJoinExec, HashJoinExec, NestedLoopJoinExec};
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::statistics::{ChildStats, StatisticsArgs};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, ReplaceChildrenOptions,
    Statistics, replace_children_if_necessary,
};
use futures::StreamExt;
use std::fmt;
use std::sync::Arc;

/// Puts [`CompactViewsExec`] under the build side of joins whose build side has view columns.
#[derive(Debug, Default)]
pub struct CompactViewsRule;

impl PhysicalOptimizerRule for CompactViewsRule {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let gathers_left = node.downcast_ref::<HashJoinExec>().is_some()
                || node.downcast_ref::<NestedLoopJoinExec>().is_some()
                || node.downcast_ref::<CrossJoinExec>().is_some();
            let children = node.children();
            let Some(build) = children.first().filter(|_| gathers_left) else {
                return Ok(Transformed::no(node));
            };
            if !has_views(&build.schema()) || build.downcast_ref::<CompactViewsExec>().is_some() {
                return Ok(Transformed::no(node));
            }
            let mut inputs: Vec<Arc<dyn ExecutionPlan>> =
                children.into_iter().map(Arc::clone).collect();
            inputs[0] = Arc::new(CompactViewsExec::new(Arc::clone(&inputs[0])));
            replace_children_if_necessary(node, inputs).map(Transformed::yes)
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "fjq_compact_views"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

fn has_views(schema: &SchemaRef) -> bool {
    schema
        .fields()
        .iter()
        .any(|f| matches!(f.data_type(), DataType::Utf8View | DataType::BinaryView))
}

/// Passes its input through with its view columns compacted ([`compact_batch`]). Same schema,
/// partitioning, order and statistics as its input.
#[derive(Debug, Clone)]
pub struct CompactViewsExec {
    input: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl CompactViewsExec {
    pub fn new(input: Arc<dyn ExecutionPlan>) -> CompactViewsExec {
        CompactViewsExec {
            properties: Arc::clone(input.properties()),
            input,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl DisplayAs for CompactViewsExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "CompactViewsExec")
    }
}

impl ExecutionPlan for CompactViewsExec {
    fn name(&self) -> &str {
        "CompactViewsExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(CompactViewsExec::new(children.swap_remove(0))))
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(CompactViewsExec::new(children.swap_remove(0))))
    }

    fn child_stats_requests(&self, partition: Option<usize>) -> Vec<ChildStats> {
        vec![ChildStats::At(partition)]
    }

    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<Statistics>],
        _args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        Ok(Arc::clone(&input_stats[0]))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let baseline = BaselineMetrics::new(&self.metrics, partition);
        let compacted = input.map(move |batch| {
            let _timer = baseline.elapsed_compute().timer();
            let batch = compact_batch(batch?)?;
            baseline.record_output(batch.num_rows());
            Ok(batch)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.input.schema(),
            compacted,
        )))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// `batch` with each view column that refers to several buffers, or to buffers of which it
/// uses less than half, copied into one buffer of the text it uses. Other columns are shared.
pub fn compact_batch(batch: RecordBatch) -> Result<RecordBatch> {
    // Judging a column reads all its views: once each.
    let compact: Vec<bool> = batch.columns().iter().map(needs_compaction).collect();
    if !compact.contains(&true) {
        return Ok(batch);
    }
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .zip(compact)
        .map(|(column, compact)| match column.data_type() {
            DataType::Utf8View if compact => Arc::new(column.as_string_view().gc()) as ArrayRef,
            DataType::BinaryView if compact => Arc::new(column.as_binary_view().gc()) as ArrayRef,
            _ => Arc::clone(column),
        })
        .collect();
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}

fn needs_compaction(column: &ArrayRef) -> bool {
    let (buffers, used) = match column.data_type() {
        DataType::Utf8View => {
            let views = column.as_string_view();
            (views.data_buffers(), views.total_buffer_bytes_used())
        }
        DataType::BinaryView => {
            let views = column.as_binary_view();
            (views.data_buffers(), views.total_buffer_bytes_used())
        }
        _ => return false,
    };
    let held: usize = buffers.iter().map(|b| b.len()).sum();
    buffers.len() > 1 || held > 2 * used
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::StringViewArray;
    use datafusion::arrow::array::UInt32Array;
    use datafusion::arrow::compute::{concat, take};

    fn long(i: usize) -> String {
        format!("a value longer than twelve bytes, number {i}")
    }

    #[test]
    fn a_taken_column_keeps_every_buffer_until_compacted() {
        // Three arrays of long values, concatenated as a join's build side is.
        let parts: Vec<StringViewArray> = (0..3)
            .map(|p| StringViewArray::from_iter_values((0..4).map(|i| long(p * 4 + i))))
            .collect();
        let refs: Vec<&dyn Array> = parts.iter().map(|a| a as &dyn Array).collect();
        let build = concat(&refs).unwrap();
        let taken = take(&build, &UInt32Array::from(vec![5, 0, 11]), None).unwrap();
        assert_eq!(taken.as_string_view().data_buffers().len(), 3);

        let schema = Arc::new(datafusion::arrow::datatypes::Schema::new(vec![
            datafusion::arrow::datatypes::Field::new("v", DataType::Utf8View, true),
        ]));
        let batch = RecordBatch::try_new(schema, vec![taken]).unwrap();
        let compacted = compact_batch(batch).unwrap();
        let column = compacted.column(0).as_string_view();
        assert_eq!(column.data_buffers().len(), 1);
        let values: Vec<_> = column.iter().map(|v| v.unwrap().to_string()).collect();
        assert_eq!(values, vec![long(5), long(0), long(11)]);
    }

    #[test]
    fn short_values_need_no_buffer_and_plain_columns_are_left_alone() {
        let short = StringViewArray::from(vec![Some("C43A"), None, Some("child")]);
        let sliced: ArrayRef =
            Arc::new(StringViewArray::from_iter_values((0..8).map(long)).slice(0, 1));
        // One long value of eight: the buffer is mostly unused.
        assert!(needs_compaction(&sliced));
        let short: ArrayRef = Arc::new(short);
        assert!(!needs_compaction(&short));
        let plain: ArrayRef = Arc::new(datafusion::arrow::array::StringArray::from(vec!["x"]));
        assert!(!needs_compaction(&plain));
    }
}
