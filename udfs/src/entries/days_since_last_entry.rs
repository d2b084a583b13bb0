//! `days_since_last_entry(start_date)`.

use crate::args::{Kind, Params};
use crate::entries::{EntryFunction, EntryKind};
use datafusion::logical_expr::Documentation;
use datafusion_macros::user_doc;

pub static PARAMS: Params = Params {
    function: "days_since_last_entry",
    params: &[("start_date", Kind::Date)],
    required: 1,
};

#[user_doc(
    doc_section(label = "fjq repeat entries"),
    description = "Window function (PARTITION BY person ORDER BY start_date): days since the previous distinct entry (start to start); NULL for the first entry.",
    syntax_example = "days_since_last_entry(start_date)",
    sql_example = r#"```sql
> SELECT person_id, start_date, days_since_last_entry(start_date) OVER (PARTITION BY person_id ORDER BY start_date) AS gap_days FROM (SELECT DISTINCT p.person_id, c.start_date FROM people p JOIN cases c USING (case_id) WHERE p.relationship_to_child = 'mother');
```"#,
    argument(
        name = "start_date",
        description = "The entry's start date (cases.start_date)."
    )
)]
#[derive(Debug, Default, PartialEq, Eq, Hash)]
pub struct DaysSinceLastEntry;

impl EntryFunction for DaysSinceLastEntry {
    fn params(&self) -> &'static Params {
        &PARAMS
    }

    fn kind(&self) -> EntryKind {
        EntryKind::DaysSinceLast
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
