//! What the server says about itself and its data, for the tools that ask before they query
//! (DBeaver and other JDBC-based tools, ADBC's `get_info` and `get_objects`): the SQL facts of
//! GetSqlInfo, the SQL types of GetXdbcTypeInfo, the contract's keys for GetPrimaryKeys and the
//! other key calls, and the `ARROW:FLIGHT:SQL:*` metadata on every column of a result.
//!
//! Every type name given here is one the SQL parser accepts in a `CAST`, and every function
//! listed is one the session has: the lists are filtered by the function registry, not written
//! out on faith.

use arrow_flight::sql::metadata::{
    SqlInfoData, SqlInfoDataBuilder, XdbcTypeInfo, XdbcTypeInfoData, XdbcTypeInfoDataBuilder,
};
use arrow_flight::sql::{
    Nullable, Searchable, SqlInfo, SqlNullOrdering, SqlOuterJoinsSupportLevel,
    SqlSupportedCaseSensitivity, SqlSupportedGroupBy, SqlSupportedResultSetType,
    SqlSupportedSubqueries, SqlSupportedTransaction, SqlSupportedUnions, XdbcDataType,
    XdbcDatetimeSubcode,
};
use datafusion::arrow::array::{ArrayRef, Int32Array, RecordBatch, StringArray, UInt8Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::common::DFSchema;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use std::collections::HashMap;
use std::sync::Arc;

/// The keys of the column metadata Flight SQL defines for result columns.
pub const CATALOG_NAME: &str = "ARROW:FLIGHT:SQL:CATALOG_NAME";
pub const DB_SCHEMA_NAME: &str = "ARROW:FLIGHT:SQL:DB_SCHEMA_NAME";
pub const TABLE_NAME: &str = "ARROW:FLIGHT:SQL:TABLE_NAME";
pub const TYPE_NAME: &str = "ARROW:FLIGHT:SQL:TYPE_NAME";
pub const PRECISION: &str = "ARROW:FLIGHT:SQL:PRECISION";
pub const SCALE: &str = "ARROW:FLIGHT:SQL:SCALE";
pub const IS_AUTO_INCREMENT: &str = "ARROW:FLIGHT:SQL:IS_AUTO_INCREMENT";
pub const IS_CASE_SENSITIVE: &str = "ARROW:FLIGHT:SQL:IS_CASE_SENSITIVE";
pub const IS_READ_ONLY: &str = "ARROW:FLIGHT:SQL:IS_READ_ONLY";
pub const IS_SEARCHABLE: &str = "ARROW:FLIGHT:SQL:IS_SEARCHABLE";

/// One SQL type as fjq names it: the name a `CAST` accepts, its ODBC/JDBC code, and its
/// precision (digits for numbers, characters for dates) where it has a fixed one.
struct SqlType {
    name: &'static str,
    xdbc: XdbcDataType,
    subcode: Option<XdbcDatetimeSubcode>,
    precision: Option<i32>,
}

const fn sql_type(
    name: &'static str,
    xdbc: XdbcDataType,
    subcode: Option<XdbcDatetimeSubcode>,
    precision: Option<i32>,
) -> SqlType {
    SqlType {
        name,
        xdbc,
        subcode,
        precision,
    }
}

/// The types a result of fjq can have, in the order GetXdbcTypeInfo lists them (by code, as
/// JDBC's `getTypeInfo` sorts).
const SQL_TYPES: &[SqlType] = &[
    sql_type("BOOLEAN", XdbcDataType::XdbcBit, None, Some(1)),
    sql_type("TINYINT", XdbcDataType::XdbcTinyint, None, Some(3)),
    sql_type("BIGINT", XdbcDataType::XdbcBigint, None, Some(19)),
    sql_type("BYTEA", XdbcDataType::XdbcVarbinary, None, None),
    sql_type("DECIMAL", XdbcDataType::XdbcDecimal, None, Some(38)),
    sql_type("INTEGER", XdbcDataType::XdbcInteger, None, Some(10)),
    sql_type("SMALLINT", XdbcDataType::XdbcSmallint, None, Some(5)),
    sql_type("REAL", XdbcDataType::XdbcReal, None, Some(24)),
    sql_type("DOUBLE", XdbcDataType::XdbcDouble, None, Some(53)),
    sql_type("INTERVAL", XdbcDataType::XdbcInterval, None, None),
    sql_type("VARCHAR", XdbcDataType::XdbcVarchar, None, None),
    sql_type(
        "DATE",
        XdbcDataType::XdbcDate,
        // ODBC's SQL_CODE_DATE, which the protocol spells as its alias "year".
        Some(XdbcDatetimeSubcode::XdbcSubcodeYear),
        Some(10),
    ),
    sql_type(
        "TIME",
        XdbcDataType::XdbcTime,
        Some(XdbcDatetimeSubcode::XdbcSubcodeTime),
        Some(15),
    ),
    sql_type(
        "TIMESTAMP",
        XdbcDataType::XdbcTimestamp,
        Some(XdbcDatetimeSubcode::XdbcSubcodeTimestamp),
        Some(26),
    ),
];

/// The SQL type of an Arrow type, if it is one of [`SQL_TYPES`]; nested types have none.
fn sql_type_of(data_type: &DataType) -> Option<&'static SqlType> {
    let name = match data_type {
        DataType::Boolean => "BOOLEAN",
        DataType::Int8 | DataType::UInt8 => "TINYINT",
        DataType::Int16 | DataType::UInt16 => "SMALLINT",
        DataType::Int32 | DataType::UInt32 => "INTEGER",
        DataType::Int64 | DataType::UInt64 => "BIGINT",
        DataType::Float16 | DataType::Float32 => "REAL",
        DataType::Float64 => "DOUBLE",
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => "DECIMAL",
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "VARCHAR",
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => "BYTEA",
        DataType::Date32 | DataType::Date64 => "DATE",
        DataType::Time32(_) | DataType::Time64(_) => "TIME",
        DataType::Timestamp(..) => "TIMESTAMP",
        DataType::Interval(_) | DataType::Duration(_) => "INTERVAL",
        DataType::Dictionary(_, values) => return sql_type_of(values),
        _ => return None,
    };
    SQL_TYPES.iter().find(|t| t.name == name)
}

