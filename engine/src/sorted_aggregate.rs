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
//! A `FilterExec` right below such an aggregate is read through: the aggregate evaluates the
//! predicate on the filter's input and passes the verdicts to the accumulators, and runs none
//! of whose rows pass are not emitted, instead of the filter copying the passing rows first.
//!
//! A partial aggregate over a union whose inputs are sorted in different ways (court events
//! in case order beside Cafcass work in none) is split into one over each input, so that the
//! sorted ones are grouped by runs: each of the union's partitions is one input's.
//!
//! `SET fjq.sorted_aggregation = false` leaves every aggregate as DataFusion planned it.

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, RecordBatch, UInt32Array, make_comparator,
};
use datafusion::arrow::compute::{SortOptions, filter_record_batch, prep_null_mask_filter, take};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Result, internal_err};
use datafusion::config::ConfigOptions;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr_common::sort_expr::{
    LexRequirement, OrderingRequirements, PhysicalSortRequirement,
};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::statistics::{ChildStats, StatisticsArgs};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::union::UnionExec;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, Distribution, ExecutionPlan,
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
            if F::SPLITS_UNIONS
                && let Some(split) = split_over_union::<F>(aggregate)?
            {
                return Ok(Transformed::yes(split));
            }
            return Ok(Transformed::no(node));
        }
        Ok(Transformed::yes(OwnAggregateExec::<F>::over(Arc::new(
            aggregate.clone(),
        ))?))
    })
    .map(|t| t.data)
}

/// A partial aggregate over a union as the union of the same partial aggregate over each of
/// the union's inputs, those `F` applies to computed by `F`; `None` if `F` applies to none.
///
/// A union of inputs sorted in different ways is sorted in none of them: the court stages of
/// a case journey come from events in case order and the Cafcass work from a join that is
/// not, so the journey's partial aggregate hashed all 4.4M rows. A partial aggregate groups
/// each partition on its own, and each of the union's partitions is one input's, so grouping
/// them apart gives the same groups; the final aggregate above is not changed.
fn split_over_union<F: GroupFinder>(
    aggregate: &AggregateExec,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(union) = aggregate.input().downcast_ref::<UnionExec>() else {
        return Ok(None);
    };
    // Only an aggregate that hashed all its input (`Linear`): its output promised no order
    // for the plan above to rely on, and the split's need not keep one.
    if *aggregate.mode() != AggregateMode::Partial
        || *aggregate.input_order_mode() != InputOrderMode::Linear
        || aggregate.limit_options().is_some()
        || !aggregate.dynamic_expressions_produced().is_empty()
        || aggregate
            .aggr_expr()
            .iter()
            .any(|a| !a.order_bys().is_empty())
    {
        return Ok(None);
    }
    let mut any_own = false;
    let parts = union
        .inputs()
        .iter()
        .map(|input| {
            let part = AggregateExec::try_new(
                AggregateMode::Partial,
                aggregate.group_expr().clone(),
                aggregate.aggr_expr().to_vec(),
                aggregate.filter_expr().to_vec(),
                Arc::clone(input),
                aggregate.input_schema(),
            )?;
            if !F::applies(&part)? {
                return Ok(Arc::new(part) as Arc<dyn ExecutionPlan>);
            }
            any_own = true;
            OwnAggregateExec::<F>::over(Arc::new(part))
        })
        .collect::<Result<Vec<_>>>()?;
    if !any_own {
        return Ok(None);
    }
    let split = UnionExec::try_new(parts)?;
    // The union's inputs have its schema, so their partial aggregates have the one replaced;
    // should one differ (in a field's nullability), the plan stays as it was.
    Ok((split.schema().fields() == aggregate.schema().fields()).then_some(split))
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
    const READS_FILTERS: bool = true;
    const SPLITS_UNIONS: bool = true;

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
            open_passed: true,
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
    /// Whether it reads a `FilterExec`'s input unfiltered, with the filter's verdicts
    /// ([`Grouping::add_passing`]), instead of the filter's copy of the passing rows.
    const READS_FILTERS: bool = false;
    /// Whether a partial aggregate over a union it does not apply to is split into one over
    /// each of the union's inputs, so that it groups those it applies to.
    const SPLITS_UNIONS: bool = false;
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
    /// As `add`, counting only the rows `passing` is true for, as if the others had been
    /// filtered out before: groups none of whose rows pass are not emitted.
    fn add_passing(
        &mut self,
        _batch: &RecordBatch,
        _passing: &BooleanArray,
    ) -> Result<Vec<RecordBatch>> {
        internal_err!("fjq aggregate: this grouping does not read filters")
    }
    /// Emits what is left at the end of the input.
    fn finish(&mut self) -> Result<Option<RecordBatch>>;
}

