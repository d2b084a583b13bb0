//! `left_truncated(start_date, lookback_days [, coverage_start])`: does the lookback reach before the coverage?

use crate::args::{Coverage, Kind, Params};
use crate::entries::{EntryFunction, EntryKind};
use datafusion::logical_expr::Documentation;
use datafusion_macros::user_doc;

pub static PARAMS: Params = Params {
    function: "left_truncated",
    params: &[
        ("start_date", Kind::Date),
        ("lookback_days", Kind::Integer),
        ("coverage_start", Kind::Date),
    ],
    required: 2,
};

#[user_doc(
    doc_section(label = "fjq repeat entries"),
    description = "Window function (PARTITION BY person ORDER BY start_date): TRUE when the lookback window (start_date - lookback_days) reaches before the coverage start, so prior_entries and similar counts may be too low. coverage_start defaults to the setting fjq.court_coverage_start.",
    syntax_example = "left_truncated(start_date, lookback_days [, coverage_start])",
    sql_example = r#"```sql
> SELECT prior_entries(start_date, 1095) OVER w AS priors_3y, left_truncated(start_date, 1095) OVER w AS truncated
  FROM (SELECT DISTINCT p.person_id, c.start_date FROM people p JOIN cases c USING (case_id) WHERE p.relationship_to_child = 'mother') WINDOW w AS (PARTITION BY person_id ORDER BY start_date);
```"#,
    argument(name = "start_date", description = "The entry's start date."),
    argument(
        name = "lookback_days",
        description = "How far back the count looks, in days."
    ),
    argument(
        name = "coverage_start",
        description = "Optional: the first date observed; defaults to fjq.court_coverage_start."
    )
)]
#[derive(Debug, Default, PartialEq, Eq, Hash)]
pub struct LeftTruncated;

impl EntryFunction for LeftTruncated {
    fn params(&self) -> &'static Params {
        &PARAMS
    }

    fn kind(&self) -> EntryKind {
        EntryKind::LeftTruncated
    }

    fn coverage(&self) -> Option<Coverage> {
        Some(Coverage::CourtStart)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
