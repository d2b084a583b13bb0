//! `returns_within(start_date, days [, coverage_end])`: did a new entry follow within `days`?

use crate::args::{Coverage, Kind, Params};
use crate::entries::{EntryFunction, EntryKind};
use datafusion::logical_expr::Documentation;
use datafusion_macros::user_doc;

pub static PARAMS: Params = Params {
    function: "returns_within",
    params: &[
        ("start_date", Kind::Date),
        ("days", Kind::Integer),
        ("coverage_end", Kind::Date),
    ],
    required: 2,
};

#[user_doc(
    doc_section(label = "fjq repeat entries"),
    description = "Window function (PARTITION BY person ORDER BY start_date): TRUE if a later distinct entry starts within days of this one (0 < gap <= days); FALSE if none does and the whole follow-up window lies inside the coverage; NULL when the follow-up is censored (start_date + days after the coverage end and no return seen). coverage_end defaults to the setting fjq.court_coverage_end. Say how censored (NULL) rows were treated when you report a rate.",
    syntax_example = "returns_within(start_date, days [, coverage_end])",
    sql_example = r#"```sql
> SELECT avg(CASE WHEN back THEN 1.0 ELSE 0.0 END) AS share_back_within_2y, count(back) AS followed, count(*) AS entries
  FROM (SELECT returns_within(start_date, 730) OVER (PARTITION BY person_id ORDER BY start_date) AS back
        FROM (SELECT DISTINCT p.person_id, c.start_date FROM people p JOIN cases c USING (case_id) WHERE p.relationship_to_child = 'mother')) WHERE back IS NOT NULL;
```"#,
    argument(name = "start_date", description = "The entry's start date."),
    argument(
        name = "days",
        description = "Follow-up window in days, e.g. 730 for two years."
    ),
    argument(
        name = "coverage_end",
        description = "Optional: the last date observed; defaults to fjq.court_coverage_end."
    )
)]
#[derive(Debug, Default, PartialEq, Eq, Hash)]
pub struct ReturnsWithin;

impl EntryFunction for ReturnsWithin {
    fn params(&self) -> &'static Params {
        &PARAMS
    }

    fn kind(&self) -> EntryKind {
        EntryKind::ReturnsWithin
    }

    fn coverage(&self) -> Option<Coverage> {
        Some(Coverage::CourtEnd)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
