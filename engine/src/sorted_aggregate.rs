//! Grouping input that arrives sorted on its group keys by runs of equal keys.
//!
//! The case tables are written sorted by case (and the scans are declared so:
//! `crate::file_ranges`), so a per-case aggregate sees each case's rows together. DataFusion
//! plans such an aggregate with `ordering_mode=Sorted` and emits each group once the next one
//! starts, but it still finds every row's group by hashing its key into a table: for 13M
//! events grouped by `case_id`, 0.36 s of the aggregate's 0.80 s. [`SortedRunsRule`] puts a
//! [`SortedRunAggregateExec`] in place of such an aggregate. It finds where the keys change by
//! comparing neighbours (`fjq_udfs::runs`), numbers the runs as groups, hands the
//! numbers to the same accumulators DataFusion would use (`GroupsAccumulator`), and emits the
//! finished groups after every batch, keeping only the group that may go on into the next one.
//!
//! It replaces only what it computes the same way: one set of plain group keys (no grouping
//! sets) of types whose equality is exact (not floating point), input sorted on all of them,
//! raw input (single or partial aggregation), and aggregates that have grouped accumulators
//! and no DISTINCT, ORDER BY or FILTER. Anything else stays DataFusion's.
//!
//! Input sorted on only some of the keys (`PartiallySorted`) stays DataFusion's: a sorted key
//! of one value (a case type fixed by a filter) would make one run of every group
//! (docs/DECISIONS.md).
//!
//! `SET fjq.sorted_aggregation = false` leaves every aggregate as DataFusion planned it.

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, UInt32Array, make_comparator};
use datafusion::arrow::compute::{SortOptions, take};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Result, internal_err};
use datafusion::config::ConfigOptions;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr_common::sort_expr::OrderingRequirements;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::statistics::{ChildStats, StatisticsArgs};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan,
    InputDistributionRequirements, InputOrderMode, PlanProperties, ReplaceChildrenOptions,
    Statistics,
};
use fjq_udfs::FjqOptions;
use fjq_udfs::runs::run_ranges;
use futures::StreamExt;
use std::cmp::Ordering;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

/// Replaces every aggregate `F` applies to with `F`'s grouping, while `F`'s switch is on: the
/// rule of each of fjq's own groupings.
#[derive(Debug)]
pub struct OwnAggregateRule<F>(PhantomData<F>);

impl<F> Default for OwnAggregateRule<F> {
    fn default() -> Self {
        OwnAggregateRule(PhantomData)
    }
}

impl<F: GroupFinder> PhysicalOptimizerRule for OwnAggregateRule<F> {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if !FjqOptions::plan_switch(config, F::switched_on) {
            return Ok(plan);
        }
        replace_aggregates::<F>(plan)
    }

    fn name(&self) -> &str {
        F::RULE
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Replaces aggregates over input sorted on their keys with [`SortedRunAggregateExec`].
pub type SortedRunsRule = OwnAggregateRule<ByRuns>;

/// Every aggregate in `plan` that `F` applies to, computed by `F` instead.
pub(crate) fn replace_aggregates<F: GroupFinder>(
    plan: Arc<dyn ExecutionPlan>,
) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        let Some(aggregate) = node.downcast_ref::<AggregateExec>() else {
            return Ok(Transformed::no(node));
        };
        if !F::applies(aggregate)? {
            return Ok(Transformed::no(node));
        }
        let aggregate = Arc::new(aggregate.clone());
        Ok(Transformed::yes(Arc::new(OwnAggregateExec::<F>::new(
            aggregate,
        ))))
    })
    .map(|t| t.data)
}

/// What both of fjq's own groupings ask of an aggregate (this one and
/// `crate::small_keys`): raw input in the given modes and input order, one set of plain keys
/// whose types `key_type` accepts, and aggregates with grouped accumulators and no DISTINCT,
/// ORDER BY or FILTER.
pub(crate) fn plain_grouping(
    aggregate: &AggregateExec,
    modes: &[AggregateMode],
    order: InputOrderMode,
    key_type: fn(&DataType) -> bool,
) -> Result<bool> {
    let group_by = aggregate.group_expr();
    if !modes.contains(aggregate.mode())
        || *aggregate.input_order_mode() != order
        || group_by.is_empty()
        || group_by.has_grouping_set()
        || aggregate.limit_options().is_some()
        || !aggregate.dynamic_expressions_produced().is_empty()
        || aggregate.filter_expr().iter().any(Option::is_some)
    {
        return Ok(false);
    }
    let input_schema = aggregate.input_schema();
    for (expr, _) in group_by.expr() {
        if !key_type(&expr.data_type(&input_schema)?) {
            return Ok(false);
        }
    }
    Ok(aggregate
        .aggr_expr()
        .iter()
        .all(|a| a.groups_accumulator_supported() && !a.is_distinct() && a.order_bys().is_empty()))
}

