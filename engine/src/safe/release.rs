//! A safe release: run the rewritten query, judge every cell, choose and audit the suppression
//! pattern, check it against earlier releases, and write the table, its report and the log entry.

use super::analyze::{Analysis, OutputColumn, analyze};
use super::log::{self, Entry, LoggedCell};
use super::report;
use crate::{EngineError, Result};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::common::ScalarValue;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use fjq_udfs::disclosure::functions::stats_from_arrays;
use fjq_udfs::disclosure::rules::round_half_up_i64;
use fjq_udfs::disclosure::{
    Cell, Equation, Interval, MeasureKind, MeasureStats, Rule, Rules, Table, protect,
};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where releases go, shared by every query of an engine (releases are numbered one at a time).
#[derive(Debug)]
pub struct Releaser {
    pub dir: Option<PathBuf>,
    lock: tokio::sync::Mutex<()>,
    /// The summary of the latest release not yet shown to the user.
    latest: std::sync::Mutex<Option<String>>,
}

impl Releaser {
    pub fn new(dir: Option<PathBuf>) -> Releaser {
        Releaser {
            dir,
            lock: tokio::sync::Mutex::new(()),
            latest: std::sync::Mutex::new(None),
        }
    }

    /// Takes the summary of the latest release, once (front ends print it after the result).
    pub fn take_latest(&self) -> Option<String> {
        self.latest.lock().ok()?.take()
    }
}

/// A released table.
#[derive(Debug, Clone)]
pub struct Release {
    pub id: String,
    pub dir: PathBuf,
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    /// `pass` (nothing needed hiding) or `review` (cells were suppressed).
    pub status: String,
    pub cells: usize,
    pub primary: usize,
    pub secondary: usize,
    pub report: PathBuf,
}

impl Release {
    /// One line for the shell: what was released and where.
    pub fn summary(&self) -> String {
        format!(
            "{}: {} cells, {} suppressed ({} failing the rules, {} to protect them); report {}",
            self.id,
            self.cells,
            self.primary + self.secondary,
            self.primary,
            self.secondary,
            self.report.display()
        )
    }
}

fn refused(message: impl Into<String>) -> EngineError {
    EngineError::Refused(message.into())
}

/// One cell of the result, before suppression.
struct Row {
    /// Index into the executed batches' rows (None for a cell completed as empty).
    source: Option<usize>,
    key: Vec<Option<u32>>,
    persons: u64,
    /// Per measure: its value as a number (None when NULL or not numeric), and its stats.
    values: Vec<Option<f64>>,
    stats: Vec<MeasureStats>,
    failures: Vec<(Rule, String)>,
}

/// Runs `sql` as a safe release.
pub async fn release(state: &SessionState, sql: &str, releaser: &Releaser) -> Result<Release> {
    let plan = state.create_logical_plan(sql).await?;
    release_plan(state, plan, sql, releaser).await
}

