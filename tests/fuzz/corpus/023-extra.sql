SELECT case_id, nk_disclosive(age_at_start), p_disclosive(age_at_start, 0.1) FROM people GROUP BY case_id
