//! Care proceedings (s31) and adoption: the families the local authority brings to court, the
//! mothers who come back with a new baby, and adoptions that follow placement orders.

use super::calibration::{
    care_weeks_by_disposal_year, fractional_year, public_law_return_probability,
};
use super::{
    CaseType, Family, Follow, NONE, Outcome, Participant, Relationship, Role, Scheduled, Sex,
    Simulator,
};
use fjq_contract::calendar::age_on;

/// Mothers' age at their first care proceedings: the bands, and the share of mothers in each
/// (research/metrics.md 1.2: 19% are under 20, half are 24 or under).
const MOTHER_AGE_BANDS: [(f64, f64); 5] = [
    (16.0, 19.0),
    (20.0, 24.0),
    (25.0, 29.0),
    (30.0, 34.0),
    (35.0, 44.0),
];
const MOTHER_AGE_SHARES: [f64; 5] = [0.19, 0.31, 0.22, 0.15, 0.13];
/// The youngest child's age: under a week, under a year, 1-4, 5-9, 10-15 (a third of children
/// in care proceedings are infants).
const YOUNGEST_CHILD_SHARES: [f64; 5] = [0.14, 0.20, 0.30, 0.22, 0.14];
/// Share of a mother's returns that concern a newborn (about 60%, research/metrics.md 1.2).
const RETURN_WITH_NEWBORN: f64 = 0.62;
/// Share of cases with the father a party, and with a grandparent joined.
const FATHER_IS_PARTY: f64 = 0.78;
const GRANDPARENT_JOINED: f64 = 0.12;
/// Applications: care, supervision, emergency protection.
const APPLICATION_SHARES: [f64; 3] = [0.88, 0.05, 0.07];
/// First disposals of care and supervision applications, in the order of `OUTCOMES`.
const OUTCOMES: [Outcome; 7] = [
    Outcome::CareOrder,
    Outcome::PlacementOrder,
    Outcome::SpecialGuardianship,
    Outcome::SupervisionOrder,
    Outcome::ChildArrangements,
    Outcome::Withdrawn,
    Outcome::NoOrder,
];
const OUTCOME_SHARES: [f64; 7] = [0.50, 0.11, 0.16, 0.12, 0.05, 0.04, 0.02];
/// Spread (log-normal sigma) of durations around the year's mean (calibration::care_weeks).
const DURATION_SPREAD: f64 = 0.38;
/// Share of cases whose first hearing is within three days of issue (the rest: 12-18 days).
const EARLY_FIRST_HEARING: f64 = 0.7;
/// Share of cases with a later disposal after the first (the case ends 2-20 weeks later).
const LATER_DISPOSAL: f64 = 0.15;
const REOPENED: f64 = 0.03;
const HIGH_COURT: f64 = 0.02;
/// Start to start, a mother's next care proceedings: log-normal, mean 700 days (about 93
/// weeks, research/metrics.md 7.7), at least 180 days.
const RETURN_GAP_MEAN_DAYS: f64 = 700.0;
const RETURN_GAP_SPREAD: f64 = 0.6;
const RETURN_GAP_MIN_DAYS: i32 = 180;
/// Share of special guardianship, child arrangements and supervision outcomes followed by a
/// private law application.
const PRIVATE_LAW_AFTER: f64 = 0.12;
/// Adoptions: share with two adopters, mean weeks to the order, share ending in an order.
const TWO_ADOPTERS: f64 = 0.6;
const ADOPTION_MEAN_WEEKS: f64 = 24.0;
const ADOPTION_ORDER_MADE: f64 = 0.95;

