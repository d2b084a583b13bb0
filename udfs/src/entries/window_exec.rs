//! The entry window functions over a whole stream at once.
//!
//! DataFusion runs a window function that needs its whole partition (ours do: a return is seen
//! only by looking ahead) in `WindowAggExec`, which holds the entire input in memory, outside
//! the memory pool, and then evaluates partition by partition, slicing every column and creating
//! an evaluator for each. With a partition per person that is millions of tiny evaluations: at
//! scale 1.0, three `returns_within` columns took 19 s and 6.7 GB. The input is already sorted
//! by the partition keys (the window needs it), so [`EntryWindowRule`] swaps such a
//! `WindowAggExec` for [`EntryWindowExec`], which streams: each batch's complete partitions are
//! answered in one pass into one builder per function, and only the last, possibly unfinished
//! partition is held back (inside the memory pool) until the next batch shows where it ends.
//!
//! The rule applies only when every function of the window is an fjq entry function and there
//! are partition keys; anything else is left to DataFusion.

use crate::entries::{Answers, EntryKind, answer_partition};
use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::compute::{concat_batches, partition};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Result, ScalarValue};
use datafusion::config::ConfigOptions;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::window::StandardWindowExpr;
use datafusion::physical_expr::{OrderingRequirements, PhysicalExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::execution_plan::EmissionType;
use datafusion::physical_plan::execution_plan::apply_expression_roots;
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::windows::{WindowAggExec, WindowUDFExpr};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, InputDistributionRequirements, PlanProperties,
};
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// One window column: which kernel, under which name, over which argument expressions.
#[derive(Debug, Clone)]
struct EntryColumn {
    kind: EntryKind,
    function: &'static str,
    args: Vec<Arc<dyn PhysicalExpr>>,
}

fn entry_kind(name: &str) -> Option<(EntryKind, &'static str)> {
    Some(match name {
        "entry_number" => (EntryKind::Number, "entry_number"),
        "prior_entries" => (EntryKind::Prior, "prior_entries"),
        "days_since_last_entry" => (EntryKind::DaysSinceLast, "days_since_last_entry"),
        "returns_within" => (EntryKind::ReturnsWithin, "returns_within"),
        "left_truncated" => (EntryKind::LeftTruncated, "left_truncated"),
        _ => return None,
    })
}

/// Replaces `WindowAggExec`s made only of entry functions by [`EntryWindowExec`].
#[derive(Debug, Default)]
pub struct EntryWindowRule;

