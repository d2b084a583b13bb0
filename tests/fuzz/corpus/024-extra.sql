SELECT weeks_between(start_date, first_disposal_date), within_weeks(start_date, first_disposal_date, 26) FROM cases
