SELECT person_id, repeat_entries(start_date, 1095) FROM people JOIN cases USING (case_id) GROUP BY person_id
