//! The catalogue: the contract's tables registered over their Parquet folders (with column
//! descriptions, declared sort orders and a definition `SHOW CREATE TABLE` prints), the views
//! every session defines, and the ground truth for tests.

use crate::config::EngineConfig;
use crate::error::{EngineError, Result};
use crate::file_ranges::{self, DeclaredRanges, TableFiles};
use crate::validate;
use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{ScalarValue, SplitPoint};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{LogicalPlan, Partitioning, RangePartitioning};
use datafusion::prelude::col;
use fjq_contract::{ColumnType, TableSpec};
use std::path::Path;
use std::sync::Arc;

/// A view every session defines.
#[derive(Debug, Clone, Copy)]
pub struct View {
    pub name: &'static str,
    pub description: &'static str,
    /// Each column the view gives, in order, with what it means.
    pub columns: &'static [(&'static str, &'static str)],
    pub sql: &'static str,
}

/// The pairing of court and Cafcass cases that `linked_cases` is, as SQL: the CTEs
/// `court_children`, `cafcass_children` and `pairs`, one row of `pairs` per (court case, Cafcass
/// case). `$court` adds columns of `cases` (`, c.column`) that the court children carry and
/// `$pair` the same columns as the pairs give them (`, cc.column`): `linked_case_measures`
/// takes the first hearing along instead of joining `cases` again.
///
/// DataFusion joins in the order written. `people` and `cases` are both in case order, so
/// joined first they merge (no hash table, no exchange between threads), and the court
/// children carry their case's columns on to the link: at scale 1.0 the hash join of 1.6M
/// pairs to `cases` it replaces took 0.35 s of compute (docs/BENCHMARK.md).
macro_rules! linked_pairs_sql {
    ($court:literal, $pair:literal) => {
        concat!(
            "WITH court_children AS ( \
            SELECT p.case_id, c.case_type, c.start_date", $court, ", p.person_id, l.link_id, l.match_status, l.match_probability \
            FROM people p \
            JOIN cases c ON c.case_id = p.case_id \
            JOIN linkage l ON l.dataset = 'family_court' AND l.source_person_id = p.person_id \
            WHERE p.role = 'child' AND l.link_id IS NOT NULL AND case_link_accepted(l.match_status)), \
         cafcass_children AS ( \
            SELECT cp.cafcass_case_id, l.link_id, l.match_status, l.match_probability \
            FROM cafcass_people cp \
            JOIN linkage l ON l.dataset = 'cafcass' AND l.source_person_id = cp.cafcass_person_id \
            WHERE cp.role = 'subject' AND l.link_id IS NOT NULL AND case_link_accepted(l.match_status)), \
         pairs AS ( \
            SELECT cc.case_id, cc.case_type, cc.start_date", $pair, ", k.cafcass_case_id, k.nation, k.received_date, \
                   count(DISTINCT cc.person_id) AS children_shared, \
                   max(greatest( \
                       CASE cc.match_status WHEN 1 THEN 1 WHEN 4 THEN 2 WHEN 39 THEN 3 WHEN 35 THEN 4 ELSE 5 END, \
                       CASE fc.match_status WHEN 1 THEN 1 WHEN 4 THEN 2 WHEN 39 THEN 3 WHEN 35 THEN 4 ELSE 5 END)) AS weakest_rank, \
                   min(least(cc.match_probability, fc.match_probability)) AS weakest_match_probability \
            FROM court_children cc \
            JOIN cafcass_children fc ON fc.link_id = cc.link_id \
            JOIN cafcass_cases k ON k.cafcass_case_id = fc.cafcass_case_id \
            WHERE k.received_date BETWEEN cc.start_date - case_link_window_days() AND cc.start_date + case_link_window_days() \
            GROUP BY cc.case_id, cc.case_type, cc.start_date", $pair, ", k.cafcass_case_id, k.nation, k.received_date)"
        )
    };
}

