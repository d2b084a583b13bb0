//! The reference in docs/: the generated parts match what `fjq reference` prints now (so a
//! change to a function's documentation, the contract, the settings, the commands or the
//! command line shows up as a stale file), and every link in README.md and docs/ leads to a
//! file in the repository.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn the_generated_reference_in_docs_is_up_to_date() {
    for (which, file) in [
        ("functions", "FUNCTIONS.md"),
        ("data", "DATA.md"),
        ("commands", "COMMANDS.md"),
        ("settings", "SETTINGS.md"),
        ("interfaces", "INTERFACES.md"),
    ] {
        let o = crate::run(&["reference", which]);
        assert!(o.status.success(), "{}", crate::stderr(&o));
        let now = crate::stdout(&o);
        let kept = std::fs::read_to_string(repo().join("docs").join(file)).unwrap();
        assert!(
            now == kept,
            "docs/{file} is stale: run `cargo run -- reference {which} > docs/{file}`"
        );
    }
    // The generated files say what they hold: every domain function and every table.
    let functions = std::fs::read_to_string(repo().join("docs/FUNCTIONS.md")).unwrap();
    for f in [
        "case_pathway",
        "repeat_entries",
        "return_probability",
        "suppress",
    ] {
        assert!(functions.contains(&format!("\n## {f}\n")), "{f}");
    }
    let data = std::fs::read_to_string(repo().join("docs/DATA.md")).unwrap();
    for t in [
        "cases",
        "events",
        "people",
        "cafcass_work",
        "linkage",
        "linked_people",
    ] {
        assert!(data.contains(&format!("\n## {t}\n")), "{t}");
    }
}

/// Markdown links `[text](target)` in a file, without the `#anchor`.
fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        let Some(end) = rest.find(')') else { break };
        found.push(rest[..end].to_string());
        rest = &rest[end..];
    }
    found
}

#[test]
fn every_link_in_readme_and_docs_resolves_inside_the_repository() {
    let root = repo().canonicalize().unwrap();
    let mut files = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    let mut checked = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for link in links(&text) {
            let target = link.split('#').next().unwrap();
            if target.is_empty() {
                continue; // an anchor in the same file
            }
            assert!(
                !target.contains("://") && !target.starts_with("mailto:"),
                "{} links outside the repository: {link}",
                file.display()
            );
            let resolved = file.parent().unwrap().join(target);
            let resolved = resolved.canonicalize().unwrap_or_else(|_| {
                panic!("{} links to {link}, which does not exist", file.display())
            });
            assert!(
                resolved.starts_with(&root),
                "{} links to {link}, outside the repository",
                file.display()
            );
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} links found");
}
