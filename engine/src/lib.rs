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

pub mod error;
pub mod export;
pub mod memory;
pub mod safe;
mod validate;

pub use error::{EngineError, Result};
pub use fjq_sample_data::DatasetInfo;
pub use fjq_sample_data::contract::{self, ColumnSpec, ColumnType, TableSpec};
pub use safe::Policy;
pub use safe::release::Release;

use datafusion::dataframe::DataFrame;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::context::{SessionConfig, SessionContext};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::col;
use datafusion::sql::parser::{DFParser, Statement};
use fjq_udfs::FjqOptions;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How to build the session.
#[derive(Debug, Clone, Default)]
pub struct EngineConfig {
    /// Memory limit for query execution in bytes; operators that can spill do so beyond it.
    pub memory_limit: Option<usize>,
    /// Where spill files go (a temporary directory under it, removed when the engine closes).
    pub spill_dir: Option<PathBuf>,
    /// Parallelism; defaults to the machine's cores.
    pub target_partitions: Option<usize>,
    /// Also register the generator's ground truth (`_truth/`) as schema `truth`, for tests.
    pub register_truth: bool,
    /// The disclosure policy (design/DISCLOSURE.md).
    pub policy: Policy,
    /// Where safe releases and their log go.
    pub release_dir: Option<PathBuf>,
    /// Under the open policy, where SQL may write (COPY TO) besides the data directory.
    pub output_dir: Option<PathBuf>,
}

/// The open dataset and its session.
pub struct Engine {
    ctx: SessionContext,
    data_dir: PathBuf,
    dataset: DatasetInfo,
    policy: Policy,
    releaser: Arc<safe::release::Releaser>,
    output_dir: Option<PathBuf>,
    /// Each table's files (size and time) as last checked against the contract.
    files_seen: Arc<std::sync::Mutex<validate::Snapshot>>,
}