/// The name a column's type is reported by: the SQL name, or for nested types Arrow's own
/// (`List(Utf8)`), which is what `arrow_typeof` prints.
pub fn type_name(data_type: &DataType) -> String {
    match sql_type_of(data_type) {
        Some(t) => t.name.to_string(),
        None => data_type.to_string(),
    }
}

/// GetXdbcTypeInfo's answer: one row per type in [`SQL_TYPES`].
pub fn xdbc_types() -> XdbcTypeInfoData {
    let mut builder = XdbcTypeInfoDataBuilder::new();
    for t in SQL_TYPES {
        let numeric = t.precision.is_some()
            && !matches!(
                t.xdbc,
                XdbcDataType::XdbcBit
                    | XdbcDataType::XdbcDate
                    | XdbcDataType::XdbcTime
                    | XdbcDataType::XdbcTimestamp
            );
        let quoted = matches!(
            t.xdbc,
            XdbcDataType::XdbcVarchar
                | XdbcDataType::XdbcDate
                | XdbcDataType::XdbcTime
                | XdbcDataType::XdbcTimestamp
        );
        let decimal = t.xdbc == XdbcDataType::XdbcDecimal;
        builder.append(XdbcTypeInfo {
            type_name: t.name.to_string(),
            data_type: t.xdbc,
            column_size: t.precision,
            literal_prefix: quoted.then(|| "'".to_string()),
            literal_suffix: quoted.then(|| "'".to_string()),
            create_params: decimal.then(|| vec!["precision".to_string(), "scale".to_string()]),
            nullable: Nullable::NullabilityNullable,
            case_sensitive: t.xdbc == XdbcDataType::XdbcVarchar,
            searchable: Searchable::Full,
            unsigned_attribute: numeric.then_some(false),
            fixed_prec_scale: decimal,
            auto_increment: numeric.then_some(false),
            local_type_name: Some(t.name.to_string()),
            minimum_scale: decimal.then_some(0),
            maximum_scale: decimal.then_some(38),
            // ODBC gives date and time types the concise code with a subcode under SQL_DATETIME.
            sql_data_type: if t.subcode.is_some() {
                XdbcDataType::XdbcDatetime
            } else {
                t.xdbc
            },
            datetime_subcode: t.subcode,
            num_prec_radix: numeric.then_some(
                if matches!(t.xdbc, XdbcDataType::XdbcReal | XdbcDataType::XdbcDouble) {
                    2
                } else {
                    10
                },
            ),
            interval_precision: None,
        });
    }
    builder.build().expect("static type table")
}