/// An `AggregateExec` computed by one of fjq's groupings (`F`). The plan's properties,
/// requirements and statistics are the aggregate's.
///
/// A grouping that reads filters (`F::READS_FILTERS`) takes the place of a `FilterExec` right
/// below the aggregate as well: it reads the filter's input and counts only the rows the
/// predicate passes. The filter would copy every passing row (13M events, to drop the 1% in
/// error) only for the aggregate to read them once.
#[derive(Debug)]
pub struct OwnAggregateExec<F> {
    aggregate: Arc<AggregateExec>,
    /// The filter read through: the aggregate's input, whose input is this plan's child.
    filter: Option<Arc<FilterExec>>,
    metrics: ExecutionPlanMetricsSet,
    finder: PhantomData<F>,
}

/// An `AggregateExec` over input sorted on its group keys, computed by runs of equal keys.
pub type SortedRunAggregateExec = OwnAggregateExec<ByRuns>;

impl<F: GroupFinder> OwnAggregateExec<F> {
    /// The aggregate computed by `F`, without a filter read through.
    pub fn new(aggregate: Arc<AggregateExec>) -> OwnAggregateExec<F> {
        OwnAggregateExec {
            aggregate,
            filter: None,
            metrics: ExecutionPlanMetricsSet::new(),
            finder: PhantomData,
        }
    }

    /// The aggregate (which `F` applies to) computed by `F`, reading through the filter below
    /// it where `F` can.
    fn over(aggregate: Arc<AggregateExec>) -> Result<Arc<dyn ExecutionPlan>> {
        let filter = match F::READS_FILTERS {
            true => readable_filter(&aggregate)?,
            false => None,
        };
        Ok(Arc::new(OwnAggregateExec::<F> {
            filter,
            ..OwnAggregateExec::new(aggregate)
        }))
    }

    /// The aggregate computed.
    pub(crate) fn aggregate(&self) -> &Arc<AggregateExec> {
        &self.aggregate
    }

    /// The filter read through, if any.
    pub(crate) fn filter_read(&self) -> Option<&FilterExec> {
        self.filter.as_deref()
    }

    /// The same aggregate over the filter, run as a plan of its own again.
    pub(crate) fn over_filter(&self) -> Arc<dyn ExecutionPlan> {
        Arc::new(OwnAggregateExec::<F>::new(Arc::clone(&self.aggregate)))
    }

    /// The plan this one reads: the filter's input, or the aggregate's.
    fn child(&self) -> &Arc<dyn ExecutionPlan> {
        match &self.filter {
            Some(filter) => filter.input(),
            None => self.aggregate.input(),
        }
    }
}

/// The filter right below `aggregate`, if reading its input unfiltered keeps the aggregate's
/// groups in runs: the input is sorted on the keys as the filter's output is (a key the
/// predicate fixes to one value is sorted only after the filter), and the filter keeps every
/// passing row (no `fetch`).
fn readable_filter(aggregate: &AggregateExec) -> Result<Option<Arc<FilterExec>>> {
    let Some(filter) = aggregate.input().downcast_ref::<FilterExec>() else {
        return Ok(None);
    };
    if filter.fetch().is_some() {
        return Ok(None);
    }
    let Some(Some(required)) = aggregate.required_input_ordering().into_iter().next() else {
        return Ok(None);
    };
    let before = requirement_before_projection(required, filter)?;
    let sorted = filter
        .input()
        .properties()
        .equivalence_properties()
        .ordering_satisfy_requirement(before)?;
    Ok(sorted.then(|| Arc::new(filter.clone())))
}

