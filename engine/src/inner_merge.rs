//! An inner merge join of two sides sorted on its keys, pairing runs of equal keys.
//!
//! [`crate::merge_join`] turns joins of people and events to cases into DataFusion's
//! `SortMergeJoinExec`, which spent 0.7-1.3 s of the entry and pathway queries' compute at
//! scale 1.0 (6.3M people, 13M events): it compares keys through Arrow's dynamic comparators,
//! buffers each key's rows on the other side as a batch of its own and copies every output row
//! through a join-index builder. An inner join needs much less. [`InnerMergeJoinExec`] walks the
//! two sides' keys as bytes (text as it is, other types in Arrow's row format), finds each run
//! of equal keys on either side (passing over the keys one side lacks in doubling strides), and
//! writes the pairs of a run's rows as row numbers. An output batch ends where either side
//! moves on to its next batch, so that its rows of a side are rows of one batch: sliced from
//! it where they are one stretch of it (the people of consecutive cases), taken from it where
//! they repeat (each case once per person). Rows with a NULL key meet nothing and are passed
//! over. The output is the sort-merge join's, in its order: by key, and within a key each
//! left row with every right row in turn. Runs that lie within both sides' current batches
//! (most of them: a case and its few people or events) are paired in one loop that awaits
//! nothing; a batch's end, a NULL key or a full output batch hands over to the path that
//! reads the next batch.
//!
//! It keeps the `SortMergeJoinExec` it replaces, for its plan properties (orderings,
//! partitioning, statistics, the projections pushed through it). A projection above it that
//! keeps only some of the columns (the entry queries drop both sides' `case_id` once joined) is
//! taken in, as DataFusion's hash join takes one: the columns dropped are never sliced or taken,
//! and the plan properties are those of that projection over the sort-merge join. Only inner
//! joins without a filter whose NULL keys meet nothing are done here; left and right joins stay
//! DataFusion's.

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, RecordBatch, RecordBatchOptions, StringArray, StringViewArray,
    UInt32Array,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::{SortOptions, take_record_batch};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::row::{RowConverter, Rows, SortField};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{JoinType, NullEquality, Result, internal_err};
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{OrderingRequirements, PhysicalExpr, PhysicalExprRef};
use datafusion::physical_plan::joins::SortMergeJoinExec;
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::projection::{
    EmbeddedProjection, ProjectionExec, ProjectionExpr, try_embed_projection,
};
use datafusion::physical_plan::statistics::{ChildStats, StatisticsArgs};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan,
    InputDistributionRequirements, PlanProperties, ReplaceChildrenOptions, Statistics,
};
use fjq_udfs::runs::bytes_eq;
use futures::StreamExt;
use std::cmp::Ordering;
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The inner merge join doing what `join` does, if it is one done here (module docs).
pub fn inner_merge(join: SortMergeJoinExec) -> Option<InnerMergeJoinExec> {
    (join.join_type() == JoinType::Inner
        && join.filter().is_none()
        && join.null_equality() == NullEquality::NullEqualsNothing)
        .then(|| InnerMergeJoinExec::new(join))
}

/// An inner join of two sides sorted on its keys (module docs).
#[derive(Debug, Clone)]
pub struct InnerMergeJoinExec {
    join: SortMergeJoinExec,
    /// The columns of the join's output it gives, if not all, and that projection over the
    /// sort-merge join, whose properties are this join's.
    projection: Option<(Vec<usize>, Arc<ProjectionExec>)>,
    metrics: ExecutionPlanMetricsSet,
}

impl InnerMergeJoinExec {
    fn new(join: SortMergeJoinExec) -> InnerMergeJoinExec {
        InnerMergeJoinExec {
            join,
            projection: None,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    /// This join over what `replaced` (the kept sort-merge join, given new children or a
    /// projection pushed below it) has become, giving the columns this one gives.
    fn wrap(&self, replaced: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
        match replaced.downcast_ref::<SortMergeJoinExec>() {
            Some(join) => Ok(Arc::new(
                InnerMergeJoinExec::new(join.clone())
                    .with_projection(self.projection.as_ref().map(|(c, _)| c.clone()))?,
            )),
            None => internal_err!("InnerMergeJoinExec's join became {}", replaced.name()),
        }
    }

    /// The columns of the join's output, by their places in it, that this join gives.
    fn given_columns(&self) -> Vec<usize> {
        match &self.projection {
            Some((columns, _)) => columns.clone(),
            None => (0..self.join.schema().fields().len()).collect(),
        }
    }
}

impl EmbeddedProjection for InnerMergeJoinExec {
    fn with_projection(&self, projection: Option<Vec<usize>>) -> Result<Self> {
        let projection = match projection {
            None => None,
            Some(columns) => {
                let join: Arc<dyn ExecutionPlan> = Arc::new(self.join.clone());
                let schema = join.schema();
                let mut exprs = Vec::with_capacity(columns.len());
                for &index in &columns {
                    let Some(field) = schema.fields().get(index) else {
                        return internal_err!(
                            "InnerMergeJoinExec projection: no column {index} of {}",
                            schema.fields().len()
                        );
                    };
                    exprs.push(ProjectionExpr {
                        expr: Arc::new(Column::new(field.name(), index)),
                        alias: field.name().clone(),
                    });
                }
                Some((columns, Arc::new(ProjectionExec::try_new(exprs, join)?)))
            }
        };
        Ok(InnerMergeJoinExec {
            join: self.join.clone(),
            projection,
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }
}

impl DisplayAs for InnerMergeJoinExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let on = self
            .join
            .on()
            .iter()
            .map(|(l, r)| format!("({l}, {r})"))
            .collect::<Vec<_>>()
            .join(", ");
        write!(f, "InnerMergeJoinExec: on=[{on}]")?;
        if let Some((columns, _)) = &self.projection {
            let schema = self.join.schema();
            let names: Vec<String> = columns
                .iter()
                .map(|&i| format!("{}@{i}", schema.field(i).name()))
                .collect();
            write!(f, ", projection=[{}]", names.join(", "))?;
        }
        Ok(())
    }
}

impl ExecutionPlan for InnerMergeJoinExec {
    fn name(&self) -> &str {
        "InnerMergeJoinExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        match &self.projection {
            Some((_, projection)) => projection.properties(),
            None => self.join.properties(),
        }
    }

    fn input_distribution_requirements(&self) -> InputDistributionRequirements {
        self.join.input_distribution_requirements()
    }

    fn required_input_ordering(&self) -> Vec<Option<OrderingRequirements>> {
        self.join.required_input_ordering()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        self.join.maintains_input_order()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        self.join.children()
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        self.join.apply_expressions(f)
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.wrap(Arc::new(self.join.clone()).replace_children(children, options)?)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let options = ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute);
        self.wrap(Arc::new(self.join.clone()).replace_children(children, options)?)
    }

