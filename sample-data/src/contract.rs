//! The data contract of design/DATA.md as data: every table, its columns with Arrow types and
//! descriptions, and the order its files are sorted in.
//!
//! The generator writes exactly these schemas and the engine validates a data directory against
//! them, so the two can never drift apart. Descriptions are the words a researcher sees in `\d`
//! and `information_schema`; they say what a value means, including the codes.

use arrow::datatypes::{DataType, Field, Schema};
use std::collections::HashMap;
use std::sync::Arc;

/// One column of the contract.
#[derive(Debug, Clone, Copy)]
pub struct ColumnSpec {
    pub name: &'static str,
    pub data_type: ColumnType,
    pub nullable: bool,
    pub description: &'static str,
}

/// The types the contract uses. Kept small on purpose: a real extract must match these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Utf8,
    Date32,
    Int32,
    Int64,
    Float64,
    Boolean,
}

impl ColumnType {
    pub fn arrow(self) -> DataType {
        match self {
            ColumnType::Utf8 => DataType::Utf8,
            ColumnType::Date32 => DataType::Date32,
            ColumnType::Int32 => DataType::Int32,
            ColumnType::Int64 => DataType::Int64,
            ColumnType::Float64 => DataType::Float64,
            ColumnType::Boolean => DataType::Boolean,
        }
    }

    /// Whether a type found in a file can stand for this contract type. Strings may arrive as
    /// any of Arrow's string encodings (a real extract written by pyarrow or Spark may use large
    /// or dictionary strings); every other type must match exactly.
    pub fn accepts(self, found: &DataType) -> bool {
        match (self, found) {
            (ColumnType::Utf8, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => true,
            (ColumnType::Utf8, DataType::Dictionary(_, value)) => {
                matches!(
                    value.as_ref(),
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                )
            }
            (want, found) => &want.arrow() == found,
        }
    }
}

/// One table of the contract.
#[derive(Debug)]
pub struct TableSpec {
    pub name: &'static str,
    pub description: &'static str,
    pub columns: &'static [ColumnSpec],
    /// The columns the files are sorted by, in order (declared to DataFusion so it can skip sorts).
    pub sort_order: &'static [&'static str],
    /// Columns that identify a person (used to count distinct persons per cell).
    pub person_columns: &'static [&'static str],
}

impl TableSpec {
    /// The Arrow schema of the table, each field carrying its description as metadata.
    pub fn schema(&self) -> Arc<Schema> {
        let fields: Vec<Field> = self
            .columns
            .iter()
            .map(|c| {
                Field::new(c.name, c.data_type.arrow(), c.nullable).with_metadata(HashMap::from([
                    ("description".to_string(), c.description.to_string()),
                ]))
            })
            .collect();
        Arc::new(Schema::new(fields).with_metadata(HashMap::from([(
            "description".to_string(),
            self.description.to_string(),
        )])))
    }

    pub fn column(&self, name: &str) -> Option<&ColumnSpec> {
        self.columns.iter().find(|c| c.name == name)
    }
}

const fn col(
    name: &'static str,
    data_type: ColumnType,
    nullable: bool,
    description: &'static str,
) -> ColumnSpec {
    ColumnSpec {
        name,
        data_type,
        nullable,
        description,
    }
}

use ColumnType::*;

