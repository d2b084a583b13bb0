//! `fjq serve` with the real clients: pyarrow.flight and the ADBC Flight SQL driver from PyPI
//! (tests/interop/flight_client.py, run by the venv `tests/run.sh` makes). Every answer is
//! compared with the same query run through `fjq -c`.

mod calls;

use crate::{ensure_sample, fjq, json_rows, run, scratch, stderr};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub fn python() -> PathBuf {
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

/// A users file holding USER with PASSWORD.
fn users_file(name: &str) -> PathBuf {
    let users = scratch(name);
    let _ = std::fs::remove_file(&users);
    let mut add = fjq()
        .args(["user", "add", USER, "--users"])
        .arg(&users)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(add.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    assert!(add.wait().unwrap().success());
    users
}

/// The URI a starting `fjq serve` prints on its first line (`grpc://` or `grpc+tls://`).
fn listening_uri(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let scheme = if line.contains("grpc+tls://") {
        "grpc+tls"
    } else {
        "grpc"
    };
    let addr = line
        .split("://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    format!("{scheme}://{addr}")
}
/// "researcher:" and this make 40 characters, so basic credentials need base64 padding, which the
/// Go client (ADBC) leaves out: the server must take them unpadded.
const PASSWORD: &str = "correct horse battery staples";

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
        Server::start_with(name, policy, &[], None)
    }

    /// `fjq serve` with extra arguments (e.g. `--data`, `--addr`) and its TMPDIR (spill files).
    fn start_with(
        name: &str,
        policy: &str,
        extra: &[&std::ffi::OsStr],
        tmpdir: Option<&Path>,
    ) -> Server {
        ensure_sample();
        let users = users_file(&format!("{name}-users"));
        let mut command = fjq();
        command
            .args(["serve", "--policy", policy, "--users"])
            .arg(&users);
        if !extra.iter().any(|a| *a == "--addr") {
            command.args(["--addr", "127.0.0.1:0"]);
        }
        if !extra.iter().any(|a| *a == "--release-dir") {
            let releases = scratch(&format!("{name}-releases"));
            let _ = std::fs::remove_dir_all(&releases);
            command.arg("--release-dir").arg(&releases);
        }
        if let Some(tmp) = tmpdir {
            command.env("TMPDIR", tmp);
        }
        let mut child = command
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(scratch(&format!("{name}-stderr.log"))).unwrap())
            .spawn()
            .expect("fjq serve starts");
        let uri = listening_uri(&mut child);
        Server { child, uri }
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

/// Checks every answer a `load` run received: one distinct answer per query, the same rows as
/// `fjq -c` with `args` (e.g. the safe policy) gives; returns how many queries were checked.
fn check_answers(report: &Value, args: &[&str]) -> usize {
    let answers = report["answers"].as_object().expect("answers");
    for (sql, received) in answers {
        let received = received.as_array().unwrap();
        assert_eq!(received.len(), 1, "{sql}: different answers: {received:?}");
        let mut expected = json_rows(&run(&[args, &["--format", "json", "-c", sql]].concat()))
            .iter()
            .map(canonical)
            .collect::<Vec<_>>();
        let mut got = normalise(&received[0]);
        let key = |r: &Row| serde_json::to_string(r).unwrap();
        expected.sort_by_key(key);
        got.sort_by_key(key);
        assert_eq!(got, expected, "{sql}");
    }
    answers.len()
}

/// Verifies a release log as an auditor would, without fjq's code: each line's `prev_hash` is
/// the line before's `hash`, its `hash` is the SHA-256 of `prev_hash` and the line with its own
/// hash emptied, and each release's files on disk have the SHA-256 the log gives them last.
fn verify_release_log(dir: &Path) -> usize {
    use sha2::{Digest, Sha256};
    let text = std::fs::read_to_string(dir.join("release-log.jsonl")).unwrap();
    let mut prev = "0".repeat(64);
    let mut files: std::collections::BTreeMap<(String, String), String> = Default::default();
    for (i, line) in text.lines().enumerate() {
        let entry: Value = serde_json::from_str(line).unwrap();
        let hash = entry["hash"].as_str().unwrap();
        assert_eq!(
            entry["prev_hash"],
            prev.as_str(),
            "line {}: chain broken",
            i + 1
        );
        let unhashed = line.replace(&format!("\"hash\":\"{hash}\""), "\"hash\":\"\"");
        let mut h = Sha256::new();
        h.update(prev.as_bytes());
        h.update(unhashed.as_bytes());
        assert_eq!(format!("{:x}", h.finalize()), hash, "line {}: hash", i + 1);
        prev = hash.to_string();
        let id = entry["id"].as_str().unwrap().to_string();
        for f in entry["files"].as_array().unwrap() {
            let (name, sha) = (f[0].as_str().unwrap(), f[1].as_str().unwrap());
            files.insert((id.clone(), name.to_string()), sha.to_string());
        }
    }
    for ((id, name), sha) in &files {
        let bytes = std::fs::read(dir.join(id).join(name)).unwrap();
        assert_eq!(&format!("{:x}", Sha256::digest(&bytes)), sha, "{id}/{name}");
    }
    text.lines().count()
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

/// What a tool asks through ADBC before it queries: the server's name and version, a table's
/// schema (the one pyarrow reads from the Parquet file itself), and the catalogue at every depth
/// of `adbc_get_objects`, with each column's SQL type from the server's column metadata.
#[test]
fn adbc_sees_the_server_its_tables_and_their_columns_at_every_depth() {
    let server = Server::start("flight-adbc-surface", "open");
    let sample = crate::sample_dir();
    let out = server.client(&["surface", sample.to_str().unwrap()]);
    assert_eq!(out["info"]["vendor_name"], "fjq");
    assert_eq!(out["info"]["vendor_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(out["table_schema"], out["parquet_schema"]);
    let depths = &out["depths"];
    let count = |depth: &str, what: &str| match &depths[depth][what] {
        Value::Array(a) => a.len(),
        Value::Object(o) => o.len(),
        other => panic!("{other}"),
    };
    // Each depth goes as deep as asked and no deeper.
    assert_eq!(
        depths["catalogs"]["catalogs"],
        serde_json::json!(["datafusion"])
    );
    assert_eq!(count("catalogs", "db_schemas"), 0);
    assert_eq!(
        depths["db_schemas"]["db_schemas"],
        serde_json::json!(["public"])
    );
    assert_eq!(count("db_schemas", "tables"), 0);
    let tables = &depths["tables"]["tables"];
    for t in [
        "cases",
        "events",
        "people",
        "cafcass_work",
        "linkage",
        "linked_people",
    ] {
        assert!(
            tables.as_array().unwrap().contains(&Value::from(t)),
            "{t}: {tables}"
        );
    }
    assert_eq!(count("tables", "columns"), 0);
    assert_eq!(depths["columns"], depths["all"]);
    // Every column of cases, in the file's order, typed as SQL names it.
    let columns = &depths["columns"]["columns"];
    let parquet = out["parquet_schema"].as_array().unwrap();
    for (i, column) in parquet.iter().enumerate() {
        let name = column[0].as_str().unwrap();
        let c = &columns[format!("cases.{name}")];
        assert_eq!(c["ordinal_position"], i + 1, "{name}");
        let expected = match column[1].as_str().unwrap() {
            "string" => "VARCHAR",
            "date32[day]" => "DATE",
            "int32" => "INTEGER",
            "bool" => "BOOLEAN",
            other => panic!("cases has a {other} column"),
        };
        assert_eq!(c["xdbc_type_name"], expected, "{name}");
    }
}

/// ADBC's cancel while a result of billions of rows is being read: the read stops with the
/// cancellation, and the server, allowed one query at a time, runs the next query at once.
#[test]
fn an_adbc_cancel_stops_the_read_and_the_server_moves_on() {
    let server = Server::start_with(
        "flight-adbc-cancel",
        "open",
        &["--max-running".as_ref(), "1".as_ref()],
        None,
    );
    let out = server.client(&[
        "cancel",
        "SELECT a.event_id, b.event_id AS other FROM events a CROSS JOIN events b",
        "20000000",
    ]);
    assert!(out["first_batch_rows"].as_u64().unwrap() > 0, "{out}");
    let after = out["after_cancel"].as_str().unwrap();
    // The Go driver words it as the server's `CANCELLED` status or, when its own context stops
    // the stream first, as "context canceled": both are the cancellation, not another error.
    assert!(
        after.to_lowercase().contains("canceled") || after.to_lowercase().contains("cancelled"),
        "{after}"
    );
    let expected = fjq_rows("SELECT count(*) AS n FROM cases");
    assert_eq!(normalise(&out["next"]), expected);
}

/// The schema a client is told at GetFlightInfo (and at prepare) is the one its batches come
/// in: the Go ADBC driver refuses any difference. `min` answered from Parquet statistics once
/// streamed a non-nullable column announced as nullable, and the driver failed.
#[test]
fn every_result_arrives_in_the_schema_it_was_announced_with() {
    let server = Server::start("flight-schemas", "open");
    for sql in [
        "SELECT min(start_date) AS m FROM cases",
        "SELECT min(start_date) AS first, max(n_children) AS most, count(*) AS n FROM cases",
        "SELECT * FROM cases ORDER BY case_id LIMIT 20",
        "SELECT * FROM people ORDER BY 1, 2, 3 LIMIT 20",
        "SELECT * FROM events ORDER BY 1, 2, 3 LIMIT 20",
        "SELECT * FROM cafcass_work ORDER BY 1, 2, 3 LIMIT 20",
        "SELECT * FROM linkage ORDER BY 1, 2, 3 LIMIT 20",
        "SELECT arrow_cast(case_type, 'Dictionary(Int32, Utf8)') AS t, count(*) AS n FROM cases GROUP BY 1 ORDER BY 1",
        "SELECT case_id, start_date FROM cases WHERE false",
    ] {
        let expected = fjq_rows(sql);
        let adbc = server.client(&["adbc", sql]);
        assert_eq!(normalise(&adbc["rows"]), expected, "adbc: {sql}");
        let pyarrow = server.client(&["pyarrow", sql]);
        assert_eq!(normalise(&pyarrow["rows"]), expected, "pyarrow: {sql}");
    }
    // The same through a prepared statement with a parameter.
    let prepared = server.client(&[
        "adbc",
        "SELECT min(start_date) AS m, max(start_date) AS last FROM cases WHERE case_type = $1",
        r#"["public_law"]"#,
    ]);
    assert_eq!(
        normalise(&prepared["rows"]),
        fjq_rows(
            "SELECT min(start_date) AS m, max(start_date) AS last FROM cases WHERE case_type = 'public_law'"
        )
    );
}

/// The libraries notebooks read with: `pandas.read_sql` and `polars.read_database` over an
/// ADBC connection get what `fjq -c` prints, dates as dates and NULLs as NULLs.
#[test]
fn pandas_and_polars_read_what_fjq_prints() {
    let server = Server::start("flight-dataframes", "open");
    let sql = QUERIES[1];
    let expected = fjq_rows(sql);
    let pandas = server.client(&["pandas", sql]);
    assert_eq!(normalise(&pandas["rows"]), expected, "pandas");
    assert_eq!(pandas["types"][1], "date32[day]", "{pandas}");
    let polars = server.client(&["polars", sql]);
    assert_eq!(normalise(&polars["rows"]), expected, "polars");
    assert_eq!(polars["dtypes"][1], "Date", "{polars}");
    // Some first disposal dates are NULL, and arrive as NULL (not as text or a zero date).
    let nulls = |v: &Value| {
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["first_disposal_date"].is_null())
            .count()
    };
    let fjq_nulls = json_rows(&run(&["--format", "json", "-c", sql]))
        .iter()
        .filter(|r| !r.contains_key("first_disposal_date"))
        .count();
    assert!(fjq_nulls > 0, "the query has NULL dates to carry");
    assert_eq!(nulls(&pandas), fjq_nulls);
    assert_eq!(nulls(&polars), fjq_nulls);
}

/// A server without users (loopback only) takes any login: the ADBC driver, which always logs
/// in when given a user name, once failed with 'no authorization header on the response'.
#[test]
fn adbc_logs_in_to_a_server_without_users() {
    ensure_sample();
    let mut child = fjq()
        .args(["serve", "--policy", "open", "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let uri = listening_uri(&mut child);
    let server = Server { child, uri };
    let adbc = server.client_as("anyone", "anything", &["adbc", QUERIES[0]]);
    assert_eq!(normalise(&adbc["rows"]), fjq_rows(QUERIES[0]));
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
    // Nor does the server's own output (its log) hold a password, right or wrong.
    server.client(&["pyarrow", "SELECT 1 AS one"]);
    let log = std::fs::read_to_string(scratch("flight-auth-stderr.log")).unwrap();
    assert!(!log.contains(PASSWORD), "{log}");
    let users = std::fs::read_to_string(scratch("flight-auth-users")).unwrap();
    assert!(
        !users.contains(PASSWORD),
        "the users file holds a password in clear"
    );
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
    // A survival curve is released whole, with its counts rounded.
    let curve = server.client(&[
        "pyarrow",
        "SELECT * FROM return_curve('SELECT p.person_id, c.start_date FROM people p JOIN cases c USING (case_id) WHERE p.relationship_to_child = ''mother'' AND c.case_type = ''public_law''', 2557)",
    ]);
    let rows = curve["rows"].as_array().unwrap();
    assert!(!rows.is_empty(), "{curve}");
    for r in rows {
        for count in ["at_risk", "returns", "censored"] {
            assert_eq!(r[count].as_i64().unwrap() % 5, 0, "{r:?}");
        }
        assert!(r["returns"].as_i64().unwrap() + r["censored"].as_i64().unwrap() >= 10);
    }
    let report =
        std::fs::read_to_string(scratch("flight-safe-releases").join("release-0002/results.json"))
            .unwrap();
    assert!(
        report.contains("\"output\": \"survival table\""),
        "{report}"
    );
}

#[test]
fn a_release_that_cannot_be_written_is_an_internal_error_not_a_refusal() {
    // The release directory is a file: the server cannot create it. That is a fault on the
    // server's side (INTERNAL, naming the path), not a decision of the policy (PERMISSION_DENIED).
    let blocked = scratch("flight-blocked-releases");
    let _ = std::fs::remove_dir_all(&blocked);
    std::fs::write(&blocked, "not a directory").unwrap();
    let server = Server::start_with(
        "flight-blocked",
        "safe",
        &["--release-dir".as_ref(), blocked.as_os_str()],
        None,
    );
    let failed = server.client(&[
        "status",
        "SELECT case_type, count(*) AS n FROM cases GROUP BY case_type",
    ]);
    assert_eq!(failed["status"], "FlightInternalError", "{failed}");
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.contains("cannot create the release directory")
            && message.contains(blocked.to_str().unwrap()),
        "{message}"
    );
    // A refusal of the same server is still PERMISSION_DENIED.
    let refused = server.client(&["status", "SELECT * FROM people"]);
    assert_eq!(refused["status"], "FlightUnauthorizedError", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("row-level results are refused"),
        "{refused}"
    );
    assert_eq!(
        std::fs::read_to_string(&blocked).unwrap(),
        "not a directory"
    );
}

#[test]
fn sixteen_clients_at_once() {
    let server = Server::start("flight-load", "open");
    let before = server.peak_rss_kb();
    let r = server.client(&["load", "16", "50"]);
    assert_eq!(r["queries"], 800);
    assert_eq!(r["failures"], serde_json::json!([]), "{r}");
    // Every answer every client got is the one `fjq -c` gives.
    check_answers(&r, &[]);
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
    // Users are not enough: the passwords would cross the network in clear.
    let users = users_file("non-loopback-users");
    let o = fjq()
        .args(["serve", "--addr", "0.0.0.0:0", "--users"])
        .arg(&users)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("without TLS"), "{}", stderr(&o));
}

/// A certificate authority and a server certificate for 127.0.0.1 and localhost, made with the
/// openssl command: (CA certificate, server certificate, server key).
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let openssl = |args: &[&str]| {
        let o = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("the TLS test needs the openssl command");
        assert!(
            o.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=fjq test CA",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

/// Over grpc+tls the real clients get the same answers when they trust the server's CA, and
/// cannot connect when they do not.
#[test]
fn pyarrow_and_adbc_connect_over_tls_with_the_ca_and_not_without() {
    let (ca, cert, key) = certificates(&scratch("tls-certificates"));
    let server = Server::start_with(
        "flight-tls",
        "open",
        &[
            OsStr::new("--tls-cert"),
            cert.as_os_str(),
            OsStr::new("--tls-key"),
            key.as_os_str(),
        ],
        None,
    );
    assert!(server.uri.starts_with("grpc+tls://"), "{}", server.uri);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/interop/flight_client.py");
    let client = |action: &str, with_ca: bool| {
        let mut c = Command::new(python());
        c.arg(&script)
            .args([action, &server.uri, USER, PASSWORD, QUERIES[0]]);
        if with_ca {
            c.env("FJQ_TLS_ROOT_CERTS", &ca);
        } else {
            c.env_remove("FJQ_TLS_ROOT_CERTS");
        }
        c.output().unwrap()
    };
    let expected = fjq_rows(QUERIES[0]);
    for action in ["pyarrow", "adbc"] {
        let o = client(action, true);
        assert!(
            o.status.success(),
            "{action}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let got: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(normalise(&got["rows"]), expected, "{action} over TLS");
        // Without the CA the handshake fails: a transport error, not a policy or SQL one.
        let o = client(action, false);
        assert!(!o.status.success(), "{action} connected without the CA");
        let err = String::from_utf8_lossy(&o.stderr).to_lowercase();
        assert!(
            ["certificate", "handshake", "ssl", "tls", "unavailable"]
                .iter()
                .any(|w| err.contains(w)),
            "{action}: {err}"
        );
    }
}

use crate::batch::{ALL_EVENT_COLUMNS, OVER_MEMORY};
use crate::{empty_scratch, files_under, sample_copy, scramble};
use std::ffi::OsStr;

#[test]
fn the_server_serves_on_after_a_query_over_memory_and_a_damaged_file() {
    let data = sample_copy("flight-faults-data");
    let tmp = empty_scratch("flight-faults-tmp");
    let server = Server::start_with(
        "flight-faults",
        "open",
        &[
            OsStr::new("--data"),
            data.as_os_str(),
            OsStr::new("--query-memory-limit"),
            OsStr::new("16M"),
        ],
        Some(&tmp),
    );
    let over = server.client(&["try", OVER_MEMORY]);
    let e = over["error"].as_str().unwrap_or_else(|| panic!("{over}"));
    assert!(
        e.contains("out of memory") && e.contains("--query-memory-limit"),
        "{e}"
    );
    // A sort over the same limit spills and completes; its spill files go when it ends.
    let sorted = server.client(&[
        "try",
        "SELECT event_id, case_id, event_code FROM events ORDER BY event_code, case_id DESC, event_id",
    ]);
    assert!(sorted["rows"].as_i64().unwrap_or(0) > 100_000, "{sorted}");
    assert_eq!(
        files_under(&tmp),
        Vec::<PathBuf>::new(),
        "spill files left behind"
    );

    scramble(&data.join("events/part-00000.parquet"));
    let damaged = server.client(&["try", ALL_EVENT_COLUMNS]);
    let e = damaged["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{damaged}"));
    assert!(
        e.contains("table `events`") && e.contains("events/part-00000.parquet"),
        "{e}"
    );
    // Still serving, and right.
    let sql = QUERIES[0];
    let again = server.client(&["pyarrow", sql]);
    assert_eq!(normalise(&again["rows"]), fjq_rows(sql));
}

#[test]
fn a_slow_reader_does_not_hold_up_other_clients() {
    let server = Server::start("flight-slow", "open");
    let r = server.client(&[
        "slow",
        "SELECT e.*, c.dfj_area FROM events e JOIN cases c USING (case_id)",
        "0.3",
        "10",
    ]);
    assert_eq!(r["others"], 10, "{r}");
    assert_eq!(
        r["slow_still_reading"], true,
        "the slow reader finished too soon: {r}"
    );
    assert!(r["slow_rows"].as_i64().unwrap() > 100_000, "{r}");
    // Generous: a short query takes milliseconds; waiting behind the slow reader would take
    // the seconds it spends reading.
    assert!(r["others_max_seconds"].as_f64().unwrap() < 5.0, "{r}");
}

/// The server killed (SIGKILL) while clients run safe releases, then started again on the same
/// address and release directory: the clients see errors, not wrong answers; the release log
/// still verifies, and every release directory is in it.
#[test]
fn a_server_killed_under_load_restarts_and_its_release_log_is_whole() {
    let releases = scratch("flight-restart-releases");
    let _ = std::fs::remove_dir_all(&releases);
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr = format!("127.0.0.1:{port}");
    let args = [
        OsStr::new("--addr"),
        OsStr::new(&addr),
        OsStr::new("--release-dir"),
        releases.as_os_str(),
    ];
    let mut first = Server::start_with("flight-restart", "safe", &args, None);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/interop/flight_client.py");
    let load = Command::new(python())
        .arg(&script)
        .args(["load", &first.uri, USER, PASSWORD, "4", "100"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed once answers are flowing: a fixed wait was too short on a loaded machine, where
    // the debug server had answered nothing after 3 s. The log's first line is written as the
    // first release is sent; a moment later more are on their way.
    let log_path = releases.join("release-log.jsonl");
    let started = std::time::Instant::now();
    while std::fs::read_to_string(&log_path).map_or(true, |log| log.lines().count() < 2)
        && started.elapsed() < std::time::Duration::from_secs(60)
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let load = load.wait_with_output().unwrap();
    let report: Value = serde_json::from_slice(&load.stdout).unwrap();
    let failures = report["failures"].as_array().unwrap();
    assert!(
        !failures.is_empty(),
        "the kill came too late to matter: {report}"
    );
    // The clients lost the server, nothing else: every failure is the transport's (gRPC
    // UNAVAILABLE, a connection gone), none a refusal or an SQL error.
    for f in failures {
        let f = f.as_str().unwrap();
        let transport = ["Unavailable", "connection", "transport"]
            .iter()
            .any(|w| f.contains(w));
        let policy_or_sql = ["PermissionDenied", "InvalidArgument", "refused under"]
            .iter()
            .any(|w| f.contains(w));
        assert!(
            transport && !policy_or_sql,
            "a failure that is not the server going away: {f}"
        );
    }
    // Every answer received before the kill is the release fjq makes of it.
    let expected_releases = scratch("flight-restart-expected");
    let _ = std::fs::remove_dir_all(&expected_releases);
    let checked = check_answers(
        &report,
        &[
            "--policy",
            "safe",
            "--release-dir",
            expected_releases.to_str().unwrap(),
        ],
    );
    assert!(checked > 0, "no answer arrived before the kill: {report}");

    let second = Server::start_with("flight-restart", "safe", &args, None);
    let r = second.client(&[
        "try",
        "SELECT * FROM safe_table('SELECT case_type, count(*) AS n FROM cases GROUP BY case_type')",
    ]);
    assert!(r["rows"].as_i64().unwrap_or(0) > 0, "{r}");
    let log = std::fs::read_to_string(releases.join("release-log.jsonl")).unwrap();
    let logged: Vec<String> = log
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(logged.len() >= 2, "{logged:?}");
    let mut dirs: Vec<String> = std::fs::read_dir(&releases)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("release-") && !n.ends_with(".jsonl"))
        .collect();
    dirs.sort();
    assert_eq!(dirs, logged, "release directories and the log disagree");
    assert!(
        !std::fs::read_dir(&releases).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".partial")),
        "a half-written release is left"
    );
    // The log's chain and every file it names hold, checked without fjq's code.
    assert_eq!(verify_release_log(&releases), logged.len());
    eprintln!(
        "restart under load: {} queries before the kill, {} failed with the server gone; {} releases logged, all present",
        report["queries"],
        failures.len(),
        logged.len()
    );
}

/// docs/examples/return_to_care.ipynb, executed as a researcher would run it (nbclient, a Python
/// kernel) against a server on the default sample under the safe policy: every cell runs, the
/// releases it makes are in the release directory, and the curve is drawn to a PNG.
#[test]
fn the_example_notebook_runs_against_a_server() {
    let server = Server::start("flight-notebook", "safe");
    let notebook =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/examples/return_to_care.ipynb");
    let figure = scratch("notebook-return-to-care.png");
    let _ = std::fs::remove_file(&figure);
    let script = "import sys, nbformat\nfrom nbclient import NotebookClient\nnb = nbformat.read(sys.argv[1], as_version=4)\nNotebookClient(nb, timeout=600, kernel_name='python3').execute()\nprint('\\n'.join(o.get('text', '') for c in nb.cells for o in c.get('outputs', []) if o.get('output_type') == 'stream'))";
    let o = Command::new(python())
        .args(["-c", script])
        .arg(&notebook)
        .env("FJQ_URI", &server.uri)
        .env("FJQ_USER", USER)
        .env("FJQ_PASSWORD", PASSWORD)
        .env("FJQ_FIGURE", &figure)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "the notebook failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let printed = String::from_utf8_lossy(&o.stdout);
    assert!(printed.contains("published steps"), "{printed}");
    // The figure: a PNG of 700 x 400 pixels (7 x 4 inches at 100 dpi).
    let png = std::fs::read(&figure).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((width, height), (700, 400));
    // Three releases: the probabilities, the table and the curve.
    let releases = scratch("flight-notebook-releases");
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(releases.join("release-0003/results.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["fjq"]["output"], "survival table");
}
