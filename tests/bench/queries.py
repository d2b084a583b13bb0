"""The benchmark's research queries (design/PERFORMANCE.md), each written twice.

`fjq` is the query an fjq user writes (domain functions where they apply); `duckdb` is the plain
SQL a researcher would otherwise write, run by DuckDB. Both must return the same rows (text and
whole numbers only, so the comparison is exact). `scan` reads the same columns with the least
work that still reads them: the floor a query is compared against. It sums `octet_length` of
text (a string's stored length), not `length`, which counts characters one by one and made the
floor of text-heavy queries up to twice what decoding costs.
"""

# Public and private law stages in plain SQL, with design/FUNCTIONS.md's ranks.
STAGES = """
  s AS (SELECT e.case_id, c.case_type, e.event_date, CASE
          WHEN e.event_code = 'G63' THEN 'withdrawn' WHEN e.event_code = 'ORDREF' THEN 'refused'
          WHEN e.event_code = 'ORDNOM' THEN 'no_order' WHEN e.event_code = 'G62' THEN 'reopened'
          WHEN e.event_code = 'U24' THEN 'closed'
          WHEN e.event_code IN ('C6', 'G61') THEN CASE
               WHEN c.case_type = 'public_law' AND e.hearing_type = 'CMH' THEN 'cmh'
               WHEN c.case_type = 'public_law' AND e.hearing_type = 'FCMH' THEN 'fcmh'
               WHEN c.case_type = 'public_law' AND e.hearing_type = 'IRH' THEN 'irh'
               WHEN c.case_type = 'private_law' AND e.hearing_type = 'FHDRA' THEN 'fhdra'
               WHEN c.case_type = 'private_law' AND e.hearing_type = 'fact_finding' THEN 'fact_finding'
               WHEN c.case_type = 'private_law' AND e.hearing_type = 'DRA' THEN 'dra'
               WHEN e.hearing_type = 'final_hearing' THEN 'final_hearing' END
          WHEN e.event_code = 'U22' AND c.case_type = 'public_law' THEN 'issue'
          WHEN e.event_code IN ('U22', 'U21') THEN 'application'
          WHEN c.case_type = 'public_law' AND e.event_code IN ('C23', 'C33', 'C35B') THEN 'interim_order'
          WHEN c.case_type = 'public_law' AND e.event_code IN ('C32A', 'C32B', 'C35A', 'C43', 'C43A', 'C45A', 'A70') THEN 'final_order'
          WHEN c.case_type = 'private_law' AND e.event_code IN ('C43', 'C43A', 'C45A') THEN 'final_order' END AS stage
        FROM events e JOIN cases c USING (case_id)
        WHERE c.case_type IN ('public_law', 'private_law') AND NOT e.error AND NOT e.vacated),
  r AS (SELECT *, CASE stage WHEN 'issue' THEN 0 WHEN 'application' THEN 1 WHEN 'interim_order' THEN 3
          WHEN 'cmh' THEN 5 WHEN 'fhdra' THEN 6 WHEN 'fcmh' THEN 7 WHEN 'fact_finding' THEN 8 WHEN 'irh' THEN 9
          WHEN 'dra' THEN 10 WHEN 'final_hearing' THEN 13 WHEN 'final_order' THEN 14 WHEN 'withdrawn' THEN 16
          WHEN 'refused' THEN 17 WHEN 'no_order' THEN 18 WHEN 'reopened' THEN 19 WHEN 'closed' THEN 20 END AS rk
        FROM s WHERE stage IS NOT NULL)"""

FJQ_PATHWAYS = """
  SELECT c.case_type, case_pathway(pathway_stage(c.case_type, e.event_code, e.hearing_type, e.disposal_type), e.event_date, '{mode}') AS pathway
  FROM events e JOIN cases c USING (case_id)
  WHERE c.case_type IN ('public_law', 'private_law') AND NOT e.error AND NOT e.vacated
  GROUP BY c.case_id, c.case_type"""

ENTRIES = "SELECT DISTINCT p.person_id AS who, c.start_date FROM people p JOIN cases c USING (case_id) WHERE p.person_id IS NOT NULL"

SCAN_EVENTS_CASES = """SELECT sum(octet_length(e.case_id)) + sum(octet_length(e.event_code)) + sum(octet_length(coalesce(e.hearing_type, '')))
    + sum(octet_length(coalesce(e.disposal_type, ''))) + sum(e.event_date - DATE '2000-01-01')
    + sum(CASE WHEN e.error OR e.vacated THEN 1 ELSE 0 END) FROM events e"""
