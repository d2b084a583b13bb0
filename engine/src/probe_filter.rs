//! Filtering a hash join's probe side where it is read, by the keys its build side holds.
//!
//! For each hash join whose probe side may lose rows without a match, DataFusion plans a
//! dynamic filter on that side's scans: a placeholder (`true`) the join replaces with its build
//! side's keys once it has read them. fjq's one-key join (`crate::hash_join`) replaces
//! DataFusion's, so it fills the placeholder itself: each partition makes a Bloom filter of its
//! build keys' hashes ([`KeyBloom`]), and once every partition has built, the filter becomes
//! [`KeyMayMatch`], which passes a row when one of them may hold its key. fjq reads Parquet
//! without filtering rows as it decodes them (`pushdown_filters` is off), so a predicate on a
//! scan only prunes row groups: [`ProbeFilterRule`] evaluates the filters fjq's joins fill in a
//! `FilterExec` over each scan they were pushed to (over the scan's own filter, when that keeps
//! the key; an aggregate reading that filter through runs it again). Rows whose keys no build
//! row has are then dropped where they are read, before they are exchanged between threads and
//! joined: in the linkage question, the `people` rows of persons who are not public law
//! children, before they meet the pairs of linked persons.
//!
//! What a join gives is unchanged: the filter passes every row whose key the build side holds,
//! and a few others (the Bloom filter's false positives, about one in two hundred), which the join
//! drops as before. Until every partition has built, the filter passes every row. A filter that
//! has passed more than [`PASS_RATE_OFF`] of the first [`ROWS_JUDGED`] rows it tested stops
//! testing (it costs more than it saves). Plans with a recursive query get no filter: its
//! joins are run again on other rows, and a filter of the last run's keys would drop this run's.
//!
//! `SET fjq.probe_filters = false` leaves the placeholders unfilled and unevaluated.

use crate::gather::{AHEAD, prefetch};
use crate::hash_join::{KeyType, OneKeyHashJoinExec, hashes, with_keys};
use crate::sorted_aggregate::SortedRunAggregateExec;
use datafusion::arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::buffer::{BooleanBuffer, NullBuffer};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Date64Type, Int8Type, Int16Type, Int32Type, Int64Type, Schema, UInt8Type,
    UInt16Type, UInt32Type, UInt64Type,
};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Result, ScalarValue, internal_datafusion_err};
use datafusion::config::ConfigOptions;
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::logical_expr::ColumnarValue;
use datafusion::physical_expr::expressions::{Column, DynamicFilterPhysicalExpr, Literal};
use datafusion::physical_expr::utils::split_conjunction;
use datafusion::physical_expr::{PhysicalExpr, PhysicalExprRef, conjunction};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::recursive_query::RecursiveQueryExec;
use datafusion::physical_plan::{ChildrenPropertiesMode, ExecutionPlan, ReplaceChildrenOptions};
use fjq_udfs::FjqOptions;
use std::collections::HashSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Bits of Bloom filter per build key, at least: the words are a power of two, so 16 to 32. With
/// four bits set per key in one 64-bit word, at 16 bits a key about one key in two hundred not
/// held passes (0.5%, with the keys spread over the words as chance has it), fewer above.
const BITS_PER_KEY: usize = 16;

/// How many rows a filter tests before it judges whether it is worth testing more.
pub const ROWS_JUDGED: usize = 1 << 16;

/// The share of rows passed above which a filter stops testing: hashing a row and copying it
/// on costs about what joining a row that finds nothing costs, so a filter that drops less than
/// a fifth saves less than it costs.
pub const PASS_RATE_OFF: f64 = 0.8;

/// A Bloom filter of build keys, by their hashes (`hash_join::Keys::hash_at`): each key sets
/// four bits of one 64-bit word, so that a test reads one word. The words are a power of two,
/// chosen by the hash's high half, so that the partitions' filters, each sized for its own
/// keys, merge into one ([`KeyBloom::merged`]): a probed row is tested once, not once a
/// partition.
pub(crate) struct KeyBloom {
    words: Vec<u64>,
}

