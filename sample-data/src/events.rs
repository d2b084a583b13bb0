//! The FamilyMan events of a planned case: applications, hearings (some vacated and relisted,
//! some out of order), orders and administrative steps, following the Public Law Outline, the
//! Child Arrangements Programme and the paper processes of the other case types.
//!
//! Events are drawn from a stream keyed by the case, so they are the same whichever thread
//! writes them. Keying errors (about 1% of events) are planted as extra rows with `error` set.

use crate::rng::Rng;
use crate::simulate::{CaseType, Outcome, SimCase};
use fjq_contract::dataset::COURT_TO;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    Application,
    Hearing,
    Order,
    DisposalOther,
    Administrative,
}

impl Category {
    pub fn name(self) -> &'static str {
        match self {
            Category::Application => "application",
            Category::Hearing => "hearing",
            Category::Order => "order",
            Category::DisposalOther => "disposal_other",
            Category::Administrative => "administrative",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Event {
    pub day: i32,
    pub code: &'static str,
    pub category: Category,
    pub order_type: Option<&'static str>,
    pub is_final: bool,
    pub disposal: Option<&'static str>,
    pub hearing: Option<&'static str>,
    pub vacated: bool,
    pub error: bool,
    /// Index of the court (0 = the case's main court).
    pub court: u8,
}

impl Event {
    fn new(day: i32, code: &'static str, category: Category) -> Event {
        Event {
            day,
            code,
            category,
            order_type: None,
            is_final: false,
            disposal: None,
            hearing: None,
            vacated: false,
            error: false,
            court: 0,
        }
    }
}

/// Builds a case's events in date order into `out` (cleared first); keeps only what FamilyMan
/// held at the extract date.
pub fn case_events(case: &SimCase, rng: &mut Rng, out: &mut Vec<Event>) {
    out.clear();
    let mut b = Builder {
        out,
        rng,
        start: case.start,
    };
    match case.case_type {
        CaseType::PublicLaw => public_law(case, &mut b),
        CaseType::PrivateLaw => private_law(case, &mut b),
        CaseType::Adoption => adoption(case, &mut b),
        CaseType::Matrimonial => matrimonial(case, &mut b),
        CaseType::FinancialRemedy => financial_remedy(case, &mut b),
        CaseType::DomesticViolence => domestic_violence(case, &mut b),
        CaseType::ForcedMarriage => forced_marriage(case, &mut b),
    }
    b.out
        .push(Event::new(case.closed, "U24", Category::Administrative));
    if case.reopened {
        let day = case.closed + b.rng.range_i32(60, 400);
        b.out.push(Event::new(day, "G62", Category::Administrative));
        b.out.push(Event::new(day, "G50", Category::Application));
        let h = day + b.rng.range_i32(14, 60);
        b.hearing(h, "directions");
        if case.case_type == CaseType::PublicLaw {
            let d = h + b.rng.range_i32(0, 90);
            b.order(d, "C32B", "discharge_of_care_order", true, "order_made");
        } else {
            let d = h + b.rng.range_i32(0, 90);
            b.order(d, "C43", "child_arrangements_order", true, "order_made");
        }
    }
    // Stable by date: events of one day keep the order the process gives them.
    b.out.sort_by_key(|e| e.day);
    b.out.retain(|e| e.day <= COURT_TO);
    let other_court = b.rng.chance(0.05);
    let n = b.out.len();
    for i in 0..n {
        if other_court && i > n / 2 {
            b.out[i].court = 1;
        }
        if b.rng.chance(0.01) {
            // A keying error: the same event keyed again with a wrong date.
            let mut e = b.out[i];
            e.error = true;
            e.day = (e.day + b.rng.range_i32(-30, 30)).clamp(case.start, COURT_TO);
            b.out.push(e);
        }
    }
    b.out.sort_by_key(|e| e.day);
}

struct Builder<'a> {
    out: &'a mut Vec<Event>,
    rng: &'a mut Rng,
    start: i32,
}

impl Builder<'_> {
    fn application(&mut self, code: &'static str) {
        self.out
            .push(Event::new(self.start, code, Category::Application));
    }

    /// A hearing; 8% are vacated and relisted a week or three later (if before `before`).
    fn listed_hearing(&mut self, day: i32, hearing_type: &'static str, before: i32) {
        if self.rng.chance(0.08) && day + 21 < before {
            let mut e = Event::new(day, "C6", Category::Hearing);
            e.hearing = Some(hearing_type);
            e.vacated = true;
            self.out.push(e);
            let relisted = day + self.rng.range_i32(7, 21);
            self.hearing(relisted, hearing_type);
        } else {
            self.hearing(day, hearing_type);
        }
    }