/// The views every session defines: joins researchers would otherwise write again and again.
pub const VIEWS: &[(&str, &str, &str)] = &[(
    "linked_people",
    "Family court people linked to Cafcass people through the linkage spine (one row per linked pair of records); filter on the match status columns to choose the linkage quality.",
    "SELECT p.case_id, p.role_id, p.person_id, p.role AS court_role, p.relationship_to_child, \
            lf.link_id, lf.match_status AS court_match_status, \
            cp.cafcass_case_id, cp.cafcass_person_id, cp.role AS cafcass_role, \
            lc.match_status AS cafcass_match_status \
     FROM people p \
     JOIN linkage lf ON lf.dataset = 'family_court' AND lf.source_person_id = p.person_id \
     JOIN linkage lc ON lc.dataset = 'cafcass' AND lc.link_id = lf.link_id \
     JOIN cafcass_people cp ON cp.cafcass_person_id = lc.source_person_id",
)];

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
        let dataset = read_dataset_json(&data_dir)?;

        let mut tables = Vec::new();
        for spec in contract::TABLES {
            let files = validate::table_files(&data_dir, spec)?;
            validate::check_files(spec, &files)?;
            tables.push(*spec);
        }
        let files_seen = Arc::new(std::sync::Mutex::new(validate::snapshot(
            &data_dir, &tables,
        )));

        let ctx = build_context(&dataset, &config)?;
        fjq_udfs::register_all(&ctx);
        for spec in &tables {
            register_table(&ctx, &data_dir, spec, None)?;
        }
        for (name, _, query) in VIEWS {
            ctx.sql(&format!("CREATE VIEW {name} AS {query}")).await?;
        }
        if config.register_truth {
            register_truth(&ctx, &data_dir)?;
        }
        let releaser = Arc::new(safe::release::Releaser::new(
            config.release_dir.as_ref().map(|d| absolute(d)),
        ));
        ctx.register_udtf(
            "safe_table",
            Arc::new(safe::SafeTableFunction {
                releaser: releaser.clone(),
            }),
        );
        Ok(Engine {
            ctx,
            data_dir,
            dataset,
            policy: config.policy,
            releaser,
            output_dir: config.output_dir.as_ref().map(|d| absolute(d)),
            files_seen,
        })
    }

    /// The disclosure policy in force.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// The one-line summary of the latest safe release, once (shown after its result).
    pub fn take_release_summary(&self) -> Option<String> {
        self.releaser.take_latest()
    }

    /// Whether `path` is somewhere SQL results may be written under the policy: anywhere when
    /// open; inside the release directory when safe.
    pub fn may_write(&self, path: &Path) -> Result<()> {
        if self.policy == Policy::Open {
            return Ok(());
        }
        let target = absolute(path);
        match self.releaser.dir.as_deref() {
            Some(dir) if target.starts_with(dir) => Ok(()),
            Some(dir) => Err(EngineError::Refused(format!(
                "{} is outside the release directory {}: under the safe policy results are written only there",
                target.display(),
                dir.display()
            ))),
            None => Err(EngineError::Refused(
                "under the safe policy results are written only to the release directory (--release-dir)".into(),
            )),
        }
    }

    /// Where safe releases go, if anywhere.
    pub fn release_dir(&self) -> Option<&Path> {
        self.releaser.dir.as_deref()
    }

    /// Releases an aggregate query as a safe table (design/DISCLOSURE.md): rules, secondary
    /// suppression, audit, differencing against the release log, report.
    pub async fn release(&self, sql: &str) -> Result<Release> {
        safe::release::release(&self.ctx.state(), sql, &self.releaser).await
    }

    /// The DataFusion session (for front ends that need more than `sql`).
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The dataset's `dataset.json`.
    pub fn dataset(&self) -> &DatasetInfo {
        &self.dataset
    }

    /// Before a query runs: if a table it reads has files added, removed or rewritten since they
    /// were last checked, checks them against the contract again (footers and schemas, as at
    /// open), so that a file replaced under a running engine is named rather than read with
    /// missing columns filled in as NULLs.
    fn recheck_changed_files(&self, plan: &datafusion::logical_expr::LogicalPlan) -> Result<()> {
        let specs = tables_scanned(plan).unwrap_or_else(|| contract::TABLES.to_vec());
        let now = validate::snapshot(&self.data_dir, &specs);
        let mut seen = self.files_seen.lock().unwrap_or_else(|p| p.into_inner());
        for spec in &specs {
            if now.get(spec.name) != seen.get(spec.name) {
                let files = validate::table_files(&self.data_dir, spec)?;
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
        plan: Option<&datafusion::logical_expr::LogicalPlan>,
        error: datafusion::error::DataFusionError,
    ) -> EngineError {
        let text = error.to_string();
        let reading = [
            "Parquet",
            "parquet",
            "Object at location",
            "No such file",
            "os error",
        ]
        .iter()
        .any(|w| text.contains(w));
        if !reading {
            return EngineError::DataFusion(error);
        }
        let specs = plan
            .and_then(tables_scanned)
            .unwrap_or_else(|| contract::TABLES.to_vec());
        validate::find_damage(&self.data_dir, &specs).unwrap_or(EngineError::DataFusion(error))
    }

    /// The contract tables (with descriptions) this engine serves.
    pub fn tables(&self) -> &'static [&'static TableSpec] {
        contract::TABLES
    }

    /// Splits SQL text into statements (several may be separated by `;`).
    pub fn parse(&self, sql: &str) -> Result<Vec<Statement>> {
        use datafusion::sql::sqlparser::dialect::{GenericDialect, dialect_from_str};
        let name = self
            .ctx
            .state()
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
            merge_reservation(limit).min(execution.sort_spill_reservation_bytes);
        Ok(Engine {
            ctx: SessionContext::new_with_state(state),
            data_dir: self.data_dir.clone(),
            dataset: self.dataset.clone(),
            policy: self.policy,
            releaser: self.releaser.clone(),
            output_dir: self.output_dir.clone(),
            files_seen: self.files_seen.clone(),
        })
    }

    /// Plans one parsed statement under the policy; executing the frame streams its result.
    /// Under the safe policy an aggregate query is released here (and its safe table returned).
    pub async fn plan(&self, statement: Statement) -> Result<DataFrame> {
        let state = self.ctx.state();
        let text = statement.to_string();
        let plan = state.statement_to_plan(statement).await.map_err(clarify)?;
        self.plan_logical(plan, &text).await
    }

    /// Whether the policy lets this plan run (or be released), without running it.
    pub fn check_policy(&self, plan: &datafusion::logical_expr::LogicalPlan) -> Result<()> {
        match self.policy {
            Policy::Open => self.check_paths(plan),
            Policy::Safe => {
                safe_statement_options(plan)?;
                safe::judge(plan).map(|_| ())
            }
        }
    }

    /// Applies the policy to a logical plan (`text` is the statement, for the release log).
    pub async fn plan_logical(
        &self,
        plan: datafusion::logical_expr::LogicalPlan,
        text: &str,
    ) -> Result<DataFrame> {
        self.recheck_changed_files(&plan)?;
        match self.policy {
            Policy::Open => self.check_paths(&plan)?,
            Policy::Safe => {
                safe_statement_options(&plan)?;
                if let safe::Verdict::Release = safe::judge(&plan)? {
                    let released =
                        safe::release::release_plan(&self.ctx.state(), plan, text, &self.releaser)
                            .await?;
                    return Ok(self.ctx.read_batches(released.batches)?);
                }
            }
        }
        self.ctx.execute_logical_plan(plan).await.map_err(clarify)
    }

    /// Under the open policy SQL may write and read files only in the data directory and the
    /// output directory (COPY ... TO, CREATE EXTERNAL TABLE).
    fn check_paths(&self, plan: &datafusion::logical_expr::LogicalPlan) -> Result<()> {
        use datafusion::logical_expr::{DdlStatement, LogicalPlan};
        let (verb, locations) = match plan {
            LogicalPlan::Copy(copy) => ("COPY ... TO", vec![copy.output_url.clone()]),
            LogicalPlan::Ddl(DdlStatement::CreateExternalTable(t)) => {
                ("CREATE EXTERNAL TABLE", t.locations.clone())
            }
            _ => return Ok(()),
        };
        for location in locations {
            self.check_path(verb, &location)?;
        }
        Ok(())
    }

    fn check_path(&self, verb: &str, location: &str) -> Result<()> {
        let path = absolute(Path::new(
            location.strip_prefix("file://").unwrap_or(location),
        ));
        let allowed = std::iter::once(self.data_dir.as_path())
            .chain(self.output_dir.as_deref())
            .chain(self.releaser.dir.as_deref());
        if location.contains("://") && !location.starts_with("file://") {
            return Err(EngineError::Refused(format!(
                "{verb} {location}: only local files in the data or output directory are allowed"
            )));
        }
        for dir in allowed {
            if path.starts_with(dir) {
                return Ok(());
            }
        }
        Err(EngineError::Refused(format!(
            "{verb} {}: outside the data directory ({}){}",
            path.display(),
            self.data_dir.display(),
            match &self.output_dir {
                Some(d) => format!(" and the output directory ({})", d.display()),
                None => String::new(),
            }
        )))
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
            other => other,
        })
    }

    /// Plans one SQL statement (under the policy, as [`Engine::plan`]).
    pub async fn sql(&self, sql: &str) -> Result<DataFrame> {
        let mut statements = self.parse(sql)?;
        if statements.len() != 1 {
            return Err(EngineError::DataFusion(
                datafusion::error::DataFusionError::Plan(format!(
                    "expected one statement, got {}",
                    statements.len()
                )),
            ));
        }
        self.plan(statements.remove(0)).await
    }
}

