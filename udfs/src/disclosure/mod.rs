//! Statistical disclosure control (design/DISCLOSURE.md): the rules (`rules`), the SQL functions
//! that apply them (one file each; `dominance` is what the two dominance aggregates share, and
//! `contributions` the state they and `fjq_cell_stats` keep), and secondary suppression
//! (`secondary`) with its audit (`audit`, `certificate`) over a table (`table`).
//!
//! Everything here is plain Rust over numbers and Arrow arrays, testable without a query: the
//! engine decides when a result must pass (the policy), runs the query, and hands the cells here.

pub mod audit;
pub mod cell_stats;
pub mod certificate;
pub mod contributions;
pub mod curve;
pub mod dominance;
pub mod nk_disclosive;
pub mod p_disclosive;
pub mod round_to_base;
pub mod rules;
pub mod secondary;
pub mod suppress;
pub mod table;

pub use audit::Interval;
pub use rules::{Endpoints, Failure, MeasureKind, MeasureStats, NegativeValues, Rule, Rules};
pub use secondary::{Protection, Unprotectable, protect};
pub use table::{Cell, Equation, Key, Table};
