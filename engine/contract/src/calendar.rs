//! Civil dates as Arrow Date32 day numbers (days since 1970-01-01), without a date crate: the one
//! place fjq converts between a day number and a (year, month, day), used by the generator, the
//! settings that take dates, `dataset.json` and the release reports' time stamps.

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

/// ISO text (YYYY-MM-DD) of a day number.
pub fn iso(day: i32) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The day number of an ISO date written YYYY-MM-DD, or None if the text is not a real date.
pub fn parse_iso(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if !(digits(0..4) && digits(5..7) && digits(8..10)) {
        return None;
    }
    let y: i32 = s[0..4].parse().ok()?;
    let m: u32 = s[5..7].parse().ok()?;
    let d: u32 = s[8..10].parse().ok()?;
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in_month = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    (1..=days_in_month)
        .contains(&d)
        .then(|| days_from_civil(y, m, d))
}

/// A Unix time in seconds as ISO 8601 in UTC (`2026-11-30T16:20:13Z`).
pub fn iso_timestamp(unix_seconds: i64) -> String {
    let day = unix_seconds.div_euclid(86_400);
    let second = unix_seconds.rem_euclid(86_400);
    let day = i32::try_from(day).unwrap_or(if day < 0 { i32::MIN } else { i32::MAX });
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        iso(day),
        second / 3600,
        second % 3600 / 60,
        second % 60
    )
}

/// The time now as ISO 8601 in UTC.
pub fn now_iso() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    iso_timestamp(i64::try_from(seconds).unwrap_or(i64::MAX))
}

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
    fn iso_text_both_ways() {
        assert_eq!(parse_iso("2021-01-31"), Some(days_from_civil(2021, 1, 31)));
        assert_eq!(parse_iso("2020-02-29"), Some(days_from_civil(2020, 2, 29)));
        assert_eq!(parse_iso("1970-01-01"), Some(0));
        for bad in [
            "2021-1-31",
            "2021-13-01",
            "20210131",
            "2021-01-3x",
            "",
            "2021-02-29",
            "+021-01-01",
            "31/01/2021",
        ] {
            assert_eq!(parse_iso(bad), None, "{bad}");
        }
        assert_eq!(iso(days_from_civil(2007, 4, 1)), "2007-04-01");
        assert_eq!(iso_timestamp(0), "1970-01-01T00:00:00Z");
        // 2026-11-30 16:20:13 UTC.
        assert_eq!(iso_timestamp(1_796_055_613), "2026-11-30T16:20:13Z");
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
