//! `prior_entries(start_date [, lookback_days])`.

use crate::args::{Kind, Params};
use crate::entries::{EntryFunction, EntryKind};
use datafusion::logical_expr::Documentation;
use datafusion_macros::user_doc;

pub static PARAMS: Params = Params {
    function: "prior_entries",
    params: &[("start_date", Kind::Date), ("lookback_days", Kind::Integer)],
    required: 1,
};

#[user_doc(
    doc_section(label = "fjq repeat entries"),
    description = "Window function (PARTITION BY person ORDER BY start_date): the number of distinct entries strictly before this one, optionally only those starting within lookback_days before it. Counts near the coverage start may be too low: see left_truncated.",
    syntax_example = "prior_entries(start_date [, lookback_days])",
    sql_example = r#"```sql
> SELECT person_id, start_date, prior_entries(start_date, 1095) OVER (PARTITION BY person_id ORDER BY start_date) AS priors_3y FROM (SELECT DISTINCT p.person_id, c.start_date FROM people p JOIN cases c USING (case_id) WHERE p.relationship_to_child = 'mother');
```"#,
    argument(
        name = "start_date",
        description = "The entry's start date (cases.start_date)."
    ),
    argument(
        name = "lookback_days",
        description = "Optional: count only entries starting at most this many days earlier."
    )
)]
#[derive(Debug, Default, PartialEq, Eq, Hash)]
pub struct PriorEntries;

impl EntryFunction for PriorEntries {
    fn params(&self) -> &'static Params {
        &PARAMS
    }

    fn kind(&self) -> EntryKind {
        EntryKind::Prior
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
