//! Hypercube certificates: a fast, sound lower bound on what a suppression pattern hides, for
//! tables too large to solve two linear programs per cell.
//!
//! Take a cell `p` and, in every dimension, a partner level (another level or the total). The
//! 2^d cells mixing `p`'s levels and the partners form a hypercube. Adding `+e` to the corners
//! whose count of non-total partner levels is even and `-e` to the others keeps every margin of
//! the table equal to the sum of its cells (a total partner moves with its cell, a level partner
//! against it), so if every corner is hidden (or not published at all) the attacker cannot tell
//! the true table from the perturbed one. Non-negativity bounds `e`, so `p` can be anywhere in
//! `[p - min(+ corners), p + min(- corners)]`; the union over all such cubes is an interval the
//! attacker's true feasibility interval contains. If it meets the protection level, so does the
//! true one. (For distinct counts, whose margins only bound their cells, the corners must stay
//! below every margin above them, which bounds `e` further; hidden margins of a
//! distinct count also keep it at least its largest child.)

use super::audit::Interval;
use super::table::Table;

/// The table's cells on a dense grid (levels and the total in each dimension), for lookups by
/// position rather than by hashing a key.
pub struct Grid {
    /// Per dimension: the number of levels (the total is index `levels`).
    sizes: Vec<usize>,
    strides: Vec<usize>,
    cell_at: Vec<u32>,
    /// Per dimension: whether the table has totals over it.
    pub totals: Vec<bool>,
    /// Per margin cell and measure: its three largest direct children, largest first (distinct
    /// counts are bounded below by them).
    top_children: Vec<Vec<[(f64, u32); 3]>>,
    /// Per cell: the grid positions of the margins above it (for distinct counts).
    ancestors: Vec<Vec<usize>>,
}

const NONE: u32 = u32::MAX;

impl Grid {
    /// None when the grid would be too large to hold.
    pub fn new(table: &Table) -> Option<Grid> {
        let levels = table.levels();
        let sizes: Vec<usize> = levels
            .iter()
            .map(|(l, _)| l.iter().max().map_or(0, |m| *m as usize + 1))
            .collect();
        let mut strides = Vec::with_capacity(sizes.len());
        let mut total = 1usize;
        for s in &sizes {
            strides.push(total);
            total = total.checked_mul(s + 1)?;
        }
        if total > 50_000_000 {
            return None;
        }
        let mut cell_at = vec![NONE; total];
        let grid_sizes = sizes.clone();
        let mut grid = Grid {
            sizes: grid_sizes,
            strides,
            cell_at: Vec::new(),
            totals: levels.iter().map(|(_, t)| *t).collect(),
            top_children: vec![vec![[(0.0, NONE); 3]; table.measures]; table.cells.len()],
            ancestors: Vec::new(),
        };
        for (i, c) in table.cells.iter().enumerate() {
            let at = grid.position(&c.key);
            cell_at[at] = i as u32;
        }
        grid.cell_at = cell_at;
        if table.exact.iter().any(|e| !e) {
            grid.ancestors = table
                .cells
                .iter()
                .map(|c| grid.ancestor_positions(&c.key))
                .collect();
        }
        // Each cell is a direct child of the cells that replace one of its levels by the total.
        for (i, c) in table.cells.iter().enumerate() {
            for d in 0..c.key.len() {
                if c.key[d].is_some() {
                    let mut parent = c.key.clone();
                    parent[d] = None;
                    if let Some(pi) = grid.cell(grid.position(&parent)) {
                        for m in 0..table.measures {
                            let top = &mut grid.top_children[pi][m];
                            let v = c.values[m];
                            if let Some(at) = top.iter().position(|(t, id)| *id == NONE || v > *t) {
                                for k in (at + 1..3).rev() {
                                    top[k] = top[k - 1];
                                }
                                top[at] = (v, i as u32);
                            }
                        }
                    }
                }
            }
        }
        Some(grid)
    }

