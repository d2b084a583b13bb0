//! fjq's end-to-end tests on real generated Parquet: the generator's determinism, layout,
//! contract and calibration, and the engine's validation of a data directory.
//!
//! One test binary for the crate (each binary links DataFusion again); modules by subject.

mod audit_oracle;
mod calibration;
mod common;
mod curves;
mod day_shift;
mod differential;
mod disclosure;
mod docs_examples;
mod engine_validation;
mod exceptions;
mod file_ranges;
mod filter_placement;
mod full_scale;
mod functions_truth;
mod fuzz;
mod generator;
mod hash_join;
mod implied_joins;
mod join_sides;
mod key_sort;
mod linked;
mod merge_join;
mod repartition_once;
mod sacro;
mod safe_errors;
mod slt;
mod small_domains;
mod small_keys;
mod sorted_aggregate;
mod sorted_distinct;
