//! Sorting by fixed-width keys: each row's sort key becomes bytes that compare as the key does.
//!
//! The entry queries sort 6.3M (person, date) entries before their window functions, and
//! DataFusion's sort took 2.0-2.1 s of their compute at scale 1.0, most of each query: for a
//! sort on more than one column it sorts each input batch with Arrow's lexicographic comparator
//! (one dynamic call per column per comparison), then merges hundreds of sorted batches through
//! its row format. [`KeySortExec`] gathers a partition's batches, writes each row's key once as
//! a few bytes that compare in the key's order (integers and dates big-endian with the sign bit
//! flipped, text padded to the longest text in the partition and followed by its length, a byte
//! before each column that may hold NULLs, every byte inverted for a descending column), and
//! sorts small entries (the first 8 key bytes as an integer, and the row) by radix, a byte at a
//! time, skipping bytes that are the same in every row; rows whose first 8 bytes tie are then
//! ordered by the rest of their keys, radix-sorted 8 bytes at a time where many tie (a case
//! type, a common prefix) and compared where few do (one person's dates). DataFusion compares
//! column by column. Output columns that are themselves sort keys (the entry queries' person
//! and date) are then read back from the keys, a batch at a time in sorted order: each row's
//! key is one place in memory, where the batches hold a text's offsets, its bytes and a date
//! in three. The other columns are gathered by [`RowGather`], which asks for rows' values
//! ahead of copying them.
//!
//! [`KeySortRule`] replaces DataFusion's `SortExec` when the sort has no limit (a top-k stays
//! DataFusion's), sorts each partition on its own (or has one), and sorts on integers, dates,
//! timestamps, booleans or text. If the memory pool refuses the partition's rows or their keys,
//! or the keys would be longer than [`MAX_KEY_BYTES`] (long texts), the partition goes to
//! DataFusion's sort after all, with the rows already read, and that sort spills as it would
//! have (its profile's `sorted_by_datafusion` counts such partitions). Like DataFusion's sort,
//! it sets memory aside while gathering and frees it when its output begins, for the merge of
//! sorted partitions above it. The switch is `fjq.key_sort`.
//!
//! A DISTINCT by runs of equal rows right above a key sort on every one of its columns (the
//! entries' `SELECT DISTINCT who, start_date`, which `crate::sorted_distinct` sorts first) is
//! done by the sort itself ([`fold_distinct`]): equal keys are equal rows, and as the keys are
//! read back in order each is compared with the one before and a repeat is not read. The
//! grouping compared the decoded columns again, row by row (80 ms of compute for the 6.3M
//! entries at scale 1.0). A partition handed to DataFusion's sort has its repeats dropped
//! from that sort's output, through Arrow's row format.

use crate::compact_views::compact_batch;
use crate::gather::{AHEAD, RowGather, copy_in_line, prefetch};
use crate::sorted_aggregate::SortedRunAggregateExec;
use datafusion::arrow::array::{
    Array, ArrayData, ArrayRef, AsArray, BooleanArray, BooleanBufferBuilder, LargeStringArray,
    OffsetSizeTrait, RecordBatch, RecordBatchOptions, StringArray, StringViewArray, make_array,
};
use datafusion::arrow::buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Date64Type, Int8Type, Int16Type, Int32Type, Int64Type, SchemaRef,
    TimeUnit, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use datafusion::arrow::row::{OwnedRow, RowConverter, SortField};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, Result, exec_err};
use datafusion::config::ConfigOptions;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, LexOrdering, Partitioning, PhysicalExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::AggregateMode;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::expressions::Column;
use datafusion::physical_plan::metrics::{
    BaselineMetrics, Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet,
};
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::spill::get_record_batch_memory_size;
use datafusion::physical_plan::statistics::{ChildStats, StatisticsArgs};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties,
    InputDistributionRequirements, PlanProperties, ReplaceChildrenOptions, Statistics,
};
use fjq_udfs::FjqOptions;
use fjq_udfs::runs::bytes_eq;
use futures::{StreamExt, TryStreamExt};
use std::fmt;
use std::sync::{Arc, Mutex};

/// The longest key, in bytes, sorted here; longer keys (long texts) go to DataFusion's sort,
/// whose comparisons stop at the first differing byte rather than copying every text whole.
pub const MAX_KEY_BYTES: usize = 96;

/// Key bytes held in an [`Entry`] itself; the rest of a longer key is sorted from a side
/// buffer only where these tie.
const ENTRY_KEY_BYTES: usize = 8;

/// Replaces DataFusion's sorts with [`KeySortExec`] where its keys apply (module docs).
#[derive(Debug, Default)]
pub struct KeySortRule;