    fn hearing(&mut self, day: i32, hearing_type: &'static str) {
        let code = if self.rng.chance(0.7) { "C6" } else { "G61" };
        let mut e = Event::new(day, code, Category::Hearing);
        e.hearing = Some(hearing_type);
        self.out.push(e);
    }

    fn order(
        &mut self,
        day: i32,
        code: &'static str,
        order_type: &'static str,
        is_final: bool,
        disposal: &'static str,
    ) {
        let mut e = Event::new(day, code, Category::Order);
        e.order_type = Some(order_type);
        e.is_final = is_final;
        e.disposal = Some(disposal);
        self.out.push(e);
    }

    fn disposal_other(&mut self, day: i32, outcome: Outcome) {
        let (code, disposal) = match outcome {
            Outcome::Refused => ("ORDREF", "refused"),
            Outcome::NoOrder => ("ORDNOM", "no_order"),
            _ => ("G63", "withdrawn"),
        };
        let mut e = Event::new(day, code, Category::DisposalOther);
        e.is_final = true;
        e.disposal = Some(disposal);
        self.out.push(e);
    }

    /// `n` further directions hearings spread between two days.
    fn directions(&mut self, n: u64, from: i32, to: i32) {
        if to - from < 2 {
            return;
        }
        for _ in 0..n {
            let day = self.rng.range_i32(from + 1, to - 1);
            self.listed_hearing(day, "directions", to);
        }
    }
}

fn public_law(case: &SimCase, b: &mut Builder) {
    let start = case.start;
    let fd = case.first_disposal;
    b.application("U22");
    let first_hearing = start + case.first_hearing_after;
    if case.subtype == 2 {
        b.hearing(first_hearing, "directions");
        if fd > first_hearing {
            b.hearing(fd, "final_hearing");
        }
        b.order(fd, "C23", "emergency_protection_order", true, "order_made");
        return;
    }
    if case.first_hearing_after <= 3 {
        // An urgent hearing and an interim order in the first days.
        b.hearing(first_hearing, "directions");
        match b.rng.weighted(&[0.75, 0.15, 0.10]) {
            0 => b.order(
                first_hearing,
                "C33",
                "interim_care_order",
                false,
                "interim_order",
            ),
            1 => b.order(
                first_hearing,
                "C35B",
                "interim_supervision_order",
                false,
                "interim_order",
            ),
            _ => {}
        }
        let cmh = start + b.rng.range_i32(12, 18);
        if cmh + 7 < fd {
            b.listed_hearing(cmh, "CMH", fd);
        }
    } else {
        b.hearing(first_hearing, "CMH");
        if b.rng.chance(0.5) {
            b.order(
                first_hearing,
                "C33",
                "interim_care_order",
                false,
                "interim_order",
            );
        }
    }
    let duration = fd - start;
    if b.rng.chance(0.35) && duration > 60 {
        let d = start + b.rng.range_i32(25, 45);
        b.listed_hearing(d, "FCMH", fd);
    }
    if duration > 56 {
        let irh = start + (duration as f64 * (0.70 + 0.1 * b.rng.f64())) as i32;
        b.listed_hearing(irh, "IRH", fd);
        if b.rng.chance(0.15) && fd - irh > 21 {
            // Re-timetabled: the case goes back to case management after the IRH.
            let d = b.rng.range_i32(irh + 7, fd - 7);
            b.listed_hearing(d, "CMH", fd);
        }
    }
    let n = b.rng.poisson(duration as f64 / 7.0 / 12.0);
    b.directions(n, start + 14, fd - 3);
    public_law_disposal(case, b, fd, true);
    if case.end > fd {
        let e = case.end;
        b.order(e, "A70", "placement_order", true, "order_made");
    }
}

fn public_law_disposal(case: &SimCase, b: &mut Builder, day: i32, hearing: bool) {
    let contested = !matches!(case.outcome, Outcome::Withdrawn);
    if hearing && contested {
        let h = day - b.rng.range_i32(0, 2);
        b.hearing(h.max(case.start), "final_hearing");
    }
    match case.outcome {
        Outcome::CareOrder => b.order(day, "C32A", "care_order", true, "order_made"),
        Outcome::PlacementOrder => {
            b.order(day, "C32A", "care_order", true, "order_made");
            b.order(day, "A70", "placement_order", true, "order_made");
        }
        Outcome::SpecialGuardianship => b.order(
            day,
            "C43A",
            "special_guardianship_order",
            true,
            "order_made",
        ),
        Outcome::SupervisionOrder => b.order(day, "C35A", "supervision_order", true, "order_made"),
        Outcome::ChildArrangements => {
            b.order(day, "C43", "child_arrangements_order", true, "order_made")
        }
        other => b.disposal_other(day, other),
    }
}

