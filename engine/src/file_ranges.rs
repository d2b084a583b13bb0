//! Range partitions declared from the files' own key ranges.
//!
//! The generator writes `cases`, `events` and `people` in files split at the same `case_id`
//! boundaries, and the Cafcass tables at the same `cafcass_case_id` ones, each file sorted by
//! that key. When a table's footers prove that its files, in name order, hold ascending key
//! ranges that do not overlap, fjq tells DataFusion the scan is range-partitioned on the key,
//! each partition a run of whole files ([`split_points`]). A per-case aggregate then runs in one
//! phase with no repartition (every case's rows are in one partition), and a join between two
//! tables split at the same points meets partition by partition instead of shuffling both
//! sides. DataFusion does not check a declaration (`RangePartitioning`'s contract), so nothing
//! is declared unless the footers show it to hold: an imported extract or a folder of files
//! written any other way is scanned as before. [`DeclaredRanges`] keeps a declaration true if
//! the files change under a running engine.

use crate::validate;
use datafusion::arrow::array::Array;
use datafusion::arrow::compute::cast;
use datafusion::catalog::{ScanArgs, ScanResult, Session, TableProvider};
use datafusion::common::{Constraints, ScalarValue, Statistics};
use datafusion::datasource::listing::ListingTable;
use datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use fjq_contract::TableSpec;
use parquet::arrow::arrow_reader::ArrowReaderMetadata;
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// The smallest and largest key of one file: bounds from its row groups' statistics, which may
/// be truncated for long strings but then still bound the values (a shorter minimum, a larger
/// maximum).
pub type KeyRange = (ScalarValue, ScalarValue);

/// The range of `spec`'s first sort column in a file, or `None` when a row group has no
/// statistics for it or holds a NULL key (a NULL would belong to no declared range).
pub(crate) fn key_range(spec: &TableSpec, meta: &ArrowReaderMetadata) -> Option<KeyRange> {
    let key = *spec.sort_order.first()?;
    let wanted = spec
        .columns
        .iter()
        .find(|c| c.name == key)?
        .data_type
        .arrow();
    let parquet = meta.metadata();
    let converter =
        StatisticsConverter::try_new(key, meta.schema(), parquet.file_metadata().schema_descr())
            .ok()?;
    let groups = parquet.row_groups();
    if groups.is_empty() {
        return None;
    }
    let nulls = converter.row_group_null_counts(groups.iter()).ok()?;
    if nulls.null_count() > 0 || nulls.values().iter().any(|&n| n > 0) {
        return None;
    }
    // One type for every file whatever its Arrow encoding (dictionary, large or view strings).
    let bound = |array: datafusion::arrow::array::ArrayRef, pick: Ordering| {
        let array = cast(&array, &wanted).ok()?;
        if array.null_count() > 0 {
            return None;
        }
        let mut best: Option<ScalarValue> = None;
        for i in 0..array.len() {
            let v = ScalarValue::try_from_array(&array, i).ok()?;
            best = match best {
                None => Some(v),
                Some(b) => match v.partial_cmp(&b)? {
                    o if o == pick => Some(v),
                    _ => Some(b),
                },
            };
        }
        best
    };
    let min = bound(
        converter.row_group_mins(groups.iter()).ok()?,
        Ordering::Less,
    )?;
    let max = bound(
        converter.row_group_maxes(groups.iter()).ok()?,
        Ordering::Greater,
    )?;
    Some((min, max))
}

/// One table's files as checked at open: their paths in name order and each file's key range.
#[derive(Debug, Clone)]
pub struct TableFiles {
    pub spec: &'static TableSpec,
    pub files: Vec<PathBuf>,
    pub ranges: Vec<Option<KeyRange>>,
}

