SELECT extract(year FROM first_disposal_date) AS year,
       count(*) AS disposals,
       round(avg((first_disposal_date - start_date) / 7.0), 1) AS mean_weeks,
       round(100.0 * avg(CASE WHEN first_disposal_date - start_date <= 182 THEN 1 ELSE 0 END), 1) AS pct_within_26_weeks
FROM cases
WHERE case_type = 'public_law' AND application_type IN ('care', 'supervision')
  AND first_disposal_date IS NOT NULL
GROUP BY 1 ORDER BY 1