SCAN_PEOPLE_CASES = """SELECT (SELECT sum(octet_length(coalesce(person_id, ''))) + sum(octet_length(case_id)) FROM people)
    + (SELECT sum(octet_length(case_id)) + sum(start_date - DATE '2000-01-01') FROM cases)"""

QUERIES = [
    {
        "name": "volumes by year and area",
        "functions": False,
        "fjq": "SELECT CAST(extract(year FROM start_date) AS BIGINT) AS y, dfj_area, count(*) FROM cases GROUP BY 1, 2",
        "duckdb": "SELECT CAST(extract(year FROM start_date) AS BIGINT) AS y, dfj_area, count(*) FROM cases GROUP BY 1, 2",
        "scan": "SELECT sum(start_date - DATE '2000-01-01') + sum(octet_length(dfj_area)) FROM cases",
    },
    {
        "name": "26-week compliance by disposal year",
        "functions": True,
        "fjq": """SELECT CAST(extract(year FROM first_disposal_date) AS BIGINT), count(*),
                    CAST(round(sum(weeks_between(start_date, first_disposal_date)) * 7) AS BIGINT),
                    sum(CASE WHEN within_weeks(start_date, first_disposal_date, 26) THEN 1 ELSE 0 END)
                  FROM cases WHERE case_type = 'public_law' AND first_disposal_date IS NOT NULL GROUP BY 1""",
        "duckdb": """SELECT CAST(extract(year FROM first_disposal_date) AS BIGINT), count(*),
                    sum(first_disposal_date - start_date), sum(CASE WHEN first_disposal_date - start_date <= 182 THEN 1 ELSE 0 END)
                  FROM cases WHERE case_type = 'public_law' AND first_disposal_date IS NOT NULL GROUP BY 1""",
        "scan": "SELECT sum(octet_length(case_type)) + sum(start_date - DATE '2000-01-01') + sum(coalesce(first_disposal_date, DATE '2000-01-01') - DATE '2000-01-01') FROM cases",
    },
    {
        "name": "pathway frequencies per case type",
        "functions": True,
        "fjq": f"SELECT case_type, pathway, count(*) FROM ({FJQ_PATHWAYS.format(mode='observed')}) GROUP BY 1, 2",
        "duckdb": f"""WITH {STAGES},
                   o AS (SELECT *, lag(stage) OVER (PARTITION BY case_id ORDER BY event_date, rk, stage) AS prev FROM r),
                   p AS (SELECT case_id, case_type, string_agg(stage, ' > ' ORDER BY event_date, rk, stage) AS pathway
                         FROM o WHERE prev IS NULL OR prev <> stage GROUP BY 1, 2)
                   SELECT case_type, pathway, count(*) FROM p GROUP BY 1, 2""",
        "scan": SCAN_EVENTS_CASES,
    },
    {
        "name": "furthest stage reached",
        "functions": True,
        "fjq": f"SELECT case_type, pathway, count(*) FROM ({FJQ_PATHWAYS.format(mode='furthest')}) GROUP BY 1, 2",
        "duckdb": f"""WITH {STAGES},
                   o AS (SELECT *, max(rk) OVER (PARTITION BY case_id ORDER BY event_date, rk, stage
                                                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reached FROM r),
                   p AS (SELECT case_id, case_type, string_agg(stage, ' > ' ORDER BY event_date, rk, stage) AS pathway
                         FROM o WHERE reached IS NULL OR rk > reached GROUP BY 1, 2)
                   SELECT case_type, pathway, count(*) FROM p GROUP BY 1, 2""",
        "scan": SCAN_EVENTS_CASES,
    },
    {
        "name": "returns within 2, 3 and 7 years (censored)",
        "functions": True,
        "fjq": f"""SELECT CAST(r2 AS INT), CAST(r3 AS INT), CAST(r7 AS INT), count(*) FROM (
                     SELECT returns_within(start_date, 730) OVER w AS r2, returns_within(start_date, 1095) OVER w AS r3,
                            returns_within(start_date, 2557) OVER w AS r7
                     FROM ({ENTRIES}) WINDOW w AS (PARTITION BY who ORDER BY start_date)) GROUP BY 1, 2, 3""",
        "duckdb": f"""WITH e AS ({ENTRIES}),
                   w AS (SELECT start_date, lead(start_date) OVER (PARTITION BY who ORDER BY start_date) AS nxt FROM e)
                   SELECT CASE WHEN nxt - start_date <= 730 THEN 1 WHEN DATE '2021-01-31' - start_date >= 730 THEN 0 END,
                          CASE WHEN nxt - start_date <= 1095 THEN 1 WHEN DATE '2021-01-31' - start_date >= 1095 THEN 0 END,
                          CASE WHEN nxt - start_date <= 2557 THEN 1 WHEN DATE '2021-01-31' - start_date >= 2557 THEN 0 END,
                          count(*) FROM w GROUP BY 1, 2, 3""",
        "scan": SCAN_PEOPLE_CASES,
    },
    {
        "name": "repeat entries per person",
        "functions": True,
        "fjq": f"SELECT r, count(*) FROM (SELECT who, repeat_entries(start_date) AS r FROM ({ENTRIES}) GROUP BY who) GROUP BY r",
        "duckdb": f"SELECT r, count(*) FROM (SELECT who, count(*) - 1 AS r FROM ({ENTRIES}) GROUP BY who) GROUP BY r",
        "scan": SCAN_PEOPLE_CASES,
    },
    {
        "name": "prior entries in 3 years",
        "functions": True,
        "fjq": f"""SELECT n, count(*) FROM (SELECT prior_entries(start_date, 1095) OVER (PARTITION BY who ORDER BY start_date) AS n
                  FROM ({ENTRIES})) GROUP BY n""",
        "duckdb": f"""SELECT n, count(*) FROM (SELECT count(*) OVER (PARTITION BY who ORDER BY start_date
                     RANGE BETWEEN INTERVAL 1095 DAYS PRECEDING AND INTERVAL 1 DAY PRECEDING) AS n FROM ({ENTRIES})) GROUP BY n""",
        "scan": SCAN_PEOPLE_CASES,
    },
    {
        "name": "person pathways across case types",
        "functions": True,
        "fjq": """SELECT pathway, count(*) FROM (SELECT p.person_id, person_pathway(c.case_type, c.start_date) AS pathway
                  FROM people p JOIN cases c USING (case_id) WHERE p.person_id IS NOT NULL GROUP BY p.person_id) GROUP BY pathway""",
        "duckdb": """SELECT pathway, count(*) FROM (SELECT who, string_agg(case_type, ' > ' ORDER BY start_date, case_type) AS pathway
                  FROM (SELECT DISTINCT p.person_id AS who, c.start_date, c.case_type FROM people p JOIN cases c USING (case_id)
                        WHERE p.person_id IS NOT NULL) GROUP BY who) GROUP BY pathway""",
        "scan": SCAN_PEOPLE_CASES + " + (SELECT sum(octet_length(case_type)) FROM cases)",
    },
    {
        "name": "mothers' return to care within 7 years (Kaplan-Meier)",
        "functions": True,
        "fjq": """SELECT CAST(round(return_probability(p.person_id, c.start_date, 2557) * 1e9) AS BIGINT)
                  FROM people p JOIN cases c USING (case_id) WHERE c.case_type = 'public_law' AND p.relationship_to_child = 'mother'""",
        "duckdb": """WITH m AS (SELECT DISTINCT p.person_id AS who, c.start_date FROM people p JOIN cases c USING (case_id)
                               WHERE c.case_type = 'public_law' AND p.relationship_to_child = 'mother'),
                   f AS (SELECT who, min(start_date) AS idx FROM m GROUP BY who),
                   nx AS (SELECT f.who, f.idx, min(m.start_date) AS nxt FROM f LEFT JOIN m ON m.who = f.who AND m.start_date > f.idx GROUP BY 1, 2),
                   obs AS (SELECT CASE WHEN nxt IS NOT NULL THEN nxt - idx ELSE DATE '2021-01-31' - idx END AS t,
                                  CASE WHEN nxt IS NOT NULL THEN 1 ELSE 0 END AS ev FROM nx),
                   g AS (SELECT t, sum(ev) AS d, count(*) AS c FROM obs GROUP BY t),
                   r AS (SELECT t, d, sum(c) OVER (ORDER BY t DESC) AS n FROM g)
                   SELECT CAST(round((1 - exp(sum(ln(1.0 - d / n)))) * 1e9) AS BIGINT) FROM r WHERE t <= 2557 AND d > 0""",
        "scan": SCAN_PEOPLE_CASES + " + (SELECT sum(octet_length(coalesce(relationship_to_child, ''))) FROM people)",
    },
    {
        "name": "court children found in Cafcass (linkage)",
        "functions": False,
        "fjq": """SELECT c.region, count(DISTINCT p.person_id), count(DISTINCT l.person_id) FROM people p JOIN cases c USING (case_id)
                  LEFT JOIN linked_people l ON l.person_id = p.person_id AND l.cafcass_role = 'subject'
                  WHERE c.case_type = 'public_law' AND p.role = 'child' GROUP BY 1""",
        "duckdb": """SELECT c.region, count(DISTINCT p.person_id), count(DISTINCT l.person_id) FROM people p JOIN cases c USING (case_id)
                  LEFT JOIN (SELECT lf.source_person_id AS person_id FROM linkage lf
                             JOIN linkage lc ON lc.dataset = 'cafcass' AND lc.link_id = lf.link_id
                             JOIN cafcass_people cp ON cp.cafcass_person_id = lc.source_person_id AND cp.role = 'subject'
                             WHERE lf.dataset = 'family_court') l ON l.person_id = p.person_id
                  WHERE c.case_type = 'public_law' AND p.role = 'child' GROUP BY 1""",
        "scan": "SELECT (SELECT sum(octet_length(source_person_id)) + sum(coalesce(link_id, 0) % 7) FROM linkage) + (SELECT sum(octet_length(cafcass_person_id)) FROM cafcass_people)",
    },
    {
        "name": "crosstab with small cells suppressed",
        "functions": False,
        "fjq": """SELECT region, case_type, CASE WHEN n < 10 THEN NULL ELSE n END FROM (
                  SELECT c.region, c.case_type, count(DISTINCT p.person_id) AS n FROM cases c JOIN people p USING (case_id)
                  WHERE p.role = 'child' GROUP BY 1, 2)""",
        "duckdb": """SELECT region, case_type, CASE WHEN n < 10 THEN NULL ELSE n END FROM (
                  SELECT c.region, c.case_type, count(DISTINCT p.person_id) AS n FROM cases c JOIN people p USING (case_id)
                  WHERE p.role = 'child' GROUP BY 1, 2)""",
        "scan": SCAN_PEOPLE_CASES,
    },
    {
        "name": "events x people x cases (wide join)",
        "functions": False,
        "fjq": """SELECT c.case_type, p.role, e.event_category, count(*), sum(coalesce(p.age_at_start, 0))
                  FROM events e JOIN cases c USING (case_id) JOIN people p USING (case_id) WHERE NOT e.error GROUP BY 1, 2, 3""",
        "duckdb": """SELECT c.case_type, p.role, e.event_category, count(*), sum(coalesce(p.age_at_start, 0))
                  FROM events e JOIN cases c USING (case_id) JOIN people p USING (case_id) WHERE NOT e.error GROUP BY 1, 2, 3""",
        "scan": "SELECT (SELECT sum(octet_length(case_id)) + sum(octet_length(event_category)) FROM events) + (SELECT sum(octet_length(role)) + sum(coalesce(age_at_start, 0)) FROM people)",
    },
    {
        "name": "events by case type and code (join)",
        "functions": False,
        "fjq": "SELECT c.case_type, e.event_code, count(*) FROM events e JOIN cases c USING (case_id) GROUP BY 1, 2",
        "duckdb": "SELECT c.case_type, e.event_code, count(*) FROM events e JOIN cases c USING (case_id) GROUP BY 1, 2",
        "scan": "SELECT (SELECT sum(octet_length(case_id)) + sum(octet_length(event_code)) FROM events) + (SELECT sum(octet_length(case_type)) FROM cases)",
    },
    {
        # Every case of every type, from its events alone (no join to cases): the codes in date
        # order, consecutive repeats collapsed, and the 100 most frequent such pathways.
        # design/PERFORMANCE.md's target for it: within 2x fjq's own scan of its columns.
        "name": "all-case pathways of event codes (no join)",
        "functions": True,
        "fjq": """SELECT pathway, count(*) AS cases FROM (
                  SELECT case_pathway(event_code, event_date) AS pathway FROM events WHERE NOT error GROUP BY case_id)
                  GROUP BY pathway ORDER BY cases DESC, pathway LIMIT 100""",
        "duckdb": """WITH o AS (SELECT case_id, event_date, event_code,
                         lag(event_code) OVER (PARTITION BY case_id ORDER BY event_date, event_code) AS prev
                         FROM events WHERE NOT error),
                  p AS (SELECT case_id, string_agg(event_code, ' > ' ORDER BY event_date, event_code) AS pathway
                        FROM o WHERE prev IS NULL OR prev <> event_code GROUP BY case_id)
                  SELECT pathway, count(*) AS cases FROM p GROUP BY pathway ORDER BY cases DESC, pathway LIMIT 100""",
        "scan": "SELECT sum(octet_length(case_id)) + sum(octet_length(event_code)) + sum(event_date - DATE '2000-01-01') + sum(CASE WHEN error THEN 1 ELSE 0 END) FROM events",
    },
]