impl PhysicalOptimizerRule for EntryWindowRule {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(window) = node.downcast_ref::<WindowAggExec>() else {
                return Ok(Transformed::no(node));
            };
            Ok(match EntryWindowExec::replacing(window) {
                Some(exec) => Transformed::yes(Arc::new(exec) as Arc<dyn ExecutionPlan>),
                None => Transformed::no(node),
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "fjq_entry_window"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Streams the entry window functions over input sorted by the partition keys.
#[derive(Debug)]
pub struct EntryWindowExec {
    input: Arc<dyn ExecutionPlan>,
    columns: Vec<EntryColumn>,
    partition_by: Vec<Arc<dyn PhysicalExpr>>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
    distribution: InputDistributionRequirements,
    ordering: Vec<Option<OrderingRequirements>>,
    metrics: ExecutionPlanMetricsSet,
}

impl EntryWindowExec {
    /// The replacement for `window`, if every function in it is an entry function.
    fn replacing(window: &WindowAggExec) -> Option<EntryWindowExec> {
        let partition_by = window.partition_keys();
        if partition_by.is_empty() {
            return None;
        }
        let mut columns = Vec::new();
        for expr in window.window_expr() {
            let standard = expr.as_any().downcast_ref::<StandardWindowExpr>()?;
            let udf = standard
                .get_standard_func_expr()
                .as_any()
                .downcast_ref::<WindowUDFExpr>()?;
            let (kind, function) = entry_kind(udf.fun().name())?;
            columns.push(EntryColumn {
                kind,
                function,
                args: udf.args().to_vec(),
            });
        }
        Some(EntryWindowExec {
            input: Arc::clone(window.input()),
            columns,
            partition_by,
            schema: window.schema(),
            properties: Arc::new(
                window
                    .properties()
                    .as_ref()
                    .clone()
                    .with_emission_type(EmissionType::Incremental),
            ),
            distribution: window.input_distribution_requirements(),
            ordering: window.required_input_ordering(),
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }
}

impl DisplayAs for EntryWindowExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let functions: Vec<_> = self.columns.iter().map(|c| c.function).collect();
        let keys: Vec<_> = self.partition_by.iter().map(|k| k.to_string()).collect();
        write!(
            f,
            "EntryWindowExec: functions=[{}], partition_by=[{}]",
            functions.join(", "),
            keys.join(", ")
        )
    }
}

impl ExecutionPlan for EntryWindowExec {
    fn name(&self) -> &str {
        "EntryWindowExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn input_distribution_requirements(&self) -> InputDistributionRequirements {
        self.distribution.clone()
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        let args = self.columns.iter().flat_map(|c| c.args.iter().cloned());
        apply_expression_roots(args.chain(self.partition_by.iter().cloned()), f)
    }

    fn required_input_ordering(&self) -> Vec<Option<OrderingRequirements>> {
        self.ordering.clone()
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

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = children.swap_remove(0);
        Ok(Arc::new(EntryWindowExec {
            input,
            columns: self.columns.clone(),
            partition_by: self.partition_by.clone(),
            schema: Arc::clone(&self.schema),
            properties: Arc::clone(&self.properties),
            distribution: self.distribution.clone(),
            ordering: self.ordering.clone(),
            metrics: ExecutionPlanMetricsSet::new(),
        }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, Arc::clone(&context))?;
        let reservation = MemoryConsumer::new(format!("EntryWindowExec[{partition}]"))
            .register(context.memory_pool());
        Ok(Box::pin(EntryWindowStream {
            input,
            columns: self.columns.clone(),
            partition_by: self.partition_by.clone(),
            schema: Arc::clone(&self.schema),
            held: Vec::new(),
            reservation,
            distinct: Vec::new(),
            baseline: BaselineMetrics::new(&self.metrics, partition),
            finished: false,
        }))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

struct EntryWindowStream {
    input: SendableRecordBatchStream,
    columns: Vec<EntryColumn>,
    partition_by: Vec<Arc<dyn PhysicalExpr>>,
    schema: SchemaRef,
    /// Rows of the last partition seen, which the next batch may continue.
    held: Vec<RecordBatch>,
    reservation: MemoryReservation,
    distinct: Vec<i32>,
    baseline: BaselineMetrics,
    finished: bool,
}

impl EntryWindowStream {
    fn keys(&self, batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
        self.partition_by
            .iter()
            .map(|k| k.evaluate(batch)?.into_array(batch.num_rows()))
            .collect()
    }

    /// Does `batch` begin with the partition the held rows belong to?
    fn continues_held(&self, batch_keys: &[ArrayRef]) -> Result<bool> {
        let Some(last) = self.held.last() else {
            return Ok(false);
        };
        let held_keys = self.keys(last)?;
        for (held, new) in held_keys.iter().zip(batch_keys) {
            let a = ScalarValue::try_from_array(held, held.len() - 1)?;
            let b = ScalarValue::try_from_array(new, 0)?;
            if a != b {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Takes in one input batch; returns the rows whose partitions are now complete, answered.
    fn push(&mut self, batch: RecordBatch) -> Result<Option<RecordBatch>> {
        if batch.num_rows() == 0 {
            return Ok(None);
        }
        let keys = self.keys(&batch)?;
        let ranges = partition(&keys)?.ranges();
        let last_start = ranges.last().map_or(0, |r| r.start);
        let continues = self.continues_held(&keys)?;
        if last_start == 0 && (continues || self.held.is_empty()) {
            // The whole batch is one partition, perhaps still going on.
            self.hold(batch)?;
            return Ok(None);
        }
        let mut complete = std::mem::take(&mut self.held);
        complete.push(batch.slice(0, last_start));
        self.hold(batch.slice(last_start, batch.num_rows() - last_start))?;
        self.answer(&complete).map(Some)
    }

    fn hold(&mut self, rows: RecordBatch) -> Result<()> {
        self.held.push(rows);
        let bytes = self
            .held
            .iter()
            .map(RecordBatch::get_array_memory_size)
            .sum();
        self.reservation.try_resize(bytes)
    }

    /// Answers whole partitions (`batches` end at a partition boundary).
    fn answer(&mut self, batches: &[RecordBatch]) -> Result<RecordBatch> {
        let batch = match batches {
            [one] => one.clone(),
            _ => concat_batches(&self.input.schema(), batches)?,
        };
        let n = batch.num_rows();
        let ranges = partition(&self.keys(&batch)?)?.ranges();
        let mut out = batch.columns().to_vec();
        for column in &self.columns {
            let values = column
                .args
                .iter()
                .map(|a| a.evaluate(&batch)?.into_array(n))
                .collect::<Result<Vec<_>>>()?;
            let mut answers = Answers::new(column.kind, n);
            for range in &ranges {
                answer_partition(
                    column.kind,
                    column.function,
                    &values,
                    range.clone(),
                    &mut self.distinct,
                    &mut answers,
                )?;
            }
            out.push(answers.finish());
        }
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), out)?)
    }

    fn poll_inner(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<RecordBatch>>> {
        loop {
            if self.finished {
                return Poll::Ready(None);
            }
            let next = match self.input.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(next) => next,
            };
            let timer = self.baseline.elapsed_compute().clone();
            let _timer = timer.timer();
            let answered = match next {
                Some(Ok(batch)) => self.push(batch),
                Some(Err(e)) => Err(e),
                None => {
                    self.finished = true;
                    let held = std::mem::take(&mut self.held);
                    self.reservation.free();
                    if held.is_empty() {
                        Ok(None)
                    } else {
                        self.answer(&held).map(Some)
                    }
                }
            };
            match answered {
                Ok(Some(batch)) => return Poll::Ready(Some(Ok(batch))),
                Ok(None) => continue,
                Err(e) => {
                    self.finished = true;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }
}

impl futures::Stream for EntryWindowStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let poll = self.poll_inner(cx);
        self.baseline.record_poll(poll)
    }
}

impl RecordBatchStream for EntryWindowStream {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}
