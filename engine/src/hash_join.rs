//! A hash join on one key whose table lookups ask for memory ahead of need.
//!
//! The linked views join identifiers to identifiers: Cafcass subjects to their links (1.6M rows
//! built, 2.7M probed), those to the court links on `link_id` (5M probed), the pairs to `people`
//! (6.5M probed). Most probed rows find nothing. DataFusion's hash join spends 80-250 ns on each
//! probed row of these (docs/BENCHMARK.md): a table of a million entries per partition is in no
//! cache, so every lookup waits on memory, and a candidate's keys are taken into new arrays to
//! be compared. [`OneKeyHashJoinExec`] does the same join with a table laid out for this:
//!
//! - an open-addressed array of 64-bit slots, each the high half of a key's hash and its first
//!   build row, at most two thirds full; the build rows with the same key are chained from it in
//!   their order, so a probed row meets its build rows in the order DataFusion gives;
//! - the probe hashes a whole batch first, then, while it looks up row `i`, asks the processor
//!   for the slot of row `i + AHEAD` (a prefetch), so that the waits overlap;
//! - a candidate is confirmed by the hash's high half, then by comparing its key in place;
//! - the build side's output columns are gathered with prefetching too (`crate::gather`).
//!
//! It does inner, left, left semi and left anti joins on one key, an integer, date or text
//! (plain, large or view), whose NULL keys meet nothing, with or without a further condition
//! (`filter`: evaluated on the pairs of equal keys), without a limit, partitioned on that key
//! (`Partitioned`). Left, semi and anti joins mark the build rows met, and give theirs once the
//! probe side has ended, as DataFusion's does in this mode. Every other join stays DataFusion's. It keeps the `HashJoinExec` it replaces for its plan
//! properties, statistics and children, so the plan around it is unchanged, and it runs last,
//! after every rule that looks for a `HashJoinExec`.
//!
//! Where DataFusion planned a dynamic filter on the probe side's scans, the join fills it: each
//! partition gives a Bloom filter of its build keys to a `ProbeFilterSink`, and the scans
//! drop the rows no build key can meet (`crate::probe_filter`).
//!
//! `SET fjq.one_key_hash_join = false` leaves every join DataFusion's.

use crate::gather::{AHEAD, RowGather, prefetch};
use crate::probe_filter::{KeyBloom, ProbeFilterSink};
use datafusion::arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, AsArray, GenericStringArray, OffsetSizeTrait,
    PrimitiveArray, RecordBatch, RecordBatchOptions, StringViewArray, UInt32Array, new_null_array,
};
use datafusion::arrow::compute::{concat_batches, take};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Date64Type, Int8Type, Int16Type, Int32Type, Int64Type, SchemaRef,
    UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{
    JoinSide, JoinType, NullEquality, Result, internal_err, resources_datafusion_err,
};
use datafusion::config::ConfigOptions;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{OrderingRequirements, PhysicalExpr, PhysicalExprRef};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::joins::utils::JoinFilter;
use datafusion::physical_plan::joins::{HashJoinExec, PartitionMode};
use datafusion::physical_plan::metrics::{
    BaselineMetrics, Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet, Time,
};
use datafusion::physical_plan::statistics::{ChildStats, StatisticsArgs};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan,
    InputDistributionRequirements, PlanProperties, ReplaceChildrenOptions, Statistics,
};
use fjq_udfs::FjqOptions;
use fjq_udfs::runs::bytes_eq;
use futures::StreamExt;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

/// Turns the hash joins this module does into [`OneKeyHashJoinExec`]s (module docs).
#[derive(Debug, Default)]
pub struct OneKeyHashJoinRule;

