//! The Cafcass tables: the Children Act cases Cafcass (England) and Cafcass Cymru received in
//! their coverage window, the people on them and the work Cafcass did, with the truth behind
//! `cafcass_people`.
//!
//! Cafcass sees a case a few days after issue and keeps it until after the court has finished;
//! its window opens in 2007, four years before the court's, and closes ten months after it.

use crate::court::{FileStats, true_person_id};
use crate::geography::{self, AREAS};
use crate::identity::{Identities, cafcass_received};
use crate::parquet_out::{TableFile, WriteError, hex_id};
use crate::rng::Rng;
use crate::simulate::{CaseType, NONE, Outcome, Role, Sex, SimCase, World, id_key, id_kind};
use fjq_contract::calendar::{age_on, days_from_civil, monday_of_week};
use fjq_contract::dataset::CAFCASS_TO;
use fjq_contract::{self as contract, truth};
use std::path::Path;

pub fn cafcass_case_id(buf: &mut String, seed: u64, seq: u32) -> &str {
    hex_id(buf, "CF", id_key(seed, id_kind::CAFCASS_CASE, seq as u64))
}

pub fn cafcass_person_id(buf: &mut String, seed: u64, record: u32) -> &str {
    hex_id(
        buf,
        "CP",
        id_key(seed, id_kind::CAFCASS_PERSON, record as u64),
    )
}

const ETHNICITY: [&str; 6] = ["White", "Mixed", "Asian", "Black", "Other", "White"];
const ECMS_FROM: i32 = days_from_civil(2014, 1, 1);

fn application(case: &SimCase, rng: &mut Rng) -> (&'static str, &'static str) {
    match case.case_type {
        CaseType::PublicLaw => match case.subtype {
            0 => ("Care (s31)", "C110A"),
            1 => ("Supervision (s31)", "C110A"),
            _ => ("EPO (s44)", "C110A"),
        },
        _ => {
            let returning = case.follows != NONE;
            let weights = if returning {
                [0.62, 0.09, 0.04, 0.03, 0.03, 0.19]
            } else {
                [0.78, 0.10, 0.05, 0.04, 0.03, 0.00]
            };
            match rng.weighted(&weights) {
                0 => ("Child Arrangements Order (s8)", "C100"),
                1 => ("Prohibited Steps Order (s8)", "C100"),
                2 => ("Specific Issue Order (s8)", "C100"),
                3 => ("Parental Responsibility (s4)", "C1"),
                4 => ("Special Guardianship Order (s14A)", "C1"),
                _ => ("Enforcement (s11J)", "C79"),
            }
        }
    }
}

fn outcome_hierarchy(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::PlacementOrder => "PO",
        Outcome::CareOrder => "CO/SAO",
        Outcome::SpecialGuardianship | Outcome::ChildArrangements => "RO/SGO/CAO",
        Outcome::SupervisionOrder => "FAO/SO",
        _ => "Discharge/ONO",
    }
}

struct Work {
    start: i32,
    end: i32,
    work_type: &'static str,
    output: Option<&'static str>,
    child: u32,
}

