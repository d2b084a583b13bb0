//! Dynamic filters checked against the columns they were made for, by position.
//!
//! A join's dynamic filter (its build side's keys, for its probe side), a top-K sort's and an
//! aggregate's are pushed by DataFusion down to the scans that read their columns. DataFusion
//! 55.2 finds a column again below each operator by its name, so where two columns share a name
//! (`lf.source_person_id` and `lc.source_person_id` out of a self-join of `linkage`), a filter on
//! the second lands on the first, a column of other values (apache/datafusion#25244, fixed after
//! 55.2 by #25259). fjq tests the filters of its joins on every row (`crate::probe_filter`), and
//! a scan prunes row groups by DataFusion's, so a misplaced filter drops rows that meet: a
//! self-join of `linkage` written from the court side kept 100,860 of its 1,685,861 rows at
//! scale 1.0.
//!
//! [`FilterPlacementRule`] follows each filter's columns from the operator that makes it down
//! to the scans, by position: through projections, filters with their projections, exchanges,
//! sorts, unions, aggregates' group columns and the preserved side of joins (to both sides on a
//! semi join's key), the same ways DataFusion pushes filters. It then takes from each scan's
//! predicate every dynamic filter not found there that way, and gives each scan found the
//! filter it lacks, over its own columns. Dynamic filters whose columns cannot be followed
//! (through an operator not listed) are taken from every scan: a filter only ever saves work,
//! so leaving one out cannot change an answer.

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{JoinSide, JoinType, Result};
use datafusion::config::ConfigOptions;
use datafusion::datasource::physical_plan::FileSource;
use datafusion::datasource::physical_plan::{FileScanConfig, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_expr::expressions::{Column, DynamicFilterPhysicalExpr, lit};
use datafusion::physical_expr::utils::split_conjunction;
use datafusion::physical_expr::{PhysicalExpr, PhysicalExprRef, conjunction};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::aggregates::AggregateExec;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::joins::HashJoinExec;
use datafusion::physical_plan::joins::utils::build_join_schema;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::union::UnionExec;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Puts each dynamic filter on the scans of the columns it was made for, and on no other
/// (module docs).
#[derive(Debug, Default)]
pub struct FilterPlacementRule;

/// Where a filter belongs: a scan (by its node's address in the plan) and the filter over that
/// scan's columns, as its predicate holds them (by their places in the table).
struct Placement {
    scan: usize,
    filter: PhysicalExprRef,
}

/// A column of a scan a filter's column comes from: the scan's address, and the column's name
/// and place in the table.
#[derive(Clone)]
struct ScanColumn {
    scan: usize,
    name: String,
    index: usize,
}

impl PhysicalOptimizerRule for FilterPlacementRule {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mut placements: HashMap<u64, Vec<Placement>> = HashMap::new();
        plan.apply(|node| {
            for filter in node.dynamic_expressions_produced() {
                let Some(id) = filter.expression_id() else {
                    continue;
                };
                let input = match node.downcast_ref::<HashJoinExec>() {
                    Some(join) => Some(join.right()),
                    None => match node.children()[..] {
                        [input] => Some(input),
                        _ => None,
                    },
                };
                let found = match input {
                    Some(input) => placements_of(&filter, input)?,
                    None => Vec::new(),
                };
                placements.entry(id).or_default().extend(found);
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        if placements.is_empty() {
            return Ok(plan);
        }
        plan.transform_up(|node| {
            let scan = address(&node);
            let Some(parquet) = node
                .downcast_ref::<DataSourceExec>()
                .and_then(|exec| exec.data_source().downcast_ref::<FileScanConfig>())
                .and_then(|config| {
                    let source = config.file_source().downcast_ref::<ParquetSource>()?;
                    Some((config, source))
                })
            else {
                return Ok(Transformed::no(node));
            };
            let (config, source) = parquet;
            let mut terms: Vec<PhysicalExprRef> = Vec::new();
            let mut present = HashSet::new();
            let mut changed = false;
            if let Some(predicate) = source.filter() {
                for term in split_conjunction(&predicate) {
                    let dynamic = term
                        .downcast_ref::<DynamicFilterPhysicalExpr>()
                        .and_then(|filter| filter.expression_id());
                    let Some(id) = dynamic else {
                        terms.push(Arc::clone(term));
                        continue;
                    };
                    let belongs = placements.get(&id).is_some_and(|places| {
                        places
                            .iter()
                            .any(|place| place.scan == scan && same_children(&place.filter, term))
                    });
                    if belongs {
                        present.insert(id);
                        terms.push(Arc::clone(term));
                    } else {
                        changed = true;
                    }
                }
            }
            for (id, places) in &placements {
                for place in places.iter().filter(|place| place.scan == scan) {
                    if present.insert(*id) {
                        terms.push(Arc::clone(&place.filter));
                        changed = true;
                    }
                }
            }
            if !changed {
                return Ok(Transformed::no(node));
            }
            let predicate = match terms.is_empty() {
                true => lit(true),
                false => conjunction(terms),
            };
            let source = Arc::new(source.with_predicate(predicate));
            let config = FileScanConfigBuilder::from(config.clone())
                .with_source(source)
                .build();
            Ok(Transformed::yes(
                DataSourceExec::from_data_source(config) as Arc<dyn ExecutionPlan>
            ))
        })
        .map(|transformed| transformed.data)
    }

    fn name(&self) -> &str {
        "fjq_filter_placement"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// A node's identity while the plan is walked: its address.
fn address(node: &Arc<dyn ExecutionPlan>) -> usize {
    Arc::as_ptr(node) as *const () as usize
}

fn same_children(a: &PhysicalExprRef, b: &PhysicalExprRef) -> bool {
    let (a, b) = (a.children(), b.children());
    a.len() == b.len() && a.iter().zip(&b).all(|(a, b)| a.as_ref() == b.as_ref())
}

/// The scans `filter` (whose columns are `input`'s) belongs on, each with the filter over its
/// columns: those that every column of the filter comes from.
fn placements_of(
    filter: &PhysicalExprRef,
    input: &Arc<dyn ExecutionPlan>,
) -> Result<Vec<Placement>> {
    let mut columns: Vec<usize> = Vec::new();
    for child in filter.children() {
        child.apply(|expr| {
            if let Some(column) = expr.downcast_ref::<Column>()
                && !columns.contains(&column.index())
            {
                columns.push(column.index());
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
    }
    let traced: Vec<Vec<ScanColumn>> = columns.iter().map(|&c| trace(input, c)).collect();
    let Some(first) = traced.first() else {
        return Ok(Vec::new());
    };
    let mut placements = Vec::new();
    for scan in first.iter().map(|column| column.scan) {
        let mut found = Vec::with_capacity(columns.len());
        for each in &traced {
            match each.iter().find(|column| column.scan == scan) {
                Some(column) => found.push(column.clone()),
                None => break,
            }
        }
        if found.len() != columns.len() || placements.iter().any(|p: &Placement| p.scan == scan) {
            continue;
        }
        let children = filter
            .children()
            .into_iter()
            .map(|child| {
                Arc::clone(child)
                    .transform(|expr| {
                        let Some(column) = expr.downcast_ref::<Column>() else {
                            return Ok(Transformed::no(expr));
                        };
                        let at = columns.iter().position(|&c| c == column.index());
                        Ok(match at {
                            Some(at) => Transformed::yes(Arc::new(Column::new(
                                &found[at].name,
                                found[at].index,
                            ))
                                as PhysicalExprRef),
                            None => Transformed::no(expr),
                        })
                    })
                    .map(|t| t.data)
            })
            .collect::<Result<Vec<_>>>()?;
        placements.push(Placement {
            scan,
            filter: Arc::clone(filter).with_new_children(children)?,
        });
    }
    Ok(placements)
}

/// The scan columns that column `index` of `node` is, followed by position through the
/// operators DataFusion pushes filters through, and only where it pushes them.
fn trace(node: &Arc<dyn ExecutionPlan>, index: usize) -> Vec<ScanColumn> {
    // Below a limit, a filter would change which rows the limit keeps.
    if node.fetch().is_some() {
        return Vec::new();
    }
    let children = node.children();
    if let Some(scan) = node.downcast_ref::<DataSourceExec>() {
        let Some(config) = scan.data_source().downcast_ref::<FileScanConfig>() else {
            return Vec::new();
        };
        let schema = node.schema();
        let Some(field) = schema.fields().get(index) else {
            return Vec::new();
        };
        let table = config.file_source().table_schema().table_schema();
        return match table.index_of(field.name()) {
            Ok(at) if table.field(at).data_type() == field.data_type() => vec![ScanColumn {
                scan: address(node),
                name: field.name().clone(),
                index: at,
            }],
            _ => Vec::new(),
        };
    }
    if let Some(filter) = node.downcast_ref::<FilterExec>() {
        let Some(index) = before_projection(filter.projection().as_deref(), index) else {
            return Vec::new();
        };
        return trace(filter.input(), index);
    }
    if let Some(projection) = node.downcast_ref::<ProjectionExec>() {
        return match projection
            .expr()
            .get(index)
            .and_then(|e| e.expr.downcast_ref::<Column>())
        {
            Some(column) => trace(projection.input(), column.index()),
            None => Vec::new(),
        };
    }
    if let Some(join) = node.downcast_ref::<HashJoinExec>() {
        return trace_join(join, index);
    }
    if let Some(aggregate) = node.downcast_ref::<AggregateExec>() {
        let group_by = aggregate.group_expr();
        let masked = group_by
            .groups()
            .iter()
            .any(|mask| mask.get(index) == Some(&true) || mask.iter().all(|&null| null));
        return match group_by.expr().get(index) {
            Some((expr, _)) if !masked => match expr.downcast_ref::<Column>() {
                Some(column) => trace(aggregate.input(), column.index()),
                None => Vec::new(),
            },
            _ => Vec::new(),
        };
    }
    if node.downcast_ref::<UnionExec>().is_some() {
        return children
            .iter()
            .flat_map(|child| trace(child, index))
            .collect();
    }
    // Operators that pass their input's rows on as they are, column for column.
    const PASSING_ON: &[&str] = &[
        "RepartitionExec",
        "CoalescePartitionsExec",
        "CoalesceBatchesExec",
        "SortExec",
        "CooperativeExec",
        "BufferExec",
    ];
    match children[..] {
        [input] if PASSING_ON.contains(&node.name()) => trace(input, index),
        _ => Vec::new(),
    }
}

/// The column an operator's output column `index` is before the projection it carries, if any.
fn before_projection(projection: Option<&[usize]>, index: usize) -> Option<usize> {
    match projection {
        Some(projection) => projection.get(index).copied(),
        None => Some(index),
    }
}

/// [`trace`] through a hash join: to the side the column comes from, when a filter may be
/// pushed there (that side's rows are kept as they are), and on a semi join's key to the other
/// side's key too.
fn trace_join(join: &HashJoinExec, index: usize) -> Vec<ScanColumn> {
    let (_, columns) = build_join_schema(
        &join.left().schema(),
        &join.right().schema(),
        join.join_type(),
    );
    let Some(index) = before_projection(join.projection.as_deref(), index) else {
        return Vec::new();
    };
    let Some(column) = columns.get(index) else {
        return Vec::new();
    };
    let (left, right) = match join.join_type() {
        JoinType::Inner | JoinType::LeftSemi | JoinType::RightSemi => (true, true),
        JoinType::Left | JoinType::LeftAnti | JoinType::LeftMark => (true, false),
        JoinType::Right | JoinType::RightAnti | JoinType::RightMark => (false, true),
        JoinType::Full => (false, false),
    };
    let key_on_other_side = |from_left: bool| {
        join.on().iter().find_map(|(l, r)| {
            let (this, other) = if from_left { (l, r) } else { (r, l) };
            let this = this.downcast_ref::<Column>()?;
            let other = other.downcast_ref::<Column>()?;
            (this.index() == column.index).then_some(other.index())
        })
    };
    let mut found = Vec::new();
    match column.side {
        JoinSide::Left if left => {
            found.extend(trace(join.left(), column.index));
            if *join.join_type() == JoinType::LeftSemi
                && let Some(other) = key_on_other_side(true)
            {
                found.extend(trace(join.right(), other));
            }
        }
        JoinSide::Right if right => {
            found.extend(trace(join.right(), column.index));
            if *join.join_type() == JoinType::RightSemi
                && let Some(other) = key_on_other_side(false)
            {
                found.extend(trace(join.left(), other));
            }
        }
        _ => {}
    }
    found
}
