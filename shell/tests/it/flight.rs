//! `fjq serve` with the real clients: pyarrow.flight and the ADBC Flight SQL driver from PyPI
//! (tests/interop/flight_client.py, run by the venv `tests/run.sh` makes). Every answer is
//! compared with the same query run through `fjq -c`.

use crate::{ensure_sample, fjq, json_rows, run, scratch, stderr};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("FJQ_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    assert!(
        venv.exists(),
        "the Flight interop tests need Python with pyarrow and adbc-driver-flightsql: run `bash tests/run.sh` (it creates .venv) or set FJQ_PYTHON"
    );
    venv
}

const USER: &str = "researcher";
const PASSWORD: &str = "correct horse battery staple";

/// A running `fjq serve` on a free loopback port; stopped when dropped.
struct Server {
    child: Child,
    uri: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(name: &str, policy: &str) -> Server {
        ensure_sample();
        let users = scratch(&format!("{name}-users"));
        let _ = std::fs::remove_file(&users);
        let mut add = fjq()
            .args(["user", "add", USER, "--users"])
            .arg(&users)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(add.stdin.take().unwrap(), "{PASSWORD}").unwrap();
        assert!(add.wait().unwrap().success());
        let releases = scratch(&format!("{name}-releases"));
        let _ = std::fs::remove_dir_all(&releases);
        let mut child = fjq()
            .args([
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--policy",
                policy,
                "--users",
            ])
            .arg(&users)
            .arg("--release-dir")
            .arg(&releases)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("fjq serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .split("grpc://")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Server {
            child,
            uri: format!("grpc://{addr}"),
        }
    }

    fn client(&self, args: &[&str]) -> Value {
        self.client_as(USER, PASSWORD, args)
    }

    fn client_as(&self, user: &str, password: &str, args: &[&str]) -> Value {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/interop/flight_client.py");
        let o = Command::new(python())
            .arg(script)
            .arg(args[0])
            .arg(&self.uri)
            .arg(user)
            .arg(password)
            .args(&args[1..])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "flight_client.py {args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        serde_json::from_slice(&o.stdout).unwrap()
    }

    fn peak_rss_kb(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap()
    }
}

/// A row with its NULLs left out (fjq's JSON omits them) and numbers compared as numbers.
type Row = std::collections::BTreeMap<String, Value>;

fn canonical(row: &serde_json::Map<String, Value>) -> Row {
    row.iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            let v = match v.as_f64() {
                Some(f) => serde_json::json!(f),
                None => v.clone(),
            };
            (k.clone(), v)
        })
        .collect()
}

/// The same query through `fjq -c`.
fn fjq_rows(sql: &str) -> Vec<Row> {
    json_rows(&run(&["--format", "json", "-c", sql]))
        .iter()
        .map(canonical)
        .collect()
}

/// Rows from the Python side.
fn normalise(rows: &Value) -> Vec<Row> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| canonical(r.as_object().unwrap()))
        .collect()
}

const QUERIES: &[&str] = &[
    "SELECT case_type, count(*) AS n FROM cases GROUP BY case_type ORDER BY case_type",
    "SELECT case_id, start_date, first_disposal_date, dfj_area FROM cases ORDER BY case_id LIMIT 25",
    "SELECT c.dfj_area, avg(weeks_between(c.start_date, c.first_disposal_date)) AS weeks FROM cases c WHERE c.case_type = 'public_law' GROUP BY 1 ORDER BY 1",
];

