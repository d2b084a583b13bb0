//! The population simulation: families who enter and re-enter the family court over time.
//!
//! People come first. Month by month from 2003 (so that the coverage windows open on a
//! population with a history), each case type gets its calibrated monthly volume. Part of that
//! volume is made of cases that earlier cases scheduled: a mother's return to care proceedings,
//! a family's return to private law, a financial remedy after a divorce, an adoption after a
//! placement order, private law after domestic abuse proceedings. The rest are new families.
//! Each case is planned whole here (participants, key dates, outcome); the writers later turn a
//! plan into the rows that FamilyMan and Cafcass would have recorded.
//!
//! Calibration (design/DATA.md, with its sources in research/metrics.md) is named where it is used:
//! the volumes, durations and return rates that the calibration tests check are in
//! [`calibration`]; each family of case (`public_law`, `private_law`, `divorce`, `protection`)
//! names its own shares and delays at the top of its file.

use crate::geography::{AREAS, area_weights};
use fjq_contract::calendar::days_from_civil;
use fjq_contract::dataset::{CAFCASS_TO, COURT_FROM, COURT_TO};

mod calibration;
mod divorce;
mod private_law;
mod protection;
mod public_law;
use crate::rng::{Rng, splitmix64};

pub const NONE: u32 = u32::MAX;

/// First simulated month: early enough that 2007 (Cafcass) and 2011 (court) open on a
/// population that already has a history of cases (left truncation is then real).
pub const SIM_START_YEAR: i32 = 2003;
/// Case types that nothing before 2011 depends on start later, to save work.
const LATE_START_YEAR: i32 = 2010;
pub const SIM_END: i32 = CAFCASS_TO;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum CaseType {
    PublicLaw,
    PrivateLaw,
    Adoption,
    Matrimonial,
    FinancialRemedy,
    DomesticViolence,
    ForcedMarriage,
}