impl PhysicalOptimizerRule for KeySortRule {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if !FjqOptions::plan_switch(config, |options| options.key_sort) {
            return Ok(plan);
        }
        plan.transform_up(|node| {
            if let Some(distinct) = fold_distinct(&node) {
                return Ok(Transformed::yes(distinct));
            }
            let Some(sort) = node.downcast_ref::<SortExec>() else {
                return Ok(Transformed::no(node));
            };
            if !applies(sort)? {
                return Ok(Transformed::no(node));
            }
            Ok(Transformed::yes(
                Arc::new(KeySortExec::new(sort.clone())) as Arc<dyn ExecutionPlan>
            ))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "fjq_key_sort"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// A DISTINCT by runs of equal rows (`crate::sorted_distinct` and `crate::sorted_aggregate`
/// make it) over a [`KeySortExec`] keyed on every column, as that sort dropping each row equal
/// to the one before it. Rows whose keys are equal are equal rows, and the sort reads its keys
/// back anyway: comparing each with the one before costs less than finding the runs in the
/// columns again.
fn fold_distinct(node: &Arc<dyn ExecutionPlan>) -> Option<Arc<dyn ExecutionPlan>> {
    let grouping = node.downcast_ref::<SortedRunAggregateExec>()?;
    let aggregate = grouping.aggregate();
    let one_phase = matches!(
        aggregate.mode(),
        AggregateMode::Single | AggregateMode::SinglePartitioned
    );
    if grouping.filter_read().is_some()
        || !one_phase
        || !aggregate.aggr_expr().is_empty()
        || !aggregate.group_expr().is_single()
    {
        return None;
    }
    let sort = aggregate.input().downcast_ref::<KeySortExec>()?;
    let schema = sort.schema();
    let groups = aggregate.group_expr().expr();
    // Grouped by every column, in order, under its own name, and sorted on every column.
    let every_column = groups.len() == schema.fields().len()
        && groups.iter().enumerate().all(|(i, (expr, name))| {
            expr.downcast_ref::<Column>()
                .is_some_and(|column| column.index() == i && name == schema.field(i).name())
        });
    // Keys that are columns only: a computed key (a volatile one) could tell equal rows apart.
    let keyed: Option<std::collections::BTreeSet<usize>> = sort
        .sort
        .expr()
        .iter()
        .map(|key| key.expr.downcast_ref::<Column>().map(Column::index))
        .collect();
    let keyed_all = keyed.is_some_and(|keyed| keyed.len() == schema.fields().len());
    let same_output = aggregate.schema().fields() == schema.fields();
    if sort.distinct || !every_column || !keyed_all || !same_output {
        return None;
    }
    Some(Arc::new(KeySortExec {
        distinct: true,
        ..KeySortExec::new(sort.sort.clone())
    }))
}

/// Whether `sort` is one [`KeySortExec`] does: no limit, each partition on its own, keys of
/// the types [`encodable`] takes.
fn applies(sort: &SortExec) -> Result<bool> {
    if sort.fetch().is_some() {
        return Ok(false);
    }
    let input = sort.input();
    if !sort.preserve_partitioning() && input.output_partitioning().partition_count() != 1 {
        return Ok(false);
    }
    let schema = input.schema();
    for key in sort.expr().iter() {
        if !encodable(&key.expr.data_type(&schema)?) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The key types written as bytes. Floats are not: Arrow orders them by `total_cmp` (-0 before
/// +0, NaN last), which DataFusion's sort keeps.
fn encodable(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Date32
            | DataType::Date64
            | DataType::Timestamp(_, _)
            | DataType::Boolean
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
    )
}

/// A sort of each partition by fixed-width byte keys (module docs). Same output as the
/// `SortExec` it replaces, which it keeps for its plan properties and its fallback.
#[derive(Debug, Clone)]
pub struct KeySortExec {
    sort: SortExec,
    /// Whether a row equal to the one before it is dropped: the sort keys are every column,
    /// and this sort does the DISTINCT that was above it ([`fold_distinct`]).
    distinct: bool,
    metrics: ExecutionPlanMetricsSet,
}

impl KeySortExec {
    pub fn new(sort: SortExec) -> KeySortExec {
        KeySortExec {
            sort,
            distinct: false,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    fn with_input(&self, mut children: Vec<Arc<dyn ExecutionPlan>>) -> Arc<dyn ExecutionPlan> {
        let sort = SortExec::new(self.sort.expr().clone(), children.swap_remove(0))
            .with_preserve_partitioning(self.sort.preserve_partitioning());
        Arc::new(KeySortExec {
            distinct: self.distinct,
            ..KeySortExec::new(sort)
        })
    }
}

impl DisplayAs for KeySortExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "KeySortExec: expr=[{}], preserve_partitioning=[{}]{}",
            self.sort.expr(),
            self.sort.preserve_partitioning(),
            if self.distinct { ", distinct" } else { "" }
        )
    }
}

impl ExecutionPlan for KeySortExec {
    fn name(&self) -> &str {
        "KeySortExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.sort.properties()
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        for key in self.sort.expr().iter() {
            if f(&key.expr)? == TreeNodeRecursion::Stop {
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    }

    fn input_distribution_requirements(&self) -> InputDistributionRequirements {
        self.sort.input_distribution_requirements()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![false]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![self.sort.input()]
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self.with_input(children))
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self.with_input(children))
    }

    fn child_stats_requests(&self, partition: Option<usize>) -> Vec<ChildStats> {
        vec![ChildStats::At(partition)]
    }

    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<Statistics>],
        _args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        Ok(match self.distinct {
            // Repeats dropped: the input's figures are bounds.
            true => Arc::new(input_stats[0].as_ref().clone().to_inexact()),
            false => Arc::clone(&input_stats[0]),
        })
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.sort.input().execute(partition, Arc::clone(&context))?;
        let schema = self.schema();
        let keys = self.sort.expr().clone();
        let baseline = BaselineMetrics::new(&self.metrics, partition);
        let handed_on = HandedOn::new(&self.metrics, partition);
        let reservation = MemoryConsumer::new(format!("KeySortExec[{partition}]"))
            .with_can_spill(true)
            .register(context.memory_pool());
        let headroom = MemoryConsumer::new(format!("KeySortExec[{partition}] headroom"))
            .register(context.memory_pool());
        // Set aside now, when the plan above starts every partition, not at the first poll: a
        // partition polled late would find the pool taken by the others' rows, and so would
        // DataFusion's sort it hands over to.
        let headroom_refused = context.runtime_env().disk_manager.tmp_files_enabled()
            && headroom
                .try_resize(
                    context
                        .session_config()
                        .options()
                        .execution
                        .sort_spill_reservation_bytes,
                )
                .is_err();
        let sorted = futures::stream::once(sort_partition(
            input,
            Arc::clone(&schema),
            keys,
            self.distinct,
            Reservations {
                rows: reservation,
                headroom,
                headroom_refused,
            },
            context,
            baseline,
            handed_on,
        ))
        .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, sorted)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// The memory a partition's sort holds.
struct Reservations {
    /// The gathered rows, their computed keys and, while sorting, the entries.
    rows: MemoryReservation,
    /// Set aside while gathering, as DataFusion's sort sets aside memory for its merge, and
    /// freed when output begins: the operator above (a merge of the sorted partitions) buffers
    /// a batch from each, and would otherwise find the pool taken by the gathered rows.
    headroom: MemoryReservation,
    /// The pool had no room for the headroom: the partition goes to DataFusion's sort.
    headroom_refused: bool,
}

/// Reads a partition, and returns its rows sorted: by keys, or by DataFusion's sort when
/// the keys do not fit (module docs).
#[allow(clippy::too_many_arguments)]
async fn sort_partition(
    mut input: SendableRecordBatchStream,
    schema: SchemaRef,
    keys: LexOrdering,
    distinct: bool,
    memory: Reservations,
    context: Arc<TaskContext>,
    baseline: BaselineMetrics,
    handed_on: HandedOn,
) -> Result<SendableRecordBatchStream> {
    let mut gathered = Gathered::default();
    let hand_on = |gathered: Gathered, input, memory: Reservations| {
        // DataFusion's sort reserves the rows again as it reads them, and its own headroom, in
        // this same poll: what is freed here is there for it.
        drop(memory);
        let sorted = datafusion_sort(
            gathered,
            input,
            Arc::clone(&schema),
            keys.clone(),
            Arc::clone(&context),
            &handed_on,
        )?;
        match distinct {
            true => drop_repeats(sorted),
            false => Ok(sorted),
        }
    };
    if memory.headroom_refused {
        return hand_on(gathered, input, memory);
    }
    while let Some(batch) = input.next().await {
        let batch = batch?;
        if batch.num_rows() == 0 {
            continue;
        }
        let timer = baseline.elapsed_compute().timer();
        let key_columns = keys
            .iter()
            .map(|key| key.expr.evaluate(&batch)?.into_array(batch.num_rows()))
            .collect::<Result<Vec<ArrayRef>>>()?;
        // Key columns that are not the batch's own (computed keys) take memory too.
        let computed: usize = key_columns
            .iter()
            .filter(|k| !batch.columns().iter().any(|c| Arc::ptr_eq(c, k)))
            .map(|k| k.get_array_memory_size())
            .sum();
        timer.done();
        if memory
            .rows
            .try_grow(get_record_batch_memory_size(&batch) + computed)
            .is_err()
        {
            gathered.batches.push(batch);
            return hand_on(gathered, input, memory);
        }
        gathered.add(batch, key_columns);
    }
    if gathered.rows == 0 {
        return Ok(Box::pin(RecordBatchStreamAdapter::new(
            schema,
            futures::stream::empty(),
        )));
    }
    let layout = KeyLayout::new(&keys, &gathered);
    // Each row's entry, its copy in the radix sort's buffer, and its whole key.
    let entry_bytes = 2 * std::mem::size_of::<Entry>() + layout.width.max(ENTRY_KEY_BYTES);
    if layout.width > MAX_KEY_BYTES
        || u32::try_from(gathered.rows).is_err()
        || memory.rows.try_grow(gathered.rows * entry_bytes).is_err()
    {
        return hand_on(gathered, input, memory);
    }
    let timer = baseline.elapsed_compute().timer();
    let (entries, row_keys, stride) = layout.keyed_rows(&gathered);
    timer.done();
    // Output columns that are sort keys are read back from the keys, the rest gathered from
    // the batches: the batches keep only the latter from here on, and before the sort, whose
    // second copy of the entries would otherwise come on top of them.
    let decoders = layout.decoders(&keys, &schema);
    let gathered_columns: Vec<usize> = (0..schema.fields().len())
        .filter(|c| !decoders.iter().any(|d| d.column == *c))
        .collect();
    let Gathered {
        batches,
        keys: key_columns,
        starts,
        rows: row_count,
    } = gathered;
    // The key columns share their arrays with the batches: both go, or neither is freed.
    drop(key_columns);
    let rows = match gathered_columns.is_empty() {
        true => None,
        false => {
            let batches = batches
                .iter()
                .map(|batch| batch.project(&gathered_columns))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let projected = Arc::new(schema.project(&gathered_columns)?);
            Some((batches, projected))
        }
    };
    drop(batches);
    let kept: usize = rows
        .iter()
        .flat_map(|(batches, _)| batches)
        .map(get_record_batch_memory_size)
        .sum();
    // The entries, their copy in the radix sort's buffer and the keys, beside what is kept.
    memory
        .rows
        .resize(kept + row_keys.len() + 2 * entries.len() * std::mem::size_of::<Entry>());
    let timer = baseline.elapsed_compute().timer();
    let order = sort_entries(entries, &row_keys, stride);
    timer.done();
    let row_keys = if decoders.is_empty() {
        Vec::new()
    } else {
        row_keys
    };
    // The entries are gone; the rows not read from keys, the keys if any are, and the order
    // stay until the last batch is out.
    memory
        .rows
        .resize(kept + row_keys.len() + order.len() * std::mem::size_of::<u32>());
    memory.headroom.free();
    let batch_size = context.session_config().batch_size();
    let output = SortedOutput {
        schema: Arc::clone(&schema),
        rows: rows.map(|(batches, projected)| RowGather::new(projected, &batches)),
        gathered_columns,
        places: RowPlaces::new(starts, row_count),
        decoders,
        keys: row_keys,
        stride,
        order,
        next: 0,
        batch_size,
        // A distinct sort is keyed on every column (`fold_distinct`), all read back from the
        // keys: repeats are dropped there.
        drop_repeats: distinct,
        baseline,
        _reservation: memory.rows,
    };
    Ok(Box::pin(RecordBatchStreamAdapter::new(
        schema,
        futures::stream::iter(output),
    )))
}

/// Hands a partition to DataFusion's sort: the batches read so far, then the rest of the input.
fn datafusion_sort(
    gathered: Gathered,
    rest: SendableRecordBatchStream,
    schema: SchemaRef,
    keys: LexOrdering,
    context: Arc<TaskContext>,
    handed_on: &HandedOn,
) -> Result<SendableRecordBatchStream> {
    handed_on.partitions.add(1);
    let handed_on = handed_on.clone();
    let replay = ReplayExec::new(Arc::clone(&schema), gathered.batches, rest);
    let sort = Arc::new(SortExec::new(keys, Arc::new(replay)));
    let sorted = sort.execute(0, context)?;
    // Its spills, once it is done, shown as this sort's.
    let done = futures::stream::once(async move {
        if let Some(metrics) = sort.metrics() {
            handed_on
                .spill_count
                .add(metrics.spill_count().unwrap_or(0));
            handed_on
                .spilled_bytes
                .add(metrics.spilled_bytes().unwrap_or(0));
            handed_on
                .spilled_rows
                .add(metrics.spilled_rows().unwrap_or(0));
        }
        None
    })
    .filter_map(futures::future::ready);
    Ok(Box::pin(RecordBatchStreamAdapter::new(
        schema,
        sorted.chain(done),
    )))
}

/// A sorted stream without the rows equal to the row before them (in every column, NULL
/// equal to NULL, as a DISTINCT has them): the distinct sort of a partition handed to
/// DataFusion's sort.
fn drop_repeats(sorted: SendableRecordBatchStream) -> Result<SendableRecordBatchStream> {
    let schema = sorted.schema();
    let fields = schema
        .fields()
        .iter()
        .map(|field| SortField::new(field.data_type().clone()))
        .collect();
    let converter = RowConverter::new(fields)?;
    let mut last: Option<OwnedRow> = None;
    let distinct = sorted.map(move |batch| {
        let batch = batch?;
        if batch.num_rows() == 0 {
            return Ok(batch);
        }
        let rows = converter.convert_columns(batch.columns())?;
        let keep: BooleanArray = (0..rows.num_rows())
            .map(|i| {
                let repeated = match i {
                    0 => last.as_ref().is_some_and(|last| last.row() == rows.row(0)),
                    _ => rows.row(i) == rows.row(i - 1),
                };
                Some(!repeated)
            })
            .collect();
        last = Some(rows.row(rows.num_rows() - 1).owned());
        Ok(filter_record_batch(&batch, &keep)?)
    });
    Ok(Box::pin(RecordBatchStreamAdapter::new(schema, distinct)))
}

/// What a profile shows of the partitions handed to DataFusion's sort: how many, and its
/// spills, as `SortExec` shows them.
#[derive(Clone)]
struct HandedOn {
    partitions: Count,
    spill_count: Count,
    spilled_bytes: Count,
    spilled_rows: Count,
}

impl HandedOn {
    fn new(metrics: &ExecutionPlanMetricsSet, partition: usize) -> HandedOn {
        HandedOn {
            partitions: MetricBuilder::new(metrics).counter("sorted_by_datafusion", partition),
            spill_count: MetricBuilder::new(metrics).spill_count(partition),
            spilled_bytes: MetricBuilder::new(metrics).spilled_bytes(partition),
            spilled_rows: MetricBuilder::new(metrics).spilled_rows(partition),
        }
    }
}

/// A partition's batches and the values of its sort keys.
#[derive(Default)]
struct Gathered {
    batches: Vec<RecordBatch>,
    /// Each batch's key columns, in key order.
    keys: Vec<Vec<ArrayRef>>,
    /// The first row of each batch, counting across the batches.
    starts: Vec<usize>,
    rows: usize,
}

impl Gathered {
    fn add(&mut self, batch: RecordBatch, keys: Vec<ArrayRef>) {
        self.starts.push(self.rows);
        self.rows += batch.num_rows();
        self.batches.push(batch);
        self.keys.push(keys);
    }

    fn key_columns(&self, key: usize) -> impl Iterator<Item = &ArrayRef> {
        self.keys.iter().map(move |columns| &columns[key])
    }
}

/// Where each key column's bytes go in a row's key, and how wide they are.
struct KeyLayout {
    columns: Vec<ColumnLayout>,
    width: usize,
}

#[derive(Clone)]
struct ColumnLayout {
    offset: usize,
    /// Whether a byte before the value says NULL or not (the column holds NULLs).
    null_byte: bool,
    /// The value's bytes: the type's width, or for text the longest text and then its length.
    value_bytes: usize,
    /// For text: the bytes of its length after the padded text.
    length_bytes: usize,
    descending: bool,
    nulls_first: bool,
}

impl KeyLayout {
    fn new(keys: &LexOrdering, gathered: &Gathered) -> KeyLayout {
        let mut offset = 0;
        let columns = keys
            .iter()
            .enumerate()
            .map(|(k, key)| {
                let null_byte = gathered.key_columns(k).any(|c| c.null_count() > 0);
                let data_type = gathered.keys[0][k].data_type();
                let (value_bytes, length_bytes) = match text_width(data_type) {
                    true => {
                        let longest = gathered.key_columns(k).map(longest_text).max().unwrap_or(0);
                        let length_bytes = match longest {
                            0..=0xFF => 1,
                            0x100..=0xFFFF => 2,
                            _ => 4,
                        };
                        (longest + length_bytes, length_bytes)
                    }
                    false => (fixed_width(data_type), 0),
                };
                let column = ColumnLayout {
                    offset,
                    null_byte,
                    value_bytes,
                    length_bytes,
                    descending: key.options.descending,
                    nulls_first: key.options.nulls_first,
                };
                offset += usize::from(null_byte) + value_bytes;
                column
            })
            .collect();
        KeyLayout {
            columns,
            width: offset,
        }
    }

    /// A reader for each output column the sort is keyed on as it is (a column, not an
    /// expression of one): its values are in the keys whole. The first key on a column reads it.
    fn decoders(&self, keys: &LexOrdering, schema: &SchemaRef) -> Vec<KeyDecoder> {
        let mut decoders: Vec<KeyDecoder> = Vec::new();
        for (key, layout) in keys.iter().zip(&self.columns) {
            let Some(column) = key.expr.downcast_ref::<Column>() else {
                continue;
            };
            let index = column.index();
            if decoders.iter().any(|d| d.column == index) {
                continue;
            }
            let Some(field) = schema.fields().get(index) else {
                continue;
            };
            let data_type = field.data_type().clone();
            decoders.push(KeyDecoder {
                column: index,
                layout: layout.clone(),
                flip: sign_flip(&data_type),
                data_type,
            });
        }
        decoders
    }

    /// Every row's entry (its number across the batches, and its key's first bytes), and
    /// every row's key whole, `stride` bytes a row (the third value).
    fn keyed_rows(&self, gathered: &Gathered) -> (Vec<Entry>, Vec<u8>, usize) {
        let stride = self.width.max(ENTRY_KEY_BYTES);
        let mut entries = Vec::with_capacity(gathered.rows);
        let mut keys = vec![0u8; gathered.rows * stride];
        for (b, batch_keys) in gathered.keys.iter().enumerate() {
            let start = gathered.starts[b];
            let rows = gathered.batches[b].num_rows();
            let batch_rows = &mut keys[start * stride..(start + rows) * stride];
            for (column, values) in self.columns.iter().zip(batch_keys) {
                column.write(values, batch_rows, stride);
            }
            for (i, key) in batch_rows.chunks_exact(stride).enumerate() {
                entries.push(Entry::new(&key[..ENTRY_KEY_BYTES], (start + i) as u32));
            }
        }
        (entries, keys, stride)
    }
}

/// The rows of `entries` in the order of their keys: the bytes at hand, then the rest of each
/// row's key in `keys` (`stride` bytes a row, the first [`ENTRY_KEY_BYTES`] those at hand).
fn sort_entries(mut entries: Vec<Entry>, keys: &[u8], stride: usize) -> Vec<u32> {
    let mut buffer = vec![Entry::default(); entries.len()];
    radix_sort(&mut entries, &mut buffer);
    sort_ties(&mut entries, &mut buffer, keys, stride, 0);
    entries.into_iter().map(|e| e.row).collect()
}

/// A row's key bytes at hand (eight of them, as a big-endian integer in two halves), and the
/// row. Twelve bytes, so that a partition's entries and the radix sort's second copy take
/// less than the rows' keys did as one 32-byte entry each.
#[derive(Clone, Copy, Default)]
struct Entry {
    high: u32,
    low: u32,
    row: u32,
}

impl Entry {
    /// The entry of `row`, whose key bytes at hand are `bytes` (at most eight; missing ones
    /// are zero, as they are for every row alike).
    fn new(bytes: &[u8], row: u32) -> Entry {
        let mut word = [0u8; 8];
        word[..bytes.len()].copy_from_slice(bytes);
        let key = u64::from_be_bytes(word);
        Entry {
            high: (key >> 32) as u32,
            low: key as u32,
            row,
        }
    }

    fn key(&self) -> u64 {
        (u64::from(self.high) << 32) | u64::from(self.low)
    }
}

/// Runs of entries with equal keys at hand no longer than this are sorted by comparing the
/// rest of their keys; longer ones are radix-sorted on their next eight bytes.
const SHORT_RUN: usize = 32;

/// Sorts entries on their keys at hand, least significant byte first, one counting pass for
/// all eight bytes; a byte that is the same in every entry (the "P" of every person
/// identifier, the high bytes of small numbers) is skipped. `buffer` is as long as `entries`.
/// Each byte's pass is stable, so that the passes compose; fewer than 33 entries are compared instead.
fn radix_sort(entries: &mut [Entry], buffer: &mut [Entry]) {
    let n = entries.len();
    if n <= SHORT_RUN {
        entries.sort_unstable_by_key(Entry::key);
        return;
    }
    let mut counts = vec![[0u32; 256]; 8];
    for entry in entries.iter() {
        let key = entry.key();
        for (byte, count) in counts.iter_mut().enumerate() {
            count[(key >> (8 * byte)) as usize & 0xFF] += 1;
        }
    }
    let mut sorted_in_buffer = false;
    for (byte, count) in counts.iter().enumerate() {
        if count.iter().any(|&c| c as usize == n) {
            continue;
        }
        let mut offsets = [0usize; 256];
        let mut sum = 0;
        for (offset, &c) in offsets.iter_mut().zip(count.iter()) {
            *offset = sum;
            sum += c as usize;
        }
        match sorted_in_buffer {
            false => scatter(entries, buffer, 8 * byte, &mut offsets),
            true => scatter(buffer, entries, 8 * byte, &mut offsets),
        }
        sorted_in_buffer = !sorted_in_buffer;
    }
    if sorted_in_buffer {
        entries.copy_from_slice(buffer);
    }
}

/// One radix pass: each entry to the next place of its byte's bucket.
fn scatter(from: &[Entry], to: &mut [Entry], shift: usize, offsets: &mut [usize; 256]) {
    for entry in from {
        let bucket = (entry.key() >> shift) as usize & 0xFF;
        to[offsets[bucket]] = *entry;
        offsets[bucket] += 1;
    }
}

/// Orders each run of entries whose keys at hand are equal by the rest of their keys: `keys`
/// holds `stride` bytes for each row, of which the first [`ENTRY_KEY_BYTES`] and `done` more
/// are already in order.
fn sort_ties(entries: &mut [Entry], buffer: &mut [Entry], keys: &[u8], stride: usize, done: usize) {
    if ENTRY_KEY_BYTES + done >= stride {
        return;
    }
    let rest = |row: u32| {
        let key = row as usize * stride;
        &keys[key + ENTRY_KEY_BYTES + done..key + stride]
    };
    // Entries before this one have had the rest of their keys asked for (module gather), if
    // they tie with a neighbour: those rests are read at random places, and soon.
    let mut asked = 0;
    let mut start = 0;
    while start < entries.len() {
        while asked < entries.len().min(start + AHEAD) {
            let key = entries[asked].key();
            let tied = (asked > 0 && entries[asked - 1].key() == key)
                || entries.get(asked + 1).is_some_and(|e| e.key() == key);
            if let Some(first) = rest(entries[asked].row).first().filter(|_| tied) {
                prefetch(first);
            }
            asked += 1;
        }
        let key = entries[start].key();
        let end = start
            + entries[start..]
                .iter()
                .position(|e| e.key() != key)
                .unwrap_or(entries.len() - start);
        let run = &mut entries[start..end];
        if run.len() > SHORT_RUN {
            for entry in run.iter_mut() {
                let next = rest(entry.row);
                *entry = Entry::new(&next[..next.len().min(ENTRY_KEY_BYTES)], entry.row);
            }
            let buffer = &mut buffer[..run.len()];
            radix_sort(run, buffer);
            sort_ties(run, buffer, keys, stride, done + ENTRY_KEY_BYTES);
        } else if run.len() == 2 {
            // One person's two entries, the commonest tie: one comparison, not a sort.
            if rest_order(rest(run[0].row), rest(run[1].row)).is_gt() {
                run.swap(0, 1);
            }
        } else if run.len() > 2 {
            run.sort_unstable_by(|a, b| rest_order(rest(a.row), rest(b.row)));
        }
        start = end;
    }
}

/// The order of two rests of keys, of equal length, compared eight bytes at a time as
/// big-endian words in line. Comparing them as slices called `memcmp` for each comparison,
/// 5% of the entry queries' samples at scale 1.0: most ties are one person's few entries,
/// whose rests (the end of an identifier and a date) are a word or two.
#[inline(always)]
fn rest_order(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let n = a.len().min(b.len());
    if n < 8 {
        let word = |bytes: &[u8]| {
            bytes[..n]
                .iter()
                .fold(0u64, |w, &x| (w << 8) | u64::from(x))
        };
        return word(a).cmp(&word(b));
    }
    let word = |bytes: &[u8], at: usize| {
        u64::from_be_bytes(bytes[at..at + 8].try_into().unwrap_or_default())
    };
    let mut at = 0;
    while at + 8 < n {
        match word(a, at).cmp(&word(b, at)) {
            std::cmp::Ordering::Equal => at += 8,
            order => return order,
        }
    }
    // The last eight bytes, overlapping bytes already found equal.
    word(a, n - 8).cmp(&word(b, n - 8))
}

/// The last `N` bytes of each word, big-endian, at `at` of each row's key.
#[inline(always)]
fn put_words<const N: usize>(
    rows: std::slice::ChunksExactMut<'_, u8>,
    words: impl Iterator<Item = u64>,
    at: usize,
) {
    for (key, word) in rows.zip(words) {
        key[at..at + N].copy_from_slice(&word.to_be_bytes()[8 - N..]);
    }
}

fn text_width(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

fn fixed_width(data_type: &DataType) -> usize {
    match data_type {
        DataType::Boolean | DataType::Int8 | DataType::UInt8 => 1,
        DataType::Int16 | DataType::UInt16 => 2,
        DataType::Int32 | DataType::UInt32 | DataType::Date32 => 4,
        _ => 8,
    }
}

/// The bit a key flips in a value of this type, written and read back alike: a signed value's
/// sign bit, flipped, puts negative values first; nothing for other types.
fn sign_flip(data_type: &DataType) -> u64 {
    match data_type {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::Date32
        | DataType::Date64
        | DataType::Timestamp(_, _) => 1u64 << (8 * fixed_width(data_type) - 1),
        _ => 0,
    }
}

/// The longest text in a text column, in bytes.
fn longest_text(column: &ArrayRef) -> usize {
    match column.data_type() {
        DataType::Utf8View => column
            .as_string_view()
            .views()
            .iter()
            .map(|view| *view as u32 as usize)
            .max(),
        DataType::Utf8 => column
            .as_string::<i32>()
            .offsets()
            .windows(2)
            .map(|w| (w[1] - w[0]) as usize)
            .max(),
        DataType::LargeUtf8 => column
            .as_string::<i64>()
            .offsets()
            .windows(2)
            .map(|w| (w[1] - w[0]) as usize)
            .max(),
        _ => None,
    }
    .unwrap_or(0)
}

impl ColumnLayout {
    /// Writes this column's bytes of each row's key into `keys` (`width` bytes a row).
    fn write(&self, values: &ArrayRef, keys: &mut [u8], width: usize) {
        let value_at = usize::from(self.null_byte);
        let rows = keys.chunks_exact_mut(width);
        macro_rules! integers {
            ($t:ty, $flip:expr) => {{
                let values = values.as_primitive::<$t>();
                let words = values.values().iter().map(|v| *v as u64 ^ $flip);
                let at = self.offset + value_at;
                // A copy of a length known here is a move or two; of `value_bytes`, a call
                // to `memcpy` for every row.
                match self.value_bytes {
                    1 => put_words::<1>(rows, words, at),
                    2 => put_words::<2>(rows, words, at),
                    4 => put_words::<4>(rows, words, at),
                    _ => put_words::<8>(rows, words, at),
                }
            }};
        }
        let flip = sign_flip(values.data_type());
        match values.data_type() {
            DataType::Int8 => integers!(Int8Type, flip),
            DataType::Int16 => integers!(Int16Type, flip),
            DataType::Int32 => integers!(Int32Type, flip),
            DataType::Date32 => integers!(Date32Type, flip),
            DataType::Int64 => integers!(Int64Type, flip),
            DataType::Date64 => integers!(Date64Type, flip),
            DataType::Timestamp(TimeUnit::Second, _) => integers!(TimestampSecondType, flip),
            DataType::Timestamp(TimeUnit::Millisecond, _) => {
                integers!(TimestampMillisecondType, flip)
            }
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                integers!(TimestampMicrosecondType, flip)
            }
            DataType::Timestamp(TimeUnit::Nanosecond, _) => {
                integers!(TimestampNanosecondType, flip)
            }
            DataType::UInt8 => integers!(UInt8Type, flip),
            DataType::UInt16 => integers!(UInt16Type, flip),
            DataType::UInt32 => integers!(UInt32Type, flip),
            DataType::UInt64 => integers!(UInt64Type, flip),
            DataType::Boolean => {
                let values = values.as_boolean();
                for (i, key) in rows.enumerate() {
                    key[self.offset + value_at] = u8::from(values.value(i));
                }
            }
            DataType::Utf8View => {
                let values = values.as_string_view();
                for (i, key) in rows.enumerate() {
                    self.write_text(values.value(i).as_bytes(), key, value_at);
                }
            }
            DataType::Utf8 => {
                let values = values.as_string::<i32>();
                for (i, key) in rows.enumerate() {
                    self.write_text(values.value(i).as_bytes(), key, value_at);
                }
            }
            DataType::LargeUtf8 => {
                let values = values.as_string::<i64>();
                for (i, key) in rows.enumerate() {
                    self.write_text(values.value(i).as_bytes(), key, value_at);
                }
            }
            other => unreachable!("KeySortRule admits no {other} key"),
        }
        self.finish(values, keys, width);
    }

    /// The text zero-padded to the longest, then its length: "ab" < "ab\0" < "abc" as bytes.
    fn write_text(&self, text: &[u8], key: &mut [u8], value_at: usize) {
        let start = self.offset + value_at;
        let padded = self.value_bytes - self.length_bytes;
        copy_in_line(&mut key[start..start + text.len()], text);
        let length = (text.len() as u32).to_be_bytes();
        match self.length_bytes {
            // Texts of up to 255 bytes (every identifier): one byte, not a call to `memcpy`.
            1 => key[start + padded] = length[3],
            n => key[start + padded..start + self.value_bytes].copy_from_slice(&length[4 - n..]),
        }
    }

    /// NULLs (the byte before the value; their value bytes zero) and descending order (every
    /// value byte inverted).
    fn finish(&self, values: &ArrayRef, keys: &mut [u8], width: usize) {
        if values.null_count() == 0 && !self.descending && !self.null_byte {
            return;
        }
        let value_at = usize::from(self.null_byte);
        let value = self.offset + value_at..self.offset + value_at + self.value_bytes;
        for (i, key) in keys.chunks_exact_mut(width).enumerate() {
            let null = values.is_null(i);
            if null {
                key[value.clone()].fill(0);
            } else if self.descending {
                key[value.clone()].iter_mut().for_each(|b| *b = !*b);
            }
            if self.null_byte {
                // The NULL byte sorts NULLs first or last whatever the direction.
                key[self.offset] = u8::from(null != self.nulls_first);
            }
        }
    }
}

/// Where a row, numbered across a partition's batches, is: its batch and its row there. A
/// binary search of the batches' first rows for each row in sorted order was 3-4% of the
/// entry queries' profile samples (its branches go either way at random), though replacing it
/// measured no faster beyond the noise (docs/BENCHMARK.md); each block of rows instead
/// knows the batch its first row is in, and a row steps on from there past the batches that
/// end before it (none, mostly: batches are longer than a block).
struct RowPlaces {
    /// Each batch's first row.
    starts: Vec<usize>,
    /// The batch the first row of each block of `1 << BLOCK_BITS` rows is in.
    block_batches: Vec<usize>,
}

const BLOCK_BITS: usize = 10;

impl RowPlaces {
    fn new(starts: Vec<usize>, rows: usize) -> RowPlaces {
        let block_batches = (0..rows.div_ceil(1 << BLOCK_BITS))
            .map(|block| starts.partition_point(|&start| start <= block << BLOCK_BITS) - 1)
            .collect();
        RowPlaces {
            starts,
            block_batches,
        }
    }

    /// (batch, row in it) of row `row`.
    fn place(&self, row: usize) -> (usize, usize) {
        let mut batch = self.block_batches[row >> BLOCK_BITS];
        while self.starts.get(batch + 1).is_some_and(|&next| next <= row) {
            batch += 1;
        }
        (batch, row - self.starts[batch])
    }
}

/// The sorted rows, a batch at a time: key columns read back from the keys, the other
/// columns gathered from the batches.
struct SortedOutput {
    schema: SchemaRef,
    /// The gathered batches' columns that are not read from keys, until the last batch is out
    /// (`None` when every column is).
    rows: Option<RowGather>,
    /// The output columns `rows` holds, in its order.
    gathered_columns: Vec<usize>,
    places: RowPlaces,
    /// The output columns read from keys.
    decoders: Vec<KeyDecoder>,
    /// Each row's key, `stride` bytes a row, while any column is read from them.
    keys: Vec<u8>,
    stride: usize,
    order: Vec<u32>,
    next: usize,
    batch_size: usize,
    /// Whether rows whose key equals the one before are dropped as they are read back.
    drop_repeats: bool,
    baseline: BaselineMetrics,
    /// Held until the last batch is out: the gathered rows stay in memory till then.
    _reservation: MemoryReservation,
}

impl SortedOutput {
    /// The rows `order` names, in that order, as one batch.
    /// `before` is the row before `order`'s first, whose key a repeat would equal.
    fn output(&self, order: &[u32], before: Option<u32>) -> Result<RecordBatch> {
        let mut columns: Vec<Option<ArrayRef>> = vec![None; self.schema.fields().len()];
        if let Some(rows) = &self.rows {
            let indices: Vec<(usize, usize)> = order
                .iter()
                .map(|&row| self.places.place(row as usize))
                .collect();
            let gathered = rows.gather(&indices)?;
            for (&c, column) in self.gathered_columns.iter().zip(gathered.columns()) {
                columns[c] = Some(Arc::clone(column));
            }
        }
        let repeats = self.drop_repeats.then_some(before);
        let decoded = decode_keys(&self.decoders, order, &self.keys, self.stride, repeats)?;
        let rows = decoded.first().map_or(order.len(), |column| column.len());
        for (decoder, column) in self.decoders.iter().zip(decoded) {
            columns[decoder.column] = Some(column);
        }
        let columns: Vec<ArrayRef> = columns.into_iter().flatten().collect();
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(&self.schema),
            columns,
            &options,
        )?)
    }
}

impl Iterator for SortedOutput {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.next >= self.order.len() {
                self.rows = None;
                self.keys = Vec::new();
                return None;
            }
            let _timer = self.baseline.elapsed_compute().timer();
            let end = (self.next + self.batch_size).min(self.order.len());
            let before = self.next.checked_sub(1).map(|row| self.order[row]);
            let batch = self
                .output(&self.order[self.next..end], before)
                .and_then(compact_batch);
            self.next = end;
            match &batch {
                // Every row a repeat: nothing to hand on.
                Ok(batch) if batch.num_rows() == 0 => continue,
                Ok(batch) => self.baseline.record_output(batch.num_rows()),
                Err(_) => {}
            }
            return Some(batch);
        }
    }
}

