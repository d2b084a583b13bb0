//! fjq's engine: one DataFusion session over a Data First family court – Cafcass dataset.
//!
//! [`Engine::open`] reads `dataset.json`, validates every table of the data contract
//! (design/DATA.md) against its Parquet files, registers the tables with their column
//! descriptions and declared sort orders, defines the researchers' views (`linked_people`),
//! exposes the coverage windows as `fjq.*` session settings, registers the domain functions,
//! and applies the memory limit and spill directory. It enforces the disclosure policy on every
//! statement ([`safe`]): under `safe`, row-level results are refused and aggregates are released
//! through disclosure control. Every front end (shell, batch mode, Flight SQL) goes through this
//! one API; the engine knows nothing about terminals or networks.

pub mod catalogue;
pub mod compact_views;
pub mod config;
pub mod curve;
mod dataset;
pub mod date_parts;
pub mod day_shift;
mod deferred;
pub mod diagnostics;
pub mod error;
pub mod export;
pub mod file_ranges;
pub mod filter_placement;
pub mod gather;
pub mod hash_join;
pub mod implied_joins;
pub mod import;
pub mod inner_merge;
pub mod join_mode;
pub mod key_sort;
pub mod memory;
pub mod merge_join;
pub mod null_counts;
pub mod probe_filter;
pub mod repartition_once;
pub mod result_types;
pub mod safe;
mod sandbox;
pub mod small_domains;
pub mod small_keys;
pub mod sorted_aggregate;
pub mod sorted_distinct;
#[cfg(test)]
mod test_support;
mod validate;

pub use catalogue::{VIEWS, View, definition};
pub use config::{EngineConfig, parse_memory_size};
pub use error::{EngineError, ErrorKind, Result};
pub use fjq_contract::{self as contract, ColumnSpec, ColumnType, DatasetInfo, TableSpec};
pub use safe::Policy;
pub use safe::release::Release;

use datafusion::dataframe::DataFrame;
use datafusion::execution::context::{SessionContext, SessionState};
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::{DFParser, Statement};
use sandbox::{Sandbox, absolute};
use std::path::Path;
use std::sync::Arc;

/// The open dataset and its session.
pub struct Engine {
    ctx: SessionContext,
    dataset: DatasetInfo,
    sandbox: Sandbox,
    releaser: Arc<safe::release::Releaser>,
    /// Each table's files (size and time) as last checked against the contract.
    files_seen: Arc<std::sync::Mutex<validate::Snapshot>>,
}

impl Engine {
    /// Opens a data directory: validates it against the contract and builds the session.
    pub async fn open(data_dir: impl AsRef<Path>, config: EngineConfig) -> Result<Engine> {
        let given = data_dir.as_ref();
        if !given.exists() {
            return Err(EngineError::DataDirMissing(given.to_path_buf()));
        }
        if !given.is_dir() {
            return Err(EngineError::NotADirectory(given.to_path_buf()));
        }
        let data_dir = given
            .canonicalize()
            .map_err(|_| EngineError::DataDirMissing(given.to_path_buf()))?;
        let dataset = dataset::read(&data_dir)?;
        let present = dataset.present_tables();
        let mut checked = Vec::with_capacity(present.len());
        for spec in &present {
            let files = validate::table_files(&data_dir, spec)?;
            let ranges = validate::check_files(spec, &files)?;
            checked.push(file_ranges::TableFiles {
                spec,
                files,
                ranges,
            });
        }
        let files_seen = Arc::new(std::sync::Mutex::new(validate::snapshot(
            &data_dir, &present,
        )));

        let ctx = config::build_context(&dataset, &config)?;
        fjq_udfs::register_all(&ctx);
        date_parts::register(&ctx);
        catalogue::register(&ctx, &data_dir, &checked, &config).await?;
        if config.register_truth {
            catalogue::register_truth(&ctx, &data_dir)?;
        }
        let release_dir = config.release_dir.as_deref().map(absolute);
        let releaser = Arc::new(safe::release::Releaser::new(release_dir.clone()));
        ctx.register_udtf(
            "safe_table",
            Arc::new(safe::SafeTableFunction {
                releaser: releaser.clone(),
            }),
        );
        ctx.register_udtf(curve::FUNCTION, Arc::new(curve::ReturnCurveFunction));
        ctx.register_udf(datafusion::logical_expr::ScalarUDF::new_from_impl(
            safe::exception::AddException::new(releaser.clone()),
        ));
        Ok(Engine {
            ctx,
            dataset,
            sandbox: Sandbox {
                policy: config.policy,
                data_dir,
                output_dir: config.output_dir.as_deref().map(absolute),
                release_dir,
            },
            releaser,
            files_seen,
        })
    }

