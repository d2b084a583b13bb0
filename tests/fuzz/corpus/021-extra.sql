SELECT dfj_area, case_type, count(*) FROM cases GROUP BY CUBE(dfj_area, case_type)
