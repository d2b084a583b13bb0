SELECT c.region,
       count(DISTINCT p.person_id) AS children,
       count(DISTINCT l.person_id) AS found_in_cafcass,
       round(100.0 * count(DISTINCT l.person_id) / count(DISTINCT p.person_id), 1) AS pct_found
FROM people p
JOIN cases c USING (case_id)
LEFT JOIN linked_people l ON l.person_id = p.person_id AND l.cafcass_role = 'subject'
WHERE c.case_type = 'public_law' AND p.role = 'child'
GROUP BY 1 ORDER BY pct_found