/// Grouping by runs of equal keys.
#[derive(Debug)]
pub struct ByRuns;

impl GroupFinder for ByRuns {
    const NAME: &'static str = "SortedRunAggregateExec";
    const RULE: &'static str = "fjq_sorted_aggregation";

    fn switched_on(options: &FjqOptions) -> bool {
        options.sorted_aggregation
    }

    /// Raw input sorted on all of the keys.
    fn applies(aggregate: &AggregateExec) -> Result<bool> {
        plain_grouping(
            aggregate,
            &[
                AggregateMode::Single,
                AggregateMode::SinglePartitioned,
                AggregateMode::Partial,
            ],
            InputOrderMode::Sorted,
            exact_equality,
        )
    }

    fn start(aggregation: Aggregation, _context: &TaskContext) -> Result<Box<dyn Grouping>> {
        Ok(Box::new(Runs {
            aggregation,
            open: None,
        }))
    }
}

/// Key types whose neighbours compare equal exactly when DataFusion's grouping puts them in one
/// group. Floating point is left out: a total order tells 0.0 from -0.0.
fn exact_equality(data_type: &DataType) -> bool {
    match data_type {
        DataType::Dictionary(_, values) => exact_equality(values),
        t => {
            t.is_integer()
                || matches!(
                    t,
                    DataType::Boolean
                        | DataType::Utf8
                        | DataType::LargeUtf8
                        | DataType::Utf8View
                        | DataType::Binary
                        | DataType::LargeBinary
                        | DataType::BinaryView
                        | DataType::Date32
                        | DataType::Date64
                        | DataType::Timestamp(_, _)
                        | DataType::Decimal128(_, _)
                        | DataType::Decimal256(_, _)
                )
        }
    }
}

/// How one of fjq's own aggregate operators finds each row's group. The rest (the aggregate's
/// properties, requirements and statistics, its accumulators and its output) is the
/// `AggregateExec`'s, shared by [`OwnAggregateExec`].
pub trait GroupFinder: Send + Sync + fmt::Debug + 'static {
    /// The operator's name in plans.
    const NAME: &'static str;
    /// Its rule's name.
    const RULE: &'static str;
    /// Whether its rule's switch is on.
    fn switched_on(options: &FjqOptions) -> bool;
    /// Whether `aggregate` can be computed this way, giving what DataFusion gives.
    fn applies(aggregate: &AggregateExec) -> Result<bool>;
    /// One partition's grouping.
    fn start(aggregation: Aggregation, context: &TaskContext) -> Result<Box<dyn Grouping>>;
}

/// One partition's grouping, batch by batch.
pub trait Grouping: Send {
    /// Feeds one batch; returns the groups it can emit now, in order, in as many batches as
    /// saves copying them into one.
    fn add(&mut self, batch: &RecordBatch) -> Result<Vec<RecordBatch>>;
    /// Emits what is left at the end of the input.
    fn finish(&mut self) -> Result<Option<RecordBatch>>;
}

/// An `AggregateExec` computed by one of fjq's groupings (`F`). The plan's properties,
/// requirements and statistics are the aggregate's.
#[derive(Debug)]
pub struct OwnAggregateExec<F> {
    aggregate: Arc<AggregateExec>,
    metrics: ExecutionPlanMetricsSet,
    finder: PhantomData<F>,
}

/// An `AggregateExec` over input sorted on its group keys, computed by runs of equal keys.
pub type SortedRunAggregateExec = OwnAggregateExec<ByRuns>;

impl<F: GroupFinder> OwnAggregateExec<F> {
    pub fn new(aggregate: Arc<AggregateExec>) -> OwnAggregateExec<F> {
        OwnAggregateExec {
            aggregate,
            metrics: ExecutionPlanMetricsSet::new(),
            finder: PhantomData,
        }
    }
}

