//! String views inside a query, the contract's types outside it.
//!
//! With `EngineConfig::string_views` (the default), the code columns (every text column but
//! the identifiers: `case_type`, `event_code`, `dfj_area` and the like) are registered as
//! `Utf8View`. The Parquet reader then hands DataFusion views, and filters, group keys and sorts
//! on a few short values compare a 16-byte view with its inline prefix instead of copying and
//! hashing strings: grouping the 2.6M cases by area takes a third less time
//! (docs/BENCHMARK.md). Identifiers stay `Utf8`: joins on `case_id` were slower with views.
//! Views carried through joins are compacted where a join gathers its build side
//! ([`crate::compact_views`]); without that, chained joins took time that grew with the square
//! of the rows.
//!
//! What a user receives keeps the contract's `Utf8`: query results, Flight SQL schemas and the
//! files fjq writes. [`with_result_types`] adds the cast at the top of a query's plan, but
//! under its final `ORDER BY`: DataFusion may run a projection above a sort in parallel
//! (a round-robin repartition under it), which loses the order; a cast under the sort cannot.

use crate::error::Result;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef};
use datafusion::common::{Column, DFSchema};
use datafusion::logical_expr::expr::Cast;
use datafusion::logical_expr::{
    CreateMemoryTable, DdlStatement, DescribeTable, Expr, LogicalPlan, Projection, Sort,
};
use fjq_contract::{ColumnType, TableSpec};
use std::sync::Arc;

/// The schema a contract table is registered with: with `string_views`, its code columns as
/// string views.
pub fn scan_schema(spec: &TableSpec, string_views: bool) -> SchemaRef {
    let contract = spec.schema();
    let fields: Vec<Field> = spec
        .columns
        .iter()
        .zip(contract.fields())
        .map(|(column, field)| {
            let field = field.as_ref().clone();
            if string_views && column.data_type == ColumnType::Utf8 && !column.is_identifier() {
                field.with_data_type(DataType::Utf8View)
            } else {
                field
            }
        })
        .collect();
    // The table's description goes in its definition, not the schema (catalogue.rs).
    Arc::new(Schema::new(fields))
}

/// The type a user receives for a value of type `t`: string views become strings, inside
/// lists and structs too.
pub fn result_type(t: &DataType) -> DataType {
    match t {
        DataType::Utf8View => DataType::Utf8,
        DataType::BinaryView => DataType::Binary,
        DataType::List(f) => DataType::List(result_field(f)),
        DataType::LargeList(f) => DataType::LargeList(result_field(f)),
        DataType::FixedSizeList(f, n) => DataType::FixedSizeList(result_field(f), *n),
        DataType::Struct(fields) => {
            DataType::Struct(fields.iter().map(result_field).collect::<Fields>())
        }
        DataType::Dictionary(k, v) => DataType::Dictionary(k.clone(), Box::new(result_type(v))),
        other => other.clone(),
    }
}

fn result_field(f: &FieldRef) -> FieldRef {
    Arc::new(
        f.as_ref()
            .clone()
            .with_data_type(result_type(f.data_type())),
    )
}

/// `schema` with each field's type as a user receives it.
pub fn result_schema(schema: &Schema) -> SchemaRef {
    Arc::new(
        Schema::new(schema.fields().iter().map(result_field).collect::<Fields>())
            .with_metadata(schema.metadata().clone()),
    )
}

fn needs_cast(schema: &DFSchema) -> bool {
    schema
        .fields()
        .iter()
        .any(|f| &result_type(f.data_type()) != f.data_type())
}