impl PhysicalOptimizerRule for OneKeyHashJoinRule {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if !FjqOptions::plan_switch(config, |options| options.one_key_hash_join) {
            return Ok(plan);
        }
        plan.transform_up(|node| {
            let Some(join) = node.downcast_ref::<HashJoinExec>() else {
                return Ok(Transformed::no(node));
            };
            match one_key_join(join)? {
                Some(replaced) => Ok(Transformed::yes(Arc::new(replaced))),
                None => Ok(Transformed::no(node)),
            }
        })
        .map(|transformed| transformed.data)
    }

    fn name(&self) -> &str {
        "fjq_one_key_hash_join"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The join doing what `join` does, if it is one done here (module docs).
fn one_key_join(join: &HashJoinExec) -> Result<Option<OneKeyHashJoinExec>> {
    let [(left_key, right_key)] = join.on() else {
        return Ok(None);
    };
    let left_type = left_key.data_type(&join.left().schema())?;
    let right_type = right_key.data_type(&join.right().schema())?;
    let done_here = matches!(
        join.join_type(),
        JoinType::Inner | JoinType::Left | JoinType::LeftSemi | JoinType::LeftAnti
    ) && *join.partition_mode() == PartitionMode::Partitioned
        && join.null_equality() == NullEquality::NullEqualsNothing
        && !join.null_aware
        && join.fetch().is_none()
        && left_type == right_type
        && KeyType::of(&left_type).is_some();
    match done_here {
        true => Ok(Some(OneKeyHashJoinExec::new(join.builder().build()?))),
        false => Ok(None),
    }
}

/// An inner hash join on one key (module docs).
#[derive(Debug)]
pub struct OneKeyHashJoinExec {
    join: Arc<HashJoinExec>,
    /// Where the partitions' build keys meet to fill the probe side's dynamic filter, when
    /// DataFusion planned one (`crate::probe_filter`).
    probe_filter: Option<Arc<ProbeFilterSink>>,
    metrics: ExecutionPlanMetricsSet,
}

impl OneKeyHashJoinExec {
    fn new(join: HashJoinExec) -> OneKeyHashJoinExec {
        let partitions = join.properties().output_partitioning().partition_count();
        let probe_filter = join.dynamic_expressions_produced().pop().map(|filter| {
            let probe_key = Arc::clone(&join.on()[0].1);
            Arc::new(ProbeFilterSink::new(filter, probe_key, partitions))
        });
        OneKeyHashJoinExec {
            join: Arc::new(join),
            probe_filter,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    /// The identity of the dynamic filter this join fills, if it fills one.
    pub(crate) fn probe_filter_id(&self) -> Option<u64> {
        self.probe_filter.as_ref().and_then(|sink| sink.filter_id())
    }

    /// This join over what `replaced` (the kept hash join, given new children) has become.
    fn wrap(replaced: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
        match replaced.downcast_ref::<HashJoinExec>() {
            Some(join) => Ok(Arc::new(OneKeyHashJoinExec::new(join.builder().build()?))),
            None => internal_err!("OneKeyHashJoinExec's join became {}", replaced.name()),
        }
    }

    /// The kept hash join, as a plan.
    fn kept(&self) -> Arc<dyn ExecutionPlan> {
        Arc::clone(&self.join) as Arc<dyn ExecutionPlan>
    }

    /// The columns of the join's output, by their places in its left-then-right schema.
    fn given_columns(&self) -> Vec<usize> {
        match &self.join.projection {
            Some(columns) => columns.iter().copied().collect(),
            None => (0..self.join.join_schema().fields().len()).collect(),
        }
    }
}

impl DisplayAs for OneKeyHashJoinExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let on = self
            .join
            .on()
            .iter()
            .map(|(l, r)| format!("({l}, {r})"))
            .collect::<Vec<_>>()
            .join(", ");
        write!(
            f,
            "OneKeyHashJoinExec: mode={:?}, join_type={:?}, on=[{on}]",
            self.join.partition_mode(),
            self.join.join_type()
        )?;
        if let Some(filter) = self.join.filter() {
            write!(f, ", filter={}", filter.expression())?;
        }
        if let Some(columns) = &self.join.projection {
            let schema = self.join.join_schema();
            let names: Vec<String> = columns
                .iter()
                .map(|&i| format!("{}@{i}", schema.field(i).name()))
                .collect();
            write!(f, ", projection=[{}]", names.join(", "))?;
        }
        Ok(())
    }
}

impl ExecutionPlan for OneKeyHashJoinExec {
    fn name(&self) -> &str {
        "OneKeyHashJoinExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.join.properties()
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

    fn dynamic_expressions_produced(&self) -> Vec<Arc<dyn PhysicalExpr>> {
        self.join.dynamic_expressions_produced()
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
        Self::wrap(self.kept().replace_children(children, options)?)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let options = ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute);
        Self::wrap(self.kept().replace_children(children, options)?)
    }

    fn child_stats_requests(&self, partition: Option<usize>) -> Vec<ChildStats> {
        self.join.child_stats_requests(partition)
    }

    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        self.join.statistics_from_inputs(input_stats, args)
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let (left_key, right_key) = self.join.on()[0].clone();
        let build_input = self.join.left().execute(partition, Arc::clone(&context))?;
        let probe_input = self.join.right().execute(partition, Arc::clone(&context))?;
        let left_width = self.join.left().schema().fields().len();
        let given = self.given_columns();
        let build_columns: Vec<usize> = given.iter().copied().filter(|&c| c < left_width).collect();
        let mut gathered = 0;
        let sources = given
            .iter()
            .map(|&c| match c < left_width {
                true => {
                    gathered += 1;
                    Source::Build(gathered - 1)
                }
                false => Source::Probe(c - left_width),
            })
            .collect();
        let schema = self.schema();
        let reservation = MemoryConsumer::new(format!("OneKeyHashJoinExec[{partition}]"))
            .register(context.memory_pool());
        let probe_filter = self.probe_filter.clone().filter(|_| {
            FjqOptions::plan_switch(context.session_config().options(), |o| o.probe_filters)
        });
        let join = Join {
            join_type: *self.join.join_type(),
            probe_filter,
            filter: self.join.filter().cloned(),
            visited: Vec::new(),
            unmatched_from: None,
            build_input: Some(build_input),
            build_key: left_key,
            build_columns,
            probe_input,
            probe_key: right_key,
            sources,
            built: None,
            current: None,
            build_rows: Vec::new(),
            probe_rows: Vec::new(),
            schema: Arc::clone(&schema),
            batch_size: context.session_config().batch_size(),
            reservation,
            baseline: BaselineMetrics::new(&self.metrics, partition),
            build_time: MetricBuilder::new(&self.metrics).subset_time("build_time", partition),
            build_input_rows: MetricBuilder::new(&self.metrics)
                .counter("build_input_rows", partition),
            input_rows: MetricBuilder::new(&self.metrics).counter("input_rows", partition),
        };
        let batches = futures::stream::try_unfold(join, |mut join| async move {
            let batch = join.next_batch().await?;
            Ok(batch.map(|batch| (batch, join)))
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, batches)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// The key types joined here, each compared as its Arrow type.
#[derive(Clone, Copy)]
pub(crate) enum KeyType {
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    Date32,
    Date64,
    Utf8,
    LargeUtf8,
    Utf8View,
}

impl KeyType {
    pub(crate) fn of(data_type: &DataType) -> Option<KeyType> {
        Some(match data_type {
            DataType::Int8 => KeyType::I8,
            DataType::Int16 => KeyType::I16,
            DataType::Int32 => KeyType::I32,
            DataType::Int64 => KeyType::I64,
            DataType::UInt8 => KeyType::U8,
            DataType::UInt16 => KeyType::U16,
            DataType::UInt32 => KeyType::U32,
            DataType::UInt64 => KeyType::U64,
            DataType::Date32 => KeyType::Date32,
            DataType::Date64 => KeyType::Date64,
            DataType::Utf8 => KeyType::Utf8,
            DataType::LargeUtf8 => KeyType::LargeUtf8,
            DataType::Utf8View => KeyType::Utf8View,
            _ => return None,
        })
    }
}

/// Calls `$body` with `$k` bound to `$array` downcast to its key type's array (`$build` too,
/// when given: the build side's keys, of the same type).
macro_rules! with_keys {
    ($key_type:expr, $array:expr, |$k:ident| $body:expr) => {
        match $key_type {
            KeyType::I8 => {
                let $k = $array.as_primitive::<Int8Type>();
                $body
            }
            KeyType::I16 => {
                let $k = $array.as_primitive::<Int16Type>();
                $body
            }
            KeyType::I32 => {
                let $k = $array.as_primitive::<Int32Type>();
                $body
            }
            KeyType::I64 => {
                let $k = $array.as_primitive::<Int64Type>();
                $body
            }
            KeyType::U8 => {
                let $k = $array.as_primitive::<UInt8Type>();
                $body
            }
            KeyType::U16 => {
                let $k = $array.as_primitive::<UInt16Type>();
                $body
            }
            KeyType::U32 => {
                let $k = $array.as_primitive::<UInt32Type>();
                $body
            }
            KeyType::U64 => {
                let $k = $array.as_primitive::<UInt64Type>();
                $body
            }
            KeyType::Date32 => {
                let $k = $array.as_primitive::<Date32Type>();
                $body
            }
            KeyType::Date64 => {
                let $k = $array.as_primitive::<Date64Type>();
                $body
            }
            KeyType::Utf8 => {
                let $k = $array.as_string::<i32>();
                $body
            }
            KeyType::LargeUtf8 => {
                let $k = $array.as_string::<i64>();
                $body
            }
            KeyType::Utf8View => {
                let $k = $array.as_string_view();
                $body
            }
        }
    };
}
pub(crate) use with_keys;

/// A key column: each row's hash, and whether a row's key equals a row's of another column of
/// the same type. NULLs are the caller's to skip.
pub(crate) trait Keys: Array {
    fn hash_at(&self, row: usize) -> u64;
    fn same(&self, row: usize, other: &Self, other_row: usize) -> bool;
    /// Asks for the first place `same` reads row `row`'s key from (a text's offsets).
    fn prefetch_key(&self, row: usize);
    /// Asks for the second (a text's bytes), once the first is at hand.
    fn prefetch_bytes(&self, _row: usize) {}
}

impl<T: ArrowPrimitiveType> Keys for PrimitiveArray<T>
where
    T::Native: Into<i128>,
{
    #[inline]
    fn hash_at(&self, row: usize) -> u64 {
        let value: i128 = self.values()[row].into();
        mix(value as u64 ^ ((value >> 64) as u64).rotate_left(32))
    }

    #[inline]
    fn same(&self, row: usize, other: &Self, other_row: usize) -> bool {
        self.values()[row] == other.values()[other_row]
    }

    #[inline]
    fn prefetch_key(&self, row: usize) {
        if let Some(value) = self.values().get(row) {
            prefetch(value);
        }
    }
}

impl<O: OffsetSizeTrait> Keys for GenericStringArray<O> {
    #[inline]
    fn hash_at(&self, row: usize) -> u64 {
        hash_bytes(self.value(row).as_bytes())
    }

    #[inline]
    fn same(&self, row: usize, other: &Self, other_row: usize) -> bool {
        bytes_eq(
            self.value(row).as_bytes(),
            other.value(other_row).as_bytes(),
        )
    }

    #[inline]
    fn prefetch_key(&self, row: usize) {
        if let Some(offset) = self.value_offsets().get(row) {
            prefetch(offset);
        }
    }

    #[inline]
    fn prefetch_bytes(&self, row: usize) {
        let start = self.value_offsets().get(row).map_or(0, |o| o.as_usize());
        if let Some(byte) = self.value_data().get(start) {
            prefetch(byte);
        }
    }
}

impl Keys for StringViewArray {
    #[inline]
    fn hash_at(&self, row: usize) -> u64 {
        hash_bytes(self.value(row).as_bytes())
    }

    #[inline]
    fn same(&self, row: usize, other: &Self, other_row: usize) -> bool {
        // A view holds the length, and a short text whole: equal short texts have equal views.
        let (view, other_view) = (self.views()[row], other.views()[other_row]);
        if view as u32 != other_view as u32 {
            return false;
        }
        if view as u32 <= 12 {
            return view == other_view;
        }
        bytes_eq(
            self.value(row).as_bytes(),
            other.value(other_row).as_bytes(),
        )
    }

    #[inline]
    fn prefetch_key(&self, row: usize) {
        if let Some(view) = self.views().get(row) {
            prefetch(view);
        }
    }

    #[inline]
    fn prefetch_bytes(&self, row: usize) {
        let Some(&view) = self.views().get(row) else {
            return;
        };
        if view as u32 > 12 {
            let (buffer, offset) = ((view >> 64) as u32 as usize, (view >> 96) as u32 as usize);
            if let Some(byte) = self.data_buffers().get(buffer).and_then(|b| b.get(offset)) {
                prefetch(byte);
            }
        }
    }
}

const MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;

/// Murmur3's 64-bit finalizer: every bit of the input moves the high and the low bits alike,
/// which the table uses apart (slot from the low, check from the high).
#[inline]
fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// A hash of a text's bytes, eight at a time: identifiers are 16 to 20 bytes. A text of eight
/// bytes or more ends on its last eight bytes, read again where they overlap the words before
/// (one load, where copying the rest into a word took a call to `memcpy`); the length, hashed
/// first, tells such texts apart from others.
#[inline]
fn hash_bytes(bytes: &[u8]) -> u64 {
    let word_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default());
    let len = bytes.len();
    let mut h = (len as u64).wrapping_mul(MULTIPLIER);
    if len < 8 {
        let mut last = [0u8; 8];
        last[..len].copy_from_slice(bytes);
        return mix((h ^ u64::from_le_bytes(last)).wrapping_mul(MULTIPLIER));
    }
    let whole = len / 8 * 8;
    for at in (0..whole).step_by(8) {
        h = (h ^ word_at(at)).wrapping_mul(MULTIPLIER).rotate_left(31);
    }
    if whole < len {
        h = (h ^ word_at(len - 8)).wrapping_mul(MULTIPLIER);
    }
    mix(h)
}

/// The build side's table: open-addressed slots, each `check << 32 | (first row + 1)` (0 is
/// empty), and each build row's next row with the same key (+ 1; 0 ends the chain).
struct Table {
    mask: usize,
    slots: Vec<u64>,
    next: Vec<u32>,
}

/// A slot's first build row (+ 1; 0 in an empty slot).
#[inline]
fn first_row(held: u64) -> u32 {
    held as u32
}

/// Each row's hash.
pub(crate) fn hashes<K: Keys>(keys: &K) -> Vec<u64> {
    (0..keys.len()).map(|row| keys.hash_at(row)).collect()
}

/// The high half of a hash, kept in a slot to pass over most other keys without reading them.
#[inline]
fn check(hash: u64) -> u64 {
    hash >> 32
}

impl Table {
    /// The table of `keys`' rows, NULL keys left out. Rows go in from the last, so that each
    /// chain runs in the rows' order.
    fn build<K: Keys>(keys: &K, hashes: &[u64]) -> Table {
        let rows = keys.len();
        let capacity = (rows + rows / 2).max(16).next_power_of_two();
        let mut table = Table {
            mask: capacity - 1,
            slots: written_zeros(capacity),
            next: vec![0; rows],
        };
        let nulls = keys.logical_nulls();
        let before = |row: usize, by: usize| row.checked_sub(by).map(|r| &hashes[r]);
        for row in (0..rows).rev() {
            // Rows go in from the last: the rows ahead are those before.
            table.ask_ahead(
                keys,
                [
                    before(row, AHEAD),
                    before(row, AHEAD / 2),
                    before(row, AHEAD / 4),
                ],
            );
            if nulls.as_ref().is_some_and(|n| n.is_null(row)) {
                continue;
            }
            let hash = hashes[row];
            let slot = table.slot_of(keys, hash, keys, row);
            table.next[row] = first_row(table.slots[slot]);
            table.slots[slot] = check(hash) << 32 | (row as u64 + 1);
        }
        table
    }

    /// The slot holding `row`'s key (a row of `other`) among `keys`' rows, or the empty slot
    /// where it would go.
    #[inline]
    fn slot_of<K: Keys>(&self, keys: &K, hash: u64, other: &K, row: usize) -> usize {
        let mut slot = hash as usize & self.mask;
        loop {
            let held = self.slots[slot];
            if held == 0
                || (held >> 32 == check(hash)
                    && keys.same(first_row(held) as usize - 1, other, row))
            {
                return slot;
            }
            slot = (slot + 1) & self.mask;
        }
    }

    /// Asks for the memory of three rows ahead, each a step further along: the slot of the
    /// first's hash, then the key of the build row in the second's home slot (at hand by
    /// now, if asked for as a first), then that key's bytes for the third. Gives the second's
    /// build row, if any.
    #[inline]
    fn ask_ahead<K: Keys>(&self, keys: &K, [slot, key, bytes]: [Option<&u64>; 3]) -> Option<usize> {
        if let Some(&hash) = slot {
            prefetch(&self.slots[hash as usize & self.mask]);
        }
        let candidate = self.candidate(key);
        if let Some(first) = candidate {
            keys.prefetch_key(first);
        }
        if let Some(first) = self.candidate(bytes) {
            keys.prefetch_bytes(first);
        }
        candidate
    }

    /// The build row in the home slot of `hash`, if its check is the hash's.
    #[inline]
    fn candidate(&self, hash: Option<&u64>) -> Option<usize> {
        let &hash = hash?;
        let held = self.slots[hash as usize & self.mask];
        (held != 0 && held >> 32 == check(hash)).then(|| first_row(held) as usize - 1)
    }

    fn memory(&self) -> usize {
        self.slots.capacity() * 8 + self.next.capacity() * 4
    }
}

/// `len` zeros, each page of them written once. Inserting into the table reads a slot before
/// writing it: in fresh memory the read maps the page to the kernel's shared page of zeros, and
/// the write that follows makes the kernel copy it and interrupt the other cores to flush their
/// address caches. That was 6% of the linkage query's samples (docs/BENCHMARK.md); a page
/// written first is simply given.
fn written_zeros(len: usize) -> Vec<u64> {
    let mut zeros = vec![0u64; len];
    for page in zeros.chunks_mut(4096 / size_of::<u64>()) {
        // A value the compiler cannot see is the zero already there, so the write stays; the
        // first and last of each page-long chunk, since the buffer need not start a page.
        page[0] = std::hint::black_box(0);
        if let Some(last) = page.last_mut() {
            *last = std::hint::black_box(0);
        }
    }
    zeros
}

/// How far a probe batch is joined: its next row to look up, and the rest (+ 1) of the
/// previous row's chain where an output batch filled up inside it.
#[derive(Default)]
struct Cursor {
    row: usize,
    chain: u32,
}

impl Table {
    /// Writes pairs (build row, probe row) for the probe rows from the cursor on, until
    /// `limit` pairs are written or the batch ends; true at its end.
    #[allow(clippy::too_many_arguments)]
    fn probe<K: Keys>(
        &self,
        build: &K,
        probe: &K,
        hashes: &[u64],
        cursor: &mut Cursor,
        limit: usize,
        build_rows: &mut Vec<u32>,
        probe_rows: &mut Vec<u32>,
    ) -> bool {
        let nulls = probe.logical_nulls();
        loop {
            while cursor.chain != 0 {
                if build_rows.len() >= limit {
                    return false;
                }
                let row = cursor.chain - 1;
                build_rows.push(row);
                probe_rows.push(cursor.row as u32 - 1);
                cursor.chain = self.next[row as usize];
            }
            let row = cursor.row;
            if row >= hashes.len() {
                return true;
            }
            if build_rows.len() >= limit {
                return false;
            }
            cursor.row += 1;
            let ahead = |by: usize| hashes.get(row + by);
            // A candidate's chain entry is read if it is the key: ask for it with the key.
            if let Some(first) =
                self.ask_ahead(build, [ahead(AHEAD), ahead(AHEAD / 2), ahead(AHEAD / 4)])
            {
                prefetch(&self.next[first]);
            }
            if nulls.as_ref().is_some_and(|n| n.is_null(row)) {
                continue;
            }
            cursor.chain = first_row(self.slots[self.slot_of(build, hashes[row], probe, row)]);
        }
    }
}

/// The build side, read whole: the batch, its output columns, its keys and their table.
struct Built {
    batch: RecordBatch,
    gather: Option<RowGather>,
    keys: ArrayRef,
    key_type: KeyType,
    table: Table,
}

/// The probe batch being joined.
struct Current {
    batch: RecordBatch,
    keys: ArrayRef,
    hashes: Vec<u64>,
    cursor: Cursor,
}

/// Where an output column comes from: the gathered build columns' `i`th, or the probe side's
/// column `c`.
enum Source {
    Build(usize),
    Probe(usize),
}

/// A partition's join in progress.
struct Join {
    join_type: JoinType,
    /// Where this partition's build keys go to filter the probe side's scans.
    probe_filter: Option<Arc<ProbeFilterSink>>,
    /// A further condition on the pairs of equal keys.
    filter: Option<JoinFilter>,
    /// Left, semi and anti joins: whether each build row has met a probe row.
    visited: Vec<bool>,
    /// Once the probe side has ended, in left, semi and anti joins: the next build row to
    /// look at for the rows given at the end.
    unmatched_from: Option<usize>,
    build_input: Option<SendableRecordBatchStream>,
    build_key: PhysicalExprRef,
    /// The build side's columns in the output, by their places in the build side.
    build_columns: Vec<usize>,
    probe_input: SendableRecordBatchStream,
    probe_key: PhysicalExprRef,
    /// Where each output column comes from.
    sources: Vec<Source>,
    built: Option<Built>,
    current: Option<Current>,
    build_rows: Vec<u32>,
    probe_rows: Vec<u32>,
    schema: SchemaRef,
    batch_size: usize,
    reservation: MemoryReservation,
    baseline: BaselineMetrics,
    build_time: Time,
    build_input_rows: Count,
    input_rows: Count,
}

impl Join {
    /// The next output batch, or `None` at the end.
    async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        if let Some(input) = self.build_input.take() {
            let built = self.build(input).await?;
            if self.join_type != JoinType::Inner {
                self.visited = vec![false; built.batch.num_rows()];
            }
            self.built = Some(built);
        }
        let Some(built) = &self.built else {
            return Ok(None);
        };
        loop {
            if let Some(from) = self.unmatched_from {
                return self.rows_at_the_end(from);
            }
            let Some(current) = &mut self.current else {
                // An empty build side meets nothing, and has nothing to give at the end.
                if built.table.next.is_empty() {
                    return Ok(None);
                }
                let Some(batch) = self.probe_input.next().await.transpose()? else {
                    if self.join_type == JoinType::Inner {
                        return Ok(None);
                    }
                    self.unmatched_from = Some(0);
                    continue;
                };
                let started = Instant::now();
                self.input_rows.add(batch.num_rows());
                let keys = self
                    .probe_key
                    .evaluate(&batch)?
                    .into_array(batch.num_rows())?;
                let hashes = with_keys!(built.key_type, keys, |k| hashes(k));
                self.current = Some(Current {
                    batch,
                    keys,
                    hashes,
                    cursor: Cursor::default(),
                });
                self.baseline.elapsed_compute().add_elapsed(started);
                continue;
            };
            let started = Instant::now();
            self.build_rows.clear();
            self.probe_rows.clear();
            let done = with_keys!(built.key_type, current.keys, |probe| {
                let Some(build) = downcast_like(probe, &built.keys) else {
                    return internal_err!("OneKeyHashJoinExec: the sides' keys differ in type");
                };
                built.table.probe(
                    build,
                    probe,
                    &current.hashes,
                    &mut current.cursor,
                    self.batch_size,
                    &mut self.build_rows,
                    &mut self.probe_rows,
                )
            });
            if let Some(filter) = &self.filter {
                keep_passing(
                    filter,
                    &built.batch,
                    &current.batch,
                    &mut self.build_rows,
                    &mut self.probe_rows,
                )?;
            }
            if !self.visited.is_empty() {
                for &row in &self.build_rows {
                    self.visited[row as usize] = true;
                }
            }
            let pairs_given = matches!(self.join_type, JoinType::Inner | JoinType::Left);
            let output = match pairs_given && !self.build_rows.is_empty() {
                false => None,
                true => Some(output_batch(
                    &self.schema,
                    built.gather.as_ref(),
                    &self.build_rows,
                    Some((&current.batch, &self.probe_rows)),
                    &self.sources,
                )?),
            };
            if done {
                self.current = None;
            }
            self.baseline.elapsed_compute().add_elapsed(started);
            if let Some(output) = output {
                self.baseline.record_output(output.num_rows());
                return Ok(Some(output));
            }
        }
    }

    /// The build rows given once the probe side has ended, from build row `from` on: those
    /// that met no probe row (left and anti joins) or those that met one (semi joins).
    fn rows_at_the_end(&mut self, from: usize) -> Result<Option<RecordBatch>> {
        let Some(built) = &self.built else {
            return Ok(None);
        };
        let started = Instant::now();
        let wanted = self.join_type == JoinType::LeftSemi;
        self.build_rows.clear();
        let mut row = from;
        while row < self.visited.len() && self.build_rows.len() < self.batch_size {
            if self.visited[row] == wanted {
                self.build_rows.push(row as u32);
            }
            row += 1;
        }
        self.unmatched_from = Some(row);
        let output = match self.build_rows.is_empty() {
            true => None,
            false => Some(output_batch(
                &self.schema,
                built.gather.as_ref(),
                &self.build_rows,
                None,
                &self.sources,
            )?),
        };
        self.baseline.elapsed_compute().add_elapsed(started);
        if let Some(output) = &output {
            self.baseline.record_output(output.num_rows());
        }
        Ok(output)
    }

    /// Reads the build side whole and makes its table.
    async fn build(&mut self, mut input: SendableRecordBatchStream) -> Result<Built> {
        let schema = input.schema();
        let mut batches = Vec::new();
        while let Some(batch) = input.next().await.transpose()? {
            self.reservation.try_grow(batch.get_array_memory_size())?;
            batches.push(batch);
        }
        let build_time = self.build_time.clone();
        let _timer = build_time.timer();
        let started = Instant::now();
        let batch = concat_batches(&schema, &batches)?;
        drop(batches);
        self.build_input_rows.add(batch.num_rows());
        if batch.num_rows() >= u32::MAX as usize {
            return Err(resources_datafusion_err!(
                "a hash join's build side has {} rows in one partition, more than it can index",
                batch.num_rows()
            ));
        }
        let keys = self
            .build_key
            .evaluate(&batch)?
            .into_array(batch.num_rows())?;
        let Some(key_type) = KeyType::of(keys.data_type()) else {
            return internal_err!("OneKeyHashJoinExec: a key of type {}", keys.data_type());
        };
        let build_hashes = with_keys!(key_type, keys, |k| hashes(k));
        let table = with_keys!(key_type, keys, |k| Table::build(k, &build_hashes));
        // This partition's share of the probe filter: the merged filter it becomes part of is
        // no larger than the partitions' filters together, and lives as long as the join.
        let bloom_size = match &self.probe_filter {
            Some(sink) => {
                let bloom = KeyBloom::of(&build_hashes, keys.logical_nulls().as_ref());
                let size = bloom.size();
                sink.add(bloom);
                size
            }
            None => 0,
        };
        drop(build_hashes);
        let gather = match self.build_columns.is_empty() {
            true => None,
            false => {
                let columns = batch.project(&self.build_columns)?;
                Some(RowGather::new(columns.schema(), &[columns]))
            }
        };
        // A key that is a column of the batch (as it nearly always is) is held once.
        let key_is_a_column = batch.columns().iter().any(|c| Arc::ptr_eq(c, &keys));
        let key_size = (!key_is_a_column).then(|| keys.get_array_memory_size());
        let held =
            batch.get_array_memory_size() + key_size.unwrap_or(0) + table.memory() + bloom_size;
        self.reservation.resize(0);
        self.reservation.try_grow(held)?;
        self.baseline.elapsed_compute().add_elapsed(started);
        Ok(Built {
            batch,
            gather,
            keys,
            key_type,
            table,
        })
    }
}

/// The output rows of the pairs: the build side's columns gathered, the probe batch's taken
/// (NULL for build rows given alone, `probe` `None`).
fn output_batch(
    schema: &SchemaRef,
    gather: Option<&RowGather>,
    build_rows: &[u32],
    probe: Option<(&RecordBatch, &[u32])>,
    sources: &[Source],
) -> Result<RecordBatch> {
    let gathered = match gather {
        Some(gather) => {
            let at: Vec<(usize, usize)> = build_rows.iter().map(|&r| (0, r as usize)).collect();
            Some(gather.gather(&at)?)
        }
        None => None,
    };
    let indices = probe.and_then(|(_, rows)| {
        sources
            .iter()
            .any(|s| matches!(s, Source::Probe(_)))
            .then(|| UInt32Array::from(rows.to_vec()))
    });
    let columns = sources
        .iter()
        .zip(schema.fields())
        .map(
            |(source, field)| match (source, &gathered, probe, &indices) {
                (Source::Build(i), Some(gathered), _, _) => Ok(Arc::clone(gathered.column(*i))),
                (Source::Probe(c), _, Some((batch, _)), Some(indices)) => {
                    Ok(take(batch.column(*c), indices, None)?)
                }
                (Source::Probe(_), _, None, _) => {
                    Ok(new_null_array(field.data_type(), build_rows.len()))
                }
                _ => internal_err!("OneKeyHashJoinExec: an output column without its source"),
            },
        )
        .collect::<Result<Vec<ArrayRef>>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(build_rows.len()));
    Ok(RecordBatch::try_new_with_options(
        Arc::clone(schema),
        columns,
        &options,
    )?)
}

