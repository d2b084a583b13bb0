//! The linkage spine between family court persons and Cafcass persons.

use crate::schema::ColumnType::*;
use crate::schema::{TableSpec, col};

pub const LINKAGE: TableSpec = TableSpec {
    name: "linkage",
    description: "Person linkage spine between the family court and Cafcass, one row per source person record.",
    columns: &[
        col("dataset", Utf8, false, "family_court or cafcass."),
        col(
            "source_person_id",
            Utf8,
            false,
            "persons.person_id or cafcass_people.cafcass_person_id.",
        ),
        col(
            "link_id",
            Int64,
            true,
            "Shared anonymised linking field; equal values are the same person. NULL = not linked.",
        ),
        col(
            "match_status",
            Int32,
            false,
            "1, 4, 39 = accepted match; 35 = weak match; 99 = unmatched.",
        ),
        col(
            "match_probability",
            Float64,
            false,
            "Probability of the match (0 for unmatched).",
        ),
    ],
    sort_order: &["dataset", "source_person_id"],
    person_columns: &["source_person_id", "link_id"],
    primary_key: &["dataset", "source_person_id"],
    foreign_keys: &[],
};
