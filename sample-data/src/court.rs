//! The family court tables: what FamilyMan recorded of the simulated cases issued inside its
//! coverage window (`cases`, `events`, `people`, `case_links`) and the truth behind `people`.
//!
//! Cases are written in `case_id` order, split into parts that are written in parallel; each
//! part writes the same case range of every table, so each file is sorted by its table's keys.

use crate::events::{self, Event};
use crate::geography::{self, AREAS};
use crate::identity::Identities;
use crate::parquet_out::{TableFile, WriteError, hex_id};
use crate::rng::Rng;
use crate::simulate::{CaseType, NONE, Relationship, Role, Sex, SimCase, World, id_key, id_kind};
use fjq_contract::calendar::{age_on, year_of};
use fjq_contract::dataset::COURT_TO;
use fjq_contract::{self as contract, truth};
use std::path::Path;

/// Rows written, per file.
pub type FileStats = Vec<(&'static str, u64, u64)>;

pub fn case_id(buf: &mut String, seed: u64, seq: u32) -> &str {
    hex_id(buf, "", id_key(seed, id_kind::CASE, seq as u64))
}

pub fn person_id(buf: &mut String, seed: u64, cluster: u32) -> &str {
    hex_id(
        buf,
        "P",
        id_key(seed, id_kind::PERSON_CLUSTER, cluster as u64),
    )
}

pub fn true_person_id(buf: &mut String, person: u32) -> &str {
    use std::fmt::Write;
    buf.clear();
    let _ = write!(buf, "T{person:09}");
    buf.as_str()
}

pub fn age_band(age: Option<i32>) -> &'static str {
    match age {
        None => "unknown",
        Some(a) if a < 1 => "<1",
        Some(1..=4) => "1-4",
        Some(5..=9) => "5-9",
        Some(10..=14) => "10-14",
        Some(15..=17) => "15-17",
        Some(_) => "18+",
    }
}

fn role_code(case_type: CaseType, role: Role) -> &'static str {
    let family = match case_type {
        CaseType::PublicLaw | CaseType::PrivateLaw => 'C',
        CaseType::Adoption => 'A',
        _ => 'Z',
    };
    match (role, family) {
        (Role::Applicant, 'C') => "APLC",
        (Role::Applicant, 'A') => "APLA",
        (Role::Applicant, _) => "APLZ",
        (Role::Respondent, 'C') => "RSPC",
        (Role::Respondent, 'A') => "RSPA",
        (Role::Respondent, _) => "RSPZ",
        (Role::Child, 'C') => "CHLDC",
        (Role::Child, 'A') => "CHLDA",
        (Role::Child, _) => "CHLDZ",
        (Role::Other, 'C') => "OTHC",
        (Role::Other, 'A') => "OTHA",
        (Role::Other, _) => "OTHZ",
    }
}

fn interpolate_year(points: &[(i32, f64)], year: i32) -> f64 {
    let mut last = points[0].1;
    for w in points.windows(2) {
        let ((y0, v0), (y1, v1)) = (w[0], w[1]);
        if year <= y0 {
            return v0;
        }
        if year <= y1 {
            return v0 + (v1 - v0) * (year - y0) as f64 / (y1 - y0) as f64;
        }
        last = v1;
    }
    last
}

