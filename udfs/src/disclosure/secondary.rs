//! Secondary suppression: choosing complementary cells so that no primary can be recovered from
//! the margins (or from earlier releases), then auditing the pattern.
//!
//! Small tables (up to [`EXHAUSTIVE_CANDIDATES`] eligible complements) are searched exhaustively
//! by increasing size, so the pattern is the one that hides the least: fewest cells, then the
//! smallest total. Larger tables use the hypercube heuristic: for each primary still recoverable,
//! add the cheapest hypercube through it (cells changing level in every dimension that has a
//! total, so a perturbation of the hidden cells keeps every margin) until its audit passes.
//! Either way the audit ([`super::audit`]) has the last word.

use super::audit::{Interval, System, protects};
use super::certificate::Grid;
use super::table::{Equation, Table};
use std::collections::HashSet;

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

/// Chooses and audits a pattern for `table`. `external` are equations from earlier releases;
/// `lower` the a-priori lower bound of every cell; `protection` the required width share.
pub fn protect(
    table: &Table,
    external: &[Equation],
    lower: f64,
    protection: f64,
) -> Result<Protection, Unprotectable> {
    let mut suppressed: Vec<bool> = table.cells.iter().map(|c| c.primary).collect();
    let primaries: Vec<usize> = (0..table.cells.len()).filter(|&c| suppressed[c]).collect();
    if primaries.is_empty() || table.measures == 0 {
        return finish(table, suppressed, external, lower);
    }
    if table.cells.len() > LP_CELLS && external.is_empty() {
        return protect_large(table, suppressed, &primaries, protection);
    }
    if first_failure(table, &suppressed, external, lower, protection, &primaries)?.is_none() {
        return finish(table, suppressed, external, lower);
    }
    let candidates: Vec<usize> = (0..table.cells.len())
        .filter(|&c| !suppressed[c] && !table.cells[c].zero)
        .collect();
    if candidates.len() <= EXHAUSTIVE_CANDIDATES
        && let Some(best) = exhaustive(
            table,
            &suppressed,
            &candidates,
            external,
            lower,
            protection,
            &primaries,
        )?
    {
        return finish(table, best, external, lower);
    }
    if external.is_empty() {
        // The hypercube search (cubes that certify the cell, cheapest first), then the exact
        // audit of the pattern it chose.
        let pattern = protect_large(table, suppressed, &primaries, protection)?;
        return finish(table, pattern.suppressed, external, lower);
    }
    greedy(
        table,
        &mut suppressed,
        external,
        lower,
        protection,
        &primaries,
    )?;
    finish(table, suppressed, external, lower)
}