impl Simulator {
    pub(super) fn new_public_law_family(&mut self, day: i32) -> u32 {
        let area = self.pick_area();
        // 19% of mothers are 14-19 at their first care proceedings, half are 24 or under.
        let (lo, hi) = MOTHER_AGE_BANDS[self.rng.weighted(&MOTHER_AGE_SHARES)];
        let mother_age = lo + self.rng.f64() * (hi - lo + 1.0);
        let mother_birth = self.birth_for_age(day, mother_age.floor());
        let mother = self.new_person(Sex::Female, mother_birth, area);
        let father_age = (mother_age + 3.0 + 4.0 * self.rng.normal()).max(16.0);
        let father_birth = self.birth_for_age(day, father_age.floor());
        let father = self.new_person(Sex::Male, father_birth, area);
        let n = self.child_count();
        // A third of children in care proceedings are infants; the eldest is younger than
        // the mother by at least 15 years.
        let max_youngest = (mother_age - 15.0 - 2.0 * (n as f64 - 1.0)).max(0.0);
        let youngest = match self.rng.weighted(&YOUNGEST_CHILD_SHARES) {
            0 => self.rng.f64() * 0.02,
            1 => 0.02 + self.rng.f64() * 0.98,
            2 => 1.0 + self.rng.f64() * 4.0,
            3 => 5.0 + self.rng.f64() * 5.0,
            _ => 10.0 + self.rng.f64() * 6.0,
        }
        .min(max_youngest);
        let children = self.children(n, day, youngest, area);
        self.world.families.push(Family {
            mother,
            father,
            children,
            area,
        });
        (self.world.families.len() - 1) as u32
    }

    /// Care proceedings for a family (a new family's first, or a return).
    pub(super) fn public_law_case(
        &mut self,
        family: u32,
        day: i32,
        follows: u32,
        why: Option<Follow>,
    ) {
        let f = self.world.families[family as usize].clone();
        let mut children = Vec::new();
        match why {
            Some(Follow::PublicLawReturn) => {
                // About 60% of returns concern a newborn, born during or after the last case.
                if self.rng.chance(RETURN_WITH_NEWBORN) {
                    let age = self.rng.f64() * 0.05;
                    let baby = self.children(1, day, age, f.area)[0];
                    self.world.families[family as usize].children.push(baby);
                    children.push(baby);
                } else if self.rng.chance(0.5) || f.children.is_empty() {
                    let age = 0.1 + self.rng.f64() * 1.5;
                    let baby = self.children(1, day, age, f.area)[0];
                    self.world.families[family as usize].children.push(baby);
                    children.push(baby);
                }
                if children.is_empty() || self.rng.chance(0.25) {
                    // Older siblings still under 18 come back too.
                    for &c in f.children.iter().rev().take(2) {
                        if age_on(self.world.persons[c as usize].birth, day) < 17 {
                            children.push(c);
                        }
                    }
                }
                if children.is_empty() {
                    let baby = self.children(1, day, 0.01, f.area)[0];
                    self.world.families[family as usize].children.push(baby);
                    children.push(baby);
                }
            }
            Some(Follow::PublicLawFromPrivate) => {
                for &c in &f.children {
                    if age_on(self.world.persons[c as usize].birth, day) < 17 {
                        children.push(c);
                    }
                }
                if children.is_empty() || self.rng.chance(0.3) {
                    let baby = self.children(1, day, 0.01, f.area)[0];
                    self.world.families[family as usize].children.push(baby);
                    children.push(baby);
                }
            }
            _ => children = f.children.clone(),
        }
        let mut parts = vec![
            Participant {
                person: NONE,
                role: Role::Applicant,
                relationship: Relationship::LocalAuthority,
            },
            Participant {
                person: f.mother,
                role: Role::Respondent,
                relationship: Relationship::Mother,
            },
        ];
        if self.rng.chance(FATHER_IS_PARTY) {
            parts.push(Participant {
                person: f.father,
                role: Role::Respondent,
                relationship: Relationship::Father,
            });
        }
        if self.rng.chance(GRANDPARENT_JOINED) {
            let age = 45.0 + self.rng.f64() * 20.0;
            let birth = self.birth_for_age(day, age);
            let gp = self.new_person(Sex::Female, birth, f.area);
            parts.push(Participant {
                person: gp,
                role: Role::Other,
                relationship: Relationship::Grandparent,
            });
        }
        for &c in &children {
            parts.push(Participant {
                person: c,
                role: Role::Child,
                relationship: Relationship::None,
            });
        }
        let seq = self.push_case(CaseType::PublicLaw, day, f.area, &parts, follows);
        let rng = &mut self.rng;
        let subtype = rng.weighted(&APPLICATION_SHARES) as u8;
        let (first_hearing, first_disposal, outcome) = if subtype == 2 {
            // Emergency protection: heard within a day, short, often followed by s31 later.
            let weeks = 1.0 + rng.f64() * 7.0;
            (
                rng.range_i32(0, 1),
                day + (weeks * 7.0) as i32,
                Outcome::EmergencyProtection,
            )
        } else {
            // Solve for the mean that the disposal year asks of a case starting today.
            let mut mean = 30.0;
            for _ in 0..3 {
                mean = care_weeks_by_disposal_year(fractional_year(day) + mean / 52.18);
            }
            let weeks = rng.lognormal_mean(mean, DURATION_SPREAD).max(3.0);
            let outcome = OUTCOMES[rng.weighted(&OUTCOME_SHARES)];
            let first_hearing = if rng.chance(EARLY_FIRST_HEARING) {
                rng.range_i32(0, 3)
            } else {
                rng.range_i32(12, 18)
            };
            (first_hearing, day + (weeks * 7.0) as i32, outcome)
        };
        let end = if rng.chance(LATER_DISPOSAL) {
            first_disposal + rng.range_i32(14, 140)
        } else {
            first_disposal
        };
        let closed = end + rng.range_i32(5, 60);
        let reopened = rng.chance(REOPENED);
        let high_court = rng.chance(HIGH_COURT);
        let mother_age = age_on(self.world.persons[f.mother as usize].birth, day);
        {
            let c = &mut self.world.cases[seq as usize];
            c.subtype = subtype;
            c.first_hearing_after = first_hearing;
            c.first_disposal = first_disposal;
            c.end = end;
            c.closed = closed;
            c.outcome = outcome;
            c.reopened = reopened;
            c.high_court = high_court;
        }
        // Returns: the mother's next care proceedings, start to start (mean gap about 93 weeks).
        if self.rng.chance(public_law_return_probability(mother_age)) {
            let gap = (self
                .rng
                .lognormal_mean(RETURN_GAP_MEAN_DAYS, RETURN_GAP_SPREAD)
                as i32)
                .max(RETURN_GAP_MIN_DAYS);
            self.schedule(Scheduled {
                day: day + gap,
                case_type: CaseType::PublicLaw,
                family,
                follows: seq,
                why: Follow::PublicLawReturn,
                child: NONE,
            });
        }
        if outcome == Outcome::PlacementOrder {
            let child = children[0];
            let day = end + self.rng.range_i32(150, 500);
            self.schedule(Scheduled {
                day,
                case_type: CaseType::Adoption,
                family,
                follows: seq,
                why: Follow::AdoptionAfterPlacement,
                child,
            });
        }
        if matches!(
            outcome,
            Outcome::SpecialGuardianship | Outcome::ChildArrangements | Outcome::SupervisionOrder
        ) && self.rng.chance(PRIVATE_LAW_AFTER)
        {
            let day = end + self.rng.range_i32(120, 1500);
            self.schedule(Scheduled {
                day,
                case_type: CaseType::PrivateLaw,
                family,
                follows: seq,
                why: Follow::PrivateLawFromPublic,
                child: NONE,
            });
        }
    }