/// Column metadata for one field of a result or a table: its SQL type name, precision and
/// scale, and, when it comes straight from a table, where from. Results are read-only: the
/// server runs no updates.
pub fn column_metadata(
    field: &Field,
    source: Option<(&str, &str, &str)>,
) -> HashMap<String, String> {
    let mut metadata = field.metadata().clone();
    let data_type = &fjq_engine::result_types::result_type(field.data_type());
    metadata.insert(TYPE_NAME.to_string(), type_name(data_type));
    let (precision, scale) = match data_type {
        DataType::Decimal32(p, s) | DataType::Decimal64(p, s) => (Some(*p as i32), Some(*s as i32)),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => {
            (Some(*p as i32), Some(*s as i32))
        }
        DataType::Timestamp(TimeUnit::Second, _) => (Some(19), Some(0)),
        DataType::Timestamp(TimeUnit::Millisecond, _) => (Some(23), Some(3)),
        DataType::Timestamp(TimeUnit::Microsecond, _) => (Some(26), Some(6)),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => (Some(29), Some(9)),
        other => {
            let t = sql_type_of(other);
            let integer = matches!(
                t.map(|t| t.xdbc),
                Some(
                    XdbcDataType::XdbcTinyint
                        | XdbcDataType::XdbcSmallint
                        | XdbcDataType::XdbcInteger
                        | XdbcDataType::XdbcBigint
                )
            );
            (t.and_then(|t| t.precision), integer.then_some(0))
        }
    };
    if let Some(p) = precision {
        metadata.insert(PRECISION.to_string(), p.to_string());
    }
    if let Some(s) = scale {
        metadata.insert(SCALE.to_string(), s.to_string());
    }
    if let Some((catalog, schema, table)) = source {
        metadata.insert(CATALOG_NAME.to_string(), catalog.to_string());
        metadata.insert(DB_SCHEMA_NAME.to_string(), schema.to_string());
        metadata.insert(TABLE_NAME.to_string(), table.to_string());
    }
    let text = matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    ) || matches!(data_type, DataType::Dictionary(_, v) if v.is_string());
    metadata.insert(IS_AUTO_INCREMENT.to_string(), "0".to_string());
    metadata.insert(
        IS_CASE_SENSITIVE.to_string(),
        if text { "1" } else { "0" }.to_string(),
    );
    metadata.insert(IS_READ_ONLY.to_string(), "1".to_string());
    metadata.insert(IS_SEARCHABLE.to_string(), "1".to_string());
    metadata
}

/// A table's schema as GetTables sends it with `include_schema`: every column with its
/// metadata and its table named.
pub fn table_schema(schema: &Schema, catalog: &str, db_schema: &str, table: &str) -> Schema {
    // Code columns are scanned as string views; clients are told (and sent) the contract's types.
    let schema = fjq_engine::result_types::result_schema(schema);
    Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| {
                f.as_ref()
                    .clone()
                    .with_metadata(column_metadata(f, Some((catalog, db_schema, table))))
            })
            .collect::<Vec<_>>(),
    )
    .with_metadata(schema.metadata().clone())
}

