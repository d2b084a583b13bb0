//! A statistical table as the suppression and audit see it: cells keyed by one level per
//! dimension (or the total over that dimension), the additive values published in each, and
//! the equations an attacker reads from it.
//!
//! Every cell, interior or margin, is the sum of the interior cells it covers, so every published
//! value is one linear equation over the interior cells. Earlier releases of the same population
//! add equations of the same form (`Equation`), which is how differencing is audited.

use std::collections::HashMap;

/// A cell's key: `Some(level)` per dimension, `None` where the cell is the total over it.
pub type Key = Vec<Option<u32>>;

/// One cell: its key, its additive values (one per additive measure), and whether the rules
/// failed it (a primary) or it is an empty or zero cell that may never serve as a complement.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub key: Key,
    pub values: Vec<f64>,
    pub primary: bool,
    /// A zero or a structural empty: never used as a complement.
    pub zero: bool,
    /// Whether the cell is below the threshold (or a zero): its interval must not touch its value.
    pub small: bool,
}

/// A published sum: the interior cells it covers add up to `value` (for one measure).
#[derive(Debug, Clone, PartialEq)]
pub struct Equation {
    pub interior: Vec<usize>,
    /// Per measure; None where the other table did not publish that measure.
    pub values: Vec<Option<f64>>,
    /// Where the equation comes from, for messages ("release 3, cell region=A").
    pub source: String,
}

/// A table of cells with the interior-cell cover of each.
#[derive(Debug, Clone)]
pub struct Table {
    pub dims: usize,
    pub measures: usize,
    /// Per measure: margins are exact sums of their cells (counts of rows, sums); false for
    /// distinct counts, whose margin lies between its largest cell and their sum.
    pub exact: Vec<bool>,
    pub cells: Vec<Cell>,
    /// For each cell, the interior cells it covers (an interior cell covers itself).
    pub cover: Vec<Vec<usize>>,
}

impl Table {
    /// Builds the table. Interior cells are those with a level in every dimension.
    pub fn new(dims: usize, measures: usize, cells: Vec<Cell>) -> Table {
        let index: HashMap<Key, usize> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| (c.key.clone(), i))
            .collect();
        let interior: Vec<usize> = (0..cells.len())
            .filter(|&i| cells[i].key.iter().all(Option::is_some))
            .collect();
        // Cover each margin by walking the interior once per margin pattern (which dimensions are
        // totals), grouping interior cells by the margin key they fall into.
        let mut cover: Vec<Vec<usize>> = vec![Vec::new(); cells.len()];
        let mut patterns: Vec<Vec<bool>> = cells
            .iter()
            .map(|c| c.key.iter().map(Option::is_none).collect())
            .collect();
        patterns.sort();
        patterns.dedup();
        for pattern in patterns {
            for &i in &interior {
                let key: Key = cells[i]
                    .key
                    .iter()
                    .zip(&pattern)
                    .map(|(k, total)| if *total { None } else { *k })
                    .collect();
                if let Some(&m) = index.get(&key) {
                    cover[m].push(i);
                }
            }
        }
        Table {
            dims,
            measures,
            exact: vec![true; measures],
            cells,
            cover,
        }
    }

    /// Declares which measures' margins are exact sums (see `exact`).
    pub fn with_exact(mut self, exact: Vec<bool>) -> Table {
        self.exact = exact;
        self
    }

    /// The cell with this key (tests address cells by key).
    #[cfg(test)]
    pub fn find(&self, key: &[Option<u32>]) -> Option<usize> {
        self.cells.iter().position(|c| c.key == key)
    }

    pub fn is_interior(&self, cell: usize) -> bool {
        self.cells[cell].key.iter().all(Option::is_some)
    }

    /// The levels seen in each dimension, and whether the table has totals over it.
    pub fn levels(&self) -> Vec<(Vec<u32>, bool)> {
        (0..self.dims)
            .map(|d| {
                let mut levels: Vec<u32> = self.cells.iter().filter_map(|c| c.key[d]).collect();
                levels.sort_unstable();
                levels.dedup();
                let totals = self.cells.iter().any(|c| c.key[d].is_none());
                (levels, totals)
            })
            .collect()
    }

    /// The equations a pattern publishes: every non-suppressed cell that is not an interior cell
    /// standing alone (a published interior cell is a known constant, folded in by the audit).
    pub fn published_equations(&self, suppressed: &[bool]) -> Vec<Equation> {
        (0..self.cells.len())
            .filter(|&c| !suppressed[c] && !self.is_interior(c))
            .map(|c| Equation {
                interior: self.cover[c].clone(),
                values: self.cells[c].values.iter().map(|v| Some(*v)).collect(),
                source: format!("cell {}", c),
            })
            .collect()
    }
}