impl KeyBloom {
    /// The filter of the keys with these hashes, the NULL keys' left out (they meet nothing).
    pub(crate) fn of(hashes: &[u64], nulls: Option<&NullBuffer>) -> KeyBloom {
        let words = (hashes.len() * BITS_PER_KEY)
            .div_ceil(64)
            .max(1)
            .next_power_of_two();
        let mut bloom = KeyBloom {
            words: vec![0; words],
        };
        for (row, &hash) in hashes.iter().enumerate() {
            if nulls.is_none_or(|n| n.is_valid(row)) {
                let word = bloom.word(hash);
                bloom.words[word] |= bits(hash);
            }
        }
        bloom
    }

    /// One filter holding every key of `blooms`, as large as the largest. A smaller filter's
    /// word `i` is the word the larger's `i + k * its size` would have been: the same low bits
    /// of the hash's high half choose it.
    fn merged(blooms: &[KeyBloom]) -> KeyBloom {
        let words = blooms.iter().map(|b| b.words.len()).max().unwrap_or(1);
        KeyBloom {
            words: (0..words)
                .map(|i| {
                    blooms
                        .iter()
                        .fold(0, |word, b| word | b.words[i & (b.words.len() - 1)])
                })
                .collect(),
        }
    }

    /// The word of a hash: by the low bits of its high half (`hash_join`'s table takes its slot
    /// from the low bits; this filter's four bits come from the low 24).
    #[inline]
    fn word(&self, hash: u64) -> usize {
        (hash >> 32) as usize & (self.words.len() - 1)
    }

    /// Whether a key with this hash may be among the filter's.
    #[inline]
    fn may_hold(&self, hash: u64) -> bool {
        let bits = bits(hash);
        self.words[self.word(hash)] & bits == bits
    }

    /// Which of these rows may be held: those valid in `nulls` and still `passing`, whose hash
    /// the filter may hold. A filter of a million keys is larger than a core's own cache, so
    /// each row's word is asked for [`AHEAD`] rows before it is read: the test then waits on
    /// memory once a batch rather than once a row.
    fn may_hold_each(
        &self,
        hashes: &[u64],
        nulls: Option<&NullBuffer>,
        passing: Option<&BooleanBuffer>,
    ) -> BooleanBuffer {
        BooleanBuffer::collect_bool(hashes.len(), |row| {
            if let Some(&ahead) = hashes.get(row + AHEAD) {
                prefetch(&self.words[self.word(ahead)]);
            }
            passing.is_none_or(|p| p.value(row))
                && nulls.is_none_or(|n| n.is_valid(row))
                && self.may_hold(hashes[row])
        })
    }

    /// Its bytes.
    pub(crate) fn size(&self) -> usize {
        self.words.len() * 8
    }
}

impl fmt::Debug for KeyBloom {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "KeyBloom({} bytes)", self.size())
    }
}

/// The four bits of a word a hash sets.
#[inline]
fn bits(hash: u64) -> u64 {
    (1 << (hash & 63))
        | (1 << ((hash >> 6) & 63))
        | (1 << ((hash >> 12) & 63))
        | (1 << ((hash >> 18) & 63))
}

/// Where a join's partitions leave their build keys' filters, until all have: then it fills the
/// join's dynamic filter with [`KeyMayMatch`] over their merged filter.
#[derive(Debug)]
pub(crate) struct ProbeFilterSink {
    /// The join's dynamic filter (a `DynamicFilterPhysicalExpr`).
    filter: PhysicalExprRef,
    /// The join's probe key, over its probe side's columns (the dynamic filter's own terms).
    probe_key: PhysicalExprRef,
    partitions: usize,
    built: Mutex<Vec<KeyBloom>>,
}