    /// An error as a user of this engine may see it: under the safe policy, one that arose while
    /// the query ran has its values taken out (the text a cast failed on, the number that
    /// overflowed), since the user may see no row; planning errors, which quote only the
    /// user's own SQL, and the engine's own messages stay as they are.
    pub fn for_user(&self, error: EngineError) -> EngineError {
        if self.policy() != Policy::Safe {
            return error;
        }
        match error {
            EngineError::DataFusion(e) if diagnostics::arose_in_execution(&e) => {
                EngineError::Redacted(diagnostics::redact(&diagnostics::describe(&e)))
            }
            EngineError::Arrow(e) => EngineError::Redacted(diagnostics::redact(&e.to_string())),
            other => other,
        }
    }

    /// The disclosure policy in force.
    pub fn policy(&self) -> Policy {
        self.sandbox.policy
    }

    /// The one-line summary of the latest safe release, once (shown after its result).
    pub fn take_release_summary(&self) -> Option<String> {
        self.releaser.take_latest()
    }

    /// Whether `path` is somewhere SQL results may be written under the policy: anywhere when
    /// open; inside the release directory when safe.
    pub fn may_write(&self, path: &Path) -> Result<()> {
        self.sandbox.may_write(path)
    }

    /// Where safe releases go, if anywhere.
    pub fn release_dir(&self) -> Option<&Path> {
        self.releaser.dir.as_deref()
    }

    /// Releases an aggregate query as a safe table (design/DISCLOSURE.md): rules, secondary
    /// suppression, audit, differencing against the release log, report.
    pub async fn release(&self, sql: &str) -> Result<Release> {
        safe::release::release(&self.ctx.state(), sql, &self.releaser)
            .await
            .map_err(|e| self.for_user(e))
    }

    /// The DataFusion session (for front ends that need more than `sql`).
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    pub fn data_dir(&self) -> &Path {
        &self.sandbox.data_dir
    }

    /// The dataset's `dataset.json`.
    pub fn dataset(&self) -> &DatasetInfo {
        &self.dataset
    }

    /// Before a query runs: if a table it reads has files added, removed or rewritten since they
    /// were last checked, checks them against the contract again (footers and schemas, as at
    /// open), so that a file replaced under a running engine is named rather than read with
    /// missing columns filled in as NULLs.
    fn recheck_changed_files(&self, plan: &LogicalPlan) -> Result<()> {
        let present = self.dataset.present_tables();
        let specs: Vec<_> = catalogue::tables_scanned(plan)
            .unwrap_or_else(|| contract::TABLES.to_vec())
            .into_iter()
            .filter(|t| present.iter().any(|p| p.name == t.name))
            .collect();
        let now = validate::snapshot(&self.sandbox.data_dir, &specs);
        let mut seen = self.files_seen.lock().unwrap_or_else(|p| p.into_inner());
        for spec in &specs {
            if now.get(spec.name) != seen.get(spec.name) {
                let files = validate::table_files(&self.sandbox.data_dir, spec)?;
                validate::check_files(spec, &files)?;
                if let Some(files) = now.get(spec.name) {
                    seen.insert(spec.name, files.clone());
                }
            }
        }
        Ok(())
    }

