//! How a session is built: the memory limit and spill directory, parallelism, the `fjq.*`
//! settings taken from `dataset.json`, and fjq's physical optimizer rules (the entry windows, and
//! string views compacted under join build sides).

use crate::error::{EngineError, Result};
use crate::safe::Policy;
use datafusion::execution::context::{SessionConfig, SessionContext};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_optimizer::optimizer::PhysicalOptimizer;
use fjq_contract::DatasetInfo;
use fjq_udfs::FjqOptions;
use std::path::PathBuf;
use std::sync::Arc;

/// How to build the session.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Memory limit for query execution in bytes; operators that can spill do so beyond it.
    pub memory_limit: Option<usize>,
    /// Where spill files go (a temporary directory under it, removed when the engine closes).
    pub spill_dir: Option<PathBuf>,
    /// Parallelism; defaults to the machine's cores.
    pub target_partitions: Option<usize>,
    /// Also register the generator's ground truth (`_truth/`) as schema `truth`, for tests.
    pub register_truth: bool,
    /// The disclosure policy (design/DISCLOSURE.md).
    pub policy: Policy,
    /// Where safe releases and their log go.
    pub release_dir: Option<PathBuf>,
    /// Under the open policy, where SQL may write (COPY TO) besides the data directory.
    pub output_dir: Option<PathBuf>,
    /// Scan the code columns as string views (`fjq_engine::result_types`); on by default.
    /// Results keep the contract's `Utf8` either way.
    pub string_views: bool,
    /// Declare scans range-partitioned on their key where the files' footers prove it
    /// (`fjq_engine::file_ranges`); on by default.
    pub declare_file_ranges: bool,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            memory_limit: None,
            spill_dir: None,
            target_partitions: None,
            register_truth: false,
            policy: Policy::default(),
            release_dir: None,
            output_dir: None,
            string_views: true,
            declare_file_ranges: true,
        }
    }
}

/// The session for a dataset: its coverage windows as `fjq.*` settings, the information schema
/// on, the memory pool and spill directory, and fjq's physical optimizer rules.
pub(crate) fn build_context(
    dataset: &DatasetInfo,
    config: &EngineConfig,
) -> Result<SessionContext> {
    let options = FjqOptions {
        court_coverage_start: dataset.coverage.family_court.from.clone(),
        court_coverage_end: dataset.coverage.family_court.to.clone(),
        cafcass_coverage_start: dataset.coverage.cafcass.from.clone(),
        cafcass_coverage_end: dataset.coverage.cafcass.to.clone(),
        ..Default::default()
    };
    let partitions = config.target_partitions.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    let mut session = SessionConfig::new()
        .with_information_schema(true)
        .with_target_partitions(partitions)
        .with_option_extension(options);
    // Page-index pruning and statistics make the sorted layout pay off.
    session.options_mut().execution.parquet.enable_page_index = true;
    session.options_mut().execution.parquet.pushdown_filters = false;
    // Scans declared range-partitioned (file_ranges) have one partition per thread: let a
    // grouping by the key and more (`case_id, case_type`) use them as they are on two threads.
    session.options_mut().optimizer.subset_repartition_threshold = 2;
    let mut runtime = RuntimeEnvBuilder::new();
    if let Some(limit) = config.memory_limit {
        if limit == 0 {
            return Err(EngineError::Config(
                "the memory limit must be above zero".to_string(),
            ));
        }
        runtime = runtime.with_memory_limit(limit, 1.0);
        session.options_mut().execution.sort_spill_reservation_bytes = merge_reservation(limit);
    }
    if let Some(dir) = &config.spill_dir {
        if !dir.is_dir() {
            return Err(EngineError::Config(format!(
                "spill directory {} does not exist",
                dir.display()
            )));
        }
        runtime = runtime.with_temp_file_path(dir);
    }
    let state = SessionStateBuilder::new()
        .with_config(session)
        .with_runtime_env(runtime.build_arc()?)
        .with_default_features()
        .with_expr_planners(crate::date_parts::planners())
        .with_optimizer_rule(Arc::new(crate::day_shift::DayShiftRule))
        .with_optimizer_rule(Arc::new(crate::implied_joins::ImpliedJoinsRule))
        .with_physical_optimizer_rules(physical_optimizer_rules())
        .build();
    Ok(SessionContext::new_with_state(state))
}

