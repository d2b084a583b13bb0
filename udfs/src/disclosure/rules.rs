//! The disclosure rules (design/DISCLOSURE.md) and their test on one cell.
//!
//! A cell is judged on what contributed to it: how many distinct persons, and for each measure
//! the contributions' total, largest values, extremes and signs ([`MeasureStats`]). The rules'
//! parameters live in [`Rules`], which every output records beside its cells.

use serde::{Deserialize, Serialize};

/// How negative contributions to a sum or mean are treated by the dominance rules, which are
/// undefined for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NegativeValues {
    /// A cell with a negative contribution fails (the default: the user must decide).
    Refuse,
    /// Dominance and p% are computed on absolute values.
    Absolute,
}

/// Whether aggregates that publish one contributor's value (min, max, first_value, ...) may be
/// released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoints {
    /// Refused before the query runs (the default).
    #[default]
    Refuse,
    /// Released with status `review`, for an output checker to decide.
    Review,
}

impl Endpoints {
    pub fn is_refuse(&self) -> bool {
        *self == Endpoints::Refuse
    }
}

/// Every rule's parameter. The defaults follow UK trusted research practice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rules {
    /// A cell needs at least this many distinct persons (rows, when there is no person column).
    pub threshold: u64,
    /// A count of zero fails (group disclosure: "no one in this group ...").
    pub zeros_unsafe: bool,
    /// N-K dominance: the largest `nk_n` contributions may make up at most `nk_k` of the total.
    pub nk_n: usize,
    pub nk_k: f64,
    /// p%: (total - x1 - x2) / x1 must be at least `p_ratio`.
    pub p_ratio: f64,
    /// A min, max, median or mean fails when every contributor has the same value.
    pub all_same: bool,
    pub negative: NegativeValues,
    /// Model outputs need at least this many residual degrees of freedom.
    pub min_dof: u64,
    /// Published counts are rounded to this base, ties half up (1 = no rounding).
    pub rounding_base: u64,
    /// A suppressed primary's feasibility interval must be at least this share of its value wide.
    pub protection: f64,
    /// Endpoints: refused, or released for review. Written only when not the default: release
    /// logs hash their entries as serialised, so a log written before this rule existed (its
    /// releases refused endpoints) must serialise the same today.
    #[serde(default, skip_serializing_if = "Endpoints::is_refuse")]
    pub endpoints: Endpoints,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            threshold: 10,
            zeros_unsafe: true,
            nk_n: 2,
            nk_k: 0.9,
            p_ratio: 0.10,
            all_same: true,
            negative: NegativeValues::Refuse,
            min_dof: 10,
            rounding_base: 5,
            protection: 0.10,
            endpoints: Endpoints::Refuse,
        }
    }
}

/// What a measure is, for the rules that apply to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeasureKind {
    /// count(...): threshold and zeros; additive (margins are sums of cells).
    Count,
    /// sum(...): threshold, dominance, p%, negatives; additive.
    Sum,
    /// avg/mean: threshold, dominance, p%, negatives, all-same.
    Mean,
    /// min, max, median: threshold and all-same.
    Extreme,
    /// regression and correlation aggregates: threshold and degrees of freedom.
    Model { parameters: u64 },
    /// Other aggregates (e.g. return_probability): threshold only.
    Other,
}

impl MeasureKind {
    /// Whether margins of this measure are sums of its cells (so the audit's equations hold).
    pub fn is_additive(self) -> bool {
        matches!(self, MeasureKind::Count | MeasureKind::Sum)
    }
}

/// What contributed to one measure of one cell.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MeasureStats {
    /// Sum of every contribution.
    pub total: f64,
    /// The largest contributions, largest first (at least `nk_n` of them when there are).
    pub largest: Vec<f64>,
    /// The same by absolute value, and the total of absolute values (for negatives judged so).
    pub largest_abs: Vec<f64>,
    pub abs_total: f64,
    /// Smallest and largest single value (for all-same).
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Whether any contribution was negative.
    pub negative: bool,
    /// How many contributors had a value.
    pub contributors: u64,
}