    pub(super) fn adoption_case(&mut self, child: u32, day: i32, follows: u32, area: u16) {
        let adopters = if self.rng.chance(TWO_ADOPTERS) { 2 } else { 1 };
        let mut parts = Vec::with_capacity(3);
        for i in 0..adopters {
            let age = 30.0 + self.rng.f64() * 15.0;
            let birth = self.birth_for_age(day, age);
            let sex = if i == 0 { Sex::Female } else { Sex::Male };
            let p = self.new_person(sex, birth, area);
            parts.push(Participant {
                person: p,
                role: Role::Applicant,
                relationship: Relationship::Other,
            });
        }
        parts.push(Participant {
            person: child,
            role: Role::Child,
            relationship: Relationship::None,
        });
        let seq = self.push_case(CaseType::Adoption, day, area, &parts, follows);
        let rng = &mut self.rng;
        let weeks = rng.lognormal_mean(ADOPTION_MEAN_WEEKS, 0.4);
        let end = day + (weeks * 7.0) as i32;
        let c = &mut self.world.cases[seq as usize];
        c.first_hearing_after = rng.range_i32(21, 60).min(end - day);
        c.first_disposal = end;
        c.end = end;
        c.closed = end + rng.range_i32(3, 30);
        c.outcome = if rng.chance(ADOPTION_ORDER_MADE) {
            Outcome::AdoptionOrder
        } else {
            Outcome::Withdrawn
        };
    }
}
