//! The catalogue: the contract's tables registered over their Parquet folders (with column
//! descriptions, declared sort orders and a definition `SHOW CREATE TABLE` prints), the views
//! every session defines, and the ground truth for tests.

use crate::error::{EngineError, Result};
use crate::validate;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::col;
use fjq_contract::{ColumnType, TableSpec};
use std::path::Path;
use std::sync::Arc;

/// A view every session defines.
#[derive(Debug, Clone, Copy)]
pub struct View {
    pub name: &'static str,
    pub description: &'static str,
    pub sql: &'static str,
}

/// The views every session defines: joins researchers would otherwise write again and again.
pub const VIEWS: &[View] = &[View {
    name: "linked_people",
    description: "Family court people linked to Cafcass people through the linkage spine (one row per linked pair of records); filter on the match status columns to choose the linkage quality.",
    sql: "SELECT p.case_id, p.role_id, p.person_id, p.role AS court_role, p.relationship_to_child, \
            lf.link_id, lf.match_status AS court_match_status, \
            cp.cafcass_case_id, cp.cafcass_person_id, cp.role AS cafcass_role, \
            lc.match_status AS cafcass_match_status \
     FROM people p \
     JOIN linkage lf ON lf.dataset = 'family_court' AND lf.source_person_id = p.person_id \
     JOIN linkage lc ON lc.dataset = 'cafcass' AND lc.link_id = lf.link_id \
     JOIN cafcass_people cp ON cp.cafcass_person_id = lc.source_person_id",
}];

/// Registers every contract table of `data_dir` and defines the views.
pub(crate) async fn register(ctx: &SessionContext, data_dir: &Path) -> Result<()> {
    for spec in fjq_contract::TABLES {
        register_table(ctx, data_dir, spec, None)?;
    }
    for view in VIEWS {
        ctx.sql(&format!("CREATE VIEW {} AS {}", view.name, view.sql))
            .await?;
    }
    Ok(())
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
pub(crate) fn register_truth(ctx: &SessionContext, data_dir: &Path) -> Result<()> {
    use datafusion::catalog::MemorySchemaProvider;
    let truth_dir = data_dir.join("_truth");
    let catalog = ctx
        .catalog("datafusion")
        .ok_or_else(|| EngineError::Internal("the default catalog is missing".to_string()))?;
    catalog.register_schema("truth", Arc::new(MemorySchemaProvider::new()))?;
    for spec in fjq_contract::truth::TABLES {
        let files = validate::table_files(&truth_dir, spec)?;
        validate::check_files(spec, &files)?;
        register_table(ctx, &truth_dir, spec, Some(&format!("truth.{}", spec.name)))?;
    }
    Ok(())
}

/// The contract tables a plan reads, looking inside views at the plans they stand for; `None`
/// when it reads something else too (a table function such as `safe_table`), so that the
/// caller checks every table.
pub(crate) fn tables_scanned(plan: &LogicalPlan) -> Option<Vec<&'static TableSpec>> {
    let mut names: Vec<&'static str> = Vec::new();
    if !collect_scans(plan, &mut names) {
        return None;
    }
    Some(
        fjq_contract::TABLES
            .iter()
            .filter(|t| names.contains(&t.name))
            .copied()
            .collect(),
    )
}

/// Adds the contract tables `plan` scans to `names`; false when it scans anything else.
fn collect_scans(plan: &LogicalPlan, names: &mut Vec<&'static str>) -> bool {
    let mut known = true;
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            if let Some(view) = scan.source.get_logical_plan() {
                known &= collect_scans(&view, names);
            } else if let Some(spec) = fjq_contract::table(scan.table_name.table()) {
                names.push(spec.name);
            } else {
                known = false;
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    known
}