    fn position(&self, key: &[Option<u32>]) -> usize {
        key.iter()
            .enumerate()
            .map(|(d, k)| k.map_or(self.sizes[d], |l| l as usize) * self.strides[d])
            .sum()
    }

    /// A key's index on the grid in each dimension (the total is `sizes[d]`), and its position.
    fn grid_index(&self, key: &[Option<u32>]) -> (Vec<usize>, usize) {
        let own: Vec<usize> = (0..key.len())
            .map(|d| key[d].map_or(self.sizes[d], |l| l as usize))
            .collect();
        let position = own.iter().zip(&self.strides).map(|(i, s)| i * s).sum();
        (own, position)
    }

    pub fn cell(&self, position: usize) -> Option<usize> {
        let c = self.cell_at[position];
        (c != NONE).then_some(c as usize)
    }

    /// Every hypercube through `p` (partners in each dimension: every other level, and the
    /// total) whose corner next to `p` (`p` with that one level changed) `partner_ok` accepts,
    /// given its cell (None: not in the table), calling `f` with its corners (position, sign)
    /// until it returns false. Every corner of a certifying cube is hidden, so filtering on the
    /// hidden ones prunes most cubes.
    pub fn try_cubes_where(
        &self,
        table: &Table,
        p: usize,
        partner_ok: &dyn Fn(Option<usize>) -> bool,
        f: impl FnMut(&[(usize, i8)]) -> bool,
    ) {
        let key = &table.cells[p].key;
        let dims = key.len();
        let (own, base_position) = self.grid_index(key);
        let alternatives: Vec<Vec<usize>> = (0..dims)
            .map(|d| {
                (0..=self.sizes[d])
                    .filter(|&a| a != own[d])
                    .filter(|&a| {
                        let position =
                            base_position - own[d] * self.strides[d] + a * self.strides[d];
                        partner_ok(self.cell(position))
                    })
                    .collect()
            })
            .collect();
        self.try_cubes_with(table, p, alternatives, f);
    }

    /// The `keep` cheapest partners in each dimension for a new cube through `p`: hidden cells
    /// first, then the smallest (missing cells count as hidden; zeros are left out).
    pub fn cheapest_partners(
        &self,
        table: &Table,
        suppressed: &[bool],
        p: usize,
        keep: usize,
    ) -> Vec<Vec<usize>> {
        let key = &table.cells[p].key;
        let dims = key.len();
        let (own, base_position) = self.grid_index(key);
        (0..dims)
            .map(|d| {
                let mut scored: Vec<(f64, usize)> = (0..=self.sizes[d])
                    .filter(|&a| a != own[d])
                    .filter_map(|a| {
                        let position =
                            base_position - own[d] * self.strides[d] + a * self.strides[d];
                        match self.cell(position) {
                            None => Some((-1.0, a)),
                            Some(c) if suppressed[c] => Some((-1.0, a)),
                            Some(c) if table.cells[c].zero => None,
                            Some(c) => Some((
                                table.cells[c].values.first().copied().unwrap_or(0.0).abs(),
                                a,
                            )),
                        }
                    })
                    .collect();
                scored.sort_by(|x, y| x.0.total_cmp(&y.0));
                let mut chosen: Vec<usize> = scored.iter().take(keep).map(|(_, a)| *a).collect();
                // The total is always a partner: a cube of totals protects when nothing else can.
                let total = self.sizes[d];
                if total != own[d]
                    && !chosen.contains(&total)
                    && scored.iter().any(|(_, a)| *a == total)
                {
                    chosen.push(total);
                }
                chosen
            })
            .collect()
    }

