//! Ground-truth tables the generator writes under `_truth/`: never registered by default, read
//! by the tests that check the functions and the linkage against what really happened.

use crate::schema::ColumnType::*;
use crate::schema::{TableSpec, col};

pub const PEOPLE_TRUTH: TableSpec = TableSpec {
    name: "people_truth",
    description: "The true person behind every people row.",
    columns: &[
        col("role_id", Utf8, false, "people.role_id."),
        col(
            "true_person_id",
            Utf8,
            true,
            "The true person; NULL for local authorities.",
        ),
    ],
    sort_order: &["role_id"],
    person_columns: &["true_person_id"],
    primary_key: &[],
    foreign_keys: &[],
};

pub const CAFCASS_PEOPLE_TRUTH: TableSpec = TableSpec {
    name: "cafcass_people_truth",
    description: "The true person behind every cafcass_people row.",
    columns: &[
        col(
            "cafcass_person_id",
            Utf8,
            false,
            "cafcass_people.cafcass_person_id.",
        ),
        col(
            "cafcass_case_id",
            Utf8,
            false,
            "cafcass_people.cafcass_case_id.",
        ),
        col("true_person_id", Utf8, false, "The true person."),
    ],
    sort_order: &["cafcass_case_id", "cafcass_person_id"],
    person_columns: &["true_person_id"],
    primary_key: &[],
    foreign_keys: &[],
};

pub const ENTRIES: TableSpec = TableSpec {
    name: "entries",
    description: "Every simulated family court case of every true person, observed in the data or not (before 2011, or after the extract).",
    columns: &[
        col("true_person_id", Utf8, false, "The true person."),
        col(
            "case_id",
            Utf8,
            false,
            "The case (cases.case_id when observed).",
        ),
        col("case_type", Utf8, false, "Case type."),
        col(
            "role",
            Utf8,
            false,
            "applicant, respondent, child or other.",
        ),
        col(
            "relationship_to_child",
            Utf8,
            true,
            "mother, father, ... as in people.",
        ),
        col("start_date", Date32, false, "True issue date."),
        col(
            "end_date",
            Date32,
            true,
            "True date of the disposal that ended the case (may lie after the extract).",
        ),
        col(
            "observed",
            Boolean,
            false,
            "The case is in the family court tables (issued inside the coverage window).",
        ),
    ],
    sort_order: &["true_person_id", "start_date", "case_id"],
    person_columns: &["true_person_id"],
    primary_key: &[],
    foreign_keys: &[],
};

pub const PERSONS_TRUTH: TableSpec = TableSpec {
    name: "persons_truth",
    description: "Every simulated true person.",
    columns: &[
        col("true_person_id", Utf8, false, "The true person."),
        col("sex", Utf8, false, "male or female."),
        col("birth_date", Date32, false, "True date of birth."),
        col("region", Utf8, false, "Region of residence."),
    ],
    sort_order: &["true_person_id"],
    person_columns: &["true_person_id"],
    primary_key: &[],
    foreign_keys: &[],
};

pub const CASE_LINKS_TRUTH: TableSpec = TableSpec {
    name: "case_links",
    description: "The Cafcass case about each family court case: the same simulated case seen by both systems (Children Act cases inside both coverage windows).",
    columns: &[
        col(
            "cafcass_case_id",
            Utf8,
            false,
            "cafcass_cases.cafcass_case_id.",
        ),
        col("case_id", Utf8, false, "cases.case_id."),
        col("nation", Utf8, false, "England or Wales."),
    ],
    sort_order: &["cafcass_case_id"],
    person_columns: &[],
    primary_key: &[],
    foreign_keys: &[],
};

pub const TABLES: &[&TableSpec] = &[
    &PEOPLE_TRUTH,
    &CAFCASS_PEOPLE_TRUTH,
    &CASE_LINKS_TRUTH,
    &ENTRIES,
    &PERSONS_TRUTH,
];