impl ProbeFilterSink {
    pub(crate) fn new(
        filter: PhysicalExprRef,
        probe_key: PhysicalExprRef,
        partitions: usize,
    ) -> ProbeFilterSink {
        ProbeFilterSink {
            filter,
            probe_key,
            partitions,
            built: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn filter_id(&self) -> Option<u64> {
        self.filter.expression_id()
    }

    /// Takes a partition's filter; with the last, fills the dynamic filter. A plan run again
    /// starts a new round, whose filter replaces the last once it is whole.
    pub(crate) fn add(&self, bloom: KeyBloom) {
        let Some(dynamic) = self.filter.downcast_ref::<DynamicFilterPhysicalExpr>() else {
            return;
        };
        let Ok(mut built) = self.built.lock() else {
            return; // Another partition panicked: the filter stays as it is, which is correct.
        };
        built.push(bloom);
        if built.len() < self.partitions {
            return;
        }
        let filter = KeyMayMatch {
            key: Arc::clone(&self.probe_key),
            bloom: Arc::new(KeyBloom::merged(&built)),
            judged: Arc::new(Judged::default()),
        };
        built.clear();
        // An update fails only when the filter's terms cannot be mapped onto the new
        // expression's, which are the same: the placeholder then stays, passing every row.
        if dynamic.update(Arc::new(filter)).is_ok() {
            dynamic.mark_complete();
        }
    }
}

/// How many rows a filter has tested and passed, and whether it has stopped testing.
#[derive(Debug, Default)]
struct Judged {
    tested: AtomicUsize,
    passed: AtomicUsize,
    off: AtomicBool,
}

impl Judged {
    fn record(&self, tested: usize, passed: usize) {
        let before = self.tested.fetch_add(tested, Ordering::Relaxed);
        let passed = self.passed.fetch_add(passed, Ordering::Relaxed) + passed;
        let tested = before + tested;
        if before < ROWS_JUDGED && tested >= ROWS_JUDGED {
            let rate = passed as f64 / tested as f64;
            self.off.store(rate > PASS_RATE_OFF, Ordering::Relaxed);
        }
    }

    fn off(&self) -> bool {
        self.off.load(Ordering::Relaxed)
    }
}

/// Whether a row's key may be among a join's build keys: true for every key the build side
/// holds, and for about one in two hundred others; false for NULL.
#[derive(Debug, Clone)]
pub struct KeyMayMatch {
    key: PhysicalExprRef,
    bloom: Arc<KeyBloom>,
    judged: Arc<Judged>,
}

impl PartialEq for KeyMayMatch {
    fn eq(&self, other: &Self) -> bool {
        // The filters are compared as the same build, not by content.
        self.key.as_ref() == other.key.as_ref() && Arc::ptr_eq(&self.bloom, &other.bloom)
    }
}

impl Eq for KeyMayMatch {}

impl Hash for KeyMayMatch {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key.hash(state);
        Arc::as_ptr(&self.bloom).hash(state);
    }
}

impl fmt::Display for KeyMayMatch {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let bytes = self.bloom.size();
        write!(
            f,
            "{} may match the build keys ({bytes} bytes of Bloom filter)",
            self.key
        )
    }
}

impl PhysicalExpr for KeyMayMatch {
    fn data_type(&self, _input_schema: &Schema) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn nullable(&self, _input_schema: &Schema) -> Result<bool> {
        Ok(false)
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        test_all(&[self], batch)
    }

