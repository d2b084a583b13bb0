//! Civil dates as Arrow Date32 day numbers (days since 1970-01-01), without a date crate.

/// Day number of a civil date (proleptic Gregorian), Howard Hinnant's algorithm.
pub const fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = (y - era * 400) as u32;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe as i32 - 719_468
}

/// Civil date (year, month, day) of a day number.
pub const fn civil_from_days(z: i32) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = (z - era * 146_097) as u32;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe as i32 + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

pub const fn year_of(day: i32) -> i32 {
    civil_from_days(day).0
}

/// Whole years between a birth date and a later date.
pub fn age_on(birth: i32, on: i32) -> i32 {
    let (by, bm, bd) = civil_from_days(birth);
    let (y, m, d) = civil_from_days(on);
    let mut age = y - by;
    if (m, d) < (bm, bd) {
        age -= 1;
    }
    age
}

/// The Monday on or before a day (1970-01-01 was a Thursday).
pub fn monday_of_week(day: i32) -> i32 {
    day - (day + 3).rem_euclid(7)
}

/// ISO text of a day number, for dataset.json.
pub fn iso(day: i32) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Coverage windows of the dataset (design/DATA.md).
pub const COURT_FROM: i32 = days_from_civil(2011, 1, 1);
pub const COURT_TO: i32 = days_from_civil(2021, 1, 31);
pub const CAFCASS_FROM: i32 = days_from_civil(2007, 4, 1);
pub const CAFCASS_TO: i32 = days_from_civil(2021, 12, 1);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(18_628), (2021, 1, 1));
        for d in [-1000, 0, 59, 60, 11_016, 18_000, 20_000] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }

    #[test]
    fn ages_and_weeks() {
        let birth = days_from_civil(2000, 6, 15);
        assert_eq!(age_on(birth, days_from_civil(2010, 6, 14)), 9);
        assert_eq!(age_on(birth, days_from_civil(2010, 6, 15)), 10);
        // 2021-01-06 was a Wednesday; its Monday is 2021-01-04.
        assert_eq!(
            monday_of_week(days_from_civil(2021, 1, 6)),
            days_from_civil(2021, 1, 4)
        );
        assert_eq!(
            monday_of_week(days_from_civil(2021, 1, 4)),
            days_from_civil(2021, 1, 4)
        );
    }
}