/// Reads an output column back from the sorted keys: a column the sort is keyed on, whose key
/// bytes hold its value whole (module docs).
struct KeyDecoder {
    /// The output column.
    column: usize,
    layout: ColumnLayout,
    data_type: DataType,
    /// The bits the key flips in a value (a signed value's sign bit).
    flip: u64,
}

/// One key column's values as they are read back.
enum Decoded {
    /// Integers, dates and times, as 64-bit words cut to their width at the end.
    Words(Vec<u64>),
    Flags(BooleanBufferBuilder),
    /// Texts: their bytes (in a buffer zeroed for the longest, cut to them at the end), and
    /// where each ends.
    Texts {
        bytes: Vec<u8>,
        ends: Vec<usize>,
    },
}

impl KeyDecoder {
    fn start(&self, rows: usize) -> Decoded {
        match &self.data_type {
            DataType::Boolean => Decoded::Flags(BooleanBufferBuilder::new(rows)),
            t if text_width(t) => Decoded::Texts {
                bytes: vec![0; rows * self.layout.value_bytes],
                ends: Vec::with_capacity(rows),
            },
            _ => Decoded::Words(Vec::with_capacity(rows)),
        }
    }

    /// Reads this column's value from one row's `key`; false for NULL.
    fn read(&self, key: &[u8], into: &mut Decoded) -> bool {
        let layout = &self.layout;
        let null = layout.null_byte && key[layout.offset] == u8::from(!layout.nulls_first);
        let at = layout.offset + usize::from(layout.null_byte);
        let value = &key[at..at + layout.value_bytes];
        // A descending key's value bytes are inverted; a NULL's are zero.
        let invert = if layout.descending && !null { 0xFF } else { 0 };
        match into {
            Decoded::Words(words) => words.push(match null {
                true => 0,
                false => {
                    value
                        .iter()
                        .fold(0u64, |word, &byte| (word << 8) | u64::from(byte ^ invert))
                        ^ self.flip
                }
            }),
            Decoded::Flags(flags) => flags.append(!null && value[0] ^ invert != 0),
            Decoded::Texts { bytes, ends } => {
                let (text, length) = value.split_at(layout.value_bytes - layout.length_bytes);
                let length = length
                    .iter()
                    .fold(0usize, |n, &byte| (n << 8) | usize::from(byte ^ invert));
                let text = &text[..length.min(text.len())];
                let start = ends.last().copied().unwrap_or(0);
                let to = &mut bytes[start..start + text.len()];
                // In line: extending the bytes called `memcpy` for every row's identifier.
                match invert {
                    0 => copy_in_line(to, text),
                    _ => to
                        .iter_mut()
                        .zip(text)
                        .for_each(|(to, byte)| *to = byte ^ invert),
                }
                ends.push(start + text.len());
            }
        }
        !null
    }