    /// Explains a query that failed while it ran. When it failed reading the dataset (a file
    /// truncated, replaced, damaged or deleted since the engine opened it), the answer names
    /// the table and the file, found by reading the files of the tables `plan` scans. Any other
    /// failure comes back as it was.
    pub fn explain_failure(
        &self,
        plan: Option<&LogicalPlan>,
        error: datafusion::error::DataFusionError,
    ) -> EngineError {
        if !diagnostics::is_read_failure(&error) {
            return self.for_user(EngineError::from(error));
        }
        let present = self.dataset.present_tables();
        let specs: Vec<_> = plan
            .and_then(catalogue::tables_scanned)
            .unwrap_or_else(|| contract::TABLES.to_vec())
            .into_iter()
            .filter(|t| present.iter().any(|p| p.name == t.name))
            .collect();
        validate::find_damage(&self.sandbox.data_dir, &specs)
            .unwrap_or_else(|| self.for_user(EngineError::from(error)))
    }

    /// The contract tables (with descriptions) this engine serves.
    pub fn tables(&self) -> &'static [&'static TableSpec] {
        contract::TABLES
    }

    /// Splits SQL text into statements (several may be separated by `;`).
    pub fn parse(&self, sql: &str) -> Result<Vec<Statement>> {
        use datafusion::sql::sqlparser::dialect::{GenericDialect, dialect_from_str};
        // Read in place: `state()` copies the whole session, every function registry with it,
        // and each statement paid for that copy just to read this one setting.
        let name = self
            .ctx
            .state_ref()
            .read()
            .config()
            .options()
            .sql_parser
            .dialect
            .to_string();
        let dialect = dialect_from_str(&name).unwrap_or_else(|| Box::new(GenericDialect {}));
        let statements = DFParser::parse_sql_with_dialect(sql, dialect.as_ref())?;
        Ok(statements.into_iter().collect())
    }

    /// A view of this engine whose queries may use `limit` bytes between them, within the
    /// engine's own limit (the server gives each query one); tables, functions, policy and
    /// releases are shared.
    pub fn with_memory_limit(&self, limit: usize) -> Result<Engine> {
        use datafusion::execution::runtime_env::RuntimeEnv;
        use datafusion::execution::session_state::SessionStateBuilder;
        let base = self.ctx.runtime_env();
        let pool = Arc::new(memory::QueryPool::new(base.memory_pool.clone(), limit));
        let runtime = RuntimeEnv {
            memory_pool: pool,
            disk_manager: base.disk_manager.clone(),
            cache_manager: base.cache_manager.clone(),
            object_store_registry: base.object_store_registry.clone(),
        };
        let mut state = SessionStateBuilder::new_from_existing(self.ctx.state())
            .with_runtime_env(Arc::new(runtime))
            .build();
        let execution = &mut state.config_mut().options_mut().execution;
        execution.sort_spill_reservation_bytes =
            config::merge_reservation(limit).min(execution.sort_spill_reservation_bytes);
        Ok(Engine {
            ctx: SessionContext::new_with_state(state),
            dataset: self.dataset.clone(),
            sandbox: self.sandbox.clone(),
            releaser: self.releaser.clone(),
            files_seen: self.files_seen.clone(),
        })
    }

    /// Plans one parsed statement under the policy; executing the frame streams its result.
    /// Under the safe policy an aggregate query is released here (and its safe table returned).
    pub async fn plan(&self, statement: Statement) -> Result<DataFrame> {
        self.memory_settled().await;
        let state = self.ctx.state();
        let text = statement.to_string();
        let plan = state.statement_to_plan(statement).await?;
        self.plan_in(plan, &text, Some(state)).await
    }

    /// Waits, for ten seconds at most, until the memory earlier queries held is back in the
    /// pool. A query that failed or was cancelled has its tasks aborted, and an aborted task
    /// frees what it holds only when it next waits (a task in the middle of building a hash
    /// table finishes that first): on a busy machine the next statement could otherwise start
    /// with part of its memory limit still taken, and fail where it would have run ("a query
    /// beyond the limit fails alone"). Two seconds were not always enough for the debug build
    /// under the test suite's load.
    async fn memory_settled(&self) {
        let pool = &self.ctx.runtime_env().memory_pool;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while pool.reserved() > 0 && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    /// Whether the policy lets this plan run (or be released), without running it.
    pub fn check_policy(&self, plan: &LogicalPlan) -> Result<()> {
        match self.policy() {
            Policy::Open => self.sandbox.check_plan(plan),
            Policy::Safe => {
                safe_statement_options(plan)?;
                safe::judge(plan).map(|_| ())
            }
        }
    }

    /// Applies the policy to a logical plan (`text` is the statement, for the release log).
    pub async fn plan_logical(&self, plan: LogicalPlan, text: &str) -> Result<DataFrame> {
        self.plan_in(plan, text, None).await
    }

    /// [`Engine::plan_logical`], for a query in `state` if given: the copy of the session the
    /// statement was planned in, taken at its start, which a query then runs in rather than in
    /// a copy of its own (each copy of a session copies every function registry).
    async fn plan_in(
        &self,
        plan: LogicalPlan,
        text: &str,
        state: Option<SessionState>,
    ) -> Result<DataFrame> {
        self.recheck_changed_files(&plan)?;
        match self.policy() {
            Policy::Open => self.sandbox.check_plan(&plan)?,
            Policy::Safe => {
                safe_statement_options(&plan)?;
                if let safe::Verdict::Release = safe::judge(&plan)? {
                    let released =
                        safe::release::release_plan(&self.ctx.state(), plan, text, &self.releaser)
                            .await
                            .map_err(|e| self.for_user(e))?;
                    return Ok(self.ctx.read_batches(released.batches)?);
                }
            }
        }
        let plan = result_types::with_result_types(plan)?;
        match (plan, state) {
            // Definitions and statements (`SET`, `CREATE VIEW`, ...) change the session itself.
            (plan @ (LogicalPlan::Ddl(_) | LogicalPlan::Statement(_)), _) | (plan, None) => {
                Ok(self.ctx.execute_logical_plan(plan).await?)
            }
            (plan, Some(state)) => Ok(DataFrame::new(state, plan)),
        }
    }

    /// Runs one SQL statement and streams its result into `path` (format by extension).
    pub async fn export(&self, sql: &str, path: &Path) -> Result<u64> {
        let frame = self.sql(sql).await?;
        let plan = frame.logical_plan().clone();
        let stream = frame
            .execute_stream()
            .await
            .map_err(|e| self.explain_failure(Some(&plan), e))?;
        export::export(stream, path).await.map_err(|e| match e {
            EngineError::DataFusion(e) => self.explain_failure(Some(&plan), e),
            other => self.for_user(other),
        })
    }

    /// Plans one SQL statement (under the policy, as [`Engine::plan`]).
    pub async fn sql(&self, sql: &str) -> Result<DataFrame> {
        let mut statements = self.parse(sql)?;
        if statements.len() != 1 {
            return Err(EngineError::Config(format!(
                "expected one SQL statement, got {}",
                statements.len()
            )));
        }
        self.plan(statements.remove(0)).await
    }
}

/// Plans SQL from inside a table function (`safe_table`, `return_curve`), whose call is not
/// async. Planning reads only the catalogue (in memory), so it completes at once; it runs on a
/// thread of its own because a table function can be planned inside another one's planning,
/// and an executor cannot run inside another on one thread.
pub(crate) fn plan_in_table_function(
    state: &SessionState,
    sql: &str,
) -> datafusion::common::Result<LogicalPlan> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| futures::executor::block_on(state.create_logical_plan(sql)))
            .join()
            .unwrap_or_else(|_| datafusion::common::internal_err!("planning {sql} failed"))
    })
}

/// Under the safe policy only queries run: DataFusion's statement options refuse the rest.
fn safe_statement_options(plan: &LogicalPlan) -> Result<()> {
    use datafusion::execution::context::SQLOptions;
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
        .verify_plan(plan)
        .map_err(|e| {
            EngineError::Refused(format!(
                "refused under the safe policy: {}; only queries run here (no SET, CREATE, COPY, INSERT or DROP)",
                e.message()
            ))
        })
}