/// For each qualifier a plan's output may carry, the table it names: a table scanned under its
/// own name, or an alias given to one (`FROM cases c`). A qualifier not found here (a view, a
/// subquery) gets no table name.
pub fn plan_tables(plan: &LogicalPlan) -> HashMap<String, String> {
    fn scanned(plan: &LogicalPlan) -> Option<String> {
        match plan {
            LogicalPlan::TableScan(scan) => Some(scan.table_name.table().to_string()),
            LogicalPlan::Filter(f) => scanned(&f.input),
            _ => None,
        }
    }
    let mut tables = HashMap::new();
    let _ = plan.apply(|node| {
        match node {
            LogicalPlan::TableScan(scan) => {
                let name = scan.table_name.table().to_string();
                tables.insert(name.clone(), name);
            }
            LogicalPlan::SubqueryAlias(alias) => {
                if let Some(table) = scanned(&alias.input) {
                    tables.insert(alias.alias.table().to_string(), table);
                }
            }
            _ => {}
        }
        Ok(TreeNodeRecursion::Continue)
    });
    tables
}

/// The schema a result is announced with: each field's metadata completed by
/// [`column_metadata`], naming its table when the plan shows it came from one of the
/// catalogue's tables unchanged.
pub fn with_column_metadata(
    ctx: &SessionContext,
    schema: &DFSchema,
    plan: Option<&LogicalPlan>,
) -> Schema {
    let tables = plan.map(plan_tables).unwrap_or_default();
    let options = ctx.state();
    let catalog = options.config_options().catalog.default_catalog.clone();
    let db_schema = options.config_options().catalog.default_schema.clone();
    let fields: Vec<Field> = schema
        .iter()
        .map(|(qualifier, field)| {
            let table = qualifier.and_then(|q| tables.get(q.table())).filter(|t| {
                fjq_engine::contract::table(t)
                    .is_some_and(|spec| spec.column(field.name()).is_some())
            });
            let source = table.map(|t| (catalog.as_str(), db_schema.as_str(), t.as_str()));
            field
                .as_ref()
                .clone()
                .with_metadata(column_metadata(field, source))
        })
        .collect();
    Schema::new(fields).with_metadata(schema.metadata().clone())
}

/// Names from `wanted` that the session has as functions, in order.
fn functions(ctx: &SessionContext, wanted: &[&str]) -> Vec<String> {
    let state = ctx.state();
    wanted
        .iter()
        .filter(|name| {
            state.scalar_functions().contains_key(**name)
                || state.aggregate_functions().contains_key(**name)
        })
        .map(|n| n.to_string())
        .collect()
}

const NUMERIC_FUNCTIONS: &[&str] = &[
    "abs", "acos", "asin", "atan", "atan2", "cbrt", "ceil", "cos", "cot", "degrees", "exp",
    "floor", "gcd", "lcm", "ln", "log", "log10", "log2", "mod", "pi", "power", "radians", "random",
    "round", "signum", "sin", "sqrt", "tan", "trunc",
];
const STRING_FUNCTIONS: &[&str] = &[
    "ascii",
    "bit_length",
    "btrim",
    "char_length",
    "chr",
    "concat",
    "concat_ws",
    "initcap",
    "left",
    "length",
    "lower",
    "lpad",
    "ltrim",
    "octet_length",
    "overlay",
    "position",
    "regexp_like",
    "regexp_match",
    "regexp_replace",
    "repeat",
    "replace",
    "reverse",
    "right",
    "rpad",
    "rtrim",
    "split_part",
    "starts_with",
    "strpos",
    "substr",
    "substring",
    "translate",
    "upper",
];
const DATETIME_FUNCTIONS: &[&str] = &[
    "current_date",
    "current_time",
    "date_bin",
    "date_part",
    "date_trunc",
    "from_unixtime",
    "make_date",
    "now",
    "to_char",
    "to_date",
    "to_timestamp",
    "to_unixtime",
];
const SYSTEM_FUNCTIONS: &[&str] = &["arrow_typeof", "coalesce", "nullif", "nvl", "version"];

