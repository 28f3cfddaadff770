//! Output lines on stdout (whole lines, flushed: the tests read them while the server
//! runs) and the exits on errors.

use crate::config::USAGE;
use kpoll_tools::{errno_name, last_errno};
use std::io::Write;
use std::process::exit;

/// Prints `lines` together (no other thread's line comes between them) and flushes.
pub(crate) fn say(lines: &[&str]) {
    let mut out = std::io::stdout().lock();
    for line in lines {
        let _ = writeln!(out, "{line}");
    }
    let _ = out.flush();
}

pub(crate) fn fail(what: &str) -> ! {
    say(&[&format!("error {what} {}", errno_name(last_errno()))]);
    exit(1);
}

pub(crate) fn usage(msg: &str) -> ! {
    eprintln!("kpoll-echo: {msg}\n{USAGE}");
    exit(2);
}