impl CaseType {
    pub const ALL: [CaseType; 7] = [
        CaseType::PublicLaw,
        CaseType::PrivateLaw,
        CaseType::Adoption,
        CaseType::Matrimonial,
        CaseType::FinancialRemedy,
        CaseType::DomesticViolence,
        CaseType::ForcedMarriage,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CaseType::PublicLaw => "public_law",
            CaseType::PrivateLaw => "private_law",
            CaseType::Adoption => "adoption",
            CaseType::Matrimonial => "matrimonial",
            CaseType::FinancialRemedy => "financial_remedy",
            CaseType::DomesticViolence => "domestic_violence",
            CaseType::ForcedMarriage => "forced_marriage",
        }
    }

    /// Children Act cases are the ones Cafcass works on.
    pub fn is_children_act(self) -> bool {
        matches!(self, CaseType::PublicLaw | CaseType::PrivateLaw)
    }

    /// New cases a year in England and Wales at scale 1.0 ([`calibration::yearly_volume`]).
    fn yearly_volume(self, year: i32) -> f64 {
        calibration::yearly_volume(self, year)
    }

    fn sim_start_year(self) -> i32 {
        if self.is_children_act() {
            SIM_START_YEAR
        } else {
            LATE_START_YEAR
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Sex {
    Male,
    Female,
}

/// A true person.
#[derive(Debug, Clone)]
pub struct Person {
    pub sex: Sex,
    pub birth: i32,
    pub area: u16,
    pub la: u8,
    pub imd: u8,
    pub ethnicity: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Role {
    Applicant,
    Respondent,
    Child,
    Other,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Applicant => "applicant",
            Role::Respondent => "respondent",
            Role::Child => "child",
            Role::Other => "other",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Relationship {
    None,
    Mother,
    Father,
    Grandparent,
    OtherRelative,
    LocalAuthority,
    Other,
}

impl Relationship {
    pub fn name(self) -> Option<&'static str> {
        match self {
            Relationship::None => None,
            Relationship::Mother => Some("mother"),
            Relationship::Father => Some("father"),
            Relationship::Grandparent => Some("grandparent"),
            Relationship::OtherRelative => Some("other_relative"),
            Relationship::LocalAuthority => Some("local_authority"),
            Relationship::Other => Some("other"),
        }
    }
}

/// One party to a case. `person` is NONE for a local authority.
#[derive(Debug, Clone, Copy)]
pub struct Participant {
    pub person: u32,
    pub role: Role,
    pub relationship: Relationship,
}

/// How a case ends. Each case type uses its own subset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Outcome {
    CareOrder,
    PlacementOrder,
    SpecialGuardianship,
    SupervisionOrder,
    ChildArrangements,
    Withdrawn,
    NoOrder,
    Refused,
    EmergencyProtection,
    AdoptionOrder,
    DecreeAbsolute,
    ConsentOrder,
    FinancialOrder,
    NonMolestation,
    ForcedMarriageOrder,
}

/// A planned case: everything the writers need to emit its rows.
#[derive(Debug, Clone)]
pub struct SimCase {
    pub seq: u32,
    pub case_type: CaseType,
    pub start: i32,
    pub area: u16,
    pub court: u8,
    /// Range into `World::participants`.
    pub first_participant: u32,
    pub n_participants: u16,
    pub n_children: u8,
    /// Application subtype index (meaning per case type, see `application_type`).
    pub subtype: u8,
    /// Days from start to the first hearing (0 = same day); -1 = no hearing.
    pub first_hearing_after: i32,
    /// Date of the first substantive disposal.
    pub first_disposal: i32,
    /// Date of the disposal that ended the case (>= first_disposal).
    pub end: i32,
    pub closed: i32,
    pub outcome: Outcome,
    pub reopened: bool,
    pub high_court: bool,
    pub marriage_year: i32,
    /// The case this one was scheduled by (a return, a follow-on), or NONE.
    pub follows: u32,
}

impl SimCase {
    pub fn application_type(&self) -> Option<&'static str> {
        match self.case_type {
            CaseType::PublicLaw => {
                Some(["care", "supervision", "emergency_protection"][self.subtype as usize])
            }
            CaseType::Matrimonial => Some("sole"),
            CaseType::FinancialRemedy => Some(["consent", "contested"][self.subtype as usize]),
            CaseType::DomesticViolence => {
                Some(["non_molestation", "occupation"][self.subtype as usize])
            }
            _ => None,
        }
    }

    pub fn participants<'w>(&self, world: &'w World) -> &'w [Participant] {
        let a = self.first_participant as usize;
        &world.participants[a..a + self.n_participants as usize]
    }

    /// Observed in the family court tables: issued inside the court coverage window.
    pub fn in_court_window(&self) -> bool {
        (COURT_FROM..=COURT_TO).contains(&self.start)
    }
}

/// A family: the people a case type's returns and follow-ons draw on.
#[derive(Debug, Clone)]
pub struct Family {
    pub mother: u32,
    pub father: u32,
    pub children: Vec<u32>,
    pub area: u16,
}

/// Why a future case was scheduled.
#[derive(Debug, Clone, Copy)]
enum Follow {
    /// The mother returns to care proceedings.
    PublicLawReturn,
    /// The family's children come back into care proceedings from private law.
    PublicLawFromPrivate,
    PrivateLawReturn,
    /// Relatives apply for child arrangements after care proceedings.
    PrivateLawFromPublic,
    PrivateLawFromAbuse,
    FinancialRemedyAfterDivorce,
    AdoptionAfterPlacement,
}

#[derive(Debug, Clone, Copy)]
struct Scheduled {
    day: i32,
    case_type: CaseType,
    family: u32,
    follows: u32,
    why: Follow,
    /// The child an adoption is about.
    child: u32,
}

/// The simulated world: true persons, families and planned cases.
pub struct World {
    pub seed: u64,
    pub scale: f64,
    pub persons: Vec<Person>,
    pub families: Vec<Family>,
    pub cases: Vec<SimCase>,
    pub participants: Vec<Participant>,
}

struct Simulator {
    world: World,
    rng: Rng,
    area_weights: Vec<f64>,
    pending: Vec<Vec<Scheduled>>,
}

/// Month index counted from January of SIM_START_YEAR.
fn month_index(day: i32) -> i32 {
    let (y, m, _) = fjq_contract::calendar::civil_from_days(day);
    (y - SIM_START_YEAR) * 12 + m as i32 - 1
}

fn month_start(index: i32) -> i32 {
    days_from_civil(SIM_START_YEAR + index / 12, (index % 12) as u32 + 1, 1)
}