    /// The column read, with its NULLs.
    fn finish(&self, decoded: Decoded, valid: Option<BooleanBufferBuilder>) -> Result<ArrayRef> {
        let nulls = valid
            .map(|mut valid| NullBuffer::new(valid.finish()))
            .filter(|nulls| nulls.null_count() > 0);
        Ok(match decoded {
            Decoded::Words(words) => {
                let rows = words.len();
                let values = match fixed_width(&self.data_type) {
                    1 => Buffer::from_vec(words.into_iter().map(|w| w as u8).collect::<Vec<_>>()),
                    2 => Buffer::from_vec(words.into_iter().map(|w| w as u16).collect::<Vec<_>>()),
                    4 => Buffer::from_vec(words.into_iter().map(|w| w as u32).collect::<Vec<_>>()),
                    _ => Buffer::from_vec(words),
                };
                let data = ArrayData::builder(self.data_type.clone())
                    .len(rows)
                    .add_buffer(values)
                    .nulls(nulls)
                    .build()?;
                make_array(data)
            }
            Decoded::Flags(mut flags) => Arc::new(BooleanArray::new(flags.finish(), nulls)),
            Decoded::Texts { mut bytes, ends } => {
                bytes.truncate(ends.last().copied().unwrap_or(0));
                let bytes = Buffer::from_vec(bytes);
                if self.data_type == DataType::LargeUtf8 {
                    return Ok(Arc::new(LargeStringArray::try_new(
                        text_offsets(&ends)?,
                        bytes,
                        nulls,
                    )?));
                }
                // Utf8, or string views made from it without copying the bytes.
                let texts = StringArray::try_new(text_offsets(&ends)?, bytes, nulls)?;
                match self.data_type {
                    DataType::Utf8 => Arc::new(texts),
                    _ => Arc::new(StringViewArray::from(&texts)),
                }
            }
        })
    }
}

