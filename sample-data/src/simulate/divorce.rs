//! Divorce: matrimonial cases (decree nisi, decree absolute) and the financial remedy
//! proceedings that follow some of them.

use super::{
    CaseType, Family, Follow, NONE, Outcome, Participant, Relationship, Role, Scheduled, Simulator,
};
use fjq_contract::calendar::year_of;

/// Share of divorce petitions brought by the first partner of the couple (the wife in
/// opposite-sex couples: about 62%).
const FIRST_PARTNER_PETITIONS: f64 = 0.62;
/// Days from petition to decree nisi, and the least wait from nisi to absolute (six weeks and
/// a day) with a mean further delay.
const NISI_DAYS: (i32, i32) = (90, 220);
const NISI_TO_ABSOLUTE_MIN_DAYS: i32 = 43;
const ABSOLUTE_EXTRA_MEAN_DAYS: f64 = 90.0;
const WITHDRAWN: f64 = 0.08;
/// Mean years married before the petition (beyond the first).
const YEARS_MARRIED_MEAN: f64 = 11.0;
/// Share of divorces with a hearing (defended or with directions).
const HEARD: f64 = 0.04;
/// Share of decrees absolute followed by financial remedy proceedings.
const FINANCIAL_REMEDY_AFTER: f64 = 0.35;
/// Share of financial remedy applications that are contested (71% are consent applications
/// decided on paper), and share of contested ones ending in an order.
const CONTESTED: f64 = 0.29;
const CONTESTED_ORDER_MADE: f64 = 0.9;

impl Simulator {
    pub(super) fn matrimonial_case(&mut self, day: i32) {
        let area = self.pick_area();
        let (a, b) = self.couple(day, area);
        let petitioner_first = self.rng.chance(FIRST_PARTNER_PETITIONS);
        let (app, resp) = if petitioner_first { (a, b) } else { (b, a) };
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
        let seq = self.push_case(CaseType::Matrimonial, day, area, &parts, NONE);
        let rng = &mut self.rng;
        let nisi = day + rng.range_i32(NISI_DAYS.0, NISI_DAYS.1);
        let absolute =
            nisi + NISI_TO_ABSOLUTE_MIN_DAYS + rng.exponential(ABSOLUTE_EXTRA_MEAN_DAYS) as i32;
        let withdrawn = rng.chance(WITHDRAWN);
        let years_married = 1 + rng.exponential(YEARS_MARRIED_MEAN) as i32;
        let c = &mut self.world.cases[seq as usize];
        c.first_hearing_after = if rng.chance(HEARD) {
            rng.range_i32(60, 150)
        } else {
            -1
        };
        c.first_disposal = if withdrawn {
            day + rng.range_i32(30, 300)
        } else {
            nisi
        };
        c.end = if withdrawn {
            c.first_disposal
        } else {
            absolute
        };
        c.closed = c.end + rng.range_i32(1, 20);
        c.outcome = if withdrawn {
            Outcome::Withdrawn
        } else {
            Outcome::DecreeAbsolute
        };
        c.marriage_year = year_of(day) - years_married;
        let end = c.end;
        if !withdrawn && self.rng.chance(FINANCIAL_REMEDY_AFTER) {
            self.world.families.push(Family {
                mother: a,
                father: b,
                children: Vec::new(),
                area,
            });
            let family = (self.world.families.len() - 1) as u32;
            let day = day + self.rng.range_i32(60, (end - day).max(61) + 300);
            self.schedule(Scheduled {
                day,
                case_type: CaseType::FinancialRemedy,
                family,
                follows: seq,
                why: Follow::FinancialRemedyAfterDivorce,
                child: NONE,
            });
        }
    }

    pub(super) fn financial_remedy_case(
        &mut self,
        a: u32,
        b: u32,
        day: i32,
        follows: u32,
        area: u16,
        marriage_year: i32,
    ) {
        let parts = [
            Participant {
                person: a,
                role: Role::Applicant,
                relationship: Relationship::None,
            },
            Participant {
                person: b,
                role: Role::Respondent,
                relationship: Relationship::None,
            },
        ];
        let seq = self.push_case(CaseType::FinancialRemedy, day, area, &parts, follows);
        let rng = &mut self.rng;
        // 71% are uncontested consent applications decided on paper.
        let contested = rng.chance(CONTESTED);
        let c = &mut self.world.cases[seq as usize];
        c.subtype = contested as u8;
        if contested {
            c.first_hearing_after = rng.range_i32(70, 120);
            c.end = day + rng.range_i32(250, 500);
            c.outcome = if rng.chance(CONTESTED_ORDER_MADE) {
                Outcome::FinancialOrder
            } else {
                Outcome::Withdrawn
            };
        } else {
            c.end = day + rng.range_i32(20, 120);
            c.outcome = Outcome::ConsentOrder;
        }
        c.first_disposal = c.end;
        c.closed = c.end + rng.range_i32(1, 30);
        c.marriage_year = if marriage_year > 0 {
            marriage_year
        } else {
            year_of(day) - 1 - rng.exponential(YEARS_MARRIED_MEAN) as i32
        };
    }
}