/// The views every session defines: joins researchers would otherwise write again and again.
pub const VIEWS: &[View] = &[
    View {
        name: "linked_people",
        description: "Family court people linked to Cafcass people through the linkage spine (one row per linked pair of records); filter on the match status columns to choose the linkage quality.",
        columns: &[
            ("case_id", "The court case."),
            ("role_id", "The court person's role row (people.role_id)."),
            ("person_id", "The de-duplicated court person."),
            (
                "court_role",
                "applicant, respondent, child or other, on the court case.",
            ),
            ("relationship_to_child", "mother, father, ... as in people."),
            ("link_id", "The shared anonymised linking field."),
            (
                "court_match_status",
                "The court record's match status (1, 4, 39 accepted; 35 weak).",
            ),
            ("cafcass_case_id", "The Cafcass case."),
            ("cafcass_person_id", "The Cafcass person."),
            (
                "cafcass_role",
                "subject, applicant, respondent or other, on the Cafcass case.",
            ),
            ("cafcass_match_status", "The Cafcass record's match status."),
        ],
        // DataFusion joins in the order written and cannot reorder them. From the court side,
        // the persons an outer join asks for (`person_id`, taken from the link row: equal by
        // the join) reach the court links' scan and shrink the links before they meet
        // Cafcass's. Over seven linkage questions at scale 1.0 this order's worst ratio to
        // DuckDB was 1.19 against 1.38 from the Cafcass side, though questions filtering on a
        // Cafcass column were up to 17% slower (docs/BENCHMARK.md, docs/DECISIONS.md).
        sql: "SELECT p.case_id, p.role_id, lf.source_person_id AS person_id, p.role AS court_role, \
                p.relationship_to_child, lf.link_id, lf.match_status AS court_match_status, \
                cp.cafcass_case_id, cp.cafcass_person_id, cp.role AS cafcass_role, \
                lc.match_status AS cafcass_match_status \
         FROM linkage lf \
         JOIN linkage lc ON lc.dataset = 'cafcass' AND lc.link_id = lf.link_id \
         JOIN cafcass_people cp ON cp.cafcass_person_id = lc.source_person_id \
         JOIN people p ON p.person_id = lf.source_person_id \
         WHERE lf.dataset = 'family_court'",
    },
    View {
        name: "linked_cases",
        description: "Each family court case with the Cafcass case(s) about the same children: a court child and a Cafcass subject child share a link_id, both links have a match status the session accepts (fjq.case_link_statuses, 1,4,39 by default) and Cafcass received its case within fjq.case_link_window_days (28) of the court case's start, either way. One row per (court case, Cafcass case); court cases with no Cafcass case found have no row. children_shared, court_children, cafcass_children and the weakest link's status (ranked 1 > 4 > 39 > 35) and probability let you judge each match.",
        columns: &[
            ("case_id", "The court case."),
            ("case_type", "The court case's type."),
            ("start_date", "The court case's start (issue) date."),
            ("cafcass_case_id", "A Cafcass case about the same children."),
            ("nation", "England or Wales (Cafcass or Cafcass Cymru)."),
            ("received_date", "When Cafcass received its case."),
            (
                "days_apart",
                "received_date - start_date, in days (negative: Cafcass first).",
            ),
            (
                "children_shared",
                "Court children linked to a subject child of the Cafcass case.",
            ),
            ("court_children", "Children on the court case."),
            ("cafcass_children", "Subject children on the Cafcass case."),
            (
                "weakest_match_status",
                "The weakest match status among the shared children's links, either side (1 > 4 > 39 > 35).",
            ),
            (
                "weakest_match_probability",
                "The least match probability among those links.",
            ),
        ],
        // The counts are left joins: every pair holds a court child and a Cafcass subject, so
        // each finds its one count row and no answer changes, but DataFusion drops a left join
        // to a side unique on its key when the query reads none of its columns (its
        // `eliminate_join` rule), where an inner join stays a semi join that scans and groups
        // both people tables again: at scale 1.0, 13% of a query of nations and types
        // (docs/BENCHMARK.md).
        sql: concat!(
            linked_pairs_sql!("", ""),
            ", \
         court_counts AS (SELECT case_id, count(*) AS court_children FROM people WHERE role = 'child' GROUP BY case_id), \
         cafcass_counts AS (SELECT cafcass_case_id, count(*) AS cafcass_children FROM cafcass_people WHERE role = 'subject' GROUP BY cafcass_case_id) \
         SELECT p.case_id, p.case_type, p.start_date, p.cafcass_case_id, p.nation, p.received_date, \
                p.received_date - p.start_date AS days_apart, \
                p.children_shared, cn.court_children, fn.cafcass_children, \
                CASE p.weakest_rank WHEN 1 THEN 1 WHEN 2 THEN 4 WHEN 3 THEN 39 WHEN 4 THEN 35 END AS weakest_match_status, \
                p.weakest_match_probability \
         FROM pairs p \
         LEFT JOIN court_counts cn ON cn.case_id = p.case_id \
         LEFT JOIN cafcass_counts fn ON fn.cafcass_case_id = p.cafcass_case_id"
        ),
    },
    View {
        name: "linked_case_measures",
        description: "What Cafcass did on each linked case (one row per linked_cases row), as the literature measures it: days from the court application to the safeguarding letter (the end of Cafcass's work to the first hearing), whether a section 7 report was ordered and the days it took (NULL while unfinished), and whether a guardian (children's guardian or rule 16.4) was appointed before the first hearing (TRUE also when no hearing had been held yet).",
        columns: &[
            ("case_id", "The court case."),
            ("case_type", "The court case's type."),
            ("cafcass_case_id", "The linked Cafcass case."),
            ("start_date", "The court case's start date."),
            (
                "first_hearing_date",
                "The court case's first hearing; NULL if none by the extract.",
            ),
            (
                "days_to_safeguarding_letter",
                "Days from the court application to the safeguarding letter (the end of the work to first hearing); NULL without one.",
            ),
            ("s7_report", "Whether Cafcass wrote a section 7 report."),
            (
                "s7_report_days",
                "Days the section 7 report took; NULL without one or while unfinished.",
            ),
            (
                "guardian_before_first_hearing",
                "Whether a guardian (s41 or rule 16.4) was appointed before the first hearing, or before the extract when no hearing had been held.",
            ),
        ],
        // The pairs as `linked_cases` makes them, without its joins for the children's counts,
        // which never drop a pair (each pair holds a court child and a Cafcass subject) and give
        // columns this view does not use; the first hearing comes along with the court children.
        sql: concat!(
            linked_pairs_sql!(", c.first_hearing_date", ", cc.first_hearing_date"),
            " \
         SELECT l.case_id, l.case_type, l.cafcass_case_id, l.start_date, l.first_hearing_date, \
                min(CASE WHEN w.work_type = 'safeguarding_letter' THEN w.end_date END) - l.start_date AS days_to_safeguarding_letter, \
                coalesce(bool_or(w.work_type = 's7_report'), false) AS s7_report, \
                max(CASE WHEN w.work_type = 's7_report' THEN w.end_date - w.start_date END) AS s7_report_days, \
                coalesce(bool_or(w.work_type IN ('childrens_guardian_s41', 'rule_16_4_guardian') \
                    AND (l.first_hearing_date IS NULL OR w.start_date < l.first_hearing_date)), false) AS guardian_before_first_hearing \
         FROM pairs l \
         LEFT JOIN cafcass_work w ON w.cafcass_case_id = l.cafcass_case_id \
         GROUP BY l.case_id, l.case_type, l.cafcass_case_id, l.start_date, l.first_hearing_date"
        ),
    },
];