/// Under the safe policy only queries run: DataFusion's statement options refuse the rest.
fn safe_statement_options(plan: &datafusion::logical_expr::LogicalPlan) -> Result<()> {
    use datafusion::execution::context::SQLOptions;
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
        .verify_plan(plan)
        .map_err(|e| {
            EngineError::Refused(format!(
                "refused under the safe policy: {}; only queries run here (no SET, CREATE, COPY, INSERT or DROP)",
                e.strip_backtrace().trim_start_matches("Error during planning: ")
            ))
        })
}

/// A domain function's argument error comes back from DataFusion wrapped in its signature
/// matching text; give the user the function's own sentence as a planning error.
fn clarify(e: datafusion::error::DataFusionError) -> EngineError {
    let text = e.to_string();
    if let Some(message) = fjq_udfs::args::argument_error(&text) {
        return EngineError::DataFusion(datafusion::error::DataFusionError::Plan(message));
    }
    // "table 'datafusion.public.casez' not found": say which table was probably meant.
    if let Some(name) = text
        .split("table '")
        .nth(1)
        .and_then(|r| r.split("' not found").next())
    {
        let short = name.rsplit('.').next().unwrap_or(name);
        let known = contract::TABLES
            .iter()
            .map(|t| t.name)
            .chain(VIEWS.iter().map(|v| v.0));
        let best = known.map(|k| (edit_distance(short, k), k)).min();
        let hint = match best {
            Some((d, k)) if d <= 3 => format!("; did you mean `{k}`?"),
            _ => "; \\d lists the tables".to_string(),
        };
        return EngineError::DataFusion(datafusion::error::DataFusionError::Plan(format!(
            "table `{short}` not found{hint}"
        )));
    }
    EngineError::DataFusion(e)
}

/// A path made absolute against the current directory, with `.` and `..` resolved lexically
/// (the file need not exist yet).
fn absolute(path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut out = PathBuf::new();
    for part in joined.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    // Resolve symbolic links in the part that exists, so a link cannot lead outside.
    let mut existing = out.clone();
    let mut rest = Vec::new();
    while !existing.exists() {
        match existing.file_name() {
            Some(name) => rest.push(name.to_os_string()),
            None => break,
        }
        existing.pop();
    }
    let mut resolved = existing.canonicalize().unwrap_or(existing);
    for name in rest.into_iter().rev() {
        resolved.push(name);
    }
    resolved
}