    fn children(&self) -> Vec<&PhysicalExprRef> {
        vec![&self.key]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<PhysicalExprRef>,
    ) -> Result<PhysicalExprRef> {
        let [key] = <[PhysicalExprRef; 1]>::try_from(children).map_err(|children| {
            internal_datafusion_err!("KeyMayMatch takes one key, not {}", children.len())
        })?;
        Ok(Arc::new(KeyMayMatch {
            key,
            bloom: Arc::clone(&self.bloom),
            judged: Arc::clone(&self.judged),
        }))
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// Tests a batch's rows against `filters` in turn, the smallest Bloom filter first (it fits a
/// nearer cache, and fewer keys pass it), each next only on the rows still passing; a key
/// column is hashed once for all the filters on it. Filters that have stopped testing, or whose
/// key is of a type not joined here, pass every row.
fn test_all(filters: &[&KeyMayMatch], batch: &RecordBatch) -> Result<ColumnarValue> {
    let mut filters: Vec<&KeyMayMatch> = filters
        .iter()
        .copied()
        .filter(|f| !f.judged.off())
        .collect();
    filters.sort_by_key(|f| f.bloom.size());
    let mut hashed: Vec<(&PhysicalExprRef, Option<NullBuffer>, Vec<u64>)> = Vec::new();
    let mut passing: Option<BooleanBuffer> = None;
    for filter in filters {
        let at = match hashed
            .iter()
            .position(|(key, ..)| key.as_ref() == filter.key.as_ref())
        {
            Some(at) => at,
            None => {
                let keys = filter.key.evaluate(batch)?.into_array(batch.num_rows())?;
                let Some(key_type) = KeyType::of(keys.data_type()) else {
                    continue;
                };
                let hashes = with_keys!(key_type, keys, |k| hashes(k));
                hashed.push((&filter.key, keys.logical_nulls(), hashes));
                hashed.len() - 1
            }
        };
        let (_, nulls, hashes) = &hashed[at];
        let tested = passing
            .as_ref()
            .map_or(hashes.len(), |p| p.count_set_bits());
        let passes = filter
            .bloom
            .may_hold_each(hashes, nulls.as_ref(), passing.as_ref());
        let passed = passes.count_set_bits();
        filter.judged.record(tested, passed);
        passing = Some(passes);
        if passed == 0 {
            break;
        }
    }
    Ok(match passing {
        Some(passes) => ColumnarValue::Array(Arc::new(BooleanArray::new(passes, None))),
        None => ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))),
    })
}

/// Several joins' filters over one scan (each a dynamic filter), tested together by
/// [`test_all`]; a filter not yet filled passes every row.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct AllMayMatch {
    filters: Vec<PhysicalExprRef>,
}

impl fmt::Display for AllMayMatch {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let each: Vec<String> = self
            .filters
            .iter()
            .map(|filter| filter.to_string())
            .collect();
        write!(f, "{}", each.join(" AND "))
    }
}

impl PhysicalExpr for AllMayMatch {
    fn data_type(&self, _input_schema: &Schema) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn nullable(&self, _input_schema: &Schema) -> Result<bool> {
        Ok(false)
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        let current = self
            .filters
            .iter()
            .map(|filter| Ok(filter.snapshot()?.unwrap_or_else(|| Arc::clone(filter))))
            .collect::<Result<Vec<PhysicalExprRef>>>()?;
        let mut filled = Vec::with_capacity(current.len());
        for filter in &current {
            if let Some(filter) = filter.downcast_ref::<KeyMayMatch>() {
                filled.push(filter);
            } else if !filter
                .downcast_ref::<Literal>()
                .is_some_and(|l| l.value() == &ScalarValue::Boolean(Some(true)))
            {
                // Not a filter of fjq's joins, nor its placeholder: all are tested as they
                // are, as a conjunction.
                return conjunction(self.filters.iter().cloned()).evaluate(batch);
            }
        }
        test_all(&filled, batch)
    }

    fn children(&self) -> Vec<&PhysicalExprRef> {
        self.filters.iter().collect()
    }