impl<F: GroupFinder> DisplayAs for OwnAggregateExec<F> {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        struct Inner<'a>(&'a AggregateExec, DisplayFormatType);
        impl fmt::Display for Inner<'_> {
            fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
                self.0.fmt_as(self.1, f)
            }
        }
        let inner = Inner(&self.aggregate, t).to_string();
        let inner = inner.strip_prefix("AggregateExec: ").unwrap_or(&inner);
        write!(f, "{}: {inner}", F::NAME)
    }
}

impl<F: GroupFinder> ExecutionPlan for OwnAggregateExec<F> {
    fn name(&self) -> &str {
        F::NAME
    }
    fn properties(&self) -> &Arc<PlanProperties> {
        self.aggregate.properties()
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        self.aggregate.apply_expressions(f)
    }

    fn input_distribution_requirements(&self) -> InputDistributionRequirements {
        self.aggregate.input_distribution_requirements()
    }

    fn required_input_ordering(&self) -> Vec<Option<OrderingRequirements>> {
        self.aggregate.required_input_ordering()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        self.aggregate.maintains_input_order()
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        self.aggregate.benefits_from_input_partitioning()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![self.aggregate.input()]
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let aggregate = Arc::clone(&self.aggregate).replace_children(children, options)?;
        rewrap::<F>(aggregate)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let options = ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute);
        let aggregate = Arc::clone(&self.aggregate).replace_children(children, options)?;
        rewrap::<F>(aggregate)
    }

    fn child_stats_requests(&self, partition: Option<usize>) -> Vec<ChildStats> {
        self.aggregate.child_stats_requests(partition)
    }

    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        self.aggregate.statistics_from_inputs(input_stats, args)
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self
            .aggregate
            .input()
            .execute(partition, Arc::clone(&context))?;
        let schema = self.aggregate.schema();
        let reservation = MemoryConsumer::new(format!("{}[{partition}]", F::NAME))
            .register(context.memory_pool());
        let aggregation = Aggregation::new(&self.aggregate, schema.clone(), reservation)?;
        let mut grouping = F::start(aggregation, &context)?;
        let baseline = BaselineMetrics::new(&self.metrics, partition);
        // The stream ends at the input's first error: the open group is not emitted after it.
        let mut failed = false;
        let batches = input
            .map(Some)
            .chain(futures::stream::once(async { None }))
            .take_while(move |next| {
                let go_on = !failed;
                failed |= matches!(next, Some(Err(_)));
                futures::future::ready(go_on)
            })
            .flat_map(move |next| {
                let _timer = baseline.elapsed_compute().timer();
                let out: Vec<Result<RecordBatch>> = match next {
                    Some(Ok(batch)) => match grouping.add(&batch) {
                        Ok(batches) => batches.into_iter().map(Ok).collect(),
                        Err(e) => vec![Err(e)],
                    },
                    Some(Err(e)) => vec![Err(e)],
                    None => grouping.finish().transpose().into_iter().collect(),
                };
                for batch in out.iter().flatten() {
                    baseline.record_output(batch.num_rows());
                }
                futures::stream::iter(out)
            });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, batches)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// The aggregate over new children, by `F` again if it still applies.
fn rewrap<F: GroupFinder>(aggregate: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    match aggregate.downcast_ref::<AggregateExec>() {
        Some(a) if F::applies(a)? => Ok(Arc::new(OwnAggregateExec::<F>::new(Arc::new(a.clone())))),
        _ => Ok(aggregate),
    }
}

/// What every grouping of one partition shares: the key and argument expressions, the
/// accumulators, and their memory reservation.
pub struct Aggregation {
    schema: SchemaRef,
    input_schema: SchemaRef,
    group_exprs: Vec<Arc<dyn PhysicalExpr>>,
    arguments: Vec<Vec<Arc<dyn PhysicalExpr>>>,
    accumulators: Vec<Box<dyn GroupsAccumulator>>,
    /// Partial aggregation emits the accumulators' states, the others their values.
    emit_state: bool,
    reservation: MemoryReservation,
}

impl Aggregation {
    fn new(
        aggregate: &AggregateExec,
        schema: SchemaRef,
        reservation: MemoryReservation,
    ) -> Result<Aggregation> {
        let aggregates = aggregate.aggr_expr();
        Ok(Aggregation {
            schema,
            input_schema: aggregate.input_schema(),
            group_exprs: aggregate.group_expr().input_exprs(),
            arguments: aggregates.iter().map(|a| a.expressions()).collect(),
            accumulators: aggregates
                .iter()
                .map(|a| a.create_groups_accumulator())
                .collect::<Result<_>>()?,
            emit_state: *aggregate.mode() == AggregateMode::Partial,
            reservation,
        })
    }

