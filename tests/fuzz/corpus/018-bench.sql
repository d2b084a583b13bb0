SELECT c.case_type, p.role, e.event_category, count(*), sum(coalesce(p.age_at_start, 0)) FROM events e JOIN cases c USING (case_id) JOIN people p USING (case_id) WHERE NOT e.error GROUP BY 1, 2, 3
