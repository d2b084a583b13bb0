//! The shape of a contract table: its columns with their Arrow types and descriptions, the
//! order its files are sorted in, and which columns identify a person.

use arrow_schema::{DataType, Field, Schema};
use std::collections::HashMap;
use std::sync::Arc;

/// One column of the contract.
#[derive(Debug, Clone, Copy)]
pub struct ColumnSpec {
    pub name: &'static str,
    pub data_type: ColumnType,
    pub nullable: bool,
    pub description: &'static str,
}

impl ColumnSpec {
    /// Whether the column identifies a record (a person, case, event, role or link): by the
    /// contract's naming, every such column ends in `_id`. Its values are keys, not statistics.
    pub fn is_identifier(&self) -> bool {
        self.name.ends_with("_id")
    }
}

/// The types the contract uses. Kept small on purpose: a real extract must match these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Utf8,
    Date32,
    Int32,
    Int64,
    Float64,
    Boolean,
}

impl ColumnType {
    pub fn arrow(self) -> DataType {
        match self {
            ColumnType::Utf8 => DataType::Utf8,
            ColumnType::Date32 => DataType::Date32,
            ColumnType::Int32 => DataType::Int32,
            ColumnType::Int64 => DataType::Int64,
            ColumnType::Float64 => DataType::Float64,
            ColumnType::Boolean => DataType::Boolean,
        }
    }

    /// Whether a type found in a file can stand for this contract type. Strings may arrive as
    /// any of Arrow's string encodings (a real extract written by pyarrow or Spark may use large
    /// or dictionary strings); every other type must match exactly.
    pub fn accepts(self, found: &DataType) -> bool {
        match (self, found) {
            (ColumnType::Utf8, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => true,
            (ColumnType::Utf8, DataType::Dictionary(_, value)) => {
                matches!(
                    value.as_ref(),
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                )
            }
            (want, found) => &want.arrow() == found,
        }
    }
}

/// One table of the contract.
#[derive(Debug)]
pub struct TableSpec {
    pub name: &'static str,
    pub description: &'static str,
    pub columns: &'static [ColumnSpec],
    /// The columns the files are sorted by, in order (declared to DataFusion so it can skip sorts).
    pub sort_order: &'static [&'static str],
    /// Columns that identify a person (used to count distinct persons per cell).
    pub person_columns: &'static [&'static str],
    /// The columns whose values identify a row; empty for a table without a key. The generator
    /// writes them unique, and a test checks that it does.
    pub primary_key: &'static [&'static str],
    /// Columns whose values are the key of another contract table (every value found there).
    pub foreign_keys: &'static [ForeignKey],
}

/// Columns of one table that hold the primary key of another: what Flight SQL's key calls
/// (GetImportedKeys and the rest) report, so that tools draw the joins between the tables.
#[derive(Debug)]
pub struct ForeignKey {
    pub columns: &'static [&'static str],
    pub table: &'static str,
    pub references: &'static [&'static str],
}

impl ForeignKey {
    /// The key's name, as a database would name the constraint: `events_case_id_fkey`.
    pub fn name(&self, table: &str) -> String {
        format!("{table}_{}_fkey", self.columns.join("_"))
    }
}

impl TableSpec {
    /// The Arrow schema of the table, each field carrying its description as metadata.
    pub fn schema(&self) -> Arc<Schema> {
        let fields: Vec<Field> = self
            .columns
            .iter()
            .map(|c| {
                Field::new(c.name, c.data_type.arrow(), c.nullable).with_metadata(HashMap::from([
                    ("description".to_string(), c.description.to_string()),
                ]))
            })
            .collect();
        Arc::new(Schema::new(fields).with_metadata(HashMap::from([(
            "description".to_string(),
            self.description.to_string(),
        )])))
    }

    pub fn column(&self, name: &str) -> Option<&ColumnSpec> {
        self.columns.iter().find(|c| c.name == name)
    }
}

pub(crate) const fn fk(
    columns: &'static [&'static str],
    table: &'static str,
    references: &'static [&'static str],
) -> ForeignKey {
    ForeignKey {
        columns,
        table,
        references,
    }
}

pub(crate) const fn col(
    name: &'static str,
    data_type: ColumnType,
    nullable: bool,
    description: &'static str,
) -> ColumnSpec {
    ColumnSpec {
        name,
        data_type,
        nullable,
        description,
    }
}
