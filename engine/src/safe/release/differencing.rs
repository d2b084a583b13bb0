//! Differencing: a new table checked against the earlier releases in the log, so that no two
//! releases together give back a cell either one hid. Two ways in: a coarser or finer breakdown
//! of the same rows ([`differencing`]), and the same breakdown under filters that differ by a
//! small group ([`differencing_by_filter`]).

use super::cells::{CellTable, Levels, describe_key};
use super::refused;
use crate::Result;
use crate::safe::analyze::Analysis;
use crate::safe::log::{Entry, LoggedCell};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use fjq_udfs::disclosure::{Cell, Equation, Rules, Table};
use std::collections::{BTreeSet, HashMap};

/// Both checks against every earlier release in `store`'s log, for a table about to be
/// released with its cells as they will be logged.
pub(crate) async fn against_the_log(
    state: &SessionState,
    store: &super::store::Store,
    analysis: &Analysis,
    cells: &CellTable,
    logged: &[LoggedCell],
    rules: &Rules,
) -> Result<()> {
    differencing(
        &store.previous,
        &analysis.population,
        &cells.side(logged),
        cells.lower,
        rules,
    )?;
    differencing_by_filter(state, &store.previous, analysis, &cells.dimensions, rules).await
}

/// One released (or about to be released) table, as differencing compares them.
pub(crate) struct Side<'a> {
    pub dims: &'a [String],
    /// The additive measures' names, and whether each one's margins are exact sums.
    pub measures: &'a [String],
    pub exact: &'a [bool],
    pub cells: &'a [LoggedCell],
}

/// Refuses a release that, with an earlier release of the same population (same measure, a
/// coarser or finer breakdown), would give back a cell that either table suppressed.
fn differencing(
    previous: &[Entry],
    population: &str,
    new: &Side,
    lower: f64,
    rules: &Rules,
) -> Result<()> {
    if new.measures.is_empty() {
        return Ok(());
    }
    let new_dims: BTreeSet<&String> = new.dims.iter().collect();
    for earlier in previous {
        if earlier.population != population
            || !earlier.additive.iter().any(|m| new.measures.contains(m))
        {
            continue;
        }
        let earlier_dims: BTreeSet<&String> = earlier.dimensions.iter().collect();
        let earlier_exact = if earlier.exact.len() == earlier.additive.len() {
            earlier.exact.clone()
        } else {
            vec![true; earlier.additive.len()]
        };
        let old = Side {
            dims: &earlier.dimensions,
            measures: &earlier.additive,
            exact: &earlier_exact,
            cells: &earlier.cells,
        };
        // The finer table's hidden cells, with the coarser table's cells published beside it.
        let mut checks: Vec<(&Side, &Side)> = Vec::new();
        if earlier_dims.is_subset(&new_dims) {
            checks.push((new, &old));
        }
        if new_dims.is_subset(&earlier_dims) {
            checks.push((&old, new));
        }
        for (fine, coarse) in checks {
            if let Some(cell) = recovered(fine, coarse, lower, rules) {
                return Err(refused(format!(
                    "refused: together with {} (released {}: {}), this table gives back the suppressed cell {}; release a table that does not overlap it, or the same breakdown as before",
                    earlier.id,
                    earlier.timestamp,
                    earlier.query.trim(),
                    cell
                )));
            }
        }
    }
    Ok(())
}