/// An ordering requirement over `filter`'s output columns, as one over its input's.
fn requirement_before_projection(
    required: OrderingRequirements,
    filter: &FilterExec,
) -> Result<Vec<PhysicalSortRequirement>> {
    required
        .into_single()
        .into_iter()
        .map(|r| {
            Ok(PhysicalSortRequirement::new(
                before_projection(&r.expr, filter)?,
                r.options,
            ))
        })
        .collect()
}

/// `expr`, over `filter`'s output columns, as an expression over its input's.
fn before_projection(
    expr: &Arc<dyn PhysicalExpr>,
    filter: &FilterExec,
) -> Result<Arc<dyn PhysicalExpr>> {
    let Some(projection) = filter.projection() else {
        return Ok(Arc::clone(expr));
    };
    let input_schema = filter.input().schema();
    Arc::clone(expr)
        .transform(|e| {
            let Some(column) = e.downcast_ref::<Column>() else {
                return Ok(Transformed::no(e));
            };
            let Some(&index) = projection.get(column.index()) else {
                return internal_err!("fjq aggregate: column {column} outside the filter's output");
            };
            let name = input_schema.field(index).name();
            Ok(Transformed::yes(
                Arc::new(Column::new(name, index)) as Arc<dyn PhysicalExpr>
            ))
        })
        .map(|t| t.data)
}