fn private_law(case: &SimCase, b: &mut Builder) {
    let start = case.start;
    let end = case.end;
    b.application("U22");
    let fhdra = start + case.first_hearing_after;
    b.hearing(fhdra, "FHDRA");
    let duration = end - start;
    if duration > 70 {
        if b.rng.chance(0.15) {
            b.listed_hearing(start + (duration as f64 * 0.4) as i32, "fact_finding", end);
        }
        if b.rng.chance(0.45) {
            b.listed_hearing(start + (duration as f64 * 0.75) as i32, "DRA", end);
        }
        let n = b.rng.poisson(duration as f64 / 7.0 / 15.0);
        b.directions(n, fhdra, end - 3);
    }
    if case.first_disposal < end {
        b.order(
            case.first_disposal,
            "C43",
            "child_arrangements_order",
            true,
            "order_made",
        );
    }
    if case.outcome == Outcome::ChildArrangements {
        if duration > 70 && b.rng.chance(0.5) {
            b.hearing(end, "final_hearing");
        }
        let order_type = [
            "child_arrangements_order",
            "prohibited_steps_order",
            "specific_issue_order",
        ][b.rng.weighted(&[0.85, 0.10, 0.05])];
        b.order(end, "C43", order_type, true, "order_made");
        if b.rng.chance(0.05) {
            b.order(
                end,
                "C45A",
                "parental_responsibility_order",
                true,
                "order_made",
            );
        }
    } else {
        b.disposal_other(end, case.outcome);
    }
}

fn adoption(case: &SimCase, b: &mut Builder) {
    b.application("U21");
    b.hearing(case.start + case.first_hearing_after, "directions");
    if case.outcome == Outcome::AdoptionOrder {
        b.hearing(case.end, "final_hearing");
        b.order(case.end, "A76", "adoption_order", true, "order_made");
    } else {
        b.disposal_other(case.end, Outcome::Withdrawn);
    }
}

fn matrimonial(case: &SimCase, b: &mut Builder) {
    b.application("U22");
    if case.first_hearing_after >= 0 {
        b.hearing(case.start + case.first_hearing_after, "directions");
    }
    if case.outcome == Outcome::Withdrawn {
        b.disposal_other(case.end, Outcome::Withdrawn);
    } else {
        b.order(
            case.first_disposal,
            "D84",
            "decree_nisi",
            false,
            "order_made",
        );
        b.order(case.end, "D36", "decree_absolute", true, "order_made");
    }
}

fn financial_remedy(case: &SimCase, b: &mut Builder) {
    b.application("U22");
    match case.outcome {
        Outcome::ConsentOrder => b.order(case.end, "D81", "consent_order", true, "order_made"),
        outcome => {
            let first = case.start + case.first_hearing_after;
            b.listed_hearing(first, "directions", case.end);
            if case.end - first > 60 {
                b.listed_hearing(first + (case.end - first) / 2, "directions", case.end);
            }
            if outcome == Outcome::FinancialOrder {
                b.hearing(case.end, "final_hearing");
                b.order(case.end, "D81", "financial_order", true, "order_made");
            } else {
                b.disposal_other(case.end, outcome);
            }
        }
    }
}

fn domestic_violence(case: &SimCase, b: &mut Builder) {
    b.application("U22");
    let order_type = if case.subtype == 0 {
        "non_molestation_order"
    } else {
        "occupation_order"
    };
    if case.first_hearing_after == 0 {
        // Without notice: an order the same day, then a return hearing on notice.
        b.hearing(case.start, "directions");
        b.order(case.start, "FL404", order_type, false, "interim_order");
        let ret = case.start + b.rng.range_i32(7, 14);
        if ret < case.end {
            b.hearing(ret, "directions");
        }
    } else {
        b.hearing(case.start + case.first_hearing_after, "directions");
    }
    if case.outcome == Outcome::NonMolestation {
        b.hearing(case.end, "final_hearing");
        b.order(case.end, "FL404", order_type, true, "order_made");
        if b.rng.chance(0.3) {
            b.order(case.end, "FL406", "power_of_arrest", true, "order_made");
        }
    } else {
        b.disposal_other(case.end, case.outcome);
    }
}

fn forced_marriage(case: &SimCase, b: &mut Builder) {
    b.application("U22");
    let first = case.start + case.first_hearing_after;
    b.hearing(first, "directions");
    b.order(
        first,
        "FMPO",
        "forced_marriage_protection_order",
        false,
        "interim_order",
    );
    b.hearing(case.end, "final_hearing");
    b.order(
        case.end,
        "FMPO",
        "forced_marriage_protection_order",
        true,
        "order_made",
    );
}
