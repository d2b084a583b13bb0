//! The interactive shell through a real pseudo-terminal, as a person types: tab completion, a
//! statement over several lines, Ctrl-C on a long query, and history across restarts.

use rexpect::session::{PtySession, spawn_command};
use std::process::Command;

fn shell(history: &str) -> PtySession {
    shell_with(history, &[])
}

/// The shell in a 120 x 24 terminal, with extra environment (`PAGER`, `EDITOR`).
fn shell_with(history: &str, env: &[(&str, &str)]) -> PtySession {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fjq"));
    cmd.env("FJQ_CACHE_DIR", crate::cache_dir())
        .env("FJQ_HISTORY", crate::scratch(history))
        .env("TERM", "xterm")
        .env("COLUMNS", "120")
        .env("LINES", "24")
        .env_remove("PAGER")
        .env_remove("VISUAL")
        .env_remove("EDITOR");
    for (k, v) in env {
        cmd.env(k, v);
    }
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
    // Control keys wait for the prompt: until the line editor is back in raw mode the terminal
    // itself would take Ctrl-D (end of file) and Ctrl-R (reprint), and the shell never sees them.
    p.exp_string("fjq> ").expect("prompt back");
    p.send_control('d').expect("ctrl-d");
    p.exp_eof().expect("Ctrl-D quits");
}

/// A command typed part-way through a statement runs at once, and the statement so far is kept
/// until its semicolon (psql's behaviour).
#[test]
fn a_command_inside_a_statement_runs_and_the_statement_is_kept() {
    crate::ensure_sample();
    let mut p = shell("pty-history-command-inside");
    p.send_line("SELECT 41 + 1 AS answer").expect("line 1");
    p.exp_string("...> ").expect("continuation prompt");
    p.send_line("\\timing off").expect("a command");
    p.exp_string("Timing is off.").expect("the command ran");
    p.exp_string("...> ").expect("the statement is still open");
    p.send_line(";").expect("end it");
    p.exp_string("42").expect("the statement ran");
    p.exp_string("1 row").expect("footer");
    p.send_line("\\q").expect("quit");
    p.exp_eof().expect("exits");
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
    // The recalled line is echoed too: its footer is what shows it ran.
    p.exp_string("1 row").expect("and runs");
    p.send_line("\\q").expect("quit");
    p.exp_eof().expect("exits");
}

