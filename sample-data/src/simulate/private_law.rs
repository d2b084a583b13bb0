//! Private law (child arrangements between parents): the families, their applications, and
//! their returns to court.

use super::calibration::{
    PRIVATE_LAW_RETURN, PRIVATE_LAW_RETURN_MEAN_YEARS, fractional_year,
    private_weeks_by_disposal_year,
};
use super::{
    CaseType, Family, Follow, NONE, Outcome, Participant, Relationship, Role, Scheduled, Sex,
    Simulator,
};
use fjq_contract::calendar::age_on;

/// Who applies: the father, the mother, or a grandparent (research/metrics.md: fathers make
/// most private law applications).
const APPLICANT_SHARES: [f64; 3] = [0.58, 0.36, 0.06];
/// Spread (log-normal sigma) of durations around the year's mean
/// (calibration::private_weeks_by_disposal_year).
const DURATION_SPREAD: f64 = 0.6;
/// Share of cases with an earlier first disposal (at 60% of the case's length).
const EARLIER_FIRST_DISPOSAL: f64 = 0.1;
/// Final disposals, in the order of `OUTCOMES`.
const OUTCOMES: [Outcome; 4] = [
    Outcome::ChildArrangements,
    Outcome::Withdrawn,
    Outcome::Refused,
    Outcome::NoOrder,
];
const OUTCOME_SHARES: [f64; 4] = [0.72, 0.16, 0.04, 0.08];
const REOPENED: f64 = 0.02;
const HIGH_COURT: f64 = 0.005;
/// Share of private law families later in care proceedings.
const PUBLIC_LAW_AFTER: f64 = 0.03;

impl Simulator {
    pub(super) fn new_private_law_family(&mut self, day: i32) -> u32 {
        let area = self.pick_area();
        let mother_age = 22.0 + self.rng.f64() * 22.0;
        let mother_birth = self.birth_for_age(day, mother_age.floor());
        let mother = self.new_person(Sex::Female, mother_birth, area);
        let father_age = (mother_age + 2.5 + 4.0 * self.rng.normal()).max(18.0);
        let father_birth = self.birth_for_age(day, father_age.floor());
        let father = self.new_person(Sex::Male, father_birth, area);
        let n = self.child_count();
        let max_youngest = (mother_age - 17.0 - 2.0 * (n as f64 - 1.0)).max(0.0);
        let youngest = (self.rng.f64() * 12.0).min(max_youngest);
        let children = self.children(n, day, youngest, area);
        self.world.families.push(Family {
            mother,
            father,
            children,
            area,
        });
        (self.world.families.len() - 1) as u32
    }

    pub(super) fn private_law_case(&mut self, family: u32, day: i32, follows: u32) {
        let f = self.world.families[family as usize].clone();
        let children: Vec<u32> = f
            .children
            .iter()
            .copied()
            .filter(|&c| age_on(self.world.persons[c as usize].birth, day) < 17)
            .collect();
        let children = if children.is_empty() {
            // Everyone has grown up: a new child from a new relationship.
            let age = self.rng.f64() * 3.0;
            let baby = self.children(1, day, age, f.area)[0];
            self.world.families[family as usize].children.push(baby);
            vec![baby]
        } else {
            children
        };
        let (applicant, respondent, app_rel, resp_rel) = match self.rng.weighted(&APPLICANT_SHARES)
        {
            0 => (
                f.father,
                f.mother,
                Relationship::Father,
                Relationship::Mother,
            ),
            1 => (
                f.mother,
                f.father,
                Relationship::Mother,
                Relationship::Father,
            ),
            _ => {
                let age = 48.0 + self.rng.f64() * 20.0;
                let birth = self.birth_for_age(day, age);
                let gp = self.new_person(Sex::Female, birth, f.area);
                (
                    gp,
                    f.mother,
                    Relationship::Grandparent,
                    Relationship::Mother,
                )
            }
        };
        let mut parts = vec![
            Participant {
                person: applicant,
                role: Role::Applicant,
                relationship: app_rel,
            },
            Participant {
                person: respondent,
                role: Role::Respondent,
                relationship: resp_rel,
            },
        ];
        for &c in &children {
            parts.push(Participant {
                person: c,
                role: Role::Child,
                relationship: Relationship::None,
            });
        }
        let seq = self.push_case(CaseType::PrivateLaw, day, f.area, &parts, follows);
        let rng = &mut self.rng;
        let mut mean = 26.0;
        for _ in 0..3 {
            mean = private_weeks_by_disposal_year(fractional_year(day) + mean / 52.18);
        }
        let weeks = rng.lognormal_mean(mean, DURATION_SPREAD).max(2.0);
        let end = day + (weeks * 7.0) as i32;
        let first_disposal = if rng.chance(EARLIER_FIRST_DISPOSAL) {
            day + (weeks * 7.0 * 0.6) as i32
        } else {
            end
        };
        let outcome = OUTCOMES[rng.weighted(&OUTCOME_SHARES)];
        let first_hearing = rng.range_i32(28, 56).min(end - day);
        let closed = end + rng.range_i32(3, 45);
        let c = &mut self.world.cases[seq as usize];
        c.first_hearing_after = first_hearing;
        c.first_disposal = first_disposal;
        c.end = end;
        c.closed = closed;
        c.outcome = outcome;
        c.reopened = rng.chance(REOPENED);
        c.high_court = rng.chance(HIGH_COURT);
        if self.rng.chance(PRIVATE_LAW_RETURN) {
            let gap = 30 + (self.rng.exponential(PRIVATE_LAW_RETURN_MEAN_YEARS) * 365.25) as i32;
            self.schedule(Scheduled {
                day: end + gap,
                case_type: CaseType::PrivateLaw,
                family,
                follows: seq,
                why: Follow::PrivateLawReturn,
                child: NONE,
            });
        }
        if self.rng.chance(PUBLIC_LAW_AFTER) {
            let day = day + self.rng.range_i32(180, 1800);
            self.schedule(Scheduled {
                day,
                case_type: CaseType::PublicLaw,
                family,
                follows: seq,
                why: Follow::PublicLawFromPrivate,
                child: NONE,
            });
        }
    }
}