pub fn simulate(seed: u64, scale: f64) -> World {
    let n_months = month_index(SIM_END) + 1;
    let mut sim = Simulator {
        world: World {
            seed,
            scale,
            persons: Vec::new(),
            families: Vec::new(),
            cases: Vec::new(),
            participants: Vec::new(),
        },
        rng: Rng::stream(seed, 0x5EED, 0),
        area_weights: area_weights(),
        pending: vec![Vec::new(); n_months as usize],
    };
    for m in 0..n_months {
        sim.month(m);
    }
    sim.world
}

impl Simulator {
    fn month(&mut self, m: i32) {
        let from = month_start(m);
        let to = month_start(m + 1).min(SIM_END + 1);
        let year = SIM_START_YEAR + m / 12;
        let mut due = std::mem::take(&mut self.pending[m as usize]);
        due.sort_by_key(|s| (s.day, s.case_type, s.follows));
        for case_type in CaseType::ALL {
            if year < case_type.sim_start_year() {
                continue;
            }
            let month_days = (to - from) as f64;
            let target = case_type.yearly_volume(year) * self.world.scale * month_days / 365.25;
            let total = self.rng.poisson(target) as usize;
            let mut made = 0;
            for s in due.iter().filter(|s| s.case_type == case_type) {
                self.follow_on(*s);
                made += 1;
            }
            for _ in made..total {
                let day = self.rng.range_i32(from, to - 1);
                self.new_family_case(case_type, day);
            }
        }
    }

    fn schedule(&mut self, s: Scheduled) {
        if s.day > SIM_END {
            return;
        }
        let m = month_index(s.day) as usize;
        if m < self.pending.len() {
            self.pending[m].push(s);
        }
    }

    // ---- people ----

    fn new_person(&mut self, sex: Sex, birth: i32, area: u16) -> u32 {
        let rng = &mut self.rng;
        let la = rng.below(crate::geography::LAS_PER_AREA as u64) as u8;
        // Families in care proceedings live mostly in the most deprived areas.
        let imd = rng.weighted(&[0.36, 0.24, 0.17, 0.13, 0.10]) as u8 + 1;
        let ethnicity = rng.weighted(&[0.74, 0.08, 0.08, 0.05, 0.03, 0.02]) as u8;
        self.world.persons.push(Person {
            sex,
            birth,
            area,
            la,
            imd,
            ethnicity,
        });
        (self.world.persons.len() - 1) as u32
    }

    fn random_sex(&mut self) -> Sex {
        if self.rng.chance(0.5) {
            Sex::Male
        } else {
            Sex::Female
        }
    }

    fn birth_for_age(&mut self, day: i32, age_years: f64) -> i32 {
        day - (age_years * 365.25) as i32 - self.rng.range_i32(0, 364)
    }

    fn pick_area(&mut self) -> u16 {
        self.rng.weighted(&self.area_weights) as u16
    }

    /// `n` children whose youngest is `youngest_age` years old, spaced one to three years.
    fn children(&mut self, n: usize, day: i32, youngest_age: f64, area: u16) -> Vec<u32> {
        let mut out = Vec::with_capacity(n);
        let mut age = youngest_age;
        for i in 0..n {
            if i > 0 {
                age += 1.0 + self.rng.f64() * 2.0;
            }
            let sex = self.random_sex();
            let birth = if age < 1.0 {
                day - (age * 365.25) as i32
            } else {
                self.birth_for_age(day, age.floor())
            };
            out.push(self.new_person(sex, birth.min(day), area));
        }
        out
    }

    fn child_count(&mut self) -> usize {
        // About 1.6 children per case (Cafcass: 1.64 per public law case).
        1 + self.rng.weighted(&[0.58, 0.25, 0.10, 0.05, 0.02])
    }

    // ---- cases ----