/// GetSqlInfo's answer: every fact of the protocol's SqlInfo list, as JDBC's
/// `DatabaseMetaData` asks for them.
pub fn sql_info(ctx: &SessionContext) -> SqlInfoData {
    let mut info = SqlInfoDataBuilder::new();
    // The server.
    info.append(SqlInfo::FlightSqlServerName, "fjq");
    info.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    info.append(SqlInfo::FlightSqlServerArrowVersion, "1.5");
    info.append(SqlInfo::FlightSqlServerReadOnly, true);
    info.append(SqlInfo::FlightSqlServerSql, true);
    info.append(SqlInfo::FlightSqlServerSubstrait, false);
    info.append(SqlInfo::FlightSqlServerSubstraitMinVersion, "");
    info.append(SqlInfo::FlightSqlServerSubstraitMaxVersion, "");
    info.append(
        SqlInfo::FlightSqlServerTransaction,
        SqlSupportedTransaction::None as i32,
    );
    info.append(SqlInfo::FlightSqlServerCancel, true);
    info.append(SqlInfo::FlightSqlServerBulkIngestion, false);
    info.append(SqlInfo::FlightSqlServerIngestTransactionsSupported, false);
    info.append(SqlInfo::FlightSqlServerStatementTimeout, 0i32);
    info.append(SqlInfo::FlightSqlServerTransactionTimeout, 0i32);
    // The SQL dialect: DataFusion's, read-only.
    info.append(SqlInfo::SqlDdlCatalog, false);
    info.append(SqlInfo::SqlDdlSchema, false);
    info.append(SqlInfo::SqlDdlTable, false);
    info.append(
        SqlInfo::SqlIdentifierCase,
        SqlSupportedCaseSensitivity::SqlCaseSensitivityLowercase as i32,
    );
    info.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    // Quoted identifiers keep their case and match exactly; the protocol's list has no value
    // for that (its "case insensitive" would be wrong), so: unknown.
    info.append(
        SqlInfo::SqlQuotedIdentifierCase,
        SqlSupportedCaseSensitivity::SqlCaseSensitivityUnknown as i32,
    );
    info.append(SqlInfo::SqlAllTablesAreSelectable, true);
    info.append(
        SqlInfo::SqlNullOrdering,
        SqlNullOrdering::SqlNullsSortedHigh as i32,
    );
    let keywords: Vec<String> = datafusion::sql::sqlparser::keywords::ALL_KEYWORDS
        .iter()
        .map(|k| k.to_string())
        .collect();
    info.append(SqlInfo::SqlKeywords, keywords);
    info.append(
        SqlInfo::SqlNumericFunctions,
        functions(ctx, NUMERIC_FUNCTIONS),
    );
    info.append(
        SqlInfo::SqlStringFunctions,
        functions(ctx, STRING_FUNCTIONS),
    );
    info.append(
        SqlInfo::SqlSystemFunctions,
        functions(ctx, SYSTEM_FUNCTIONS),
    );
    info.append(
        SqlInfo::SqlDatetimeFunctions,
        functions(ctx, DATETIME_FUNCTIONS),
    );
    info.append(SqlInfo::SqlSearchStringEscape, "\\");
    info.append(SqlInfo::SqlExtraNameCharacters, "");
    info.append(SqlInfo::SqlSupportsColumnAliasing, true);
    info.append(SqlInfo::SqlNullPlusNullIsNull, true);
    info.append(SqlInfo::SqlSupportsConvert, HashMap::<i32, Vec<i32>>::new());
    info.append(SqlInfo::SqlSupportsTableCorrelationNames, true);
    info.append(SqlInfo::SqlSupportsDifferentTableCorrelationNames, false);
    info.append(SqlInfo::SqlSupportsExpressionsInOrderBy, true);
    info.append(SqlInfo::SqlSupportsOrderByUnrelated, true);
    info.append(
        SqlInfo::SqlSupportedGroupBy,
        1 << SqlSupportedGroupBy::SqlGroupByUnrelated as i32,
    );
    info.append(SqlInfo::SqlSupportsLikeEscapeClause, true);
    info.append(SqlInfo::SqlSupportsNonNullableColumns, true);
    // Bits 0 and 1: the minimum and core ODBC grammars; bit 0: ANSI-92 entry level.
    info.append(SqlInfo::SqlSupportedGrammar, 0b011i32);
    info.append(SqlInfo::SqlAnsi92SupportedLevel, 0b001i32);
    info.append(SqlInfo::SqlSupportsIntegrityEnhancementFacility, false);
    info.append(
        SqlInfo::SqlOuterJoinsSupportLevel,
        SqlOuterJoinsSupportLevel::SqlFullOuterJoins as i32,
    );
    info.append(SqlInfo::SqlSchemaTerm, "schema");
    info.append(SqlInfo::SqlProcedureTerm, "procedure");
    info.append(SqlInfo::SqlCatalogTerm, "catalog");
    info.append(SqlInfo::SqlCatalogAtStart, true);
    info.append(SqlInfo::SqlSchemasSupportedActions, 0i32);
    info.append(SqlInfo::SqlCatalogsSupportedActions, 0i32);
    info.append(SqlInfo::SqlSupportedPositionedCommands, 0i32);
    info.append(SqlInfo::SqlSelectForUpdateSupported, false);
    info.append(SqlInfo::SqlStoredProceduresSupported, false);
    info.append(
        SqlInfo::SqlSupportedSubqueries,
        (1 << SqlSupportedSubqueries::SqlSubqueriesInComparisons as i32)
            | (1 << SqlSupportedSubqueries::SqlSubqueriesInExists as i32)
            | (1 << SqlSupportedSubqueries::SqlSubqueriesInIns as i32),
    );
    info.append(SqlInfo::SqlCorrelatedSubqueriesSupported, true);
    info.append(
        SqlInfo::SqlSupportedUnions,
        (1 << SqlSupportedUnions::SqlUnion as i32) | (1 << SqlSupportedUnions::SqlUnionAll as i32),
    );
    // Limits: 0 means none (or unknown), as in JDBC.
    for limit in [
        SqlInfo::SqlMaxBinaryLiteralLength,
        SqlInfo::SqlMaxCharLiteralLength,
        SqlInfo::SqlMaxColumnNameLength,
        SqlInfo::SqlMaxColumnsInGroupBy,
        SqlInfo::SqlMaxColumnsInIndex,
        SqlInfo::SqlMaxColumnsInOrderBy,
        SqlInfo::SqlMaxColumnsInSelect,
        SqlInfo::SqlMaxColumnsInTable,
        SqlInfo::SqlMaxConnections,
        SqlInfo::SqlMaxCursorNameLength,
        SqlInfo::SqlMaxIndexLength,
        SqlInfo::SqlDbSchemaNameLength,
        SqlInfo::SqlMaxProcedureNameLength,
        SqlInfo::SqlMaxCatalogNameLength,
        SqlInfo::SqlMaxRowSize,
        SqlInfo::SqlMaxStatementLength,
        SqlInfo::SqlMaxStatements,
        SqlInfo::SqlMaxTableNameLength,
        SqlInfo::SqlMaxTablesInSelect,
        SqlInfo::SqlMaxUsernameLength,
    ] {
        info.append(limit, 0i64);
    }
    info.append(SqlInfo::SqlMaxRowSizeIncludesBlobs, false);
    // No transactions: the data are read-only.
    info.append(SqlInfo::SqlDefaultTransactionIsolation, 0i32);
    info.append(SqlInfo::SqlTransactionsSupported, false);
    info.append(SqlInfo::SqlSupportedTransactionsIsolationLevels, 0i32);
    info.append(SqlInfo::SqlDataDefinitionCausesTransactionCommit, false);
    info.append(SqlInfo::SqlDataDefinitionsInTransactionsIgnored, true);
    info.append(
        SqlInfo::SqlSupportedResultSetTypes,
        1 << SqlSupportedResultSetType::SqlResultSetTypeForwardOnly as i32,
    );
    for concurrency in [
        SqlInfo::SqlSupportedConcurrenciesForResultSetUnspecified,
        SqlInfo::SqlSupportedConcurrenciesForResultSetForwardOnly,
        SqlInfo::SqlSupportedConcurrenciesForResultSetScrollSensitive,
        SqlInfo::SqlSupportedConcurrenciesForResultSetScrollInsensitive,
    ] {
        // Bit 1: SQL_RESULT_SET_CONCURRENCY_READ_ONLY.
        info.append(concurrency, 0b10i32);
    }
    info.append(SqlInfo::SqlBatchUpdatesSupported, false);
    info.append(SqlInfo::SqlSavepointsSupported, false);
    info.append(SqlInfo::SqlNamedParametersSupported, false);
    info.append(SqlInfo::SqlLocatorsUpdateCopy, false);
    info.append(SqlInfo::SqlStoredFunctionsUsingCallSyntaxSupported, false);
    info.build().expect("static SqlInfo")
}

