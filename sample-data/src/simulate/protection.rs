//! Protective orders: domestic abuse (non-molestation and occupation orders) and forced
//! marriage protection orders.

use super::{
    CaseType, Family, Follow, NONE, Outcome, Participant, Relationship, Role, Scheduled, Sex,
    Simulator,
};

/// Share of domestic abuse applications made by the person at risk (the rest are cross
/// applications), and of non-molestation (the rest: occupation) orders sought.
const BY_PERSON_AT_RISK: f64 = 0.86;
const NON_MOLESTATION: f64 = 0.82;
/// Share heard the same day (without notice); the rest within one to three weeks.
const HEARD_SAME_DAY: f64 = 0.4;
/// Outcomes, in the order of `OUTCOMES`.
const OUTCOMES: [Outcome; 3] = [
    Outcome::NonMolestation,
    Outcome::Withdrawn,
    Outcome::Refused,
];
const OUTCOME_SHARES: [f64; 3] = [0.8, 0.15, 0.05];
/// Share of domestic abuse cases followed by private law proceedings about the children.
const PRIVATE_LAW_AFTER: f64 = 0.10;
/// Share of forced marriage protection orders about a woman or girl.
const FORCED_MARRIAGE_FEMALE: f64 = 0.8;

impl Simulator {
    pub(super) fn domestic_violence_case(&mut self, day: i32) {
        let area = self.pick_area();
        let (victim, other) = self.couple(day, area);
        let (app, resp) = if self.rng.chance(BY_PERSON_AT_RISK) {
            (victim, other)
        } else {
            (other, victim)
        };
        let parts = [
            Participant {
                person: app,
                role: Role::Applicant,
                relationship: Relationship::None,
            },
            Participant {
                person: resp,
                role: Role::Respondent,
                relationship: Relationship::None,
            },
        ];
        let seq = self.push_case(CaseType::DomesticViolence, day, area, &parts, NONE);
        let rng = &mut self.rng;
        let c = &mut self.world.cases[seq as usize];
        c.subtype = if rng.chance(NON_MOLESTATION) { 0 } else { 1 };
        c.first_hearing_after = if rng.chance(HEARD_SAME_DAY) {
            0
        } else {
            rng.range_i32(7, 21)
        };
        c.end = day + rng.range_i32(14, 90);
        c.first_disposal = c.end;
        c.closed = c.end + rng.range_i32(1, 20);
        c.outcome = OUTCOMES[rng.weighted(&OUTCOME_SHARES)];
        if self.rng.chance(PRIVATE_LAW_AFTER) {
            let kids = self.child_count().min(3);
            let youngest = self.rng.f64() * 8.0;
            let children = self.children(kids, day, youngest, area);
            self.world.families.push(Family {
                mother: victim,
                father: other,
                children,
                area,
            });
            let family = (self.world.families.len() - 1) as u32;
            let day = day + self.rng.range_i32(30, 720);
            self.schedule(Scheduled {
                day,
                case_type: CaseType::PrivateLaw,
                family,
                follows: seq,
                why: Follow::PrivateLawFromAbuse,
                child: NONE,
            });
        }
    }

    pub(super) fn forced_marriage_case(&mut self, day: i32) {
        let area = self.pick_area();
        let sex = if self.rng.chance(FORCED_MARRIAGE_FEMALE) {
            Sex::Female
        } else {
            Sex::Male
        };
        let age = 16.0 + self.rng.f64() * 10.0;
        let birth = self.birth_for_age(day, age);
        let at_risk = self.new_person(sex, birth, area);
        let mut parts = vec![Participant {
            person: at_risk,
            role: Role::Applicant,
            relationship: Relationship::None,
        }];
        for _ in 0..1 + self.rng.below(2) {
            let s = self.random_sex();
            let age = 40.0 + self.rng.f64() * 20.0;
            let birth = self.birth_for_age(day, age);
            let p = self.new_person(s, birth, area);
            parts.push(Participant {
                person: p,
                role: Role::Respondent,
                relationship: Relationship::OtherRelative,
            });
        }
        let seq = self.push_case(CaseType::ForcedMarriage, day, area, &parts, NONE);
        let rng = &mut self.rng;
        let c = &mut self.world.cases[seq as usize];
        c.first_hearing_after = rng.range_i32(0, 7);
        c.end = day + rng.range_i32(30, 120);
        c.first_disposal = c.end;
        c.closed = c.end + rng.range_i32(1, 20);
        c.outcome = Outcome::ForcedMarriageOrder;
    }
}
