//! Micro-benchmarks: rows per second for each domain function, on synthetic arrays shaped like
//! the real data (a few events per case, a few entries per person).
//!
//! Run with `cargo bench -p fjq-udfs`; criterion prints each function's throughput (elem/s).
//! Scalars and window kernels are called directly; the grouped aggregates through their
//! `GroupsAccumulator`; `return_probability` through a query on an in-memory table.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use datafusion::arrow::array::{ArrayRef, Date32Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::config::ConfigOptions;
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{
    ColumnarValue, EmitTo, GroupsAccumulator, ScalarFunctionArgs, ScalarUDFImpl,
};
use datafusion::prelude::SessionContext;
use fjq_udfs::entries::{EntryKind, evaluate};
use fjq_udfs::pathway::dated_codes::{DatedCodes, Finish};
use std::hint::black_box;
use std::sync::Arc;

const ROWS: usize = 1_000_000;
const PER_GROUP: usize = 5;

/// A cheap deterministic sequence, so runs compare.
fn lcg(i: usize) -> u64 {
    (i as u64)
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407)
        >> 33
}

fn dates() -> ArrayRef {
    Arc::new(Date32Array::from_iter_values(
        (0..ROWS).map(|i| 15_000 + (lcg(i) % 3_650) as i32),
    ))
}

fn stages() -> ArrayRef {
    const S: [&str; 7] = [
        "issue",
        "interim_order",
        "cmh",
        "fcmh",
        "irh",
        "final_hearing",
        "final_order",
    ];
    Arc::new(StringArray::from_iter_values(
        (0..ROWS).map(|i| S[(lcg(i) % 7) as usize]),
    ))
}

fn scalar(
    c: &mut Criterion,
    name: &str,
    f: &dyn ScalarUDFImpl,
    args: Vec<ArrayRef>,
    ret: DataType,
) {
    let fields: Vec<_> = args
        .iter()
        .enumerate()
        .map(|(i, a)| Arc::new(Field::new(format!("a{i}"), a.data_type().clone(), true)))
        .collect();
    let mut g = c.benchmark_group("scalar");
    g.throughput(Throughput::Elements(ROWS as u64));
    g.bench_function(name, |b| {
        b.iter(|| {
            let args = ScalarFunctionArgs {
                args: args
                    .iter()
                    .map(|a| ColumnarValue::Array(a.clone()))
                    .collect(),
                arg_fields: fields.clone(),
                number_rows: ROWS,
                return_field: Arc::new(Field::new("r", ret.clone(), true)),
                config_options: Arc::new(ConfigOptions::default()),
            };
            black_box(f.invoke_with_args(args).expect("runs"))
        })
    });
    g.finish();
}

fn scalars(c: &mut Criterion) {
    let codes = ["U22", "C6", "C33", "C32A", "G61", "U24", "C6", "G63"];
    let hearings = [
        None,
        Some("CMH"),
        None,
        None,
        Some("IRH"),
        None,
        Some("final_hearing"),
        None,
    ];
    let types: ArrayRef = Arc::new(StringArray::from_iter_values(
        (0..ROWS).map(|_| "public_law"),
    ));
    let code: ArrayRef = Arc::new(StringArray::from_iter_values(
        (0..ROWS).map(|i| codes[i % 8]),
    ));
    let hearing: ArrayRef = Arc::new(StringArray::from_iter((0..ROWS).map(|i| hearings[i % 8])));
    scalar(
        c,
        "pathway_stage",
        &fjq_udfs::pathway::pathway_stage::PathwayStage::default(),
        vec![types, code, hearing],
        DataType::Utf8,
    );
    let (from, to) = (dates(), dates());
    scalar(
        c,
        "weeks_between",
        &fjq_udfs::dates::weeks_between::WeeksBetween::default(),
        vec![from.clone(), to.clone()],
        DataType::Float64,
    );
    let n: ArrayRef = Arc::new(datafusion::arrow::array::Float64Array::from_iter_values(
        (0..ROWS).map(|_| 26.0),
    ));
    scalar(
        c,
        "within_weeks",
        &fjq_udfs::dates::within_weeks::WithinWeeks::default(),
        vec![from, to, n],
        DataType::Boolean,
    );
}

