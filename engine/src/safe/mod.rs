//! Safe outputs (design/DISCLOSURE.md): the policy that decides what may leave, the
//! `safe_table('<aggregate query>')` table function, and the release pipeline behind both.
//!
//! Under the `open` policy every result is returned and `safe_table` (or the shell's `\safe`)
//! releases a table on request. Under `safe`, statements that change the session or touch files
//! are refused by DataFusion's `SQLOptions`, row-level results are refused with the reason, and
//! every aggregate query is released as a safe table: the rules, secondary suppression and its
//! audit, the differencing check against the release log, and a report beside the table.

pub mod analyze;
pub mod exception;
mod lineage;
pub mod log;
pub mod release;
pub mod report;

use crate::{EngineError, Result};
use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{DataFusionError, ScalarValue, plan_err};
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{Expr, LogicalPlan, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::sql::sqlparser::ast;
use release::{Release, Releaser};
use std::fmt;
use std::sync::Arc;

/// The field metadata key a released table's columns carry to say what their NULLs mean, so
/// that no one takes a suppressed cell for missing data or a total for a suppressed cell: the
/// shell prints the meaning in place of NULL, and Flight clients read it from the schema.
pub const NULL_MEANING: &str = "fjq.null";
/// A measure's NULL: the cell is suppressed.
pub const NULL_SUPPRESSED: &str = "suppressed";
/// A dimension's NULL: the row is the total over that dimension (a ROLLUP or CUBE margin).
pub const NULL_TOTAL: &str = "all";

/// Who gets what (design/DISCLOSURE.md, "Policy").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// A researcher inside the environment: every result.
    #[default]
    Open,
    /// Anything leaving: aggregates only, each released through disclosure control.
    Safe,
}

impl std::str::FromStr for Policy {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "open" => Ok(Policy::Open),
            "safe" => Ok(Policy::Safe),
            other => Err(format!(
                "unknown policy '{other}'; expected 'open' or 'safe'"
            )),
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Policy::Open => "open",
            Policy::Safe => "safe",
        })
    }
}

/// What the safe policy does with a planned query.
pub enum Verdict {
    /// Run as it is: no data from the dataset's tables (e.g. `SELECT 1`, the catalogue), or only
    /// already-released safe tables.
    Run,
    /// Release through disclosure control.
    Release,
}

/// Decides a planned statement's fate under the safe policy.
pub fn judge(plan: &LogicalPlan) -> Result<Verdict> {
    if let LogicalPlan::Explain(_) = plan {
        return Ok(Verdict::Run);
    }
    if matches!(plan, LogicalPlan::Analyze(_)) {
        return Err(EngineError::Refused(
            "EXPLAIN ANALYZE is refused under the safe policy: its row counts describe individual records; EXPLAIN without ANALYZE shows the plan".into(),
        ));
    }
    let mut data_tables = Vec::new();
    let mut safe_tables = 0;
    plan.apply_with_subqueries(|p| {
        if let LogicalPlan::TableScan(scan) = p {
            let name = scan.table_name.table().to_string();
            if name.starts_with("safe_table") {
                safe_tables += 1;
            } else if scan.table_name.schema() != Some("information_schema") {
                data_tables.push(name);
            }
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    })?;
    if data_tables.is_empty() {
        return Ok(Verdict::Run);
    }
    if safe_tables > 0 {
        return Err(EngineError::Refused(
            "a query mixing safe_table with the dataset's tables is refused under the safe policy; release the whole query with safe_table".into(),
        ));
    }
    // An aggregate, or a survival curve (released whole, or refused with the reason).
    if analyze::is_aggregate(plan) || data_tables.iter().all(|t| t == crate::curve::SCAN_NAME) {
        return Ok(Verdict::Release);
    }
    data_tables.sort();
    data_tables.dedup();
    Err(EngineError::Refused(format!(
        "row-level results are refused under the safe policy: this query returns one row per record of {}, which could identify a child or a family. Aggregate it (GROUP BY with counts, sums or averages) and it will be released through disclosure control, with small cells suppressed",
        data_tables
            .iter()
            .map(|t| format!("`{t}`"))
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// `safe_table('<aggregate query>')`.
#[derive(Debug)]
pub struct SafeTableFunction {
    pub releaser: Arc<Releaser>,
}

impl TableFunctionImpl for SafeTableFunction {
    fn call_with_args(
        &self,
        args: TableFunctionArgs,
    ) -> datafusion::common::Result<Arc<dyn TableProvider>> {
        let sql = match args.exprs() {
            [
                Expr::Literal(
                    ScalarValue::Utf8(Some(s))
                    | ScalarValue::LargeUtf8(Some(s))
                    | ScalarValue::Utf8View(Some(s)),
                    _,
                ),
            ] => s.clone(),
            _ => {
                return plan_err!(
                    "safe_table takes one argument, the aggregate query as a string: safe_table('SELECT dfj_area, count(*) AS cases FROM cases GROUP BY dfj_area')"
                );
            }
        };
        let Some(state) = args.session().as_any().downcast_ref::<SessionState>() else {
            return plan_err!("safe_table: no session");
        };
        let state = state.clone();
        let plan = crate::plan_in_table_function(&state, &sql)?;
        if release::uses_safe_table(&plan) {
            return plan_err!("safe_table cannot be nested in a safe_table query");
        }
        if let Some(curve) =
            release::curve::curve_of(&plan).map_err(|e| DataFusionError::External(Box::new(e)))?
        {
            return Ok(Arc::new(SafeTable {
                sql,
                // Released tables carry the contract's strings (result_types).
                schema: crate::result_types::result_schema(&TableProvider::schema(&curve)),
                state,
                releaser: self.releaser.clone(),
            }));
        }
        let rules = fjq_udfs::settings::rules_from(state.config_options());
        let analysis = match analyze::analyze(&plan, &rules) {
            Ok(analysis) => analysis,
            Err(e) => {
                return plan_err!(
                    "safe_table: not releasable as a safe table: {}",
                    e.message()
                );
            }
        };
        let fields: Vec<_> = analysis
            .schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect();
        let schema = datafusion::arrow::datatypes::Schema::new(fields);
        Ok(Arc::new(SafeTable {
            sql,
            schema: crate::result_types::result_schema(&schema),
            state,
            releaser: self.releaser.clone(),
        }))
    }
}

/// The provider behind one `safe_table(...)` call: the release happens when it is read.
#[derive(Debug)]
struct SafeTable {
    sql: String,
    schema: SchemaRef,
    state: SessionState,
    releaser: Arc<Releaser>,
}

#[async_trait]
impl TableProvider for SafeTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::common::Result<Arc<dyn ExecutionPlan>> {
        let (sql, state, releaser) = (self.sql.clone(), self.state.clone(), self.releaser.clone());
        let compute: crate::deferred::Compute = Arc::new(move || {
            let (sql, state, releaser) = (sql.clone(), state.clone(), releaser.clone());
            Box::pin(async move {
                let released: Release = release::release(&state, &sql, &releaser)
                    .await
                    .map_err(|e| DataFusionError::External(Box::new(e)))?;
                Ok(released.batches)
            })
        });
        Ok(Arc::new(crate::deferred::DeferredExec::new(
            format!("SafeTableExec: {}", self.sql),
            &self.schema,
            projection,
            compute,
        )?))
    }
}

/// Whether a parsed statement is a plain query (what the safe policy can release).
pub fn is_query(statement: &datafusion::sql::parser::Statement) -> bool {
    matches!(
        statement,
        datafusion::sql::parser::Statement::Statement(s) if matches!(s.as_ref(), ast::Statement::Query(_))
    )
}