    fn child_stats_requests(&self, partition: Option<usize>) -> Vec<ChildStats> {
        self.join.child_stats_requests(partition)
    }

    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        let joined = self.join.statistics_from_inputs(input_stats, args)?;
        match &self.projection {
            Some((_, projection)) => projection.statistics_from_inputs(&[joined], args),
            None => Ok(joined),
        }
    }

    /// Pushes the projection below the join where the sort-merge join can, else takes in the
    /// columns it keeps.
    fn try_swapping_with_projection(
        &self,
        projection: &ProjectionExec,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        if self.projection.is_some() {
            return Ok(None);
        }
        match self.join.try_swapping_with_projection(projection)? {
            Some(swapped) => self.wrap(swapped).map(Some),
            None => try_embed_projection(projection, self),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let (left_keys, right_keys): (Vec<PhysicalExprRef>, Vec<PhysicalExprRef>) =
            self.join.on().iter().cloned().unzip();
        let sides = [
            (self.join.left(), left_keys, "left"),
            (self.join.right(), right_keys, "right"),
        ];
        let [left, right] = sides.map(|(input, keys, name)| -> Result<Side> {
            let stream = input.execute(partition, Arc::clone(&context))?;
            let reservation =
                MemoryConsumer::new(format!("InnerMergeJoinExec[{partition}] {name}"))
                    .register(context.memory_pool());
            Side::new(stream, keys, self.join.sort_options(), reservation)
        });
        let schema = self.schema();
        let merge = Merge {
            left: left?,
            right: right?,
            left_run: Vec::new(),
            right_run: Vec::new(),
            progress: None,
            pending: Pending::default(),
            schema: Arc::clone(&schema),
            columns: Columns::new(
                self.given_columns(),
                self.join.left().schema().fields().len(),
            ),
            batch_size: context.session_config().batch_size(),
            baseline: BaselineMetrics::new(&self.metrics, partition),
        };
        let batches = futures::stream::try_unfold(merge, |mut merge| async move {
            let batch = merge.next_batch().await?;
            Ok(batch.map(|batch| (batch, merge)))
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, batches)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// A partition's join in progress.
struct Merge {
    left: Side,
    right: Side,
    /// The rows of the run of equal keys being paired, on each side (buffers kept between
    /// runs).
    left_run: Vec<Stretch>,
    right_run: Vec<Stretch>,
    /// How far that run is paired; `None` between runs.
    progress: Option<Progress>,
    pending: Pending,
    schema: SchemaRef,
    columns: Columns,
    batch_size: usize,
    baseline: BaselineMetrics,
}

/// Rows `start..end` of a side's held batch `slot`. A run's stretches stay valid while it is
/// paired: a side lets go of batches only when asked for its next key.
#[derive(Clone, Copy)]
struct Stretch {
    slot: usize,
    start: usize,
    end: usize,
}

/// The next pairs of a run to write: left stretch `left`'s row `row` with right stretch `right`.
struct Progress {
    left: usize,
    row: usize,
    right: usize,
}

impl Merge {
    /// The next output batch, or `None` when one side has no rows left.
    async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let started = Instant::now();
        let waited_before = self.left.waited + self.right.waited;
        let batch = self.pair_until_full().await;
        let waited = self.left.waited + self.right.waited - waited_before;
        self.baseline
            .elapsed_compute()
            .add_duration(started.elapsed().saturating_sub(waited));
        let batch = batch?;
        if let Some(batch) = &batch {
            self.baseline.record_output(batch.num_rows());
        }
        Ok(batch)
    }

    async fn pair_until_full(&mut self) -> Result<Option<RecordBatch>> {
        loop {
            if self.progress.is_none() && self.pair_in_front_batches() {
                return self.pending.output(&self.schema, &self.columns).map(Some);
            }
            if let Some(progress) = &mut self.progress {
                let (left, right) = (&self.left, &self.right);
                let (left_run, right_run) = (&self.left_run, &self.right_run);
                match self.pending.add_pairs(
                    left_run,
                    right_run,
                    progress,
                    left,
                    right,
                    self.batch_size,
                ) {
                    true => self.progress = None,
                    false => return self.pending.output(&self.schema, &self.columns).map(Some),
                }
                continue;
            }
            let (Some(left), Some(right)) = (self.left.key().await?, self.right.key().await?)
            else {
                return match self.pending.rows() {
                    0 => Ok(None),
                    _ => self.pending.output(&self.schema, &self.columns).map(Some),
                };
            };
            match self.left.key_at(left).cmp(self.right.key_at(right)) {
                Ordering::Less => self.left.pass_below(self.right.key_at(right)),
                Ordering::Greater => self.right.pass_below(self.left.key_at(left)),
                Ordering::Equal => {
                    self.left.run(&mut self.left_run).await?;
                    self.right.run(&mut self.right_run).await?;
                    self.progress = Some(Progress {
                        left: 0,
                        row: self.left_run[0].start,
                        right: 0,
                    });
                }
            }
        }
    }
}

impl Merge {
    /// Pairs the runs of equal keys that lie within both sides' first held batches, without
    /// awaiting anything; true when the output batch is full. It stops, for
    /// [`Merge::pair_until_full`] to go on, where a side's next row is NULL or past its batch,
    /// a run reaches its batch's end (it may go on into the next), the pending pairs are of
    /// other batches, or a run's pairs would overfill the output batch. Most of a join of
    /// people or events to cases is runs of a case and its few rows on the other side, and
    /// each cost four awaited calls on that path.
    fn pair_in_front_batches(&mut self) -> bool {
        let (left, right) = (&mut self.left, &mut self.right);
        let (Some(left_held), Some(right_held)) = (left.held.front(), right.held.front()) else {
            return false;
        };
        if left.slot != 0
            || right.slot != 0
            || !self.pending.left.takes(left_held)
            || !self.pending.right.takes(right_held)
        {
            return false;
        }
        let (left_keys, right_keys) = (&left_held.keys, &right_held.keys);
        let (left_rows, right_rows) = (left_held.batch.num_rows(), right_held.batch.num_rows());
        loop {
            let pending = self.pending.rows();
            if pending >= self.batch_size {
                return true;
            }
            let (l, r) = (left.row, right.row);
            if l >= left_rows || r >= right_rows || left_keys.is_null(l) || right_keys.is_null(r) {
                return false;
            }
            let (left_key, right_key) = (left_keys.bytes(l), right_keys.bytes(r));
            match left_key.cmp(right_key) {
                Ordering::Less => left.row = left_keys.past_below(l, left_rows, right_key),
                Ordering::Greater => right.row = right_keys.past_below(r, right_rows, left_key),
                Ordering::Equal => {
                    let left_end = left_keys.run_end(l + 1, left_rows, left_key);
                    let right_end = right_keys.run_end(r + 1, right_rows, right_key);
                    let (Some(left_end), Some(right_end)) = (left_end, right_end) else {
                        return false;
                    };
                    let (left_run, right_run) = (left_end - l, right_end - r);
                    if pending + left_run * right_run > self.batch_size {
                        return false;
                    }
                    self.pending.left.hold(left_held);
                    self.pending.right.hold(right_held);
                    for row in l..left_end {
                        self.pending.pair(row, r..right_end);
                    }
                    (left.row, right.row) = (left_end, right_end);
                }
            }
        }
    }
}

/// One side of the join: its input, the batches held (the one its next row is in, and while a
/// run is paired the run's earlier ones), and the time spent waiting for its input.
struct Side {
    input: SendableRecordBatchStream,
    keys: Vec<PhysicalExprRef>,
    /// Writes keys that are not a single text column as bytes that compare as they do.
    converter: Option<RowConverter>,
    held: VecDeque<Held>,
    /// The next row: row `row` of held batch `slot`.
    slot: usize,
    row: usize,
    /// Batches read so far.
    loaded: usize,
    finished: bool,
    /// A run's key, kept while the run goes on into the next batch.
    run_key: Vec<u8>,
    reservation: MemoryReservation,
    waited: Duration,
}

/// A batch held by a side, and its rows' keys.
struct Held {
    batch: RecordBatch,
    keys: Keys,
    /// Its place among the side's batches, by which pending pairs know it.
    number: usize,
}

/// A batch's join keys, as bytes that compare in the sides' order.
enum Keys {
    Text(StringArray),
    TextView(StringViewArray),
    Rows(Rows, Option<NullBuffer>),
}

impl Keys {
    fn bytes(&self, row: usize) -> &[u8] {
        match self {
            Keys::Text(text) => text.value(row).as_bytes(),
            Keys::TextView(text) => text.value(row).as_bytes(),
            Keys::Rows(rows, _) => rows.row(row).data(),
        }
    }

    fn is_null(&self, row: usize) -> bool {
        match self {
            Keys::Text(text) => text.is_null(row),
            Keys::TextView(text) => text.is_null(row),
            Keys::Rows(_, nulls) => nulls.as_ref().is_some_and(|n| n.is_null(row)),
        }
    }

    /// Whether row `row` has the key `key` (a NULL key has none). Compared in line: a call to
    /// `memcmp` for each row of a run cost more than the comparison of an identifier.
    fn has(&self, row: usize, key: &[u8]) -> bool {
        !self.is_null(row) && bytes_eq(self.bytes(row), key)
    }

    /// The first row from `from` on (of `rows`) whose key is not `key`, if any.
    fn run_end(&self, from: usize, rows: usize, key: &[u8]) -> Option<usize> {
        (from..rows).find(|&row| !self.has(row, key))
    }

    /// The row to look at after row `row`, whose key is below `key`: the first not below it
    /// ([`Keys::first_not_below`]), or in a batch with NULL keys the next row, as its NULLs
    /// sit outside the keys' byte order.
    fn past_below(&self, row: usize, rows: usize, key: &[u8]) -> usize {
        match self.has_nulls() {
            true => row + 1,
            false => self.first_not_below(row, rows, key),
        }
    }

    /// Whether any row's key is NULL.
    fn has_nulls(&self) -> bool {
        match self {
            Keys::Text(text) => text.null_count() > 0,
            Keys::TextView(text) => text.null_count() > 0,
            Keys::Rows(_, nulls) => nulls.as_ref().is_some_and(|n| n.null_count() > 0),
        }
    }

    /// The first row from `from` on (of `rows`) whose key is not below `key`, or `rows`; row
    /// `from`'s key is below it. The keys ascend, so the rows below `key` are found in steps
    /// that double until one passes it, then halve back: a few comparisons pass over the many
    /// rows of the cases the other side has not (the 9.5M events of cases of other types when
    /// events are joined to the private law cases), where stepping a row at a time took a
    /// comparison for every row.
    fn first_not_below(&self, from: usize, rows: usize, key: &[u8]) -> usize {
        let below = |row: usize| self.bytes(row) < key;
        let (mut low, mut step) = (from, 1);
        while from + step < rows && below(from + step) {
            low = from + step;
            step *= 2;
        }
        // The answer is in low + 1 ..= high.
        let (mut low, mut high) = (low + 1, (from + step).min(rows));
        while low < high {
            let middle = low + (high - low) / 2;
            match below(middle) {
                true => low = middle + 1,
                false => high = middle,
            }
        }
        low
    }
}

impl Side {
    fn new(
        input: SendableRecordBatchStream,
        keys: Vec<PhysicalExprRef>,
        options: &[SortOptions],
        reservation: MemoryReservation,
    ) -> Result<Side> {
        let schema = input.schema();
        let types = keys
            .iter()
            .map(|key| key.data_type(&schema))
            .collect::<Result<Vec<_>>>()?;
        // Text in ascending order compares as its bytes; anything else goes through rows.
        let as_text =
            matches!(types[..], [DataType::Utf8 | DataType::Utf8View]) && !options[0].descending;
        let converter = match as_text {
            true => None,
            false => Some(RowConverter::new(
                types
                    .into_iter()
                    .zip(options)
                    .map(|(data_type, &options)| SortField::new_with_options(data_type, options))
                    .collect(),
            )?),
        };
        Ok(Side {
            input,
            keys,
            converter,
            held: VecDeque::new(),
            slot: 0,
            row: 0,
            loaded: 0,
            finished: false,
            run_key: Vec::new(),
            reservation,
            waited: Duration::ZERO,
        })
    }

    /// The next row whose key is not NULL, as a row of the first held batch (letting go of
    /// the batches before it); `None` when there is none.
    async fn key(&mut self) -> Result<Option<usize>> {
        for _ in 0..std::mem::take(&mut self.slot) {
            self.let_go();
        }
        loop {
            match self.held.front() {
                Some(front) if self.row < front.batch.num_rows() => {
                    if !front.keys.is_null(self.row) {
                        return Ok(Some(self.row));
                    }
                    self.row += 1;
                }
                Some(_) => {
                    self.let_go();
                    self.row = 0;
                }
                None => {
                    if !self.load().await? {
                        return Ok(None);
                    }
                }
            }
        }
    }

    fn let_go(&mut self) {
        if let Some(done) = self.held.pop_front() {
            let size = done.batch.get_array_memory_size();
            self.reservation.shrink(size.min(self.reservation.size()));
        }
    }

    /// The key of row `row` of the first held batch.
    fn key_at(&self, row: usize) -> &[u8] {
        self.held[0].keys.bytes(row)
    }

    /// Moves past the next row, whose key is below `key` (the other side's next), and the rows
    /// after it in its batch whose keys are below `key` too: none of them meets a row.
    fn pass_below(&mut self, key: &[u8]) {
        let front = &self.held[0];
        self.row = front.keys.past_below(self.row, front.batch.num_rows(), key);
    }

    /// Writes into `stretches` the rows, from the next one (in the first held batch) on, whose
    /// key is the next row's, and moves past them.
    async fn run(&mut self, stretches: &mut Vec<Stretch>) -> Result<()> {
        stretches.clear();
        let first = &self.held[0];
        let rows = first.batch.num_rows();
        let start = self.row;
        let key = first.keys.bytes(start);
        let end = first.keys.run_end(start + 1, rows, key).unwrap_or(rows);
        stretches.push(Stretch {
            slot: 0,
            start,
            end,
        });
        self.row = end;
        if end < rows {
            return Ok(());
        }
        // The run may go on into the next batches.
        self.run_key.clear();
        self.run_key.extend_from_slice(key);
        while self.load().await? {
            let slot = self.held.len() - 1;
            let held = &self.held[slot];
            let rows = held.batch.num_rows();
            let end = held.keys.run_end(0, rows, &self.run_key).unwrap_or(rows);
            if end > 0 {
                stretches.push(Stretch {
                    slot,
                    start: 0,
                    end,
                });
            }
            (self.slot, self.row) = (slot, end);
            if end < rows {
                break;
            }
        }
        Ok(())
    }

    /// Reads the next batch with rows; false at the end of the input.
    async fn load(&mut self) -> Result<bool> {
        while !self.finished {
            let started = Instant::now();
            let next = self.input.next().await;
            self.waited += started.elapsed();
            let Some(batch) = next.transpose()? else {
                self.finished = true;
                break;
            };
            if batch.num_rows() == 0 {
                continue;
            }
            self.reservation.try_grow(batch.get_array_memory_size())?;
            let keys = self.keys_of(&batch)?;
            self.held.push_back(Held {
                batch,
                keys,
                number: self.loaded,
            });
            self.loaded += 1;
            return Ok(true);
        }
        Ok(false)
    }

    fn keys_of(&self, batch: &RecordBatch) -> Result<Keys> {
        let columns = self
            .keys
            .iter()
            .map(|key| key.evaluate(batch)?.into_array(batch.num_rows()))
            .collect::<Result<Vec<ArrayRef>>>()?;
        Ok(match &self.converter {
            None => match columns[0].data_type() {
                DataType::Utf8View => Keys::TextView(columns[0].as_string_view().clone()),
                _ => Keys::Text(columns[0].as_string::<i32>().clone()),
            },
            Some(converter) => {
                // A row with any NULL key meets nothing.
                let nulls = columns.iter().fold(None, |nulls, column| {
                    NullBuffer::union(nulls.as_ref(), column.logical_nulls().as_ref())
                });
                Keys::Rows(converter.convert_columns(&columns)?, nulls)
            }
        })
    }
}

/// The columns a join gives: those of each side's batches to slice or take, and the order of
/// the output's columns among them (the left side's, then the right's).
struct Columns {
    left: Vec<usize>,
    right: Vec<usize>,
    order: Vec<usize>,
}

impl Columns {
    /// For the join's output columns `given` (places in the left side's columns, then the
    /// right's), of which the left side has `left_width`.
    fn new(given: Vec<usize>, left_width: usize) -> Columns {
        let mut left: Vec<usize> = given.iter().copied().filter(|&i| i < left_width).collect();
        let mut right: Vec<usize> = given.iter().copied().filter(|&i| i >= left_width).collect();
        left.sort_unstable();
        left.dedup();
        right.sort_unstable();
        right.dedup();
        let order = given
            .iter()
            .map(|i| match i.checked_sub(left_width) {
                None => left.binary_search(i).unwrap_or_default(),
                Some(_) => left.len() + right.binary_search(i).unwrap_or_default(),
            })
            .collect();
        let right = right.into_iter().map(|i| i - left_width).collect();
        Columns { left, right, order }
    }
}

/// Pairs written and not yet output. Each output batch's rows of a side come from one of its
/// batches, so that they can be sliced or taken from it (module docs).
#[derive(Default)]
struct Pending {
    left: PendingSide,
    right: PendingSide,
}

#[derive(Default)]
struct PendingSide {
    /// The side's batch the rows are of, and its number.
    batch: Option<(usize, RecordBatch)>,
    rows: Vec<u32>,
}

impl PendingSide {
    /// Whether pairs with rows of `held` may join the pending ones.
    fn takes(&self, held: &Held) -> bool {
        self.batch
            .as_ref()
            .is_none_or(|(number, _)| *number == held.number)
    }

    fn hold(&mut self, held: &Held) {
        if self.batch.is_none() {
            self.batch = Some((held.number, held.batch.clone()));
        }
    }

    /// The pending rows' columns `wanted` of their batch: a slice of it where they are one
    /// stretch of it, else taken from it.
    fn columns(&mut self, wanted: &[usize]) -> Result<Vec<ArrayRef>> {
        let rows = std::mem::take(&mut self.rows);
        let Some((_, batch)) = self.batch.take() else {
            return internal_err!("InnerMergeJoinExec output without rows");
        };
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let batch = batch.project(wanted)?;
        let first = rows[0];
        let stretch = rows.iter().zip(first..).all(|(&row, i)| row == i);
        let batch = match stretch {
            true => batch.slice(first as usize, rows.len()),
            false => take_record_batch(&batch, &UInt32Array::from(rows))?,
        };
        Ok(batch.columns().to_vec())
    }
}

impl Pending {
    fn rows(&self) -> usize {
        self.left.rows.len()
    }

    /// Writes a run's pairs from `progress` on until the output batch is full or a pair's row
    /// is of another batch than the pending ones; true when the run is written.
    fn add_pairs(
        &mut self,
        left_run: &[Stretch],
        right_run: &[Stretch],
        progress: &mut Progress,
        left: &Side,
        right: &Side,
        batch_size: usize,
    ) -> bool {
        while let Some(left_stretch) = left_run.get(progress.left) {
            let right_stretch = right_run[progress.right];
            let left_held = &left.held[left_stretch.slot];
            let right_held = &right.held[right_stretch.slot];
            if self.rows() >= batch_size
                || !self.left.takes(left_held)
                || !self.right.takes(right_held)
            {
                return false;
            }
            self.left.hold(left_held);
            self.right.hold(right_held);
            self.pair(progress.row, right_stretch.start..right_stretch.end);
            progress.right += 1;
            if progress.right == right_run.len() {
                progress.right = 0;
                progress.row += 1;
                if progress.row == left_stretch.end {
                    // A run's later stretches begin their batches.
                    progress.left += 1;
                    progress.row = 0;
                }
            }
        }
        true
    }

    /// Writes the pairs of left row `left` with each of the right rows `right`, in turn.
    fn pair(&mut self, left: usize, right: std::ops::Range<usize>) {
        self.left
            .rows
            .extend(std::iter::repeat_n(left as u32, right.len()));
        self.right.rows.extend(right.start as u32..right.end as u32);
    }

    fn output(&mut self, schema: &SchemaRef, given: &Columns) -> Result<RecordBatch> {
        let rows = self.rows();
        let mut made = self.left.columns(&given.left)?;
        made.extend(self.right.columns(&given.right)?);
        let columns = given.order.iter().map(|&i| Arc::clone(&made[i])).collect();
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(schema),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray, StringViewArray};
    use datafusion::arrow::datatypes::{Field, Int64Type, Schema};
    use datafusion::datasource::memory::MemorySourceConfig;
    use datafusion::datasource::source::DataSourceExec;
    use datafusion::physical_expr::PhysicalSortExpr;
    use datafusion::physical_expr::expressions::col;
    use datafusion::physical_plan::displayable;
    use datafusion::prelude::{SessionConfig, SessionContext};

    /// A side's rows: (key, value), in batches.
    type Rows<'a> = &'a [&'a [(Option<&'a str>, i64)]];

    /// Keys sorted with NULLs last. Left: `b`'s three rows straddle a batch end, an empty
    /// batch, `a` and `c` meet nothing. Right: `b`'s two rows straddle a batch end, `d`'s three
    /// rows two batches, `c` has no left row, NULLs on both sides.
    const LEFT: Rows = &[
        &[(Some("a"), 1), (Some("b"), 2), (Some("b"), 3)],
        &[(Some("b"), 4), (Some("d"), 5)],
        &[],
        &[(Some("e"), 6), (None, 7)],
    ];
    const RIGHT: Rows = &[
        &[(Some("b"), 10)],
        &[
            (Some("b"), 11),
            (Some("c"), 12),
            (Some("d"), 13),
            (Some("d"), 14),
        ],
        &[(Some("d"), 15), (Some("e"), 16), (None, 17), (None, 18)],
    ];

    /// The pairs of left and right values, worked by hand: each key's left rows in order, each
    /// with each of the key's right rows in order.
    const PAIRS: &[(i64, i64)] = &[
        (2, 10),
        (2, 11),
        (3, 10),
        (3, 11),
        (4, 10),
        (4, 11),
        (5, 13),
        (5, 14),
        (5, 15),
        (6, 16),
    ];

    /// The key column: as text, text views, or numbers (`a` = 1, `b` = 2, ...) compared as
    /// rows.
    fn keys(keys: &[Option<&str>], data_type: &DataType) -> ArrayRef {
        match data_type {
            DataType::Utf8 => Arc::new(keys.iter().copied().collect::<StringArray>()),
            DataType::Utf8View => Arc::new(keys.iter().copied().collect::<StringViewArray>()),
            _ => Arc::new(
                keys.iter()
                    .map(|k| k.map(|k| i64::from(k.as_bytes()[0] - b'a' + 1)))
                    .collect::<Int64Array>(),
            ),
        }
    }

    fn side(rows: Rows, data_type: &DataType, value: &str) -> Arc<dyn ExecutionPlan> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", data_type.clone(), true),
            Field::new(value, DataType::Int64, false),
        ]));
        let batches = rows
            .iter()
            .map(|rows| {
                let key: Vec<_> = rows.iter().map(|r| r.0).collect();
                let values: Int64Array = rows.iter().map(|r| Some(r.1)).collect();
                RecordBatch::try_new(
                    Arc::clone(&schema),
                    vec![keys(&key, data_type), Arc::new(values)],
                )
                .unwrap()
            })
            .collect();
        // Declared sorted on the key, as a merge join's sides are.
        let sorted =
            PhysicalSortExpr::new(col("k", &schema).unwrap(), SortOptions::new(false, false));
        let source = MemorySourceConfig::try_new(&[batches], schema, None)
            .unwrap()
            .try_with_sort_information(vec![[sorted].into()])
            .unwrap();
        DataSourceExec::from_data_source(source)
    }

    /// The join of `left` and `right` on `k`, in batches of `batch_size`: its batches.
    async fn join(
        left: Rows<'_>,
        right: Rows<'_>,
        data_type: &DataType,
        batch_size: usize,
    ) -> Vec<RecordBatch> {
        run(Arc::new(plan(left, right, data_type)), batch_size).await
    }

    /// The inner merge join of `left` and `right` on `k`: columns `k`, `l`, `k`, `r`.
    fn plan(left: Rows<'_>, right: Rows<'_>, data_type: &DataType) -> InnerMergeJoinExec {
        let (left, right) = (side(left, data_type, "l"), side(right, data_type, "r"));
        let on = vec![(
            col("k", &left.schema()).unwrap(),
            col("k", &right.schema()).unwrap(),
        )];
        let sort_merge = SortMergeJoinExec::try_new(
            left,
            right,
            on,
            None,
            JoinType::Inner,
            vec![SortOptions::new(false, false)],
            NullEquality::NullEqualsNothing,
        )
        .unwrap();
        inner_merge(sort_merge).expect("an inner join is merged here")
    }

    /// `plan`'s batches, of `batch_size` rows at most.
    async fn run(plan: Arc<dyn ExecutionPlan>, batch_size: usize) -> Vec<RecordBatch> {
        let config = SessionConfig::new().with_batch_size(batch_size);
        let context = SessionContext::new_with_config(config);
        let stream = plan.execute(0, context.task_ctx()).unwrap();
        stream.map(|b| b.unwrap()).collect().await
    }

    /// A projection of `columns` (a column of the join's output and its output name) over
    /// `join`, as DataFusion plans one.
    fn projection(join: &InnerMergeJoinExec, columns: &[(usize, &str)]) -> ProjectionExec {
        let schema = join.schema();
        let exprs = columns.iter().map(|&(i, alias)| ProjectionExpr {
            expr: Arc::new(Column::new(schema.field(i).name(), i)),
            alias: alias.to_string(),
        });
        ProjectionExec::try_new(exprs, Arc::new(join.clone())).unwrap()
    }

    /// The (left value, right value) of every output row.
    fn pairs(batches: &[RecordBatch]) -> Vec<(i64, i64)> {
        batches
            .iter()
            .flat_map(|batch| {
                let left = batch
                    .column(1)
                    .as_primitive::<Int64Type>()
                    .values()
                    .to_vec();
                let right = batch
                    .column(3)
                    .as_primitive::<Int64Type>()
                    .values()
                    .to_vec();
                left.into_iter().zip(right)
            })
            .collect()
    }

    #[tokio::test]
    async fn runs_straddling_batches_pair_in_order_and_null_keys_meet_nothing() {
        for data_type in [DataType::Utf8, DataType::Utf8View, DataType::Int64] {
            for batch_size in [1, 2, 3, 8192] {
                let batches = join(LEFT, RIGHT, &data_type, batch_size).await;
                assert_eq!(
                    pairs(&batches),
                    PAIRS,
                    "{data_type}, batches of {batch_size}"
                );
                // The keys come out with their rows: each pair's two keys are the same.
                for batch in &batches {
                    assert_eq!(batch.column(0), batch.column(2), "{data_type}");
                    assert_eq!(batch.column(0).null_count(), 0, "{data_type}");
                }
            }
        }
    }

    #[tokio::test]
    async fn long_stretches_of_keys_the_other_side_lacks_are_passed_over() {
        // Many: every letter, four rows each, in batches of 30 (runs cut by batch ends). Few:
        // `c` twice, then `d`, `q` and `z`, far apart in the many rows. Each way round, the
        // pairs are those of a nested loop over both sides' rows, in the join's order.
        let letters: Vec<String> = (b'a'..=b'z').map(|b| char::from(b).to_string()).collect();
        let many_rows: Vec<(Option<&str>, i64)> = letters
            .iter()
            .flat_map(|l| std::iter::repeat_n(Some(l.as_str()), 4))
            .zip(100..)
            .collect();
        let many: Vec<&[(Option<&str>, i64)]> = many_rows.chunks(30).collect();
        let few_rows = [
            (Some("c"), 1),
            (Some("c"), 2),
            (Some("d"), 3),
            (Some("q"), 4),
        ];
        let few: Rows = &[&few_rows, &[(Some("z"), 5)]];
        let nested_loop = |left: &[(Option<&str>, i64)], right: &[(Option<&str>, i64)]| {
            let mut pairs = Vec::new();
            for (lk, lv) in left {
                for (rk, rv) in right {
                    if lk == rk {
                        pairs.push((*lv, *rv));
                    }
                }
            }
            pairs
        };
        let few_flat: Vec<_> = few.concat();
        for data_type in [DataType::Utf8, DataType::Utf8View, DataType::Int64] {
            for batch_size in [3, 8192] {
                let batches = join(few, &many, &data_type, batch_size).await;
                let expected = nested_loop(&few_flat, &many_rows);
                assert_eq!(expected.len(), 20);
                assert_eq!(pairs(&batches), expected, "{data_type}, few left");
                // The other way round the pairs come by the many side's rows, as a nested loop
                // over it gives them.
                let batches = join(&many, few, &data_type, batch_size).await;
                let expected = nested_loop(&many_rows, &few_flat);
                assert_eq!(pairs(&batches), expected, "{data_type}, few right");
            }
        }
    }

    #[tokio::test]
    async fn runs_within_batches_pair_as_a_nested_loop_does() {
        // Keys `a` to `x`, each 0 to 3 times on each side (some on one side only), NULLs last,
        // cut into batches of 5, 7 or 100 rows: most runs lie within a batch, some reach its
        // end. The pairs are a nested loop's over both sides (left rows sorted by key), in
        // output batches of 1 to 7 rows (a run's pairs overfilling the batch, `c` with 3 x 3
        // of them among them) and of 8192.
        let letters: Vec<String> = (b'a'..=b'x').map(|b| char::from(b).to_string()).collect();
        let side_rows = |times: &dyn Fn(usize) -> usize, nulls: usize, from: i64| {
            let mut keys: Vec<Option<&str>> = letters
                .iter()
                .enumerate()
                .flat_map(|(i, l)| std::iter::repeat_n(Some(l.as_str()), times(i)))
                .collect();
            keys.extend(std::iter::repeat_n(None, nulls));
            keys.into_iter()
                .zip(from..)
                .collect::<Vec<(Option<&str>, i64)>>()
        };
        let left_rows = side_rows(&|i| (i * 7 + 3) % 4, 2, 1);
        let right_rows = side_rows(&|i| (i * 5 + 3) % 4, 3, 1000);
        let expected: Vec<(i64, i64)> = left_rows
            .iter()
            .flat_map(|(lk, lv)| {
                right_rows
                    .iter()
                    .filter(move |(rk, _)| lk.is_some() && lk == rk)
                    .map(move |(_, rv)| (*lv, *rv))
            })
            .collect();
        assert!(expected.len() > 40);
        for side_batch in [5, 7, 100] {
            let left: Vec<&[(Option<&str>, i64)]> = left_rows.chunks(side_batch).collect();
            let right: Vec<&[(Option<&str>, i64)]> = right_rows.chunks(side_batch).collect();
            for data_type in [DataType::Utf8, DataType::Int64] {
                for batch_size in [1, 2, 4, 7, 8192] {
                    let batches = join(&left, &right, &data_type, batch_size).await;
                    let case = format!("{data_type}, sides in {side_batch}, out in {batch_size}");
                    assert_eq!(pairs(&batches), expected, "{case}");
                }
            }
        }
    }

    #[tokio::test]
    async fn an_output_batch_ends_where_either_sides_batch_changes() {
        // Every row is `b`: nine pairs. Each left row's pairs with the right's first batch and
        // with its second go out apart, and so do left rows of different batches.
        let left: Rows = &[&[(Some("b"), 1), (Some("b"), 2)], &[(Some("b"), 3)]];
        let right: Rows = &[&[(Some("b"), 10), (Some("b"), 11)], &[(Some("b"), 12)]];
        let batches = join(left, right, &DataType::Utf8, 8192).await;
        let expected: Vec<(i64, i64)> = (1..=3)
            .flat_map(|l| (10..=12).map(move |r| (l, r)))
            .collect();
        assert_eq!(pairs(&batches), expected);
        let sizes: Vec<usize> = batches.iter().map(RecordBatch::num_rows).collect();
        assert_eq!(sizes, [2, 1, 2, 1, 2, 1]);
    }

    #[tokio::test]
    async fn an_empty_text_key_does_not_meet_the_null_keys_after_it() {
        // Text NULLs have no bytes, as the empty text has none: only the NULL marks them.
        let left: Rows = &[&[(Some(""), 1), (None, 2)]];
        let right: Rows = &[&[(Some(""), 3), (None, 4)], &[(None, 5)]];
        for data_type in [DataType::Utf8, DataType::Utf8View] {
            let batches = join(left, right, &data_type, 8192).await;
            assert_eq!(pairs(&batches), [(1, 3)], "{data_type}");
        }
    }

    #[tokio::test]
    async fn a_projection_taken_in_gives_its_columns_in_its_order() {
        // The right value, then the left, then the right key: the keys' rows are never made.
        let join = plan(LEFT, RIGHT, &DataType::Utf8);
        let projection = projection(&join, &[(3, "r"), (1, "l"), (2, "k")]);
        let taken = join
            .try_swapping_with_projection(&projection)
            .unwrap()
            .expect("the projection is taken in");
        let taken_join = taken.downcast_ref::<InnerMergeJoinExec>();
        assert!(taken_join.is_some(), "no projection left above it");
        let schema = taken.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["r", "l", "k"]);
        // Its properties are the projection's: still sorted on the key, now column 2.
        let sorted_on_key = PhysicalSortExpr::new(
            col("k", &taken.schema()).unwrap(),
            SortOptions::new(false, false),
        );
        assert!(
            taken
                .properties()
                .equivalence_properties()
                .ordering_satisfy([sorted_on_key])
                .unwrap()
        );
        assert!(
            displayable(taken.as_ref())
                .one_line()
                .to_string()
                .contains("projection=[r@3, l@1, k@2]")
        );
        for batch_size in [1, 2, 8192] {
            let batches = run(Arc::clone(&taken), batch_size).await;
            let mut got = Vec::new();
            for batch in &batches {
                assert_eq!(batch.num_columns(), 3);
                let r = batch.column(0).as_primitive::<Int64Type>().values();
                let l = batch.column(1).as_primitive::<Int64Type>().values();
                got.extend(l.iter().copied().zip(r.iter().copied()));
            }
            assert_eq!(got, PAIRS, "batches of {batch_size}");
        }
    }

    #[tokio::test]
    async fn a_projection_renaming_a_column_stays_above_the_join_it_narrows() {
        // DataFusion's rename of `r` to `who` is left to a projection over the narrowed join.
        let join = plan(LEFT, RIGHT, &DataType::Utf8View);
        let projection = projection(&join, &[(3, "who")]);
        let taken = join
            .try_swapping_with_projection(&projection)
            .unwrap()
            .unwrap();
        assert_eq!(taken.schema().field(0).name(), "who");
        let narrowed = &taken.children()[0];
        assert_eq!(narrowed.name(), "InnerMergeJoinExec");
        assert_eq!(narrowed.schema().fields().len(), 1);
        let batches = run(taken, 4).await;
        let who: Vec<i64> = batches
            .iter()
            .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
            .collect();
        let expected: Vec<i64> = PAIRS.iter().map(|p| p.1).collect();
        assert_eq!(who, expected);
    }

    #[tokio::test]
    async fn a_projection_of_no_columns_counts_the_pairs() {
        // `count(*)` over a join keeps none of its columns: batches of rows without columns.
        let join = plan(LEFT, RIGHT, &DataType::Utf8);
        let taken = join
            .try_swapping_with_projection(&projection(&join, &[]))
            .unwrap()
            .unwrap();
        assert_eq!(taken.schema().fields().len(), 0);
        for batch_size in [1, 4, 8192] {
            let batches = run(Arc::clone(&taken), batch_size).await;
            assert!(batches.iter().all(|b| b.num_columns() == 0));
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            assert_eq!(rows, PAIRS.len(), "batches of {batch_size}");
        }
    }

    #[tokio::test]
    async fn a_side_without_rows_gives_no_pairs() {
        for (left, right) in [(&[][..], RIGHT), (LEFT, &[][..]), (&[&[][..]][..], RIGHT)] {
            assert!(pairs(&join(left, right, &DataType::Utf8, 4).await).is_empty());
        }
    }
}