# The court-Cafcass pairing `linked_cases` makes, in the plain SQL a DuckDB user would write.
DUCKDB_PAIRS = """
  cc AS (SELECT p.case_id, p.person_id, l.link_id, l.match_status AS s
         FROM people p JOIN linkage l ON l.dataset = 'family_court' AND l.source_person_id = p.person_id
         WHERE p.role = 'child' AND l.link_id IS NOT NULL AND l.match_status IN (1, 4, 39)),
  fc AS (SELECT cp.cafcass_case_id, l.link_id, l.match_status AS s
         FROM cafcass_people cp JOIN linkage l ON l.dataset = 'cafcass' AND l.source_person_id = cp.cafcass_person_id
         WHERE cp.role = 'subject' AND l.link_id IS NOT NULL AND l.match_status IN (1, 4, 39)),
  pairs AS (SELECT cc.case_id, fc.cafcass_case_id, c.case_type, c.start_date, k.nation, count(DISTINCT cc.person_id) AS shared
            FROM cc JOIN fc ON fc.link_id = cc.link_id
            JOIN cases c ON c.case_id = cc.case_id
            JOIN cafcass_cases k ON k.cafcass_case_id = fc.cafcass_case_id
            WHERE abs(k.received_date - c.start_date) <= 28
            GROUP BY ALL)"""

