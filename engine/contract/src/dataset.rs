//! `dataset.json`: what a data directory holds and the windows its data covers. The generator
//! writes one, a real extract carries one (without `generator`), and the engine reads it to set
//! the coverage dates the functions censor at.

use crate::calendar::{days_from_civil, iso, parse_iso};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The family court data's coverage (design/DATA.md): cases issued 2011-01-01 to 2021-01-31.
pub const COURT_FROM: i32 = days_from_civil(2011, 1, 1);
pub const COURT_TO: i32 = days_from_civil(2021, 1, 31);
/// Cafcass's coverage: cases received 2007-04-01 to 2021-12-01.
pub const CAFCASS_FROM: i32 = days_from_civil(2007, 4, 1);
pub const CAFCASS_TO: i32 = days_from_civil(2021, 12, 1);

/// A coverage window, as ISO dates.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Window {
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Coverage {
    pub family_court: Window,
    pub cafcass: Window,
}

impl Default for Coverage {
    /// The windows of design/DATA.md.
    fn default() -> Coverage {
        Coverage {
            family_court: Window {
                from: iso(COURT_FROM),
                to: iso(COURT_TO),
            },
            cafcass: Window {
                from: iso(CAFCASS_FROM),
                to: iso(CAFCASS_TO),
            },
        }
    }
}

/// Who generated a synthetic dataset, and with what seed and scale.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GeneratorInfo {
    pub name: String,
    pub version: String,
    pub seed: u64,
    pub scale: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TableInfo {
    pub rows: u64,
    pub files: usize,
}

/// The contents of `dataset.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DatasetInfo {
    pub dataset: String,
    pub coverage: Coverage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<GeneratorInfo>,
    #[serde(default)]
    pub tables: BTreeMap<String, TableInfo>,
}

impl DatasetInfo {
    pub const FILE_NAME: &'static str = "dataset.json";

    /// The contract tables the dataset holds: those `tables` lists, or every table when it lists
    /// none (a dataset.json written before extracts of part of the data existed).
    pub fn present_tables(&self) -> Vec<&'static crate::TableSpec> {
        crate::TABLES
            .iter()
            .copied()
            .filter(|t| self.tables.is_empty() || self.tables.contains_key(t.name))
            .collect()
    }

    /// Checks what serde cannot: every coverage date is a real date written YYYY-MM-DD. The
    /// error names the field and what it holds.
    pub fn check(&self) -> Result<(), String> {
        let c = &self.coverage;
        for (name, date) in [
            ("coverage.family_court.from", &c.family_court.from),
            ("coverage.family_court.to", &c.family_court.to),
            ("coverage.cafcass.from", &c.cafcass.from),
            ("coverage.cafcass.to", &c.cafcass.to),
        ] {
            if parse_iso(date).is_none() {
                return Err(format!(
                    "{name} is {date:?}, expected a date written YYYY-MM-DD"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_coverage_is_the_contracts() {
        let c = Coverage::default();
        assert_eq!(c.family_court.from, "2011-01-01");
        assert_eq!(c.family_court.to, "2021-01-31");
        assert_eq!(c.cafcass.from, "2007-04-01");
        assert_eq!(c.cafcass.to, "2021-12-01");
    }

    #[test]
    fn check_names_the_bad_date() {
        let mut info = DatasetInfo {
            dataset: "x".into(),
            coverage: Coverage::default(),
            generator: None,
            tables: BTreeMap::new(),
        };
        assert!(info.check().is_ok());
        info.coverage.cafcass.to = "2021-13-01".into();
        let message = info.check().unwrap_err();
        assert!(message.contains("coverage.cafcass.to"), "{message}");
    }
}