    /// The output schema: the keys, then the accumulators' values or states.
    pub(crate) fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The schema of the rows grouped.
    pub(crate) fn input_schema(&self) -> SchemaRef {
        Arc::clone(&self.input_schema)
    }

    /// The key expressions, over the rows grouped.
    pub(crate) fn group_exprs(&self) -> &[Arc<dyn PhysicalExpr>] {
        &self.group_exprs
    }

    /// How many key columns lead the output.
    pub(crate) fn key_count(&self) -> usize {
        self.group_exprs.len()
    }

    /// The batch's keys, one array per key column.
    pub(crate) fn keys(&self, batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
        evaluate(&self.group_exprs, batch)
    }

    /// Feeds the batch's rows to the accumulators, row `i` into group `group_indices[i]`.
    pub(crate) fn update(
        &mut self,
        batch: &RecordBatch,
        group_indices: &[usize],
        groups: usize,
    ) -> Result<()> {
        for (accumulator, arguments) in self.accumulators.iter_mut().zip(&self.arguments) {
            let values = evaluate(arguments, batch)?;
            accumulator.update_batch(&values, group_indices, None, groups)?;
        }
        Ok(())
    }

    /// Whether rows can go on as partial states of their own (`GroupsAccumulator::
    /// convert_to_state`, which every grouped accumulator has), as in DataFusion's skipped
    /// partial aggregation: only the partial phase emits states.
    pub(crate) fn converts_rows(&self) -> bool {
        self.emit_state
    }

    /// The batch's rows as partial states, one group each, after the keys `columns`.
    pub(crate) fn convert(
        &self,
        mut columns: Vec<ArrayRef>,
        batch: &RecordBatch,
    ) -> Result<RecordBatch> {
        for (accumulator, arguments) in self.accumulators.iter().zip(&self.arguments) {
            let values = evaluate(arguments, batch)?;
            columns.extend(accumulator.convert_to_state(&values, None)?);
        }
        self.batch(columns)
    }

    /// The groups `emit_to` takes: their keys `columns`, then values or states.
    pub(crate) fn emit(
        &mut self,
        mut columns: Vec<ArrayRef>,
        emit_to: EmitTo,
    ) -> Result<RecordBatch> {
        for accumulator in &mut self.accumulators {
            if self.emit_state {
                columns.extend(accumulator.state(emit_to)?);
            } else {
                columns.push(accumulator.evaluate(emit_to)?);
            }
        }
        self.batch(columns)
    }

    fn batch(&self, columns: Vec<ArrayRef>) -> Result<RecordBatch> {
        if columns.len() != self.schema.fields().len() {
            return internal_err!(
                "fjq aggregate: {} columns for a schema of {}",
                columns.len(),
                self.schema.fields().len()
            );
        }
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), columns)?)
    }

    /// Accounts for what the accumulators hold, and `extra` bytes of the grouping's own.
    pub(crate) fn reserve(&mut self, extra: usize) -> Result<()> {
        let held: usize = self.accumulators.iter().map(|a| a.size()).sum();
        self.reservation.try_resize(held + extra)
    }

    pub(crate) fn free(&mut self) {
        self.reservation.free();
    }
}

/// One partition's grouping by runs: the aggregation and the key of the group still open (the
/// last of the previous batch, which the next batch may continue).
struct Runs {
    aggregation: Aggregation,
    /// The open group's key, one row per key column.
    open: Option<Vec<ArrayRef>>,
}