SCAN_LINKED = """SELECT (SELECT sum(octet_length(case_id)) + sum(octet_length(coalesce(person_id, ''))) + sum(octet_length(role)) FROM people)
    + (SELECT sum(octet_length(source_person_id)) + sum(coalesce(link_id, 0) % 7) + sum(match_status) FROM linkage)
    + (SELECT sum(octet_length(cafcass_case_id)) + sum(octet_length(cafcass_person_id)) + sum(octet_length(role)) FROM cafcass_people)
    + (SELECT sum(octet_length(cafcass_case_id)) + sum(received_date - DATE '2000-01-01') FROM cafcass_cases)
    + (SELECT sum(octet_length(case_id)) + sum(start_date - DATE '2000-01-01') FROM cases)"""

LINKED_QUERIES = [
    {
        "name": "court cases paired with Cafcass cases (linked_cases)",
        "functions": False,
        "fjq": "SELECT nation, case_type, count(*), sum(children_shared) FROM linked_cases GROUP BY 1, 2",
        "duckdb": f"WITH {DUCKDB_PAIRS} SELECT nation, case_type, count(*), sum(shared) FROM pairs GROUP BY 1, 2",
        "scan": SCAN_LINKED,
    },
    {
        "name": "section 7 reports and child arrangements orders (linked measures)",
        "functions": False,
        "fjq": """WITH l AS (SELECT case_id, bool_or(s7_report) AS s7 FROM linked_case_measures WHERE case_type = 'private_law' GROUP BY case_id),
                  o AS (SELECT DISTINCT case_id FROM events WHERE order_type = 'child_arrangements_order' AND NOT error)
                  SELECT CAST(l.s7 AS INT), count(*), count(o.case_id), sum(c.first_disposal_date - c.start_date)
                  FROM l JOIN cases c USING (case_id) LEFT JOIN o USING (case_id) WHERE c.first_disposal_date IS NOT NULL GROUP BY 1""",
        "duckdb": f"""WITH {DUCKDB_PAIRS},
                  l AS (SELECT p.case_id, max(CASE WHEN w.work_type = 's7_report' THEN 1 ELSE 0 END) AS s7
                        FROM pairs p LEFT JOIN cafcass_work w ON w.cafcass_case_id = p.cafcass_case_id
                        WHERE p.case_type = 'private_law' GROUP BY p.case_id),
                  o AS (SELECT DISTINCT case_id FROM events WHERE order_type = 'child_arrangements_order' AND NOT error)
                  SELECT l.s7, count(*), count(o.case_id), sum(c.first_disposal_date - c.start_date)
                  FROM l JOIN cases c USING (case_id) LEFT JOIN o USING (case_id) WHERE c.first_disposal_date IS NOT NULL GROUP BY 1""",
        "scan": SCAN_LINKED,
    },
    {
        "name": "private law journeys with Cafcass work (case_journey)",
        "functions": True,
        "fjq": """SELECT journey, count(*) FROM (
                  SELECT case_id, case_journey(step, d) AS journey FROM (
                    SELECT e.case_id, pathway_stage(c.case_type, e.event_code, e.hearing_type, e.disposal_type) AS step, e.event_date AS d
                    FROM events e JOIN cases c USING (case_id) WHERE c.case_type = 'private_law' AND NOT e.error AND NOT e.vacated
                    UNION ALL
                    SELECT l.case_id, w.work_type, w.start_date FROM linked_cases l JOIN cafcass_work w USING (cafcass_case_id)
                    WHERE l.case_type = 'private_law')
                  GROUP BY case_id) WHERE journey IS NOT NULL GROUP BY 1""",
        "duckdb": f"""WITH {DUCKDB_PAIRS},
                  court AS (SELECT e.case_id, e.event_date AS d, CASE
                      WHEN e.event_code = 'G63' THEN 'withdrawn' WHEN e.event_code = 'ORDREF' THEN 'refused'
                      WHEN e.event_code = 'ORDNOM' THEN 'no_order' WHEN e.event_code = 'G62' THEN 'reopened'
                      WHEN e.event_code = 'U24' THEN 'closed'
                      WHEN e.event_code IN ('C6', 'G61') THEN CASE e.hearing_type WHEN 'FHDRA' THEN 'fhdra'
                           WHEN 'fact_finding' THEN 'fact_finding' WHEN 'DRA' THEN 'dra' WHEN 'final_hearing' THEN 'final_hearing' END
                      WHEN e.event_code IN ('U22', 'U21') THEN 'application'
                      WHEN e.event_code IN ('C43', 'C43A', 'C45A') THEN 'final_order' END AS step
                    FROM events e JOIN cases c USING (case_id) WHERE c.case_type = 'private_law' AND NOT e.error AND NOT e.vacated),
                  work AS (SELECT p.case_id, w.start_date AS d, '[' || w.work_type || ']' AS step
                    FROM pairs p JOIN cafcass_work w ON w.cafcass_case_id = p.cafcass_case_id WHERE p.case_type = 'private_law'),
                  r AS (SELECT *, CASE step WHEN 'application' THEN 2 WHEN '[enforcement]' THEN 3 WHEN '[safeguarding_letter]' THEN 3
                      WHEN '[childrens_guardian_s41]' THEN 1 WHEN 'fhdra' THEN 12
                      WHEN '[fhdra_attendance]' THEN 13 WHEN 'fact_finding' THEN 16 WHEN '[s7_report]' THEN 17
                      WHEN '[rule_16_4_guardian]' THEN 17 WHEN '[further_work]' THEN 17 WHEN 'dra' THEN 20
                      WHEN 'final_hearing' THEN 26 WHEN 'final_order' THEN 28 WHEN 'withdrawn' THEN 32
                      WHEN 'refused' THEN 34 WHEN 'no_order' THEN 36 WHEN 'reopened' THEN 38
                      WHEN 'closed' THEN 40 END AS rk
                    FROM (SELECT * FROM court UNION ALL SELECT * FROM work) WHERE step IS NOT NULL),
                  o AS (SELECT *, lag(step) OVER (PARTITION BY case_id ORDER BY d, rk, step) AS prev FROM r),
                  j AS (SELECT case_id, string_agg(step, ' > ' ORDER BY d, rk, step) AS journey FROM o
                        WHERE prev IS NULL OR prev <> step GROUP BY case_id)
                  SELECT journey, count(*) FROM j GROUP BY 1""",
        "scan": SCAN_LINKED,
    },
]

QUERIES = QUERIES + LINKED_QUERIES