fn finish(
    table: &Table,
    suppressed: Vec<bool>,
    external: &[Equation],
    lower: f64,
) -> Result<Protection, Unprotectable> {
    let systems: Vec<System> = (0..table.measures)
        .map(|m| System::new(table, &suppressed, external, m, lower))
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

fn unprotectable(table: &Table, p: usize, reason: &str) -> Unprotectable {
    let _ = table;
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
    let grid = Grid::new(table).ok_or_else(|| {
        unprotectable(
            table,
            primaries[0],
            "the table has too many cells to protect",
        )
    })?;
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
                    table,
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
                        table,
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

/// Audits a fixed pattern's primaries against the published cells: exactly (linear programs)
/// for small tables, by certificates for large ones. Returns the first primary left
/// recoverable.
pub fn audit_pattern(
    table: &Table,
    suppressed: &[bool],
    lower: f64,
    protection: f64,
) -> Option<usize> {
    let primaries: Vec<usize> = (0..table.cells.len())
        .filter(|&c| table.cells[c].primary && suppressed[c])
        .collect();
    if table.cells.len() > LP_CELLS
        && let Some(grid) = Grid::new(table)
    {
        return primaries
            .into_iter()
            .find(|&p| !certified(table, p, &grid.certify(table, suppressed, p), protection));
    }
    for m in 0..table.measures {
        let system = System::new(table, suppressed, &[], m, lower);
        for &p in &primaries {
            match check(table, &system, p, m, protection) {
                Ok(None) => {}
                _ => return Some(p),
            }
        }
    }
    None
}

/// The first primary (with its measure and interval) the pattern leaves recoverable.
fn first_failure(
    table: &Table,
    suppressed: &[bool],
    external: &[Equation],
    lower: f64,
    protection: f64,
    primaries: &[usize],
) -> Result<Option<Unprotectable>, Unprotectable> {
    for m in 0..table.measures {
        let system = System::new(table, suppressed, external, m, lower);
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
    external: &[Equation],
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
                if first_failure(table, &pattern, external, lower, protection, primaries)?.is_none()
                {
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

fn greedy(
    table: &Table,
    suppressed: &mut [bool],
    external: &[Equation],
    lower: f64,
    protection: f64,
    primaries: &[usize],
) -> Result<(), Unprotectable> {
    let levels = table.levels();
    // Dimensions with totals: only along these do margins constrain the cells.
    let free: Vec<usize> = (0..table.dims).filter(|&d| levels[d].1).collect();
    for &p in primaries {
        let mut tried: HashSet<Vec<usize>> = HashSet::new();
        for _ in 0..=MAX_STEPS_PER_PRIMARY {
            let failure = (0..table.measures)
                .map(|m| {
                    let system = System::new(table, suppressed, external, m, lower);
                    check(table, &system, p, m, protection)
                })
                .find_map(|r| r.transpose());
            let Some(failure) = failure.transpose()? else {
                break;
            };
            let best = hypercubes(table, &levels, &free, p, suppressed)
                .into_iter()
                .filter(|cube| !tried.contains(cube))
                .min_by(|a, b| {
                    let (ca, cb) = (cost(table, a), cost(table, b));
                    ca.0.cmp(&cb.0).then(ca.1.total_cmp(&cb.1))
                });
            match best {
                Some(cube) if tried.len() < MAX_STEPS_PER_PRIMARY => {
                    for &c in &cube {
                        suppressed[c] = true;
                    }
                    tried.insert(cube);
                }
                _ => {
                    return Err(Unprotectable {
                        reason: if free.is_empty() {
                            "no margin to hide it behind".into()
                        } else {
                            "no further complementary cells (zeros and empty cells are never complements)".into()
                        },
                        ..failure
                    });
                }
            }
        }
    }
    Ok(())
}

/// The hypercubes through cell `p`: for every choice of another level (or the total) in each
/// free dimension, the 2^d cells mixing `p`'s levels and the chosen ones. Returns, per cube, the
/// cells not yet suppressed; cubes that would use a zero, or that add nothing, are left out.
fn hypercubes(
    table: &Table,
    levels: &[(Vec<u32>, bool)],
    free: &[usize],
    p: usize,
    suppressed: &[bool],
) -> Vec<Vec<usize>> {
    let key = &table.cells[p].key;
    let alternatives: Vec<Vec<Option<u32>>> = free
        .iter()
        .map(|&d| {
            levels[d]
                .0
                .iter()
                .map(|&l| Some(l))
                .chain(std::iter::once(None))
                .filter(|alt| *alt != key[d])
                .collect()
        })
        .collect();
    if alternatives.iter().any(Vec::is_empty) {
        return Vec::new();
    }
    let mut cubes = Vec::new();
    let mut choice = vec![0usize; free.len()];
    'outer: loop {
        let mut cells = Vec::new();
        let mut usable = true;
        for corner in 0..(1u32 << free.len()) {
            let mut k = key.clone();
            for (j, &d) in free.iter().enumerate() {
                if corner & (1 << j) != 0 {
                    k[d] = alternatives[j][choice[j]];
                }
            }
            if let Some(c) = table.find(&k)
                && !suppressed[c]
            {
                if table.cells[c].zero {
                    usable = false;
                    break;
                }
                cells.push(c);
            }
        }
        if usable && !cells.is_empty() {
            cells.sort_unstable();
            cubes.push(cells);
        }
        for j in 0..free.len() {
            choice[j] += 1;
            if choice[j] < alternatives[j].len() {
                continue 'outer;
            }
            choice[j] = 0;
        }
        break;
    }
    cubes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disclosure::table::Cell;

    /// A two-way table with margins from its interior: rows x columns of counts, the primaries
    /// given by position; level `None` is the total.
    fn two_way(interior: &[&[f64]], primaries: &[(usize, usize)], threshold: f64) -> Table {
        let rows = interior.len();
        let cols = interior[0].len();
        let mut cells = Vec::new();
        let mut push = |r: Option<usize>, c: Option<usize>, v: f64| {
            let primary =
                r.is_some() && c.is_some() && primaries.contains(&(r.unwrap(), c.unwrap()));
            cells.push(Cell {
                key: vec![r.map(|x| x as u32), c.map(|x| x as u32)],
                values: vec![v],
                primary,
                zero: v == 0.0,
                small: v < threshold,
            });
        };
        #[allow(clippy::needless_range_loop)]
        for r in 0..rows {
            for c in 0..cols {
                push(Some(r), Some(c), interior[r][c]);
            }
            push(Some(r), None, interior[r].iter().sum());
        }
        for c in 0..cols {
            push(None, Some(c), interior.iter().map(|row| row[c]).sum());
        }
        push(None, None, interior.iter().flat_map(|r| r.iter()).sum());
        Table::new(2, 1, cells)
    }

    fn interval_of(p: &Protection, table: &Table, key: [Option<u32>; 2]) -> (f64, f64) {
        let cell = table.find(&key).unwrap();
        let (_, i) = p.intervals.iter().find(|(c, _)| *c == cell).unwrap();
        (
            (i[0].low * 1e6).round() / 1e6,
            (i[0].high * 1e6).round() / 1e6,
        )
    }

    const A: Option<u32> = Some(0);
    const B: Option<u32> = Some(1);
    const C: Option<u32> = Some(2);
    const X: Option<u32> = Some(0);
    const Y: Option<u32> = Some(1);

    /// DISCLOSURE.md's worked example: regions A, B, C by outcomes X, Y with margins, A-Y (3) and
    /// C-X (0) primary.
    fn worked_example() -> Table {
        two_way(
            &[&[25.0, 3.0], &[12.0, 15.0], &[0.0, 20.0]],
            &[(0, 1), (2, 0)],
            10.0,
        )
    }

    #[test]
    fn worked_example_rectangle_pins_a_y_at_its_true_value() {
        // The rectangle {A-X, A-Y, C-X, C-Y}: by hand, with A-Y = t, A-X = 28 - t,
        // C-Y = 23 - t, C-X = t - 3, so t in [3, 23]: the lower bound is the true value.
        let table = worked_example();
        let mut suppressed = vec![false; table.cells.len()];
        for key in [[A, X], [A, Y], [C, X], [C, Y]] {
            suppressed[table.find(&key).unwrap()] = true;
        }
        let system = System::new(&table, &suppressed, &[], 0, 0.0);
        let a_y = system
            .interval(&table, table.find(&[A, Y]).unwrap(), 0)
            .unwrap();
        assert!(
            (a_y.low - 3.0).abs() < 1e-6 && (a_y.high - 23.0).abs() < 1e-6,
            "{a_y:?}"
        );
        assert!(!protects(a_y, 3.0, true, 0.1));
        let c_x = system
            .interval(&table, table.find(&[C, X]).unwrap(), 0)
            .unwrap();
        assert!(
            (c_x.low - 0.0).abs() < 1e-6 && (c_x.high - 20.0).abs() < 1e-6,
            "{c_x:?}"
        );
    }

    #[test]
    fn worked_example_is_widened_to_the_whole_interior() {
        // By hand: no pattern of 3 complements can break both derivations of A-Y - C-X = 3 (row A
        // with column X, and column Y with row C) while giving each primary a row and a column
        // partner; of the 4-cell patterns that pass, the interior {A-X, B-X, B-Y, C-Y} hides the
        // least (72). Its intervals, solved by hand from the five margins: A-Y [0, 28],
        // C-X [0, 20], A-X [0, 28], B-X [0, 27], B-Y [0, 27], C-Y [0, 20].
        let table = worked_example();
        let p = protect(&table, &[], 0.0, 0.1).unwrap();
        let mut secondary: Vec<Vec<Option<u32>>> = p
            .secondary
            .iter()
            .map(|&c| table.cells[c].key.clone())
            .collect();
        secondary.sort();
        assert_eq!(
            secondary,
            vec![vec![A, X], vec![B, X], vec![B, Y], vec![C, Y]]
        );
        assert_eq!(interval_of(&p, &table, [A, Y]), (0.0, 28.0));
        assert_eq!(interval_of(&p, &table, [C, X]), (0.0, 20.0));
        assert_eq!(interval_of(&p, &table, [A, X]), (0.0, 28.0));
        assert_eq!(interval_of(&p, &table, [B, X]), (0.0, 27.0));
        assert_eq!(interval_of(&p, &table, [B, Y]), (0.0, 27.0));
        assert_eq!(interval_of(&p, &table, [C, Y]), (0.0, 20.0));
    }

    #[test]
    fn three_by_three_with_margins() {
        // R1 = (20, 4, 30), R2 = (15, 25, 18), R3 = (22, 16, 40); R1-K2 (4) is primary. Every
        // one-cell or two-cell pattern leaves it on a published row or column sum; the cheapest
        // rectangle is rows R1, R3 x columns K1, K2 (20 + 22 + 16 = 58). By hand, with
        // R1-K2 = t: R1-K1 = 24 - t, R3-K2 = 20 - t, R3-K1 = 18 + t, so t in [0, 20].
        let table = two_way(
            &[&[20.0, 4.0, 30.0], &[15.0, 25.0, 18.0], &[22.0, 16.0, 40.0]],
            &[(0, 1)],
            10.0,
        );
        let p = protect(&table, &[], 0.0, 0.1).unwrap();
        let mut secondary: Vec<Vec<Option<u32>>> = p
            .secondary
            .iter()
            .map(|&c| table.cells[c].key.clone())
            .collect();
        secondary.sort();
        let (r1, r3, k1, k2) = (Some(0), Some(2), Some(0), Some(1));
        assert_eq!(secondary, vec![vec![r1, k1], vec![r3, k1], vec![r3, k2]]);
        assert_eq!(interval_of(&p, &table, [r1, k2]), (0.0, 20.0));
        assert_eq!(interval_of(&p, &table, [r1, k1]), (4.0, 24.0));
        assert_eq!(interval_of(&p, &table, [r3, k2]), (0.0, 20.0));
        assert_eq!(interval_of(&p, &table, [r3, k1]), (18.0, 38.0));
    }

    #[test]
    fn a_primary_that_cannot_be_protected_is_explained() {
        // One dimension with a single level: the cell and its total are the same number.
        let cells = vec![
            Cell {
                key: vec![Some(0)],
                values: vec![4.0],
                primary: true,
                zero: false,
                small: true,
            },
            Cell {
                key: vec![None],
                values: vec![4.0],
                primary: true,
                zero: false,
                small: true,
            },
        ];
        let table = Table::new(1, 1, cells);
        // Both primaries hidden, nothing published: unbounded above, so protected.
        assert!(protect(&table, &[], 0.0, 0.1).is_ok());
        // An earlier release published the total 4: the cell is pinned and nothing can help.
        let earlier = Equation {
            interior: vec![0],
            values: vec![Some(4.0)],
            source: "release 1".into(),
        };
        let e = protect(&table, &[earlier], 0.0, 0.1).unwrap_err();
        assert_eq!(e.cell, 0);
        assert_eq!((e.interval.low, e.interval.high), (4.0, 4.0));
    }

    #[test]
    fn a_larger_table_takes_the_hypercube_route_and_passes_its_audit() {
        // 6 x 5 with margins has 41 cells, beyond the exhaustive search.
        let mut interior: Vec<Vec<f64>> = (0..6)
            .map(|r| {
                (0..5)
                    .map(|c| ((r * 7 + c * 11) % 23 + 12) as f64)
                    .collect()
            })
            .collect();
        interior[1][2] = 3.0;
        interior[4][0] = 6.0;
        let rows: Vec<&[f64]> = interior.iter().map(|r| r.as_slice()).collect();
        let table = two_way(&rows, &[(1, 2), (4, 0)], 10.0);
        let p = protect(&table, &[], 0.0, 0.1).unwrap();
        assert!(!p.secondary.is_empty());
        for (cell, intervals) in &p.intervals {
            let c = &table.cells[*cell];
            if c.primary {
                assert!(protects(intervals[0], c.values[0], c.small, 0.1), "{c:?}");
            }
        }
    }

    #[test]
    fn large_tables_use_certificates_that_the_linear_programs_confirm() {
        // 24 x 16 with margins: 425 cells, beyond LP_CELLS. Each certified interval must lie
        // inside the exact interval the linear programs find, and protect its primary.
        let mut interior: Vec<Vec<f64>> = (0..24)
            .map(|r| {
                (0..16)
                    .map(|c| ((r * 5 + c * 3) % 17 + 11) as f64)
                    .collect()
            })
            .collect();
        let primaries = [(0, 0), (3, 7), (10, 2), (23, 15), (5, 5)];
        for &(r, c) in &primaries {
            interior[r][c] = (r % 9) as f64 + 1.0;
        }
        interior[7][9] = 0.0;
        let rows: Vec<&[f64]> = interior.iter().map(|r| r.as_slice()).collect();
        let mut all = primaries.to_vec();
        all.push((7, 9));
        let table = two_way(&rows, &all, 10.0);
        assert!(table.cells.len() > LP_CELLS);
        let p = protect(&table, &[], 0.0, 0.1).unwrap();
        assert_eq!(p.method, BY_CERTIFICATES);
        let system = System::new(&table, &p.suppressed, &[], 0, 0.0);
        for (cell, intervals) in &p.intervals {
            let c = &table.cells[*cell];
            let exact = system.interval(&table, *cell, 0).unwrap();
            let certified = intervals[0];
            if c.primary {
                assert!(
                    protects(certified, c.values[0], c.small, 0.1),
                    "{c:?} {certified:?}"
                );
                assert!(
                    protects(exact, c.values[0], c.small, 0.1),
                    "{c:?} {exact:?}"
                );
            }
            if !certified.low.is_nan() {
                assert!(
                    exact.low <= certified.low + 1e-6 && certified.high <= exact.high + 1e-6,
                    "{c:?}: certified {certified:?} not inside exact {exact:?}"
                );
            }
        }
    }

    #[test]
    fn a_rollup_row_hides_a_partner_beside_its_small_cell() {
        // ROLLUP(area, type) for one area: the types 7, 63, 113, 278, 83, 28 and a zero, the
        // area's total 572 and the grand total 572 (no per-type totals). The 7 and the zero
        // fail; hiding them alone leaves 7 + 0 = 35 - 28... so the cheapest partner, 28, joins
        // them: by hand the 7 then lies in [0, 35].
        let values = [7.0, 63.0, 113.0, 278.0, 83.0, 28.0, 0.0];
        let mut cells: Vec<Cell> = values
            .iter()
            .enumerate()
            .map(|(b, v)| Cell {
                key: vec![Some(0), Some(b as u32)],
                values: vec![*v],
                primary: *v < 10.0,
                zero: *v == 0.0,
                small: *v < 10.0,
            })
            .collect();
        for key in [vec![Some(0), None], vec![None, None]] {
            cells.push(Cell {
                key,
                values: vec![572.0],
                primary: false,
                zero: false,
                small: false,
            });
        }
        let table = Table::new(2, 1, cells);
        let p = protect(&table, &[], 0.0, 0.1).unwrap();
        let secondary: Vec<f64> = p
            .secondary
            .iter()
            .map(|&c| table.cells[c].values[0])
            .collect();
        assert_eq!(secondary, vec![28.0]);
        let (_, i) = p.intervals.iter().find(|(c, _)| *c == 0).unwrap();
        assert!(
            (i[0].low - 0.0).abs() < 1e-6 && (i[0].high - 35.0).abs() < 1e-6,
            "{i:?}"
        );
    }

    #[test]
    fn rollup_over_several_areas() {
        let rows = [
            [7.0, 63.0, 113.0, 278.0, 83.0, 28.0, 0.0],
            [20.0, 50.0, 0.0, 100.0, 90.0, 3.0, 12.0],
            [15.0, 40.0, 60.0, 70.0, 80.0, 30.0, 11.0],
        ];
        let mut cells = Vec::new();
        for (a, row) in rows.iter().enumerate() {
            for (b, v) in row.iter().enumerate() {
                cells.push(Cell {
                    key: vec![Some(a as u32), Some(b as u32)],
                    values: vec![*v],
                    primary: *v < 10.0,
                    zero: *v == 0.0,
                    small: *v < 10.0,
                });
            }
            cells.push(Cell {
                key: vec![Some(a as u32), None],
                values: vec![row.iter().sum()],
                primary: false,
                zero: false,
                small: false,
            });
        }
        cells.push(Cell {
            key: vec![None, None],
            values: vec![rows.iter().flatten().sum()],
            primary: false,
            zero: false,
            small: false,
        });
        let table = Table::new(2, 1, cells);
        let p = protect(&table, &[], 0.0, 0.1);
        assert!(p.is_ok(), "{:?}", p.err());
    }
}
