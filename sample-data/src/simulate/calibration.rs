//! The figures the simulation is calibrated to, with their sources (research/metrics.md): the
//! yearly volume of each case type, how long care and private law cases take by year of
//! disposal, and how often families come back. The calibration tests (tests/it/calibration.rs)
//! check the generated data against these.

use super::CaseType;

/// New cases a year in England and Wales at scale 1.0 (design/DATA.md; research/metrics.md).
pub(super) fn yearly_volume(case_type: CaseType, year: i32) -> f64 {
    match case_type {
        CaseType::PublicLaw => match year {
            ..=2007 => 7_500.0,
            2008 => 8_500.0,
            2009 => 10_000.0,
            2010 => 10_800.0,
            2011 => 11_000.0,
            2012 => 12_600.0,
            2013 => 12_000.0,
            2014 => 13_500.0,
            2015 => 15_500.0,
            2016 => 18_500.0,
            2017 => 19_000.0,
            2018 => 19_000.0,
            2019 => 17_800.0,
            _ => 17_000.0,
        },
        // LASPO (April 2013) took legal aid away from most private law and volume fell.
        CaseType::PrivateLaw => match year {
            ..=2012 => 56_000.0,
            2013 => 52_000.0,
            2014 => 42_000.0,
            2015 => 44_000.0,
            2016 => 47_000.0,
            2017 => 51_000.0,
            2018 => 54_000.0,
            _ => 56_000.0,
        },
        CaseType::Adoption => 5_600.0,
        CaseType::Matrimonial => 112_000.0,
        CaseType::FinancialRemedy => 42_000.0,
        CaseType::DomesticViolence => 31_000.0,
        CaseType::ForcedMarriage => 250.0,
    }
}

/// Mean weeks from issue to first disposal of care proceedings, by year of disposal (FCSQ).
pub(super) fn care_weeks_by_disposal_year(year: f64) -> f64 {
    const POINTS: &[(f64, f64)] = &[
        (2006.5, 45.0),
        (2009.5, 52.0),
        (2011.5, 56.0),
        (2012.5, 48.0),
        (2013.5, 37.0),
        (2014.5, 30.0),
        (2015.5, 28.3),
        (2016.5, 26.9),
        (2017.5, 28.0),
        (2018.5, 30.0),
        (2019.5, 33.0),
        (2020.5, 39.0),
        (2021.5, 45.0),
    ];
    interpolate(POINTS, year)
}

/// Mean weeks from issue to final order of private law cases, by year of disposal (FCSQ).
pub(super) fn private_weeks_by_disposal_year(year: f64) -> f64 {
    const POINTS: &[(f64, f64)] = &[
        (2010.5, 26.0),
        (2013.5, 28.0),
        (2014.5, 31.0),
        (2016.5, 21.0),
        (2017.5, 23.0),
        (2018.5, 26.0),
        (2020.0, 30.0),
        (2020.75, 33.0),
        (2021.5, 41.0),
    ];
    interpolate(POINTS, year)
}

fn interpolate(points: &[(f64, f64)], x: f64) -> f64 {
    if x <= points[0].0 {
        return points[0].1;
    }
    for w in points.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        if x <= x1 {
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0);
        }
    }
    points[points.len() - 1].1
}

pub(super) fn fractional_year(day: i32) -> f64 {
    1970.0 + day as f64 / 365.2425
}

/// A mother's chance of coming back in a new s31 case, by her age at this case: about 1 in 4
/// overall, 1 in 3 for the youngest (research/metrics.md 1.2, 7.7).
pub(super) fn public_law_return_probability(mother_age: i32) -> f64 {
    match mother_age {
        ..=19 => 0.34,
        20..=24 => 0.28,
        25..=29 => 0.23,
        _ => 0.175,
    }
}

/// Chance that a private law family comes back with a later application.
pub(super) const PRIVATE_LAW_RETURN: f64 = 0.31;
/// Mean years from the end of a private law case to the return (63% within two years).
pub(super) const PRIVATE_LAW_RETURN_MEAN_YEARS: f64 = 2.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_hits_the_points_and_clamps() {
        assert_eq!(care_weeks_by_disposal_year(2016.5), 26.9);
        assert_eq!(care_weeks_by_disposal_year(1990.0), 45.0);
        assert_eq!(care_weeks_by_disposal_year(2030.0), 45.0);
        let mid = care_weeks_by_disposal_year(2016.0);
        assert!((mid - (28.3 + 26.9) / 2.0).abs() < 1e-9);
    }
}
