//! `fjq generate`: writes a dataset fjq then opens, prints what it wrote, refuses bad requests.

use crate::{run, scratch, stderr, stdout};

#[test]
fn generate_writes_a_dataset_that_fjq_opens() {
    let out = scratch("generate-small");
    let _ = std::fs::remove_dir_all(&out);
    let o = run(&[
        "generate",
        "--scale",
        "0.002",
        "--seed",
        "5",
        "--out",
        out.to_str().expect("path"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = stdout(&o);
    for table in [
        "cases",
        "events",
        "people",
        "persons",
        "cafcass_cases",
        "linkage",
        "_truth/entries",
    ] {
        assert!(summary.contains(table), "{summary}");
    }
    assert!(summary.contains("Wrote "), "{summary}");

    let info: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("dataset.json")).expect("dataset.json"),
    )
    .expect("json");
    let cases = info["tables"]["cases"]["rows"].as_u64().expect("rows");
    let o = run(&[
        "--data",
        out.to_str().expect("path"),
        "--format",
        "csv",
        "-c",
        "SELECT count(*) AS n FROM cases",
    ]);
    assert_eq!(stdout(&o), format!("n\n{cases}\n"));

    // Generating again into the same folder replaces the dataset.
    let o = run(&[
        "generate",
        "--scale",
        "0.001",
        "--out",
        out.to_str().expect("path"),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).is_empty(), "--quiet prints nothing");
}

#[test]
fn generate_refuses_a_bad_scale_and_a_folder_holding_something_else() {
    let o = run(&[
        "generate",
        "--scale",
        "0",
        "--out",
        scratch("generate-zero").to_str().expect("path"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("scale must be a number above 0"),
        "{}",
        stderr(&o)
    );

    let other = scratch("generate-not-a-dataset");
    std::fs::create_dir_all(&other).expect("dir");
    std::fs::write(other.join("thesis.docx"), b"precious").expect("write");
    let o = run(&[
        "generate",
        "--scale",
        "0.001",
        "--out",
        other.to_str().expect("path"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("refusing to write into"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read(other.join("thesis.docx")).expect("kept"),
        b"precious"
    );
}
