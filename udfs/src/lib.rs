//! fjq's domain SQL functions for DataFusion: case pathways, repeat entries and durations
//! (design/FUNCTIONS.md), the disclosure rules with secondary suppression and its audit
//! (design/DISCLOSURE.md), and the session settings they read (`settings`).
//!
//! This crate depends on DataFusion alone: it knows nothing of files, shells or servers. Every
//! function works on whole Arrow arrays, takes its argument types through `args` (so a wrong
//! type is a planning error naming the function and the argument), and documents itself for
//! `SHOW FUNCTIONS` and the shell's help. [`register_all`] is the one entry point.

pub mod args;
pub mod dates;
pub mod disclosure;
pub mod entries;
pub mod linkage;
pub mod pathway;
pub mod runs;
pub mod settings;
pub mod views;

use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF, WindowUDF};

pub use settings::FjqOptions;

use disclosure::dominance::DominanceAggregate;
use disclosure::nk_disclosive::NkDisclosive;
use disclosure::p_disclosive::PDisclosive;
use entries::EntryWindow;
use pathway::dated_codes::DatedCodesAggregate;

/// The scalar functions.
pub fn scalar_functions() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::new_from_impl(pathway::pathway_stage::PathwayStage::default()),
        ScalarUDF::new_from_impl(dates::weeks_between::WeeksBetween::default()),
        ScalarUDF::new_from_impl(dates::within_weeks::WithinWeeks::default()),
        ScalarUDF::new_from_impl(disclosure::suppress::Suppress::default()),
        ScalarUDF::new_from_impl(disclosure::round_to_base::RoundToBase::default()),
        ScalarUDF::new_from_impl(linkage::CaseLinkAccepted::default()),
        ScalarUDF::new_from_impl(linkage::CaseLinkWindowDays::default()),
    ]
}

/// The aggregate functions.
pub fn aggregate_functions() -> Vec<AggregateUDF> {
    vec![
        AggregateUDF::new_from_impl(
            DatedCodesAggregate::<pathway::case_pathway::CasePathway>::default(),
        ),
        AggregateUDF::new_from_impl(DatedCodesAggregate::<
            pathway::case_pathway_detail::CasePathwayDetail,
        >::default()),
        AggregateUDF::new_from_impl(
            DatedCodesAggregate::<pathway::case_journey::CaseJourney>::default(),
        ),
        AggregateUDF::new_from_impl(DatedCodesAggregate::<
            pathway::case_journey_detail::CaseJourneyDetail,
        >::default()),
        AggregateUDF::new_from_impl(
            DatedCodesAggregate::<pathway::person_pathway::PersonPathway>::default(),
        ),
        AggregateUDF::new_from_impl(
            DatedCodesAggregate::<entries::repeat_entries::RepeatEntries>::default(),
        ),
        AggregateUDF::new_from_impl(entries::return_probability::ReturnProbability::default()),
        AggregateUDF::new_from_impl(DominanceAggregate::<NkDisclosive>::default()),
        AggregateUDF::new_from_impl(DominanceAggregate::<PDisclosive>::default()),
        AggregateUDF::new_from_impl(disclosure::cell_stats::CellStats::default()),
    ]
}

/// The window functions.
pub fn window_functions() -> Vec<WindowUDF> {
    vec![
        WindowUDF::new_from_impl(EntryWindow::<entries::entry_number::EntryNumber>::default()),
        WindowUDF::new_from_impl(EntryWindow::<entries::prior_entries::PriorEntries>::default()),
        WindowUDF::new_from_impl(EntryWindow::<
            entries::days_since_last_entry::DaysSinceLastEntry,
        >::default()),
        WindowUDF::new_from_impl(EntryWindow::<entries::returns_within::ReturnsWithin>::default()),
        WindowUDF::new_from_impl(EntryWindow::<entries::left_truncated::LeftTruncated>::default()),
    ]
}

/// The parameters of every function, for error messages.
pub fn all_params() -> Vec<&'static args::Params> {
    vec![
        &pathway::pathway_stage::PARAMS,
        &pathway::case_pathway::PARAMS,
        &pathway::case_pathway_detail::PARAMS,
        &pathway::person_pathway::PARAMS,
        &dates::weeks_between::PARAMS,
        &dates::within_weeks::PARAMS,
        &entries::entry_number::PARAMS,
        &entries::prior_entries::PARAMS,
        &entries::days_since_last_entry::PARAMS,
        &entries::returns_within::PARAMS,
        &entries::left_truncated::PARAMS,
        &entries::repeat_entries::PARAMS,
        &entries::return_probability::PARAMS,
        &disclosure::suppress::PARAMS,
        &disclosure::round_to_base::PARAMS,
        &disclosure::nk_disclosive::PARAMS,
        &disclosure::p_disclosive::PARAMS,
        &linkage::ACCEPTED_PARAMS,
        &linkage::WINDOW_PARAMS,
        &pathway::case_journey::PARAMS,
        &pathway::case_journey_detail::PARAMS,
    ]
}

/// Registers every fjq function on a session.
pub fn register_all(ctx: &SessionContext) {
    for f in scalar_functions() {
        ctx.register_udf(f);
    }
    for f in aggregate_functions() {
        ctx.register_udaf(f);
    }
    for f in window_functions() {
        ctx.register_udwf(f);
    }
}