pub const CASES: TableSpec = TableSpec {
    name: "cases",
    description: "Family court (FamilyMan) cases issued 2011-01-01 to 2021-01-31, one row per case.",
    columns: &[
        col(
            "case_id",
            Utf8,
            false,
            "Hashed FamilyMan case number; key of the case.",
        ),
        col(
            "case_type",
            Utf8,
            false,
            "public_law, private_law, adoption, matrimonial, financial_remedy, domestic_violence or forced_marriage.",
        ),
        col(
            "court",
            Utf8,
            false,
            "Two-letter FamilyMan code of the court that issued the case.",
        ),
        col(
            "dfj_area",
            Utf8,
            false,
            "Designated Family Judge area of the issuing court.",
        ),
        col(
            "region",
            Utf8,
            false,
            "Region of the issuing court (nine English regions and Wales).",
        ),
        col(
            "start_date",
            Date32,
            false,
            "Issue date of the case (first application).",
        ),
        col(
            "first_hearing_date",
            Date32,
            true,
            "Date of the first hearing; NULL if none had been held at extract.",
        ),
        col(
            "first_disposal_date",
            Date32,
            true,
            "Date of the first substantive disposal (final order, withdrawal, refusal or no order); the FCSQ timeliness end point. NULL if none at extract.",
        ),
        col(
            "final_order_date",
            Date32,
            true,
            "Date of the last disposal that ended the case; NULL = still open at extract (2021-01-31).",
        ),
        col(
            "closed_date",
            Date32,
            true,
            "Date the case was closed administratively (event U24); NULL if not closed at extract.",
        ),
        col(
            "reopened",
            Boolean,
            false,
            "The case was reopened after closure (event G62).",
        ),
        col(
            "high_court",
            Boolean,
            false,
            "The case was heard in the High Court.",
        ),
        col(
            "n_children",
            Int32,
            false,
            "Number of children named on the case.",
        ),
        col(
            "legal_representation",
            Utf8,
            false,
            "Who had a legal representative recorded: both, applicant_only, respondent_only or neither.",
        ),
        col(
            "application_type",
            Utf8,
            true,
            "Type of application where the case type has one: sole/joint for matrimonial, contested/consent for financial remedy, non_molestation/occupation for domestic violence, care/supervision/emergency_protection for public law.",
        ),
        col(
            "marriage_year",
            Int32,
            true,
            "Year of the marriage (matrimonial and financial remedy cases).",
        ),
    ],
    sort_order: &["case_id"],
    person_columns: &[],
};

pub const CASE_LINKS: TableSpec = TableSpec {
    name: "case_links",
    description: "Related family court cases, one row per link.",
    columns: &[
        col("case_id", Utf8, false, "The case the link starts from."),
        col("related_case_id", Utf8, false, "The related case."),
        col(
            "link_type",
            Utf8,
            false,
            "same_children, cross_application, transfer or reopened_as_new.",
        ),
        col("link_date", Date32, false, "Date the link was recorded."),
    ],
    sort_order: &["case_id", "related_case_id"],
    person_columns: &[],
};

pub const EVENTS: TableSpec = TableSpec {
    name: "events",
    description: "FamilyMan events (applications, hearings, orders, administrative steps), one row per event.",
    columns: &[
        col("event_id", Utf8, false, "Identifier of the event."),
        col("case_id", Utf8, false, "The case the event belongs to."),
        col(
            "event_code",
            Utf8,
            false,
            "FamilyMan form code: U22 first application, G50 later application, U21 adoption issued, C6/G61 hearing, U24 closed, G62 reopened, G63 withdrawn, ORDNOM no order, ORDREF refused, C23 EPO, C32A care order, C32B discharge, C33 interim care, C35A supervision, C35B interim supervision, C43 child arrangements/PSO/SIO, C43A special guardianship, C45A parental responsibility, A70 placement, A76 adoption, FL404 non-molestation/occupation, FL406 power of arrest, D84 decree nisi, D36 decree absolute, D81 consent order, FMPO forced marriage protection order.",
        ),
        col(
            "event_category",
            Utf8,
            false,
            "application, hearing, order, disposal_other or administrative.",
        ),
        col("event_date", Date32, false, "Date of the event."),
        col("court", Utf8, false, "Court where the event took place."),
        col("order_type", Utf8, true, "Kind of order, for order events."),
        col(
            "is_final",
            Boolean,
            false,
            "The event is a final order or final disposal.",
        ),
        col(
            "disposal_type",
            Utf8,
            true,
            "order_made, interim_order, withdrawn, refused or no_order, for disposals.",
        ),
        col(
            "hearing_type",
            Utf8,
            true,
            "FHDRA, CMH, FCMH, IRH, DRA, fact_finding, final_hearing or directions, for hearings.",
        ),
        col(
            "vacated",
            Boolean,
            false,
            "The hearing was listed but vacated.",
        ),
        col(
            "error",
            Boolean,
            false,
            "FamilyMan keying error; analyses exclude these rows.",
        ),
    ],
    sort_order: &["case_id", "event_date", "event_id"],
    person_columns: &[],
};

