//! Secondary suppression checked by an auditor that shares no code with `udfs::disclosure`:
//! random small two- and three-way tables of counts, with every margin (`GROUP BY CUBE`), are
//! released through fjq; then scipy's linear programs (tests/interop/audit_oracle.py) work out,
//! from the true values of every published cell, the range each suppressed cell could take. No
//! cell that fails the rules may be pinned: its range must be at least 10% of its value wide,
//! and a small cell's range may not end on its value (a zero's lower bound of 0 is known anyway).
//! Which cells fail is decided here from the true counts (threshold 10, zeros unsafe), not by
//! fjq.

use datafusion::arrow::array::{Array, AsArray};
use fjq_engine::{Engine, EngineConfig};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};

/// xorshift64*: a fixed, printed seed makes every run the same tables.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// A table: its levels per dimension and the count of each interior cell.
struct Generated {
    levels: Vec<usize>,
    counts: HashMap<Vec<usize>, i64>,
}

/// A table in which every level has at least one case (a level with none is not in the data,
/// so no engine can know of it).
fn generate(rng: &mut Rng) -> Generated {
    loop {
        let g = draw(rng);
        let every_level_seen = (0..g.levels.len())
            .all(|d| (0..g.levels[d]).all(|l| g.counts.iter().any(|(k, n)| k[d] == l && *n > 0)));
        if every_level_seen {
            return g;
        }
    }
}

fn draw(rng: &mut Rng) -> Generated {
    let dims = 2 + rng.below(2) as usize;
    let levels: Vec<usize> = (0..dims)
        .map(|_| 2 + rng.below(if dims == 2 { 3 } else { 2 }) as usize)
        .collect();
    let mut counts = HashMap::new();
    let mut key = vec![0; dims];
    loop {
        // Mostly safe cells, with small ones and zeros to protect.
        let n = match rng.below(10) {
            0 => 0,
            1..=2 => 1 + rng.below(9) as i64,
            _ => 10 + rng.below(30) as i64,
        };
        counts.insert(key.clone(), n);
        let mut d = dims;
        loop {
            if d == 0 {
                return Generated { levels, counts };
            }
            d -= 1;
            key[d] += 1;
            if key[d] < levels[d] {
                break;
            }
            key[d] = 0;
        }
    }
}

const NAMES: [&str; 3] = ["a", "b", "c"];

/// The oracle's answer for one cell: the range a suppressed cell can take (no upper bound:
/// None), or None for a published cell.
type Range = Option<(f64, Option<f64>)>;

/// One released table: its levels, and per published row its key (levels, None for a total),
/// its true value and whether the measure was hidden.
struct Released {
    levels: Vec<usize>,
    cells: Vec<(Vec<Option<usize>>, i64, bool)>,
    distinct: bool,
}

fn read_release(
    batches: &[datafusion::arrow::array::RecordBatch],
    dims: usize,
    truth_of: impl Fn(&[Option<usize>]) -> i64,
) -> Vec<(Vec<Option<usize>>, i64, bool)> {
    let mut cells = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            let key: Vec<Option<usize>> = (0..dims)
                .map(|d| {
                    let c = b.column(d).as_string::<i32>();
                    (!c.is_null(r)).then(|| c.value(r)[1..].parse().unwrap())
                })
                .collect();
            let truth = truth_of(&key);
            cells.push((key, truth, b.column(dims).is_null(r)));
        }
    }
    cells
}

fn covers(key: &[Option<usize>], interior: &[usize]) -> bool {
    key.iter()
        .zip(interior)
        .all(|(w, h)| w.is_none_or(|w| w == *h))
}

async fn engine(name: &str) -> Engine {
    let releases = crate::common::scratch(name);
    let _ = std::fs::remove_dir_all(&releases);
    Engine::open(
        crate::common::small_dataset(),
        EngineConfig {
            release_dir: Some(releases),
            ..EngineConfig::default()
        },
    )
    .await
    .unwrap()
}

