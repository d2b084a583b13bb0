//! The Kaplan-Meier curve of returns (design/FUNCTIONS.md, `return_curve`): per day on which
//! someone left the risk set, how many were at risk, returned or were censored, the survival
//! estimate and its 95% confidence interval. The engine's `return_curve` table function and the
//! safe release of curves (`disclosure::curve`) both build on [`curve_from_counts`], so a
//! published curve is computed from its published counts by the same formula.
//!
//! Observations come from a person's entries as `return_probability` defines them: the first
//! entry is the index, the next distinct start date is the return, and follow-up without a
//! return (or with one after the coverage end) is censored at the coverage end.

/// One step of a curve.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Days since the first entry.
    pub day: i64,
    /// Persons still at risk just before `day`.
    pub at_risk: u64,
    pub returns: u64,
    pub censored: u64,
    /// The probability of no return by `day`.
    pub survival: f64,
    /// The 95% confidence interval of `survival` (Greenwood's variance on the log(-log) scale,
    /// as lifelines and Stata compute it).
    pub lower: f64,
    pub upper: f64,
}

/// One day's counts: `(day, at_risk, returns, censored)`.
pub type StepCount = (i64, u64, u64, u64);

/// The two-sided 95% normal quantile.
const Z_95: f64 = 1.959_963_984_540_054;

/// One observation per person from `(person, start_date)` entries: `(days, returned)`, days to
/// the return or to the coverage end. Persons whose first entry is after the coverage end are
/// not observed. Sorts `entries`.
pub fn observations(entries: &mut [(u32, i32)], coverage_end: i32) -> Vec<(i64, bool)> {
    entries.sort_unstable();
    let mut observations = Vec::new();
    let mut i = 0;
    while i < entries.len() {
        let (person, index) = entries[i];
        let mut j = i;
        let mut next = None;
        while j < entries.len() && entries[j].0 == person {
            if next.is_none() && entries[j].1 > index {
                next = Some(entries[j].1);
            }
            j += 1;
        }
        let follow_up = i64::from(coverage_end) - i64::from(index);
        match next {
            // A return after the coverage end was not observable: censored there.
            Some(n) if n <= coverage_end => {
                observations.push((i64::from(n) - i64::from(index), true))
            }
            _ if follow_up >= 0 => observations.push((follow_up, false)),
            _ => {}
        }
        i = j;
    }
    observations
}

/// The step counts of `observations` up to `horizon`: `(day, at_risk, returns, censored)` for
/// each day someone left the risk set. Sorts `observations`.
pub fn step_counts(observations: &mut [(i64, bool)], horizon: i64) -> Vec<StepCount> {
    observations.sort_unstable();
    let mut steps = Vec::new();
    let mut at_risk = observations.len() as u64;
    let mut i = 0;
    while i < observations.len() && observations[i].0 <= horizon {
        let day = observations[i].0;
        let (mut returns, mut censored) = (0, 0);
        while i < observations.len() && observations[i].0 == day {
            if observations[i].1 {
                returns += 1;
            } else {
                censored += 1;
            }
            i += 1;
        }
        steps.push((day, at_risk, returns, censored));
        at_risk -= returns + censored;
    }
    steps
}

/// Survival and its confidence interval from step counts. Each step's at-risk count is taken as
/// given (a published curve's rounded counts need not add up).
pub fn curve_from_counts(counts: &[StepCount]) -> Vec<Step> {
    let mut survival = 1.0_f64;
    let mut greenwood = 0.0_f64;
    counts
        .iter()
        .map(|&(day, at_risk, returns, censored)| {
            if returns > 0 && at_risk > 0 {
                let (n, d) = (at_risk as f64, returns.min(at_risk) as f64);
                survival *= 1.0 - d / n;
                // n = d leaves the variance term undefined; lifelines counts it as 0.
                if n > d {
                    greenwood += d / (n * (n - d));
                }
            }
            let (lower, upper) = log_log_interval(survival, greenwood);
            Step {
                day,
                at_risk,
                returns,
                censored,
                survival,
                lower,
                upper,
            }
        })
        .collect()
}

/// The exponential Greenwood interval: exp(-exp(log(-log S) ± z·sqrt(V) / log S)).
fn log_log_interval(survival: f64, greenwood: f64) -> (f64, f64) {
    if survival >= 1.0 {
        return (1.0, 1.0);
    }
    if survival <= 0.0 {
        return (0.0, 0.0);
    }
    let v = survival.ln();
    let spread = Z_95 * greenwood.sqrt() / v;
    let bound = |sign: f64| (-((-v).ln() + sign * spread).exp()).exp();
    (bound(-1.0), bound(1.0))
}

/// The whole curve of `observations` up to `horizon`.
pub fn kaplan_meier_curve(observations: &mut [(i64, bool)], horizon: i64) -> Vec<Step> {
    curve_from_counts(&step_counts(observations, horizon))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curve_worked_by_hand() {
        // Five people: returns at 10, 30, 30; censored at 20 and 40.
        let mut obs = vec![(10, true), (20, false), (30, true), (40, false), (30, true)];
        let curve = kaplan_meier_curve(&mut obs, 100);
        let days: Vec<_> = curve
            .iter()
            .map(|s| (s.day, s.at_risk, s.returns, s.censored))
            .collect();
        assert_eq!(
            days,
            vec![(10, 5, 1, 0), (20, 4, 0, 1), (30, 3, 2, 0), (40, 1, 0, 1)]
        );
        // S(10) = 4/5; S(30) = 4/5 * 1/3.
        assert!((curve[0].survival - 0.8).abs() < 1e-12);
        assert!((curve[2].survival - 0.8 / 3.0).abs() < 1e-12);
        // lifelines 0.30.3 on the same five: 0.203809..0.969180 at 10, 0.009677..0.686136 at 30.
        assert!((curve[0].lower - 0.203809).abs() < 1e-6, "{:?}", curve[0]);
        assert!((curve[0].upper - 0.969180).abs() < 1e-6, "{:?}", curve[0]);
        assert!((curve[2].lower - 0.009677).abs() < 1e-6, "{:?}", curve[2]);
        assert!((curve[2].upper - 0.686136).abs() < 1e-6, "{:?}", curve[2]);
        // The horizon cuts the curve.
        let mut obs = vec![(10, true), (20, false), (30, true)];
        assert_eq!(kaplan_meier_curve(&mut obs, 25).len(), 2);
    }

    #[test]
    fn observations_take_the_next_distinct_date_and_censor_at_coverage_end() {
        // Person 0: entries on days 100, 100 (same day: one entry) and 400; person 1: one
        // entry on day 900 (censored at 1000 after 100 days); person 2: a return after the
        // coverage end (censored); person 3: first seen after the coverage end (not observed).
        let mut entries = vec![
            (0, 400),
            (0, 100),
            (0, 100),
            (1, 900),
            (2, 950),
            (2, 1200),
            (3, 1100),
        ];
        let mut obs = observations(&mut entries, 1000);
        obs.sort_unstable();
        assert_eq!(obs, vec![(50, false), (100, false), (300, true)]);
    }
}
