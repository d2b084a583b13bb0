//! Secondary suppression: choosing complementary cells so that no primary can be recovered from
//! the margins, then auditing the pattern.
//!
//! Small tables (up to [`EXHAUSTIVE_CANDIDATES`] eligible complements) are searched exhaustively
//! by increasing size, so the pattern is the one that hides the least: fewest cells, then the
//! smallest total. Larger tables use hypercube certificates ([`super::certificate`]): for each
//! primary not yet certified, hide the cheapest cube through it (cells changing level in every
//! dimension that has a total, so a perturbation of the hidden cells keeps every margin).
//! Either way the audit ([`super::audit`]) has the last word.

use super::audit::{Interval, System, protects};
use super::certificate::Grid;
use super::table::Table;

/// Tables with more cells than this (and no earlier release to reckon with) are protected and
/// audited with hypercube certificates ([`super::certificate`]) instead of linear programs,
/// which would take minutes: two programs per hidden cell over thousands of unknowns.
pub const LP_CELLS: usize = 400;

/// How the intervals were found.
pub const BY_LINEAR_PROGRAMS: &str = "linear programs (exact)";
pub const BY_CERTIFICATES: &str = "hypercube certificates (the true interval contains it)";

/// Complements searched exhaustively up to this many eligible cells.
pub const EXHAUSTIVE_CANDIDATES: usize = 15;
const EXHAUSTIVE_SIZE: usize = 5;
/// Partners per dimension considered when choosing a new cube (the cheapest ones).
const CUBE_PARTNERS: usize = 8;
/// Hypercubes tried per primary before giving up.
const MAX_STEPS_PER_PRIMARY: usize = 12;

/// A pattern that passed the audit.
#[derive(Debug, Clone)]
pub struct Protection {
    pub suppressed: Vec<bool>,
    /// Complementary cells (suppressed, not primary).
    pub secondary: Vec<usize>,
    /// Each suppressed cell's interval, per additive measure (NaN bounds: not certified).
    pub intervals: Vec<(usize, Vec<Interval>)>,
    /// [`BY_LINEAR_PROGRAMS`] or [`BY_CERTIFICATES`].
    pub method: &'static str,
}

/// Why no pattern could protect a primary.
#[derive(Debug, Clone)]
pub struct Unprotectable {
    pub cell: usize,
    pub measure: usize,
    pub interval: Interval,
    pub reason: String,
}

/// Chooses and audits a pattern for `table`: `lower` is the a-priori lower bound of every
/// cell, `protection` the share of a primary's value its interval must be at least as wide as.
/// (Earlier releases are reckoned with afterwards, by differencing in the engine.)
pub fn protect(table: &Table, lower: f64, protection: f64) -> Result<Protection, Unprotectable> {
    let suppressed: Vec<bool> = table.cells.iter().map(|c| c.primary).collect();
    let primaries: Vec<usize> = (0..table.cells.len()).filter(|&c| suppressed[c]).collect();
    if primaries.is_empty() || table.measures == 0 {
        return finish(table, suppressed, lower);
    }
    if table.cells.len() > LP_CELLS {
        return protect_large(table, suppressed, &primaries, protection);
    }
    if first_failure(table, &suppressed, lower, protection, &primaries)?.is_none() {
        return finish(table, suppressed, lower);
    }
    let candidates: Vec<usize> = (0..table.cells.len())
        .filter(|&c| !suppressed[c] && !table.cells[c].zero)
        .collect();
    if candidates.len() <= EXHAUSTIVE_CANDIDATES
        && let Some(best) = exhaustive(
            table,
            &suppressed,
            &candidates,
            lower,
            protection,
            &primaries,
        )?
    {
        return finish(table, best, lower);
    }
    // The hypercube search (cubes that certify the cell, cheapest first), then the exact audit
    // of the pattern it chose.
    let pattern = protect_large(table, suppressed, &primaries, protection)?;
    finish(table, pattern.suppressed, lower)
}

