SELECT pathway, count(*) AS cases
FROM (SELECT c.case_id,
             case_pathway(pathway_stage(c.case_type, e.event_code, e.hearing_type, e.disposal_type),
                          e.event_date) AS pathway
      FROM events e JOIN cases c USING (case_id)
      WHERE c.case_type = 'public_law' AND NOT e.error AND NOT e.vacated
      GROUP BY c.case_id)
GROUP BY pathway ORDER BY cases DESC LIMIT 10