/// The split points to declare for each table that can be declared range-partitioned.
///
/// A table qualifies when it has at least as many files as `threads`, each file with a known
/// key range lying wholly below the next file's. Its partitions are runs of consecutive files:
/// `threads` runs of equal length when the file count allows (the generator writes equal files
/// in a multiple of four, so each thread scans an equal share and holds one stream), else one
/// file each. Fewer partitions than threads would leave threads idle. The split points are the
/// first key of every run but the first. Tables keyed on the same column with as many runs get
/// the same split points when one set fits them all (at each run, the lowest first key, which
/// must lie above every table's previous run), so that DataFusion sees them co-partitioned
/// and joins them run by run.
pub fn split_points(
    tables: &[TableFiles],
    threads: usize,
) -> HashMap<&'static str, Vec<ScalarValue>> {
    let threads = threads.max(1);
    let mut own: Vec<(&TableFiles, Vec<KeyRange>)> = Vec::new();
    for table in tables {
        let n = table.files.len();
        let runs = if n.is_multiple_of(threads) {
            threads
        } else {
            n
        };
        if n < threads || runs < 2 || !names_sort_as_paths(&table.files) {
            continue;
        }
        let Some(ranges) = table.ranges.iter().cloned().collect::<Option<Vec<_>>>() else {
            continue;
        };
        let ascending = ranges.iter().all(|(min, max)| !below(max, min))
            && ranges.windows(2).all(|w| below(&w[0].1, &w[1].0));
        if ascending {
            let run_ranges = ranges
                .chunks(n / runs)
                .map(|run| (run[0].0.clone(), run[run.len() - 1].1.clone()))
                .collect();
            own.push((table, run_ranges));
        }
    }
    let mut splits = HashMap::new();
    let mut done = vec![false; own.len()];
    for i in 0..own.len() {
        if done[i] {
            continue;
        }
        let key = own[i].0.spec.sort_order[0];
        let n = own[i].1.len();
        let group: Vec<usize> = (i..own.len())
            .filter(|&j| !done[j] && own[j].0.spec.sort_order[0] == key && own[j].1.len() == n)
            .collect();
        let shared = (1..n)
            .map(|f| {
                let lowest = group
                    .iter()
                    .map(|&j| &own[j].1[f].0)
                    .reduce(|low, v| if below(v, low) { v } else { low })?;
                group
                    .iter()
                    .all(|&j| below(&own[j].1[f - 1].1, lowest))
                    .then(|| lowest.clone())
            })
            .collect::<Option<Vec<_>>>();
        for &j in &group {
            done[j] = true;
            let points = match &shared {
                Some(points) => points.clone(),
                None => own[j].1[1..].iter().map(|r| r.0.clone()).collect(),
            };
            splits.insert(own[j].0.spec.name, points);
        }
    }
    splits
}

/// `a < b`, false when the two cannot be compared.
fn below(a: &ScalarValue, b: &ScalarValue) -> bool {
    a.partial_cmp(b) == Some(Ordering::Less)
}

/// Whether DataFusion will list the files in the order fjq checked them: it sorts object-store
/// paths, which percent-encode some characters, and skips hidden files. Plain names sort the
/// same either way.
fn names_sort_as_paths(files: &[PathBuf]) -> bool {
    files.iter().all(|f| {
        f.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
            !n.starts_with(['.', '_'])
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
    })
}

/// A table scanned with declared range partitions while its files are the ones the
/// declaration was made from, and without them otherwise. A file added, removed or rewritten
/// under a running engine would put rows in partitions the declaration does not say, and
/// DataFusion would join and aggregate them wrongly without an error; so each scan first
/// compares the folder with what was checked at open, and falls back to the undeclared scan.
#[derive(Debug)]
pub struct DeclaredRanges {
    pub declared: Arc<ListingTable>,
    pub plain: Arc<ListingTable>,
    pub spec: &'static TableSpec,
    pub data_dir: PathBuf,
    pub files_at_open: Vec<validate::FileStamp>,
}

impl DeclaredRanges {
    fn current(&self) -> &Arc<ListingTable> {
        let now = validate::snapshot(&self.data_dir, &[self.spec]);
        if now.get(self.spec.name) == Some(&self.files_at_open) {
            &self.declared
        } else {
            &self.plain
        }
    }
}

#[async_trait::async_trait]
impl TableProvider for DeclaredRanges {
    fn schema(&self) -> datafusion::arrow::datatypes::SchemaRef {
        self.plain.schema()
    }

    fn constraints(&self) -> Option<&Constraints> {
        self.plain.constraints()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn get_table_definition(&self) -> Option<&str> {
        self.plain.get_table_definition()
    }

    fn get_logical_plan(&self) -> Option<Cow<'_, LogicalPlan>> {
        None
    }