/// Runs the oracle over the released tables and checks that no cell failing the rules (fewer
/// than 10, zeros included) is published or pinned; returns how many were audited.
fn audit_with_oracle(tables: &[Released]) -> (usize, usize) {
    let input: Vec<Value> = tables
        .iter()
        .map(|t| {
            json!({
                "levels": t.levels,
                "distinct": t.distinct,
                "cells": t.cells.iter().map(|(k, v, s)| json!({"key": k, "value": v, "suppressed": s})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut child = Command::new(crate::differential::python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/interop/audit_oracle.py"
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&input).unwrap().as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let intervals: Vec<Vec<Range>> = serde_json::from_slice(&o.stdout).unwrap();

    let (mut primaries, mut secondaries) = (0, 0);
    for (table, ranges) in tables.iter().zip(&intervals) {
        // Every cell of the cube is in the release, zeros included.
        let expected: usize = table.levels.iter().map(|l| l + 1).product();
        assert_eq!(table.cells.len(), expected);
        for ((key, truth, suppressed), range) in table.cells.iter().zip(ranges) {
            let primary = *truth < 10;
            if primary {
                assert!(*suppressed, "a cell of {truth} was published: {key:?}");
            }
            let Some((low, high)) = range else { continue };
            if !primary {
                secondaries += 1;
                continue;
            }
            primaries += 1;
            let value = *truth as f64;
            let high = high.unwrap_or(f64::INFINITY);
            let width = high - low;
            assert!(
                width > 1e-6 && width + 1e-6 >= 0.1 * value,
                "cell {key:?} = {truth} is pinned to [{low}, {high}] (distinct: {})",
                table.distinct
            );
            let low_pinned = *truth != 0 && (low - value).abs() < 1e-6;
            let high_pinned = (high - value).abs() < 1e-6;
            assert!(
                !low_pinned && !high_pinned,
                "small cell {key:?} = {truth} has its value as a bound: [{low}, {high}] (distinct: {})",
                table.distinct
            );
        }
    }
    (primaries, secondaries)
}

#[tokio::test]
async fn no_suppressed_cell_is_pinned_by_the_published_ones() {
    let seed = 20_261_130u64;
    eprintln!("audit oracle: seed {seed}");
    let mut rng = Rng(seed);
    let engine = engine("audit-oracle-releases").await;
    let mut tables = Vec::new();
    let mut refused = 0;
    for t in 0..24 {
        let g = generate(&mut rng);
        let dims = g.levels.len();
        let names = &NAMES[..dims];
        let rows: Vec<String> = g
            .counts
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| {
                let levels: Vec<String> = k.iter().map(|l| format!("'l{l}'")).collect();
                format!("({}, {n})", levels.join(", "))
            })
            .collect();
        let create = format!(
            "CREATE TABLE t{t} AS SELECT {cols} FROM (VALUES {rows}) AS v({cols}, n) \
             CROSS JOIN (SELECT unnest(range(1, 41)) AS i) g WHERE g.i <= v.n",
            cols = names.join(", "),
            rows = rows.join(", ")
        );
        engine.sql(&create).await.unwrap().collect().await.unwrap();
        let released = match engine
            .release(&format!(
                "SELECT {cols}, count(*) AS n FROM t{t} GROUP BY CUBE({cols})",
                cols = names.join(", ")
            ))
            .await
        {
            Ok(r) => r,
            Err(e) => {
                // fjq may find no pattern that protects a cell: that is a refusal, not a leak.
                assert_eq!(e.kind(), fjq_engine::ErrorKind::Refused, "{e}");
                refused += 1;
                continue;
            }
        };
        let cells = read_release(&released.batches, dims, |key| {
            g.counts
                .iter()
                .filter(|(k, _)| covers(key, k))
                .map(|(_, n)| n)
                .sum()
        });
        tables.push(Released {
            levels: g.levels,
            cells,
            distinct: false,
        });
    }
    let (primaries, secondaries) = audit_with_oracle(&tables);
    eprintln!(
        "audit oracle: {} tables released ({refused} refused), {primaries} cells failing the rules hidden and audited, {secondaries} complements",
        tables.len()
    );
    assert!(tables.len() >= 12, "too few tables released to judge");
    assert!(
        primaries >= 20 && secondaries > 0,
        "too little was suppressed to judge"
    );
}

/// The same audit for counts of distinct persons, where a person can be in several cells and
/// a margin is a union, not a sum: real persons of the dataset are placed in the cells of random
/// tables (one in five placed again in a second cell), and the release counts them through the
/// people table, as a researcher's `count(DISTINCT person_id)` would.
#[tokio::test]
async fn no_suppressed_distinct_person_count_is_pinned_by_the_published_ones() {
    let seed = 20_261_201u64;
    eprintln!("audit oracle (distinct persons): seed {seed}");
    let mut rng = Rng(seed);
    let engine = engine("audit-oracle-distinct-releases").await;
    let pool = crate::common::query(
        &engine,
        "SELECT DISTINCT person_id FROM people ORDER BY 1 LIMIT 4000",
    )
    .await;
    let pool: Vec<String> = pool
        .iter()
        .flat_map(|b| {
            let c = b.column(0).as_string::<i32>();
            (0..c.len())
                .map(|i| c.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let mut tables = Vec::new();
    let mut refused = 0;
    for t in 0..16 {
        let g = generate(&mut rng);
        let dims = g.levels.len();
        let names = &NAMES[..dims];
        // Persons per interior cell: fresh ones, and some already placed in another cell.
        let mut next = 0;
        let mut placed: Vec<usize> = Vec::new();
        let mut members: HashMap<Vec<usize>, Vec<usize>> = HashMap::new();
        let mut keys: Vec<&Vec<usize>> = g.counts.keys().collect();
        keys.sort();
        for key in keys {
            let mut here: Vec<usize> = Vec::new();
            while (here.len() as i64) < g.counts[key] {
                let again = rng.below(5) == 0 && !placed.is_empty();
                let person = if again {
                    placed[rng.below(placed.len() as u64) as usize]
                } else {
                    next += 1;
                    next - 1
                };
                if !here.contains(&person) {
                    here.push(person);
                }
            }
            placed.extend(&here);
            members.insert(key.clone(), here);
        }
        assert!(next <= pool.len(), "the pool of persons is big enough");
        let rows: Vec<String> = members
            .iter()
            .flat_map(|(k, persons)| {
                let levels: Vec<String> = k.iter().map(|l| format!("'l{l}'")).collect();
                let pool = &pool;
                persons
                    .iter()
                    .map(move |p| format!("('{}', {})", pool[*p], levels.join(", ")))
            })
            .collect();
        if rows.is_empty() {
            continue;
        }
        engine
            .sql(&format!(
                "CREATE TABLE m{t} AS SELECT * FROM (VALUES {}) AS v(person_id, {})",
                rows.join(", "),
                names.join(", ")
            ))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let cols: Vec<String> = names.iter().map(|n| format!("m.{n}")).collect();
        let released = match engine
            .release(&format!(
                "SELECT {cols}, count(DISTINCT p.person_id) AS n FROM people p JOIN m{t} m ON p.person_id = m.person_id GROUP BY CUBE({cols})",
                cols = cols.join(", ")
            ))
            .await
        {
            Ok(r) => r,
            Err(e) => {
                assert_eq!(e.kind(), fjq_engine::ErrorKind::Refused, "{e}");
                refused += 1;
                continue;
            }
        };
        let cells = read_release(&released.batches, dims, |key| {
            let mut union: Vec<usize> = members
                .iter()
                .filter(|(k, _)| covers(key, k))
                .flat_map(|(_, p)| p.iter().copied())
                .collect();
            union.sort_unstable();
            union.dedup();
            union.len() as i64
        });
        tables.push(Released {
            levels: g.levels,
            cells,
            distinct: true,
        });
    }
    let (primaries, secondaries) = audit_with_oracle(&tables);
    eprintln!(
        "audit oracle (distinct persons): {} tables released ({refused} refused), {primaries} cells failing the rules hidden and audited, {secondaries} complements",
        tables.len()
    );
    assert!(tables.len() >= 8, "too few tables released to judge");
    assert!(
        primaries >= 15 && secondaries > 0,
        "too little was suppressed to judge"
    );
}