/// A rule a cell failed, in ACRO's vocabulary where it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Rule {
    #[serde(rename = "threshold")]
    Threshold,
    #[serde(rename = "zeros")]
    Zero,
    #[serde(rename = "nk-rule")]
    Dominance,
    #[serde(rename = "p-ratio")]
    PRatio,
    #[serde(rename = "all-values-are-same")]
    AllSame,
    #[serde(rename = "negative")]
    Negative,
    #[serde(rename = "dof")]
    DegreesOfFreedom,
}

impl Rule {
    pub const ALL: [Rule; 7] = [
        Rule::Threshold,
        Rule::Zero,
        Rule::Dominance,
        Rule::PRatio,
        Rule::AllSame,
        Rule::Negative,
        Rule::DegreesOfFreedom,
    ];

    /// The name used in reports (ACRO's where it has one).
    pub fn name(self) -> &'static str {
        match self {
            Rule::Threshold => "threshold",
            Rule::Zero => "zeros",
            Rule::Dominance => "nk-rule",
            Rule::PRatio => "p-ratio",
            Rule::AllSame => "all-values-are-same",
            Rule::Negative => "negative",
            Rule::DegreesOfFreedom => "dof",
        }
    }
}

/// A failed rule with the figures that failed it, e.g. "threshold: 3 persons, below 10".
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    pub rule: Rule,
    pub detail: String,
}

impl Rules {
    /// The threshold rule on a cell's distinct persons.
    pub fn threshold_fails(&self, persons: u64) -> bool {
        persons < self.threshold
    }

    /// N-K dominance: the largest n contributions exceed k of the total. Exactly k passes.
    pub fn dominance_fails(&self, stats: &MeasureStats) -> bool {
        let total = stats.total;
        if total <= 0.0 {
            return false;
        }
        let top: f64 = stats.largest.iter().take(self.nk_n).sum();
        top > self.nk_k * total
    }

    /// p%: the others' share relative to the largest contribution is below p.
    pub fn p_ratio_fails(&self, stats: &MeasureStats) -> bool {
        let x1 = stats.largest.first().copied().unwrap_or(0.0);
        if x1 <= 0.0 {
            return false;
        }
        let x2 = stats.largest.get(1).copied().unwrap_or(0.0);
        (stats.total - x1 - x2) / x1 < self.p_ratio
    }

    /// Every rule that applies to a measure of this kind, on a cell of `persons` contributors.
    pub fn check(&self, kind: MeasureKind, persons: u64, stats: &MeasureStats) -> Vec<Failure> {
        let mut failures = Vec::new();
        if self.threshold_fails(persons) && !(kind == MeasureKind::Count && persons == 0) {
            failures.push(Failure {
                rule: Rule::Threshold,
                detail: format!("{persons} persons, below {}", self.threshold),
            });
        }
        match kind {
            MeasureKind::Count => {
                if persons == 0 && self.zeros_unsafe {
                    failures.push(Failure {
                        rule: Rule::Zero,
                        detail: "a zero count (zeros are declared unsafe)".into(),
                    });
                }
            }
            MeasureKind::Sum | MeasureKind::Mean => {
                if stats.negative && self.negative == NegativeValues::Refuse {
                    failures.push(Failure {
                        rule: Rule::Negative,
                        detail: "a negative contribution: dominance is undefined (set fjq.disclosure.negative = 'absolute' to judge absolute values)".into(),
                    });
                } else {
                    let stats = &self.comparable(stats);
                    if self.dominance_fails(stats) {
                        let top: f64 = stats.largest.iter().take(self.nk_n).sum();
                        failures.push(Failure {
                            rule: Rule::Dominance,
                            detail: format!(
                                "the largest {} contributions are {:.1}% of the total, above {:.1}%",
                                self.nk_n,
                                100.0 * top / stats.total,
                                100.0 * self.nk_k
                            ),
                        });
                    }
                    if self.p_ratio_fails(stats) {
                        failures.push(Failure {
                            rule: Rule::PRatio,
                            detail: format!(
                                "the others' total is {:.1}% of the largest contribution, below {:.1}%",
                                100.0
                                    * (stats.total
                                        - stats.largest[0]
                                        - stats.largest.get(1).copied().unwrap_or(0.0))
                                    / stats.largest[0],
                                100.0 * self.p_ratio
                            ),
                        });
                    }
                }
                if kind == MeasureKind::Mean {
                    self.check_all_same(stats, &mut failures);
                }
            }
            MeasureKind::Extreme => self.check_all_same(stats, &mut failures),
            MeasureKind::Model { parameters } => {
                let dof = stats.contributors.saturating_sub(parameters);
                if dof < self.min_dof {
                    failures.push(Failure {
                        rule: Rule::DegreesOfFreedom,
                        detail: format!(
                            "{dof} residual degrees of freedom, below {}",
                            self.min_dof
                        ),
                    });
                }
            }
            MeasureKind::Other => {}
        }
        failures
    }