/// Keeps the pairs for which `filter` holds (a NULL is not holding).
fn keep_passing(
    filter: &JoinFilter,
    build: &RecordBatch,
    probe: &RecordBatch,
    build_rows: &mut Vec<u32>,
    probe_rows: &mut Vec<u32>,
) -> Result<()> {
    if build_rows.is_empty() {
        return Ok(());
    }
    let build_indices = UInt32Array::from(build_rows.clone());
    let probe_indices = UInt32Array::from(probe_rows.clone());
    let columns = filter
        .column_indices()
        .iter()
        .map(|column| match column.side {
            JoinSide::Left => take(build.column(column.index), &build_indices, None),
            _ => take(probe.column(column.index), &probe_indices, None),
        })
        .collect::<Result<Vec<ArrayRef>, _>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(build_rows.len()));
    let pairs = RecordBatch::try_new_with_options(Arc::clone(filter.schema()), columns, &options)?;
    let holds = filter
        .expression()
        .evaluate(&pairs)?
        .into_array(pairs.num_rows())?;
    let holds = holds.as_boolean();
    let mut kept = 0;
    for i in 0..build_rows.len() {
        if holds.is_valid(i) && holds.value(i) {
            build_rows[kept] = build_rows[i];
            probe_rows[kept] = probe_rows[i];
            kept += 1;
        }
    }
    build_rows.truncate(kept);
    probe_rows.truncate(kept);
    Ok(())
}