/// Releases a planned query (`sql` is what the log and report record as the command).
pub async fn release_plan(
    state: &SessionState,
    plan: LogicalPlan,
    sql: &str,
    releaser: &Releaser,
) -> Result<Release> {
    let Some(dir) = releaser.dir.clone() else {
        return Err(refused(
            "no release directory: start fjq with --release-dir DIR to release safe tables",
        ));
    };
    if !matches!(
        plan,
        LogicalPlan::Projection(_)
            | LogicalPlan::Aggregate(_)
            | LogicalPlan::Sort(_)
            | LogicalPlan::SubqueryAlias(_)
    ) {
        return Err(refused(
            "safe_table releases a query: SELECT ... GROUP BY ...",
        ));
    }
    if uses_safe_table(&plan) {
        return Err(refused("safe_table cannot be nested in a safe_table query"));
    }
    let analysis = analyze(&plan)
        .map_err(|e| refused(format!("not releasable as a safe table: {}", strip(&e))))?;
    let rules = fjq_udfs::settings::rules_from(state.config_options());
    let ctx = SessionContext::new_with_state(state.clone());
    let batches = ctx
        .execute_logical_plan(analysis.plan.clone())
        .await?
        .collect()
        .await?;
    let schema = batches
        .first()
        .map(|b| b.schema())
        .unwrap_or_else(|| Arc::new(analysis.plan.schema().as_arrow().clone()));
    let batch = datafusion::arrow::compute::concat_batches(&schema, &batches)?;

    let (mut rows, levels) = cells(&analysis, &batch, &rules)?;
    let additive: Vec<usize> = analysis
        .measures
        .iter()
        .enumerate()
        .filter(|(_, m)| m.kind.is_additive())
        .map(|(i, _)| i)
        .collect();
    complete(&analysis, &mut rows, &levels, &rules);
    let levels = sort_levels(&mut rows, levels);
    let table = Table::new(
        analysis.dimensions.len(),
        additive.len(),
        rows.iter()
            .map(|r| {
                let zero = is_zero(&analysis, r);
                Cell {
                    key: r.key.clone(),
                    values: additive
                        .iter()
                        .map(|&m| r.values[m].unwrap_or(0.0))
                        .collect(),
                    primary: !r.failures.is_empty(),
                    zero,
                    small: zero
                        || r.failures
                            .iter()
                            .any(|(rule, _)| matches!(rule, Rule::Threshold | Rule::Zero)),
                }
            })
            .collect(),
    )
    .with_exact(
        additive
            .iter()
            .map(|&m| !analysis.measures[m].distinct)
            .collect(),
    );
    let lower = if rows.iter().any(|r| r.stats.iter().any(|s| s.negative)) {
        f64::NEG_INFINITY
    } else {
        0.0
    };
    let describe = |cell: usize| describe_cell(&analysis, &levels, &table.cells[cell].key);
    let protection = protect(&table, &[], lower, rules.protection).map_err(|u| {
        refused(format!(
            "cannot protect cell {} ({}): it lies in [{}, {}] whatever else is hidden{}",
            describe(u.cell),
            additive_name(&analysis, &additive, u.measure),
            u.interval.low,
            u.interval.high,
            if u.reason.is_empty() {
                String::new()
            } else {
                format!("; {}", u.reason)
            }
        ))
    })?;

    let _guard = releaser.lock.lock().await;
    std::fs::create_dir_all(&dir).map_err(|e| io_error(&dir, e))?;
    let previous = log::read(&dir).map_err(|e| refused(e.to_string()))?;
    recover_interrupted(&dir, &previous)?;
    let additive_names: Vec<String> = additive
        .iter()
        .map(|&m| analysis.measures[m].name.clone())
        .collect();
    let logged_cells: Vec<LoggedCell> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| LoggedCell {
            key: r
                .key
                .iter()
                .enumerate()
                .map(|(d, k)| k.map(|l| levels[d][l as usize].clone()))
                .collect(),
            values: table.cells[i].values.clone(),
            published: !protection.suppressed[i],
            primary: table.cells[i].primary,
            small: table.cells[i].small,
            zero: table.cells[i].zero,
            failed: r
                .failures
                .iter()
                .map(|(rule, _)| rule.name().to_string())
                .collect(),
        })
        .collect();
    let dimensions: Vec<String> = (0..analysis.dimensions.len())
        .map(|d| dimension_name(&analysis, d))
        .collect();
    let exact: Vec<bool> = additive
        .iter()
        .map(|&m| !analysis.measures[m].distinct)
        .collect();
    let new_side = Side {
        dims: &dimensions,
        measures: &additive_names,
        exact: &exact,
        cells: &logged_cells,
    };
    differencing(&previous, &analysis.population, &new_side, lower, &rules)?;
    differencing_by_filter(state, &previous, &analysis, &dimensions, &rules).await?;

    // The table as published.
    let (out_schema, out_batch) =
        published_batch(&analysis, &batch, &rows, &protection.suppressed, &rules)?;
    let number = previous.last().map(|e| e.release).unwrap_or(0) + 1;
    let id = format!("release-{number:04}");
    let final_dir = dir.join(&id);
    if final_dir.exists() {
        return Err(refused(format!(
            "{} already exists but the release log does not list it; move it aside before releasing again",
            final_dir.display()
        )));
    }
    // Written under a hidden name, logged, then renamed: a crash at any point leaves either a
    // logged release or no visible files at all (see `recover_interrupted`).
    let release_dir = staging_dir(&dir, &id);
    std::fs::create_dir_all(&release_dir).map_err(|e| io_error(&release_dir, e))?;
    let csv_path = release_dir.join("output_0.csv");
    {
        let file = std::fs::File::create(&csv_path).map_err(|e| io_error(&csv_path, e))?;
        let mut writer = datafusion::arrow::csv::Writer::new(file);
        writer.write(&out_batch)?;
    }
    let csv_sha = log::sha256_file(&csv_path).map_err(|e| io_error(&csv_path, e))?;
    let intervals: Vec<(usize, Vec<Interval>)> = protection.intervals.clone();
    let report_path = report::write(
        &release_dir,
        &report::ReportInput {
            id: &id,
            query: sql,
            rules: &rules,
            analysis: &analysis,
            additive: &additive_names,
            rows_failures: rows.iter().map(|r| r.failures.clone()).collect(),
            suppressed: &protection.suppressed,
            primary: rows.iter().map(|r| !r.failures.is_empty()).collect(),
            intervals: &intervals,
            describe: &describe,
            output_rows: out_batch.num_rows(),
            files: vec![("output_0.csv".to_string(), csv_sha.clone())],
            method: protection.method,
        },
    )
    .map_err(|e| io_error(&release_dir, e))?;
    let mut files = vec![("output_0.csv".to_string(), csv_sha)];
    let report_sha = log::sha256_file(&report_path).map_err(|e| io_error(&report_path, e))?;
    let report_checksum = release_dir.join("checksums").join("results.json.txt");
    std::fs::write(&report_checksum, &report_sha).map_err(|e| io_error(&report_checksum, e))?;
    files.push(("results.json".to_string(), report_sha));
    let entry = Entry {
        release: number,
        id: id.clone(),
        timestamp: report::now_iso(),
        query: sql.to_string(),
        rules: rules.clone(),
        population: analysis.population.clone(),
        base: analysis.base.clone(),
        dimensions,
        additive: additive_names,
        exact: additive
            .iter()
            .map(|&m| !analysis.measures[m].distinct)
            .collect(),
        cells: logged_cells,
        files,
        prev_hash: String::new(),
        hash: String::new(),
    };
    log::append(&dir, &previous, entry).map_err(|e| refused(e.to_string()))?;
    std::fs::rename(&release_dir, &final_dir).map_err(|e| io_error(&final_dir, e))?;
    let report_path = final_dir.join("results.json");
    let release_dir = final_dir;

    let primary = table.cells.iter().filter(|c| c.primary).count();
    let secondary = protection.secondary.len();
    let released = Release {
        id,
        dir: release_dir,
        schema: out_schema,
        batches: vec![out_batch],
        status: if primary + secondary == 0 {
            "pass"
        } else {
            "review"
        }
        .to_string(),
        cells: rows.len(),
        primary,
        secondary,
        report: report_path,
    };
    if let Ok(mut latest) = releaser.latest.lock() {
        *latest = Some(released.summary());
    }
    Ok(released)
}

