SELECT return_probability(p.person_id, c.start_date, 2557) AS mothers_back_within_7_years
FROM people p JOIN cases c USING (case_id)
WHERE c.case_type = 'public_law' AND p.relationship_to_child = 'mother'