impl<F: GroupFinder> DisplayAs for OwnAggregateExec<F> {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        struct Inner<'a>(&'a dyn DisplayAs, DisplayFormatType);
        impl fmt::Display for Inner<'_> {
            fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
                self.0.fmt_as(self.1, f)
            }
        }
        let inner = Inner(self.aggregate.as_ref(), t).to_string();
        let inner = inner.strip_prefix("AggregateExec: ").unwrap_or(&inner);
        write!(f, "{}: {inner}", F::NAME)?;
        if let Some(filter) = &self.filter {
            let filter = Inner(filter.as_ref(), t).to_string();
            let filter = filter.strip_prefix("FilterExec: ").unwrap_or(&filter);
            write!(f, ", rows where [{filter}]")?;
        }
        Ok(())
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
        if let Some(filter) = &self.filter
            && f(filter.predicate())? == TreeNodeRecursion::Stop
        {
            return Ok(TreeNodeRecursion::Stop);
        }
        self.aggregate.apply_expressions(f)
    }

    fn input_distribution_requirements(&self) -> InputDistributionRequirements {
        let required = self.aggregate.input_distribution_requirements();
        let Some(filter) = &self.filter else {
            return required;
        };
        // The aggregate's, over the filter's input: the filter keeps its input's partitions.
        let over_child = |distribution: Distribution| match distribution {
            Distribution::KeyPartitioned(keys) => keys
                .iter()
                .map(|key| before_projection(key, filter))
                .collect::<Result<Vec<_>>>()
                .map_or(Distribution::SinglePartition, Distribution::KeyPartitioned),
            other => other,
        };
        InputDistributionRequirements::new(
            required
                .into_per_child()
                .into_iter()
                .map(over_child)
                .collect(),
        )
    }

    fn required_input_ordering(&self) -> Vec<Option<OrderingRequirements>> {
        let required = self.aggregate.required_input_ordering();
        let Some(filter) = &self.filter else {
            return required;
        };
        // Checked when the filter was taken in (`readable_filter`): its input is so sorted.
        let over_child = |required: OrderingRequirements| {
            let before = requirement_before_projection(required, filter).ok()?;
            LexRequirement::new(before).map(OrderingRequirements::new_soft)
        };
        required
            .into_iter()
            .map(|r| r.and_then(over_child))
            .collect()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        self.aggregate.maintains_input_order()
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        self.aggregate.benefits_from_input_partitioning()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![self.child()]
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let children = match &self.filter {
            Some(filter) => vec![Arc::clone(filter).replace_children(children, options)?],
            None => children,
        };
        let aggregate = Arc::clone(&self.aggregate).replace_children(children, options)?;
        rewrap::<F>(aggregate)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let options = ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute);
        self.replace_children(children, options)
    }

    fn child_stats_requests(&self, partition: Option<usize>) -> Vec<ChildStats> {
        match &self.filter {
            Some(filter) => filter.child_stats_requests(partition),
            None => self.aggregate.child_stats_requests(partition),
        }
    }

    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        match &self.filter {
            Some(filter) => {
                let filtered = filter.statistics_from_inputs(input_stats, args)?;
                self.aggregate.statistics_from_inputs(&[filtered], args)
            }
            None => self.aggregate.statistics_from_inputs(input_stats, args),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.child().execute(partition, Arc::clone(&context))?;
        let schema = self.aggregate.schema();
        let reservation = MemoryConsumer::new(format!("{}[{partition}]", F::NAME))
            .register(context.memory_pool());
        let aggregation = Aggregation::new(&self.aggregate, schema.clone(), reservation)?;
        let mut grouping = F::start(aggregation, &context)?;
        let filter = self.filter.clone();
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
                    Some(Ok(batch)) => match add(grouping.as_mut(), filter.as_deref(), &batch) {
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

/// Feeds one batch of the plan's child to the grouping: through the filter's predicate and
/// projection when there is one, as `FilterExec` would (a NULL verdict drops the row). A
/// selective filter's passing rows are copied out, as `FilterExec` copies them; a filter that
/// passes most rows is read through.
fn add(
    grouping: &mut dyn Grouping,
    filter: Option<&FilterExec>,
    batch: &RecordBatch,
) -> Result<Vec<RecordBatch>> {
    let Some(filter) = filter else {
        return grouping.add(batch);
    };
    let verdicts = filter
        .predicate()
        .evaluate(batch)?
        .into_array(batch.num_rows())?;
    let Some(verdicts) = verdicts.as_boolean_opt() else {
        return internal_err!("fjq aggregate: the filter's predicate is not boolean");
    };
    let passing = match verdicts.null_count() {
        0 => verdicts.clone(),
        _ => prep_null_mask_filter(verdicts),
    };
    let batch = match filter.projection() {
        Some(projection) => batch.project(projection)?,
        None => batch.clone(),
    };
    // Reading through pays for the failing rows (their keys compared, their groups found);
    // copying pays for the passing ones. A batch of which fewer than half pass is copied.
    let passed = passing.true_count();
    if passed == passing.len() {
        grouping.add(&batch)
    } else if 2 * passed < passing.len() {
        grouping.add(&filter_record_batch(&batch, &passing)?)
    } else {
        grouping.add_passing(&batch, &passing)
    }
}

/// The aggregate over new children, by `F` again if it still applies.
fn rewrap<F: GroupFinder>(aggregate: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    match aggregate.downcast_ref::<AggregateExec>() {
        Some(a) if F::applies(a)? => OwnAggregateExec::<F>::over(Arc::new(a.clone())),
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

    /// Feeds the batch's rows to the accumulators, row `i` into group `group_indices[i]`;
    /// only the rows `passing` is true for, when given (every grouped accumulator honours
    /// the filter it is given: it is how DataFusion computes `FILTER (WHERE ...)`).
    pub(crate) fn update(
        &mut self,
        batch: &RecordBatch,
        group_indices: &[usize],
        groups: usize,
        passing: Option<&BooleanArray>,
    ) -> Result<()> {
        for (accumulator, arguments) in self.accumulators.iter_mut().zip(&self.arguments) {
            let values = evaluate(arguments, batch)?;
            accumulator.update_batch(&values, group_indices, passing, groups)?;
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
    /// Whether a row of the open group has passed the filter read through (always, without
    /// one): a group with none is not emitted.
    open_passed: bool,
}

impl Runs {
    /// Feeds one batch, `passing` telling which rows count (all, if `None`); returns the
    /// groups it finished (all before its last run).
    fn add_rows(
        &mut self,
        batch: &RecordBatch,
        passing: Option<&BooleanArray>,
    ) -> Result<Vec<RecordBatch>> {
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
            let closed = self.aggregation.emit(open, EmitTo::First(1))?;
            if self.open_passed {
                out.push(closed);
            }
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
        self.aggregation
            .update(batch, &group_indices, groups, passing)?;
        // Which runs have a passing row: all but those whose every row failed.
        let passed = passing.map(|passing| {
            let mut failed = vec![0usize; groups];
            for row in (!passing.values()).set_indices() {
                failed[group_indices[row]] += 1;
            }
            let mut passed: Vec<bool> = runs
                .iter()
                .zip(&failed)
                .map(|(run, &failed)| failed < run.len())
                .collect();
            passed[0] |= continues && self.open_passed;
            passed
        });
        self.open = Some(group_keys.iter().map(|k| k.slice(groups - 1, 1)).collect());
        let finished = groups - 1;
        let open_passed = match &passed {
            Some(passed) => passed[finished],
            None => true,
        };
        if finished > 0 {
            let keys = group_keys.iter().map(|k| k.slice(0, finished)).collect();
            let batch = self.aggregation.emit(keys, EmitTo::First(finished))?;
            match &passed {
                Some(passed) if !passed[..finished].iter().all(|&p| p) => {
                    let passed = BooleanArray::from(passed[..finished].to_vec());
                    let batch = filter_record_batch(&batch, &passed)?;
                    if batch.num_rows() > 0 {
                        out.push(batch);
                    }
                }
                _ => out.push(batch),
            }
        }
        self.open_passed = open_passed;
        // What the accumulators hold: the open group's state, in the usual case (a group of
        // very many rows could hold more).
        self.aggregation.reserve(0)?;
        Ok(out)
    }
}

impl Grouping for Runs {
    fn add(&mut self, batch: &RecordBatch) -> Result<Vec<RecordBatch>> {
        self.add_rows(batch, None)
    }

    fn add_passing(
        &mut self,
        batch: &RecordBatch,
        passing: &BooleanArray,
    ) -> Result<Vec<RecordBatch>> {
        self.add_rows(batch, Some(passing))
    }

    /// Emits the open group at the end of the input, if a row of it passed.
    fn finish(&mut self) -> Result<Option<RecordBatch>> {
        match self.open.take() {
            Some(keys) => {
                let batch = self.aggregation.emit(keys, EmitTo::All)?;
                self.aggregation.free();
                Ok(self.open_passed.then_some(batch))
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

    /// Drops `b`'s rows while it is the open group across two batches (3, then 4) before one
    /// passes (5), `c` by a NULL verdict (v = 6), `d` in the middle of a batch, and one of the
    /// NULL key's two rows (8).
    const FILTERED: &str = "SELECT k, count(*) AS n, sum(v) AS total, min(v) AS low FROM t WHERE v NOT IN (3, 4, 8, 9) AND nullif(v, 6) > 0 GROUP BY k ORDER BY k NULLS LAST";

    /// Worked by hand from the rows above.
    const FILTERED_EXPECTED: &str = "\
+---+---+-------+-----+
| k | n | total | low |
+---+---+-------+-----+
| a | 2 | 3     | 1   |
| b | 1 | 5     | 5   |
| e | 1 | 10    | 10  |
| f | 1 | 11    | 11  |
|   | 1 | 7     | 7   |
+---+---+-------+-----+";

    #[tokio::test]
    async fn a_filter_below_is_read_through_and_groups_with_no_passing_row_vanish() {
        for partitions in [1, 2] {
            let (plan, rows) = run(FILTERED, partitions).await;
            assert!(
                plan.contains("SortedRunAggregateExec")
                    && plan.contains("rows where [")
                    && !plan.contains("FilterExec"),
                "{plan}"
            );
            assert_eq!(rows, FILTERED_EXPECTED, "{partitions} partitions");
        }
    }

    #[tokio::test]
    async fn a_filter_no_row_passes_gives_no_groups() {
        let (plan, rows) = run("SELECT k, count(*) AS n FROM t WHERE v > 100 GROUP BY k", 1).await;
        assert!(plan.contains("rows where ["), "{plan}");
        assert_eq!(rows, "++\n++");
    }

    #[tokio::test]
    async fn a_filter_that_fixes_a_key_stays_a_filter() {
        // Over the filter `v % 2 = 1` is one value, so the input is sorted on (k, v % 2);
        // unfiltered it is not, and the runs of `k` would mix both values.
        let (plan, rows) = run(
            "SELECT k, v % 2 AS odd, count(*) AS n FROM t WHERE v % 2 = 1 GROUP BY k, v % 2 ORDER BY k NULLS LAST",
            1,
        )
        .await;
        assert!(plan.contains("FilterExec"), "{plan}");
        assert!(rows.contains("| b | 1   | 2 |"), "{rows}");
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