/// Refuses a release whose WHERE differs from an earlier release's over the same rows (same
/// FROM and joins, same breakdown) by a small group in some cell: the difference of the two
/// tables would publish it, as `WHERE region = 'A'` then `WHERE region = 'A' AND outcome = 'X'`
/// give away `region = 'A' AND outcome <> 'X'`. Each cell of the full breakdown is counted on
/// the rows only the earlier filter keeps and on those only the new one keeps, in one query; a
/// cell where one side is empty and the other has persons below the threshold is refused.
/// Margins need no query of their own: a margin with one side empty has that side empty in all
/// its cells, and its other side is at least the largest of theirs.
async fn differencing_by_filter(
    state: &SessionState,
    previous: &[Entry],
    analysis: &Analysis,
    dims: &[String],
    rules: &Rules,
) -> Result<()> {
    use datafusion::prelude::lit;
    let new_dims: BTreeSet<&String> = dims.iter().collect();
    let unit = if analysis.person_exprs.is_empty() {
        "rows"
    } else {
        "persons"
    };
    for earlier in previous {
        if earlier.base.is_empty()
            || earlier.base != analysis.base
            || earlier.population == analysis.population
            || earlier.dimensions.iter().collect::<BTreeSet<_>>() != new_dims
        {
            continue;
        }
        // The earlier filter, planned again from its recorded query.
        let Some(old) = super::analysis_of(state, &earlier.query, &earlier.rules).await else {
            continue;
        };
        if old.base != analysis.base {
            continue;
        }
        let old_filter = old.filter.unwrap_or(lit(true)).is_true();
        let new_filter = analysis.filter.clone().unwrap_or(lit(true)).is_true();
        let counts = contributors_by_side(
            state,
            &analysis.base_plan,
            &old_filter,
            &new_filter,
            &analysis.group_exprs,
            &analysis.person_exprs,
        )
        .await?;
        let small = |n: i64| n > 0 && (n as u64) < rules.threshold;
        for (key, [only_old, only_new]) in &counts {
            if (*only_old == 0 && small(*only_new)) || (*only_new == 0 && small(*only_old)) {
                let cell = if dims.is_empty() {
                    "the total".to_string()
                } else {
                    format!("{} = {key}", dims.join(", "))
                };
                // The size of the group is not said: it is a count below the threshold.
                return Err(refused(format!(
                    "refused: this table and {} (released {}: {}) count the same rows but for fewer {unit} than the threshold of {} in {cell}; their difference would publish that group. Filter so that the two differ by more, or use the same filter",
                    earlier.id,
                    earlier.timestamp,
                    earlier.query.trim(),
                    rules.threshold
                )));
            }
        }
    }
    Ok(())
}

/// Per cell of `keys` over `base`: the contributors (the smallest distinct count over the
/// person columns, or rows when there is none) that only `old` keeps and that only `new` keeps.
async fn contributors_by_side(
    state: &SessionState,
    base: &LogicalPlan,
    old: &datafusion::prelude::Expr,
    new: &datafusion::prelude::Expr,
    keys: &[datafusion::prelude::Expr],
    persons: &[datafusion::prelude::Expr],
) -> Result<HashMap<String, [i64; 2]>> {
    use datafusion::functions_aggregate::count::{count, count_distinct};
    use datafusion::logical_expr::LogicalPlanBuilder;
    use datafusion::prelude::lit;
    const SIDE: &str = "__fjq_only_new";
    let differ = old
        .clone()
        .and(!new.clone())
        .or(new.clone().and(!old.clone()));
    let mut group: Vec<datafusion::prelude::Expr> = keys.to_vec();
    group.push(new.clone().alias(SIDE));
    let mut aggregates = vec![count(lit(1))];
    aggregates.extend(persons.iter().map(|p| count_distinct(p.clone())));
    let plan = LogicalPlanBuilder::from(base.clone())
        .filter(differ)?
        .aggregate(group, aggregates)?
        .build()?;
    let batches = SessionContext::new_with_state(state.clone())
        .execute_logical_plan(plan)
        .await?
        .collect()
        .await?;
    let mut out: HashMap<String, [i64; 2]> = HashMap::new();
    for batch in &batches {
        let side = batch.column(keys.len()).as_boolean();
        for row in 0..batch.num_rows() {
            let key: Vec<String> = (0..keys.len())
                .map(|i| {
                    let c = batch.column(i);
                    if c.is_null(row) {
                        "NULL".to_string()
                    } else {
                        array_value_to_string(c, row).unwrap_or_default()
                    }
                })
                .collect();
            let counts: Vec<i64> = (keys.len() + 1..batch.num_columns())
                .map(|i| {
                    batch
                        .column(i)
                        .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                        .value(row)
                })
                .collect();
            let n = if counts.len() > 1 {
                counts[1..].iter().copied().min().unwrap_or(0)
            } else {
                counts[0]
            };
            out.entry(key.join(", ")).or_insert([0, 0])[usize::from(side.value(row))] = n;
        }
    }
    Ok(out)
}