/// Writes part `part` of the Cafcass tables: the cases `order` (sequence numbers of simulated
/// Children Act cases inside the Cafcass window, in cafcass_case_id order).
pub fn write_part(
    world: &World,
    ids: &Identities,
    order: &[u32],
    part: usize,
    out: &Path,
) -> Result<FileStats, WriteError> {
    let file = format!("part-{part:05}.parquet");
    let mut cases = TableFile::create(out, &contract::CAFCASS_CASES, &file)?;
    let mut people = TableFile::create(out, &contract::CAFCASS_PEOPLE, &file)?;
    let mut work = TableFile::create(out, &contract::CAFCASS_WORK, &file)?;
    let mut people_truth =
        TableFile::create(&out.join("_truth"), &truth::CAFCASS_PEOPLE_TRUTH, &file)?;
    let mut links_truth = TableFile::create(&out.join("_truth"), &truth::CASE_LINKS_TRUTH, &file)?;
    let seed = world.seed;
    let mut id = String::with_capacity(24);
    let mut pid = String::with_capacity(24);
    let mut buf = String::with_capacity(24);
    let mut persons: Vec<(u64, u32, Role)> = Vec::with_capacity(8);
    let mut works: Vec<Work> = Vec::with_capacity(16);
    for &seq in order {
        let case = &world.cases[seq as usize];
        let mut rng = Rng::stream(seed, 0xCAFC, seq as u64);
        let area = &AREAS[case.area as usize];
        let received = cafcass_received(case.start, case.seq);
        let known = |day: i32| (day <= CAFCASS_TO).then_some(day);
        let closed = known(case.closed + rng.range_i32(0, 14));
        let public = case.case_type == CaseType::PublicLaw;
        let (application_type, court_form) = application(case, &mut rng);
        let source_system = if area.wales {
            "CYMRU"
        } else if received < ECMS_FROM {
            "CMS"
        } else {
            "ECMS"
        };
        let outcome = (public && closed.is_some()).then(|| {
            if rng.chance(0.05) {
                "Not reported"
            } else {
                outcome_hierarchy(case.outcome)
            }
        });
        let la = public.then(|| geography::la_code(case.area as usize, 0));
        cafcass_case_id(&mut id, seed, seq);
        cases
            .str(&id)
            .str(if area.wales { "Wales" } else { "England" })
            .str(source_system)
            .str(if public { "public" } else { "private" })
            .str(application_type)
            .str(court_form)
            .opt_str(la.as_deref())
            .str(area.name)
            .date(received)
            .opt_date(closed)
            .opt_str(outcome)
            .bool(public || rng.chance(0.62))
            .i32(1 + rng.chance(0.12) as i32)
            .end_row()?;
        if case.in_court_window() {
            links_truth
                .str(&id)
                .str(crate::court::case_id(&mut buf, seed, seq))
                .str(if area.wales { "Wales" } else { "England" })
                .end_row()?;
        }

        // People, in cafcass_person_id order.
        persons.clear();
        for p in case.participants(world) {
            if p.person == NONE {
                continue;
            }
            let record = ids.cafcass_person(p.person, received);
            persons.push((
                id_key(seed, id_kind::CAFCASS_PERSON, record as u64),
                record,
                p.role,
            ));
        }
        persons.sort_unstable_by_key(|(key, _, _)| *key);
        persons.dedup_by_key(|(key, _, _)| *key);
        for &(_, record, role) in &persons {
            let true_person = record % ids.n_persons;
            let person = &world.persons[true_person as usize];
            let age = age_on(person.birth, received).max(0);
            let role_name = match role {
                Role::Child => "subject",
                Role::Applicant => "applicant",
                Role::Respondent => "respondent",
                Role::Other => "other",
            };
            let gender = if rng.chance(0.005) {
                "unknown"
            } else if person.sex == Sex::Female {
                "female"
            } else {
                "male"
            };
            let disability = match rng.weighted(&[0.4, 0.05, 0.55]) {
                0 => None,
                1 => Some(true),
                _ => Some(false),
            };
            cafcass_person_id(&mut pid, seed, record);
            people
                .str(&pid)
                .str(&id)
                .str(role_name)
                .str(if age < 18 { "child" } else { "adult" })
                .str(gender)
                .opt_date((!rng.chance(0.02)).then(|| monday_of_week(person.birth)))
                .opt_i32(Some(age))
                .opt_str((!rng.chance(0.12)).then(|| ETHNICITY[person.ethnicity as usize]))
                .opt_bool(disability)
                .opt_i32((!rng.chance(0.05)).then_some(person.imd as i32))
                .end_row()?;
            people_truth
                .str(&pid)
                .str(&id)
                .str(true_person_id(&mut buf, true_person))
                .end_row()?;
        }

        // Work, in (start_date, work_id) order.
        works.clear();
        let first_hearing = case.start + case.first_hearing_after.max(0);
        let end = case.end + rng.range_i32(0, 14);
        let children: Vec<u32> = persons
            .iter()
            .filter(|(_, _, role)| *role == Role::Child)
            .map(|&(_, record, _)| record)
            .collect();
        if public {
            // Most guardians are allocated on receipt; some wait weeks for one (the allocation
            // backlogs Cafcass reported), sometimes past the first hearing. Drawn from a stream
            // of its own so that the rest of the case's draws stay as they were.
            let mut waits = Rng::stream(seed, 0xCAFD, seq as u64);
            let allocated = if waits.chance(0.2) {
                (received + waits.range_i32(7, 60)).min(end)
            } else {
                received
            };
            for &child in &children {
                works.push(Work {
                    start: allocated,
                    end,
                    work_type: "childrens_guardian_s41",
                    output: Some("final_analysis"),
                    child,
                });
            }
            if rng.chance(0.03) {
                works.push(Work {
                    start: received + 30,
                    end,
                    work_type: "further_work",
                    output: None,
                    child: NONE,
                });
            }
        } else {
            works.push(Work {
                start: received,
                end: first_hearing,
                work_type: "safeguarding_letter",
                output: Some("safeguarding_letter"),
                child: NONE,
            });
            if rng.chance(0.85) {
                works.push(Work {
                    start: first_hearing,
                    end: first_hearing,
                    work_type: "fhdra_attendance",
                    output: None,
                    child: NONE,
                });
            }
            if application_type.starts_with("Enforcement") {
                works.push(Work {
                    start: received,
                    end,
                    work_type: "enforcement",
                    output: Some("enforcement_report"),
                    child: NONE,
                });
            }
            if rng.chance(0.30) && case.end - first_hearing > 60 {
                let start = first_hearing + rng.range_i32(0, 14);
                let due = start + rng.range_i32(56, 112);
                works.push(Work {
                    start,
                    end: due.min(end),
                    work_type: "s7_report",
                    output: Some("s7_report"),
                    child: NONE,
                });
            }
            if rng.chance(0.03) && case.end - first_hearing > 90 {
                for &child in &children {
                    works.push(Work {
                        start: first_hearing + 30,
                        end,
                        work_type: "rule_16_4_guardian",
                        output: Some("final_analysis"),
                        child,
                    });
                }
            }
            if rng.chance(0.05) {
                works.push(Work {
                    start: end.min(first_hearing + 60),
                    end,
                    work_type: "further_work",
                    output: None,
                    child: NONE,
                });
            }
        }
        works.retain(|w| w.start <= CAFCASS_TO);
        works.sort_by_key(|w| w.start);
        for (i, w) in works.iter().enumerate() {
            use std::fmt::Write;
            buf.clear();
            let _ = write!(buf, "{id}-W{i:02}");
            let child = (w.child != NONE).then(|| {
                let mut s = String::new();
                cafcass_person_id(&mut s, seed, w.child);
                s
            });
            work.str(&buf)
                .str(&id)
                .opt_str(child.as_deref())
                .str(w.work_type)
                .opt_str(w.output)
                .date(w.start)
                .opt_date(known(w.end))
                .end_row()?;
        }
    }
    let mut stats = Vec::new();
    for (name, f) in [
        ("cafcass_cases", cases),
        ("cafcass_people", people),
        ("cafcass_work", work),
        ("_truth/cafcass_people_truth", people_truth),
        ("_truth/case_links", links_truth),
    ] {
        let (rows, bytes) = f.finish()?;
        stats.push((name, rows, bytes));
    }
    Ok(stats)
}
