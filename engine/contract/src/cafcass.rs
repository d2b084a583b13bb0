//! The Cafcass tables: cases, the people on them, and the work Cafcass did.

use crate::schema::ColumnType::*;
use crate::schema::{TableSpec, col, fk};

pub const CAFCASS_CASES: TableSpec = TableSpec {
    name: "cafcass_cases",
    description: "Cafcass and Cafcass Cymru cases received 2007-04-01 to 2021-12-01, one row per case.",
    columns: &[
        col("cafcass_case_id", Utf8, false, "Cafcass case identifier."),
        col("nation", Utf8, false, "England or Wales."),
        col(
            "source_system",
            Utf8,
            false,
            "CMS (England, received before 2014), ECMS (England, from 2014) or CYMRU (Wales).",
        ),
        col("law_type", Utf8, false, "public or private."),
        col(
            "application_type",
            Utf8,
            false,
            "Main application, e.g. Care (s31), Child Arrangements Order (s8), Enforcement (s11J).",
        ),
        col(
            "court_form",
            Utf8,
            false,
            "Court form of the application: C100, C110A, C1, C2, ...",
        ),
        col(
            "local_authority",
            Utf8,
            true,
            "Local authority bringing a public law case (ONS code); NULL for private law.",
        ),
        col("dfj_area", Utf8, false, "Designated Family Judge area."),
        col(
            "received_date",
            Date32,
            false,
            "Date Cafcass received the case.",
        ),
        col(
            "closed_date",
            Date32,
            true,
            "Date Cafcass closed the case; NULL if open at extract (2021-12-01).",
        ),
        col(
            "final_legal_outcome",
            Utf8,
            true,
            "Public law outcome hierarchy: PO, CO/SAO, RO/SGO/CAO, FAO/SO, Discharge/ONO, Not reported; NULL for private law and open cases.",
        ),
        col(
            "harm_alleged",
            Boolean,
            false,
            "Harm (abuse, domestic abuse, neglect) was alleged.",
        ),
        col(
            "n_applications",
            Int32,
            false,
            "Number of applications on the case.",
        ),
    ],
    sort_order: &["cafcass_case_id"],
    person_columns: &[],
    primary_key: &["cafcass_case_id"],
    foreign_keys: &[],
};

pub const CAFCASS_PEOPLE: TableSpec = TableSpec {
    name: "cafcass_people",
    description: "People on Cafcass cases, one row per person per case.",
    columns: &[
        col(
            "cafcass_person_id",
            Utf8,
            false,
            "Cafcass person identifier (persistent across a person's cases, with Cafcass's own duplicate records).",
        ),
        col("cafcass_case_id", Utf8, false, "The Cafcass case."),
        col(
            "role",
            Utf8,
            false,
            "subject (a child the case is about), applicant, respondent or other.",
        ),
        col("adult_or_child", Utf8, false, "adult or child."),
        col("gender", Utf8, false, "male, female or unknown."),
        col(
            "week_of_birth",
            Date32,
            true,
            "Monday of the week of birth.",
        ),
        col(
            "age_at_application",
            Int32,
            true,
            "Age in whole years when the case was received.",
        ),
        col(
            "ethnicity",
            Utf8,
            true,
            "White, Mixed, Asian, Black or Other; NULL if not recorded.",
        ),
        col(
            "disability",
            Boolean,
            true,
            "A disability was recorded; NULL if not asked.",
        ),
        col(
            "imd_quintile",
            Int32,
            true,
            "Index of Multiple Deprivation quintile, 1 = most deprived.",
        ),
    ],
    sort_order: &["cafcass_case_id", "cafcass_person_id"],
    person_columns: &["cafcass_person_id"],
    primary_key: &["cafcass_case_id", "cafcass_person_id"],
    foreign_keys: &[fk(
        &["cafcass_case_id"],
        "cafcass_cases",
        &["cafcass_case_id"],
    )],
};

pub const CAFCASS_WORK: TableSpec = TableSpec {
    name: "cafcass_work",
    description: "Cafcass work records: what Cafcass did on a case, one row per piece of work.",
    columns: &[
        col("work_id", Utf8, false, "Identifier of the work record."),
        col("cafcass_case_id", Utf8, false, "The Cafcass case."),
        col(
            "cafcass_person_id",
            Utf8,
            true,
            "The subject child, where the work is per child.",
        ),
        col(
            "work_type",
            Utf8,
            false,
            "safeguarding_letter (work to first hearing), fhdra_attendance, s7_report, rule_16_4_guardian, childrens_guardian_s41, enforcement or further_work.",
        ),
        col(
            "legal_output",
            Utf8,
            true,
            "The document or output filed, where one was.",
        ),
        col("start_date", Date32, false, "Start of the work."),
        col(
            "end_date",
            Date32,
            true,
            "End of the work; NULL if still open at extract.",
        ),
    ],
    sort_order: &["cafcass_case_id", "start_date", "work_id"],
    person_columns: &["cafcass_person_id"],
    primary_key: &["work_id"],
    foreign_keys: &[
        fk(&["cafcass_case_id"], "cafcass_cases", &["cafcass_case_id"]),
        fk(
            &["cafcass_case_id", "cafcass_person_id"],
            "cafcass_people",
            &["cafcass_case_id", "cafcass_person_id"],
        ),
    ],
};
