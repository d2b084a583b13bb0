//! The safe release of a survival curve, `SELECT * FROM return_curve(...)` (design/DISCLOSURE.md,
//! "Survival curves"): each group's curve is merged, cut and rounded (`disclosure::curve`), and
//! the release is logged and checked for differencing as the table of distinct persons per group
//! over the curve's entries. That table is what a curve gives away about its population (its
//! first step's at-risk count), and it is how curves over nested populations, or a curve and a
//! table over the same rows, are compared with each other. A curve is always `review`.

use super::{Release, Releaser, differencing, refused, store};
use crate::Result;
use crate::curve::{ReturnCurveTable, SCAN_NAME, curve_batch};
use crate::safe::analyze::{Analysis, analyze, unalias};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::common::ScalarValue;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::execution::context::SessionState;
use datafusion::functions_aggregate::count::count_distinct;
use datafusion::logical_expr::{LogicalPlan, LogicalPlanBuilder};
use fjq_udfs::disclosure::curve::safe_curve;
use fjq_udfs::disclosure::{Rules, protect};

const WHOLE: &str = "a survival curve is released whole and on its own: SELECT * FROM return_curve('<query>', horizon_days)";

/// What the report says of a released curve.
pub(crate) struct CurveNote {
    pub horizon: i64,
    pub coverage_end: i32,
    pub groups: usize,
    pub groups_published: usize,
    pub steps: usize,
    pub merged: usize,
    pub cut: usize,
}

