//! The audit: for each suppressed cell, the attacker's two linear programs (the smallest and the
//! largest value the cell can take given every published value), solved with microlp.
//!
//! Unknowns are the suppressed interior cells, each at least zero (counts, and sums of
//! non-negative contributions). Each published margin, and each equation from an earlier
//! release, fixes the sum of the unknowns it covers. The system splits into independent
//! components (unknowns linked through shared equations), and each program is solved on the
//! components its cell touches only, which keeps big tables fast.

use super::table::{Equation, Table};
use microlp::{ComparisonOp, OptimizationDirection, Problem};
use std::collections::HashMap;

/// A suppressed cell's feasibility interval for one measure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

impl Interval {
    /// No interval known (a bound the certificates could not establish).
    pub const UNKNOWN: Interval = Interval {
        low: f64::NAN,
        high: f64::NAN,
    };

    pub fn width(&self) -> f64 {
        self.high - self.low
    }
}

const EPSILON: f64 = 1e-6;

type Constraint = (Vec<usize>, ComparisonOp, f64);

/// The equations over the unknowns for one measure, split into components.
pub struct System {
    /// Unknown number of each suppressed interior cell.
    unknown: HashMap<usize, usize>,
    /// Component of each unknown.
    component: Vec<usize>,
    /// Per component: its unknowns and its constraints (unknowns, relation, right-hand side).
    components: Vec<(Vec<usize>, Vec<Constraint>)>,
    /// Index of the equation an earlier release contributed, per component, for messages.
    pub sources: Vec<Vec<String>>,
    lower: f64,
}

impl System {
    /// The system an attacker reads from `table` with `suppressed` hidden, plus `external`
    /// equations (earlier releases), for measure `measure`. `lower` is each unknown's a-priori
    /// lower bound (0 for counts and sums of non-negative values).
    pub fn new(
        table: &Table,
        suppressed: &[bool],
        external: &[Equation],
        measure: usize,
        lower: f64,
    ) -> System {
        let mut unknown = HashMap::new();
        for (c, &hidden) in suppressed.iter().enumerate() {
            if hidden && table.is_interior(c) {
                let n = unknown.len();
                unknown.insert(c, n);
            }
        }
        let mut parent: Vec<usize> = (0..unknown.len()).collect();
        fn root(parent: &mut [usize], mut x: usize) -> usize {
            while parent[x] != x {
                parent[x] = parent[parent[x]];
                x = parent[x];
            }
            x
        }
        let exact = table.exact.get(measure).copied().unwrap_or(true);
        let mut equations: Vec<(Constraint, String)> = Vec::new();
        let published = table.published_equations(suppressed);
        for eq in published.iter().chain(external) {
            let Some(Some(total)) = eq.values.get(measure).copied() else {
                continue;
            };
            let mut rhs = total;
            let mut vars = Vec::new();
            for &i in &eq.interior {
                match unknown.get(&i) {
                    Some(&u) => vars.push(u),
                    None => rhs -= table.cells[i].values[measure],
                }
            }
            if vars.is_empty() {
                continue;
            }
            for w in vars.windows(2) {
                let (a, b) = (root(&mut parent, w[0]), root(&mut parent, w[1]));
                parent[a] = b;
            }
            if exact {
                equations.push(((vars, ComparisonOp::Eq, rhs), eq.source.clone()));
            } else {
                // A distinct count's margin is at most the sum of its cells and at least each.
                for &u in &vars {
                    equations.push(((vec![u], ComparisonOp::Le, total), eq.source.clone()));
                }
                equations.push(((vars, ComparisonOp::Ge, rhs), eq.source.clone()));
            }
        }
        let mut component = vec![0; unknown.len()];
        let mut numbering: HashMap<usize, usize> = HashMap::new();
        let mut components: Vec<(Vec<usize>, Vec<Constraint>)> = Vec::new();
        let mut sources: Vec<Vec<String>> = Vec::new();
        #[allow(clippy::needless_range_loop)]
        for u in 0..unknown.len() {
            let r = root(&mut parent, u);
            let next = numbering.len();
            let k = *numbering.entry(r).or_insert(next);
            if k == components.len() {
                components.push((Vec::new(), Vec::new()));
                sources.push(Vec::new());
            }
            component[u] = k;
            components[k].0.push(u);
        }
        for (constraint, source) in equations {
            let k = component[constraint.0[0]];
            components[k].1.push(constraint);
            sources[k].push(source);
        }
        System {
            unknown,
            component,
            components,
            sources,
            lower,
        }
    }

    /// The interval of `cell` (any cell of the table, suppressed or not).
    pub fn interval(&self, table: &Table, cell: usize, measure: usize) -> Result<Interval, String> {
        let mut constant = 0.0;
        let mut by_component: HashMap<usize, Vec<usize>> = HashMap::new();
        for &i in &table.cover[cell] {
            match self.unknown.get(&i) {
                Some(&u) => by_component.entry(self.component[u]).or_default().push(u),
                None => constant += table.cells[i].values[measure],
            }
        }
        let (mut low, mut high) = (constant, constant);
        for (k, target) in by_component {
            low += self.solve(k, &target, OptimizationDirection::Minimize)?;
            high += self.solve(k, &target, OptimizationDirection::Maximize)?;
        }
        Ok(Interval { low, high })
    }