impl Grouping for Runs {
    /// Feeds one batch; returns the groups it finished (all before its last run).
    fn add(&mut self, batch: &RecordBatch) -> Result<Vec<RecordBatch>> {
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(Vec::new());
        }
        let keys = self.aggregation.keys(batch)?;
        let runs = run_ranges(&keys)?;
        let continues = match &self.open {
            Some(open) => same_key(open, &keys)?,
            None => false,
        };
        let mut out = Vec::with_capacity(2);
        // The open group ends where this batch begins: out on its own, so that this batch's
        // keys need not be copied behind its key.
        if let (Some(open), false) = (self.open.take(), continues) {
            out.push(self.aggregation.emit(open, EmitTo::First(1))?);
        }
        // Group 0 is the first run, continuing the open group when there is one.
        let groups = runs.len();
        // Each run's key is its first row's: when every row is a run of its own (a DISTINCT
        // of rows that are mostly distinct), the batch's keys as they are.
        let (group_indices, group_keys): (Vec<usize>, Vec<ArrayRef>) = if groups == rows {
            ((0..rows).collect(), keys)
        } else {
            let mut group_indices = Vec::with_capacity(rows);
            for (run, range) in runs.iter().enumerate() {
                group_indices.extend(std::iter::repeat_n(run, range.len()));
            }
            let starts = UInt32Array::from_iter_values(runs.iter().map(|r| r.start as u32));
            let group_keys = keys
                .iter()
                .map(|key| take(key.as_ref(), &starts, None))
                .collect::<std::result::Result<_, _>>()?;
            (group_indices, group_keys)
        };
        self.aggregation.update(batch, &group_indices, groups)?;
        self.open = Some(group_keys.iter().map(|k| k.slice(groups - 1, 1)).collect());
        let finished = groups - 1;
        if finished > 0 {
            let keys = group_keys.iter().map(|k| k.slice(0, finished)).collect();
            out.push(self.aggregation.emit(keys, EmitTo::First(finished))?);
        }
        // What the accumulators hold: the open group's state, in the usual case (a group of
        // very many rows could hold more).
        self.aggregation.reserve(0)?;
        Ok(out)
    }

    /// Emits the open group at the end of the input.
    fn finish(&mut self) -> Result<Option<RecordBatch>> {
        match self.open.take() {
            Some(keys) => {
                let batch = self.aggregation.emit(keys, EmitTo::All)?;
                self.aggregation.free();
                Ok(Some(batch))
            }
            None => Ok(None),
        }
    }
}

fn evaluate(exprs: &[Arc<dyn PhysicalExpr>], batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
    exprs
        .iter()
        .map(|e| e.evaluate(batch)?.into_array(batch.num_rows()))
        .collect()
}