/// The columns `decoders` read from the keys of the rows `order` names, in that order. One
/// pass over the rows, asking for the key [`AHEAD`] rows on while reading the current one:
/// each row's key is one place in memory, where the batches hold each column's value (and a
/// text's offsets) in places of their own.
/// The key columns of the rows `order` names; with `repeats` (`Some` of the row before the
/// first, if any), only of those whose key differs from the row's before it.
fn decode_keys(
    decoders: &[KeyDecoder],
    order: &[u32],
    keys: &[u8],
    stride: usize,
    repeats: Option<Option<u32>>,
) -> Result<Vec<ArrayRef>> {
    let mut columns: Vec<(Decoded, Option<BooleanBufferBuilder>)> = decoders
        .iter()
        .map(|d| {
            let valid = d
                .layout
                .null_byte
                .then(|| BooleanBufferBuilder::new(order.len()));
            (d.start(order.len()), valid)
        })
        .collect();
    if decoders.is_empty() {
        return Ok(Vec::new());
    }
    let key_of = |row: u32| &keys[row as usize * stride..(row as usize + 1) * stride];
    let mut last_key = repeats.flatten().map(key_of);
    for (i, &row) in order.iter().enumerate() {
        if let Some(&ahead) = order.get(i + AHEAD) {
            // A key may straddle two cache lines (a third of them do at 22 bytes, a person and
            // a date): ask for its last byte's line too, or the read of its tail waits.
            let start = ahead as usize * stride;
            prefetch(&keys[start]);
            prefetch(&keys[start + stride - 1]);
        }
        let key = key_of(row);
        if repeats.is_some() {
            // Equal keys are equal rows: every column is a key. Compared in line: `==` on the
            // slices called `memcmp` for every row, 5% of the entry queries' samples.
            let repeated = last_key.is_some_and(|last| bytes_eq(last, key));
            last_key = Some(key);
            if repeated {
                continue;
            }
        }
        for (decoder, (decoded, valid)) in decoders.iter().zip(columns.iter_mut()) {
            let present = decoder.read(key, decoded);
            if let Some(valid) = valid {
                valid.append(present);
            }
        }
    }
    decoders
        .iter()
        .zip(columns)
        .map(|(decoder, (decoded, valid))| decoder.finish(decoded, valid))
        .collect()
}

/// Offsets of texts that end at `ends`, from the first at zero.
fn text_offsets<O: OffsetSizeTrait>(ends: &[usize]) -> Result<OffsetBuffer<O>> {
    let mut offsets = Vec::with_capacity(ends.len() + 1);
    offsets.push(O::usize_as(0));
    for &end in ends {
        offsets.push(O::from_usize(end).ok_or_else(|| {
            DataFusionError::Execution(format!(
                "fjq key sort: {end} bytes of text in one output batch are more than its type holds"
            ))
        })?);
    }
    Ok(OffsetBuffer::new(ScalarBuffer::from(offsets)))
}

/// One partition that yields batches already read and then the rest of a stream: the input
/// of DataFusion's sort when a partition goes to it part-way through.
#[derive(Debug)]
struct ReplayExec {
    properties: Arc<PlanProperties>,
    rows: Mutex<Option<(Vec<RecordBatch>, ReplayRest)>>,
}

struct ReplayRest(SendableRecordBatchStream);

impl fmt::Debug for ReplayRest {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "the rest of the input")
    }
}

