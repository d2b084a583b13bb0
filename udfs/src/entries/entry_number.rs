//! `entry_number(start_date)`.

use crate::args::{Kind, Params};
use crate::entries::{EntryFunction, EntryKind};
use datafusion::logical_expr::Documentation;
use datafusion_macros::user_doc;

pub static PARAMS: Params = Params {
    function: "entry_number",
    params: &[("start_date", Kind::Date)],
    required: 1,
};

#[user_doc(
    doc_section(label = "fjq repeat entries"),
    description = "Window function (PARTITION BY person ORDER BY start_date): the number of this entry, 1, 2, 3, ...; entries on the same start date share a number. NULL start dates give NULL.",
    syntax_example = "entry_number(start_date)",
    sql_example = r#"```sql
> SELECT person_id, start_date, entry_number(start_date) OVER (PARTITION BY person_id ORDER BY start_date) AS entry FROM (SELECT DISTINCT p.person_id, c.start_date FROM people p JOIN cases c USING (case_id) WHERE p.relationship_to_child = 'mother') LIMIT 5;
```"#,
    argument(
        name = "start_date",
        description = "The entry's start date (cases.start_date)."
    )
)]
#[derive(Debug, Default, PartialEq, Eq, Hash)]
pub struct EntryNumber;

impl EntryFunction for EntryNumber {
    fn params(&self) -> &'static Params {
        &PARAMS
    }

    fn kind(&self) -> EntryKind {
        EntryKind::Number
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
