SELECT e.hearing_type,
       count(*) AS hearings,
       count(DISTINCT e.case_id) AS cases,
       round(100.0 * avg(CASE WHEN e.vacated THEN 1 ELSE 0 END), 1) AS pct_vacated
FROM events e JOIN cases c USING (case_id)
WHERE c.case_type = 'public_law' AND e.event_category = 'hearing' AND NOT e.error
GROUP BY 1 ORDER BY hearings DESC