pub const PEOPLE: TableSpec = TableSpec {
    name: "people",
    description: "Parties to family court cases, one row per person per role in a case.",
    columns: &[
        col("role_id", Utf8, false, "Identifier of the role row."),
        col("case_id", Utf8, false, "The case."),
        col(
            "person_id",
            Utf8,
            true,
            "De-duplicated person identifier (a Splink cluster, see persons); NULL for local authorities and organisations.",
        ),
        col(
            "role",
            Utf8,
            false,
            "applicant, respondent, child or other.",
        ),
        col(
            "role_code",
            Utf8,
            false,
            "FamilyMan role code: APL/RSP/CHLD/OTH followed by C (Children Act), A (adoption) or Z (other proceedings).",
        ),
        col(
            "party_type",
            Utf8,
            false,
            "person, local_authority or organisation.",
        ),
        col("sex", Utf8, false, "male, female or unknown."),
        col(
            "birth_year",
            Int32,
            true,
            "Year of birth; NULL if not recorded.",
        ),
        col(
            "age_at_start",
            Int32,
            true,
            "Age in whole years at the case start date.",
        ),
        col(
            "age_band",
            Utf8,
            false,
            "<1, 1-4, 5-9, 10-14, 15-17, 18+ or unknown.",
        ),
        col(
            "relationship_to_child",
            Utf8,
            true,
            "mother, father, grandparent, other_relative, local_authority or other; NULL for children and where no child is involved.",
        ),
        col(
            "represented",
            Boolean,
            false,
            "A legal representative was recorded for this party.",
        ),
        col(
            "residence_la",
            Utf8,
            true,
            "ONS code of the local authority of residence (synthetic codes of the real form).",
        ),
        col("residence_region", Utf8, true, "Region of residence."),
        col(
            "imd_quintile",
            Int32,
            true,
            "Index of Multiple Deprivation quintile of residence, 1 = most deprived.",
        ),
    ],
    sort_order: &["case_id", "role_id"],
    person_columns: &["person_id"],
};

pub const PERSONS: TableSpec = TableSpec {
    name: "persons",
    description: "De-duplicated family court persons (Splink clusters), one row per person_id.",
    columns: &[
        col("person_id", Utf8, false, "De-duplicated person identifier."),
        col("sex", Utf8, false, "male, female or unknown."),
        col(
            "birth_year",
            Int32,
            true,
            "Year of birth; NULL if not recorded.",
        ),
        col(
            "first_seen",
            Date32,
            false,
            "Start date of the person's first case in the data.",
        ),
        col(
            "n_cases",
            Int32,
            false,
            "Number of distinct cases the person appears in.",
        ),
        col(
            "xjs_id",
            Utf8,
            true,
            "Cross-justice-system identifier, where one was assigned.",
        ),
        col(
            "match_probability",
            Float64,
            false,
            "Weakest pairwise match probability within the cluster (1.0 for a single record); use it to test sensitivity to linkage quality.",
        ),
    ],
    sort_order: &["person_id"],
    person_columns: &["person_id"],
};

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
};

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
};

/// Every table of the contract, in the order the catalogue lists them.
pub const TABLES: &[&TableSpec] = &[
    &CASES,
    &CASE_LINKS,
    &EVENTS,
    &PEOPLE,
    &PERSONS,
    &CAFCASS_CASES,
    &CAFCASS_PEOPLE,
    &CAFCASS_WORK,
    &LINKAGE,
];

pub fn table(name: &str) -> Option<&'static TableSpec> {
    TABLES.iter().copied().find(|t| t.name == name)
}

/// Ground-truth tables written under `_truth/`: never registered by default.
pub mod truth {
    use super::*;

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
    };

    pub const TABLES: &[&TableSpec] = &[
        &PEOPLE_TRUTH,
        &CAFCASS_PEOPLE_TRUTH,
        &ENTRIES,
        &PERSONS_TRUTH,
    ];
}
