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
//! Calibration (design/DATA.md) lives in the constants and functions at the top of this file.

use fjq_contract::calendar::{age_on, days_from_civil, year_of};
use fjq_contract::dataset::{CAFCASS_TO, COURT_FROM, COURT_TO};
use crate::geography::{AREAS, area_weights};
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

    /// New cases a year in England and Wales at scale 1.0 (design/DATA.md, research/metrics.md).
    fn yearly_volume(self, year: i32) -> f64 {
        match self {
            CaseType::PublicLaw => match year {
                ..=2007 => 7_500.0,
                2008 => 8_500.0,
                2009 => 10_000.0,
                2010 => 10_800.0,
                2011 => 11_000.0,
                2012 => 12_600.0,
                2013 => 12_000.0,
                2014 => 13_500.0,
                2015 => 15_500.0,
                2016 => 18_500.0,
                2017 => 19_000.0,
                2018 => 19_000.0,
                2019 => 17_800.0,
                _ => 17_000.0,
            },
            // LASPO (April 2013) took legal aid away from most private law and volume fell.
            CaseType::PrivateLaw => match year {
                ..=2012 => 56_000.0,
                2013 => 52_000.0,
                2014 => 42_000.0,
                2015 => 44_000.0,
                2016 => 47_000.0,
                2017 => 51_000.0,
                2018 => 54_000.0,
                _ => 56_000.0,
            },
            CaseType::Adoption => 5_600.0,
            CaseType::Matrimonial => 112_000.0,
            CaseType::FinancialRemedy => 42_000.0,
            CaseType::DomesticViolence => 31_000.0,
            CaseType::ForcedMarriage => 250.0,
        }
    }

    fn sim_start_year(self) -> i32 {
        if self.is_children_act() {
            SIM_START_YEAR
        } else {
            LATE_START_YEAR
        }
    }
}

/// Mean weeks from issue to first disposal of care proceedings, by year of disposal (FCSQ).
fn care_weeks_by_disposal_year(year: f64) -> f64 {
    const POINTS: &[(f64, f64)] = &[
        (2006.5, 45.0),
        (2009.5, 52.0),
        (2011.5, 56.0),
        (2012.5, 48.0),
        (2013.5, 37.0),
        (2014.5, 30.0),
        (2015.5, 28.3),
        (2016.5, 26.9),
        (2017.5, 28.0),
        (2018.5, 30.0),
        (2019.5, 33.0),
        (2020.5, 39.0),
        (2021.5, 45.0),
    ];
    interpolate(POINTS, year)
}

/// Mean weeks from issue to final order of private law cases, by year of disposal (FCSQ).
fn private_weeks_by_disposal_year(year: f64) -> f64 {
    const POINTS: &[(f64, f64)] = &[
        (2010.5, 26.0),
        (2013.5, 28.0),
        (2014.5, 31.0),
        (2016.5, 21.0),
        (2017.5, 23.0),
        (2018.5, 26.0),
        (2020.0, 30.0),
        (2020.75, 33.0),
        (2021.5, 41.0),
    ];
    interpolate(POINTS, year)
}

fn interpolate(points: &[(f64, f64)], x: f64) -> f64 {
    if x <= points[0].0 {
        return points[0].1;
    }
    for w in points.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        if x <= x1 {
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0);
        }
    }
    points[points.len() - 1].1
}

fn fractional_year(day: i32) -> f64 {
    1970.0 + day as f64 / 365.2425
}

/// A mother's chance of coming back in a new s31 case, by her age at this case: about 1 in 4
/// overall, 1 in 3 for the youngest (research/metrics.md 1.2, 7.7).
fn public_law_return_probability(mother_age: i32) -> f64 {
    match mother_age {
        ..=19 => 0.34,
        20..=24 => 0.28,
        25..=29 => 0.23,
        _ => 0.175,
    }
}

