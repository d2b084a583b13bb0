//! Calibration against design/DATA.md, computed with SQL from the tables and from `_truth/`.
//!
//! The dataset is scale 0.05, so volumes are divided by 0.05 to compare with yearly England and
//! Wales figures. Tolerances allow for that sample's noise (stated next to each check) and for
//! left truncation where the figure is computed from the observed tables.

use crate::common::{self, CALIBRATION_SCALE, open_with_truth, pairs, value};

#[tokio::test]
async fn yearly_volumes_match_the_family_court_statistics() {
    let engine = open_with_truth(common::calibration_dataset()).await;
    let per_year = |filter: &str| {
        format!(
            "SELECT CAST(extract(year FROM start_date) AS BIGINT) y, count(*) FROM cases \
             WHERE start_date < DATE '2021-01-01' {filter} GROUP BY 1 ORDER BY 1"
        )
    };
    let all = pairs(&engine, &per_year("")).await;
    assert_eq!(all.len(), 10, "ten full years 2011-2020");
    for (year, n) in &all {
        let national = n / CALIBRATION_SCALE;
        // Target: about 255-270 thousand new cases a year; 5% sampling margin.
        assert!(
            (242_000.0..=283_000.0).contains(&national),
            "{year}: {national} cases"
        );
    }
    let public = pairs(&engine, &per_year("AND case_type = 'public_law'")).await;
    let public_2011 = public[0].1 / CALIBRATION_SCALE;
    assert!(
        (9_500.0..=12_500.0).contains(&public_2011),
        "public law 2011: {public_2011}"
    );
    for (year, n) in public.iter().filter(|(y, _)| (2016..=2018).contains(y)) {
        let national = n / CALIBRATION_SCALE;
        assert!(
            (16_500.0..=21_500.0).contains(&national),
            "public law {year}: {national}"
        );
    }
    let private = value(
        &engine,
        "SELECT count(*) / 10.0 FROM cases WHERE case_type = 'private_law' AND start_date < DATE '2021-01-01'",
    )
    .await
        / CALIBRATION_SCALE;
    assert!(
        (45_000.0..=60_000.0).contains(&private),
        "private law a year: {private}"
    );
    for (case_type, target) in [
        ("matrimonial", 105_000.0),
        ("financial_remedy", 40_000.0),
        ("domestic_violence", 30_000.0),
    ] {
        let yearly = value(
            &engine,
            &format!("SELECT count(*) / 10.0 FROM cases WHERE case_type = '{case_type}' AND start_date < DATE '2021-01-01'"),
        )
        .await
            / CALIBRATION_SCALE;
        assert!(
            (yearly / target - 1.0).abs() < 0.12,
            "{case_type}: {yearly} a year, target about {target}"
        );
    }
    let adoption = value(&engine, "SELECT count(*) / 10.0 FROM cases WHERE case_type = 'adoption' AND start_date < DATE '2021-01-01'")
        .await
        / CALIBRATION_SCALE;
    assert!(
        (4_500.0..=6_500.0).contains(&adoption),
        "adoption: {adoption} a year"
    );
    let wales = value(
        &engine,
        "SELECT avg(CASE WHEN region = 'Wales' THEN 1.0 ELSE 0.0 END) FROM cases",
    )
    .await;
    assert!((0.045..=0.065).contains(&wales), "Wales share {wales}");
}

#[tokio::test]
async fn public_law_cases_have_about_1_6_children_and_2_adults() {
    let engine = open_with_truth(common::calibration_dataset()).await;
    let children = value(
        &engine,
        "SELECT avg(n_children) FROM cases WHERE case_type = 'public_law'",
    )
    .await;
    assert!(
        (1.5..=1.75).contains(&children),
        "children per case {children}"
    );
    // n_children agrees with the child rows in people.
    let rows = value(
        &engine,
        "SELECT avg(k) FROM (SELECT c.case_id, sum(CASE WHEN p.role = 'child' THEN 1 ELSE 0 END) k \
         FROM cases c JOIN people p USING (case_id) WHERE c.case_type = 'public_law' GROUP BY 1)",
    )
    .await;
    assert!(
        (rows - children).abs() < 1e-9,
        "{rows} child rows per case against n_children {children}"
    );
    let adults = value(
        &engine,
        "SELECT avg(k) FROM (SELECT c.case_id, sum(CASE WHEN p.role <> 'child' AND p.party_type = 'person' THEN 1 ELSE 0 END) k \
         FROM cases c JOIN people p USING (case_id) WHERE c.case_type = 'public_law' GROUP BY 1)",
    )
    .await;
    assert!((1.75..=2.2).contains(&adults), "adults per case {adults}");
}

#[tokio::test]
async fn care_proceedings_durations_follow_the_published_series() {
    let engine = open_with_truth(common::calibration_dataset()).await;
    // FCSQ: mean weeks from issue to first disposal of care and supervision cases, by year of
    // disposal. 2011-2013 are left out: their disposals include cases issued before 2011 that
    // the court tables do not hold.
    let by_year = pairs(
        &engine,
        "SELECT CAST(extract(year FROM first_disposal_date) AS BIGINT), avg((first_disposal_date - start_date) / 7.0) \
         FROM cases WHERE case_type = 'public_law' AND application_type IN ('care', 'supervision') \
         AND first_disposal_date IS NOT NULL GROUP BY 1 ORDER BY 1",
    )
    .await;
    let weeks = |year: i64| {
        by_year
            .iter()
            .find(|(y, _)| *y == year)
            .map(|(_, w)| *w)
            .expect("year present")
    };
    for (year, target) in [
        (2014, 30.0),
        (2015, 28.3),
        (2016, 26.9),
        (2017, 28.0),
        (2019, 33.0),
        (2020, 39.0),
    ] {
        let got = weeks(year);
        assert!(
            (got - target).abs() <= 3.0,
            "{year}: {got:.1} weeks, published {target}"
        );
    }
    assert!(
        weeks(2020) > weeks(2016) + 6.0,
        "the 2020 slowdown is there"
    );
}