    /// The cubes through `p` with the given partners per dimension (grid indices).
    pub fn try_cubes_with(
        &self,
        table: &Table,
        p: usize,
        alternatives: Vec<Vec<usize>>,
        mut f: impl FnMut(&[(usize, i8)]) -> bool,
    ) {
        let key = &table.cells[p].key;
        let dims = key.len();
        let (own, base) = self.grid_index(key);
        if alternatives.iter().any(Vec::is_empty) {
            return;
        }
        let mut choice = vec![0usize; dims];
        let mut corners: Vec<(usize, i8)> = Vec::with_capacity(1 << dims);
        loop {
            corners.clear();
            for mask in 0..(1u32 << dims) {
                let mut position = base;
                let mut sign = 1i8;
                for d in 0..dims {
                    if mask & (1 << d) != 0 {
                        let alt = alternatives[d][choice[d]];
                        position = position - own[d] * self.strides[d] + alt * self.strides[d];
                        // A level partner moves against its cell; the total moves with it. A
                        // cell that is itself a total has children, not a total, as partners.
                        let alt_is_total = alt == self.sizes[d];
                        let own_is_total = own[d] == self.sizes[d];
                        if !alt_is_total && !own_is_total {
                            sign = -sign;
                        }
                    }
                }
                corners.push((position, sign));
            }
            if !f(&corners) {
                return;
            }
            let mut d = 0;
            loop {
                if d == dims {
                    return;
                }
                choice[d] += 1;
                if choice[d] < alternatives[d].len() {
                    break;
                }
                choice[d] = 0;
                d += 1;
            }
        }
    }

    /// The interval a cube certifies for its first corner (`p`), for one measure, or None when a
    /// corner is published.
    pub fn cube_interval(
        &self,
        table: &Table,
        hidden: &dyn Fn(usize) -> bool,
        corners: &[(usize, i8)],
        measure: usize,
    ) -> Option<Interval> {
        let exact = table.exact.get(measure).copied().unwrap_or(true);
        // Every corner in the table must be hidden; checked first, as most cubes fail here.
        for &(position, _) in corners {
            if let Some(c) = self.cell(position)
                && !hidden(c)
            {
                return None;
            }
        }
        let (mut up, mut down) = (f64::INFINITY, f64::INFINITY);
        let mut p_value = 0.0;
        for (i, &(position, sign)) in corners.iter().enumerate() {
            let Some(c) = self.cell(position) else {
                // Not in the table: no published relation involves it.
                continue;
            };
            let v = table.cells[c].values[measure];
            if i == 0 {
                p_value = v;
            }
            if !exact && !table.is_interior(c) {
                // A distinct count's margin stays at least its largest child that does not move
                // with it (a child moving the same way keeps its distance).
                let top = &self.top_children[c][measure];
                let moving = |id: u32| {
                    corners
                        .iter()
                        .any(|&(q, s)| s == sign && self.cell(q) == Some(id as usize) && id != NONE)
                };
                let bound = top
                    .iter()
                    .find(|(_, id)| *id == NONE || !moving(*id))
                    .unwrap_or(&top[2])
                    .0;
                let room = v - bound.max(0.0);
                if sign > 0 {
                    down = down.min(room);
                } else {
                    up = up.min(room);
                }
            }
            // Non-negativity: v + sign * e >= 0.
            if sign > 0 {
                down = down.min(v);
            } else {
                up = up.min(v);
            }
            if !exact {
                // Each margin above the corner that stays put caps it.
                for &ancestor in &self.ancestors[c] {
                    if let Some(a) = self.cell(ancestor)
                        && !corners.iter().any(|&(q, _)| q == ancestor)
                    {
                        let room = table.cells[a].values[measure] - v;
                        if sign > 0 {
                            up = up.min(room);
                        } else {
                            down = down.min(room);
                        }
                    }
                }
            }
        }
        Some(Interval {
            low: p_value - down.max(0.0),
            high: p_value + up.max(0.0),
        })
    }

    fn ancestor_positions(&self, key: &[Option<u32>]) -> Vec<usize> {
        let levels: Vec<usize> = (0..key.len()).filter(|&d| key[d].is_some()).collect();
        let base = self.position(key);
        let mut out = Vec::new();
        for mask in 1..(1u32 << levels.len()) {
            let mut position = base;
            for (j, &d) in levels.iter().enumerate() {
                if mask & (1 << j) != 0 {
                    position = position - key[d].unwrap_or(0) as usize * self.strides[d]
                        + self.sizes[d] * self.strides[d];
                }
            }
            out.push(position);
        }
        out
    }

