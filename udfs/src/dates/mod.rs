//! Durations in weeks: the unit of the care-proceedings timeliness measure (26 weeks).

pub mod weeks_between;
pub mod within_weeks;