#[test]
fn pyarrow_and_adbc_get_what_fjq_prints() {
    let server = Server::start("flight-open", "open");
    for sql in QUERIES {
        let expected = fjq_rows(sql);
        assert!(!expected.is_empty());
        let pyarrow = server.client(&["pyarrow", sql]);
        assert_eq!(normalise(&pyarrow["rows"]), expected, "pyarrow: {sql}");
        let adbc = server.client(&["adbc", sql]);
        assert_eq!(normalise(&adbc["rows"]), expected, "adbc: {sql}");
    }
    // Dates stay dates.
    let types = server.client(&["pyarrow", QUERIES[1]])["types"].clone();
    assert_eq!(types[1], "date32[day]", "{types}");
    // Parameters bound to $1 and $2 through a prepared statement.
    let with_params = server.client(&[
        "adbc",
        "SELECT count(*) AS n FROM cases WHERE case_type = $1 AND dfj_area = $2",
        r#"["public_law", "Birmingham"]"#,
    ]);
    let expected = fjq_rows(
        "SELECT count(*) AS n FROM cases WHERE case_type = 'public_law' AND dfj_area = 'Birmingham'",
    );
    assert_eq!(normalise(&with_params["rows"]), expected);
    // The catalogue through adbc_get_objects.
    let objects = server.client(&["objects"]);
    let cases = &objects["tables"]["datafusion.public.cases"];
    assert_eq!(cases["type"], "TABLE");
    assert!(
        cases["columns"]
            .as_array()
            .unwrap()
            .contains(&Value::from("first_disposal_date")),
        "{cases}"
    );
    assert_eq!(
        objects["tables"]["datafusion.public.linked_people"]["type"],
        "VIEW"
    );
}

#[test]
fn wrong_passwords_and_missing_tokens_are_unauthenticated() {
    let server = Server::start("flight-auth", "open");
    let r = server.client(&["refusals"]);
    for key in ["pyarrow_wrong_password", "no_token"] {
        let text = r[key].as_str().unwrap();
        assert!(text.starts_with("UNAUTHENTICATED"), "{key}: {text}");
    }
    let adbc = r["adbc_wrong_password"].as_str().unwrap();
    assert!(adbc.to_lowercase().contains("unauthenticated"), "{adbc}");
    assert!(!adbc.contains(PASSWORD), "{adbc}");
}

#[test]
fn under_the_safe_policy_rows_are_refused_and_tables_are_released() {
    let server = Server::start("flight-safe", "safe");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/interop/flight_client.py");
    let o = Command::new(python())
        .arg(script)
        .args([
            "pyarrow",
            &server.uri,
            USER,
            PASSWORD,
            "SELECT * FROM people",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("row-level results are refused under the safe policy"),
        "{err}"
    );
    let released = server.client(&[
        "adbc",
        "SELECT * FROM safe_table('SELECT case_type, count(*) AS n FROM cases GROUP BY case_type')",
    ]);
    let rows = released["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 7, "{released}");
    // Published counts are rounded to 5.
    for r in rows {
        if let Some(n) = r["n"].as_i64() {
            assert_eq!(n % 5, 0, "{r:?}");
        }
    }
    assert!(
        scratch("flight-safe-releases")
            .join("release-0001/results.json")
            .exists()
    );
}

#[test]
fn sixteen_clients_at_once() {
    let server = Server::start("flight-load", "open");
    let before = server.peak_rss_kb();
    let r = server.client(&["load", "16", "50"]);
    assert_eq!(r["queries"], 800);
    assert_eq!(r["failures"], serde_json::json!([]), "{r}");
    let after = server.peak_rss_kb();
    eprintln!(
        "load: 800 queries from 16 clients in {:.1} s; server peak RSS {} MB (before {} MB)",
        r["seconds"].as_f64().unwrap(),
        after / 1024,
        before / 1024
    );
    assert!(after < 2 * 1024 * 1024, "peak RSS {after} kB");
    // The server still answers afterwards.
    let ok = server.client(&["pyarrow", "SELECT 1 AS one"]);
    assert_eq!(ok["rows"], serde_json::json!([{"one": 1}]));
}

#[test]
fn a_client_that_leaves_mid_stream_does_not_disturb_the_server() {
    let server = Server::start("flight-abandon", "open");
    // A large result (every event joined to its case), left after its first batch.
    let left = server.client(&[
        "abandon",
        "SELECT e.*, c.dfj_area FROM events e JOIN cases c USING (case_id)",
    ]);
    assert!(left["first_batch_rows"].as_i64().unwrap() > 0, "{left}");
    // The server still answers, the same as fjq -c.
    let sql = QUERIES[0];
    let again = server.client(&["pyarrow", sql]);
    assert_eq!(normalise(&again["rows"]), fjq_rows(sql));
}

#[test]
fn a_non_loopback_address_needs_users_and_tls() {
    let o = fjq()
        .args(["serve", "--addr", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("without users"), "{}", stderr(&o));
}