/// Registers every contract table of `data_dir` and defines the views. A table the dataset
/// does not hold is registered with its schema but no data: a query reading it, directly or
/// through a view, is told which table is missing and why. `present` are the tables the
/// dataset holds, with their files as checked at open.
pub(crate) async fn register(
    ctx: &SessionContext,
    data_dir: &Path,
    present: &[TableFiles],
    config: &EngineConfig,
) -> Result<()> {
    let splits = if config.declare_file_ranges {
        file_ranges::split_points(present, ctx.copied_config().target_partitions())
    } else {
        Default::default()
    };
    let present_names: Vec<&str> = present.iter().map(|t| t.spec.name).collect();
    for spec in fjq_contract::TABLES {
        if present_names.contains(&spec.name) {
            let table = listing_table(data_dir, spec, config.string_views, splits.get(spec.name))?;
            ctx.register_table(spec.name, table)?;
        } else {
            ctx.register_table(
                spec.name,
                Arc::new(NotInDataset {
                    spec,
                    string_views: config.string_views,
                    present: present_names.join(", "),
                }),
            )?;
        }
    }
    for view in VIEWS {
        ctx.sql(&format!("CREATE VIEW {} AS {}", view.name, view.sql))
            .await?;
    }
    Ok(())
}

/// A contract table the dataset does not hold (an extract of the court data alone, say).
#[derive(Debug)]
struct NotInDataset {
    spec: &'static TableSpec,
    string_views: bool,
    present: String,
}