/// Kaplan-Meier estimate of P(second case within 7 years), written as plain SQL over
/// (person, start) pairs: the first case is the index, censored at `censor`.
fn km_seven_years(pairs_sql: &str, censor: &str) -> String {
    format!(
        "WITH m AS ({pairs_sql}), \
         seq AS (SELECT who, start_date, row_number() OVER (PARTITION BY who ORDER BY start_date) rn FROM m), \
         f AS (SELECT a.who, a.start_date idx, b.start_date nxt FROM seq a LEFT JOIN seq b ON a.who = b.who AND b.rn = 2 WHERE a.rn = 1), \
         obs AS (SELECT CASE WHEN nxt IS NOT NULL THEN nxt - idx ELSE DATE '{censor}' - idx END t, \
                        CASE WHEN nxt IS NOT NULL THEN 1 ELSE 0 END ev FROM f), \
         g AS (SELECT t, sum(ev) d, count(*) c FROM obs GROUP BY t), \
         r AS (SELECT t, d, sum(c) OVER (ORDER BY t DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) n FROM g) \
         SELECT 1 - exp(sum(ln(1.0 - d * 1.0 / n))) FROM r WHERE t <= 2557 AND d > 0"
    )
}

#[tokio::test]
async fn about_one_mother_in_four_returns_to_care_proceedings_within_seven_years() {
    let engine = open_with_truth(common::calibration_dataset()).await;
    // From the truth: every true mother, every simulated case, censored at the simulation end.
    let truth = value(
        &engine,
        &km_seven_years(
            "SELECT true_person_id who, start_date FROM truth.entries \
             WHERE case_type = 'public_law' AND relationship_to_child = 'mother' GROUP BY 1, 2",
            "2021-12-01",
        ),
    )
    .await;
    assert!((0.21..=0.27).contains(&truth), "KM from truth {truth}");
    // From the tables: de-duplicated ids, left-truncated at 2011, censored at the extract.
    let observed = value(
        &engine,
        &km_seven_years(
            "SELECT p.person_id who, c.start_date FROM people p JOIN cases c USING (case_id) \
             WHERE c.case_type = 'public_law' AND p.relationship_to_child = 'mother' GROUP BY 1, 2",
            "2021-01-31",
        ),
    )
    .await;
    assert!(
        (0.20..=0.28).contains(&observed),
        "KM from the tables {observed}"
    );
}

#[tokio::test]
async fn about_three_in_ten_private_law_cases_concern_a_child_seen_before() {
    let engine = open_with_truth(common::calibration_dataset()).await;
    // Cafcass 2017: 30% of private law applications had an earlier case for the eldest child.
    let truth = value(
        &engine,
        "WITH pl AS (SELECT e.case_id, e.start_date, e.true_person_id, pt.birth_date FROM truth.entries e \
                     JOIN truth.persons_truth pt USING (true_person_id) \
                     WHERE e.case_type = 'private_law' AND e.role = 'child' \
                     AND e.start_date BETWEEN DATE '2016-01-01' AND DATE '2019-12-31'), \
         eldest AS (SELECT case_id, start_date, true_person_id FROM (SELECT *, row_number() OVER \
                    (PARTITION BY case_id ORDER BY birth_date, true_person_id) rn FROM pl) WHERE rn = 1), \
         firsts AS (SELECT true_person_id, min(start_date) first_start FROM truth.entries GROUP BY 1) \
         SELECT avg(CASE WHEN f.first_start < e.start_date THEN 1.0 ELSE 0.0 END) FROM eldest e JOIN firsts f USING (true_person_id)",
    )
    .await;
    assert!((0.26..=0.34).contains(&truth), "from truth {truth}");
    let observed = value(
        &engine,
        "WITH pl AS (SELECT p.case_id, c.start_date, p.person_id, p.age_at_start FROM people p JOIN cases c USING (case_id) \
                     WHERE c.case_type = 'private_law' AND p.role = 'child' AND p.person_id IS NOT NULL \
                     AND c.start_date BETWEEN DATE '2017-01-01' AND DATE '2020-12-31'), \
         eldest AS (SELECT case_id, start_date, person_id FROM (SELECT *, row_number() OVER \
                    (PARTITION BY case_id ORDER BY age_at_start DESC NULLS LAST, person_id) rn FROM pl) WHERE rn = 1), \
         firsts AS (SELECT p.person_id, min(c.start_date) first_start FROM people p JOIN cases c USING (case_id) \
                    WHERE p.person_id IS NOT NULL GROUP BY 1) \
         SELECT avg(CASE WHEN f.first_start < e.start_date THEN 1.0 ELSE 0.0 END) FROM eldest e JOIN firsts f USING (person_id)",
    )
    .await;
    assert!(
        (0.24..=0.34).contains(&observed),
        "from the tables {observed}"
    );
}
