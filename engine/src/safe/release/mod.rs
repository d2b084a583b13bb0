//! A safe release, step by step: run the rewritten query and read its cells ([`cells`]), choose
//! and audit the suppression pattern (`fjq_udfs::disclosure::protect`), check it against earlier
//! releases ([`differencing`]), build the table as published ([`publish`]), and write it with its
//! report and log entry ([`store`]).

pub(crate) mod cells;
pub(crate) mod curve;
mod differencing;
mod publish;
pub(crate) mod store;

use super::analyze::analyze;
use crate::{EngineError, Result};
use cells::CellTable;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use fjq_udfs::disclosure::protect;
use std::path::PathBuf;
use std::sync::Arc;

/// Where releases go, shared by every query of an engine (releases are numbered one at a time).
#[derive(Debug)]
pub struct Releaser {
    pub dir: Option<PathBuf>,
    pub(crate) lock: tokio::sync::Mutex<()>,
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
    /// The summary line, when the release is not a table of cells (a survival curve).
    pub description: Option<String>,
}

impl Release {
    /// One line for the shell: what was released and where.
    pub fn summary(&self) -> String {
        if let Some(d) = &self.description {
            return d.clone();
        }
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

pub(crate) fn refused(message: impl Into<String>) -> EngineError {
    EngineError::Refused(message.into())
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
    if let Some(curve) = curve::curve_of(&plan)? {
        return curve::release_curve(state, &curve, sql, releaser, &dir).await;
    }
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
    let rules = fjq_udfs::settings::rules_from(state.config_options());
    let analysis = analyze(&plan, &rules)
        .map_err(|e| refused(format!("not releasable as a safe table: {}", e.message())))?;

    let (result, cells) = run_cells(state, &analysis, &rules).await?;

    // The message names the cell but not the interval the margins leave it: its bounds are
    // the hidden value, or close to it.
    let protection = protect(&cells.table, cells.lower, rules.protection).map_err(|u| {
        refused(format!(
            "cannot protect cell {} ({}): the published cells pin it down whatever else is hidden{}",
            cells.describe(u.cell),
            cells
                .additive_names
                .get(u.measure)
                .cloned()
                .unwrap_or_default(),
            if u.reason.is_empty() {
                String::new()
            } else {
                format!("; {}", u.reason)
            }
        ))
    })?;

    // One release at a time from here: the log is read, checked against and appended to.
    let _guard = releaser.lock.lock().await;
    let store = store::Store::open(&dir)?;
    let logged = cells.logged(&protection.suppressed);
    differencing::against_the_log(state, &store, &analysis, &cells, &logged, &rules).await?;

    let (_, table) =
        publish::published_batch(&analysis, &result, &cells, &protection.suppressed, &rules)?;
    // Code columns read as string views leave as the contract's strings (result_types).
    let table = crate::result_types::batch_with_result_types(table)?;
    let out_schema = table.schema();
    let written = store.write(store::Record {
        sql,
        rules: &rules,
        analysis: &analysis,
        cells: &cells,
        logged,
        protection: &protection,
        table: &table,
        curve: None,
    })?;

    let primary = cells.primary();
    let secondary = protection.secondary.len();
    let released = Release {
        id: written.id,
        dir: written.dir,
        schema: out_schema,
        batches: vec![table],
        status: if primary + secondary == 0 && !analysis.measures.iter().any(|m| m.endpoint) {
            "pass"
        } else {
            "review"
        }
        .to_string(),
        cells: cells.rows.len(),
        primary,
        secondary,
        report: written.report,
        description: None,
    };
    if let Ok(mut latest) = releaser.latest.lock() {
        *latest = Some(released.summary());
    }
    Ok(released)
}

/// Runs the rewritten query once; its rows become the cells every later step reads.
pub(crate) async fn run_cells(
    state: &SessionState,
    analysis: &super::analyze::Analysis,
    rules: &fjq_udfs::disclosure::Rules,
) -> Result<(RecordBatch, CellTable)> {
    let batches = SessionContext::new_with_state(state.clone())
        .execute_logical_plan(analysis.plan.clone())
        .await?
        .collect()
        .await?;
    let schema = batches
        .first()
        .map(|b| b.schema())
        .unwrap_or_else(|| Arc::new(analysis.plan.schema().as_arrow().clone()));
    let result = datafusion::arrow::compute::concat_batches(&schema, &batches)?;
    let cells = CellTable::build(analysis, &result, rules)?;
    Ok((result, cells))
}

/// The safe-table analysis of a logged query, planned again (a curve's is its persons table).
pub(crate) async fn analysis_of(
    state: &SessionState,
    query: &str,
    rules: &fjq_udfs::disclosure::Rules,
) -> Option<super::analyze::Analysis> {
    let plan = state.create_logical_plan(query).await.ok()?;
    match curve::curve_of(&plan) {
        Ok(Some(curve)) => curve::persons_table(&curve, rules).ok(),
        Ok(None) => analyze(&plan, rules).ok(),
        Err(_) => None,
    }
}

/// Whether a plan reads a `safe_table(...)` (a release cannot contain another).
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
