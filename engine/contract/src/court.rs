//! The family court tables (FamilyMan): cases, the links between them, their events, the people
//! in them, and the de-duplicated persons.

use crate::schema::ColumnType::*;
use crate::schema::{TableSpec, col, fk};

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
    primary_key: &["case_id"],
    foreign_keys: &[],
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
    primary_key: &["case_id", "related_case_id"],
    foreign_keys: &[
        fk(&["case_id"], "cases", &["case_id"]),
        fk(&["related_case_id"], "cases", &["case_id"]),
    ],
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
    primary_key: &["event_id"],
    foreign_keys: &[fk(&["case_id"], "cases", &["case_id"])],
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
    primary_key: &["role_id"],
    foreign_keys: &[
        fk(&["case_id"], "cases", &["case_id"]),
        fk(&["person_id"], "persons", &["person_id"]),
    ],
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
    primary_key: &["person_id"],
    foreign_keys: &[],
};
