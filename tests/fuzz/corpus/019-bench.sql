SELECT c.case_type, e.event_code, count(*) FROM events e JOIN cases c USING (case_id) GROUP BY 1, 2
