//! Exceptions (ACRO's `add_exception`): a researcher attaches the case for a release in review
//! to its report, from SQL or the shell; the output checker's viewer shows it, the report's
//! checksum still holds, and the release log still verifies and numbers releases as before.
//! Releases that need no case, unknown releases and empty reasons are refused with the reason.

use crate::common::small_dataset;
use fjq_engine::{Engine, EngineConfig, ErrorKind, Policy};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::Path;

async fn safe_engine(dir: &Path) -> Engine {
    Engine::open(
        small_dataset(),
        EngineConfig {
            policy: Policy::Safe,
            release_dir: Some(dir.to_path_buf()),
            ..EngineConfig::default()
        },
    )
    .await
    .unwrap()
}

async fn run(engine: &Engine, sql: &str) -> Result<(), fjq_engine::EngineError> {
    engine.sql(sql).await?.collect().await?;
    Ok(())
}

fn report(dir: &Path, id: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(id).join("results.json")).unwrap())
        .unwrap()
}

#[tokio::test]
async fn an_exception_reaches_the_checker_and_the_log_still_verifies() {
    let dir = crate::common::scratch("exception-releases");
    let _ = std::fs::remove_dir_all(&dir);
    let engine = safe_engine(&dir).await;
    // release-0001 suppresses small cells (review); release-0002 has none (pass).
    run(
        &engine,
        "SELECT region, case_type, count(*) AS n FROM cases WHERE case_type IN ('adoption', 'forced_marriage') GROUP BY region, case_type",
    )
    .await
    .unwrap();
    run(&engine, "SELECT count(*) AS n FROM cases")
        .await
        .unwrap();
    assert_eq!(
        report(&dir, "release-0001")["results"]["output_0"]["status"],
        "review"
    );
    assert_eq!(
        report(&dir, "release-0002")["results"]["output_0"]["status"],
        "pass"
    );

    let reason = "The suppressed cells are regions with fewer than 10 forced marriage cases; the table is Table 3 of the report, which needs every region's adoption count.";
    run(
        &engine,
        &format!(
            "SELECT add_exception('release-0001', '{}')",
            reason.replace('\'', "''")
        ),
    )
    .await
    .unwrap();
    let written = report(&dir, "release-0001");
    assert_eq!(written["results"]["output_0"]["exception"], reason);
    // The checksum beside the report is the report's.
    let bytes = std::fs::read(dir.join("release-0001/results.json")).unwrap();
    let checksum =
        std::fs::read_to_string(dir.join("release-0001/checksums/results.json.txt")).unwrap();
    assert_eq!(checksum, format!("{:x}", Sha256::digest(&bytes)));

    // The checker's viewer reads the exception.
    let shown = crate::sacro::open_in_viewer(&dir.join("release-0001/results.json"));
    assert_eq!(shown["version_ok"], true, "{shown}");
    assert_eq!(shown["exceptions"]["output_0"], reason, "{shown}");
    assert_eq!(shown["files"][0]["checksum_valid"], true, "{shown}");

    // Refusals that say why, each leaving the reports as they were.
    for (sql, why) in [
        (
            "SELECT add_exception('release-0002', 'no reason needed')",
            "passed the rules",
        ),
        (
            "SELECT add_exception('release-0009', 'why')",
            "no release release-0009",
        ),
        (
            "SELECT add_exception('release-0001', '   ')",
            "needs a reason",
        ),
    ] {
        let e = run(&engine, sql).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Invalid, "{sql}: {e}");
        assert!(e.to_string().contains(why), "{sql}: {e}");
    }
    assert_eq!(
        report(&dir, "release-0002")["results"]["output_0"]["exception"],
        ""
    );

    // The log verifies (a new release reads it whole) and numbering goes on from the releases.
    run(
        &engine,
        "SELECT region, count(*) AS n FROM cases WHERE case_type = 'public_law' GROUP BY region",
    )
    .await
    .unwrap();
    assert!(dir.join("release-0003/results.json").exists());
    let log = std::fs::read_to_string(dir.join("release-log.jsonl")).unwrap();
    let entries: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries.len(), 4, "three releases and one exception");
    assert_eq!(entries[2]["exception"], reason);
    assert_eq!(entries[2]["id"], "release-0001");
    assert_eq!(
        entries[2]["files"][0][1],
        format!("{:x}", Sha256::digest(&bytes))
    );
}