    fn push_case(
        &mut self,
        case_type: CaseType,
        start: i32,
        area: u16,
        parts: &[Participant],
        follows: u32,
    ) -> u32 {
        let seq = self.world.cases.len() as u32;
        let first_participant = self.world.participants.len() as u32;
        self.world.participants.extend_from_slice(parts);
        let n_children = parts.iter().filter(|p| p.role == Role::Child).count() as u8;
        let court = if self.rng.chance(0.75) { 0 } else { 1 };
        self.world.cases.push(SimCase {
            seq,
            case_type,
            start,
            area,
            court,
            first_participant,
            n_participants: parts.len() as u16,
            n_children,
            subtype: 0,
            first_hearing_after: -1,
            first_disposal: start,
            end: start,
            closed: start,
            outcome: Outcome::Withdrawn,
            reopened: false,
            high_court: false,
            marriage_year: 0,
            follows,
        });
        seq
    }

    fn new_family_case(&mut self, case_type: CaseType, day: i32) {
        match case_type {
            CaseType::PublicLaw => {
                let family = self.new_public_law_family(day);
                self.public_law_case(family, day, NONE, None);
            }
            CaseType::PrivateLaw => {
                let family = self.new_private_law_family(day);
                self.private_law_case(family, day, NONE);
            }
            CaseType::Adoption => {
                // Step-parent and other adoptions outside care proceedings.
                let area = self.pick_area();
                let age = 3.0 + self.rng.f64() * 12.0;
                let child = self.children(1, day, age, area)[0];
                self.adoption_case(child, day, NONE, area);
            }
            CaseType::Matrimonial => self.matrimonial_case(day),
            CaseType::FinancialRemedy => {
                let area = self.pick_area();
                let (a, b) = self.couple(day, area);
                self.financial_remedy_case(a, b, day, NONE, area, 0);
            }
            CaseType::DomesticViolence => self.domestic_violence_case(day),
            CaseType::ForcedMarriage => self.forced_marriage_case(day),
        }
    }

    fn follow_on(&mut self, s: Scheduled) {
        match s.why {
            Follow::PublicLawReturn | Follow::PublicLawFromPrivate => {
                self.public_law_case(s.family, s.day, s.follows, Some(s.why))
            }
            Follow::PrivateLawReturn
            | Follow::PrivateLawFromPublic
            | Follow::PrivateLawFromAbuse => self.private_law_case(s.family, s.day, s.follows),
            Follow::FinancialRemedyAfterDivorce => {
                let f = self.world.families[s.family as usize].clone();
                let marriage_year = self.world.cases[s.follows as usize].marriage_year;
                self.financial_remedy_case(
                    f.mother,
                    f.father,
                    s.day,
                    s.follows,
                    f.area,
                    marriage_year,
                );
            }
            Follow::AdoptionAfterPlacement => {
                let area = self.world.families[s.family as usize].area;
                self.adoption_case(s.child, s.day, s.follows, area);
            }
        }
    }

    fn couple(&mut self, day: i32, area: u16) -> (u32, u32) {
        let age = 28.0 + self.rng.f64() * 25.0;
        let a_birth = self.birth_for_age(day, age.floor());
        let a = self.new_person(Sex::Female, a_birth, area);
        let b_age = (age + 2.0 + 3.0 * self.rng.normal()).max(18.0);
        let b_birth = self.birth_for_age(day, b_age.floor());
        // About 2% of couples are same-sex.
        let b_sex = if self.rng.chance(0.02) {
            Sex::Female
        } else {
            Sex::Male
        };
        let b = self.new_person(b_sex, b_birth, area);
        (a, b)
    }
}

/// The 64-bit key behind a generated identifier. `splitmix64` is a bijection, so distinct
/// (seed, kind, index) give distinct keys for a given seed and kind.
pub fn id_key(seed: u64, kind: u64, index: u64) -> u64 {
    splitmix64(index ^ crate::rng::mix(seed, kind, 0))
}

pub mod id_kind {
    pub const CASE: u64 = 1;
    pub const PERSON_CLUSTER: u64 = 2;
    pub const CAFCASS_CASE: u64 = 3;
    pub const CAFCASS_PERSON: u64 = 4;
    pub const LINK: u64 = 5;
    pub const XJS: u64 = 6;
}

/// Is a person Welsh (for match rates and Cafcass Cymru)?
pub fn is_welsh(area: u16) -> bool {
    AREAS[area as usize].wales
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_round_trip() {
        assert_eq!(month_start(0), days_from_civil(2003, 1, 1));
        assert_eq!(month_index(days_from_civil(2011, 1, 31)), 96);
        assert_eq!(month_start(96), days_from_civil(2011, 1, 1));
    }
}