/// `array` as the type of `like`, which it has.
fn downcast_like<'a, K: Array + 'static>(_like: &K, array: &'a ArrayRef) -> Option<&'a K> {
    array.as_any().downcast_ref::<K>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{
        Date32Array, Date64Array, Int8Array, Int16Array, Int32Array, Int64Array, LargeStringArray,
        StringArray, UInt8Array, UInt16Array, UInt64Array,
    };
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::datasource::MemTable;
    use datafusion::execution::SessionStateBuilder;
    use datafusion::physical_plan::displayable;
    use datafusion::prelude::{SessionConfig, SessionContext};

    /// The key columns, one of each type joined here.
    const KEYS: &[&str] = &[
        "k_i8",
        "k_i16",
        "k_i32",
        "k_i64",
        "k_u8",
        "k_u16",
        "k_u32",
        "k_u64",
        "k_date32",
        "k_date64",
        "k_utf8",
        "k_large_utf8",
        "k_utf8_view",
    ];

    /// Rows of two sides (`side` 0 and 1) in batches of 0 to 120 rows over 3 partitions: each
    /// key drawn from 40 values (so most keys repeat on both sides), a twentieth NULL; texts
    /// short (held in a view whole) and long, some sharing all but their last bytes.
    fn table() -> MemTable {
        let mut fields = vec![
            Field::new("id", DataType::Int64, false),
            Field::new("side", DataType::Int64, false),
        ];
        let types = [
            DataType::Int8,
            DataType::Int16,
            DataType::Int32,
            DataType::Int64,
            DataType::UInt8,
            DataType::UInt16,
            DataType::UInt32,
            DataType::UInt64,
            DataType::Date32,
            DataType::Date64,
            DataType::Utf8,
            DataType::LargeUtf8,
            DataType::Utf8View,
        ];
        for (name, data_type) in KEYS.iter().zip(&types) {
            fields.push(Field::new(*name, data_type.clone(), true));
        }
        let schema = Arc::new(Schema::new(fields));
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut draw = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut partitions = vec![Vec::new(), Vec::new(), Vec::new()];
        let mut id = 0i64;
        while id < 1500 {
            let rows = (draw() % 121) as usize;
            let mut values: Vec<Option<u64>> = Vec::with_capacity(rows);
            let ids: Vec<i64> = (id..id + rows as i64).collect();
            let sides: Vec<i64> = (0..rows).map(|_| (draw() % 2) as i64).collect();
            let mut columns: Vec<ArrayRef> = vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(Int64Array::from(sides)),
            ];
            for data_type in &types {
                values.clear();
                values.extend((0..rows).map(|_| {
                    let v = draw();
                    (v % 20 != 0).then_some(v >> 8 & 0xff)
                }));
                let key = |v: &u64| (v % 40) as i64;
                let text = |v: &u64| match v % 40 % 3 {
                    0 => format!("{}", v % 40),
                    1 => format!("an-identifier-longer-than-twelve-{}", v % 40),
                    _ => format!("P{:016X}", v % 40),
                };
                let column: ArrayRef = match data_type {
                    DataType::Int8 => Arc::new(Int8Array::from_iter(
                        values.iter().map(|v| v.as_ref().map(|v| key(v) as i8 - 20)),
                    )),
                    DataType::Int16 => Arc::new(Int16Array::from_iter(
                        values
                            .iter()
                            .map(|v| v.as_ref().map(|v| key(v) as i16 * -300)),
                    )),
                    DataType::Int32 => Arc::new(Int32Array::from_iter(
                        values.iter().map(|v| v.as_ref().map(|v| key(v) as i32 - 7)),
                    )),
                    DataType::Int64 => Arc::new(Int64Array::from_iter(
                        values.iter().map(|v| v.as_ref().map(|v| key(v) << 40 | 3)),
                    )),
                    DataType::UInt8 => Arc::new(UInt8Array::from_iter(
                        values
                            .iter()
                            .map(|v| v.as_ref().map(|v| key(v) as u8 + 200)),
                    )),
                    DataType::UInt16 => Arc::new(UInt16Array::from_iter(
                        values
                            .iter()
                            .map(|v| v.as_ref().map(|v| key(v) as u16 * 1000)),
                    )),
                    DataType::UInt32 => Arc::new(UInt32Array::from_iter(
                        values
                            .iter()
                            .map(|v| v.as_ref().map(|v| u32::MAX - key(v) as u32)),
                    )),
                    DataType::UInt64 => Arc::new(UInt64Array::from_iter(
                        values
                            .iter()
                            .map(|v| v.as_ref().map(|v| u64::MAX - key(v) as u64)),
                    )),
                    DataType::Date32 => Arc::new(Date32Array::from_iter(
                        values
                            .iter()
                            .map(|v| v.as_ref().map(|v| 15_000 + key(v) as i32)),
                    )),
                    DataType::Date64 => Arc::new(Date64Array::from_iter(
                        values
                            .iter()
                            .map(|v| v.as_ref().map(|v| key(v) * 86_400_000)),
                    )),
                    DataType::Utf8 => Arc::new(StringArray::from_iter(
                        values.iter().map(|v| v.as_ref().map(text)),
                    )),
                    DataType::LargeUtf8 => Arc::new(LargeStringArray::from_iter(
                        values.iter().map(|v| v.as_ref().map(text)),
                    )),
                    _ => Arc::new(StringViewArray::from_iter(
                        values.iter().map(|v| v.as_ref().map(text)),
                    )),
                };
                columns.push(column);
            }
            let batch = RecordBatch::try_new(Arc::clone(&schema), columns).unwrap();
            partitions[(draw() % 3) as usize].push(batch);
            id += rows as i64;
        }
        MemTable::try_new(schema, partitions).unwrap()
    }

    /// The plan and the rows, ordered, of `sql` over [`table`] in 4 partitions of
    /// `batch_size`-row batches, every hash join partitioned, with or without the rule.
    async fn run(sql: &str, batch_size: usize, rule: bool) -> (String, String) {
        let mut config = SessionConfig::new()
            .with_target_partitions(4)
            .with_batch_size(batch_size);
        let optimizer = &mut config.options_mut().optimizer;
        optimizer.hash_join_single_partition_threshold = 0;
        optimizer.hash_join_single_partition_threshold_rows = 0;
        let mut state = SessionStateBuilder::new()
            .with_config(config)
            .with_default_features();
        if rule {
            state = state.with_physical_optimizer_rule(Arc::new(OneKeyHashJoinRule));
        }
        let context = SessionContext::new_with_state(state.build());
        context.register_table("t", Arc::new(table())).unwrap();
        let frame = context.sql(sql).await.unwrap();
        let plan = frame.clone().create_physical_plan().await.unwrap();
        let plan_text = displayable(plan.as_ref()).indent(false).to_string();
        let rows = frame.collect().await.unwrap();
        (plan_text, pretty_format_batches(&rows).unwrap().to_string())
    }

    /// Every key type, with NULL keys and keys repeated on both sides (chains of build rows
    /// longer than an output batch of 7 rows), in both column orders of the output: the same
    /// pairs as DataFusion's own hash join, and the join done by this module.
    #[tokio::test]
    async fn joins_on_every_key_type_pair_the_rows_datafusion_pairs() {
        for key in KEYS {
            let sql = format!(
                "SELECT b.id AS probe_id, a.{key} AS k, a.id AS build_id \
                 FROM (SELECT * FROM t WHERE side = 0) a JOIN (SELECT * FROM t WHERE side = 1) b \
                 ON a.{key} = b.{key} ORDER BY 1, 3"
            );
            for batch_size in [7, 8192] {
                let (plan, ours) = run(&sql, batch_size, true).await;
                let (their_plan, theirs) = run(&sql, batch_size, false).await;
                assert!(
                    plan.contains("OneKeyHashJoinExec: mode=Partitioned, join_type=Inner"),
                    "{key}: not joined here:\n{plan}"
                );
                assert!(
                    their_plan.contains("HashJoinExec: mode=Partitioned")
                        && !their_plan.contains("OneKey"),
                    "{key}: DataFusion's plan:\n{their_plan}"
                );
                let pairs = ours.lines().count() - 4;
                assert!(pairs > 5_000, "{key}: only {pairs} pairs");
                assert_eq!(ours, theirs, "{key}, batches of {batch_size}");
            }
        }
    }

    /// A join whose output takes only the build side's columns, or only the probe side's, or
    /// none (a count): the rows are DataFusion's.
    #[tokio::test]
    async fn joins_giving_one_side_or_no_column_give_datafusions_rows() {
        for sql in [
            "SELECT a.id FROM t a JOIN t b ON a.k_utf8 = b.k_utf8 WHERE b.side = 1 ORDER BY 1",
            "SELECT b.id FROM t a JOIN t b ON a.k_i64 = b.k_i64 WHERE a.side = 0 ORDER BY 1",
            "SELECT count(*) FROM t a JOIN t b ON a.k_utf8_view = b.k_utf8_view",
        ] {
            let (plan, ours) = run(sql, 100, true).await;
            let (_, theirs) = run(sql, 100, false).await;
            assert!(plan.contains("OneKeyHashJoinExec"), "{sql}:\n{plan}");
            assert!(ours.lines().count() > 4, "{sql}: {ours}");
            assert_eq!(ours, theirs, "{sql}");
        }
    }

    /// A NULL key meets nothing, not even a row whose value under it is the NULL's (an Arrow
    /// NULL's slot holds 0): worked by hand, with an output limit of 2 pairs cutting the chain
    /// of 0s.
    #[test]
    fn null_keys_meet_nothing_and_chains_resume_across_output_batches() {
        let build = Int32Array::from(vec![Some(0), None, Some(1), Some(0), Some(0)]);
        let probe = Int32Array::from(vec![None, Some(0), Some(2), Some(1), None]);
        assert_eq!(probe.values()[0], 0, "a NULL's slot holds 0");
        let table = Table::build(&build, &hashes(&build));
        let hashes: Vec<u64> = (0..probe.len()).map(|row| probe.hash_at(row)).collect();
        let (mut cursor, mut pairs) = (Cursor::default(), Vec::new());
        loop {
            let (mut build_rows, mut probe_rows) = (Vec::new(), Vec::new());
            let done = table.probe(
                &build,
                &probe,
                &hashes,
                &mut cursor,
                2,
                &mut build_rows,
                &mut probe_rows,
            );
            assert!(build_rows.len() <= 2, "an output batch over its limit");
            pairs.extend(build_rows.into_iter().zip(probe_rows));
            if done {
                break;
            }
        }
        assert_eq!(pairs, vec![(0, 1), (3, 1), (4, 1), (2, 3)]);
    }

    /// Left, semi and anti joins, and joins with a further condition, on texts and integers
    /// with NULL keys on both sides, in output batches of 7 and 8192 rows: DataFusion's rows.
    /// (DataFusion builds on the left side of each.)
    #[tokio::test]
    async fn left_semi_anti_and_filtered_joins_give_datafusions_rows() {
        let build = "(SELECT * FROM t WHERE side = 0 AND id % 3 = 0)";
        let probe = "(SELECT * FROM t WHERE side = 1)";
        for (sql, join_type) in [
            (
                format!(
                    "SELECT a.id, a.k_utf8, b.id FROM {build} a LEFT JOIN {probe} b ON a.k_utf8 = b.k_utf8 ORDER BY 1, 3"
                ),
                "Left",
            ),
            (
                format!(
                    "SELECT a.id, a.k_i64 FROM {build} a WHERE a.k_i64 IN (SELECT k_i64 FROM {probe}) ORDER BY 1"
                ),
                "LeftSemi",
            ),
            (
                format!(
                    "SELECT a.id, a.k_utf8_view FROM {build} a WHERE NOT EXISTS (SELECT 1 FROM {probe} b WHERE b.k_utf8_view = a.k_utf8_view) ORDER BY 1"
                ),
                "LeftAnti",
            ),
            (
                format!(
                    "SELECT a.id, b.id FROM {build} a JOIN {probe} b ON a.k_i32 = b.k_i32 AND a.id < b.id - 200 ORDER BY 1, 2"
                ),
                "Inner",
            ),
            (
                format!(
                    "SELECT a.id, b.id, b.k_date32 FROM {build} a LEFT JOIN {probe} b ON a.k_date32 = b.k_date32 AND b.id % 5 > a.id % 5 ORDER BY 1, 2"
                ),
                "Left",
            ),
            (
                format!(
                    "SELECT a.id FROM {build} a WHERE EXISTS (SELECT 1 FROM {probe} b WHERE b.k_large_utf8 = a.k_large_utf8 AND b.id > a.id) ORDER BY 1"
                ),
                "LeftSemi",
            ),
        ] {
            for batch_size in [7, 8192] {
                let (plan, ours) = run(&sql, batch_size, true).await;
                let (_, theirs) = run(&sql, batch_size, false).await;
                assert!(
                    plan.contains(&format!(
                        "OneKeyHashJoinExec: mode=Partitioned, join_type={join_type},"
                    )),
                    "{sql}:\n{plan}"
                );
                // The anti join gives the NULL keys' rows alone: all 40 values are probed.
                assert!(ours.lines().count() > 14, "{sql}: {ours}");
                assert_eq!(ours, theirs, "{sql}, batches of {batch_size}");
            }
        }
    }

    /// Joins this module does not do stay DataFusion's: a full join, a right semi join, a
    /// join on two keys.
    #[tokio::test]
    async fn other_joins_stay_datafusions() {
        for sql in [
            "SELECT count(*) FROM t a FULL JOIN t b ON a.k_i32 = b.k_i32",
            "SELECT count(*) FROM t a RIGHT JOIN t b ON a.k_i32 = b.k_i32",
            "SELECT count(*) FROM t a JOIN t b ON a.k_i32 = b.k_i32 AND a.k_utf8 = b.k_utf8",
        ] {
            let (plan, _) = run(sql, 100, true).await;
            assert!(
                plan.contains("HashJoinExec") && !plan.contains("OneKey"),
                "{sql}:\n{plan}"
            );
        }
    }
}
