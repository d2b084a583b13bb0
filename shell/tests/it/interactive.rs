//! The interactive shell through a real pseudo-terminal, as a person types: tab completion, a
//! statement over several lines, Ctrl-C on a long query, and history across restarts.

use rexpect::session::{PtySession, spawn_command};
use std::process::Command;

fn shell(history: &str) -> PtySession {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fjq"));
    cmd.env("FJQ_CACHE_DIR", crate::cache_dir())
        .env("FJQ_HISTORY", crate::scratch(history))
        .env("TERM", "xterm")
        .env("COLUMNS", "120");
    let mut p = spawn_command(cmd, Some(60_000)).expect("fjq starts in a pty");
    p.exp_string("Type \\? for help").expect("banner");
    p.exp_string("fjq> ").expect("prompt");
    p
}

#[test]
fn tab_completes_a_table_and_a_column() {
    crate::ensure_sample();
    let mut p = shell("pty-history-completion");
    // "peop" + Tab -> people; "relationship_to_ch" + Tab -> relationship_to_child.
    p.send("SELECT count(*) AS mothers FROM peop")
        .expect("type");
    p.flush().expect("flush");
    p.send("\t").expect("tab");
    p.flush().expect("flush");
    p.exp_string("people").expect("table completed");
    p.send(" WHERE relationship_to_ch").expect("type");
    p.flush().expect("flush");
    p.send("\t").expect("tab");
    p.flush().expect("flush");
    p.exp_string("relationship_to_child")
        .expect("column completed");
    p.send_line(" = 'mother';").expect("enter");
    p.exp_string("mothers").expect("result header");
    p.exp_string("1 row").expect("footer");
    p.send_line("\\q").expect("quit");
    p.exp_eof().expect("exits");
}

#[test]
fn a_statement_over_several_lines_runs_at_the_semicolon() {
    crate::ensure_sample();
    let mut p = shell("pty-history-multiline");
    p.send_line("SELECT case_type,").expect("line 1");
    p.exp_string("...> ").expect("continuation prompt");
    p.send_line("  count(*) AS n -- a comment; not the end")
        .expect("line 2");
    p.exp_string("...> ").expect("still continuing");
    p.send_line("FROM cases GROUP BY case_type;")
        .expect("line 3");
    p.exp_string("matrimonial").expect("a result row");
    p.exp_string("7 rows").expect("footer");
    p.send_control('d').expect("ctrl-d");
    p.exp_eof().expect("Ctrl-D quits");
}

#[test]
fn ctrl_c_cancels_a_long_query_and_the_prompt_comes_back() {
    crate::ensure_sample();
    let mut p = shell("pty-history-cancel");
    p.send_line(
        "SELECT count(*) FROM events a CROSS JOIN events b WHERE a.event_date < b.event_date;",
    )
    .expect("long query");
    std::thread::sleep(std::time::Duration::from_millis(2500));
    p.send_control('c').expect("ctrl-c");
    p.exp_string("Query cancelled.").expect("cancelled");
    p.exp_string("fjq> ").expect("prompt back");
    p.send_line("SELECT 40 + 2 AS answer;").expect("next query");
    p.exp_string("42").expect("the shell still works");
    p.send_line("\\q").expect("quit");
    p.exp_eof().expect("exits");
}

#[test]
fn history_is_kept_across_restarts() {
    crate::ensure_sample();
    let _ = std::fs::remove_file(crate::scratch("pty-history-restart"));
    let mut p = shell("pty-history-restart");
    p.send_line("SELECT 'remembered' AS word;").expect("query");
    p.exp_string("1 row").expect("ran");
    p.send_line("\\q").expect("quit");
    p.exp_eof().expect("exits");

    let mut p = shell("pty-history-restart");
    p.send("\x1b[A").expect("up arrow");
    p.flush().expect("flush");
    p.exp_string("SELECT 'remembered' AS word;")
        .expect("the last statement comes back");
    p.send_line("").expect("enter");
    p.exp_string("remembered").expect("and runs");
    p.send_line("\\q").expect("quit");
    p.exp_eof().expect("exits");
}