/// The pattern's exact intervals (linear programs), for the report.
fn finish(table: &Table, suppressed: Vec<bool>, lower: f64) -> Result<Protection, Unprotectable> {
    let systems: Vec<System> = (0..table.measures)
        .map(|m| System::new(table, &suppressed, &[], m, lower))
        .collect();
    let mut intervals = Vec::new();
    for c in (0..table.cells.len()).filter(|&c| suppressed[c]) {
        let mut per_measure = Vec::new();
        for (m, system) in systems.iter().enumerate() {
            per_measure.push(
                system
                    .interval(table, c, m)
                    .map_err(|reason| Unprotectable {
                        cell: c,
                        measure: m,
                        interval: Interval::UNKNOWN,
                        reason,
                    })?,
            );
        }
        intervals.push((c, per_measure));
    }
    let secondary = (0..table.cells.len())
        .filter(|&c| suppressed[c] && !table.cells[c].primary)
        .collect();
    Ok(Protection {
        suppressed,
        secondary,
        intervals,
        method: BY_LINEAR_PROGRAMS,
    })
}

fn unprotectable(p: usize, reason: &str) -> Unprotectable {
    Unprotectable {
        cell: p,
        measure: 0,
        interval: Interval::UNKNOWN,
        reason: reason.to_string(),
    }
}

/// Whether every measure's certified interval protects `p`.
fn certified(table: &Table, p: usize, intervals: &[Option<Interval>], protection: f64) -> bool {
    let cell = &table.cells[p];
    intervals
        .iter()
        .enumerate()
        .all(|(m, i)| i.is_some_and(|i| protects(i, cell.values[m], cell.small, protection)))
}

/// The hypercube method with certificates: for each primary not yet certified, hide the cheapest
/// cube through it that certifies it (fewest new cells, then smallest total; never a zero).
fn protect_large(
    table: &Table,
    mut suppressed: Vec<bool>,
    primaries: &[usize],
    protection: f64,
) -> Result<Protection, Unprotectable> {
    let grid = Grid::new(table)
        .ok_or_else(|| unprotectable(primaries[0], "the table has too many cells to protect"))?;
    // In key order, so the pattern does not depend on the order rows arrived in.
    let mut primaries = primaries.to_vec();
    primaries.sort_by(|&a, &b| table.cells[a].key.cmp(&table.cells[b].key));
    for &p in &primaries {
        for step in 0..=MAX_STEPS_PER_PRIMARY {
            let cell = &table.cells[p];
            let accept =
                |m: usize, i: Interval| protects(i, cell.values[m], cell.small, protection);
            // One cube that protects it alone is enough (the union of several is checked below
            // when none does).
            if grid.any_cube(table, &suppressed, p, &accept)
                || certified(table, p, &grid.certify(table, &suppressed, p), protection)
            {
                break;
            }
            if step == MAX_STEPS_PER_PRIMARY {
                return Err(unprotectable(
                    p,
                    "no hypercube of complementary cells protects it (zeros and empty cells are never complements)",
                ));
            }
            let mut best: Option<((usize, f64), Vec<usize>)> = None;
            let mut fallback: Option<((usize, f64), Vec<usize>)> = None;
            // Cubes over the cheapest partners in each dimension (hidden cells first); the
            // audit, not this choice, decides safety.
            // The last tries look at every partner.
            let partners = if step + 2 >= MAX_STEPS_PER_PRIMARY {
                grid.cheapest_partners(table, &suppressed, p, usize::MAX)
            } else {
                grid.cheapest_partners(table, &suppressed, p, CUBE_PARTNERS)
            };
            grid.try_cubes_with(table, p, partners, |corners| {
                let mut new = Vec::new();
                for &(position, _) in corners {
                    if let Some(c) = grid.cell(position)
                        && !suppressed[c]
                    {
                        if table.cells[c].zero {
                            return true;
                        }
                        new.push(c);
                    }
                }
                if new.is_empty() {
                    return true;
                }
                let cost = cost(table, &new);
                let better = |slot: &Option<((usize, f64), Vec<usize>)>| {
                    slot.as_ref()
                        .is_none_or(|(c, _)| cost.0 < c.0 || (cost.0 == c.0 && cost.1 < c.1))
                };
                // Only a cheaper cube than the best passing one so far is worth certifying.
                if best.is_some() && !better(&best) {
                    return true;
                }
                let hidden = |c: usize| suppressed[c] || new.contains(&c);
                let cell = &table.cells[p];
                let passes = (0..table.measures).all(|m| {
                    grid.cube_interval(table, &hidden, corners, m)
                        .is_some_and(|i| protects(i, cell.values[m], cell.small, protection))
                });
                if passes {
                    if better(&best) {
                        best = Some((cost, new));
                    }
                } else if better(&fallback) {
                    fallback = Some((cost, new));
                }
                true
            });
            match best.or(fallback) {
                Some((_, cells)) => {
                    for c in cells {
                        suppressed[c] = true;
                    }
                }
                None => {
                    return Err(unprotectable(
                        p,
                        "no hypercube of complementary cells protects it (zeros and empty cells are never complements)",
                    ));
                }
            }
        }
    }
    let intervals = (0..table.cells.len())
        .filter(|&c| suppressed[c])
        .map(|c| {
            let certs = grid.certify(table, &suppressed, c);
            (
                c,
                certs
                    .into_iter()
                    .map(|i| i.unwrap_or(Interval::UNKNOWN))
                    .collect(),
            )
        })
        .collect();
    let secondary = (0..table.cells.len())
        .filter(|&c| suppressed[c] && !table.cells[c].primary)
        .collect();
    Ok(Protection {
        suppressed,
        secondary,
        intervals,
        method: BY_CERTIFICATES,
    })
}