    fn with_new_children(
        self: Arc<Self>,
        filters: Vec<PhysicalExprRef>,
    ) -> Result<PhysicalExprRef> {
        Ok(Arc::new(AllMayMatch { filters }))
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// Evaluates the dynamic filters fjq's joins fill over the scans they were pushed to (module
/// docs). It runs after [`crate::hash_join::OneKeyHashJoinRule`], which makes those joins.
#[derive(Debug, Default)]
pub struct ProbeFilterRule;

impl PhysicalOptimizerRule for ProbeFilterRule {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if !FjqOptions::plan_switch(config, |options| options.probe_filters) {
            return Ok(plan);
        }
        let mut filled = HashSet::new();
        let mut recursive = false;
        plan.apply(|node| {
            if let Some(id) = node
                .downcast_ref::<OneKeyHashJoinExec>()
                .and_then(|join| join.probe_filter_id())
            {
                filled.insert(id);
            }
            recursive |= node.downcast_ref::<RecursiveQueryExec>().is_some();
            Ok(TreeNodeRecursion::Continue)
        })?;
        if filled.is_empty() || recursive {
            return Ok(plan);
        }
        plan.transform_down(|node| {
            // An aggregate reading its filter through over a scan with filters to fill runs its
            // filter again, so that the probe filter (below) tests only the rows the filter
            // passes: reading through saved a copy, testing every row costs a hash of each. The
            // aggregate may then read the probe filter through instead.
            if let Some(aggregate) = node.downcast_ref::<SortedRunAggregateExec>()
                && let Some(own) = aggregate.filter_read()
                && let Some(scan) = own.input().downcast_ref::<DataSourceExec>()
                && !filled_filters(scan, &filled).is_empty()
            {
                return Ok(Transformed::yes(aggregate.over_filter()));
            }
            // A scan's own filter goes first: it is cheap, and what it drops is not hashed.
            if let Some(own) = node.downcast_ref::<FilterExec>()
                && let Some(scan) = own.input().downcast_ref::<DataSourceExec>()
            {
                let filters = filled_filters(scan, &filled);
                if filters.is_empty() {
                    return Ok(Transformed::new(node, false, TreeNodeRecursion::Jump));
                }
                let over = match over(&filters, &node)? {
                    Some(over) => over,
                    None => {
                        let scan = Arc::clone(own.input());
                        let Some(under) = over(&filters, &scan)? else {
                            return Ok(Transformed::new(node, false, TreeNodeRecursion::Jump));
                        };
                        let options =
                            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute);
                        Arc::clone(&node).replace_children(vec![under], options)?
                    }
                };
                return Ok(Transformed::new(over, true, TreeNodeRecursion::Jump));
            }
            if let Some(scan) = node.downcast_ref::<DataSourceExec>() {
                let filters = filled_filters(scan, &filled);
                if let Some(over) = over(&filters, &node)? {
                    return Ok(Transformed::new(over, true, TreeNodeRecursion::Jump));
                }
            }
            Ok(Transformed::no(node))
        })
        .map(|transformed| transformed.data)
    }

