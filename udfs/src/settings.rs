//! Session settings under the `fjq.` prefix: the coverage windows of the open dataset, and the
//! disclosure rules (`fjq.disclosure.*`, design/DISCLOSURE.md).
//!
//! Functions that must tell a censored follow-up from a real absence (`returns_within`,
//! `left_truncated`) read the coverage windows; an explicit argument overrides them. The
//! disclosure functions and `safe_table` read the rules. Under the safe policy `SET` is refused,
//! so the rules are the operator's. They are listed by
//! `SHOW ALL` and `information_schema.df_settings` as `fjq.<name>`, and `SET` changes them.
//! (Implemented by hand rather than with `extensions_options!`, whose entries lose the prefix.)

use crate::disclosure::rules::{Endpoints, NegativeValues, Rules};
use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::common::{Result, config_err};
use std::any::Any;

/// The open dataset's coverage windows, as ISO dates (YYYY-MM-DD), and the disclosure rules.
#[derive(Debug, Clone, PartialEq)]
pub struct FjqOptions {
    pub court_coverage_start: String,
    pub court_coverage_end: String,
    pub cafcass_coverage_start: String,
    pub cafcass_coverage_end: String,
    /// `linked_cases`: the most days between a court case's start and the receipt of a Cafcass
    /// case about the same children, either way.
    pub case_link_window_days: u32,
    /// `linked_cases`: the match statuses of the linkage accepted, on both sides of a link.
    pub case_link_statuses: Vec<i32>,
    /// Whether fjq's join rule may gather a join's small side once (fjq_engine::join_mode).
    pub collect_small_builds: bool,
    /// Whether aggregates over input sorted on their keys group by runs of equal keys
    /// (fjq_engine::sorted_aggregate).
    pub sorted_aggregation: bool,
    /// Whether filters on `IS NOT NULL` are estimated from the files' null counts
    /// (fjq_engine::null_counts).
    pub filter_null_counts: bool,
    /// Whether a grouping repartitioned next on some of its keys is repartitioned on those
    /// keys only, once (fjq_engine::repartition_once).
    pub repartition_once: bool,
    /// Whether a DISTINCT sorted next on all its columns sorts its input instead
    /// (fjq_engine::sorted_distinct).
    pub sorted_distinct: bool,
    /// Whether partial aggregates over integer, date, boolean and code-text (string view) keys
    /// find groups by numbering their values (fjq_engine::small_keys).
    pub small_key_aggregation: bool,
    /// Whether aggregates grouped by booleans (or casts of them) number their groups by
    /// arithmetic (fjq_engine::small_domains).
    pub small_domain_aggregation: bool,
    /// Whether sorts on integer, date, boolean and text keys sort fixed-width byte keys
    /// (fjq_engine::key_sort).
    pub key_sort: bool,
    /// Whether a hash join whose two sides arrive sorted on its keys merges them instead
    /// (fjq_engine::merge_join).
    pub merge_join: bool,
    /// Whether hash joins on one integer, date or text key use fjq's table, which looks rows
    /// up ahead of need (fjq_engine::hash_join).
    pub one_key_hash_join: bool,
    /// Whether fjq's hash joins filter their probe side's scans by the keys they built
    /// (fjq_engine::probe_filter).
    pub probe_filters: bool,
    /// Whether a date plus or minus a literal interval of whole days adds the days to the day
    /// numbers (fjq_engine::day_shift).
    pub day_shift: bool,
    /// Whether an inner join to a bare table column is left out when a join above repeats its
    /// filtering and the aggregate above counts no repeats (fjq_engine::implied_joins).
    pub implied_joins: bool,
    pub disclosure: Rules,
}

/// Cafcass receives a case within days of its issue (the generator's lag is 0 to 4 days; in
/// the real data a few weeks at most): 28 days either way catches a late or early receipt
/// without reaching the family's next case (docs/DECISIONS.md).
pub const CASE_LINK_WINDOW_DAYS: u32 = 28;
/// SAIL analysts' accepted matches: 1, 4 and 39; 35 (weak) only on request.
pub const CASE_LINK_STATUSES: &[i32] = &[1, 4, 39];