impl ReplayExec {
    fn new(
        schema: SchemaRef,
        read: Vec<RecordBatch>,
        rest: SendableRecordBatchStream,
    ) -> ReplayExec {
        let properties = PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        ReplayExec {
            properties: Arc::new(properties),
            rows: Mutex::new(Some((read, ReplayRest(rest)))),
        }
    }
}

impl DisplayAs for ReplayExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "ReplayExec")
    }
}

impl ExecutionPlan for ReplayExec {
    fn name(&self) -> &str {
        "ReplayExec"
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

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        _partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let taken = self.rows.lock().ok().and_then(|mut rows| rows.take());
        let Some((read, ReplayRest(rest))) = taken else {
            return exec_err!("a sort's replayed input can be read once");
        };
        let schema = rest.schema();
        let rows = futures::stream::iter(read.into_iter().map(Ok)).chain(rest);
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, rows)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{
        BooleanArray, Date32Array, Int8Array, Int64Array, StringArray, StringViewArray,
    };
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::datasource::MemTable;
    use datafusion::execution::SessionStateBuilder;
    use datafusion::execution::memory_pool::{MemoryPool, UnboundedMemoryPool};
    use datafusion::execution::runtime_env::RuntimeEnvBuilder;
    use datafusion::physical_plan::display::DisplayableExecutionPlan;
    use datafusion::physical_plan::{collect, displayable};
    use datafusion::prelude::{SessionConfig, SessionContext};

    type Row = (
        i64,
        Option<&'static str>,
        Option<i8>,
        &'static str,
        Option<bool>,
        Option<&'static str>,
    );

    const LONG_X: &str = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

