SELECT CAST(extract(year FROM start_date) AS BIGINT) AS y, dfj_area, count(*) FROM cases GROUP BY 1, 2