/// Levenshtein distance, for suggesting a known name.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            current[j + 1] = (previous[j] + usize::from(ca != *cb))
                .min(previous[j + 1] + 1)
                .min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

fn read_dataset_json(data_dir: &Path) -> Result<DatasetInfo> {
    let path = data_dir.join(DatasetInfo::FILE_NAME);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(EngineError::DatasetJsonMissing { path });
        }
        Err(e) => {
            return Err(EngineError::DatasetJsonInvalid {
                path,
                message: e.to_string(),
            });
        }
    };
    let info: DatasetInfo =
        serde_json::from_str(&text).map_err(|e| EngineError::DatasetJsonInvalid {
            path: path.clone(),
            message: e.to_string(),
        })?;
    for (name, date) in [
        (
            "coverage.family_court.from",
            &info.coverage.family_court.from,
        ),
        ("coverage.family_court.to", &info.coverage.family_court.to),
        ("coverage.cafcass.from", &info.coverage.cafcass.from),
        ("coverage.cafcass.to", &info.coverage.cafcass.to),
    ] {
        if !is_iso_date(date) {
            return Err(EngineError::DatasetJsonInvalid {
                path,
                message: format!("{name} is {date:?}, expected a date written YYYY-MM-DD"),
            });
        }
    }
    Ok(info)
}

fn is_iso_date(s: &str) -> bool {
    fjq_udfs::settings::parse_iso_date(s).is_some()
}

/// What each sort sets aside for merging its spilled runs. DataFusion's 10 MB per sort is too
/// much under a small limit: two partitions sorting at once would need 20 MB before sorting
/// anything, and fail rather than spill. A quarter of the limit, at most 10 MB.
fn merge_reservation(limit: usize) -> usize {
    (limit / 4).clamp(1 << 20, 10 << 20)
}

/// The contract tables a plan reads, seeing through the views; `None` when it reads something
/// else too (a table function such as `safe_table`), so that every table is checked.
fn tables_scanned(plan: &datafusion::logical_expr::LogicalPlan) -> Option<Vec<&'static TableSpec>> {
    use datafusion::common::tree_node::TreeNodeRecursion;
    use datafusion::logical_expr::LogicalPlan;
    let mut names = Vec::new();
    let mut unknown = false;
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let name = scan.table_name.table();
            if name == "linked_people" {
                names.extend(["people", "linkage", "cafcass_people"]);
            } else if let Some(spec) = contract::TABLES.iter().find(|t| t.name == name) {
                names.push(spec.name);
            } else {
                unknown = true;
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    if unknown {
        return None;
    }
    Some(
        contract::TABLES
            .iter()
            .filter(|t| names.contains(&t.name))
            .copied()
            .collect(),
    )
}

fn build_context(dataset: &DatasetInfo, config: &EngineConfig) -> Result<SessionContext> {
    let options = FjqOptions {
        court_coverage_start: dataset.coverage.family_court.from.clone(),
        court_coverage_end: dataset.coverage.family_court.to.clone(),
        cafcass_coverage_start: dataset.coverage.cafcass.from.clone(),
        cafcass_coverage_end: dataset.coverage.cafcass.to.clone(),
        disclosure: Default::default(),
    };
    let partitions = config.target_partitions.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    let mut session = SessionConfig::new()
        .with_information_schema(true)
        .with_target_partitions(partitions)
        .with_option_extension(options);
    // Page-index pruning and statistics make the sorted layout pay off.
    session.options_mut().execution.parquet.enable_page_index = true;
    session.options_mut().execution.parquet.pushdown_filters = false;
    let mut runtime = RuntimeEnvBuilder::new();
    if let Some(limit) = config.memory_limit {
        if limit == 0 {
            return Err(EngineError::Config(
                "the memory limit must be above zero".to_string(),
            ));
        }
        runtime = runtime.with_memory_limit(limit, 1.0);
        session.options_mut().execution.sort_spill_reservation_bytes = merge_reservation(limit);
    }
    if let Some(dir) = &config.spill_dir {
        if !dir.is_dir() {
            return Err(EngineError::Config(format!(
                "spill directory {} does not exist",
                dir.display()
            )));
        }
        runtime = runtime.with_temp_file_path(dir);
    }
    let state = SessionStateBuilder::new()
        .with_config(session)
        .with_runtime_env(runtime.build_arc()?)
        .with_default_features()
        .with_physical_optimizer_rule(Arc::new(fjq_udfs::entries::window_exec::EntryWindowRule))
        .build();
    Ok(SessionContext::new_with_state(state))
}