/// Who had a representative: (applicant, respondent), by case type and year. Private law follows
/// FCSQ: half of disposals had both parties represented in 2011, a fifth by 2021 (LASPO).
fn representation(case: &SimCase, rng: &mut Rng) -> (bool, bool) {
    let year = year_of(case.start);
    match case.case_type {
        CaseType::PrivateLaw => {
            let both = interpolate_year(
                &[
                    (2011, 0.50),
                    (2013, 0.41),
                    (2014, 0.24),
                    (2015, 0.22),
                    (2016, 0.27),
                    (2019, 0.21),
                    (2021, 0.19),
                ],
                year,
            );
            let neither = interpolate_year(
                &[
                    (2011, 0.11),
                    (2013, 0.14),
                    (2014, 0.28),
                    (2015, 0.33),
                    (2016, 0.34),
                    (2019, 0.39),
                    (2021, 0.37),
                ],
                year,
            );
            let x = rng.f64();
            if x < both {
                (true, true)
            } else if x < both + neither {
                (false, false)
            } else if rng.chance(0.45) {
                (true, false)
            } else {
                (false, true)
            }
        }
        CaseType::PublicLaw => (true, rng.chance(0.95)),
        CaseType::Adoption => (rng.chance(0.8), rng.chance(0.5)),
        CaseType::Matrimonial => (rng.chance(0.4), rng.chance(0.15)),
        CaseType::FinancialRemedy => (rng.chance(0.7), rng.chance(0.55)),
        CaseType::DomesticViolence => (rng.chance(0.7), rng.chance(0.3)),
        CaseType::ForcedMarriage => (true, rng.chance(0.5)),
    }
}

fn legal_representation(applicant: bool, respondent: bool) -> &'static str {
    match (applicant, respondent) {
        (true, true) => "both",
        (true, false) => "applicant_only",
        (false, true) => "respondent_only",
        (false, false) => "neither",
    }
}

fn link_type(case: &SimCase, earlier: &SimCase) -> &'static str {
    match (earlier.case_type, case.case_type) {
        (CaseType::Matrimonial, CaseType::FinancialRemedy) => "cross_application",
        (CaseType::DomesticViolence, CaseType::PrivateLaw) => "cross_application",
        _ => "same_children",
    }
}