fn staging_dir(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!(".{id}.partial"))
}

/// Finishes or discards what an interrupted release left behind. A release whose log line was
/// written is complete: its files take their final name. One whose line was not written never
/// happened: its files are removed, so nothing unlogged can leave the release directory.
fn recover_interrupted(dir: &Path, logged: &[log::Entry]) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| io_error(dir, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(id) = name
            .strip_prefix('.')
            .and_then(|n| n.strip_suffix(".partial"))
        else {
            continue;
        };
        let path = entry.path();
        let target = dir.join(id);
        if logged.iter().any(|e| e.id == id) && !target.exists() {
            std::fs::rename(&path, &target).map_err(|e| io_error(&target, e))?;
        } else {
            std::fs::remove_dir_all(&path).map_err(|e| io_error(&path, e))?;
        }
    }
    Ok(())
}

fn io_error(path: &Path, e: std::io::Error) -> EngineError {
    refused(format!(
        "cannot write the release at {}: {e}",
        path.display()
    ))
}

/// DataFusion's "Error during planning: " prefix, removed for messages of our own.
fn strip(e: &datafusion::error::DataFusionError) -> String {
    let text = e.to_string();
    text.strip_prefix("Error during planning: ")
        .unwrap_or(&text)
        .to_string()
}

/// `c.dfj_area` -> `dfj_area`: dimensions match across releases by column name.
fn short(name: &str) -> String {
    name.rsplit('.').next().unwrap_or(name).to_string()
}

/// A dimension's name: the result column showing it, else its expression's column name.
fn dimension_name(analysis: &Analysis, d: usize) -> String {
    analysis
        .columns
        .iter()
        .position(|c| *c == OutputColumn::Dimension(d))
        .map(|i| analysis.schema.field(i).name().clone())
        .unwrap_or_else(|| short(&analysis.dimensions[d]))
}

fn additive_name(analysis: &Analysis, additive: &[usize], m: usize) -> String {
    additive
        .get(m)
        .map(|&i| analysis.measures[i].name.clone())
        .unwrap_or_default()
}

