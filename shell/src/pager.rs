//! The pager: results longer than the terminal go through `$PAGER` (`less -S` when it is not
//! set), as psql does. Only on a terminal: never into a pipe, a file (`\o`) or batch output.
//! `\pager on|off|auto` chooses; auto pages what would not fit on one screen.

use std::io::{IsTerminal, Write};
use std::process::{Command, Stdio};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    Off,
    On,
    Auto,
}

impl std::fmt::Display for Paging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Paging::Off => "off",
            Paging::On => "on",
            Paging::Auto => "auto",
        })
    }
}

/// The terminal's height in lines: `LINES` when set, else the terminal's own.
pub fn terminal_height() -> Option<usize> {
    if let Some(lines) = std::env::var("LINES")
        .ok()
        .and_then(|l| l.trim().parse::<usize>().ok())
    {
        return Some(lines);
    }
    crossterm::terminal::size()
        .ok()
        .map(|(_, h)| h as usize)
        .filter(|h| *h > 0)
}

/// The pager's command line: `$PAGER`, or `less -S` (long lines scroll sideways rather than
/// wrap, so a wide table stays a table). An empty `$PAGER` means no pager.
fn pager_command() -> Option<String> {
    match std::env::var("PAGER") {
        Ok(p) if p.trim().is_empty() => None,
        Ok(p) => Some(p),
        Err(_) => Some("less -S".to_string()),
    }
}

/// Shows `text` on standard output, through the pager when `paging` asks for it and standard
/// output is a terminal.
pub fn show(text: &[u8], paging: Paging) {
    let mut stdout = std::io::stdout();
    let lines = text.iter().filter(|b| **b == b'\n').count();
    let page = std::io::stdout().is_terminal()
        && match paging {
            Paging::Off => false,
            Paging::On => true,
            // One line is kept for the prompt that follows.
            Paging::Auto => terminal_height().is_some_and(|h| lines >= h),
        };
    if page && let Some(command) = pager_command() {
        let _ = stdout.flush();
        match Command::new("sh")
            .arg("-c")
            .arg(&command)
            .stdin(Stdio::piped())
            .spawn()
        {
            Ok(mut child) => {
                if let Some(mut stdin) = child.stdin.take() {
                    // A pager quit early closes its input: not an error.
                    let _ = stdin.write_all(text);
                }
                let _ = child.wait();
                return;
            }
            Err(e) => eprintln!("warning: cannot start the pager {command:?}: {e}"),
        }
    }
    let _ = stdout.write_all(text);
    let _ = stdout.flush();
}