/// A contract table present in the session, with where it lives.
pub struct KeyedTable {
    pub catalog: String,
    pub schema: String,
    pub spec: &'static fjq_engine::contract::TableSpec,
}

/// Every schema of the session, with its catalogue's and its own name: what the catalogue
/// calls (GetDbSchemas, GetTables) and the key calls walk.
pub fn schemas(
    ctx: &SessionContext,
) -> Vec<(String, String, Arc<dyn datafusion::catalog::SchemaProvider>)> {
    let mut found = Vec::new();
    for catalog_name in ctx.catalog_names() {
        let Some(catalog) = ctx.catalog(&catalog_name) else {
            continue;
        };
        for schema_name in catalog.schema_names() {
            if let Some(schema) = catalog.schema(&schema_name) {
                found.push((catalog_name.clone(), schema_name, schema));
            }
        }
    }
    found
}

/// The contract tables the session serves.
pub fn keyed_tables(ctx: &SessionContext) -> Vec<KeyedTable> {
    let mut found = Vec::new();
    for (catalog, schema_name, schema) in schemas(ctx) {
        for spec in fjq_engine::contract::TABLES {
            if schema.table_exist(spec.name) {
                found.push(KeyedTable {
                    catalog: catalog.clone(),
                    schema: schema_name.clone(),
                    spec,
                });
            }
        }
    }
    found
}