/// Whether the coarse table's published cells, added to the fine table's own, pin a primary of
/// the fine table; returns that cell, described.
fn recovered(fine: &Side, coarse: &Side, lower: f64, rules: &Rules) -> Option<String> {
    let (fine_dims, fine_measures, fine_exact, fine_cells) =
        (fine.dims, fine.measures, fine.exact, fine.cells);
    let (coarse_dims, coarse_measures, coarse_cells) = (coarse.dims, coarse.measures, coarse.cells);
    // Levels as numbers per fine dimension.
    let mut levels = Levels::new(fine_dims.len());
    let keys: Vec<Vec<Option<u32>>> = fine_cells
        .iter()
        .map(|c| {
            c.key
                .iter()
                .enumerate()
                .map(|(d, k)| k.as_ref().map(|text| levels.intern(d, text.clone())))
                .collect()
        })
        .collect();
    let table = Table::new(
        fine_dims.len(),
        fine_measures.len(),
        fine_cells
            .iter()
            .zip(&keys)
            .map(|(c, k)| Cell {
                key: k.clone(),
                values: c.values.clone(),
                primary: c.primary,
                zero: c.zero,
                small: c.small,
            })
            .collect(),
    )
    .with_exact(fine_exact.to_vec());
    let suppressed: Vec<bool> = fine_cells.iter().map(|c| !c.published).collect();
    // Each published coarse cell: the fine interior cells it covers.
    let position: Vec<Option<usize>> = coarse_dims
        .iter()
        .map(|d| fine_dims.iter().position(|f| f == d))
        .collect();
    let interior: Vec<usize> = (0..fine_cells.len())
        .filter(|&i| table.is_interior(i))
        .collect();
    let mut equations = Vec::new();
    for c in coarse_cells.iter().filter(|c| c.published) {
        let mut wanted: Vec<(usize, &String)> = Vec::new();
        let mut ok = true;
        for (d, k) in c.key.iter().enumerate() {
            if let Some(text) = k {
                match position[d] {
                    Some(f) => wanted.push((f, text)),
                    None => ok = false,
                }
            }
        }
        if !ok {
            continue;
        }
        let covered: Vec<usize> = interior
            .iter()
            .copied()
            .filter(|&i| {
                wanted
                    .iter()
                    .all(|(f, text)| fine_cells[i].key[*f].as_ref() == Some(*text))
            })
            .collect();
        if covered.is_empty() {
            continue;
        }
        let values = fine_measures
            .iter()
            .map(|m| {
                coarse_measures
                    .iter()
                    .position(|x| x == m)
                    .map(|j| c.values[j])
            })
            .collect();
        equations.push(Equation {
            interior: covered,
            values,
            source: "earlier release".into(),
        });
    }
    for m in 0..fine_measures.len() {
        let system =
            fjq_udfs::disclosure::audit::System::new(&table, &suppressed, &equations, m, lower);
        for (i, cell) in fine_cells.iter().enumerate() {
            if !cell.primary || cell.published {
                continue;
            }
            let Ok(interval) = system.interval(&table, i, m) else {
                return Some(describe_logged(fine_dims, cell));
            };
            if !fjq_udfs::disclosure::audit::protects(
                interval,
                cell.values[m],
                cell.small,
                rules.protection,
            ) {
                return Some(describe_logged(fine_dims, cell));
            }
        }
    }
    None
}

fn describe_logged(dims: &[String], cell: &LoggedCell) -> String {
    describe_key(dims, cell.key.iter().map(|k| k.as_deref()))
}

impl CellTable {
    /// This table as differencing compares it, with its cells as the log keeps them.
    pub fn side<'a>(&'a self, logged: &'a [LoggedCell]) -> Side<'a> {
        Side {
            dims: &self.dimensions,
            measures: &self.additive_names,
            exact: &self.exact,
            cells: logged,
        }
    }
}
