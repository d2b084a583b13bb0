//! Statistical disclosure control (design/DISCLOSURE.md): the rules, the SQL functions that apply
//! them, and secondary suppression with its audit.
//!
//! Everything here is plain Rust over numbers and Arrow arrays, testable without a query: the
//! engine decides when a result must pass (the policy), runs the query, and hands the cells here.

pub mod audit;
pub mod certificate;
pub mod functions;
pub mod rules;
pub mod secondary;
pub mod table;

pub use audit::Interval;
pub use rules::{Failure, MeasureKind, MeasureStats, NegativeValues, Rule, Rules};
pub use secondary::{Protection, Unprotectable, protect};
pub use table::{Cell, Equation, Key, Table};
