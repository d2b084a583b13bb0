SELECT case_pathway_detail(pathway_stage(c.case_type, e.event_code, e.hearing_type), e.event_date) FROM events e JOIN cases c USING (case_id) GROUP BY e.case_id