/// The first primary (with its measure and interval) the pattern leaves recoverable.
fn first_failure(
    table: &Table,
    suppressed: &[bool],
    lower: f64,
    protection: f64,
    primaries: &[usize],
) -> Result<Option<Unprotectable>, Unprotectable> {
    for m in 0..table.measures {
        let system = System::new(table, suppressed, &[], m, lower);
        for &p in primaries {
            if let Some(failure) = check(table, &system, p, m, protection)? {
                return Ok(Some(failure));
            }
        }
    }
    Ok(None)
}

fn check(
    table: &Table,
    system: &System,
    p: usize,
    m: usize,
    protection: f64,
) -> Result<Option<Unprotectable>, Unprotectable> {
    let cell = &table.cells[p];
    let interval = system
        .interval(table, p, m)
        .map_err(|reason| Unprotectable {
            cell: p,
            measure: m,
            interval: Interval::UNKNOWN,
            reason,
        })?;
    if protects(interval, cell.values[m], cell.small, protection) {
        Ok(None)
    } else {
        Ok(Some(Unprotectable {
            cell: p,
            measure: m,
            interval,
            reason: String::new(),
        }))
    }
}

fn cost(table: &Table, cells: &[usize]) -> (usize, f64) {
    let total = cells
        .iter()
        .map(|&c| table.cells[c].values.first().copied().unwrap_or(0.0).abs())
        .sum();
    (cells.len(), total)
}

/// The passing pattern with the fewest complements, then the smallest total, if one exists
/// within [`EXHAUSTIVE_SIZE`] complements.
fn exhaustive(
    table: &Table,
    base: &[bool],
    candidates: &[usize],
    lower: f64,
    protection: f64,
    primaries: &[usize],
) -> Result<Option<Vec<bool>>, Unprotectable> {
    for size in 1..=EXHAUSTIVE_SIZE.min(candidates.len()) {
        let mut best: Option<(f64, Vec<bool>)> = None;
        let mut chosen: Vec<usize> = (0..size).collect();
        loop {
            let cells: Vec<usize> = chosen.iter().map(|&i| candidates[i]).collect();
            let (_, total) = cost(table, &cells);
            if best.as_ref().is_none_or(|(t, _)| total < *t) {
                let mut pattern = base.to_vec();
                for &c in &cells {
                    pattern[c] = true;
                }
                if first_failure(table, &pattern, lower, protection, primaries)?.is_none() {
                    best = Some((total, pattern));
                }
            }
            // Next combination in lexicographic order.
            let mut i = size;
            while i > 0 && chosen[i - 1] == candidates.len() - size + i - 1 {
                i -= 1;
            }
            if i == 0 {
                break;
            }
            chosen[i - 1] += 1;
            for j in i..size {
                chosen[j] = chosen[j - 1] + 1;
            }
        }
        if let Some((_, pattern)) = best {
            return Ok(Some(pattern));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests;
