SELECT extract(year FROM start_date) AS year,
       count(*) AS all_cases,
       sum(CASE WHEN case_type = 'public_law' THEN 1 ELSE 0 END) AS public_law,
       sum(CASE WHEN case_type = 'private_law' THEN 1 ELSE 0 END) AS private_law,
       sum(CASE WHEN case_type = 'matrimonial' THEN 1 ELSE 0 END) AS matrimonial
FROM cases
WHERE start_date < DATE '2021-01-01'
GROUP BY 1 ORDER BY 1