    /// Whether some hidden cube through `p` alone certifies an interval that `accept` takes, for
    /// every measure; stops at the first.
    pub fn any_cube(
        &self,
        table: &Table,
        suppressed: &[bool],
        p: usize,
        accept: &dyn Fn(usize, Interval) -> bool,
    ) -> bool {
        let hidden = |c: usize| suppressed[c];
        let partner_ok = |c: Option<usize>| c.is_none_or(|c| suppressed[c]);
        let mut found = false;
        self.try_cubes_where(table, p, &partner_ok, |corners| {
            found = (0..table.measures).all(|m| {
                self.cube_interval(table, &hidden, corners, m)
                    .is_some_and(|i| accept(m, i))
            });
            !found
        });
        found
    }

    /// The widest interval the hidden cubes through `p` certify, per measure (None: none).
    pub fn certify(&self, table: &Table, suppressed: &[bool], p: usize) -> Vec<Option<Interval>> {
        let mut best: Vec<Option<Interval>> = vec![None; table.measures];
        let hidden = |c: usize| suppressed[c];
        let partner_ok = |c: Option<usize>| c.is_none_or(|c| suppressed[c]);
        self.try_cubes_where(table, p, &partner_ok, |corners| {
            for (m, slot) in best.iter_mut().enumerate() {
                if let Some(i) = self.cube_interval(table, &hidden, corners, m) {
                    *slot = Some(match *slot {
                        Some(b) => Interval {
                            low: b.low.min(i.low),
                            high: b.high.max(i.high),
                        },
                        None => i,
                    });
                }
            }
            true
        });
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disclosure::table::Cell;

    #[test]
    fn the_worked_example_interior_certifies_what_the_linear_programs_find() {
        // Regions A, B, C by X, Y with margins; the whole interior hidden. The audit's programs
        // give A-Y [0, 28] (by hand in secondary.rs). By hand, the cubes through A-Y: with row
        // B and column X, A-Y - min(3, B-X 12) .. A-Y + min(B-Y 15, A-X 25) = [0, 18]; with row
        // C, 3 - min(3, C-X 0) .. 3 + min(C-Y 20, A-X 25) = [3, 23]; cubes with a total corner
        // are published. Together: [0, 23].
        let values = [[25.0, 3.0], [12.0, 15.0], [0.0, 20.0]];
        let mut cells = Vec::new();
        for (r, row) in values.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                cells.push(Cell {
                    key: vec![Some(r as u32), Some(c as u32)],
                    values: vec![*v],
                    primary: false,
                    zero: *v == 0.0,
                    small: false,
                });
            }
            cells.push(Cell {
                key: vec![Some(r as u32), None],
                values: vec![row.iter().sum()],
                primary: false,
                zero: false,
                small: false,
            });
        }
        for c in 0..2 {
            cells.push(Cell {
                key: vec![None, Some(c)],
                values: vec![values.iter().map(|r| r[c as usize]).sum()],
                primary: false,
                zero: false,
                small: false,
            });
        }
        cells.push(Cell {
            key: vec![None, None],
            values: vec![75.0],
            primary: false,
            zero: false,
            small: false,
        });
        let table = Table::new(2, 1, cells);
        let suppressed: Vec<bool> = table
            .cells
            .iter()
            .map(|c| c.key.iter().all(Option::is_some))
            .collect();
        let grid = Grid::new(&table).unwrap();
        let a_y = table.find(&[Some(0), Some(1)]).unwrap();
        let i = grid.certify(&table, &suppressed, a_y)[0].unwrap();
        assert_eq!((i.low, i.high), (0.0, 23.0));
        // Sound: inside the exact interval [0, 28].
        assert!(i.low >= 0.0 && i.high <= 28.0);
        // With A-X published no cube through A-Y is hidden.
        let mut fewer = suppressed.clone();
        fewer[table.find(&[Some(0), Some(0)]).unwrap()] = false;
        assert!(grid.certify(&table, &fewer, a_y)[0].is_none());
    }
}