    fn check_all_same(&self, stats: &MeasureStats, failures: &mut Vec<Failure>) {
        if self.all_same
            && stats.contributors > 0
            && let (Some(min), Some(max)) = (stats.min, stats.max)
            && min == max
        {
            failures.push(Failure {
                rule: Rule::AllSame,
                detail: format!("every contributor has the value {min}"),
            });
        }
    }

    /// The statistics the dominance rules read: absolute values when negatives are so declared.
    fn comparable(&self, stats: &MeasureStats) -> MeasureStats {
        if !stats.negative {
            return stats.clone();
        }
        let mut s = stats.clone();
        s.largest = stats.largest_abs.clone();
        s.total = stats.abs_total;
        s
    }
}

/// `value` rounded to a multiple of `base`, ties half up (towards positive infinity).
pub fn round_half_up(value: f64, base: f64) -> f64 {
    if base <= 0.0 {
        return value;
    }
    (value / base + 0.5).floor() * base
}

/// Integer rounding to a multiple of `base`, ties half up, exact for every i64.
pub fn round_half_up_i64(value: i64, base: i64) -> i64 {
    if base <= 1 {
        return value;
    }
    let (v, b) = (i128::from(value), i128::from(base));
    let rounded = (2 * v + b).div_euclid(2 * b) * b;
    rounded.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(values: &[f64]) -> MeasureStats {
        let mut largest = values.to_vec();
        largest.sort_by(|a, b| b.total_cmp(a));
        let mut largest_abs: Vec<f64> = values.iter().map(|v| v.abs()).collect();
        largest_abs.sort_by(|a, b| b.total_cmp(a));
        MeasureStats {
            total: values.iter().sum(),
            largest,
            abs_total: largest_abs.iter().sum(),
            largest_abs,
            min: values.iter().copied().reduce(f64::min),
            max: values.iter().copied().reduce(f64::max),
            negative: values.iter().any(|v| *v < 0.0),
            contributors: values.len() as u64,
        }
    }

    fn rules_failed(kind: MeasureKind, persons: u64, values: &[f64]) -> Vec<Rule> {
        Rules::default()
            .check(kind, persons, &stats(values))
            .into_iter()
            .map(|f| f.rule)
            .collect()
    }

    #[test]
    fn threshold_nine_fails_ten_passes() {
        assert_eq!(rules_failed(MeasureKind::Count, 9, &[]), [Rule::Threshold]);
        assert_eq!(rules_failed(MeasureKind::Count, 10, &[]), []);
    }

    #[test]
    fn zero_count_fails_as_zero_only_when_declared_unsafe() {
        assert_eq!(rules_failed(MeasureKind::Count, 0, &[]), [Rule::Zero]);
        let rules = Rules {
            zeros_unsafe: false,
            ..Rules::default()
        };
        assert!(rules.check(MeasureKind::Count, 0, &stats(&[])).is_empty());
    }

    #[test]
    fn dominance_exactly_at_k_passes_above_fails() {
        // 10 contributors: the top two make exactly 90 of 100.
        let mut at_k = vec![60.0, 30.0];
        at_k.extend([1.25; 8]);
        assert_eq!(rules_failed(MeasureKind::Sum, 10, &at_k), []);
        // Just above: 60 + 30.5 of 100.
        let mut above = vec![60.0, 30.5];
        above.extend([9.5 / 8.0; 8]);
        assert_eq!(
            rules_failed(MeasureKind::Sum, 10, &above),
            [Rule::Dominance]
        );
    }

    #[test]
    fn p_ratio_boundary() {
        // x1 = 50, x2 = 40, others 5 + 5 = 10: (100 - 90) / 50 = 0.2 >= 0.1 passes... but the
        // top two are 90% (not above), so nothing fails.
        let values = [50.0, 40.0, 2.0, 2.0, 2.0, 2.0, 2.0, 0.0, 0.0, 0.0];
        assert_eq!(rules_failed(MeasureKind::Sum, 10, &values), []);
        // With k relaxed, p% alone: others 4 of x1 = 50: 0.08 < 0.10 fails; 5 of 50 = 0.10 passes.
        let rules = Rules {
            nk_k: 1.0,
            ..Rules::default()
        };
        let fails = rules.check(MeasureKind::Sum, 10, &stats(&[50.0, 46.0, 2.0, 2.0]));
        assert_eq!(fails.len(), 1);
        assert_eq!(fails[0].rule, Rule::PRatio);
        assert!(
            rules
                .check(MeasureKind::Sum, 10, &stats(&[50.0, 45.0, 2.5, 2.5]))
                .is_empty()
        );
    }

    #[test]
    fn a_negative_contribution_is_refused_unless_declared() {
        let values = [10.0, -1.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0];
        assert_eq!(
            rules_failed(MeasureKind::Sum, 10, &values),
            [Rule::Negative]
        );
        let rules = Rules {
            negative: NegativeValues::Absolute,
            ..Rules::default()
        };
        assert!(
            rules
                .check(MeasureKind::Sum, 10, &stats(&values))
                .is_empty()
        );
    }

    #[test]
    fn a_value_shared_by_every_contributor_fails_all_same() {
        assert_eq!(
            rules_failed(MeasureKind::Extreme, 12, &[4.0; 12]),
            [Rule::AllSame]
        );
        let mut mixed = [4.0; 12];
        mixed[3] = 5.0;
        assert_eq!(rules_failed(MeasureKind::Extreme, 12, &mixed), []);
    }

    #[test]
    fn degrees_of_freedom_boundary() {
        // 12 contributors, 2 parameters: 10 residual degrees of freedom pass; 11 leave 9.
        assert_eq!(
            rules_failed(MeasureKind::Model { parameters: 2 }, 12, &[1.0; 12]),
            []
        );
        assert_eq!(
            rules_failed(MeasureKind::Model { parameters: 2 }, 11, &[1.0; 11]),
            [Rule::DegreesOfFreedom]
        );
    }

    #[test]
    fn rounding_ties_go_up() {
        assert_eq!(round_half_up_i64(12, 5), 10);
        assert_eq!(round_half_up_i64(13, 5), 15);
        assert_eq!(round_half_up_i64(15, 10), 20);
        assert_eq!(round_half_up_i64(14, 10), 10);
        assert_eq!(round_half_up_i64(-15, 10), -10);
        assert_eq!(round_half_up_i64(6, 4), 8);
        assert_eq!(round_half_up(7.5, 5.0), 10.0);
        assert_eq!(round_half_up(-7.5, 5.0), -5.0);
        assert_eq!(round_half_up_i64(i64::MAX, 10), i64::MAX);
    }
}