    fn get_column_default(&self, column: &str) -> Option<&Expr> {
        self.plain.get_column_default(column)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        self.current().scan(state, projection, filters, limit).await
    }

    async fn scan_with_args<'a>(
        &self,
        state: &dyn Session,
        args: ScanArgs<'a>,
    ) -> datafusion::error::Result<ScanResult> {
        self.current().scan_with_args(state, args).await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> datafusion::error::Result<Vec<TableProviderFilterPushDown>> {
        self.plain.supports_filters_pushdown(filters)
    }

    fn statistics(&self) -> Option<Statistics> {
        self.plain.statistics()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> ScalarValue {
        ScalarValue::Utf8(Some(v.to_string()))
    }

    fn table(spec: &'static TableSpec, ranges: &[(&str, &str)]) -> TableFiles {
        TableFiles {
            spec,
            files: (0..ranges.len())
                .map(|i| PathBuf::from(format!("/d/part-{i:05}.parquet")))
                .collect(),
            ranges: ranges.iter().map(|(a, b)| Some((s(a), s(b)))).collect(),
        }
    }

    fn spec(name: &str) -> &'static TableSpec {
        fjq_contract::TABLES
            .iter()
            .find(|t| t.name == name)
            .expect("a contract table")
    }

    #[test]
    fn tables_split_alike_share_the_lowest_first_keys() {
        // Cases begin at B in the second file, events (a case with no events) at C.
        let cases = table(spec("cases"), &[("A", "AZ"), ("B", "BZ"), ("D", "DZ")]);
        let events = table(spec("events"), &[("A", "AY"), ("C", "CZ"), ("D", "DZ")]);
        let splits = split_points(&[cases, events], 2);
        assert_eq!(splits["cases"], vec![s("B"), s("D")]);
        assert_eq!(splits["events"], vec![s("B"), s("D")]);
    }

    #[test]
    fn tables_that_cannot_share_keep_their_own_split_points() {
        // Events' second file starts below the end of cases' first.
        let cases = table(spec("cases"), &[("A", "BB"), ("C", "DZ")]);
        let events = table(spec("events"), &[("A", "AZ"), ("B", "DZ")]);
        let splits = split_points(&[cases, events], 2);
        assert_eq!(splits["cases"], vec![s("C")]);
        assert_eq!(splits["events"], vec![s("B")]);
    }

    #[test]
    fn overlapping_touching_or_unknown_ranges_and_single_files_declare_nothing() {
        let overlap = table(spec("cases"), &[("A", "C"), ("B", "D")]);
        let touching = table(spec("events"), &[("A", "B"), ("B", "D")]);
        let one = table(spec("people"), &[("A", "D")]);
        let mut unknown = table(spec("case_links"), &[("A", "B"), ("C", "D")]);
        unknown.ranges[1] = None;
        let splits = split_points(&[overlap, touching, one, unknown], 2);
        assert!(splits.is_empty(), "{splits:?}");
    }

    #[test]
    fn files_a_multiple_of_the_threads_are_declared_in_equal_runs() {
        let cases = table(
            spec("cases"),
            &[("A", "AZ"), ("B", "BZ"), ("C", "CZ"), ("D", "DZ")],
        );
        assert_eq!(
            split_points(std::slice::from_ref(&cases), 2)["cases"],
            vec![s("C")]
        );
        assert_eq!(
            split_points(std::slice::from_ref(&cases), 4)["cases"],
            vec![s("B"), s("C"), s("D")]
        );
        // Three files for two threads: one file each.
        let three = table(spec("events"), &[("A", "AZ"), ("B", "BZ"), ("C", "CZ")]);
        assert_eq!(split_points(&[three], 2)["events"], vec![s("B"), s("C")]);
    }

    #[test]
    fn fewer_files_than_threads_or_unusual_names_declare_nothing() {
        let cases = table(spec("cases"), &[("A", "AZ"), ("B", "BZ")]);
        assert!(split_points(std::slice::from_ref(&cases), 4).is_empty());
        let mut odd = cases.clone();
        odd.files[1] = PathBuf::from("/d/part 1.parquet");
        assert!(split_points(&[odd], 2).is_empty());
        assert_eq!(split_points(&[cases], 2)["cases"], vec![s("B")]);
    }
}