fn sql_type(t: ColumnType) -> &'static str {
    match t {
        ColumnType::Utf8 => "VARCHAR",
        ColumnType::Date32 => "DATE",
        ColumnType::Int32 => "INT",
        ColumnType::Int64 => "BIGINT",
        ColumnType::Float64 => "DOUBLE",
        ColumnType::Boolean => "BOOLEAN",
    }
}

/// The table's definition as DDL with each column's description as a comment: what
/// `SHOW CREATE TABLE` and `information_schema.views` show.
pub fn definition(spec: &TableSpec, location: &Path) -> String {
    let mut s = format!(
        "-- {}\nCREATE EXTERNAL TABLE {} (\n",
        spec.description, spec.name
    );
    for (i, c) in spec.columns.iter().enumerate() {
        let comma = if i + 1 < spec.columns.len() { "," } else { "" };
        let null = if c.nullable { "" } else { " NOT NULL" };
        s.push_str(&format!(
            "  {} {}{}{} -- {}\n",
            c.name,
            sql_type(c.data_type),
            null,
            comma,
            c.description
        ));
    }
    s.push_str(&format!(
        ")\nSTORED AS PARQUET\nWITH ORDER ({})\nLOCATION '{}/'",
        spec.sort_order.join(", "),
        location.display()
    ));
    s
}

fn register_table(
    ctx: &SessionContext,
    data_dir: &Path,
    spec: &TableSpec,
    as_name: Option<&str>,
) -> Result<()> {
    let dir = data_dir.join(spec.name);
    let url = ListingTableUrl::parse(format!("{}/", dir.display()))?;
    let order = vec![
        spec.sort_order
            .iter()
            .map(|c| col(*c).sort(true, false))
            .collect(),
    ];
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_file_sort_order(order);
    // Columns keep their descriptions; the table's own goes in its definition, not the schema:
    // DataFusion's join reordering compares the schema-level metadata of the two sides of a
    // join and fails (an internal error) when they differ.
    let schema = Arc::new(
        spec.schema()
            .as_ref()
            .clone()
            .with_metadata(Default::default()),
    );
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(schema);
    let table = ListingTable::try_new(config)?.with_definition(Some(definition(spec, &dir)));
    ctx.register_table(as_name.unwrap_or(spec.name), Arc::new(table))?;
    Ok(())
}

/// Registers `_truth/` tables in a schema `truth` (e.g. `truth.entries`).
fn register_truth(ctx: &SessionContext, data_dir: &Path) -> Result<()> {
    use datafusion::catalog::MemorySchemaProvider;
    let truth_dir = data_dir.join("_truth");
    let catalog = ctx
        .catalog("datafusion")
        .ok_or_else(|| EngineError::Config("the default catalog is missing".to_string()))?;
    catalog.register_schema("truth", Arc::new(MemorySchemaProvider::new()))?;
    for spec in contract::truth::TABLES {
        let files = validate::table_files(&truth_dir, spec)?;
        validate::check_files(spec, &files)?;
        register_table(ctx, &truth_dir, spec, Some(&format!("truth.{}", spec.name)))?;
    }
    Ok(())
}

/// Parses a memory size such as `512M`, `1G`, `1.5GB` or a plain byte count.
pub fn parse_memory_size(text: &str) -> Result<usize> {
    let t = text.trim().to_ascii_uppercase();
    let t = t.strip_suffix('B').unwrap_or(&t);
    let (number, unit) = match t.chars().last() {
        Some('K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('M') => (&t[..t.len() - 1], 1 << 20),
        Some('G') => (&t[..t.len() - 1], 1 << 30),
        Some('T') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    match number.trim().parse::<f64>() {
        Ok(n) if n > 0.0 && n.is_finite() => Ok((n * unit as f64) as usize),
        _ => Err(EngineError::Config(format!(
            "memory size {text:?} is not understood: write a number with an optional unit, like 512M or 2G"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_memory_size("512m").unwrap(), 512 << 20);
        assert_eq!(parse_memory_size("1.5GB").unwrap(), 3 << 29);
        assert_eq!(parse_memory_size("1000").unwrap(), 1000);
        for bad in ["", "G", "-1G", "lots", "0"] {
            assert!(parse_memory_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn iso_dates() {
        assert!(is_iso_date("2021-01-31"));
        for bad in ["2021-1-31", "2021-13-01", "20210131", "2021-01-3x", ""] {
            assert!(!is_iso_date(bad), "{bad}");
        }
    }
}