/// Whether a request's optional catalog or schema filter lets `value` through.
fn matches(filter: &Option<String>, value: &str) -> bool {
    filter.as_deref().is_none_or(|f| f == value)
}

/// GetPrimaryKeys' schema.
pub fn primary_keys_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("catalog_name", DataType::Utf8, true),
        Field::new("db_schema_name", DataType::Utf8, true),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("column_name", DataType::Utf8, false),
        Field::new("key_name", DataType::Utf8, true),
        Field::new("key_sequence", DataType::Int32, false),
    ]))
}

/// GetPrimaryKeys' answer for one table.
pub fn primary_keys(
    tables: &[KeyedTable],
    catalog: &Option<String>,
    db_schema: &Option<String>,
    table: &str,
) -> datafusion::arrow::error::Result<RecordBatch> {
    let mut rows: Vec<(&str, &str, &str, &str, String, i32)> = Vec::new();
    for t in tables {
        if t.spec.name != table || !matches(catalog, &t.catalog) || !matches(db_schema, &t.schema) {
            continue;
        }
        for (i, column) in t.spec.primary_key.iter().enumerate() {
            rows.push((
                &t.catalog,
                &t.schema,
                t.spec.name,
                column,
                format!("{}_pkey", t.spec.name),
                i as i32 + 1,
            ));
        }
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.3))),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.4.as_str()),
        )),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.5))),
    ];
    RecordBatch::try_new(primary_keys_schema(), columns)
}