/// Chance that a private law family comes back with a later application.
const PRIVATE_LAW_RETURN: f64 = 0.31;
/// Mean years from the end of a private law case to the return (63% within two years).
const PRIVATE_LAW_RETURN_MEAN_YEARS: f64 = 2.0;

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
    start_month: i32,
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
        start_month: 0,
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
        let _ = self.start_month;
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

    fn new_public_law_family(&mut self, day: i32) -> u32 {
        let area = self.pick_area();
        // 19% of mothers are 14-19 at their first care proceedings, half are 24 or under.
        let age_band = self.rng.weighted(&[0.19, 0.31, 0.22, 0.15, 0.13]);
        let (lo, hi) = [
            (16.0, 19.0),
            (20.0, 24.0),
            (25.0, 29.0),
            (30.0, 34.0),
            (35.0, 44.0),
        ][age_band];
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
        let youngest = match self.rng.weighted(&[0.14, 0.20, 0.30, 0.22, 0.14]) {
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

    fn new_private_law_family(&mut self, day: i32) -> u32 {
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

    /// Care proceedings for a family (a new family's first, or a return).
    fn public_law_case(&mut self, family: u32, day: i32, follows: u32, why: Option<Follow>) {
        let f = self.world.families[family as usize].clone();
        let mut children = Vec::new();
        match why {
            Some(Follow::PublicLawReturn) => {
                // About 60% of returns concern a newborn, born during or after the last case.
                if self.rng.chance(0.62) {
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
        if self.rng.chance(0.78) {
            parts.push(Participant {
                person: f.father,
                role: Role::Respondent,
                relationship: Relationship::Father,
            });
        }
        if self.rng.chance(0.12) {
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
        let subtype = rng.weighted(&[0.88, 0.05, 0.07]) as u8;
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
            let weeks = rng.lognormal_mean(mean, 0.38).max(3.0);
            let outcome = [
                Outcome::CareOrder,
                Outcome::PlacementOrder,
                Outcome::SpecialGuardianship,
                Outcome::SupervisionOrder,
                Outcome::ChildArrangements,
                Outcome::Withdrawn,
                Outcome::NoOrder,
            ][rng.weighted(&[0.50, 0.11, 0.16, 0.12, 0.05, 0.04, 0.02])];
            let first_hearing = if rng.chance(0.7) {
                rng.range_i32(0, 3)
            } else {
                rng.range_i32(12, 18)
            };
            (first_hearing, day + (weeks * 7.0) as i32, outcome)
        };
        let end = if rng.chance(0.15) {
            first_disposal + rng.range_i32(14, 140)
        } else {
            first_disposal
        };
        let closed = end + rng.range_i32(5, 60);
        let reopened = rng.chance(0.03);
        let high_court = rng.chance(0.02);
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
            let gap = (self.rng.lognormal_mean(700.0, 0.6) as i32).max(180);
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
        ) && self.rng.chance(0.12)
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

    fn private_law_case(&mut self, family: u32, day: i32, follows: u32) {
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
        let (applicant, respondent, app_rel, resp_rel) =
            match self.rng.weighted(&[0.58, 0.36, 0.06]) {
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
        let weeks = rng.lognormal_mean(mean, 0.6).max(2.0);
        let end = day + (weeks * 7.0) as i32;
        let first_disposal = if rng.chance(0.1) {
            day + (weeks * 7.0 * 0.6) as i32
        } else {
            end
        };
        let outcome = [
            Outcome::ChildArrangements,
            Outcome::Withdrawn,
            Outcome::Refused,
            Outcome::NoOrder,
        ][rng.weighted(&[0.72, 0.16, 0.04, 0.08])];
        let first_hearing = rng.range_i32(28, 56).min(end - day);
        let closed = end + rng.range_i32(3, 45);
        let c = &mut self.world.cases[seq as usize];
        c.first_hearing_after = first_hearing;
        c.first_disposal = first_disposal;
        c.end = end;
        c.closed = closed;
        c.outcome = outcome;
        c.reopened = rng.chance(0.02);
        c.high_court = rng.chance(0.005);
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
        if self.rng.chance(0.03) {
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

    fn adoption_case(&mut self, child: u32, day: i32, follows: u32, area: u16) {
        let adopters = if self.rng.chance(0.6) { 2 } else { 1 };
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
        let weeks = rng.lognormal_mean(24.0, 0.4);
        let end = day + (weeks * 7.0) as i32;
        let c = &mut self.world.cases[seq as usize];
        c.first_hearing_after = rng.range_i32(21, 60).min(end - day);
        c.first_disposal = end;
        c.end = end;
        c.closed = end + rng.range_i32(3, 30);
        c.outcome = if rng.chance(0.95) {
            Outcome::AdoptionOrder
        } else {
            Outcome::Withdrawn
        };
    }

    fn matrimonial_case(&mut self, day: i32) {
        let area = self.pick_area();
        let (a, b) = self.couple(day, area);
        let petitioner_first = self.rng.chance(0.62);
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
        let nisi = day + rng.range_i32(90, 220);
        let absolute = nisi + 43 + rng.exponential(90.0) as i32;
        let withdrawn = rng.chance(0.08);
        let years_married = 1 + rng.exponential(11.0) as i32;
        let c = &mut self.world.cases[seq as usize];
        c.first_hearing_after = if rng.chance(0.04) {
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
        let marriage_year = c.marriage_year;
        if !withdrawn && self.rng.chance(0.35) {
            self.world.families.push(Family {
                mother: a,
                father: b,
                children: Vec::new(),
                area,
            });
            let family = (self.world.families.len() - 1) as u32;
            let _ = marriage_year;
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

    fn financial_remedy_case(
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
        let contested = rng.chance(0.29);
        let c = &mut self.world.cases[seq as usize];
        c.subtype = contested as u8;
        if contested {
            c.first_hearing_after = rng.range_i32(70, 120);
            c.end = day + rng.range_i32(250, 500);
            c.outcome = if rng.chance(0.9) {
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
            year_of(day) - 1 - rng.exponential(11.0) as i32
        };
    }

    fn domestic_violence_case(&mut self, day: i32) {
        let area = self.pick_area();
        let (victim, other) = self.couple(day, area);
        let (app, resp) = if self.rng.chance(0.86) {
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
        c.subtype = if rng.chance(0.82) { 0 } else { 1 };
        c.first_hearing_after = if rng.chance(0.4) {
            0
        } else {
            rng.range_i32(7, 21)
        };
        c.end = day + rng.range_i32(14, 90);
        c.first_disposal = c.end;
        c.closed = c.end + rng.range_i32(1, 20);
        c.outcome = [
            Outcome::NonMolestation,
            Outcome::Withdrawn,
            Outcome::Refused,
        ][rng.weighted(&[0.8, 0.15, 0.05])];
        if self.rng.chance(0.10) {
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

    fn forced_marriage_case(&mut self, day: i32) {
        let area = self.pick_area();
        let sex = if self.rng.chance(0.8) {
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
    fn interpolation_hits_the_points_and_clamps() {
        assert_eq!(care_weeks_by_disposal_year(2016.5), 26.9);
        assert_eq!(care_weeks_by_disposal_year(1990.0), 45.0);
        assert_eq!(care_weeks_by_disposal_year(2030.0), 45.0);
        let mid = care_weeks_by_disposal_year(2016.0);
        assert!((mid - (28.3 + 26.9) / 2.0).abs() < 1e-9);
    }

    #[test]
    fn months_round_trip() {
        assert_eq!(month_start(0), days_from_civil(2003, 1, 1));
        assert_eq!(month_index(days_from_civil(2011, 1, 31)), 96);
        assert_eq!(month_start(96), days_from_civil(2011, 1, 1));
    }
}
