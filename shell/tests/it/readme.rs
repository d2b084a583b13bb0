//! The five research queries of the README, taken from README.md itself so the two never drift,
//! run through `fjq -c` on the default sample, with answers checked for sense.

use crate::{json_rows, run};

fn readme_queries() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let section = readme
        .split("### Five research questions")
        .nth(1)
        .expect("the section")
        .split("\n## ")
        .next()
        .expect("text");
    section
        .split("```sql\n")
        .skip(1)
        .map(|block| {
            block
                .split("```")
                .next()
                .expect("closing fence")
                .to_string()
        })
        .collect()
}

fn f(row: &serde_json::Map<String, serde_json::Value>, key: &str) -> f64 {
    match &row[key] {
        serde_json::Value::Number(n) => n.as_f64().expect("number"),
        serde_json::Value::String(s) => s.parse().unwrap_or_else(|_| panic!("{key} = {s:?}")),
        other => panic!("{key} = {other:?}"),
    }
}

#[test]
fn the_readme_has_five_research_queries_and_each_answers_sensibly() {
    let queries = readme_queries();
    assert_eq!(queries.len(), 5, "the README promises five queries");
    let answer = |i: usize| json_rows(&run(&["--format", "json", "-c", &queries[i]]));

    // 1. Volumes: ten full years, about 2.6 thousand cases a year at the sample's scale of 0.01.
    let rows = answer(0);
    assert_eq!(rows.len(), 10);
    for r in &rows {
        let all = f(r, "all_cases");
        assert!((2_300.0..=2_900.0).contains(&all), "{r:?}");
        assert!(
            f(r, "public_law") < f(r, "private_law") && f(r, "private_law") < f(r, "matrimonial"),
            "{r:?}"
        );
        assert!(f(r, "public_law") + f(r, "private_law") + f(r, "matrimonial") < all);
    }

    // 2. Care timeliness: plausible weeks and shares, and the 2020 slowdown.
    let rows = answer(1);
    let weeks = |year: f64| {
        rows.iter()
            .find(|r| f(r, "year") == year)
            .map(|r| f(r, "mean_weeks"))
            .expect("year")
    };
    for r in &rows {
        assert!((10.0..=80.0).contains(&f(r, "mean_weeks")), "{r:?}");
        assert!(
            (0.0..=100.0).contains(&f(r, "pct_within_26_weeks")),
            "{r:?}"
        );
    }
    assert!(
        weeks(2020.0) > weeks(2016.0),
        "care cases slowed down by 2020"
    );

    // 3. Hearings: the Public Law Outline's hearings are there, few are vacated.
    let rows = answer(2);
    let types: Vec<&str> = rows
        .iter()
        .map(|r| r["hearing_type"].as_str().expect("type"))
        .collect();
    for expected in ["CMH", "IRH", "final_hearing"] {
        assert!(types.contains(&expected), "{types:?}");
    }
    assert!(rows.iter().all(|r| f(r, "pct_vacated") < 20.0));

    // 4. Returning mothers: a minority, gaps of months to years.
    let rows = answer(3);
    let r = &rows[0];
    assert!(f(r, "came_back") < f(r, "mothers"));
    assert!((5.0..=40.0).contains(&f(r, "pct_came_back")), "{r:?}");
    assert!(
        (40.0..=200.0).contains(&f(r, "mean_weeks_to_next_case")),
        "{r:?}"
    );

    // 5. Linkage: every region, Wales the lowest.
    let rows = answer(4);
    assert_eq!(rows.len(), 10, "nine English regions and Wales");
    assert_eq!(rows[0]["region"], "Wales");
    assert!(
        rows.iter()
            .all(|r| (40.0..=100.0).contains(&f(r, "pct_found")))
    );
}
