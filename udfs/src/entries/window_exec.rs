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

use crate::entries::{Answers, EntryKind, answer_partitions};
use crate::runs::run_ranges;
use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::compute::concat_batches;
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
use std::collections::VecDeque;
use std::fmt;
use std::ops::Range;
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
            ready: VecDeque::new(),
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
    /// Answered batches not yet handed on (a batch may complete two).
    ready: VecDeque<RecordBatch>,
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

    /// Takes in one input batch; queues the rows whose partitions are now complete, answered:
    /// the held partition (with its continuation, if the batch begins with one) as one batch,
    /// then the batch's own complete partitions as a slice of it, copied nowhere.
    fn push(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let keys = self.keys(&batch)?;
        let ranges = run_ranges(&keys)?;
        let continues = self.continues_held(&keys)?;
        let last_start = ranges.last().map_or(0, |r| r.start);
        if last_start == 0 && (continues || self.held.is_empty()) {
            // The whole batch is one partition, perhaps still going on.
            return self.hold(batch);
        }
        let mut own = ranges.as_slice();
        if !self.held.is_empty() {
            let mut partition = std::mem::take(&mut self.held);
            if continues {
                partition.push(batch.slice(0, ranges[0].end));
                own = &own[1..];
            }
            let answered = self.answer_one(&partition)?;
            self.ready.push_back(answered);
        }
        // The batch's partitions before its last, which the next batch may continue.
        let own = &own[..own.len().saturating_sub(1)];
        if let (Some(first), Some(last)) = (own.first(), own.last()) {
            let offset = first.start;
            let complete = batch.slice(offset, last.end - offset);
            let shifted: Vec<Range<usize>> = own
                .iter()
                .map(|r| r.start - offset..r.end - offset)
                .collect();
            let answered = self.answer(&complete, &shifted)?;
            self.ready.push_back(answered);
        }
        self.hold(batch.slice(last_start, batch.num_rows() - last_start))
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

    /// Answers one whole partition, held in `parts`.
    fn answer_one(&mut self, parts: &[RecordBatch]) -> Result<RecordBatch> {
        let partition = concat_batches(&self.input.schema(), parts)?;
        let rows = partition.num_rows();
        self.answer(&partition, std::slice::from_ref(&(0..rows)))
    }

    /// Answers the whole partitions `ranges` of `batch`, which together cover it.
    fn answer(&mut self, batch: &RecordBatch, ranges: &[Range<usize>]) -> Result<RecordBatch> {
        let n = batch.num_rows();
        let mut out = batch.columns().to_vec();
        for column in &self.columns {
            let values = column
                .args
                .iter()
                .map(|a| a.evaluate(batch)?.into_array(n))
                .collect::<Result<Vec<_>>>()?;
            let mut answers = Answers::new(column.kind, n);
            answer_partitions(
                column.kind,
                column.function,
                &values,
                ranges,
                &mut self.distinct,
                &mut answers,
            )?;
            out.push(answers.finish());
        }
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), out)?)
    }

    fn poll_inner(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<RecordBatch>>> {
        loop {
            if let Some(batch) = self.ready.pop_front() {
                return Poll::Ready(Some(Ok(batch)));
            }
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
                        Ok(())
                    } else {
                        self.answer_one(&held)
                            .map(|answered| self.ready.push_back(answered))
                    }
                }
            };
            if let Err(e) = answered {
                self.finished = true;
                self.ready.clear();
                return Poll::Ready(Some(Err(e)));
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

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{AsArray, Date32Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};
    use datafusion::datasource::MemTable;
    use datafusion::execution::SessionStateBuilder;
    use datafusion::physical_plan::{collect, displayable};
    use datafusion::prelude::{SessionConfig, SessionContext};

    /// Worked by hand, entries as day numbers: a person's entries over three batches of two
    /// rows, a batch that ends one person and begins the next, a batch that is one whole person
    /// after a held one, and a last batch continuing the held person.
    #[tokio::test]
    async fn partitions_across_batches_get_the_answers_worked_by_hand() {
        // Sorted (who, day) in batches of 2:
        // [a1 a5] [a40 a200] [a230 b10] [c7 c20] [c290]
        let rows = [
            ("a", 1),
            ("a", 5),
            ("a", 40),
            ("a", 200),
            ("a", 230),
            ("b", 10),
            ("c", 7),
            ("c", 20),
            ("c", 290),
        ];
        let schema = Arc::new(Schema::new(vec![
            Field::new("who", DataType::Utf8, false),
            Field::new("d", DataType::Date32, false),
        ]));
        // Shuffled into one batch: the sort before the window cuts its output into batches of 2.
        let order = [4, 8, 0, 5, 2, 7, 1, 6, 3];
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from_iter_values(
                    order.iter().map(|&i| rows[i].0),
                )),
                Arc::new(Date32Array::from_iter_values(
                    order.iter().map(|&i| rows[i].1),
                )),
            ],
        )
        .unwrap();
        let table = MemTable::try_new(schema, vec![vec![batch]]).unwrap();
        let state = SessionStateBuilder::new()
            .with_config(
                SessionConfig::new()
                    .with_target_partitions(1)
                    .with_batch_size(2),
            )
            .with_default_features()
            .with_physical_optimizer_rule(Arc::new(EntryWindowRule))
            .build();
        let context = SessionContext::new_with_state(state);
        crate::register_all(&context);
        context.register_table("t", Arc::new(table)).unwrap();
        // Day 300 is 1970-10-28: the coverage ends there.
        let plan = context
            .sql(
                "SELECT entry_number(d) OVER w, prior_entries(d, 100) OVER w,
                        returns_within(d, 30, DATE '1970-10-28') OVER w
                 FROM t WINDOW w AS (PARTITION BY who ORDER BY d)",
            )
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        let text = displayable(plan.as_ref()).indent(false).to_string();
        assert!(text.contains("EntryWindowExec"), "{text}");
        let batches = collect(plan, context.task_ctx()).await.unwrap();
        let column = |i: usize| -> Vec<Option<i64>> {
            batches
                .iter()
                .flat_map(|b| {
                    b.column(i)
                        .as_primitive::<Int64Type>()
                        .iter()
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        let returns: Vec<Option<bool>> = batches
            .iter()
            .flat_map(|b| b.column(2).as_boolean().iter().collect::<Vec<_>>())
            .collect();
        let some = |v: &[i64]| v.iter().map(|&x| Some(x)).collect::<Vec<_>>();
        assert_eq!(column(0), some(&[1, 2, 3, 4, 5, 1, 1, 2, 3]));
        // Earlier entries in the 100 days before: a200 sees none (40 is 160 days back).
        assert_eq!(column(1), some(&[0, 1, 2, 0, 1, 0, 0, 1, 0]));
        // A return within 30 days; c290's 30 days run past the coverage's end: censored.
        let (t, f) = (Some(true), Some(false));
        assert_eq!(returns, [t, f, f, t, f, f, t, f, None]);
    }
}