/// Writes part `part` of the court tables: the observed cases `order[range]`.
pub fn write_part(
    world: &World,
    ids: &Identities,
    order: &[u32],
    part: usize,
    out: &Path,
) -> Result<FileStats, WriteError> {
    let file = format!("part-{part:05}.parquet");
    let mut cases = TableFile::create(out, &contract::CASES, &file)?;
    let mut events_f = TableFile::create(out, &contract::EVENTS, &file)?;
    let mut people = TableFile::create(out, &contract::PEOPLE, &file)?;
    let mut links = TableFile::create(out, &contract::CASE_LINKS, &file)?;
    let truth_dir = out.join("_truth");
    let mut people_truth = TableFile::create(&truth_dir, &truth::PEOPLE_TRUTH, &file)?;

    let seed = world.seed;
    let mut id = String::with_capacity(24);
    let mut other = String::with_capacity(24);
    let mut row_id = String::with_capacity(24);
    let mut evs: Vec<Event> = Vec::with_capacity(64);
    for &seq in order {
        let case = &world.cases[seq as usize];
        let area = &AREAS[case.area as usize];
        let mut rng = Rng::stream(seed, 0xCA5E, seq as u64);
        events::case_events(case, &mut rng, &mut evs);
        let court_codes = [
            geography::court_code(case.area as usize, case.court as usize),
            geography::court_code(case.area as usize, 1 - case.court as usize),
        ];
        let (applicant_represented, respondent_represented) = representation(case, &mut rng);
        case_id(&mut id, seed, seq);

        let known = |day: i32| (day <= COURT_TO).then_some(day);
        let first_hearing = evs
            .iter()
            .filter(|e| e.hearing.is_some() && !e.vacated && !e.error)
            .map(|e| e.day)
            .min();
        cases
            .str(&id)
            .str(case.case_type.name())
            .str(&court_codes[0])
            .str(area.name)
            .str(area.region)
            .date(case.start)
            .opt_date(first_hearing)
            .opt_date(known(case.first_disposal))
            .opt_date(known(case.end))
            .opt_date(known(case.closed))
            .bool(case.reopened && evs.iter().any(|e| e.code == "G62" && !e.error))
            .bool(case.high_court)
            .i32(case.n_children as i32)
            .str(legal_representation(
                applicant_represented,
                respondent_represented,
            ))
            .opt_str(case.application_type())
            .opt_i32((case.marriage_year > 0).then_some(case.marriage_year))
            .end_row()?;

        for (i, e) in evs.iter().enumerate() {
            use std::fmt::Write;
            row_id.clear();
            let _ = write!(row_id, "{id}-E{i:03}");
            events_f
                .str(&row_id)
                .str(&id)
                .str(e.code)
                .str(e.category.name())
                .date(e.day)
                .str(&court_codes[e.court as usize])
                .opt_str(e.order_type)
                .bool(e.is_final)
                .opt_str(e.disposal)
                .opt_str(e.hearing)
                .bool(e.vacated)
                .bool(e.error)
                .end_row()?;
        }

        let mut seen_applicant = false;
        let mut seen_respondent = false;
        for (i, p) in case.participants(world).iter().enumerate() {
            use std::fmt::Write;
            row_id.clear();
            let _ = write!(row_id, "{id}-R{i:02}");
            let represented = match p.role {
                Role::Applicant if !seen_applicant => {
                    seen_applicant = true;
                    applicant_represented
                }
                Role::Respondent if !seen_respondent => {
                    seen_respondent = true;
                    respondent_represented
                }
                Role::Applicant => applicant_represented,
                Role::Respondent => respondent_represented,
                Role::Child => case.case_type == CaseType::PublicLaw || rng.chance(0.05),
                Role::Other => rng.chance(0.5),
            };
            if p.person == NONE {
                // The local authority bringing care proceedings.
                let la = geography::la_code(case.area as usize, 0);
                people
                    .str(&row_id)
                    .str(&id)
                    .opt_str(None)
                    .str(p.role.name())
                    .str(role_code(case.case_type, p.role))
                    .str("local_authority")
                    .str("unknown")
                    .opt_i32(None)
                    .opt_i32(None)
                    .str("unknown")
                    .opt_str(p.relationship.name())
                    .bool(represented)
                    .str(&la)
                    .str(area.region)
                    .opt_i32(None)
                    .end_row()?;
                people_truth.str(&row_id).opt_str(None).end_row()?;
                continue;
            }
            let person = &world.persons[p.person as usize];
            let cluster = ids.court_cluster(p.person, case.start);
            // Recording gaps: a missing birth year, an unknown sex, a missing address.
            let birth_known = !rng.chance(0.02);
            let sex = if rng.chance(0.005) {
                "unknown"
            } else if person.sex == Sex::Female {
                "female"
            } else {
                "male"
            };
            let age = birth_known.then(|| age_on(person.birth, case.start).max(0));
            let address_known = !rng.chance(0.04);
            let home = &AREAS[person.area as usize];
            let la = geography::la_code(person.area as usize, person.la as usize);
            people
                .str(&row_id)
                .str(&id)
                .str(person_id(&mut other, seed, cluster))
                .str(p.role.name())
                .str(role_code(case.case_type, p.role))
                .str("person")
                .str(sex)
                .opt_i32(birth_known.then(|| year_of(person.birth)))
                .opt_i32(age)
                .str(age_band(age))
                .opt_str(
                    p.relationship
                        .name()
                        .filter(|_| p.relationship != Relationship::None),
                )
                .bool(represented)
                .opt_str(address_known.then_some(la.as_str()))
                .opt_str(address_known.then_some(home.region))
                .opt_i32(address_known.then_some(person.imd as i32))
                .end_row()?;
            people_truth
                .str(&row_id)
                .opt_str(Some(true_person_id(&mut other, p.person)))
                .end_row()?;
        }

        if case.follows != NONE {
            let earlier = &world.cases[case.follows as usize];
            if earlier.in_court_window() {
                let link_date = case.start;
                links
                    .str(&id)
                    .str(case_id(&mut other, seed, earlier.seq))
                    .str(link_type(case, earlier))
                    .date(link_date)
                    .end_row()?;
            }
        }
    }
    let mut stats = Vec::new();
    for (name, f) in [
        ("cases", cases),
        ("events", events_f),
        ("people", people),
        ("case_links", links),
        ("_truth/people_truth", people_truth),
    ] {
        let (rows, bytes) = f.finish()?;
        stats.push((name, rows, bytes));
    }
    Ok(stats)
}