#[async_trait::async_trait]
impl datafusion::catalog::TableProvider for NotInDataset {
    fn schema(&self) -> datafusion::arrow::datatypes::SchemaRef {
        crate::result_types::scan_schema(self.spec, self.string_views)
    }

    fn table_type(&self) -> datafusion::logical_expr::TableType {
        datafusion::logical_expr::TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn datafusion::catalog::Session,
        _projection: Option<&Vec<usize>>,
        _filters: &[datafusion::logical_expr::Expr],
        _limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        Err(datafusion::error::DataFusionError::External(Box::new(
            EngineError::NotInDataset {
                table: self.spec.name.to_string(),
                present: self.present.clone(),
            },
        )))
    }
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

/// The table over `data_dir/<table>/`, declared range-partitioned on its first sort column at
/// `splits` when given (`file_ranges`).
fn listing_table(
    data_dir: &Path,
    spec: &'static TableSpec,
    string_views: bool,
    splits: Option<&Vec<ScalarValue>>,
) -> Result<Arc<dyn TableProvider>> {
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
    // join and fails (an internal error) when they differ. Code columns may be string views
    // (result_types).
    let schema = crate::result_types::scan_schema(spec, string_views);
    let table = |options: ListingOptions| -> Result<Arc<ListingTable>> {
        let config = ListingTableConfig::new(url.clone())
            .with_listing_options(options)
            .with_schema(schema.clone());
        Ok(Arc::new(
            ListingTable::try_new(config)?.with_definition(Some(definition(spec, &dir))),
        ))
    };
    let plain = table(options.clone())?;
    let Some(splits) = splits else {
        return Ok(plain);
    };
    // The files as they are now, to be compared before each scan: the split points were read
    // from these (a moment earlier, at open).
    let files_at_open = validate::snapshot(data_dir, &[spec])
        .remove(spec.name)
        .unwrap_or_default();
    // DataFusion groups the files in runs of equal length, one to a declared partition.
    if !files_at_open.len().is_multiple_of(splits.len() + 1) {
        return Ok(plain);
    }
    let key = spec.sort_order[0];
    let ranges = RangePartitioning::try_new(
        vec![col(key).sort(true, false)],
        splits
            .iter()
            .map(|v| SplitPoint::new(vec![v.clone()]))
            .collect(),
    )?;
    let declared = table(options.with_output_partitioning(Some(Partitioning::Range(ranges))))?;
    Ok(Arc::new(DeclaredRanges {
        declared,
        plain,
        spec,
        data_dir: data_dir.to_path_buf(),
        files_at_open,
    }))
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
        ctx.register_table(
            format!("truth.{}", spec.name),
            listing_table(&truth_dir, spec, false, None)?,
        )?;
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