/// A script standing in for a program the shell starts (a pager, an editor), written to scratch.
fn script(name: &str, body: &str) -> String {
    let path = crate::scratch(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    let status = Command::new("chmod").arg("+x").arg(&path).status().unwrap();
    assert!(status.success());
    path.to_string_lossy().into_owned()
}

/// A result longer than the terminal goes through the pager (here a script that keeps what it
/// was given), whole; one that fits does not; `\pager off` stops it; `\last` shows the last
/// result again, every column, through the pager.
#[test]
fn long_results_go_through_the_pager_and_last_shows_them_whole() {
    crate::ensure_sample();
    let paged = crate::scratch("pty-pager-received.txt");
    let _ = std::fs::remove_file(&paged);
    let pager = script(
        "pty-pager.sh",
        &format!("cat >> '{}'; echo PAGER-DONE", paged.display()),
    );
    let mut p = shell_with("pty-history-pager", &[("PAGER", &pager)]);
    p.send_line("SELECT case_id FROM cases ORDER BY case_id LIMIT 50;")
        .expect("a long query");
    p.exp_string("PAGER-DONE").expect("the pager ran");
    p.exp_string("fjq> ").expect("prompt after the pager");
    let received = std::fs::read_to_string(&paged).unwrap();
    assert!(received.contains("case_id"), "{received}");
    // The whole of what the shell shows: 40 rows (the default \maxrows) and the footer.
    assert!(received.contains("50 rows (40 shown)"), "{received}");
    assert_eq!(
        received.lines().filter(|l| l.starts_with("│ 0")).count(),
        40
    );

    // Ten rows fit in 24 lines: no pager.
    p.send_line("SELECT case_id FROM cases ORDER BY case_id LIMIT 10;")
        .expect("a short query");
    p.exp_string("10 rows").expect("printed directly");
    p.exp_string("fjq> ").expect("prompt");
    p.send_line("\\pager off").expect("pager off");
    p.exp_string("Pager is off.").expect("acknowledged");
    p.send_line("SELECT case_id FROM cases ORDER BY case_id LIMIT 40;")
        .expect("long, unpaged");
    p.exp_string("40 rows").expect("printed directly");
    p.exp_string("fjq> ").expect("prompt");
    assert_eq!(
        std::fs::read_to_string(&paged).unwrap(),
        received,
        "nothing more went to the pager"
    );

    // A wide result hides columns at 120 characters; \last pages it with every column.
    p.send_line("\\pager auto").expect("pager auto");
    p.exp_string("Pager is auto.").expect("acknowledged");
    p.send_line("SELECT * FROM cases ORDER BY case_id LIMIT 3;")
        .expect("a wide query");
    p.exp_string("columns shown").expect("columns hidden");
    p.exp_string("fjq> ").expect("prompt");
    p.send_line("\\last").expect("last");
    p.exp_string("PAGER-DONE").expect("through the pager");
    p.exp_string("fjq> ").expect("prompt");
    let last = std::fs::read_to_string(&paged).unwrap()[received.len()..].to_string();
    for column in [
        "case_id",
        "first_disposal_date",
        "legal_representation",
        "marriage_year",
    ] {
        assert!(
            last.contains(column),
            "{column} missing from \\last:\n{last}"
        );
    }
    assert!(!last.contains("columns shown"), "{last}");
    p.send_line("\\q").expect("quit");
    p.exp_eof().expect("exits");
}

/// The real `less -S`: it holds the screen until `q`, then the prompt comes back.
#[test]
fn less_pages_a_long_result_until_q() {
    crate::ensure_sample();
    let mut p = shell("pty-history-less");
    p.send_line("SELECT case_id, case_type FROM cases ORDER BY case_id LIMIT 200;")
        .expect("a long query");
    // The header cell as drawn, padded (the echoed statement also holds "case_type"), then
    // less's own prompt: keys sent before less reads the terminal could be lost.
    p.exp_string(" case_type  ")
        .expect("the header on the first page");
    p.exp_string(":\u{1b}[K").expect("less's prompt");
    // less waits at the foot of its first page; the end of the result is not shown yet.
    p.send("G").expect("to the end");
    p.flush().expect("flush");
    p.exp_string("200 rows")
        .expect("the end of the result in less");
    p.send("q").expect("quit less");
    p.flush().expect("flush");
    p.exp_string("fjq> ").expect("prompt after less");
    p.send_line("SELECT 40 + 2 AS answer;").expect("next");
    p.exp_string("42").expect("the shell goes on");
    p.send_line("\\q").expect("quit");
    p.exp_eof().expect("exits");
}

/// A pipe is never paged: batch output goes straight out, whatever `PAGER` says.
#[test]
fn a_pipe_is_never_paged() {
    crate::ensure_sample();
    let marker = crate::scratch("pipe-pager-ran");
    let _ = std::fs::remove_file(&marker);
    let pager = script(
        "pipe-pager.sh",
        &format!("touch '{}'; cat", marker.display()),
    );
    let o = crate::fjq()
        .env("PAGER", &pager)
        .env("LINES", "10")
        .args(["-c", "SELECT case_id FROM cases LIMIT 100"])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(crate::stdout(&o).contains("100 rows"));
    assert!(!marker.exists(), "the pager ran for a pipe");
}

/// `\e` opens the last statement in the editor and runs what is saved; typed part-way through a
/// statement, it edits what was typed.
#[test]
fn backslash_e_edits_and_runs_the_statement() {
    crate::ensure_sample();
    let editor = script(
        "pty-editor.sh",
        r#"sed -i 's/6 \* 6/6 * 7/; s/+ *$/+ 41 AS second;/' "$1""#,
    );
    let mut p = shell_with("pty-history-edit", &[("EDITOR", &editor)]);
    p.send_line("SELECT 6 * 6 AS answer;").expect("a statement");
    p.exp_string("36").expect("its answer");
    p.send_line("\\e").expect("edit the last statement");
    p.exp_string("42").expect("the edited statement ran");
    p.exp_string("fjq> ").expect("prompt");
    // Part-way: "SELECT 1 +" then \e completes it in the editor.
    p.send_line("SELECT 1 +").expect("half a statement");
    p.exp_string("...> ").expect("continuation");
    p.send_line("\\e").expect("edit it");
    p.exp_string("second").expect("the edited statement ran");
    p.exp_string("42").expect("1 + 41");
    p.send_line("\\q").expect("quit");
    p.exp_eof().expect("exits");
}

/// Ctrl-R searches the history backwards; Enter runs the line found.
#[test]
fn ctrl_r_finds_an_earlier_statement() {
    crate::ensure_sample();
    let _ = std::fs::remove_file(crate::scratch("pty-history-search"));
    let mut p = shell("pty-history-search");
    p.send_line("SELECT 'needle' AS found;")
        .expect("a statement");
    p.exp_string("1 row").expect("ran");
    p.send_line("SELECT 'hay' AS other;").expect("another");
    p.exp_string("1 row").expect("ran");
    p.exp_string("fjq> ")
        .expect("prompt back, so the line editor gets Ctrl-R");
    p.send_control('r').expect("ctrl-r");
    p.exp_string("reverse-i-search").expect("the search prompt");
    p.send("needl").expect("search");
    p.flush().expect("flush");
    p.exp_string("SELECT 'needle' AS found;")
        .expect("the statement found");
    p.send_line("").expect("enter");
    p.exp_string("needle").expect("runs");
    p.exp_string("1 row").expect("its footer");
    p.send_line("\\q").expect("quit");
    p.exp_eof().expect("exits");
}

/// A query running longer than a second shows how much of its input it has read, and the line
/// is cleared before the result prints; batch output into a pipe never shows it. (Every event
/// against 500 others: about 5 s in a debug build; against 100 it once finished in 0.94 s, too
/// soon for the line.)
#[test]
fn a_long_query_shows_the_input_read_then_clears_it() {
    crate::ensure_sample();
    let slow = "SELECT count(*) AS pairs FROM events a CROSS JOIN (SELECT * FROM events LIMIT 500) b \
                WHERE a.event_code < b.event_code";
    let mut p = shell("pty-history-progress");
    p.send_line(&format!("{slow};")).expect("a slow query");
    p.exp_string("% of the input read")
        .expect("the progress line");
    let before = p.exp_string("pairs").expect("the result");
    // indicatif erases the line (ESC [2K) before the table is printed.
    assert!(
        before.contains("\u{1b}[2K"),
        "the progress line was not cleared: {before:?}"
    );
    p.exp_string("1 row").expect("footer");
    p.send_line("\\q").expect("quit");
    p.exp_eof().expect("exits");

    let o = crate::fjq().args(["-c", slow]).output().unwrap();
    assert!(o.status.success(), "{}", crate::stderr(&o));
    assert!(crate::stdout(&o).contains("pairs"));
    assert!(
        !crate::stderr(&o).contains("input read"),
        "{}",
        crate::stderr(&o)
    );
}

/// What rexpect read, as UTF-8 (it hands back each byte as a character).
fn utf8(read: &str) -> String {
    let bytes: Vec<u8> = read.chars().map(|c| c as u32 as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `\plot` draws the last result in the terminal: a line chart of counts by month (braille
/// dots, the x axis labelled with dates), a bar chart of counts by label; and says what is
/// wrong when it cannot.
#[test]
fn plot_draws_the_last_result_in_the_terminal() {
    crate::ensure_sample();
    let mut p = shell_with("pty-history-plot", &[("PAGER", "")]);
    p.send_line("\\plot").expect("plot too early");
    p.exp_string("no result to plot yet").expect("said so");
    p.send_line(
        "SELECT date_trunc('month', start_date)::date AS month, count(*) AS cases FROM cases \
         WHERE case_type = 'public_law' GROUP BY 1 ORDER BY 1;",
    )
    .expect("cases by month");
    p.exp_string("rows").expect("the result");
    p.send_line("\\plot").expect("plot");
    let chart = utf8(
        &p.exp_string("cases against month")
            .expect("the chart's caption"),
    );
    let dots = chart
        .chars()
        .filter(|c| ('\u{2801}'..='\u{28ff}').contains(c))
        .count();
    assert!(dots > 100, "too few braille dots ({dots}):\n{chart}");
    // The x axis is labelled with dates (the court data begin in 2011).
    assert!(chart.contains("2011-"), "{chart}");
    p.send_line("\\plot month").expect("plot without y");
    p.exp_string("at least one y column").expect("said so");
    p.send_line("SELECT case_type, count(*) AS n FROM cases GROUP BY 1 ORDER BY 2 DESC;")
        .expect("counts by type");
    p.exp_string("7 rows").expect("the result");
    p.send_line("\\plot").expect("bar chart");
    let bars = utf8(&p.exp_string("n against case_type").expect("the caption"));
    assert!(bars.contains("private_law"), "{bars}");
    assert!(bars.contains('⣿'), "no filled bars:\n{bars}");
    p.send_line("\\plot n case_type").expect("a label as y");
    p.exp_string("case_type is not numeric").expect("said so");
    p.send_line("\\q").expect("quit");
    p.exp_eof().expect("exits");
}

/// `\plot FILE.svg` and `\plot FILE.png` write the same chart to a file: checked for its size,
/// its axes and what it plots, read back as a user's tools would (the SVG as text, the PNG
/// decoded to pixels).
#[test]
fn plot_writes_svg_and_png_charts() {
    crate::ensure_sample();
    let svg = crate::scratch("curve.svg");
    let png = crate::scratch("curve.png");
    let _ = std::fs::remove_file(&svg);
    let _ = std::fs::remove_file(&png);
    let mut p = shell_with("pty-history-plot-files", &[("PAGER", "")]);
    // A survival curve: three series against the day.
    p.send_line(
        "SELECT day, survival, lower_95, upper_95 FROM return_curve('SELECT p.person_id, c.start_date \
         FROM people p JOIN cases c USING (case_id) WHERE p.relationship_to_child = ''mother''', 2555);",
    )
    .expect("a curve");
    p.exp_string("rows").expect("the curve");
    p.send_line(&format!(
        "\\plot day survival lower_95 upper_95 {}",
        svg.display()
    ))
    .expect("svg");
    p.exp_string("Wrote a 960 by 540 chart").expect("written");
    p.send_line(&format!(
        "\\plot day survival lower_95 upper_95 {}",
        png.display()
    ))
    .expect("png");
    p.exp_string("Wrote a 960 by 540 chart").expect("written");
    // A folder that does not exist: the system's words, not the drawing library's debug text.
    p.send_line("\\plot day survival /nonexistent-fjq-folder/curve.png")
        .expect("png into nowhere");
    p.exp_string("cannot draw /nonexistent-fjq-folder/curve.png: No such file or directory")
        .expect("the folder is named as missing");
    p.send_line("\\q").expect("quit");
    p.exp_eof().expect("exits");

    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        text.starts_with("<svg width=\"960\" height=\"540\""),
        "{}",
        &text[..80]
    );
    // The x axis title, the legend's three series, and a line per series.
    for word in [">\nday\n<", "survival", "lower_95", "upper_95"] {
        assert!(text.contains(word), "{word} missing from the SVG");
    }
    assert!(
        text.matches("<polyline").count() >= 3,
        "fewer than three lines"
    );

    let image = image::open(&png).expect("a PNG").to_rgb8();
    assert_eq!(image.dimensions(), (960, 540));
    let dark = |x: u32, y: u32| {
        let p = image.get_pixel(x, y);
        (p[0] as u32 + p[1] as u32 + p[2] as u32) < 3 * 100
    };
    // The y axis: a dark column in the left quarter spanning most of the height.
    let y_axis = (0..240).any(|x| (40..440).filter(|&y| dark(x, y)).count() > 300);
    assert!(y_axis, "no y axis in the PNG");
    // The x axis: a dark row in the lower fifth spanning most of the width.
    let x_axis = (430..540).any(|y| (200..900).filter(|&x| dark(x, y)).count() > 600);
    assert!(x_axis, "no x axis in the PNG");
    // The series are drawn in colour (blue, red, green), not only axes and text.
    let coloured = image
        .pixels()
        .filter(|p| p[0].abs_diff(p[1]) > 60 || p[1].abs_diff(p[2]) > 60)
        .count();
    assert!(coloured > 500, "only {coloured} coloured pixels");
}