    fn name(&self) -> &str {
        "fjq_probe_filters"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The dynamic filters in a scan's predicate that fjq's joins fill.
fn filled_filters(scan: &DataSourceExec, filled: &HashSet<u64>) -> Vec<PhysicalExprRef> {
    let Some(predicate) = scan
        .data_source()
        .downcast_ref::<FileScanConfig>()
        .and_then(|config| config.file_source().filter())
    else {
        return Vec::new();
    };
    split_conjunction(&predicate)
        .into_iter()
        .filter(|term| {
            term.downcast_ref::<DynamicFilterPhysicalExpr>()
                .and_then(|filter| filter.expression_id())
                .is_some_and(|id| filled.contains(&id))
        })
        .cloned()
        .collect()
}

/// A `FilterExec` of `filters` over `input`, their columns found by name in its output (the
/// scan's predicate names the table's columns, by their places in the table). `None` when a
/// filter's term is not a column there.
fn over(
    filters: &[PhysicalExprRef],
    input: &Arc<dyn ExecutionPlan>,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let schema = input.schema();
    let mut mapped = Vec::with_capacity(filters.len());
    for filter in filters {
        let mut terms = Vec::new();
        for term in filter.children() {
            let Some(column) = term.downcast_ref::<Column>() else {
                return Ok(None);
            };
            let Ok(index) = schema.index_of(column.name()) else {
                return Ok(None);
            };
            terms.push(Arc::new(Column::new(column.name(), index)) as PhysicalExprRef);
        }
        mapped.push(Arc::clone(filter).with_new_children(terms)?);
    }
    let predicate = match mapped.len() {
        1 => mapped.remove(0),
        _ => Arc::new(AllMayMatch { filters: mapped }),
    };
    Ok(Some(Arc::new(FilterExec::try_new(
        predicate,
        Arc::clone(input),
    )?)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{ArrayRef, StringArray};
    use datafusion::arrow::datatypes::Field;

    fn ids(range: std::ops::Range<u32>) -> StringArray {
        StringArray::from_iter_values(range.map(|i| format!("P{i:016}")))
    }

    fn batch(keys: ArrayRef) -> RecordBatch {
        let schema = Schema::new(vec![Field::new("k", keys.data_type().clone(), true)]);
        RecordBatch::try_new(Arc::new(schema), vec![keys]).expect("batch")
    }

    /// The rows of `batch` a filter passes.
    fn passed(filter: &dyn PhysicalExpr, batch: &RecordBatch) -> usize {
        let passes = filter
            .evaluate(batch)
            .and_then(|v| v.into_array(batch.num_rows()))
            .expect("evaluates");
        passes.as_boolean().true_count()
    }

    fn key() -> PhysicalExprRef {
        Arc::new(Column::new("k", 0))
    }

    #[test]
    fn a_bloom_holds_every_key_it_was_given_and_few_others() {
        let held = ids(0..100_000);
        let bloom = KeyBloom::of(&hashes(&held), None);
        // 16 bits a key, rounded up to a power of two words: 32768 words.
        assert_eq!(bloom.size(), 32_768 * 8);
        let held_hashes = hashes(&held);
        assert!(held_hashes.iter().all(|&h| bloom.may_hold(h)));
        // At 21 bits a key, under 0.5% expected of keys not held; 1% allowed.
        let others = hashes(&ids(100_000..300_000));
        let false_positives = others.iter().filter(|&&h| bloom.may_hold(h)).count();
        assert!(
            false_positives < 2_000,
            "{false_positives} of 200000 keys not held passed"
        );
    }

    #[test]
    fn merged_partitions_hold_every_key_of_each() {
        // Partitions of 10, 3000 and 70000 keys: filters of 4, 1024 and 32768 words.
        let parts = [ids(0..10), ids(10..3_010), ids(3_010..73_010)];
        let blooms: Vec<KeyBloom> = parts
            .iter()
            .map(|p| KeyBloom::of(&hashes(p), None))
            .collect();
        assert_eq!(
            blooms.iter().map(|b| b.size() / 8).collect::<Vec<_>>(),
            [4, 1024, 32_768]
        );
        let merged = KeyBloom::merged(&blooms);
        assert_eq!(merged.size(), 32_768 * 8);
        assert!(hashes(&ids(0..73_010)).iter().all(|&h| merged.may_hold(h)));
        // The small filters' words are repeated across the large one's, about 7.6 keys' bits a
        // word in all: about 2% of keys not held pass (partitions split by hash are of like
        // sizes, where it is the 0.5% of one filter); 3% allowed.
        let others = hashes(&ids(100_000..200_000));
        let false_positives = others.iter().filter(|&&h| merged.may_hold(h)).count();
        assert!(
            false_positives < 3_000,
            "{false_positives} of 100000 not held passed"
        );
    }

    #[test]
    fn null_keys_are_neither_held_nor_passed() {
        // The NULL's slot holds "", which must not be taken for a key.
        let build = StringArray::from(vec![None, Some("P1")]);
        let bloom = KeyBloom::of(&hashes(&build), build.logical_nulls().as_ref());
        let filter = KeyMayMatch {
            key: key(),
            bloom: Arc::new(bloom),
            judged: Arc::new(Judged::default()),
        };
        let probe = StringArray::from(vec![Some(""), None, Some("P1"), Some("P2")]);
        let passes = filter
            .evaluate(&batch(Arc::new(probe)))
            .and_then(|v| v.into_array(4))
            .expect("evaluates");
        let passes: Vec<bool> = passes
            .as_boolean()
            .iter()
            .map(|p| p == Some(true))
            .collect();
        assert_eq!(passes, [false, false, true, false]);
    }

    #[test]
    fn the_filter_is_filled_once_every_partition_has_built() {
        let dynamic = Arc::new(DynamicFilterPhysicalExpr::new(
            vec![key()],
            datafusion::physical_expr::expressions::lit(true),
        ));
        let sink = ProbeFilterSink::new(Arc::clone(&dynamic) as PhysicalExprRef, key(), 2);
        let probe = batch(Arc::new(ids(0..4_000)));
        // Partition 0 holds keys 0-999, partition 1 keys 1000-1999.
        sink.add(KeyBloom::of(&hashes(&ids(0..1_000)), None));
        assert_eq!(
            passed(dynamic.as_ref(), &probe),
            4_000,
            "one partition built: all pass"
        );
        sink.add(KeyBloom::of(&hashes(&ids(1_000..2_000)), None));
        let after = passed(dynamic.as_ref(), &probe);
        // 2000 keys in 256 words: about 3% of the 2000 others pass (61 expected); 6% allowed.
        assert!(
            (2_000..2_120).contains(&after),
            "both built: the 2000 held and few others pass, not {after}"
        );
    }

    #[test]
    fn several_filters_pass_only_the_rows_all_may_hold() {
        let filter_of = |keys: StringArray| -> PhysicalExprRef {
            Arc::new(KeyMayMatch {
                key: key(),
                bloom: Arc::new(KeyBloom::of(&hashes(&keys), None)),
                judged: Arc::new(Judged::default()),
            })
        };
        let placeholder = Arc::new(DynamicFilterPhysicalExpr::new(
            vec![key()],
            datafusion::physical_expr::expressions::lit(true),
        ));
        let all = AllMayMatch {
            filters: vec![
                filter_of(ids(0..50_000)),
                placeholder,
                filter_of(ids(40_000..41_000)),
            ],
        };
        let probe = batch(Arc::new(ids(0..100_000)));
        let passes = all
            .evaluate(&probe)
            .and_then(|v| v.into_array(100_000))
            .expect("evaluates");
        let passes = passes.as_boolean();
        assert!(
            (40_000..41_000).all(|row| passes.value(row)),
            "the keys both hold pass"
        );
        // The 49000 other keys the first holds pass the second as 0.5% of keys not held do
        // (1000 keys in 256 words); 1% allowed. Keys neither holds pass almost never.
        let others = passes.true_count() - 1_000;
        assert!(others < 490, "{others} rows outside both passed");
    }

    #[test]
    fn a_filter_passing_most_rows_stops_testing_and_one_dropping_most_goes_on() {
        let held = ids(0..10_000);
        let filter_of = || KeyMayMatch {
            key: key(),
            bloom: Arc::new(KeyBloom::of(&hashes(&held), None)),
            judged: Arc::new(Judged::default()),
        };
        let passing = filter_of();
        let all_held = batch(Arc::new(held.clone()));
        for _ in 0..ROWS_JUDGED.div_ceil(10_000) {
            assert_eq!(passed(&passing, &all_held), 10_000);
        }
        assert!(matches!(
            passing.evaluate(&all_held).expect("evaluates"),
            ColumnarValue::Scalar(ScalarValue::Boolean(Some(true)))
        ));

        let dropping = filter_of();
        let mostly_not = batch(Arc::new(ids(5_000..105_000)));
        assert!(passed(&dropping, &mostly_not) < 6_000);
        let again = dropping.evaluate(&mostly_not).expect("evaluates");
        assert!(matches!(again, ColumnarValue::Array(_)), "still testing");
    }
}