/// The `return_curve(...)` a plan releases, if it reads one; refused when the plan does more
/// than select the whole curve.
pub(crate) fn curve_of(plan: &LogicalPlan) -> Result<Option<ReturnCurveTable>> {
    let mut reads_curve = false;
    plan.apply_with_subqueries(|p| {
        if let LogicalPlan::TableScan(scan) = p
            && scan.table_name.table() == SCAN_NAME
        {
            reads_curve = true;
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    if !reads_curve {
        return Ok(None);
    }
    let mut node = plan;
    loop {
        node = match node {
            LogicalPlan::Projection(p)
                if p.expr.len() == p.input.schema().fields().len()
                    && p.expr.iter().enumerate().all(|(i, e)| {
                        matches!(e, datafusion::prelude::Expr::Column(c)
                            if p.input.schema().index_of_column(c).ok() == Some(i))
                    }) =>
            {
                &p.input
            }
            LogicalPlan::SubqueryAlias(a) => &a.input,
            LogicalPlan::TableScan(scan)
                if scan.table_name.table() == SCAN_NAME
                    && scan.filters.is_empty()
                    && scan.fetch.is_none()
                    && scan.projection.as_ref().is_none_or(|p| {
                        p.iter().copied().eq(0..scan.source.schema().fields().len())
                    }) =>
            {
                let provider = datafusion::datasource::source_as_provider(&scan.source)?;
                return match provider.downcast_ref::<ReturnCurveTable>() {
                    Some(table) => Ok(Some(table.clone())),
                    None => Err(refused(WHOLE)),
                };
            }
            _ => return Err(refused(WHOLE)),
        };
    }
}

/// The table of distinct persons per group over the curve's entries, analysed as a safe table.
pub(crate) fn persons_table(curve: &ReturnCurveTable, rules: &Rules) -> Result<Analysis> {
    if super::uses_safe_table(&curve.plan) {
        return Err(refused(
            "return_curve's query reads a safe_table; a curve is released from the dataset's tables",
        ));
    }
    let mut entries = &curve.plan;
    while let LogicalPlan::Sort(s) = entries {
        entries = &s.input;
    }
    let (exprs, input) = match entries {
        LogicalPlan::Projection(p) => (&p.expr, &p.input),
        _ => {
            return Err(refused(
                "return_curve's query must select the groups, the person and the start date (SELECT ... FROM ...), to be released",
            ));
        }
    };
    let groups = exprs[..curve.groups].to_vec();
    let person = unalias(&exprs[curve.groups]).clone();
    let plan = LogicalPlanBuilder::from(input.as_ref().clone())
        .aggregate(groups, vec![count_distinct(person.clone())])?
        .build()?;
    let analysis = analyze(&plan, rules).map_err(|e| {
        refused(format!(
            "return_curve's query is not releasable: {}",
            e.message()
        ))
    })?;
    // Each step must count persons: a case or a row may be one of several of the same person.
    if !analysis.person_exprs.contains(&person) {
        return Err(refused(format!(
            "return_curve's query gives `{}` as the person, which is not a person column of the dataset (such as people.person_id or cafcass_people.cafcass_person_id); a released curve counts distinct persons at each step",
            exprs[curve.groups].schema_name()
        )));
    }
    Ok(analysis)
}

/// Releases a curve (the caller checked the release directory).
pub(crate) async fn release_curve(
    state: &SessionState,
    curve: &ReturnCurveTable,
    sql: &str,
    releaser: &Releaser,
    dir: &std::path::Path,
) -> Result<Release> {
    let rules = fjq_udfs::settings::rules_from(state.config_options());
    let analysis = persons_table(curve, &rules)?;
    let (_, cells) = super::run_cells(state, &analysis, &rules).await?;
    let protection = protect(&cells.table, cells.lower, rules.protection)
        .map_err(|_| refused("cannot protect the curve's groups"))?;

    // Each group's curve, made safe; a group is published when a step of it is.
    let raw = curve.counts(state).await?;
    let mut note = CurveNote {
        horizon: curve.horizon,
        coverage_end: curve.coverage_end,
        groups: raw.groups.len(),
        groups_published: 0,
        steps: 0,
        merged: 0,
        cut: 0,
    };
    let mut published = Vec::new();
    let mut published_keys = std::collections::HashSet::new();
    for (values, counts) in &raw.groups {
        let safe = safe_curve(counts, rules.threshold, rules.rounding_base);
        note.merged += safe.merged;
        note.cut += safe.cut;
        if safe.steps.is_empty() {
            continue;
        }
        note.groups_published += 1;
        note.steps += safe.steps.len();
        published_keys.insert(key_text(values)?);
        published.push((values.clone(), safe.steps));
    }
    let suppressed: Vec<bool> = cells
        .rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let key: Vec<String> = r
                .key
                .iter()
                .enumerate()
                .map(|(d, l)| l.map_or(String::new(), |l| cells.levels[d][l as usize].clone()))
                .collect();
            protection.suppressed[i] || !published_keys.contains(&key)
        })
        .collect();

    let _guard = releaser.lock.lock().await;
    let store = store::Store::open(dir)?;
    let logged = cells.logged(&suppressed);
    differencing::against_the_log(state, &store, &analysis, &cells, &logged, &rules).await?;

    // Group labels read as string views leave as the contract's strings (result_types).
    let table =
        crate::result_types::batch_with_result_types(curve_batch(&raw.schema, &published)?)?;
    let out_schema: SchemaRef = table.schema();
    let written = store.write(store::Record {
        sql,
        rules: &rules,
        analysis: &analysis,
        cells: &cells,
        logged,
        protection: &protection,
        table: &table,
        curve: Some(&note),
    })?;
    let summary = format!(
        "{}: survival table, {} steps over {} of {} groups (steps merged until {} persons had left the risk set, tail cut below {} at risk, counts rounded to {}); review; report {}",
        written.id,
        note.steps,
        note.groups_published,
        note.groups,
        rules.threshold,
        rules.threshold,
        rules.rounding_base,
        written.report.display()
    );
    let released = Release {
        id: written.id,
        dir: written.dir,
        schema: out_schema,
        batches: vec![table],
        status: "review".into(),
        cells: note.steps,
        primary: 0,
        secondary: 0,
        report: written.report,
        description: Some(summary.clone()),
    };
    if let Ok(mut latest) = releaser.latest.lock() {
        *latest = Some(summary);
    }
    Ok(released)
}

/// A group's values as the cell table writes its levels.
fn key_text(values: &[ScalarValue]) -> Result<Vec<String>> {
    values
        .iter()
        .map(|v| {
            if v.is_null() {
                Ok("NULL".to_string())
            } else {
                Ok(array_value_to_string(&v.to_array()?, 0)?)
            }
        })
        .collect()
}
