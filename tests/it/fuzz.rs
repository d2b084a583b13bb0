//! Fuzzing (issue 8), property-based with proptest: whatever the input, fjq answers or says
//! what is wrong. It never panics and never hangs.
//!
//! - **Domain functions.** The target is generated tables: NULLs, no rows at all, extreme and
//!   unsorted dates, dictionary-encoded and plain strings, unknown codes, negative, zero and
//!   huge numbers, NaN and infinities, the rows split into many small batches. Every fjq
//!   function is called on them through SQL, as a researcher calls it, so argument coercion is
//!   fuzzed too.
//! - **SQL text.** The statements are the seed corpus (`tests/fuzz/corpus/*.sql`: the README's
//!   and the benchmark's queries, domain-function calls, bypass attempts), mutated token by
//!   token, plus statements built from a small grammar of fjq's tables, columns, functions and
//!   odd literals. They run against a generated dataset under the open policy and under the
//!   safe one. Under `safe` nothing may appear outside the release directory.
//!
//! A statement still running at its deadline is cancelled, and the engine must then answer a
//! simple query. An error saying a task panicked counts as a panic. Failing
//! inputs are shrunk and kept in `tests/fuzz/regressions/` (replayed first on every run). CI runs
//! `FJQ_FUZZ_CASES` tables (default 64) and four times as many statements, from a fixed seed;
//! long runs draw a random one. Either is printed (`FJQ_FUZZ_SEED` repeats a run). The long
//! runs are described in the README.