/// The schema shared by GetImportedKeys, GetExportedKeys and GetCrossReference.
pub fn foreign_keys_schema() -> SchemaRef {
    let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        text("pk_catalog_name", true),
        text("pk_db_schema_name", true),
        text("pk_table_name", false),
        text("pk_column_name", false),
        text("fk_catalog_name", true),
        text("fk_db_schema_name", true),
        text("fk_table_name", false),
        text("fk_column_name", false),
        Field::new("key_sequence", DataType::Int32, false),
        text("fk_key_name", true),
        text("pk_key_name", true),
        Field::new("update_rule", DataType::UInt8, false),
        Field::new("delete_rule", DataType::UInt8, false),
    ]))
}

/// Which foreign keys a key call asks for: by the table holding them, the table they point
/// to, or both (each with its optional catalog and schema).
pub struct KeyFilter {
    pub fk: Option<(Option<String>, Option<String>, String)>,
    pub pk: Option<(Option<String>, Option<String>, String)>,
}

/// The foreign keys between the session's contract tables that `filter` selects, one row per
/// column, ordered as the protocol asks (by the referenced table for imported keys and cross
/// references, by the referring table for exported keys).
pub fn foreign_keys(
    tables: &[KeyedTable],
    filter: &KeyFilter,
) -> datafusion::arrow::error::Result<RecordBatch> {
    let selects =
        |wanted: &Option<(Option<String>, Option<String>, String)>, t: &KeyedTable, name: &str| {
            wanted.as_ref().is_none_or(|(catalog, schema, table)| {
                table == name && matches(catalog, &t.catalog) && matches(schema, &t.schema)
            })
        };
    // pk catalog, schema, table, column; fk catalog, schema, table, column; fk and pk key names.
    let mut rows: Vec<[String; 10]> = Vec::new();
    let mut sequences: Vec<i32> = Vec::new();
    for holder in tables {
        if !selects(&filter.fk, holder, holder.spec.name) {
            continue;
        }
        for key in holder.spec.foreign_keys {
            let Some(target) = tables.iter().find(|t| {
                t.spec.name == key.table && t.catalog == holder.catalog && t.schema == holder.schema
            }) else {
                continue;
            };
            if !selects(&filter.pk, target, target.spec.name) {
                continue;
            }
            for (i, (column, referenced)) in key.columns.iter().zip(key.references).enumerate() {
                rows.push([
                    target.catalog.clone(),
                    target.schema.clone(),
                    target.spec.name.to_string(),
                    referenced.to_string(),
                    holder.catalog.clone(),
                    holder.schema.clone(),
                    holder.spec.name.to_string(),
                    column.to_string(),
                    key.name(holder.spec.name),
                    format!("{}_pkey", target.spec.name),
                ]);
                sequences.push(i as i32 + 1);
            }
        }
    }
    // Imported keys and cross references are ordered by the referenced table, exported keys by
    // the referring one; each then by key name and position in the key.
    let by_referenced = filter.fk.is_some();
    let (table, name) = if by_referenced { (0, 9) } else { (4, 8) };
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&a, &b| {
        let key = |i: usize| {
            (
                &rows[i][table],
                &rows[i][table + 1],
                &rows[i][table + 2],
                &rows[i][name],
                sequences[i],
            )
        };
        key(a).cmp(&key(b))
    });
    let text = |k: usize| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(
            order.iter().map(|&i| rows[i][k].as_str()),
        ))
    };
    // The contract's keys are declared, not enforced: no action on update or delete.
    const NO_ACTION: u8 = 3;
    let columns: Vec<ArrayRef> = vec![
        text(0),
        text(1),
        text(2),
        text(3),
        text(4),
        text(5),
        text(6),
        text(7),
        Arc::new(Int32Array::from_iter_values(
            order.iter().map(|&i| sequences[i]),
        )),
        text(8),
        text(9),
        Arc::new(UInt8Array::from_iter_values(
            order.iter().map(|_| NO_ACTION),
        )),
        Arc::new(UInt8Array::from_iter_values(
            order.iter().map(|_| NO_ACTION),
        )),
    ];
    RecordBatch::try_new(foreign_keys_schema(), columns)
}
