//! The data contract of design/DATA.md as data: every table of the Data First family court –
//! Cafcass dataset, its columns with Arrow types and descriptions, the order its files are
//! sorted in and the columns that identify a person; `dataset.json`; and the civil-date helper.
//!
//! The generator and the importer write exactly these schemas and the engine validates a data
//! directory against them, so they cannot drift apart. Descriptions are the words a researcher
//! sees in `\d` and `information_schema`. This crate depends on Arrow's schema types and serde
//! only: it knows nothing of Parquet, SQL, the generator or the engine.

pub mod cafcass;
pub mod calendar;
pub mod court;
pub mod dataset;
pub mod linkage;
pub mod schema;
pub mod truth;

pub use cafcass::{CAFCASS_CASES, CAFCASS_PEOPLE, CAFCASS_WORK};
pub use court::{CASE_LINKS, CASES, EVENTS, PEOPLE, PERSONS};
pub use dataset::{Coverage, DatasetInfo, GeneratorInfo, TableInfo, Window};
pub use linkage::LINKAGE;
pub use schema::{ColumnSpec, ColumnType, ForeignKey, TableSpec};

/// Every table of the contract, in the order the catalogue lists them.
pub const TABLES: &[&TableSpec] = &[
    &CASES,
    &CASE_LINKS,
    &EVENTS,
    &PEOPLE,
    &PERSONS,
    &CAFCASS_CASES,
    &CAFCASS_PEOPLE,
    &CAFCASS_WORK,
    &LINKAGE,
];

/// The contract table of that name.
pub fn table(name: &str) -> Option<&'static TableSpec> {
    TABLES.iter().copied().find(|t| t.name == name)
}
