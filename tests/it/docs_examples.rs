//! Every domain function documents an SQL example (shown by `\df` and the docs); each example
//! must run as written on a generated dataset, so the help never goes stale.

use crate::common::{self, query};
use fjq_engine::{Engine, EngineConfig};

/// The statements of an example block: lines starting with `> ` open one, indented lines
/// continue it, anything else (a shown result, a comment) closes it.
fn statements(example: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in example.lines() {
        if let Some(rest) = line.strip_prefix("> ") {
            out.extend(current.take());
            current = Some(rest.to_string());
        } else if let Some(c) = current.as_mut().filter(|_| line.starts_with("  ")) {
            c.push('\n');
            c.push_str(line);
        } else {
            out.extend(current.take());
        }
    }
    out.extend(current);
    out
}

#[tokio::test]
async fn every_function_example_runs_on_generated_data() {
    let engine = Engine::open(common::small_dataset(), EngineConfig::default())
        .await
        .expect("opens");
    let mut docs: Vec<(String, Option<String>)> = Vec::new();
    docs.extend(fjq_udfs::scalar_functions().iter().map(|f| {
        (
            f.name().to_string(),
            f.documentation().and_then(|d| d.sql_example.clone()),
        )
    }));
    docs.extend(fjq_udfs::aggregate_functions().iter().map(|f| {
        (
            f.name().to_string(),
            f.documentation().and_then(|d| d.sql_example.clone()),
        )
    }));
    docs.extend(fjq_udfs::window_functions().iter().map(|f| {
        (
            f.name().to_string(),
            f.documentation().and_then(|d| d.sql_example.clone()),
        )
    }));
    // `safe_table`'s internal contributions aggregate is not for users and has no example.
    docs.retain(|(name, _)| name != fjq_udfs::disclosure::cell_stats::CELL_STATS);
    assert_eq!(
        docs.len(),
        21,
        "every function of FUNCTIONS.md (17) and DISCLOSURE.md (4)"
    );
    let mut ran = 0;
    for (name, example) in docs {
        let example = example.unwrap_or_else(|| panic!("{name} has no SQL example"));
        let statements = statements(&example);
        assert!(
            !statements.is_empty(),
            "{name}: no statement in its example:\n{example}"
        );
        for sql in statements {
            assert!(
                sql.contains(&name),
                "{name}'s example does not use it: {sql}"
            );
            let sql = sql.trim_end().trim_end_matches(';').to_string();
            let batches = query(&engine, &sql).await;
            assert!(
                batches.iter().map(|b| b.num_rows()).sum::<usize>() > 0,
                "{name}: no rows from\n{sql}"
            );
            ran += 1;
        }
    }
    assert!(ran >= 21);
}