/// Whether the one-row key `open` equals the first row of `keys`.
fn same_key(open: &[ArrayRef], keys: &[ArrayRef]) -> Result<bool> {
    for (open, key) in open.iter().zip(keys) {
        let compare = make_comparator(open.as_ref(), key.as_ref(), SortOptions::default())?;
        if compare(0, 0) != Ordering::Equal {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::datasource::MemTable;
    use datafusion::prelude::{SessionConfig, col};

    /// Keys sorted with NULLs last, in batches that end inside a group (`b`, NULL), end with a
    /// group (`c`), hold one row of a group or none at all, or a run of one row each (`b c`,
    /// `d e f NULL`: the first continuing the open group, the second not).
    fn batches(schema: &SchemaRef) -> Vec<Vec<RecordBatch>> {
        let rows: &[&[(Option<&str>, i64)]] = &[
            &[(Some("a"), 1), (Some("a"), 2), (Some("b"), 3)],
            &[(Some("b"), 4)],
            &[],
            &[(Some("b"), 5), (Some("c"), 6)],
            &[(Some("d"), 9), (Some("e"), 10), (Some("f"), 11), (None, 7)],
            &[(None, 8)],
        ];
        let batches = rows
            .iter()
            .map(|rows| {
                let keys: StringArray = rows.iter().map(|r| r.0).collect();
                let values: Int64Array = rows.iter().map(|r| Some(r.1)).collect();
                RecordBatch::try_new(Arc::clone(schema), vec![Arc::new(keys), Arc::new(values)])
                    .unwrap()
            })
            .collect();
        vec![batches]
    }

    async fn run(sql: &str, partitions: usize) -> (String, String) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("v", DataType::Int64, false),
        ]));
        let mut parts = batches(&schema);
        if partitions == 2 {
            // The same rows split in two sorted partitions, a group (`b`) in both.
            let all = parts.remove(0);
            parts = vec![all[..2].to_vec(), all[2..].to_vec()];
        }
        let table = MemTable::try_new(Arc::clone(&schema), parts)
            .unwrap()
            .with_sort_order(vec![vec![col("k").sort(true, false)]]);
        crate::test_support::plan_and_rows(
            sql,
            table,
            SessionConfig::new().with_target_partitions(partitions),
            Arc::new(SortedRunsRule::default()),
        )
        .await
    }

    const BY_KEY: &str = "SELECT k, count(*) AS n, sum(v) AS total, min(v) AS low FROM t GROUP BY k ORDER BY k NULLS LAST";

    /// Worked by hand from the rows above.
    const EXPECTED: &str = "\
+---+---+-------+-----+
| k | n | total | low |
+---+---+-------+-----+
| a | 2 | 3     | 1   |
| b | 3 | 12    | 3   |
| c | 1 | 6     | 6   |
| d | 1 | 9     | 9   |
| e | 1 | 10    | 10  |
| f | 1 | 11    | 11  |
|   | 2 | 15    | 7   |
+---+---+-------+-----+";

    #[tokio::test]
    async fn runs_across_batches_empty_batches_and_null_keys() {
        let (plan, rows) = run(BY_KEY, 1).await;
        assert!(
            plan.contains("SortedRunAggregateExec: mode=Single"),
            "{plan}"
        );
        assert_eq!(rows, EXPECTED);
    }

    #[tokio::test]
    async fn partial_runs_per_partition_merge_to_the_same_groups() {
        let (plan, rows) = run(BY_KEY, 2).await;
        assert!(
            plan.contains("SortedRunAggregateExec: mode=Partial"),
            "{plan}"
        );
        assert_eq!(rows, EXPECTED);
    }

    #[tokio::test]
    async fn distinct_and_filtered_aggregates_stay_datafusions() {
        let (plan, rows) = run(
            "SELECT k, count(DISTINCT v) AS n, sum(v) FILTER (WHERE v > 3) AS late FROM t GROUP BY k ORDER BY k NULLS LAST",
            1,
        )
        .await;
        assert!(!plan.contains("SortedRunAggregateExec"), "{plan}");
        assert!(rows.contains("| b | 3 | 9    |"), "{rows}");
    }

    #[tokio::test]
    async fn keys_sorted_only_in_part_stay_datafusions() {
        // Sorted on `k` alone: a run of `k` may hold any number of groups.
        let (plan, rows) = run(
            "SELECT k, v % 2 AS odd, count(*) AS n FROM t GROUP BY k, v % 2 ORDER BY k NULLS LAST, odd",
            1,
        )
        .await;
        assert!(
            plan.contains("PartiallySorted") && !plan.contains("SortedRunAggregateExec"),
            "{plan}"
        );
        assert!(
            rows.contains("| b | 0   | 1 |") && rows.contains("| b | 1   | 2 |"),
            "{rows}"
        );
    }

    #[tokio::test]
    async fn the_stream_ends_at_the_inputs_first_error() {
        use datafusion::common::DataFusionError;
        use datafusion::functions_aggregate::count::count_udaf;
        use datafusion::physical_expr::aggregate::AggregateExprBuilder;
        use datafusion::physical_plan::aggregates::PhysicalGroupBy;
        use datafusion::physical_plan::expressions::{Column, lit};
        use datafusion::physical_plan::test::exec::MockExec;

        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("v", DataType::Int64, false),
        ]));
        // Group `a` closes in the first batch; `b` is open when the input fails.
        let good = batches(&schema).remove(0).remove(0);
        let input = Arc::new(MockExec::new(
            vec![
                Ok(good),
                Err(DataFusionError::Execution("the input failed".into())),
            ],
            Arc::clone(&schema),
        ));
        let count = AggregateExprBuilder::new(count_udaf(), vec![lit(1i64)])
            .schema(Arc::clone(&schema))
            .alias("n")
            .build()
            .unwrap();
        let group_by = PhysicalGroupBy::new_single(vec![(
            Arc::new(Column::new("k", 0)) as Arc<dyn PhysicalExpr>,
            "k".to_string(),
        )]);
        let aggregate = AggregateExec::try_new(
            AggregateMode::Single,
            group_by,
            vec![Arc::new(count)],
            vec![None],
            input,
            Arc::clone(&schema),
        )
        .unwrap();
        let runs = SortedRunAggregateExec::new(Arc::new(aggregate));
        let stream = runs.execute(0, Arc::new(TaskContext::default())).unwrap();
        let items: Vec<Result<RecordBatch>> = stream.collect().await;
        assert_eq!(
            items.len(),
            2,
            "the closed group, then the error, then the end"
        );
        let closed = items[0].as_ref().unwrap();
        assert_eq!(
            pretty_format_batches(std::slice::from_ref(closed))
                .unwrap()
                .to_string(),
            "+---+---+\n| k | n |\n+---+---+\n| a | 2 |\n+---+---+"
        );
        assert!(
            items[1]
                .as_ref()
                .is_err_and(|e| e.to_string().contains("the input failed"))
        );
    }
}