/// DataFusion's physical optimizer rules with fjq's: the filters' null-count estimates right
/// before DataFusion chooses join sides and modes (which must see them), the join mode rule
/// right after (before distribution is enforced, which must see the mode it picks), the merge
/// joins once distribution and sorting are enforced, the merged
/// exchanges, sorted DISTINCT, sorted aggregation, entry window, view compaction, small-key and
/// key-sort rules at the end, on the finished plan (in that order: each sees the shapes the one
/// before leaves; the exchange rules look for DataFusion's partial aggregates, the sorted
/// DISTINCT and entry window rules for DataFusion's sorts, which the key sort then replaces).
fn physical_optimizer_rules() -> Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> {
    let mut rules = PhysicalOptimizer::new().rules;
    let join_selection = rules
        .iter()
        .position(|rule| rule.name() == "join_selection")
        .unwrap_or(0);
    rules.insert(
        join_selection,
        Arc::new(crate::null_counts::FilterNullCountsRule),
    );
    rules.insert(
        join_selection + 2,
        Arc::new(crate::join_mode::CollectSmallBuildRule),
    );
    // Joins whose sides arrive sorted on their keys merge: once distribution and sorting are
    // settled (DataFusion's `EnsureRequirements`), before projections are folded into joins.
    let sorting = rules
        .iter()
        .position(|rule| rule.name() == "EnsureRequirements")
        .map_or(rules.len(), |i| i + 1);
    rules.insert(sorting, Arc::new(crate::merge_join::MergeJoinRule));
    // First of those at the end: DataFusion has pushed its dynamic filters down, and the rules
    // after it see them on the scans they belong on.
    rules.push(Arc::new(crate::filter_placement::FilterPlacementRule));
    rules.push(Arc::new(crate::repartition_once::RepartitionOnceRule));
    rules.push(Arc::new(crate::sorted_distinct::SortedDistinctRule));
    rules.push(Arc::new(crate::sorted_aggregate::SortedRunsRule::default()));
    rules.push(Arc::new(fjq_udfs::entries::window_exec::EntryWindowRule));
    rules.push(Arc::new(crate::compact_views::CompactViewsRule));
    rules.push(Arc::new(crate::small_domains::SmallDomainsRule::default()));
    rules.push(Arc::new(crate::small_keys::SmallKeysRule::default()));
    rules.push(Arc::new(crate::key_sort::KeySortRule));
    // Last: the rules above look for DataFusion's `HashJoinExec`.
    rules.push(Arc::new(crate::hash_join::OneKeyHashJoinRule));
    // After the joins it fills the filters of.
    rules.push(Arc::new(crate::probe_filter::ProbeFilterRule));
    rules
}

/// What each sort sets aside for merging its spilled runs. DataFusion's 10 MB per sort is too
/// much under a small limit: two partitions sorting at once would need 20 MB before sorting
/// anything, and fail rather than spill. A quarter of the limit, at most 10 MB.
pub(crate) fn merge_reservation(limit: usize) -> usize {
    (limit / 4).clamp(1 << 20, 10 << 20)
}

/// Parses a memory size such as `512M`, `1G`, `1.5GB` or a plain byte count.
pub fn parse_memory_size(text: &str) -> Result<usize> {
    let t = text.trim().to_ascii_uppercase();
    let t = t.strip_suffix('B').unwrap_or(&t);
    let (number, unit) = match t.chars().last() {
        Some('K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('M') => (&t[..t.len() - 1], 1 << 20),
        Some('G') => (&t[..t.len() - 1], 1 << 30),
        Some('T') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    match number.trim().parse::<f64>() {
        Ok(n) if n > 0.0 && n.is_finite() => Ok((n * unit as f64) as usize),
        _ => Err(EngineError::Config(format!(
            "memory size {text:?} is not understood: write a number with an optional unit, like 512M or 2G"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_memory_size("512m").unwrap(), 512 << 20);
        assert_eq!(parse_memory_size("1.5GB").unwrap(), 3 << 29);
        assert_eq!(parse_memory_size("1000").unwrap(), 1000);
        for bad in ["", "G", "-1G", "lots", "0"] {
            assert!(parse_memory_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn merge_reservation_scales_with_small_limits() {
        assert_eq!(merge_reservation(16 << 20), 4 << 20);
        assert_eq!(merge_reservation(1 << 30), 10 << 20);
        assert_eq!(merge_reservation(1 << 20), 1 << 20);
    }
}
