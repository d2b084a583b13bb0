SELECT * FROM safe_table('SELECT region, count(DISTINCT person_id) FROM people JOIN cases USING (case_id) GROUP BY region')
