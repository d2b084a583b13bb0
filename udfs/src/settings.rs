//! Session settings under the `fjq.` prefix: the coverage windows of the open dataset.
//!
//! Functions that must tell a censored follow-up from a real absence (`returns_within`,
//! `left_truncated`) read these; an explicit argument overrides them. They are listed by
//! `SHOW ALL` and `information_schema.df_settings` as `fjq.<name>`, and `SET` changes them.
//! (Implemented by hand rather than with `extensions_options!`, whose entries lose the prefix.)

use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::common::{Result, config_err};
use std::any::Any;

/// The open dataset's coverage windows, as ISO dates (YYYY-MM-DD).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FjqOptions {
    pub court_coverage_start: String,
    pub court_coverage_end: String,
    pub cafcass_coverage_start: String,
    pub cafcass_coverage_end: String,
}

impl Default for FjqOptions {
    fn default() -> Self {
        FjqOptions {
            court_coverage_start: "2011-01-01".to_string(),
            court_coverage_end: "2021-01-31".to_string(),
            cafcass_coverage_start: "2007-04-01".to_string(),
            cafcass_coverage_end: "2021-12-01".to_string(),
        }
    }
}

const FIELDS: &[(&str, &str)] = &[
    (
        "court_coverage_start",
        "First issue date covered by the family court tables.",
    ),
    (
        "court_coverage_end",
        "Last date covered by the family court tables (the extract date).",
    ),
    (
        "cafcass_coverage_start",
        "First date covered by the Cafcass tables.",
    ),
    (
        "cafcass_coverage_end",
        "Last date covered by the Cafcass tables.",
    ),
];

/// Days since 1970-01-01 of an ISO date, or None if it is not one.
pub fn parse_iso_date(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i32 = s[0..4].parse().ok()?;
    let m: u32 = s[5..7].parse().ok()?;
    let d: u32 = s[8..10].parse().ok()?;
    let days_in_month = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => return None,
    };
    if d == 0 || d > days_in_month {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = (y - era * 400) as u32;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe as i32 - 719_468)
}

impl FjqOptions {
    fn field_mut(&mut self, key: &str) -> Option<&mut String> {
        match key {
            "court_coverage_start" => Some(&mut self.court_coverage_start),
            "court_coverage_end" => Some(&mut self.court_coverage_end),
            "cafcass_coverage_start" => Some(&mut self.cafcass_coverage_start),
            "cafcass_coverage_end" => Some(&mut self.cafcass_coverage_end),
            _ => None,
        }
    }

    fn field(&self, key: &str) -> &str {
        match key {
            "court_coverage_start" => &self.court_coverage_start,
            "court_coverage_end" => &self.court_coverage_end,
            "cafcass_coverage_start" => &self.cafcass_coverage_start,
            _ => &self.cafcass_coverage_end,
        }
    }
}

impl ExtensionOptions for FjqOptions {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let value = value.trim().trim_matches('\'');
        if parse_iso_date(value).is_none() {
            return config_err!("fjq.{key} must be a date written YYYY-MM-DD, got {value:?}");
        }
        match self.field_mut(key) {
            Some(field) => {
                *field = value.to_string();
                Ok(())
            }
            None => {
                let known: Vec<String> = FIELDS.iter().map(|(k, _)| format!("fjq.{k}")).collect();
                config_err!(
                    "unknown setting fjq.{key}; the fjq settings are {}",
                    known.join(", ")
                )
            }
        }
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        FIELDS
            .iter()
            .map(|(key, description)| ConfigEntry {
                key: format!("{}.{key}", Self::PREFIX),
                value: Some(self.field(key).to_string()),
                description,
            })
            .collect()
    }
}

impl ConfigExtension for FjqOptions {
    const PREFIX: &'static str = "fjq";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates_parse_to_day_numbers() {
        assert_eq!(parse_iso_date("1970-01-01"), Some(0));
        assert_eq!(parse_iso_date("2021-01-31"), Some(18_658));
        assert_eq!(parse_iso_date("2020-02-29"), Some(18_321));
        for bad in ["2021-02-29", "2021-13-01", "2021-1-01", "31/01/2021", ""] {
            assert_eq!(parse_iso_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn set_checks_names_and_dates() {
        let mut o = FjqOptions::default();
        o.set("court_coverage_end", "2020-12-31").unwrap();
        assert_eq!(o.court_coverage_end, "2020-12-31");
        assert!(
            o.set("court_coverage_end", "yesterday")
                .unwrap_err()
                .to_string()
                .contains("YYYY-MM-DD")
        );
        assert!(
            o.set("nonsense", "2020-01-01")
                .unwrap_err()
                .to_string()
                .contains("unknown setting fjq.nonsense")
        );
        assert_eq!(o.entries()[1].key, "fjq.court_coverage_end");
    }
}
