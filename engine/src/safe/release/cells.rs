//! From the executed query to cells: each row becomes a cell keyed by its dimensions' levels,
//! the rules are applied to it, the interior cells no row reached are added as empty ones, and
//! the whole becomes one [`CellTable`]: what secondary suppression, differencing, publication
//! and the log all read, computed once.

use super::super::analyze::{Analysis, HIDDEN, OutputColumn};
use super::super::log::LoggedCell;
use crate::{EngineError, Result};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::array_value_to_string;
use fjq_udfs::disclosure::contributions::stats_from_arrays;
use fjq_udfs::disclosure::{Cell, MeasureKind, MeasureStats, Rule, Rules, Table};
use std::collections::{BTreeSet, HashMap};

/// A result's cells, judged and completed, with everything the later steps need about them.
pub(crate) struct CellTable {
    pub rows: Vec<Row>,
    /// Each dimension's levels as text, in sorted order (a key's numbers index these).
    pub levels: Vec<Vec<String>>,
    /// Each dimension's name (the result column showing it).
    pub dimensions: Vec<String>,
    /// The additive measures' names (the table's measures, in order).
    pub additive_names: Vec<String>,
    /// Per additive measure: whether its margins are exact sums (false for distinct counts,
    /// whose margins only bound their cells).
    pub exact: Vec<bool>,
    /// The table secondary suppression works on (additive measures only).
    pub table: Table,
    /// The least value a hidden cell can take: 0, or unbounded when a contribution is negative.
    pub lower: f64,
}

impl CellTable {
    /// Reads the executed rows (one batch) into cells and judges each one.
    pub fn build(analysis: &Analysis, batch: &RecordBatch, rules: &Rules) -> Result<CellTable> {
        let (mut rows, levels) = read_rows(analysis, batch, rules)?;
        complete(analysis, &mut rows, &levels, rules);
        let levels = sort_levels(&mut rows, levels);
        let additive: Vec<usize> = analysis
            .measures
            .iter()
            .enumerate()
            .filter(|(_, m)| m.kind.is_additive())
            .map(|(i, _)| i)
            .collect();
        let additive_names = additive
            .iter()
            .map(|&m| analysis.measures[m].name.clone())
            .collect();
        let exact: Vec<bool> = additive
            .iter()
            .map(|&m| !analysis.measures[m].distinct)
            .collect();
        let table = Table::new(
            analysis.dimensions.len(),
            additive.len(),
            rows.iter()
                .map(|r| {
                    let zero = is_zero(analysis, r);
                    Cell {
                        key: r.key.clone(),
                        values: additive
                            .iter()
                            .map(|&m| r.values[m].unwrap_or(0.0))
                            .collect(),
                        primary: !r.failures.is_empty(),
                        zero,
                        small: zero
                            || r.failures
                                .iter()
                                .any(|(rule, _)| matches!(rule, Rule::Threshold | Rule::Zero)),
                    }
                })
                .collect(),
        )
        .with_exact(exact.clone());
        let lower = if rows.iter().any(|r| r.stats.iter().any(|s| s.negative)) {
            f64::NEG_INFINITY
        } else {
            0.0
        };
        Ok(CellTable {
            rows,
            levels,
            dimensions: (0..analysis.dimensions.len())
                .map(|d| dimension_name(analysis, d))
                .collect(),
            additive_names,
            exact,
            table,
            lower,
        })
    }

    /// A cell in words: `region=Wales, outcome=(total)`.
    pub fn describe(&self, cell: usize) -> String {
        let key = &self.table.cells[cell].key;
        describe_key(
            &self.dimensions,
            key.iter()
                .enumerate()
                .map(|(d, k)| k.map(|l| self.levels[d][l as usize].as_str())),
        )
    }

    /// The cells as the release log keeps them, given which are suppressed.
    pub fn logged(&self, suppressed: &[bool]) -> Vec<LoggedCell> {
        self.rows
            .iter()
            .enumerate()
            .map(|(i, r)| LoggedCell {
                key: r
                    .key
                    .iter()
                    .enumerate()
                    .map(|(d, k)| k.map(|l| self.levels[d][l as usize].clone()))
                    .collect(),
                values: self.table.cells[i].values.clone(),
                published: !suppressed[i],
                primary: self.table.cells[i].primary,
                small: self.table.cells[i].small,
                zero: self.table.cells[i].zero,
                failed: r
                    .failures
                    .iter()
                    .map(|(rule, _)| rule.name().to_string())
                    .collect(),
            })
            .collect()
    }

    /// How many cells fail a rule.
    pub fn primary(&self) -> usize {
        self.table.cells.iter().filter(|c| c.primary).count()
    }
}

