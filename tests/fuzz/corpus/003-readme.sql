WITH mothers AS (
  SELECT p.person_id, c.start_date
  FROM people p JOIN cases c USING (case_id)
  WHERE c.case_type = 'public_law' AND p.relationship_to_child = 'mother'
  GROUP BY 1, 2),
ordered AS (
  SELECT person_id, start_date,
         lead(start_date) OVER (PARTITION BY person_id ORDER BY start_date) AS next_start
  FROM mothers)
SELECT count(DISTINCT person_id) AS mothers,
       count(DISTINCT CASE WHEN next_start IS NOT NULL THEN person_id END) AS came_back,
       round(100.0 * count(DISTINCT CASE WHEN next_start IS NOT NULL THEN person_id END)
             / count(DISTINCT person_id), 1) AS pct_came_back,
       round(avg((next_start - start_date) / 7.0), 1) AS mean_weeks_to_next_case
FROM ordered
