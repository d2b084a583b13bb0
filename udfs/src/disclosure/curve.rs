//! A survival curve made safe to publish (design/DISCLOSURE.md, "Survival curves"; ACRO's
//! rounded survival table, OpenSAFELY's kaplan-meier action): consecutive steps are merged until
//! at least the threshold of persons have left the risk set (returns plus censorings), the tail is
//! cut where fewer than the threshold would remain at risk, the counts are rounded, and survival
//! and its interval are computed again from the published counts, so no published figure rests
//! on fewer persons than the threshold.

use super::rules::round_half_up_i64;
use crate::entries::return_curve::{Step, StepCount, curve_from_counts};

/// A curve as published, and what was done to it.
#[derive(Debug, Clone, PartialEq)]
pub struct SafeCurve {
    pub steps: Vec<Step>,
    /// Raw steps folded into a published step.
    pub merged: usize,
    /// Raw steps in the tail that were not published.
    pub cut: usize,
}

/// The safe curve of raw step counts `(day, at_risk, returns, censored)`, in day order.
/// A published step is dated by the last day it gathers and carries the at-risk count at its
/// start.
pub fn safe_curve(raw: &[StepCount], threshold: u64, rounding_base: u64) -> SafeCurve {
    let threshold = threshold.max(1);
    let mut published = Vec::new();
    let mut merged = 0;
    let mut i = 0;
    while i < raw.len() {
        let at_risk = raw[i].1;
        let (mut returns, mut censored, mut j) = (0, 0, i);
        while j < raw.len() && returns + censored < threshold {
            returns += raw[j].2;
            censored += raw[j].3;
            j += 1;
        }
        let remaining = at_risk.saturating_sub(returns + censored);
        if at_risk < threshold || returns + censored < threshold || remaining < threshold {
            break;
        }
        merged += j - i - 1;
        published.push((raw[j - 1].0, at_risk, returns, censored));
        i = j;
    }
    let base = i64::try_from(rounding_base).unwrap_or(1);
    let round = |n: u64| round_half_up_i64(i64::try_from(n).unwrap_or(i64::MAX), base) as u64;
    let rounded: Vec<_> = published
        .iter()
        .map(|&(day, n, d, c)| (day, round(n), round(d), round(c)))
        .collect();
    SafeCurve {
        steps: curve_from_counts(&rounded),
        merged,
        cut: raw.len() - i,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_merge_until_the_threshold_has_left_and_the_tail_is_cut() {
        // 40 at risk; threshold 10, no rounding.
        let raw = [
            (5, 40, 3, 0),   // 3 leave
            (9, 37, 4, 2),   // 9 in all
            (12, 31, 1, 0),  // 10: the first published step, dated 12, at risk 40
            (20, 30, 10, 0), // the second: 10 returns, 20 remain
            (25, 20, 2, 3),  // 5
            (31, 15, 6, 0),  // 11, but only 9 would remain: cut
        ];
        let safe = safe_curve(&raw, 10, 1);
        let counts: Vec<_> = safe
            .steps
            .iter()
            .map(|s| (s.day, s.at_risk, s.returns, s.censored))
            .collect();
        assert_eq!(counts, vec![(12, 40, 8, 2), (20, 30, 10, 0)]);
        assert_eq!(safe.merged, 2);
        assert_eq!(safe.cut, 2);
        // Survival from the published counts: 32/40, then 20/30 of that.
        assert!((safe.steps[0].survival - 0.8).abs() < 1e-12);
        assert!((safe.steps[1].survival - 0.8 * 20.0 / 30.0).abs() < 1e-12);
    }

    #[test]
    fn counts_are_rounded_and_survival_recomputed_from_them() {
        let raw = [(7, 103, 12, 1), (30, 90, 11, 0)];
        let safe = safe_curve(&raw, 10, 5);
        let counts: Vec<_> = safe
            .steps
            .iter()
            .map(|s| (s.at_risk, s.returns, s.censored))
            .collect();
        assert_eq!(counts, vec![(105, 10, 0), (90, 10, 0)]);
        let expected = (1.0 - 10.0 / 105.0) * (1.0 - 10.0 / 90.0);
        assert!((safe.steps[1].survival - expected).abs() < 1e-12);
    }

    #[test]
    fn a_group_below_the_threshold_publishes_nothing() {
        let raw = [(3, 8, 4, 0), (9, 4, 4, 0)];
        let safe = safe_curve(&raw, 10, 5);
        assert!(safe.steps.is_empty());
        assert_eq!(safe.cut, 2);
    }
}
