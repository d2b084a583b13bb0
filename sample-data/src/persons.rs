//! Person-level tables: `persons` (the de-duplicated clusters), the `linkage` spine, and the
//! ground truth `_truth/entries` and `_truth/persons_truth`.

use crate::cafcass::cafcass_person_id;
use crate::court::{FileStats, case_id, person_id, true_person_id};
use crate::geography::AREAS;
use crate::identity::{self, Identities, cafcass_received, in_cafcass_window};
use crate::parquet_out::{TableFile, WriteError, hex_id};
use crate::rng::Rng;
use crate::simulate::{NONE, Sex, World, id_key, id_kind};
use fjq_contract::dataset::COURT_TO;
use fjq_contract::{self as contract, truth};
use std::path::Path;

#[derive(Clone, Copy, Default)]
pub struct ClusterAgg {
    pub first_seen: i32,
    pub n_cases: i32,
}

/// Everything the person-level writers need, computed once.
pub struct PersonIndex {
    /// (person_id key, cluster) for every cluster seen in the court tables, in person_id order.
    pub clusters: Vec<(u64, u32)>,
    pub agg: Vec<ClusterAgg>,
    /// (cafcass_person_id key, record) for every Cafcass person record, in id order.
    pub cafcass_records: Vec<(u64, u32)>,
    /// (true person, start, case key, seq) for every participation, in truth order.
    pub entries: Vec<(u32, i32, u64, u32)>,
}

pub fn index(world: &World, ids: &Identities) -> PersonIndex {
    let n = world.persons.len();
    let mut agg = vec![
        ClusterAgg {
            first_seen: i32::MAX,
            n_cases: 0
        };
        2 * n
    ];
    let mut cafcass_seen = vec![false; 2 * n];
    let mut entries = Vec::with_capacity(world.participants.len());
    for case in &world.cases {
        let observed = case.in_court_window();
        let received = cafcass_received(case.start, case.seq);
        let in_cafcass = case.case_type.is_children_act() && in_cafcass_window(received);
        let key = id_key(world.seed, id_kind::CASE, case.seq as u64);
        for p in case.participants(world) {
            if p.person == NONE {
                continue;
            }
            entries.push((p.person, case.start, key, case.seq));
            if observed {
                let c = &mut agg[ids.court_cluster(p.person, case.start) as usize];
                c.first_seen = c.first_seen.min(case.start);
                c.n_cases += 1;
            }
            if in_cafcass {
                cafcass_seen[ids.cafcass_person(p.person, received) as usize] = true;
            }
        }
    }
    let mut clusters: Vec<(u64, u32)> = (0..2 * n as u32)
        .filter(|&c| agg[c as usize].n_cases > 0)
        .map(|c| (id_key(world.seed, id_kind::PERSON_CLUSTER, c as u64), c))
        .collect();
    clusters.sort_unstable();
    let mut cafcass_records: Vec<(u64, u32)> = (0..2 * n as u32)
        .filter(|&r| cafcass_seen[r as usize])
        .map(|r| (id_key(world.seed, id_kind::CAFCASS_PERSON, r as u64), r))
        .collect();
    cafcass_records.sort_unstable();
    entries.sort_unstable_by_key(|&(person, start, key, _)| (person, start, key));
    PersonIndex {
        clusters,
        agg,
        cafcass_records,
        entries,
    }
}

/// The true person a court cluster is named after.
fn representative(ids: &Identities, cluster: u32) -> u32 {
    cluster % ids.n_persons
}

