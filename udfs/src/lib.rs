//! fjq's domain SQL functions for DataFusion: case pathways, repeat entries and the rest of
//! design/FUNCTIONS.md, with the session settings they read (`settings`).
//!
//! This crate depends on DataFusion alone: it knows nothing of files, shells or servers. Its one
//! entry point is [`register_all`], which the engine calls on every session it builds.

pub mod settings;

use datafusion::execution::context::SessionContext;

pub use settings::FjqOptions;

/// Registers every fjq function on a session.
pub fn register_all(_ctx: &SessionContext) {
    // The domain functions of design/FUNCTIONS.md are registered here as they land.
}
