//! What the systems believe about who is who: the imperfect identifiers of the real data.
//!
//! The family court `person_id` is a de-duplication (Splink) cluster: about 1% of clusters are
//! false merges of two similar people, and about 2% of people who come back are split, their later
//! cases filed under a second id. Cafcass keeps its own persistent person ids with its own
//! duplicates. The linkage spine gives each source record the true person's anonymised linking
//! field when the match succeeds (about 93% in England, 80% in Wales), as SAIL's would.

use crate::rng::Rng;
use crate::simulate::{NONE, World, is_welsh};
use fjq_contract::dataset::{CAFCASS_FROM, CAFCASS_TO};

/// Share of observed court persons merged into a similar person's cluster.
pub const FALSE_MERGE_RATE: f64 = 0.01;
/// Share of court persons with two or more cases whose later cases get a second id.
pub const SPLIT_RATE: f64 = 0.02;
/// Share of Cafcass persons with two or more cases who get a duplicate record.
pub const CAFCASS_DUPLICATE_RATE: f64 = 0.03;

pub struct Identities {
    /// Court cluster of each true person after false merges (the person itself if unmerged).
    pub court_root: Vec<u32>,
    /// First start date from which a person's court appearances carry the split id.
    pub court_split_from: Vec<i32>,
    /// First received date from which a person's Cafcass appearances carry a duplicate id.
    pub cafcass_split_from: Vec<i32>,
    /// Weakest match inside each merged cluster, by root (only meaningful for merged roots).
    pub merged_root: Vec<bool>,
    pub n_persons: u32,
}

impl Identities {
    /// The court cluster index of a person's appearance on a case starting `start`.
    /// Split clusters are numbered after every person.
    #[inline]
    pub fn court_cluster(&self, person: u32, start: i32) -> u32 {
        if start >= self.court_split_from[person as usize] {
            self.n_persons + person
        } else {
            self.court_root[person as usize]
        }
    }

    /// The Cafcass person index of a person's appearance on a case received on `received`.
    #[inline]
    pub fn cafcass_person(&self, person: u32, received: i32) -> u32 {
        if received >= self.cafcass_split_from[person as usize] {
            self.n_persons + person
        } else {
            person
        }
    }
}

/// Cafcass receives a case a few days after issue; the same rule is used by every writer.
pub fn cafcass_received(start: i32, seq: u32) -> i32 {
    start + (seq % 5) as i32
}

pub fn in_cafcass_window(received: i32) -> bool {
    (CAFCASS_FROM..=CAFCASS_TO).contains(&received)
}

pub fn build(world: &World) -> Identities {
    let n = world.persons.len();
    let mut rng = Rng::stream(world.seed, 0x1D, 0);
    // Each person's observed court case starts and Cafcass received dates.
    let mut court_starts: Vec<Vec<i32>> = vec![Vec::new(); n];
    let mut cafcass_dates: Vec<Vec<i32>> = vec![Vec::new(); n];
    for case in &world.cases {
        let observed = case.in_court_window();
        let received = cafcass_received(case.start, case.seq);
        let in_cafcass = case.case_type.is_children_act() && in_cafcass_window(received);
        if !observed && !in_cafcass {
            continue;
        }
        for p in case.participants(world) {
            if p.person == NONE {
                continue;
            }
            if observed {
                court_starts[p.person as usize].push(case.start);
            }
            if in_cafcass {
                cafcass_dates[p.person as usize].push(received);
            }
        }
    }

    // False merges between neighbours in (sex, birth year) order: similar people are the ones
    // a probabilistic linker confuses.
    let mut court_root: Vec<u32> = (0..n as u32).collect();
    let mut merged_root = vec![false; n];
    let mut observed: Vec<u32> = (0..n as u32)
        .filter(|&p| !court_starts[p as usize].is_empty())
        .collect();
    observed.sort_by_key(|&p| {
        let person = &world.persons[p as usize];
        (
            person.sex as u8,
            fjq_contract::calendar::year_of(person.birth),
            p,
        )
    });
    let mut i = 0;
    while i + 1 < observed.len() {
        let (p, q) = (observed[i], observed[i + 1]);
        let (pp, qq) = (&world.persons[p as usize], &world.persons[q as usize]);
        let similar = pp.sex == qq.sex
            && (fjq_contract::calendar::year_of(pp.birth)
                - fjq_contract::calendar::year_of(qq.birth))
            .abs()
                <= 1;
        if similar && rng.chance(FALSE_MERGE_RATE) {
            court_root[q as usize] = p;
            merged_root[p as usize] = true;
            i += 2;
        } else {
            i += 1;
        }
    }

    let mut court_split_from = vec![i32::MAX; n];
    let mut cafcass_split_from = vec![i32::MAX; n];
    for p in 0..n {
        let starts = &mut court_starts[p];
        if starts.len() >= 2 && rng.chance(SPLIT_RATE) {
            starts.sort_unstable();
            let cut = 1 + rng.below(starts.len() as u64 - 1) as usize;
            // Split from that case on, unless same-day siblings make the cut ambiguous.
            if starts[cut] > starts[cut - 1] {
                court_split_from[p] = starts[cut];
            }
        }
        let dates = &mut cafcass_dates[p];
        if dates.len() >= 2 && rng.chance(CAFCASS_DUPLICATE_RATE) {
            dates.sort_unstable();
            let cut = 1 + rng.below(dates.len() as u64 - 1) as usize;
            if dates[cut] > dates[cut - 1] {
                cafcass_split_from[p] = dates[cut];
            }
        }
    }
    Identities {
        court_root,
        court_split_from,
        cafcass_split_from,
        merged_root,
        n_persons: n as u32,
    }
}

/// The linkage outcome of one source record.
pub struct LinkOutcome {
    pub link_id: Option<i64>,
    pub match_status: i32,
    pub match_probability: f64,
}

/// Whether and how a source record of `person` links, drawn from its own stream so that every
/// writer that asks gets the same answer.
pub fn link_outcome(world: &World, dataset: u64, record: u32, person: u32) -> LinkOutcome {
    let mut rng = Rng::stream(world.seed, 0x11A0 + dataset, record as u64);
    let welsh = is_welsh(world.persons[person as usize].area);
    let match_rate = if welsh { 0.80 } else { 0.93 };
    let link = (crate::simulate::id_key(world.seed, crate::simulate::id_kind::LINK, person as u64)
        >> 1) as i64;
    let x = rng.f64();
    if x < match_rate {
        let status = [1, 4, 39][rng.weighted(&[0.72, 0.2, 0.08])];
        LinkOutcome {
            link_id: Some(link),
            match_status: status,
            match_probability: 0.9 + 0.1 * rng.f64(),
        }
    } else if x < match_rate + 0.03 {
        LinkOutcome {
            link_id: Some(link),
            match_status: 35,
            match_probability: 0.5 + 0.4 * rng.f64(),
        }
    } else {
        LinkOutcome {
            link_id: None,
            match_status: 99,
            match_probability: 0.0,
        }
    }
}
