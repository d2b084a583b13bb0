SELECT * FROM events e JOIN people p ON e.case_id = p.case_id ORDER BY p.person_id LIMIT 5