fn describe_cell(analysis: &Analysis, levels: &[Vec<String>], key: &[Option<u32>]) -> String {
    key.iter()
        .enumerate()
        .map(|(d, k)| {
            format!(
                "{}={}",
                dimension_name(analysis, d),
                k.map(|l| levels[d][l as usize].clone())
                    .unwrap_or_else(|| "(total)".into())
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn uses_safe_table(plan: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = plan.apply_with_subqueries(|p| {
        if let LogicalPlan::TableScan(scan) = p
            && scan.table_name.table().starts_with("safe_table")
        {
            found = true;
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    });
    found
}

/// Numbers each dimension's levels in sorted order (they were numbered as rows arrived, which
/// parallel execution varies), so that the same query always gets the same pattern.
fn sort_levels(rows: &mut [Row], levels: Vec<Vec<String>>) -> Vec<Vec<String>> {
    let mut sorted = Vec::with_capacity(levels.len());
    let mut renumber: Vec<Vec<u32>> = Vec::with_capacity(levels.len());
    for names in levels {
        let mut order: Vec<usize> = (0..names.len()).collect();
        order.sort_by(|&a, &b| names[a].cmp(&names[b]));
        let mut new_of = vec![0u32; names.len()];
        for (new, &old) in order.iter().enumerate() {
            new_of[old] = new as u32;
        }
        sorted.push(order.iter().map(|&i| names[i].clone()).collect());
        renumber.push(new_of);
    }
    for r in rows.iter_mut() {
        for (d, k) in r.key.iter_mut().enumerate() {
            if let Some(l) = k {
                *l = renumber[d][*l as usize];
            }
        }
    }
    sorted
}

fn is_zero(analysis: &Analysis, r: &Row) -> bool {
    r.persons == 0
        || analysis
            .measures
            .iter()
            .zip(&r.values)
            .any(|(m, v)| m.kind == MeasureKind::Count && *v == Some(0.0))
}

fn as_f64(array: &ArrayRef, row: usize) -> Option<f64> {
    if array.is_null(row) || !array.data_type().is_numeric() {
        return None;
    }
    let a = cast(&array.slice(row, 1), &DataType::Float64).ok()?;
    let a = a.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
    Some(a.value(0))
}

fn column(batch: &RecordBatch, name: &str) -> Result<ArrayRef> {
    batch
        .column_by_name(name)
        .cloned()
        .ok_or_else(|| refused(format!("internal: hidden column {name} missing")))
}

/// Reads the executed rows into cells, with each dimension's levels as text.
fn cells(
    analysis: &Analysis,
    batch: &RecordBatch,
    rules: &Rules,
) -> Result<(Vec<Row>, Vec<Vec<String>>)> {
    let dims = analysis.dimensions.len();
    let mut levels: Vec<Vec<String>> = vec![Vec::new(); dims];
    let mut level_index: Vec<HashMap<String, u32>> = vec![HashMap::new(); dims];
    let dim_columns: Vec<ArrayRef> = (0..dims)
        .map(|d| column(batch, &format!("{}dim_{d}", super::analyze::HIDDEN)))
        .collect::<Result<_>>()?;
    let grouping = match &analysis.grouping_id_column {
        Some(name) => Some(cast(&column(batch, name)?, &DataType::UInt64)?),
        None => None,
    };
    let persons: Vec<ArrayRef> = analysis
        .person_columns
        .iter()
        .map(|(name, _)| column(batch, name))
        .collect::<Result<_>>()?;
    let rows_count = column(batch, &analysis.rows_column)?;
    let stats: Vec<Option<ArrayRef>> = analysis
        .measures
        .iter()
        .map(|m| {
            m.stats_column
                .as_ref()
                .map(|c| column(batch, c))
                .transpose()
        })
        .collect::<Result<_>>()?;
    // The output column publishing each measure (the first one).
    let measure_columns: Vec<Option<usize>> = (0..analysis.measures.len())
        .map(|m| {
            analysis
                .columns
                .iter()
                .position(|c| *c == OutputColumn::Measure(m))
        })
        .collect();
    let mut rows = Vec::with_capacity(batch.num_rows());
    for r in 0..batch.num_rows() {
        let gid = grouping
            .as_ref()
            .map(|g| {
                g.as_primitive::<datafusion::arrow::datatypes::UInt64Type>()
                    .value(r)
            })
            .unwrap_or(0);
        let mut key = Vec::with_capacity(dims);
        for d in 0..dims {
            let total = gid & (1 << (dims - 1 - d)) != 0;
            if total {
                key.push(None);
                continue;
            }
            let text = if dim_columns[d].is_null(r) {
                "NULL".to_string()
            } else {
                array_value_to_string(&dim_columns[d], r)?
            };
            let next = levels[d].len() as u32;
            let l = *level_index[d].entry(text.clone()).or_insert_with(|| {
                levels[d].push(text);
                next
            });
            key.push(Some(l));
        }
        let count = |a: &ArrayRef| -> u64 {
            let a = a.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            if a.is_null(r) {
                0
            } else {
                a.value(r).max(0) as u64
            }
        };
        let persons_here = if persons.is_empty() {
            count(&rows_count)
        } else {
            persons.iter().map(count).min().unwrap_or(0)
        };
        let values: Vec<Option<f64>> = measure_columns
            .iter()
            .map(|c| c.and_then(|c| as_f64(batch.column(c), r)))
            .collect();
        let measure_stats: Vec<MeasureStats> = stats
            .iter()
            .map(|s| match s {
                Some(a) => {
                    let s = a.as_struct();
                    stats_from_arrays(s.columns(), r)
                }
                None => MeasureStats::default(),
            })
            .collect();
        let mut row = Row {
            source: Some(r),
            key,
            persons: persons_here,
            values,
            stats: measure_stats,
            failures: Vec::new(),
        };
        judge(analysis, &mut row, rules);
        rows.push(row);
    }
    Ok((rows, levels))
}

fn judge(analysis: &Analysis, row: &mut Row, rules: &Rules) {
    let mut seen = BTreeSet::new();
    for (m, measure) in analysis.measures.iter().enumerate() {
        for f in rules.check(measure.kind, row.persons, &row.stats[m]) {
            if seen.insert(f.rule) {
                let detail = if analysis.person_columns.is_empty() {
                    // Without a person column each row is a contributor: say so.
                    f.detail
                        .replace(" persons,", " rows (the query reads no person column),")
                } else {
                    f.detail
                };
                row.failures.push((f.rule, detail));
            }
        }
    }
    if analysis
        .measures
        .iter()
        .all(|m| m.kind != MeasureKind::Count)
        && row.persons == 0
    {
        seen.insert(Rule::Zero);
        row.failures.push((Rule::Zero, "an empty cell".into()));
    }
}

/// Adds the interior cells no row reached (zero counts or empty cells): their absence would
/// tell as much as a published zero.
fn complete(analysis: &Analysis, rows: &mut Vec<Row>, levels: &[Vec<String>], rules: &Rules) {
    let dims = levels.len();
    if dims == 0 {
        return;
    }
    let total: usize = levels.iter().map(|l| l.len().max(1)).product();
    if total > 2_000_000 {
        return;
    }
    let present: std::collections::HashSet<Vec<Option<u32>>> =
        rows.iter().map(|r| r.key.clone()).collect();
    let mut index = vec![0u32; dims];
    if levels.iter().any(|l| l.is_empty()) {
        return;
    }
    loop {
        let key: Vec<Option<u32>> = index.iter().map(|&i| Some(i)).collect();
        if !present.contains(&key) {
            let mut row = Row {
                source: None,
                key,
                persons: 0,
                values: analysis
                    .measures
                    .iter()
                    .map(|m| (m.kind == MeasureKind::Count).then_some(0.0))
                    .collect(),
                stats: vec![MeasureStats::default(); analysis.measures.len()],
                failures: Vec::new(),
            };
            judge(analysis, &mut row, rules);
            rows.push(row);
        }
        let mut d = dims;
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            index[d] += 1;
            if (index[d] as usize) < levels[d].len() {
                break;
            }
            index[d] = 0;
        }
    }
}

/// The user's columns with suppressed cells' measures NULL and counts rounded; completed cells
/// carry their dimension values (taken from a row with the same level) and a zero or NULL.
fn published_batch(
    analysis: &Analysis,
    batch: &RecordBatch,
    rows: &[Row],
    suppressed: &[bool],
    rules: &Rules,
) -> Result<(SchemaRef, RecordBatch)> {
    let fields: Vec<Field> = analysis
        .schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let dims = analysis.dimensions.len();
    // A source row for each (dimension, level), to copy the typed value from.
    let mut example: HashMap<(usize, u32), usize> = HashMap::new();
    for r in rows {
        if let Some(src) = r.source {
            for d in 0..dims {
                if let Some(l) = r.key[d] {
                    example.entry((d, l)).or_insert(src);
                }
            }
        }
    }
    let base = i64::try_from(rules.rounding_base).unwrap_or(1);
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (c, origin) in analysis.columns.iter().enumerate() {
        let source = batch.column(c);
        let data_type = source.data_type();
        let mut values = Vec::with_capacity(rows.len());
        for (i, r) in rows.iter().enumerate() {
            let v = match (origin, r.source) {
                (OutputColumn::Dimension(d), Some(src)) => {
                    let _ = d;
                    ScalarValue::try_from_array(source, src)?
                }
                (OutputColumn::Dimension(d), None) => {
                    match r.key[*d].and_then(|l| example.get(&(*d, l))) {
                        Some(&src) => ScalarValue::try_from_array(source, src)?,
                        None => ScalarValue::try_from(data_type)?,
                    }
                }
                (OutputColumn::Measure(_), _) if suppressed[i] => ScalarValue::try_from(data_type)?,
                (OutputColumn::Measure(m), Some(src)) => {
                    let v = ScalarValue::try_from_array(source, src)?;
                    if analysis.measures[*m].kind == MeasureKind::Count {
                        round_count(v, base)
                    } else {
                        v
                    }
                }
                (OutputColumn::Measure(m), None) => {
                    if analysis.measures[*m].kind == MeasureKind::Count {
                        ScalarValue::Int64(Some(0)).cast_to(data_type)?
                    } else {
                        ScalarValue::try_from(data_type)?
                    }
                }
            };
            values.push(v);
        }
        let array = if values.is_empty() {
            datafusion::arrow::array::new_empty_array(data_type)
        } else {
            ScalarValue::iter_to_array(values)?
        };
        columns.push(array);
    }
    Ok((schema.clone(), RecordBatch::try_new(schema, columns)?))
}

fn round_count(v: ScalarValue, base: i64) -> ScalarValue {
    match v {
        ScalarValue::Int64(Some(n)) => ScalarValue::Int64(Some(round_half_up_i64(n, base))),
        ScalarValue::Int32(Some(n)) => {
            ScalarValue::Int32(Some(round_half_up_i64(i64::from(n), base) as i32))
        }
        ScalarValue::UInt64(Some(n)) => ScalarValue::UInt64(Some(round_half_up_i64(
            i64::try_from(n).unwrap_or(i64::MAX),
            base,
        ) as u64)),
        other => other,
    }
}

/// One released (or about to be released) table, as differencing compares them.
struct Side<'a> {
    dims: &'a [String],
    /// The additive measures' names, and whether each one's margins are exact sums.
    measures: &'a [String],
    exact: &'a [bool],
    cells: &'a [LoggedCell],
}

/// Refuses a release that, with an earlier release of the same population (same measure, a
/// coarser or finer breakdown), would give back a cell that either table suppressed.
fn differencing(
    previous: &[Entry],
    population: &str,
    new: &Side,
    lower: f64,
    rules: &Rules,
) -> Result<()> {
    if new.measures.is_empty() {
        return Ok(());
    }
    let new_dims: BTreeSet<&String> = new.dims.iter().collect();
    for earlier in previous {
        if earlier.population != population
            || !earlier.additive.iter().any(|m| new.measures.contains(m))
        {
            continue;
        }
        let earlier_dims: BTreeSet<&String> = earlier.dimensions.iter().collect();
        let earlier_exact = if earlier.exact.len() == earlier.additive.len() {
            earlier.exact.clone()
        } else {
            vec![true; earlier.additive.len()]
        };
        let old = Side {
            dims: &earlier.dimensions,
            measures: &earlier.additive,
            exact: &earlier_exact,
            cells: &earlier.cells,
        };
        // The finer table's hidden cells, with the coarser table's cells published beside it.
        let mut checks: Vec<(&Side, &Side)> = Vec::new();
        if earlier_dims.is_subset(&new_dims) {
            checks.push((new, &old));
        }
        if new_dims.is_subset(&earlier_dims) {
            checks.push((&old, new));
        }
        for (fine, coarse) in checks {
            if let Some(cell) = recovered(fine, coarse, lower, rules) {
                return Err(refused(format!(
                    "refused: together with {} (released {}: {}), this table gives back the suppressed cell {}; release a table that does not overlap it, or the same breakdown as before",
                    earlier.id,
                    earlier.timestamp,
                    earlier.query.trim(),
                    cell
                )));
            }
        }
    }
    Ok(())
}

/// Refuses a release whose WHERE differs from an earlier release's over the same rows (same
/// FROM and joins, same breakdown) by a small group in some cell: the difference of the two
/// tables would publish it, as `WHERE region = 'A'` then `WHERE region = 'A' AND outcome = 'X'`
/// give away `region = 'A' AND outcome <> 'X'`. Each cell of the full breakdown is counted on
/// the rows only the earlier filter keeps and on those only the new one keeps, in one query; a
/// cell where one side is empty and the other has persons below the threshold is refused.
/// Margins need no query of their own: a margin with one side empty has that side empty in all
/// its cells, and its other side is at least the largest of theirs.
async fn differencing_by_filter(
    state: &SessionState,
    previous: &[Entry],
    analysis: &Analysis,
    dims: &[String],
    rules: &Rules,
) -> Result<()> {
    use datafusion::prelude::lit;
    let new_dims: BTreeSet<&String> = dims.iter().collect();
    let unit = if analysis.person_exprs.is_empty() {
        "rows"
    } else {
        "persons"
    };
    for earlier in previous {
        if earlier.base.is_empty()
            || earlier.base != analysis.base
            || earlier.population == analysis.population
            || earlier.dimensions.iter().collect::<BTreeSet<_>>() != new_dims
        {
            continue;
        }
        // The earlier filter, planned again from its recorded query.
        let Ok(plan) = state.create_logical_plan(&earlier.query).await else {
            continue;
        };
        let Ok(old) = analyze(&plan) else {
            continue;
        };
        if old.base != analysis.base {
            continue;
        }
        let old_filter = old.filter.unwrap_or(lit(true)).is_true();
        let new_filter = analysis.filter.clone().unwrap_or(lit(true)).is_true();
        let counts = contributors_by_side(
            state,
            &analysis.base_plan,
            &old_filter,
            &new_filter,
            &analysis.group_exprs,
            &analysis.person_exprs,
        )
        .await?;
        let small = |n: i64| n > 0 && (n as u64) < rules.threshold;
        for (key, [only_old, only_new]) in &counts {
            if (*only_old == 0 && small(*only_new)) || (*only_new == 0 && small(*only_old)) {
                let cell = if dims.is_empty() {
                    "the total".to_string()
                } else {
                    format!("{} = {key}", dims.join(", "))
                };
                return Err(refused(format!(
                    "refused: this table and {} (released {}: {}) count the same rows but for {} {unit} in {cell}, fewer than the threshold of {}; their difference would publish that group. Filter so that the two differ by more, or use the same filter",
                    earlier.id,
                    earlier.timestamp,
                    earlier.query.trim(),
                    only_old.max(only_new),
                    rules.threshold
                )));
            }
        }
    }
    Ok(())
}

/// Per cell of `keys` over `base`: the contributors (the smallest distinct count over the
/// person columns, or rows when there is none) that only `old` keeps and that only `new` keeps.
async fn contributors_by_side(
    state: &SessionState,
    base: &LogicalPlan,
    old: &datafusion::prelude::Expr,
    new: &datafusion::prelude::Expr,
    keys: &[datafusion::prelude::Expr],
    persons: &[datafusion::prelude::Expr],
) -> Result<HashMap<String, [i64; 2]>> {
    use datafusion::functions_aggregate::count::{count, count_distinct};
    use datafusion::logical_expr::LogicalPlanBuilder;
    use datafusion::prelude::lit;
    const SIDE: &str = "__fjq_only_new";
    let differ = old
        .clone()
        .and(!new.clone())
        .or(new.clone().and(!old.clone()));
    let mut group: Vec<datafusion::prelude::Expr> = keys.to_vec();
    group.push(new.clone().alias(SIDE));
    let mut aggregates = vec![count(lit(1))];
    aggregates.extend(persons.iter().map(|p| count_distinct(p.clone())));
    let plan = LogicalPlanBuilder::from(base.clone())
        .filter(differ)?
        .aggregate(group, aggregates)?
        .build()?;
    let batches = SessionContext::new_with_state(state.clone())
        .execute_logical_plan(plan)
        .await?
        .collect()
        .await?;
    let mut out: HashMap<String, [i64; 2]> = HashMap::new();
    for batch in &batches {
        let side = batch.column(keys.len()).as_boolean();
        for row in 0..batch.num_rows() {
            let key: Vec<String> = (0..keys.len())
                .map(|i| {
                    let c = batch.column(i);
                    if c.is_null(row) {
                        "NULL".to_string()
                    } else {
                        array_value_to_string(c, row).unwrap_or_default()
                    }
                })
                .collect();
            let counts: Vec<i64> = (keys.len() + 1..batch.num_columns())
                .map(|i| {
                    batch
                        .column(i)
                        .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                        .value(row)
                })
                .collect();
            let n = if counts.len() > 1 {
                counts[1..].iter().copied().min().unwrap_or(0)
            } else {
                counts[0]
            };
            out.entry(key.join(", ")).or_insert([0, 0])[usize::from(side.value(row))] = n;
        }
    }
    Ok(out)
}

/// Whether the coarse table's published cells, added to the fine table's own, pin a primary of
/// the fine table; returns that cell, described.
fn recovered(fine: &Side, coarse: &Side, lower: f64, rules: &Rules) -> Option<String> {
    let (fine_dims, fine_measures, fine_exact, fine_cells) =
        (fine.dims, fine.measures, fine.exact, fine.cells);
    let (coarse_dims, coarse_measures, coarse_cells) = (coarse.dims, coarse.measures, coarse.cells);
    // Levels as numbers per fine dimension.
    let mut levels: Vec<HashMap<String, u32>> = vec![HashMap::new(); fine_dims.len()];
    let keys: Vec<Vec<Option<u32>>> = fine_cells
        .iter()
        .map(|c| {
            c.key
                .iter()
                .enumerate()
                .map(|(d, k)| {
                    k.as_ref().map(|text| {
                        let n = levels[d].len() as u32;
                        *levels[d].entry(text.clone()).or_insert(n)
                    })
                })
                .collect()
        })
        .collect();
    let table = Table::new(
        fine_dims.len(),
        fine_measures.len(),
        fine_cells
            .iter()
            .zip(&keys)
            .map(|(c, k)| Cell {
                key: k.clone(),
                values: c.values.clone(),
                primary: c.primary,
                zero: c.zero,
                small: c.small,
            })
            .collect(),
    )
    .with_exact(fine_exact.to_vec());
    let suppressed: Vec<bool> = fine_cells.iter().map(|c| !c.published).collect();
    // Each published coarse cell: the fine interior cells it covers.
    let position: Vec<Option<usize>> = coarse_dims
        .iter()
        .map(|d| fine_dims.iter().position(|f| f == d))
        .collect();
    let interior: Vec<usize> = (0..fine_cells.len())
        .filter(|&i| table.is_interior(i))
        .collect();
    let mut equations = Vec::new();
    for c in coarse_cells.iter().filter(|c| c.published) {
        let mut wanted: Vec<(usize, &String)> = Vec::new();
        let mut ok = true;
        for (d, k) in c.key.iter().enumerate() {
            if let Some(text) = k {
                match position[d] {
                    Some(f) => wanted.push((f, text)),
                    None => ok = false,
                }
            }
        }
        if !ok {
            continue;
        }
        let covered: Vec<usize> = interior
            .iter()
            .copied()
            .filter(|&i| {
                wanted
                    .iter()
                    .all(|(f, text)| fine_cells[i].key[*f].as_ref() == Some(*text))
            })
            .collect();
        if covered.is_empty() {
            continue;
        }
        let values = fine_measures
            .iter()
            .map(|m| {
                coarse_measures
                    .iter()
                    .position(|x| x == m)
                    .map(|j| c.values[j])
            })
            .collect();
        equations.push(Equation {
            interior: covered,
            values,
            source: "earlier release".into(),
        });
    }
    for m in 0..fine_measures.len() {
        let system =
            fjq_udfs::disclosure::audit::System::new(&table, &suppressed, &equations, m, lower);
        for (i, cell) in fine_cells.iter().enumerate() {
            if !cell.primary || cell.published {
                continue;
            }
            let Ok(interval) = system.interval(&table, i, m) else {
                return Some(describe_logged(fine_dims, cell));
            };
            if !fjq_udfs::disclosure::audit::protects(
                interval,
                cell.values[m],
                cell.small,
                rules.protection,
            ) {
                return Some(describe_logged(fine_dims, cell));
            }
        }
    }
    None
}

fn describe_logged(dims: &[String], cell: &LoggedCell) -> String {
    dims.iter()
        .zip(&cell.key)
        .map(|(d, k)| format!("{d}={}", k.clone().unwrap_or_else(|| "(total)".into())))
        .collect::<Vec<_>>()
        .join(", ")
}