/// `batch` with the types a user receives (for results built outside a plan: releases).
pub fn batch_with_result_types(batch: RecordBatch) -> Result<RecordBatch> {
    let schema = result_schema(&batch.schema());
    if schema == batch.schema() {
        return Ok(batch);
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| datafusion::arrow::compute::cast(c, f.data_type()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// The plan with its results in the types a user receives. Queries get the cast (under their
/// final sort); `COPY` and `CREATE TABLE AS` get it on what they write; `DESCRIBE` shows those
/// types. Anything else is left as it is: `EXPLAIN` shows the query's own plan, and `INSERT`
/// casts to its table already.
pub(crate) fn with_result_types(plan: LogicalPlan) -> Result<LogicalPlan> {
    Ok(match plan {
        LogicalPlan::Copy(mut copy) => {
            copy.input = Arc::new(cast_results(Arc::unwrap_or_clone(copy.input))?);
            LogicalPlan::Copy(copy)
        }
        LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(create)) => {
            let input = cast_results(Arc::unwrap_or_clone(create.input))?;
            LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(CreateMemoryTable {
                input: Arc::new(input),
                ..create
            }))
        }
        // `DESCRIBE` shows the types a query's results have, the contract's.
        LogicalPlan::DescribeTable(describe) => LogicalPlan::DescribeTable(DescribeTable {
            schema: result_schema(&describe.schema),
            output_schema: describe.output_schema,
        }),
        LogicalPlan::Explain(_)
        | LogicalPlan::Analyze(_)
        | LogicalPlan::Dml(_)
        | LogicalPlan::Ddl(_)
        | LogicalPlan::Statement(_) => plan,
        query => cast_results(query)?,
    })
}

/// Whether the query's result comes out of a sort, through nodes that keep its order.
fn ends_in_sort(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Sort(_) => true,
        LogicalPlan::Projection(_)
        | LogicalPlan::Limit(_)
        | LogicalPlan::SubqueryAlias(_)
        | LogicalPlan::Filter(_) => plan.inputs().first().is_some_and(|i| ends_in_sort(i)),
        _ => false,
    }
}

fn cast_results(plan: LogicalPlan) -> Result<LogicalPlan> {
    if !needs_cast(plan.schema()) {
        return Ok(plan);
    }
    if !ends_in_sort(&plan) {
        return cast_projection(plan);
    }
    let rebuilt = match plan {
        LogicalPlan::Sort(sort) => LogicalPlan::Sort(Sort {
            input: Arc::new(cast_projection(Arc::unwrap_or_clone(sort.input))?),
            ..sort
        }),
        above => {
            let input = above.inputs()[0].clone();
            above.with_new_exprs(above.expressions(), vec![cast_results(input)?])?
        }
    };
    // Only an expression above the sort that makes views itself (rare) needs a cast here.
    if needs_cast(rebuilt.schema()) {
        cast_projection(rebuilt)
    } else {
        Ok(rebuilt)
    }
}

/// A projection of every column of `plan`, cast where its type is not the user's. Names and
/// qualifiers are kept, so expressions above still resolve.
fn cast_projection(plan: LogicalPlan) -> Result<LogicalPlan> {
    if !needs_cast(plan.schema()) {
        return Ok(plan);
    }
    let exprs: Vec<Expr> = plan
        .schema()
        .iter()
        .map(|(qualifier, field)| {
            let column = Expr::Column(Column::new(qualifier.cloned(), field.name()));
            let target = result_type(field.data_type());
            if &target == field.data_type() {
                column
            } else {
                Expr::Cast(Cast::new(Box::new(column), target))
                    .alias_qualified(qualifier.cloned(), field.name())
            }
        })
        .collect();
    Ok(LogicalPlan::Projection(Projection::try_new(
        exprs,
        Arc::new(plan),
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_inside_lists_and_structs_become_strings() {
        let item = Arc::new(Field::new("item", DataType::Utf8View, true));
        let s = DataType::Struct(Fields::from(vec![
            Field::new("code", DataType::Utf8View, true),
            Field::new("n", DataType::Int64, false),
        ]));
        assert_eq!(
            result_type(&DataType::List(item)),
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
        );
        assert_eq!(
            result_type(&s),
            DataType::Struct(Fields::from(vec![
                Field::new("code", DataType::Utf8, true),
                Field::new("n", DataType::Int64, false),
            ]))
        );
        assert_eq!(result_type(&DataType::Date32), DataType::Date32);
    }

    #[test]
    fn only_code_columns_are_views() {
        let cases = fjq_contract::TABLES
            .iter()
            .find(|t| t.name == "cases")
            .unwrap();
        assert_eq!(
            scan_schema(cases, false)
                .field_with_name("case_type")
                .unwrap()
                .data_type(),
            &DataType::Utf8
        );
        let schema = scan_schema(cases, true);
        assert_eq!(
            schema.field_with_name("case_id").unwrap().data_type(),
            &DataType::Utf8
        );
        assert_eq!(
            schema.field_with_name("case_type").unwrap().data_type(),
            &DataType::Utf8View
        );
        assert_eq!(
            result_schema(&schema).as_ref(),
            &Schema::new(cases.schema().fields().iter().cloned().collect::<Fields>())
        );
    }
}
