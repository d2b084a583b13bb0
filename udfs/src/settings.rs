//! Session settings under the `fjq.` prefix: the coverage windows of the open dataset.
//!
//! Functions that must tell a censored follow-up from a real absence (`returns_within`,
//! `left_truncated`) read these; an explicit argument overrides them. They are visible with
//! `SHOW ALL` and in `information_schema.df_settings`, and settable with `SET`.

use datafusion::common::config::ConfigExtension;
use datafusion::common::extensions_options;

extensions_options! {
    /// The open dataset's coverage windows (ISO dates), from its dataset.json.
    pub struct FjqOptions {
        /// First issue date covered by the family court tables.
        pub court_coverage_start: String, default = "2011-01-01".to_string()
        /// Last issue date covered by the family court tables (the extract date).
        pub court_coverage_end: String, default = "2021-01-31".to_string()
        /// First date covered by the Cafcass tables.
        pub cafcass_coverage_start: String, default = "2007-04-01".to_string()
        /// Last date covered by the Cafcass tables.
        pub cafcass_coverage_end: String, default = "2021-12-01".to_string()
    }
}

impl ConfigExtension for FjqOptions {
    const PREFIX: &'static str = "fjq";
}