pub fn write_persons(
    world: &World,
    ids: &Identities,
    index: &PersonIndex,
    out: &Path,
) -> Result<FileStats, WriteError> {
    let mut f = TableFile::create(out, &contract::PERSONS, "part-00000.parquet")?;
    let mut buf = String::with_capacity(24);
    let mut xjs = String::with_capacity(24);
    for &(_, cluster) in &index.clusters {
        let rep = representative(ids, cluster);
        let person = &world.persons[rep as usize];
        let agg = index.agg[cluster as usize];
        let mut rng = Rng::stream(world.seed, 0x9E25, cluster as u64);
        let merged = cluster < ids.n_persons && ids.merged_root[cluster as usize];
        let match_probability = if merged {
            0.55 + 0.35 * rng.f64()
        } else if agg.n_cases > 1 {
            0.93 + 0.07 * rng.f64()
        } else {
            1.0
        };
        let has_xjs = rng.chance(0.65);
        f.str(person_id(&mut buf, world.seed, cluster))
            .str(if person.sex == Sex::Female {
                "female"
            } else {
                "male"
            })
            .opt_i32((!rng.chance(0.02)).then(|| fjq_contract::calendar::year_of(person.birth)))
            .date(agg.first_seen)
            .i32(agg.n_cases)
            .opt_str(
                has_xjs
                    .then(|| hex_id(&mut xjs, "X", id_key(world.seed, id_kind::XJS, rep as u64))),
            )
            .f64(match_probability)
            .end_row()?;
    }
    let (rows, bytes) = f.finish()?;
    Ok(vec![("persons", rows, bytes)])
}

/// Part 0 holds the Cafcass records, part 1 the family court records: `dataset` sorts that way.
pub fn write_linkage(
    world: &World,
    ids: &Identities,
    index: &PersonIndex,
    part: usize,
    out: &Path,
) -> Result<FileStats, WriteError> {
    let mut f = TableFile::create(out, &contract::LINKAGE, &format!("part-{part:05}.parquet"))?;
    let mut buf = String::with_capacity(24);
    let (dataset, records) = if part == 0 {
        ("cafcass", &index.cafcass_records)
    } else {
        ("family_court", &index.clusters)
    };
    for &(_, record) in records.iter() {
        let person = record % ids.n_persons;
        let link = identity::link_outcome(world, part as u64, record, person);
        let source = if part == 0 {
            cafcass_person_id(&mut buf, world.seed, record)
        } else {
            person_id(&mut buf, world.seed, record)
        };
        f.str(dataset)
            .str(source)
            .opt_i64(link.link_id)
            .i32(link.match_status)
            .f64(link.match_probability)
            .end_row()?;
    }
    let (rows, bytes) = f.finish()?;
    Ok(vec![("linkage", rows, bytes)])
}

pub fn write_entries(
    world: &World,
    entries: &[(u32, i32, u64, u32)],
    part: usize,
    out: &Path,
) -> Result<FileStats, WriteError> {
    let mut f = TableFile::create(
        &out.join("_truth"),
        &truth::ENTRIES,
        &format!("part-{part:05}.parquet"),
    )?;
    let mut buf = String::with_capacity(24);
    let mut cid = String::with_capacity(24);
    for &(person, _, _, seq) in entries {
        let case = &world.cases[seq as usize];
        let p = case
            .participants(world)
            .iter()
            .find(|p| p.person == person)
            .expect("entry's participant");
        f.str(true_person_id(&mut buf, person))
            .str(case_id(&mut cid, world.seed, seq))
            .str(case.case_type.name())
            .str(p.role.name())
            .opt_str(p.relationship.name())
            .date(case.start)
            .date(case.end)
            .bool(case.in_court_window() && case.start <= COURT_TO)
            .end_row()?;
    }
    let (rows, bytes) = f.finish()?;
    Ok(vec![("_truth/entries", rows, bytes)])
}

pub fn write_persons_truth(
    world: &World,
    range: std::ops::Range<usize>,
    part: usize,
    out: &Path,
) -> Result<FileStats, WriteError> {
    let mut f = TableFile::create(
        &out.join("_truth"),
        &truth::PERSONS_TRUTH,
        &format!("part-{part:05}.parquet"),
    )?;
    let mut buf = String::with_capacity(24);
    for i in range {
        let person = &world.persons[i];
        f.str(true_person_id(&mut buf, i as u32))
            .str(if person.sex == Sex::Female {
                "female"
            } else {
                "male"
            })
            .date(person.birth)
            .str(AREAS[person.area as usize].region)
            .end_row()?;
    }
    let (rows, bytes) = f.finish()?;
    Ok(vec![("_truth/persons_truth", rows, bytes)])
}