    /// Twelve rows in two partitions of two batches: texts that are prefixes of each other
    /// (with a NUL byte), NULLs in every column, the extremes of a signed byte, dates before
    /// 1970 and a text of 100 bytes in `s`.
    fn partitions() -> (Arc<Schema>, Vec<Vec<RecordBatch>>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("txt", DataType::Utf8View, true),
            Field::new("n", DataType::Int8, true),
            Field::new("d", DataType::Date32, false),
            Field::new("b", DataType::Boolean, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        // Days since 1970-01-01.
        let day = |text: &str| match text {
            "1900-05-05" => -25443,
            "1969-12-31" => -1,
            "2000-02-29" => 11016,
            "2020-01-01" => 18262,
            "2100-01-01" => 47482,
            other => panic!("no day number written down for {other}"),
        };
        let batch = |rows: &[Row]| {
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(rows.iter().map(|r| r.0).collect::<Int64Array>()),
                    Arc::new(rows.iter().map(|r| r.1).collect::<StringViewArray>()),
                    Arc::new(rows.iter().map(|r| r.2).collect::<Int8Array>()),
                    Arc::new(rows.iter().map(|r| Some(day(r.3))).collect::<Date32Array>()),
                    Arc::new(rows.iter().map(|r| r.4).collect::<BooleanArray>()),
                    Arc::new(rows.iter().map(|r| r.5).collect::<StringArray>()),
                ],
            )
            .unwrap()
        };
        let long = "a text longer than twelve bytes";
        let first = vec![
            batch(&[
                (
                    1,
                    Some("ab"),
                    Some(5),
                    "2020-01-01",
                    Some(true),
                    Some(LONG_X),
                ),
                (
                    2,
                    Some("ab\0"),
                    Some(-3),
                    "1969-12-31",
                    Some(false),
                    Some("m"),
                ),
                (3, None, Some(0), "2020-01-01", None, None),
                (
                    4,
                    Some("abc"),
                    Some(-128),
                    "1900-05-05",
                    Some(true),
                    Some("m"),
                ),
            ]),
            batch(&[
                (5, Some(""), Some(127), "2020-01-01", Some(false), Some("a")),
                (6, Some("ab"), Some(-1), "1969-12-31", None, None),
            ]),
        ];
        let second = vec![
            batch(&[
                (7, Some(long), Some(7), "2000-02-29", Some(true), Some("z")),
                (
                    8,
                    Some("ab"),
                    Some(5),
                    "2000-02-29",
                    Some(false),
                    Some("mm"),
                ),
                (9, None, None, "1969-12-31", Some(true), Some("a")),
            ]),
            batch(&[
                (
                    10,
                    Some("abc"),
                    Some(127),
                    "2100-01-01",
                    Some(false),
                    Some(""),
                ),
                (11, Some("b"), None, "2020-01-01", None, Some("x")),
                (
                    12,
                    Some(""),
                    Some(-128),
                    "1900-05-05",
                    Some(true),
                    Some("m"),
                ),
            ]),
        ];
        (schema, vec![first, second])
    }

    /// The ids `sql` returns, its plan checked to sort by keys, and how many partitions the
    /// key sort handed to DataFusion's.
    async fn ids(sql: &str, pool: Option<Arc<dyn MemoryPool>>) -> (Vec<i64>, usize) {
        let (schema, parts) = partitions();
        let table = MemTable::try_new(schema, parts).unwrap();
        let mut builder = SessionStateBuilder::new()
            .with_config(SessionConfig::new().with_target_partitions(2))
            .with_default_features()
            .with_physical_optimizer_rule(Arc::new(KeySortRule));
        if let Some(pool) = pool {
            let runtime = RuntimeEnvBuilder::new()
                .with_memory_pool(pool)
                .build_arc()
                .unwrap();
            builder = builder.with_runtime_env(runtime);
        }
        let context = SessionContext::new_with_state(builder.build());
        context.register_table("t", Arc::new(table)).unwrap();
        let plan = context
            .sql(sql)
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        let text = displayable(plan.as_ref()).indent(false).to_string();
        assert!(text.contains("KeySortExec"), "{text}");
        let batches = collect(Arc::clone(&plan), context.task_ctx())
            .await
            .unwrap();
        let ids = batches
            .iter()
            .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
            .collect();
        let metrics = DisplayableExecutionPlan::with_metrics(plan.as_ref())
            .indent(true)
            .to_string();
        let handed_on = metrics
            .split("sorted_by_datafusion=")
            .skip(1)
            .map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next().unwrap())
            .map(|n| n.parse::<usize>().unwrap())
            .sum();
        (ids, handed_on)
    }

    /// Batches of 3, 2997, 2000 and 1000 rows: a block of 1024 rows holding two batches'
    /// rows, blocks inside one batch, and batches beginning inside blocks. Places worked by
    /// hand.
    #[test]
    fn rows_are_placed_in_their_batches_across_blocks() {
        let places = RowPlaces::new(vec![0, 3, 3000, 5000], 6000);
        for (row, place) in [
            (0, (0, 0)),
            (2, (0, 2)),
            (3, (1, 0)),
            (1023, (1, 1020)),
            (1024, (1, 1021)),
            (2999, (1, 2996)),
            (3000, (2, 0)),
            (3071, (2, 71)),
            (3072, (2, 72)),
            (4999, (2, 1999)),
            (5000, (3, 0)),
            (5999, (3, 999)),
        ] {
            assert_eq!(places.place(row), place, "row {row}");
        }
        // Batches of 1, 1, 3 and 3 rows, all in the first block: row 4 is two batches on.
        let places = RowPlaces::new(vec![0, 1, 2, 5], 8);
        let placed: Vec<_> = (0..8).map(|row| places.place(row)).collect();
        let expected = [
            (0, 0),
            (1, 0),
            (2, 0),
            (2, 1),
            (2, 2),
            (3, 0),
            (3, 1),
            (3, 2),
        ];
        assert_eq!(placed, expected);
    }

    /// Worked by hand: NULL texts first, then "" < "a text..." < "ab" < "ab\0" < "abc" < "b";
    /// within a text `n` descending with NULL first (DataFusion's default for DESC), then id.
    #[tokio::test]
    async fn text_then_a_descending_byte_then_id() {
        let (ids, handed_on) = ids(
            "SELECT id FROM t ORDER BY txt NULLS FIRST, n DESC, id",
            None,
        )
        .await;
        assert_eq!(ids, [9, 3, 5, 12, 7, 1, 8, 6, 2, 10, 4, 11]);
        assert_eq!(handed_on, 0);
    }

    /// Worked by hand: true before false before NULL, then dates from 1900 on.
    #[tokio::test]
    async fn a_descending_flag_with_nulls_last_then_dates() {
        let (ids, handed_on) =
            ids("SELECT id FROM t ORDER BY b DESC NULLS LAST, d, id", None).await;
        assert_eq!(ids, [4, 12, 9, 7, 1, 2, 8, 5, 10, 6, 3, 11]);
        assert_eq!(handed_on, 0);
    }

    /// Worked by hand: plain text descending with NULLs first. With the 100-byte text its
    /// partition's key is too long and that partition (of two) goes to DataFusion's sort;
    /// without it, both are keyed.
    #[tokio::test]
    async fn long_texts_go_to_datafusions_sort_with_the_same_order() {
        let sql = "SELECT id FROM t ORDER BY s DESC NULLS FIRST, id";
        let (ids_all, handed_on) = ids(sql, None).await;
        assert_eq!(ids_all, [3, 6, 7, 1, 11, 8, 2, 4, 12, 5, 9, 10]);
        assert_eq!(handed_on, 1);
        let sql = "SELECT id FROM t WHERE id <> 1 ORDER BY s DESC NULLS FIRST, id";
        let (ids_short, handed_on) = ids(sql, None).await;
        assert_eq!(ids_short, [3, 6, 7, 11, 8, 2, 4, 12, 5, 9, 10]);
        assert_eq!(handed_on, 0);
    }

    /// Refuses every reservation of a key sort, and grants every other.
    #[derive(Debug, Default)]
    struct RefusesKeySorts(UnboundedMemoryPool);

    impl fmt::Display for RefusesKeySorts {
        fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "refuses key sorts")
        }
    }

    impl MemoryPool for RefusesKeySorts {
        fn name(&self) -> &str {
            "refuses key sorts"
        }

        fn grow(&self, reservation: &MemoryReservation, additional: usize) {
            self.0.grow(reservation, additional)
        }

        fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
            self.0.shrink(reservation, shrink)
        }

        fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
            if reservation.consumer().name().starts_with("KeySortExec") {
                return datafusion::common::resources_err!("no memory for a key sort");
            }
            self.0.try_grow(reservation, additional)
        }

        fn reserved(&self) -> usize {
            self.0.reserved()
        }
    }

    /// A memory pool that refuses the key sort its rows: DataFusion's sort takes them, and
    /// the order is the one worked by hand above.
    #[tokio::test]
    async fn rows_the_pool_refuses_go_to_datafusions_sort() {
        let sql = "SELECT id FROM t ORDER BY txt NULLS FIRST, n DESC, id";
        let (ids, handed_on) = ids(sql, Some(Arc::new(RefusesKeySorts::default()))).await;
        assert_eq!(ids, [9, 3, 5, 12, 7, 1, 8, 6, 2, 10, 4, 11]);
        assert_eq!(handed_on, 2);
    }

    /// A sort that drops repeats, over pairs repeated within and across two batches (NULLs
    /// too), read back two rows a batch so that a repeat falls on a batch's first row: each
    /// pair once, in order, from the keys and from DataFusion's sort alike.
    #[tokio::test]
    async fn a_distinct_sort_keeps_each_row_once() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8View, true),
            Field::new("d", DataType::Int64, true),
        ]));
        let batch = |rows: &[(Option<&str>, Option<i64>)]| {
            let keys: StringViewArray = rows.iter().map(|r| r.0).collect();
            let values: Int64Array = rows.iter().map(|r| r.1).collect();
            RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(keys), Arc::new(values)])
                .unwrap()
        };
        let batches = vec![
            batch(&[
                (Some("b"), Some(1)),
                (Some("a"), Some(2)),
                (Some("a"), Some(2)),
            ]),
            batch(&[
                (None, None),
                (Some("a"), Some(2)),
                (None, None),
                (Some("b"), Some(1)),
            ]),
            batch(&[
                (Some("a"), Some(3)),
                (Some("a"), None),
                (Some("a"), Some(2)),
            ]),
        ];
        for (pool, handed_on) in [
            (None, 0),
            (
                Some(Arc::new(RefusesKeySorts::default()) as Arc<dyn MemoryPool>),
                1,
            ),
        ] {
            let mut builder = SessionStateBuilder::new()
                .with_config(
                    SessionConfig::new()
                        .with_target_partitions(1)
                        .with_batch_size(2),
                )
                .with_default_features();
            if let Some(pool) = pool {
                let runtime = RuntimeEnvBuilder::new().with_memory_pool(pool).build_arc();
                builder = builder.with_runtime_env(runtime.unwrap());
            }
            let context = SessionContext::new_with_state(builder.build());
            let table = MemTable::try_new(Arc::clone(&schema), vec![batches.clone()]).unwrap();
            context.register_table("t", Arc::new(table)).unwrap();
            let sql = "SELECT k, d FROM t ORDER BY k NULLS FIRST, d NULLS FIRST";
            let frame = context.sql(sql).await.unwrap();
            let plan = frame.create_physical_plan().await.unwrap();
            let Some(sort) = plan.downcast_ref::<SortExec>() else {
                panic!("{}", displayable(plan.as_ref()).indent(false));
            };
            let distinct: Arc<dyn ExecutionPlan> = Arc::new(KeySortExec {
                distinct: true,
                ..KeySortExec::new(sort.clone())
            });
            let batches = collect(Arc::clone(&distinct), context.task_ctx())
                .await
                .unwrap();
            let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
                .unwrap()
                .to_string();
            let expected = "+---+---+\n\
                            | k | d |\n\
                            +---+---+\n\
                            |   |   |\n\
                            | a |   |\n\
                            | a | 2 |\n\
                            | a | 3 |\n\
                            | b | 1 |\n\
                            +---+---+";
            assert_eq!(text, expected, "handed on: {handed_on}");
            let metrics = DisplayableExecutionPlan::with_metrics(distinct.as_ref())
                .indent(true)
                .to_string();
            assert!(
                metrics.contains(&format!("sorted_by_datafusion={handed_on}")),
                "{metrics}"
            );
        }
    }

    /// Grants everything, and notes what the key sorts had set aside for merging: the most,
    /// and how much when the merge above them first asked for memory.
    #[derive(Debug, Default)]
    struct WatchesHeadroom {
        pool: UnboundedMemoryPool,
        /// (set aside now, the most set aside, set aside when the merge first asked)
        headroom: Mutex<(usize, usize, Option<usize>)>,
    }

    impl fmt::Display for WatchesHeadroom {
        fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "watches headroom")
        }
    }

    impl WatchesHeadroom {
        fn note(&self, reservation: &MemoryReservation, grown: isize) {
            let name = reservation.consumer().name();
            let mut headroom = self.headroom.lock().unwrap();
            if name.starts_with("KeySortExec") && name.ends_with("headroom") {
                headroom.0 = headroom.0.checked_add_signed(grown).unwrap();
                headroom.1 = headroom.1.max(headroom.0);
            } else if name.starts_with("SortPreservingMergeExec") && grown > 0 {
                headroom.2 = headroom.2.or(Some(headroom.0));
            }
        }
    }

    impl MemoryPool for WatchesHeadroom {
        fn name(&self) -> &str {
            "watches headroom"
        }

        fn grow(&self, reservation: &MemoryReservation, additional: usize) {
            self.note(reservation, additional as isize);
            self.pool.grow(reservation, additional)
        }

        fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
            self.note(reservation, -(shrink as isize));
            self.pool.shrink(reservation, shrink)
        }

        fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
            self.note(reservation, additional as isize);
            self.pool.try_grow(reservation, additional)
        }

        fn reserved(&self) -> usize {
            self.pool.reserved()
        }
    }

    /// Both partitions set aside DataFusion's merge reservation (10 MB each) when the plan
    /// starts, before either reads a row; each gives its own back before its first batch goes
    /// out, so when the merge of the two first asks for memory (for the batch it was handed),
    /// that partition's share is free, and none is held at the end. The key sort sorted both,
    /// in the order worked by hand above.
    #[tokio::test]
    async fn memory_set_aside_for_merging_is_free_when_the_merge_asks() {
        let pool = Arc::new(WatchesHeadroom::default());
        let sql = "SELECT id FROM t ORDER BY txt NULLS FIRST, n DESC, id";
        let (ids, handed_on) = ids(sql, Some(Arc::clone(&pool) as Arc<dyn MemoryPool>)).await;
        assert_eq!(ids, [9, 3, 5, 12, 7, 1, 8, 6, 2, 10, 4, 11]);
        assert_eq!(handed_on, 0);
        let (now, most, when_merging) = *pool.headroom.lock().unwrap();
        assert_eq!(most, 2 * (10 << 20));
        assert!(
            when_merging.is_some_and(|held| held <= 10 << 20),
            "{when_merging:?}"
        );
        assert_eq!(now, 0);
    }

    /// Every signed byte and every byte-long text, shuffled: the sorted order is their order.
    #[tokio::test]
    async fn signed_integers_and_texts_of_one_byte_sort_as_numbers_and_bytes() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int8, false),
            Field::new("t", DataType::Utf8, false),
        ]));
        let shuffled: Vec<i8> = (0..256)
            .map(|i| ((i * 97 + 13) % 256) as u8 as i8)
            .collect();
        // Each of the 128 one-byte texts twice, NUL among them.
        let texts: Vec<String> = shuffled
            .iter()
            .map(|&n| char::from(n as u8 & 0x7F).to_string())
            .collect();
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int8Array::from(shuffled.clone())),
                Arc::new(StringArray::from(texts)),
            ],
        )
        .unwrap();
        let context = SessionContext::new_with_state(
            SessionStateBuilder::new()
                .with_default_features()
                .with_physical_optimizer_rule(Arc::new(KeySortRule))
                .build(),
        );
        let table = MemTable::try_new(schema, vec![vec![batch]]).unwrap();
        context.register_table("u", Arc::new(table)).unwrap();
        let rows = context
            .sql("SELECT n FROM u ORDER BY n DESC")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let got: Vec<i8> = rows
            .iter()
            .flat_map(|b| b.column(0).as_primitive::<Int8Type>().values().to_vec())
            .collect();
        let expected: Vec<i8> = (-128..=127).rev().collect();
        assert_eq!(got, expected);
        let rows = context
            .sql("SELECT t FROM u ORDER BY t")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let got: Vec<String> = rows
            .iter()
            .flat_map(|b| {
                let texts = b.column(0).as_string::<i32>();
                texts
                    .iter()
                    .map(|t| t.unwrap().to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut expected: Vec<String> = shuffled
            .iter()
            .map(|&n| char::from(n as u8 & 0x7F).to_string())
            .collect();
        expected.sort();
        assert_eq!(got, expected);
    }

    /// Pseudo-random draws below a bound (xorshift from `seed`): the same rows every run.
    fn draws(seed: u64) -> impl FnMut(u64) -> u64 {
        let mut state = seed;
        move |below| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % below
        }
    }

    /// Texts of every length up to 70 bytes are copied whole, and nothing beside them.
    #[test]
    fn texts_are_copied_whole_at_every_length() {
        let text: Vec<u8> = (0..70u8).map(|b| b'A' + b % 26).collect();
        for n in 0..=70 {
            let mut key = vec![b'#'; n + 4];
            copy_in_line(&mut key[2..2 + n], &text[..n]);
            assert_eq!(&key[2..2 + n], &text[..n], "{n} bytes");
            assert_eq!(
                (&key[..2], &key[2 + n..]),
                (&b"##"[..], &b"##"[..]),
                "{n} bytes"
            );
        }
    }

    /// Rests of keys of every length up to 40 bytes, differing at each byte in turn (by one,
    /// and by the top bit) or not at all, order as the standard library orders their bytes.
    #[test]
    fn rests_order_as_their_bytes_do() {
        let base: Vec<u8> = (0..40u8).map(|b| b.wrapping_mul(37) | 1).collect();
        for n in 0..=40 {
            let a = &base[..n];
            assert_eq!(rest_order(a, a), std::cmp::Ordering::Equal, "{n} bytes");
            for at in 0..n {
                for change in [1u8, 0x80] {
                    let mut b = a.to_vec();
                    b[at] = b[at].wrapping_add(change);
                    assert_eq!(rest_order(a, &b), a.cmp(&b[..]), "{n} bytes, byte {at}");
                    assert_eq!(rest_order(&b, a), b[..].cmp(a), "{n} bytes, byte {at}");
                }
            }
        }
    }

    /// The radix sort and its ordering of ties against the standard library's sort of the
    /// same byte keys: keys of 3 to 30 bytes from alphabets of 2 to 128 letters, so that runs
    /// of equal first bytes are long (radix-sorted again) and short (compared), some bytes are
    /// the same in every key, and some keys are equal whole.
    #[test]
    fn entries_sort_as_their_bytes_do() {
        let mut next = draws(0x2545_f491_4f6c_dd1d);
        // (key bytes, keys, letters in the alphabet, the first byte that varies freely).
        let cases = [
            (3, 5000, 7, 1),
            (8, 3000, 3, 1),
            (13, 4000, 2, 1),
            (30, 2000, 4, 1),
            (30, 3000, 3, 20),
            // Hex digits (a person identifier's), forty letters and 128.
            (17, 5000, 16, 1),
            (12, 4000, 40, 1),
            (10, 3000, 128, 1),
        ];
        for (width, rows, alphabet, free_from) in cases {
            let keys: Vec<Vec<u8>> = (0..rows)
                .map(|_| {
                    (0..width)
                        .map(|byte| match byte {
                            // The same in every key.
                            0 => b'P',
                            // Two halves, then ties through the next twelve bytes.
                            3 if free_from > 1 => b'a' + next(2) as u8,
                            b if b < free_from => b'Q',
                            // Ties that reach past the first eight bytes.
                            _ => (1 + next(alphabet) * 30) as u8,
                        })
                        .collect()
                })
                .collect();
            let padded = width.max(ENTRY_KEY_BYTES);
            let mut entries = Vec::new();
            let mut rows_keys = Vec::new();
            for (row, key) in keys.iter().enumerate() {
                let mut key = key.clone();
                key.resize(padded, 0);
                entries.push(Entry::new(&key[..ENTRY_KEY_BYTES], row as u32));
                rows_keys.extend_from_slice(&key);
            }
            let order = sort_entries(entries, &rows_keys, padded);
            let ours: Vec<&Vec<u8>> = order.iter().map(|&row| &keys[row as usize]).collect();
            let mut expected: Vec<&Vec<u8>> = keys.iter().collect();
            expected.sort();
            assert_eq!(ours, expected, "keys of {width} bytes");
            let mut rows_seen = order.clone();
            rows_seen.sort_unstable();
            assert!(rows_seen.iter().enumerate().all(|(i, &r)| r as usize == i));
        }
    }

    /// A column of every type the sort takes, with NULLs, as sorts on them, ascending and
    /// descending, NULLs first and last, return them: key columns read back from the keys
    /// (alone, or beside columns gathered from the batches) against DataFusion's own sort of
    /// the same rows, column by column and type by type. Some 3000 rows in batches of 0 to 250.
    #[tokio::test]
    async fn key_columns_read_back_from_the_keys_are_the_rows_values() {
        use datafusion::arrow::array::{
            Date64Array, Int16Array, Int32Array, TimestampMicrosecondArray, UInt8Array,
            UInt16Array, UInt32Array, UInt64Array,
        };
        use datafusion::arrow::compute::concat_batches;
        let mut next = draws(0x9e37_79b9_7f4a_7c15);
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("i8", DataType::Int8, true),
            Field::new("i16", DataType::Int16, true),
            Field::new("i32", DataType::Int32, true),
            Field::new("u8", DataType::UInt8, true),
            Field::new("u16", DataType::UInt16, true),
            Field::new("u32", DataType::UInt32, true),
            Field::new("u64", DataType::UInt64, true),
            Field::new("d32", DataType::Date32, true),
            Field::new("d64", DataType::Date64, true),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("b", DataType::Boolean, true),
            Field::new("s", DataType::Utf8, true),
            Field::new("l", DataType::LargeUtf8, true),
            Field::new("v", DataType::Utf8View, false),
        ]));
        // Short enough that every sort's keys fit (MAX_KEY_BYTES), so none is handed on.
        let texts = ["", "a", "ab", "ab\0", "abc", "P0F1", "Pé", "b"];
        let mut batches = Vec::new();
        let mut id = 0i64;
        while id < 3000 {
            let rows = next(251) as usize;
            let mut draw = |nulls: bool| -> Vec<Option<i64>> {
                (0..rows)
                    .map(|_| match nulls && next(7) == 0 {
                        true => None,
                        false => Some(next(1 << 40) as i64 - (1 << 39)),
                    })
                    .collect()
            };
            let (a, b, c, d, e) = (draw(true), draw(true), draw(true), draw(true), draw(true));
            let text = |n: &Option<i64>| n.map(|n| texts[n.unsigned_abs() as usize % texts.len()]);
            let columns: Vec<ArrayRef> = vec![
                Arc::new((id..id + rows as i64).collect::<Int64Array>()),
                Arc::new(a.iter().map(|n| n.map(|n| n as i8)).collect::<Int8Array>()),
                Arc::new(
                    b.iter()
                        .map(|n| n.map(|n| n as i16))
                        .collect::<Int16Array>(),
                ),
                Arc::new(
                    c.iter()
                        .map(|n| n.map(|n| n as i32))
                        .collect::<Int32Array>(),
                ),
                Arc::new(
                    a.iter()
                        .map(|n| n.map(|n| n as u8 % 3))
                        .collect::<UInt8Array>(),
                ),
                Arc::new(
                    b.iter()
                        .map(|n| n.map(|n| n as u16))
                        .collect::<UInt16Array>(),
                ),
                Arc::new(
                    c.iter()
                        .map(|n| n.map(|n| n as u32 % 5))
                        .collect::<UInt32Array>(),
                ),
                Arc::new(
                    d.iter()
                        .map(|n| n.map(|n| n as u64))
                        .collect::<UInt64Array>(),
                ),
                Arc::new(
                    d.iter()
                        .map(|n| n.map(|n| (n % 40_000) as i32))
                        .collect::<Date32Array>(),
                ),
                Arc::new(
                    e.iter()
                        .map(|n| n.map(|n| n * 1000))
                        .collect::<Date64Array>(),
                ),
                Arc::new(
                    e.iter()
                        .copied()
                        .collect::<TimestampMicrosecondArray>()
                        .with_timezone("UTC"),
                ),
                Arc::new(
                    b.iter()
                        .map(|n| n.map(|n| n % 2 == 0))
                        .collect::<BooleanArray>(),
                ),
                Arc::new(c.iter().map(text).collect::<StringArray>()),
                Arc::new(d.iter().map(text).collect::<LargeStringArray>()),
                Arc::new(
                    e.iter()
                        .map(|n| text(&n.or(Some(3))))
                        .collect::<StringViewArray>(),
                ),
            ];
            batches.push(RecordBatch::try_new(Arc::clone(&schema), columns).unwrap());
            id += rows as i64;
        }
        let total = id as usize;
        let table = Arc::new(MemTable::try_new(Arc::clone(&schema), vec![batches]).unwrap());
        let context = |keyed: bool| {
            let mut builder = SessionStateBuilder::new()
                .with_config(SessionConfig::new().with_target_partitions(1))
                .with_default_features();
            if keyed {
                builder = builder.with_physical_optimizer_rule(Arc::new(KeySortRule));
            }
            let context = SessionContext::new_with_state(builder.build());
            context.register_table("t", table.clone()).unwrap();
            context
        };
        let (keyed, plain) = (context(true), context(false));
        for sql in [
            // Every column a key: all read back from the keys.
            "SELECT * FROM t ORDER BY u8 DESC NULLS FIRST, s, l DESC, v DESC, i8, i16 DESC,
             i32 NULLS FIRST, u16, u32 DESC NULLS LAST, u64, d32 DESC, d64, ts DESC NULLS FIRST,
             b DESC, id",
            "SELECT * FROM t ORDER BY b NULLS FIRST, u32, v, d32 NULLS FIRST, s DESC NULLS LAST,
             l NULLS FIRST, ts, d64 DESC, i8 DESC, i16, i32 DESC, u8, u16 DESC, u64 DESC, id DESC",
            // Some keys, the other columns gathered.
            "SELECT * FROM t ORDER BY l DESC NULLS LAST, i8 NULLS FIRST, id",
            "SELECT v, id, s, d32 FROM t ORDER BY v, s DESC, id",
        ] {
            let run = |context: SessionContext| async move {
                let frame = context.sql(sql).await.unwrap();
                let plan = frame.create_physical_plan().await.unwrap();
                let text = displayable(plan.as_ref()).indent(false).to_string();
                let rows = collect(Arc::clone(&plan), context.task_ctx())
                    .await
                    .unwrap();
                let metrics = DisplayableExecutionPlan::with_metrics(plan.as_ref())
                    .indent(true)
                    .to_string();
                let text = format!("{text}\n{metrics}");
                (text, concat_batches(&rows[0].schema(), &rows).unwrap())
            };
            let (plan, ours) = run(keyed.clone()).await;
            assert!(plan.contains("sorted_by_datafusion=0"), "{plan}");
            let (plan, theirs) = run(plain.clone()).await;
            assert!(!plan.contains("KeySortExec"), "{plan}");
            assert_eq!(ours.num_rows(), total, "{sql}");
            assert_eq!(ours.schema(), theirs.schema(), "{sql}");
            for (c, field) in ours.schema().fields().iter().enumerate() {
                assert_eq!(
                    ours.column(c).as_ref(),
                    theirs.column(c).as_ref(),
                    "{sql}: column {}",
                    field.name()
                );
            }
        }
    }
}