impl Default for FjqOptions {
    fn default() -> Self {
        FjqOptions {
            court_coverage_start: "2011-01-01".to_string(),
            court_coverage_end: "2021-01-31".to_string(),
            cafcass_coverage_start: "2007-04-01".to_string(),
            cafcass_coverage_end: "2021-12-01".to_string(),
            case_link_window_days: CASE_LINK_WINDOW_DAYS,
            case_link_statuses: CASE_LINK_STATUSES.to_vec(),
            collect_small_builds: true,
            sorted_aggregation: true,
            filter_null_counts: true,
            repartition_once: true,
            sorted_distinct: true,
            small_key_aggregation: true,
            small_domain_aggregation: true,
            key_sort: true,
            merge_join: true,
            one_key_hash_join: true,
            probe_filters: true,
            day_shift: true,
            implied_joins: true,
            disclosure: Rules::default(),
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

const LINK_FIELDS: &[(&str, &str)] = &[
    (
        "case_link_window_days",
        "linked_cases: the most days between a court case's start and the Cafcass case's receipt, either way.",
    ),
    (
        "case_link_statuses",
        "linked_cases: the linkage match statuses accepted, comma-separated (1,4,39; add 35 for weak matches).",
    ),
];

const PLAN_FIELDS: &[(&str, &str)] = &[
    (
        "collect_small_builds",
        "Joins: read the smaller side once and share it when the other side is at least four times larger (events to cases), instead of repartitioning both; true or false.",
    ),
    (
        "sorted_aggregation",
        "Aggregates over rows sorted on their group keys (per case, from the case-sorted files): find groups where the keys change instead of hashing every key; true or false.",
    ),
    (
        "filter_null_counts",
        "Filters on IS NOT NULL: estimate the rows kept from the files' null counts (DataFusion assumes a fifth), so that a join builds its hash table on its smaller side (cases, not people); true or false.",
    ),
    (
        "repartition_once",
        "A DISTINCT or grouping whose rows are next grouped by some of its keys (entries by person, count(DISTINCT) per group): spread its rows across threads by those keys once, not twice; true or false.",
    ),
    (
        "sorted_distinct",
        "A DISTINCT whose rows are next sorted on all its columns (entries before a window function): sort first, then drop repeated neighbours, instead of a hash table; true or false.",
    ),
    (
        "small_key_aggregation",
        "The first (partial) phase of a grouping by one to four integers, dates, booleans or code texts (string views; identifiers stay DataFusion's) numbers each key column's values (a year or day by its place in the range seen, a text by its view) and finds each row's group in a table indexed by those numbers (a hash table once they are many), instead of DataFusion's column-by-column table; true or false.",
    ),
    (
        "small_domain_aggregation",
        "Groupings by yes/no answers (booleans, or booleans cast to integers, such as returns_within's): number each row's group from its keys by arithmetic, up to 8 keys, instead of hashing them; true or false.",
    ),
    (
        "key_sort",
        "Sorts on integers, dates, timestamps, booleans or text (entries by person and date before a window function): write each row's key once as bytes that compare in the key's order and sort those, instead of comparing column by column; keys longer than 96 bytes, and sorts that do not fit in memory, go to DataFusion's sort. Also lets a DISTINCT grouped next per person or case (repeat_entries) sort instead of hashing twice. True or false.",
    ),
    (
        "merge_join",
        "A join on keys both of its sides arrive sorted on, partition by partition (people or events to cases, whose files are written in case order), merges the two sorted streams instead of building a hash table of one side. Inner, left and right joins without a further join condition; true or false.",
    ),
    (
        "one_key_hash_join",
        "Hash joins on one integer, date or text key partitioned on it (inner, left, semi and anti, with or without a further condition: the linked views' joins of identifiers) probe fjq's own table, which asks for each probed row's slot, then the candidate's key, some rows ahead, instead of DataFusion's; true or false.",
    ),
    (
        "probe_filters",
        "fjq's hash joins (one_key_hash_join) pass the keys they have built, as a Bloom filter, to the scans of their other side, which drop rows whose keys cannot match before they are exchanged between threads and joined (people rows of persons never linked, in the linked views); a filter that passes most rows stops testing them. True or false.",
    ),
    (
        "day_shift",
        "A date plus or minus a literal interval of whole days and no months (d - INTERVAL '28 days', d + 28, the linked views' window) adds the days to the dates' day numbers, a whole column at a time, instead of turning each date into a calendar date and back; dates the calendar cannot hold are left to DataFusion. True or false.",
    ),
    (
        "implied_joins",
        "An inner join to a whole table on one of its columns (linked_people's join to people) is left out when nothing above reads the table's other columns, a join above keeps only rows whose key is among that column's values anyway (people p LEFT JOIN linked_people l ON l.person_id = p.person_id), and the aggregate above counts no repeats (count(DISTINCT ...), min, max). True or false.",
    ),
];

const RULE_FIELDS: &[(&str, &str)] = &[
    (
        "disclosure.threshold",
        "Fewest distinct persons a published cell may have.",
    ),
    (
        "disclosure.zeros_unsafe",
        "Whether a zero count is suppressed (group disclosure).",
    ),
    (
        "disclosure.nk_n",
        "N-K dominance: how many of the largest contributions are added up.",
    ),
    (
        "disclosure.nk_k",
        "N-K dominance: the largest share of the total they may make up.",
    ),
    (
        "disclosure.p_ratio",
        "p% rule: the least (total - x1 - x2) / x1 allowed.",
    ),
    (
        "disclosure.all_same",
        "Whether a min, max, median or mean fails when every contributor has the same value.",
    ),
    (
        "disclosure.negative",
        "Negative contributions to a sum or mean: 'refuse' or 'absolute'.",
    ),
    (
        "disclosure.min_dof",
        "Fewest residual degrees of freedom for a model output.",
    ),
    (
        "disclosure.rounding_base",
        "Published counts are rounded to this base, ties half up (1: no rounding).",
    ),
    (
        "disclosure.protection",
        "Least width of a suppressed cell's feasibility interval, as a share of its value.",
    ),
    (
        "disclosure.endpoints",
        "Aggregates that publish one contributor's value (min, max, first_value, last_value): 'refuse', or 'review' to release them for an output checker's review (open policy only).",
    ),
];

impl FjqOptions {
    /// A plan switch's value in a session's configuration: on where fjq's options are not
    /// registered (a plain DataFusion session).
    pub fn plan_switch(
        config: &datafusion::common::config::ConfigOptions,
        switch: impl FnOnce(&FjqOptions) -> bool,
    ) -> bool {
        config.extensions.get::<FjqOptions>().is_none_or(switch)
    }

    /// The plan switches (`PLAN_FIELDS`), by key.
    fn plan_flag_mut(&mut self, key: &str) -> Option<&mut bool> {
        match key {
            "collect_small_builds" => Some(&mut self.collect_small_builds),
            "sorted_aggregation" => Some(&mut self.sorted_aggregation),
            "filter_null_counts" => Some(&mut self.filter_null_counts),
            "repartition_once" => Some(&mut self.repartition_once),
            "sorted_distinct" => Some(&mut self.sorted_distinct),
            "small_key_aggregation" => Some(&mut self.small_key_aggregation),
            "small_domain_aggregation" => Some(&mut self.small_domain_aggregation),
            "key_sort" => Some(&mut self.key_sort),
            "merge_join" => Some(&mut self.merge_join),
            "one_key_hash_join" => Some(&mut self.one_key_hash_join),
            "probe_filters" => Some(&mut self.probe_filters),
            "day_shift" => Some(&mut self.day_shift),
            "implied_joins" => Some(&mut self.implied_joins),
            _ => None,
        }
    }

    fn plan_flag(&self, key: &str) -> bool {
        match key {
            "collect_small_builds" => self.collect_small_builds,
            "sorted_aggregation" => self.sorted_aggregation,
            "filter_null_counts" => self.filter_null_counts,
            "repartition_once" => self.repartition_once,
            "sorted_distinct" => self.sorted_distinct,
            "small_key_aggregation" => self.small_key_aggregation,
            "small_domain_aggregation" => self.small_domain_aggregation,
            "key_sort" => self.key_sort,
            "merge_join" => self.merge_join,
            "one_key_hash_join" => self.one_key_hash_join,
            "probe_filters" => self.probe_filters,
            "day_shift" => self.day_shift,
            "implied_joins" => self.implied_joins,
            _ => false,
        }
    }

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
        if key.starts_with("disclosure.") {
            return self.set_rule(key, value);
        }
        if key.starts_with("case_link_") {
            return self.set_link(key, value);
        }
        if let Some(flag) = self.plan_flag_mut(key) {
            *flag = match value.to_ascii_lowercase().as_str() {
                "true" | "on" => true,
                "false" | "off" => false,
                _ => return config_err!("fjq.{key} must be true or false, got {value:?}"),
            };
            return Ok(());
        }
        if self.field_mut(key).is_some() && fjq_contract::calendar::parse_iso(value).is_none() {
            return config_err!("fjq.{key} must be a date written YYYY-MM-DD, got {value:?}");
        }
        match self.field_mut(key) {
            Some(field) => {
                *field = value.to_string();
                Ok(())
            }
            None => unknown(key),
        }
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        let dates = FIELDS.iter().map(|(key, description)| ConfigEntry {
            key: format!("{}.{key}", Self::PREFIX),
            value: Some(self.field(key).to_string()),
            description,
        });
        let links = LINK_FIELDS.iter().map(|(key, description)| ConfigEntry {
            key: format!("{}.{key}", Self::PREFIX),
            value: Some(self.link(key)),
            description,
        });
        let plans = PLAN_FIELDS.iter().map(|(key, description)| ConfigEntry {
            key: format!("{}.{key}", Self::PREFIX),
            value: Some(self.plan_flag(key).to_string()),
            description,
        });
        let rules = RULE_FIELDS.iter().map(|(key, description)| ConfigEntry {
            key: format!("{}.{key}", Self::PREFIX),
            value: Some(self.rule(key)),
            description,
        });
        dates.chain(links).chain(plans).chain(rules).collect()
    }
}

fn unknown(key: &str) -> Result<()> {
    let known: Vec<String> = FIELDS
        .iter()
        .chain(LINK_FIELDS)
        .chain(PLAN_FIELDS)
        .chain(RULE_FIELDS)
        .map(|(k, _)| format!("fjq.{k}"))
        .collect();
    config_err!(
        "unknown setting fjq.{key}; the fjq settings are {}",
        known.join(", ")
    )
}

impl FjqOptions {
    fn link(&self, key: &str) -> String {
        match key {
            "case_link_window_days" => self.case_link_window_days.to_string(),
            _ => self
                .case_link_statuses
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    fn set_link(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "case_link_window_days" => match value.parse::<u32>() {
                Ok(days) if days <= 3660 => self.case_link_window_days = days,
                _ => {
                    return config_err!(
                        "fjq.{key} must be a whole number of days from 0 to 3660, got {value:?}"
                    );
                }
            },
            "case_link_statuses" => {
                let statuses: Option<Vec<i32>> = value
                    .split(',')
                    .map(|s| s.trim().parse::<i32>().ok())
                    .collect();
                match statuses {
                    Some(list) if !list.is_empty() => self.case_link_statuses = list,
                    _ => {
                        return config_err!(
                            "fjq.{key} must be match statuses separated by commas, such as 1,4,39, got {value:?}"
                        );
                    }
                }
            }
            _ => return unknown(key),
        }
        Ok(())
    }

    fn rule(&self, key: &str) -> String {
        let r = &self.disclosure;
        match key {
            "disclosure.threshold" => r.threshold.to_string(),
            "disclosure.zeros_unsafe" => r.zeros_unsafe.to_string(),
            "disclosure.nk_n" => r.nk_n.to_string(),
            "disclosure.nk_k" => r.nk_k.to_string(),
            "disclosure.p_ratio" => r.p_ratio.to_string(),
            "disclosure.all_same" => r.all_same.to_string(),
            "disclosure.negative" => match r.negative {
                NegativeValues::Refuse => "refuse".into(),
                NegativeValues::Absolute => "absolute".into(),
            },
            "disclosure.min_dof" => r.min_dof.to_string(),
            "disclosure.rounding_base" => r.rounding_base.to_string(),
            "disclosure.endpoints" => match r.endpoints {
                Endpoints::Refuse => "refuse".into(),
                Endpoints::Review => "review".into(),
            },
            _ => r.protection.to_string(),
        }
    }

    fn set_rule(&mut self, key: &str, value: &str) -> Result<()> {
        fn whole(key: &str, value: &str, least: u64) -> Result<u64> {
            match value.parse::<u64>() {
                Ok(v) if v >= least => Ok(v),
                _ => config_err!(
                    "fjq.{key} must be a whole number of at least {least}, got {value:?}"
                ),
            }
        }
        fn share(key: &str, value: &str) -> Result<f64> {
            match value.parse::<f64>() {
                Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
                _ => config_err!("fjq.{key} must be a number from 0 to 1, got {value:?}"),
            }
        }
        fn flag(key: &str, value: &str) -> Result<bool> {
            match value.to_ascii_lowercase().as_str() {
                "true" | "on" => Ok(true),
                "false" | "off" => Ok(false),
                _ => config_err!("fjq.{key} must be true or false, got {value:?}"),
            }
        }
        let r = &mut self.disclosure;
        match key {
            "disclosure.threshold" => r.threshold = whole(key, value, 1)?,
            "disclosure.zeros_unsafe" => r.zeros_unsafe = flag(key, value)?,
            "disclosure.nk_n" => r.nk_n = whole(key, value, 1)? as usize,
            "disclosure.nk_k" => r.nk_k = share(key, value)?,
            "disclosure.p_ratio" => {
                r.p_ratio = match value.parse::<f64>() {
                    Ok(v) if v >= 0.0 && v.is_finite() => v,
                    _ => {
                        return config_err!(
                            "fjq.{key} must be a number of at least 0, got {value:?}"
                        );
                    }
                }
            }
            "disclosure.all_same" => r.all_same = flag(key, value)?,
            "disclosure.negative" => {
                r.negative = match value {
                    "refuse" => NegativeValues::Refuse,
                    "absolute" => NegativeValues::Absolute,
                    _ => {
                        return config_err!(
                            "fjq.{key} must be 'refuse' or 'absolute', got {value:?}"
                        );
                    }
                }
            }
            "disclosure.min_dof" => r.min_dof = whole(key, value, 0)?,
            "disclosure.rounding_base" => r.rounding_base = whole(key, value, 1)?,
            "disclosure.protection" => r.protection = share(key, value)?,
            "disclosure.endpoints" => {
                r.endpoints = match value {
                    "refuse" => Endpoints::Refuse,
                    "review" => Endpoints::Review,
                    _ => {
                        return config_err!(
                            "fjq.{key} must be 'refuse' or 'review', got {value:?}"
                        );
                    }
                }
            }
            _ => return unknown(key),
        }
        Ok(())
    }
}

/// The session's disclosure rules.
pub fn rules_from(config: &datafusion::common::config::ConfigOptions) -> Rules {
    config
        .extensions
        .get::<FjqOptions>()
        .map(|o| o.disclosure.clone())
        .unwrap_or_default()
}

impl ConfigExtension for FjqOptions {
    const PREFIX: &'static str = "fjq";
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn disclosure_rules_are_settings() {
        let mut o = FjqOptions::default();
        o.set("disclosure.threshold", "5").unwrap();
        o.set("disclosure.nk_k", "0.8").unwrap();
        o.set("disclosure.negative", "'absolute'").unwrap();
        assert_eq!(o.disclosure.threshold, 5);
        assert_eq!(o.disclosure.nk_k, 0.8);
        assert_eq!(o.disclosure.negative, NegativeValues::Absolute);
        for (key, bad, says) in [
            ("disclosure.threshold", "0", "at least 1"),
            ("disclosure.nk_k", "1.5", "from 0 to 1"),
            ("disclosure.negative", "ignore", "'refuse' or 'absolute'"),
            ("disclosure.nonsense", "1", "unknown setting"),
        ] {
            let e = o.set(key, bad).unwrap_err().to_string();
            assert!(e.contains(says), "{key}: {e}");
        }
        let entries = o.entries();
        let threshold = entries
            .iter()
            .find(|e| e.key == "fjq.disclosure.threshold")
            .unwrap();
        assert_eq!(threshold.value.as_deref(), Some("5"));
    }
}