use crate::common;
use datafusion::arrow::array::{
    ArrayRef, Date32Array, DictionaryArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Int32Type, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use fjq_engine::{Engine, EngineConfig, Policy};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, RngSeed, TestRunner};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Past this a statement is cancelled. Some fuzzed statements are legitimately slow (a cross
/// join of two tables is millions of rows even here), so a timeout is not a failure by itself;
/// a hang is an engine that does not answer a simple query after the cancellation.
const DEADLINE: Duration = Duration::from_secs(20);
const LIVENESS: Duration = Duration::from_secs(10);

fn cases() -> u32 {
    std::env::var("FJQ_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

/// The seed the cases are drawn from: `FJQ_FUZZ_SEED` if given; otherwise fixed for the
/// suite (so CI runs the same cases every time, and a failure there reproduces), and random for
/// a long run (`FJQ_FUZZ_CASES` set), to explore. Printed either way, so that any run can be
/// repeated with `FJQ_FUZZ_SEED`.
fn seed(target: &str) -> u64 {
    const SUITE_SEED: u64 = 20_261_130;
    let seed = match std::env::var("FJQ_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        Some(seed) => seed,
        None if std::env::var_os("FJQ_FUZZ_CASES").is_some() => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(SUITE_SEED),
        None => SUITE_SEED,
    };
    eprintln!("fuzz {target}: seed {seed} (repeat with FJQ_FUZZ_SEED={seed})");
    seed
}

fn config(target: &str, regressions: &'static str) -> Config {
    Config {
        cases: cases(),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions))),
        rng_seed: RngSeed::Fixed(seed(target)),
        // Shrinking re-runs whole SQL statements; bound it.
        max_shrink_iters: 512,
        ..Config::default()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// What running one statement came to. A panic anywhere fails the property.
enum Outcome {
    Answered,
    Refused,
    /// Cancelled at the deadline; the caller checks the engine still answers.
    Slow,
}

/// Runs a statement to its end, dropping the batches (a large result is not kept).
async fn drain(df: datafusion::dataframe::DataFrame) -> Result<(), String> {
    use futures::StreamExt;
    let mut stream = df.execute_stream().await.map_err(|e| e.to_string())?;
    while let Some(batch) = stream.next().await {
        batch.map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn judge(sql: &str, result: Result<Result<(), String>, tokio::time::error::Elapsed>) -> Outcome {
    match result {
        Err(_) => Outcome::Slow,
        Ok(Ok(())) => Outcome::Answered,
        Ok(Err(message)) => {
            assert!(
                !message.contains("panicked"),
                "a task panicked on:\n{sql}\n{message}"
            );
            assert!(!message.trim().is_empty(), "an empty error for:\n{sql}");
            if std::env::var("FJQ_FUZZ_SHOW").is_ok() {
                eprintln!("--- {sql}\n=> {message}");
            }
            Outcome::Refused
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Domain functions over generated tables
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Row {
    case: Option<u8>,
    person: Option<u8>,
    date: Option<i32>,
    other_date: Option<i32>,
    code: Option<String>,
    hearing: Option<String>,
    case_type: Option<String>,
    number: Option<i64>,
    value: Option<f64>,
}

#[derive(Debug, Clone)]
struct Table {
    rows: Vec<Row>,
    dictionary: bool,
    batch_rows: usize,
}

fn date() -> impl Strategy<Value = Option<i32>> {
    prop::option::weighted(
        0.85,
        prop_oneof![
            4 => 14_000i32..19_000, // 2008 to 2022, where the data lives
            1 => Just(i32::MIN),
            1 => Just(i32::MAX),
            1 => Just(0),
            1 => Just(-719_162), // 0001-01-01
            1 => Just(2_932_896), // 9999-12-31
            1 => any::<i32>(),
        ],
    )
}

fn text(vocabulary: &'static [&'static str]) -> impl Strategy<Value = Option<String>> {
    prop::option::weighted(
        0.85,
        prop_oneof![
            4 => prop::sample::select(vocabulary).prop_map(str::to_string),
            1 => "[ -~]{0,8}",
            1 => Just(String::new()),
            1 => "\\PC{0,4}",
        ],
    )
}

const CODES: &[&str] = &[
    "U22", "U21", "C6", "G61", "G62", "G63", "U24", "C23", "C32A", "C43", "C45A", "ORDREF",
    "ORDNOM", "A70",
];
const HEARINGS: &[&str] = &[
    "CMH",
    "FCMH",
    "IRH",
    "FHDRA",
    "DRA",
    "fact_finding",
    "final_hearing",
];
const CASE_TYPES: &[&str] = &["public_law", "private_law", "matrimonial", "adoption"];

fn row() -> impl Strategy<Value = Row> {
    (
        prop::option::weighted(0.9, 0u8..4),
        prop::option::weighted(0.9, 0u8..5),
        date(),
        date(),
        text(CODES),
        text(HEARINGS),
        text(CASE_TYPES),
        prop::option::weighted(
            0.85,
            prop_oneof![
                4 => -3i64..4000,
                1 => Just(i64::MIN),
                1 => Just(i64::MAX),
                1 => any::<i64>(),
            ],
        ),
        prop::option::weighted(
            0.85,
            prop_oneof![
                4 => -10.0f64..1e6,
                1 => Just(f64::NAN),
                1 => Just(f64::INFINITY),
                1 => Just(f64::NEG_INFINITY),
                1 => Just(0.0),
                1 => any::<f64>(),
            ],
        ),
    )
        .prop_map(
            |(case, person, date, other_date, code, hearing, case_type, number, value)| Row {
                case,
                person,
                date,
                other_date,
                code,
                hearing,
                case_type,
                number,
                value,
            },
        )
}

fn table() -> impl Strategy<Value = Table> {
    (
        prop::collection::vec(row(), 0..40),
        any::<bool>(),
        1usize..9,
    )
        .prop_map(|(rows, dictionary, batch_rows)| Table {
            rows,
            dictionary,
            batch_rows,
        })
}

fn strings(values: Vec<Option<String>>, dictionary: bool) -> ArrayRef {
    if dictionary {
        Arc::new(
            values
                .iter()
                .map(|v| v.as_deref())
                .collect::<DictionaryArray<Int32Type>>(),
        )
    } else {
        Arc::new(StringArray::from(values))
    }
}

fn register(ctx: &SessionContext, t: &Table) {
    let text_type = if t.dictionary {
        DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
    } else {
        DataType::Utf8
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("case_id", text_type.clone(), true),
        Field::new("person_id", text_type.clone(), true),
        Field::new("d", DataType::Date32, true),
        Field::new("d2", DataType::Date32, true),
        Field::new("code", text_type.clone(), true),
        Field::new("hearing", text_type.clone(), true),
        Field::new("case_type", text_type, true),
        Field::new("n", DataType::Int64, true),
        Field::new("v", DataType::Float64, true),
    ]));
    let mut batches = Vec::new();
    for chunk in t.rows.chunks(t.batch_rows) {
        let r = chunk;
        let columns: Vec<ArrayRef> = vec![
            strings(
                r.iter().map(|x| x.case.map(|c| format!("C{c}"))).collect(),
                t.dictionary,
            ),
            strings(
                r.iter()
                    .map(|x| x.person.map(|p| format!("P{p}")))
                    .collect(),
                t.dictionary,
            ),
            Arc::new(Date32Array::from(
                r.iter().map(|x| x.date).collect::<Vec<_>>(),
            )),
            Arc::new(Date32Array::from(
                r.iter().map(|x| x.other_date).collect::<Vec<_>>(),
            )),
            strings(r.iter().map(|x| x.code.clone()).collect(), t.dictionary),
            strings(r.iter().map(|x| x.hearing.clone()).collect(), t.dictionary),
            strings(
                r.iter().map(|x| x.case_type.clone()).collect(),
                t.dictionary,
            ),
            Arc::new(Int64Array::from(
                r.iter().map(|x| x.number).collect::<Vec<_>>(),
            )),
            Arc::new(Float64Array::from(
                r.iter().map(|x| x.value).collect::<Vec<_>>(),
            )),
        ];
        batches.push(RecordBatch::try_new(Arc::clone(&schema), columns).expect("a batch"));
    }
    // Two partitions, one of them sometimes empty, as scans deliver them.
    let half = batches.len() / 2;
    let second = batches.split_off(half);
    let table = MemTable::try_new(schema, vec![batches, second]).expect("a table");
    ctx.deregister_table("t").expect("deregister");
    ctx.register_table("t", Arc::new(table)).expect("register");
}

/// Every fjq function, with arguments taken from the generated columns.
const FUNCTION_CALLS: &[&str] = &[
    "SELECT pathway_stage(case_type, code, hearing), pathway_stage(case_type, code, hearing, hearing) FROM t",
    "SELECT case_id, case_pathway(pathway_stage(case_type, code, hearing), d), case_pathway(pathway_stage(case_type, code, hearing), d, 'furthest'),
            case_pathway_detail(pathway_stage(case_type, code, hearing), d) FROM t GROUP BY case_id",
    "SELECT case_pathway(code, d, hearing) FROM t",
    "SELECT person_id, person_pathway(case_type, d) FROM t GROUP BY person_id",
    "SELECT weeks_between(d, d2), within_weeks(d, d2, n), within_weeks(d, d2, v), within_weeks(d2, d, 26) FROM t",
    "SELECT entry_number(d) OVER w, prior_entries(d) OVER w, prior_entries(d, n) OVER w, days_since_last_entry(d) OVER w,
            returns_within(d, n) OVER w, returns_within(d, 730, d2) OVER w, left_truncated(d, n) OVER w, left_truncated(d, 30, d2) OVER w
     FROM t WINDOW w AS (PARTITION BY person_id ORDER BY d)",
    "SELECT entry_number(d) OVER (PARTITION BY person_id ORDER BY code), returns_within(d, 365) OVER (PARTITION BY person_id, case_id ORDER BY v) FROM t",
    "SELECT entry_number(d) OVER (ORDER BY d), returns_within(d, 365) OVER (), row_number() OVER (PARTITION BY person_id ORDER BY d),
            prior_entries(d, 365) OVER (PARTITION BY person_id ORDER BY d) FROM t",
    "SELECT person_id, repeat_entries(d), repeat_entries(d, n), repeat_entries(d, 365) FROM t GROUP BY person_id",
    "SELECT return_probability(person_id, d, n), return_probability(person_id, d, 2557, d2) FROM t",
    "SELECT case_id, return_probability(person_id, d, 730) FROM t GROUP BY case_id",
    "SELECT suppress(n), suppress(n, n), suppress(v, 10), round_to_base(n), round_to_base(v, n), round_to_base(n, 0) FROM t",
    "SELECT case_id, nk_disclosive(v), nk_disclosive(n, 2, 0.9), p_disclosive(v), p_disclosive(n, 0.1), nk_disclosive(v, n, v) FROM t GROUP BY case_id",
    "SELECT suppress(count(*)), round_to_base(count(DISTINCT person_id), 5) FROM t GROUP BY case_type",
];

fn run_function_calls(rt: &tokio::runtime::Runtime, ctx: &SessionContext, t: &Table) -> usize {
    register(ctx, t);
    let mut answered = 0;
    for sql in FUNCTION_CALLS {
        let result = rt.block_on(async {
            tokio::time::timeout(DEADLINE, async {
                drain(ctx.sql(sql).await.map_err(|e| e.to_string())?).await
            })
            .await
        });
        match judge(sql, result) {
            Outcome::Answered => answered += 1,
            Outcome::Refused => {}
            // Forty rows cannot take this long.
            Outcome::Slow => panic!(
                "no answer within {DEADLINE:?} on a table of {} rows:\n{sql}",
                t.rows.len()
            ),
        }
    }
    answered
}

#[test]
fn domain_functions_never_panic_or_hang_on_generated_tables() {
    let rt = runtime();
    let ctx = SessionContext::new();
    fjq_udfs::register_all(&ctx);
    let started = Instant::now();
    let mut runner = TestRunner::new(config(
        "domain functions",
        "fuzz/regressions/domain_functions.txt",
    ));
    let executions = Cell::new(0usize);
    let answered = Cell::new(0usize);
    runner
        .run(&table(), |t| {
            answered.set(answered.get() + run_function_calls(&rt, &ctx, &t));
            executions.set(executions.get() + FUNCTION_CALLS.len());
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let (executions, answered) = (executions.get(), answered.get());
    // Most statements are well-formed: if hardly any answer, the fuzzer tests only errors.
    assert!(
        answered * 2 > executions,
        "only {answered} of {executions} statements answered"
    );
    eprintln!(
        "fuzz domain functions: {} tables, {executions} statements ({answered} answered) in {:.1} s",
        cases(),
        started.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------------
// SQL text against the engine
// ---------------------------------------------------------------------------------------------

fn corpus() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/fuzz/corpus")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    let seeds: Vec<String> = files
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("a seed"))
        .collect();
    assert!(seeds.len() >= 30, "the seed corpus is missing");
    seeds
}

/// Tokens a mutation may insert: keywords, fjq's names, and literals at the edges.
const DICTIONARY: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP BY",
    "ORDER BY",
    "HAVING",
    "LIMIT",
    "OFFSET",
    "JOIN",
    "LEFT JOIN",
    "CROSS JOIN",
    "USING (case_id)",
    "ON",
    "UNION ALL",
    "EXCEPT",
    "WITH",
    "AS",
    "DISTINCT",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "AND",
    "OR",
    "NOT",
    "IS NULL",
    "IN",
    "BETWEEN",
    "OVER",
    "PARTITION BY",
    "(",
    ")",
    ",",
    ";",
    "*",
    "+",
    "-",
    "/",
    "%",
    "=",
    "<>",
    "<",
    "||",
    "::",
    "CAST(",
    "AS BIGINT)",
    "AS DATE)",
    "NULL",
    "0",
    "-1",
    "1e308",
    "'NaN'",
    "9223372036854775807",
    "-9223372036854775808",
    "''",
    "'x'",
    "DATE '0001-01-01'",
    "DATE '9999-12-31'",
    "INTERVAL '1' DAY",
    "TRUE",
    "cases",
    "events",
    "people",
    "persons",
    "case_links",
    "linkage",
    "cafcass_cases",
    "cafcass_people",
    "cafcass_work",
    "linked_people",
    "case_id",
    "person_id",
    "start_date",
    "event_date",
    "event_code",
    "hearing_type",
    "case_type",
    "region",
    "dfj_area",
    "age_at_start",
    "role",
    "count(*)",
    "sum(",
    "avg(",
    "min(",
    "max(",
    "string_agg(",
    "count(DISTINCT",
    "pathway_stage(",
    "case_pathway(",
    "case_pathway_detail(",
    "person_pathway(",
    "weeks_between(",
    "within_weeks(",
    "entry_number(",
    "prior_entries(",
    "days_since_last_entry(",
    "returns_within(",
    "left_truncated(",
    "repeat_entries(",
    "return_probability(",
    "suppress(",
    "round_to_base(",
    "nk_disclosive(",
    "p_disclosive(",
    "safe_table(",
    "'furthest'",
    "'observed'",
    "GROUPING SETS",
    "CUBE(",
    "ROLLUP(",
    "read_parquet(",
    "'/etc/passwd'",
    "unnest(",
    "generate_series(",
    "range(",
    "COPY",
    "TO",
    "'/tmp/out.csv'",
    "SET",
    "fjq.disclosure.threshold",
    "datafusion.execution.batch_size",
    "CREATE",
    "VIEW",
    "EXTERNAL TABLE",
    "DROP TABLE",
    "INSERT INTO",
    "VALUES",
    "EXPLAIN",
    "ANALYZE",
];

/// Statements that may write or change the session run only under the safe policy, which must
/// refuse them; under `open` they would change what later cases see.
fn changes_things(sql: &str) -> bool {
    let upper = sql.to_uppercase();
    [
        "COPY", "CREATE", "INSERT", "DROP", "SET", "DELETE", "UPDATE", "ALTER", "TRUNCATE",
    ]
    .iter()
    .any(|w| {
        upper
            .split(|c: char| !c.is_alphanumeric() && c != '_')
            .any(|t| t == *w)
    })
}

fn tokens(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in sql.chars() {
        if c == '\'' {
            quoted = !quoted;
            current.push(c);
            if !quoted {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        if quoted {
            current.push(c);
        } else if c.is_whitespace() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
        } else if "(),;*+-/=<>".contains(c) {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            out.push(c.to_string());
        } else {
            current.push(c);
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize),
    Duplicate(usize),
    Swap(usize),
    Insert(usize, usize),
    Replace(usize, usize),
    Truncate(usize),
    Splice(usize, usize),
    /// A number or quoted string becomes an edge literal: the statement still parses.
    Literal(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let word = 0..DICTIONARY.len();
    prop_oneof![
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Duplicate),
        any::<usize>().prop_map(Mutation::Swap),
        (any::<usize>(), word.clone()).prop_map(|(a, b)| Mutation::Insert(a, b)),
        (any::<usize>(), word).prop_map(|(a, b)| Mutation::Replace(a, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Splice(a, b)),
        (any::<usize>(), 0..LITERALS.len()).prop_map(|(a, b)| Mutation::Literal(a, b)),
        (any::<usize>(), 0..LITERALS.len()).prop_map(|(a, b)| Mutation::Literal(a, b)),
    ]
}

fn mutate(seed: &str, other: &str, mutations: &[Mutation]) -> String {
    let mut t = tokens(seed);
    let other = tokens(other);
    for m in mutations {
        let len = t.len().max(1);
        match *m {
            Mutation::Delete(i) if !t.is_empty() => {
                t.remove(i % len);
            }
            Mutation::Duplicate(i) if !t.is_empty() => {
                let x = t[i % len].clone();
                t.insert(i % len, x);
            }
            Mutation::Swap(i) if t.len() > 1 => t.swap(i % (len - 1), i % (len - 1) + 1),
            Mutation::Insert(i, w) => t.insert(i % (t.len() + 1), DICTIONARY[w].to_string()),
            Mutation::Replace(i, w) if !t.is_empty() => t[i % len] = DICTIONARY[w].to_string(),
            Mutation::Truncate(i) => t.truncate(i % (t.len() + 1)),
            // The tail of another statement after the head of this one.
            Mutation::Splice(i, j) if !other.is_empty() => {
                t.truncate(i % (t.len() + 1));
                t.extend(other[j % other.len()..].iter().cloned());
            }
            Mutation::Literal(i, w) => {
                let literal =
                    |x: &String| x.starts_with('\'') || x.parse::<f64>().is_ok() && !x.is_empty();
                let found: Vec<usize> = (0..t.len()).filter(|&k| literal(&t[k])).collect();
                if !found.is_empty() {
                    t[found[i % found.len()]] = LITERALS[w].to_string();
                }
            }
            _ => {}
        }
    }
    t.join(" ")
}

/// The grammar's FROM clauses, each with columns it has.
const FROMS: &[(&str, &[&str])] = &[
    (
        "cases",
        &[
            "case_id",
            "start_date",
            "first_disposal_date",
            "case_type",
            "region",
            "dfj_area",
        ],
    ),
    (
        "events e JOIN cases c USING (case_id)",
        &[
            "case_id",
            "e.event_date",
            "e.event_code",
            "e.hearing_type",
            "e.disposal_type",
            "c.case_type",
            "c.start_date",
            "e.vacated",
        ],
    ),
    (
        "people p JOIN cases c USING (case_id)",
        &[
            "case_id",
            "p.person_id",
            "p.age_at_start",
            "p.role",
            "c.start_date",
            "c.case_type",
            "c.region",
        ],
    ),
    (
        "linked_people",
        &[
            "case_id",
            "person_id",
            "cafcass_person_id",
            "cafcass_role",
            "court_role",
            "link_id",
        ],
    ),
];

const LITERALS: &[&str] = &[
    "NULL",
    "DATE '9999-12-31'",
    "DATE '0001-01-01'",
    "-1",
    "0",
    "''",
    "'x'",
    "9223372036854775807",
    "1e308",
    "730",
    "'furthest'",
];

/// A statement built from the grammar: function calls and aggregates over one of the FROM
/// clauses' own columns (and edge literals), with optional filter, grouping and limit.
fn generated() -> impl Strategy<Value = String> {
    let function = prop::sample::select(
        &[
            "weeks_between({a}, {b})",
            "within_weeks({a}, {b}, {c})",
            "pathway_stage({a}, {b}, {c})",
            "suppress({a}, {b})",
            "round_to_base({a}, {b})",
            "count(DISTINCT {a})",
            "case_pathway({a}, {b})",
            "case_pathway(pathway_stage({a}, {b}, {c}), {c}, 'furthest')",
            "person_pathway({a}, {b})",
            "repeat_entries({a}, {b})",
            "return_probability({a}, {b}, {c})",
            "nk_disclosive({a})",
            "p_disclosive({a}, {b})",
            "entry_number({a}) OVER (PARTITION BY {b} ORDER BY {c})",
            "returns_within({a}, {b}) OVER (PARTITION BY {c} ORDER BY {a})",
            "prior_entries({a}, {b}) OVER (ORDER BY {c})",
            "left_truncated({a}, {b}, {c}) OVER (PARTITION BY {b})",
            "{a} = {b}",
            "CAST({a} AS DATE)",
            "{a} - {b}",
            "min({a})",
        ][..],
    );
    (0..FROMS.len()).prop_flat_map(move |f| {
        let (from, columns) = FROMS[f];
        let word = prop_oneof![
            4 => prop::sample::select(columns),
            1 => prop::sample::select(LITERALS),
        ];
        let call = (function.clone(), word.clone(), word.clone(), word.clone())
            .prop_map(|(f, a, b, c)| f.replace("{a}", a).replace("{b}", b).replace("{c}", c));
        (
            prop::collection::vec(call, 1..4),
            prop::option::of((word.clone(), word.clone())),
            prop::option::of(prop::sample::select(columns)),
            prop::option::of(0u32..5),
        )
            .prop_map(move |(calls, filter, group, limit)| {
                let mut sql = format!("SELECT {} FROM {from}", calls.join(", "));
                if let Some((a, b)) = filter {
                    sql += &format!(" WHERE {a} < {b}");
                }
                if let Some(g) = group {
                    sql += &format!(" GROUP BY {g}");
                }
                if let Some(n) = limit {
                    sql += &format!(" LIMIT {n}");
                }
                sql
            })
    })
}

fn statement(seeds: Vec<String>) -> impl Strategy<Value = String> {
    let n = seeds.len();
    let seeds = Arc::new(seeds);
    let replay = Arc::clone(&seeds);
    prop_oneof![
        1 => (0..n).prop_map(move |i| replay[i].clone()),
        2 => (0..n, 0..n, prop::collection::vec(mutation(), 1..3))
            .prop_map(move |(i, j, m)| mutate(&seeds[i], &seeds[j], &m)),
        3 => generated(),
    ]
}

/// Every absolute path the corpus and the dictionary name ('/tmp/out.csv', '/etc/passwd', ...):
/// the places a fuzzed statement would try to write to or read from outside the scratch folder.
fn named_paths(corpus: &[String]) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = corpus
        .iter()
        .map(String::as_str)
        .chain(DICTIONARY.iter().copied())
        .flat_map(|text| {
            text.split('\'')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|quoted| quoted.starts_with('/'))
        .map(PathBuf::from)
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

/// What a path is now: absent, or its kind, size and modification time.
fn state_of(path: &Path) -> Option<(bool, u64, Option<std::time::SystemTime>)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.is_dir(), m.len(), m.modified().ok()))
}

/// Whether a plan reads one of the dataset's tables or views (EXPLAIN reads none: it shows the
/// plan, not the data).
fn reads_dataset(plan: &datafusion::logical_expr::LogicalPlan) -> bool {
    use datafusion::common::tree_node::TreeNodeRecursion;
    use datafusion::logical_expr::LogicalPlan;
    if matches!(plan, LogicalPlan::Explain(_)) {
        return false;
    }
    let mut found = false;
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let name = scan.table_name.table();
            found |= fjq_engine::contract::table(name).is_some()
                || fjq_engine::VIEWS.iter().any(|v| v.name == name);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

#[test]
fn sql_text_never_panics_or_hangs_and_safe_writes_only_releases() {
    let rt = runtime();
    let scratch = common::scratch("fuzz-sql");
    let data = scratch.join("data");
    common::copy_dataset(common::small_dataset(), &data);
    let releases = scratch.join("releases");
    let _ = std::fs::remove_dir_all(&releases);
    let before = common::files_under(&data);
    let seeds = corpus();
    let named = named_paths(&seeds);
    assert!(
        named.iter().any(|p| p == Path::new("/tmp/out.csv")),
        "{named:?}"
    );
    let named_before: Vec<_> = named.iter().map(|p| state_of(p)).collect();
    let open = rt
        .block_on(Engine::open(
            &data,
            EngineConfig {
                memory_limit: Some(512 << 20),
                ..EngineConfig::default()
            },
        ))
        .expect("opens");
    // Every release is checked against all earlier ones, so a log that only grows would make a
    // long run quadratic: the safe engine starts a fresh release directory every 128 statements.
    let safe_engine = |generation: usize| {
        rt.block_on(Engine::open(
            &data,
            EngineConfig {
                memory_limit: Some(512 << 20),
                policy: Policy::Safe,
                release_dir: Some(releases.join(format!("run-{generation}"))),
                ..EngineConfig::default()
            },
        ))
        .expect("opens")
    };
    let safe = std::cell::RefCell::new(safe_engine(0));
    let statements = Cell::new(0usize);
    let started = Instant::now();
    // Statements are cheap next to tables of calls: four times as many.
    let mut config = config("SQL text", "fuzz/regressions/sql_text.txt");
    config.cases *= 4;
    let mut runner = TestRunner::new(config);
    let executions = Cell::new(0usize);
    let answered = Cell::new(0usize);
    let slow = Cell::new(0usize);
    let safe_releases = Cell::new(0usize);
    // One statement through both engines, with every check; the seeds first, unmodified (so
    // the checks see real releases), then the fuzzed statements.
    let run_one = |sql: String| {
        statements.set(statements.get() + 1);
        if statements.get().is_multiple_of(128) {
            *safe.borrow_mut() = safe_engine(statements.get() / 128);
        }
        let safe = safe.borrow();
        let mut engines = vec![&*safe];
        if !changes_things(&sql) {
            engines.push(&open);
        }
        for engine in engines {
            let is_safe = std::ptr::eq(engine, &*safe);
            // Whether the statement's own plan reads the dataset (a release replaces it
            // with the released table).
            let read_data = Cell::new(false);
            let result = rt.block_on(async {
                tokio::time::timeout(DEADLINE, async {
                    let frame = engine.sql(&sql).await.map_err(|e| e.to_string())?;
                    read_data.set(reads_dataset(frame.logical_plan()));
                    drain(frame).await
                })
                .await
            });
            executions.set(executions.get() + 1);
            let released = engine.take_release_summary().is_some();
            match judge(&sql, result) {
                Outcome::Answered => {
                    answered.set(answered.get() + 1);
                    if is_safe && released {
                        safe_releases.set(safe_releases.get() + 1);
                    }
                    // Under safe, an answer is a release or reads none of the data.
                    assert!(
                        !is_safe || released || !read_data.get(),
                        "answered under the safe policy without a release, reading the data:\n{sql}"
                    );
                }
                Outcome::Refused => {}
                Outcome::Slow => {
                    slow.set(slow.get() + 1);
                    let alive = rt.block_on(async {
                        tokio::time::timeout(LIVENESS, async {
                            drain(
                                engine
                                    .sql("SELECT count(*) FROM cases")
                                    .await
                                    .map_err(|e| e.to_string())?,
                            )
                            .await
                        })
                        .await
                    });
                    assert!(
                        matches!(alive, Ok(Ok(()))),
                        "the engine did not answer a simple query after cancelling:\n{sql}"
                    );
                }
            }
        }
    };
    for seed in &seeds {
        run_one(seed.clone());
    }
    runner
        .run(&statement(seeds.clone()), |sql| {
            run_one(sql);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let (executions, answered) = (executions.get(), answered.get());
    assert_eq!(
        common::files_under(&data),
        before,
        "files appeared in the data directory"
    );
    for (path, was) in named.iter().zip(&named_before) {
        assert_eq!(
            &state_of(path),
            was,
            "{} changed during the run",
            path.display()
        );
    }
    for f in common::files_under(&scratch) {
        assert!(
            f.starts_with(&data) || f.starts_with(&releases),
            "{} was written outside the release directory",
            f.display()
        );
    }
    assert!(answered > 0, "no fuzzed statement was ever answered");
    assert!(
        safe_releases.get() > 0,
        "no statement was released under the safe policy: the release check saw nothing"
    );
    eprintln!(
        "fuzz SQL: {} statements, {executions} executions ({answered} answered, {} of them releases under safe; {} cancelled at {DEADLINE:?}, the engine answering after each) in {:.1} s",
        cases() * 4,
        safe_releases.get(),
        slow.get(),
        started.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------------
// Delimited exports through `fjq import`
// ---------------------------------------------------------------------------------------------

/// One change to an export file's bytes.
#[derive(Debug, Clone)]
enum ByteChange {
    /// Overwrite the byte at (position modulo the length).
    Set(usize, u8),
    /// Insert a byte (quotes, delimiters and line ends are likely).
    Insert(usize, u8),
    Delete(usize),
    /// Cut the file short.
    Truncate(usize),
}

fn byte_change() -> impl Strategy<Value = ByteChange> {
    let byte = prop_oneof![
        Just(b'"'),
        Just(b','),
        Just(b'\n'),
        Just(b'\r'),
        Just(b' '),
        Just(0x81u8),
        Just(0xE9u8),
        Just(0xEFu8),
        any::<u8>(),
    ];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(p, b)| ByteChange::Set(p, b)),
        (any::<usize>(), byte).prop_map(|(p, b)| ByteChange::Insert(p, b)),
        any::<usize>().prop_map(ByteChange::Delete),
        any::<usize>().prop_map(ByteChange::Truncate),
    ]
}

fn apply(bytes: &mut Vec<u8>, changes: &[ByteChange]) {
    for c in changes {
        let n = bytes.len().max(1);
        match *c {
            ByteChange::Set(p, b) if !bytes.is_empty() => bytes[p % n] = b,
            ByteChange::Insert(p, b) => bytes.insert(p % (bytes.len() + 1), b),
            ByteChange::Delete(p) if !bytes.is_empty() => {
                bytes.remove(p % n);
            }
            ByteChange::Truncate(p) => bytes.truncate(p % n),
            _ => {}
        }
    }
}

/// Whatever the bytes of an export, `fjq import` imports what fits, rejects what does not or
/// says what is wrong with the file; it never panics, and a failed import leaves no dataset.
#[test]
fn import_never_panics_and_never_leaves_half_a_dataset() {
    use fjq_engine::import::{self, ImportOptions, layout::Layout};
    let work = common::scratch("fuzz-import");
    let _ = std::fs::remove_dir_all(&work);
    let sail = Layout::load("sail-del").expect("the shipped layout");
    let export = work.join("export");
    import::export::export(&sail, common::small_dataset(), &export, "1").expect("export");
    // The court tables of the shipped layout, so each case imports several tables' files.
    let text = import::layout::SHIPPED[0].1;
    let mut court = String::new();
    let mut keep = true;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("[tables.") {
            keep = rest.starts_with("cases") || rest.starts_with("case_links");
        }
        if keep {
            court.push_str(line);
            court.push('\n');
        }
    }
    let originals: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&export)
        .expect("export folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("FACO_CASE"))
        })
        .map(|p| {
            let bytes = std::fs::read(&p).expect("export file");
            (p, bytes)
        })
        .collect();
    assert_eq!(originals.len(), 2, "cases and case_links");
    let (imported, refused) = (Cell::new(0usize), Cell::new(0usize));
    let mut runner = TestRunner::new(config("import", "fuzz/regressions/import.txt"));
    runner
        .run(
            &(
                proptest::collection::vec(byte_change(), 1..6),
                any::<bool>(),
                0u64..3,
            ),
            |(changes, second_file, max_rejects)| {
                let from = work.join("from");
                let out = work.join("out");
                let _ = std::fs::remove_dir_all(&from);
                let _ = std::fs::remove_dir_all(&out);
                std::fs::create_dir_all(&from).expect("from");
                for (i, (path, bytes)) in originals.iter().enumerate() {
                    let mut bytes = bytes.clone();
                    if (i == 1) == second_file {
                        apply(&mut bytes, &changes);
                    }
                    std::fs::write(from.join(path.file_name().expect("name")), bytes)
                        .expect("write");
                }
                let options = ImportOptions {
                    layout: Layout::parse(&court, "court").expect("court layout"),
                    from: from.clone(),
                    out: out.clone(),
                    max_rejects,
                    threads: 2,
                    sort_memory: 64 << 20,
                };
                match import::run(&options, &|_| {}) {
                    Ok(summary) => {
                        imported.set(imported.get() + 1);
                        prop_assert!(out.join("dataset.json").exists());
                        prop_assert!(summary.rejected <= max_rejects);
                    }
                    Err(e) => {
                        refused.set(refused.get() + 1);
                        let message = e.to_string();
                        prop_assert!(!message.trim().is_empty());
                        prop_assert!(
                            !out.exists(),
                            "a failed import left {}: {message}",
                            out.display()
                        );
                    }
                }
                Ok(())
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let (imported, refused) = (imported.get(), refused.get());
    eprintln!("fuzz import: {imported} imported, {refused} refused");
    // Both outcomes occur: the changes are neither all harmless nor all fatal.
    assert!(
        imported > 0 && refused > 0,
        "{imported} imported, {refused} refused"
    );
}