/// A cell key in words, given each dimension's name and level (None for a total).
pub(crate) fn describe_key<'a>(
    dimensions: &[String],
    key: impl Iterator<Item = Option<&'a str>>,
) -> String {
    dimensions
        .iter()
        .zip(key)
        .map(|(d, k)| format!("{d}={}", k.unwrap_or("(total)")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Each dimension's levels, numbered in the order they are first seen.
pub(crate) struct Levels {
    pub names: Vec<Vec<String>>,
    index: Vec<HashMap<String, u32>>,
}

impl Levels {
    pub fn new(dimensions: usize) -> Levels {
        Levels {
            names: vec![Vec::new(); dimensions],
            index: vec![HashMap::new(); dimensions],
        }
    }

    /// The number of `text` among dimension `d`'s levels, numbering it if it is new.
    pub fn intern(&mut self, d: usize, text: String) -> u32 {
        let next = self.names[d].len() as u32;
        let names = &mut self.names[d];
        *self.index[d].entry(text).or_insert_with_key(|text| {
            names.push(text.clone());
            next
        })
    }
}

/// One cell of the result, before suppression.
pub(crate) struct Row {
    /// Index into the executed batches' rows (None for a cell completed as empty).
    pub source: Option<usize>,
    pub key: Vec<Option<u32>>,
    pub persons: u64,
    /// Per measure: its value as a number (None when NULL or not numeric), and its stats.
    pub values: Vec<Option<f64>>,
    pub stats: Vec<MeasureStats>,
    pub failures: Vec<(Rule, String)>,
}

/// `c.dfj_area` -> `dfj_area`: dimensions match across releases by column name.
fn short(name: &str) -> String {
    name.rsplit('.').next().unwrap_or(name).to_string()
}

/// A dimension's name: the result column showing it, else its expression's column name.
fn dimension_name(analysis: &Analysis, d: usize) -> String {
    analysis
        .columns
        .iter()
        .position(|c| *c == OutputColumn::Dimension(d))
        .map(|i| analysis.schema.field(i).name().clone())
        .unwrap_or_else(|| short(&analysis.dimensions[d]))
}

/// Numbers each dimension's levels in sorted order (they were numbered as rows arrived, which
/// parallel execution varies), so that the same query always gets the same pattern.
fn sort_levels(rows: &mut [Row], levels: Vec<Vec<String>>) -> Vec<Vec<String>> {
    let mut sorted = Vec::with_capacity(levels.len());
    let mut renumber: Vec<Vec<u32>> = Vec::with_capacity(levels.len());
    for names in levels {
        let mut order: Vec<usize> = (0..names.len()).collect();
        order.sort_by(|&a, &b| names[a].cmp(&names[b]));
        let mut new_of = vec![0u32; names.len()];
        for (new, &old) in order.iter().enumerate() {
            new_of[old] = new as u32;
        }
        sorted.push(order.iter().map(|&i| names[i].clone()).collect());
        renumber.push(new_of);
    }
    for r in rows.iter_mut() {
        for (d, k) in r.key.iter_mut().enumerate() {
            if let Some(l) = k {
                *l = renumber[d][*l as usize];
            }
        }
    }
    sorted
}

fn is_zero(analysis: &Analysis, r: &Row) -> bool {
    r.persons == 0
        || analysis
            .measures
            .iter()
            .zip(&r.values)
            .any(|(m, v)| m.kind == MeasureKind::Count && *v == Some(0.0))
}

fn as_f64(array: &ArrayRef, row: usize) -> Option<f64> {
    if array.is_null(row) || !array.data_type().is_numeric() {
        return None;
    }
    let a = cast(&array.slice(row, 1), &DataType::Float64).ok()?;
    let a = a.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
    Some(a.value(0))
}

fn column(batch: &RecordBatch, name: &str) -> Result<ArrayRef> {
    batch.column_by_name(name).cloned().ok_or_else(|| {
        EngineError::Internal(format!("the rewritten query lost its hidden column {name}"))
    })
}

/// Reads the executed rows into cells, with each dimension's levels as text.
fn read_rows(
    analysis: &Analysis,
    batch: &RecordBatch,
    rules: &Rules,
) -> Result<(Vec<Row>, Vec<Vec<String>>)> {
    let dims = analysis.dimensions.len();
    let mut levels = Levels::new(dims);
    let dim_columns: Vec<ArrayRef> = (0..dims)
        .map(|d| column(batch, &format!("{HIDDEN}dim_{d}")))
        .collect::<Result<_>>()?;
    let grouping = match &analysis.grouping_id_column {
        Some(name) => Some(cast(&column(batch, name)?, &DataType::UInt64)?),
        None => None,
    };
    let persons: Vec<ArrayRef> = analysis
        .person_columns
        .iter()
        .map(|(name, _)| column(batch, name))
        .collect::<Result<_>>()?;
    let rows_count = column(batch, &analysis.rows_column)?;
    let stats: Vec<Option<ArrayRef>> = analysis
        .measures
        .iter()
        .map(|m| {
            m.stats_column
                .as_ref()
                .map(|c| column(batch, c))
                .transpose()
        })
        .collect::<Result<_>>()?;
    // The output column publishing each measure (the first one).
    let measure_columns: Vec<Option<usize>> = (0..analysis.measures.len())
        .map(|m| {
            analysis
                .columns
                .iter()
                .position(|c| *c == OutputColumn::Measure(m))
        })
        .collect();
    let mut rows = Vec::with_capacity(batch.num_rows());
    for r in 0..batch.num_rows() {
        let gid = grouping
            .as_ref()
            .map(|g| {
                g.as_primitive::<datafusion::arrow::datatypes::UInt64Type>()
                    .value(r)
            })
            .unwrap_or(0);
        let mut key = Vec::with_capacity(dims);
        for (d, column) in dim_columns.iter().enumerate() {
            // The grouping id has a bit set for each dimension this row totals over.
            let total = gid & (1 << (dims - 1 - d)) != 0;
            if total {
                key.push(None);
                continue;
            }
            let text = if column.is_null(r) {
                "NULL".to_string()
            } else {
                array_value_to_string(column, r)?
            };
            key.push(Some(levels.intern(d, text)));
        }
        let count = |a: &ArrayRef| -> u64 {
            let a = a.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            if a.is_null(r) {
                0
            } else {
                a.value(r).max(0) as u64
            }
        };
        let persons_here = if persons.is_empty() {
            count(&rows_count)
        } else {
            persons.iter().map(count).min().unwrap_or(0)
        };
        let values: Vec<Option<f64>> = measure_columns
            .iter()
            .map(|c| c.and_then(|c| as_f64(batch.column(c), r)))
            .collect();
        let measure_stats: Vec<MeasureStats> = stats
            .iter()
            .map(|s| match s {
                Some(a) => {
                    let s = a.as_struct();
                    stats_from_arrays(s.columns(), r)
                }
                None => MeasureStats::default(),
            })
            .collect();
        let mut row = Row {
            source: Some(r),
            key,
            persons: persons_here,
            values,
            stats: measure_stats,
            failures: Vec::new(),
        };
        apply_rules(analysis, &mut row, rules);
        rows.push(row);
    }
    Ok((rows, levels.names))
}

/// Applies the rules to one cell, recording each rule it fails once.
fn apply_rules(analysis: &Analysis, row: &mut Row, rules: &Rules) {
    let mut seen = BTreeSet::new();
    for (m, measure) in analysis.measures.iter().enumerate() {
        for f in rules.check(measure.kind, row.persons, &row.stats[m]) {
            if seen.insert(f.rule) {
                let detail = if analysis.person_columns.is_empty() {
                    // Without a person column each row is a contributor: say so.
                    f.detail
                        .replace(" persons,", " rows (the query reads no person column),")
                } else {
                    f.detail
                };
                row.failures.push((f.rule, detail));
            }
        }
    }
    if analysis
        .measures
        .iter()
        .all(|m| m.kind != MeasureKind::Count)
        && row.persons == 0
    {
        seen.insert(Rule::Zero);
        row.failures.push((Rule::Zero, "an empty cell".into()));
    }
}

/// Adds the cells no row reached, in every grouping the query asked for: interior cells with
/// no rows (zero counts), and margins over them (a CUBE or ROLLUP leaves out a margin whose
/// cells are all empty). Their absence would tell as much as a published zero.
fn complete(analysis: &Analysis, rows: &mut Vec<Row>, levels: &[Vec<String>], rules: &Rules) {
    let dims = levels.len();
    if dims == 0 || levels.iter().any(|l| l.is_empty()) {
        return;
    }
    // The groupings present: which dimensions each row totals over.
    let mut patterns: Vec<Vec<bool>> = rows
        .iter()
        .map(|r| r.key.iter().map(Option::is_none).collect())
        .collect();
    patterns.sort();
    patterns.dedup();
    let cells: usize = patterns
        .iter()
        .map(|p| {
            (0..dims)
                .filter(|&d| !p[d])
                .map(|d| levels[d].len())
                .product::<usize>()
        })
        .sum();
    if cells > 2_000_000 {
        return;
    }
    let present: std::collections::HashSet<Vec<Option<u32>>> =
        rows.iter().map(|r| r.key.clone()).collect();
    for pattern in patterns {
        let free: Vec<usize> = (0..dims).filter(|&d| !pattern[d]).collect();
        let mut index = vec![0u32; free.len()];
        loop {
            let mut key: Vec<Option<u32>> = vec![None; dims];
            for (i, &d) in free.iter().enumerate() {
                key[d] = Some(index[i]);
            }
            if !present.contains(&key) {
                let mut row = Row {
                    source: None,
                    key,
                    persons: 0,
                    values: analysis
                        .measures
                        .iter()
                        .map(|m| (m.kind == MeasureKind::Count).then_some(0.0))
                        .collect(),
                    stats: vec![MeasureStats::default(); analysis.measures.len()],
                    failures: Vec::new(),
                };
                apply_rules(analysis, &mut row, rules);
                rows.push(row);
            }
            // The next combination of the free dimensions' levels.
            let mut i = free.len();
            loop {
                if i == 0 {
                    break;
                }
                i -= 1;
                index[i] += 1;
                if (index[i] as usize) < levels[free[i]].len() {
                    break;
                }
                index[i] = 0;
            }
            if index.iter().all(|&l| l == 0) {
                break;
            }
        }
    }
}