fn windows(c: &mut Criterion) {
    // Partitions of PER_GROUP entries, sorted, as DataFusion hands them to evaluate_all.
    let partitions: Vec<Vec<ArrayRef>> = (0..ROWS / PER_GROUP)
        .map(|p| {
            let mut d: Vec<i32> = (0..PER_GROUP)
                .map(|i| 15_000 + (lcg(p * PER_GROUP + i) % 3_650) as i32)
                .collect();
            d.sort_unstable();
            vec![
                Arc::new(Date32Array::from(d)) as ArrayRef,
                Arc::new(Int64Array::from(vec![730; PER_GROUP])) as ArrayRef,
                Arc::new(Date32Array::from(vec![18_658; PER_GROUP])) as ArrayRef,
            ]
        })
        .collect();
    let mut g = c.benchmark_group("window");
    g.throughput(Throughput::Elements(ROWS as u64));
    for (name, kind, args) in [
        ("entry_number", EntryKind::Number, 1),
        ("prior_entries", EntryKind::Prior, 1),
        ("days_since_last_entry", EntryKind::DaysSinceLast, 1),
        ("returns_within", EntryKind::ReturnsWithin, 3),
        ("left_truncated", EntryKind::LeftTruncated, 3),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                for values in &partitions {
                    black_box(evaluate(kind, name, &values[..args], PER_GROUP).expect("runs"));
                }
            })
        });
    }
    g.finish();
}

fn aggregates(c: &mut Criterion) {
    let groups: Vec<usize> = (0..ROWS).map(|i| i / PER_GROUP).collect();
    let n_groups = ROWS / PER_GROUP;
    let (stages, dates) = (stages(), dates());
    let mut g = c.benchmark_group("aggregate");
    g.throughput(Throughput::Elements(ROWS as u64));
    for (name, finish) in [
        ("case_pathway observed", Finish::Pathway { furthest: false }),
        ("case_pathway furthest", Finish::Pathway { furthest: true }),
        ("case_pathway_detail", Finish::Detail),
        ("person_pathway", Finish::PersonPathway),
        ("repeat_entries", Finish::RepeatEntries { within: None }),
    ] {
        let values: Vec<ArrayRef> = if matches!(finish, Finish::RepeatEntries { .. }) {
            vec![dates.clone()]
        } else {
            vec![stages.clone(), dates.clone()]
        };
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut acc = DatedCodes::new(finish);
                // Batches of 8192 rows, as a scan delivers them.
                for start in (0..ROWS).step_by(8192) {
                    let len = 8192.min(ROWS - start);
                    let batch: Vec<ArrayRef> = values.iter().map(|v| v.slice(start, len)).collect();
                    acc.update_batch(&batch, &groups[start..start + len], None, n_groups)
                        .expect("update");
                }
                black_box(acc.evaluate(EmitTo::All).expect("evaluate"))
            })
        });
    }
    // return_probability through SQL on an in-memory table.
    let schema = Arc::new(Schema::new(vec![
        Field::new("who", DataType::Utf8, false),
        Field::new("d", DataType::Date32, false),
    ]));
    let who: ArrayRef = Arc::new(StringArray::from_iter_values(
        (0..ROWS).map(|i| format!("P{:08}", i / PER_GROUP)),
    ));
    let batch = RecordBatch::try_new(schema.clone(), vec![who, dates.clone()]).expect("batch");
    let ctx = SessionContext::new();
    fjq_udfs::register_all(&ctx);
    ctx.register_table(
        "t",
        Arc::new(MemTable::try_new(schema, vec![vec![batch]]).expect("table")),
    )
    .expect("register");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    g.bench_function("return_probability", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let df = ctx
                    .sql("SELECT return_probability(who, d, 2557, DATE '2021-01-31') FROM t")
                    .await
                    .expect("plan");
                black_box(df.collect().await.expect("run"))
            })
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(std::time::Duration::from_secs(3));
    targets = scalars, windows, aggregates
}
criterion_main!(benches);