    /// The optimum of the sum of `target` over component `k`; infinite when unbounded.
    fn solve(
        &self,
        k: usize,
        target: &[usize],
        direction: OptimizationDirection,
    ) -> Result<f64, String> {
        let (unknowns, equations) = &self.components[k];
        if equations.is_empty() {
            // Nothing published constrains these cells: only the a-priori bound holds.
            return Ok(match direction {
                OptimizationDirection::Minimize => self.lower * target.len() as f64,
                OptimizationDirection::Maximize => f64::INFINITY,
            });
        }
        let mut problem = Problem::new(direction);
        let mut vars = HashMap::new();
        for &u in unknowns {
            let coefficient = if target.contains(&u) { 1.0 } else { 0.0 };
            vars.insert(u, problem.add_var(coefficient, (self.lower, f64::INFINITY)));
        }
        for (eq_vars, op, rhs) in equations {
            let terms: Vec<_> = eq_vars.iter().map(|u| (vars[u], 1.0)).collect();
            problem.add_constraint(terms.as_slice(), *op, *rhs);
        }
        match problem.solve() {
            Ok(outcome) => match outcome.into_solution() {
                Ok(solution) => Ok(solution.objective()),
                Err(_) => Err("the audit's linear program was interrupted".into()),
            },
            Err(microlp::Error::Unbounded) => Ok(match direction {
                OptimizationDirection::Minimize => f64::NEG_INFINITY,
                OptimizationDirection::Maximize => f64::INFINITY,
            }),
            Err(e) => Err(format!("the audit's linear program failed: {e}")),
        }
    }
}

/// Whether an interval protects a primary of true value `value`: at least `protection` of the
/// value wide (and not a single point), and for a small cell neither bound on the value itself
/// (a zero's lower bound of zero is known before anything is published, so it does not count).
pub fn protects(interval: Interval, value: f64, small: bool, protection: f64) -> bool {
    let width = interval.width();
    if width <= EPSILON || width + EPSILON < protection * value.abs() {
        return false;
    }
    if small {
        let low_pinned = value != 0.0 && (interval.low - value).abs() <= EPSILON;
        let high_pinned = (interval.high - value).abs() <= EPSILON;
        if low_pinned || high_pinned {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disclosure::table::Cell;

    fn cell(key: &[Option<u32>], value: f64) -> Cell {
        Cell {
            key: key.to_vec(),
            values: vec![value],
            primary: false,
            zero: value == 0.0,
            small: false,
        }
    }

    #[test]
    fn a_cell_hidden_alone_in_a_row_with_a_total_is_pinned() {
        // One dimension, levels 0 and 1 (7 and 30), total 37: hiding 7 alone gives it back.
        let table = Table::new(
            1,
            1,
            vec![
                cell(&[Some(0)], 7.0),
                cell(&[Some(1)], 30.0),
                cell(&[None], 37.0),
            ],
        );
        let system = System::new(&table, &[true, false, false], &[], 0, 0.0);
        let i = system.interval(&table, 0, 0).unwrap();
        assert_eq!((i.low, i.high), (7.0, 7.0));
        assert!(!protects(i, 7.0, true, 0.1));
        // Hiding both: each in [0, 37].
        let system = System::new(&table, &[true, true, false], &[], 0, 0.0);
        let i = system.interval(&table, 0, 0).unwrap();
        assert!((i.low - 0.0).abs() < 1e-9 && (i.high - 37.0).abs() < 1e-9);
        assert!(protects(i, 7.0, true, 0.1));
    }

    #[test]
    fn without_any_published_sum_a_hidden_cell_is_unbounded() {
        let table = Table::new(1, 1, vec![cell(&[Some(0)], 3.0), cell(&[Some(1)], 30.0)]);
        let system = System::new(&table, &[true, false], &[], 0, 0.0);
        let i = system.interval(&table, 0, 0).unwrap();
        assert_eq!(i.low, 0.0);
        assert!(i.high.is_infinite());
    }

    #[test]
    fn a_distinct_count_margin_bounds_its_cells_between_the_largest_and_the_sum() {
        // Two groups of 5 distinct persons overlapping in 2: the margin counts 8. Hiding the
        // first leaves x <= 8 and x + 5 >= 8: x in [3, 8] (an exact sum would pin it at 3).
        let table = Table::new(
            1,
            1,
            vec![
                cell(&[Some(0)], 5.0),
                cell(&[Some(1)], 5.0),
                cell(&[None], 8.0),
            ],
        )
        .with_exact(vec![false]);
        let system = System::new(&table, &[true, false, false], &[], 0, 0.0);
        let i = system.interval(&table, 0, 0).unwrap();
        assert!(
            (i.low - 3.0).abs() < 1e-6 && (i.high - 8.0).abs() < 1e-6,
            "{i:?}"
        );
    }
}
